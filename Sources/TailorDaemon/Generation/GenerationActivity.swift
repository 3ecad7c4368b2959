import Foundation

/// Whether any generation is running or waiting, so training can give interactive decoding the
/// CPU: a training job calls `waitUntilIdle()` between sequences and sleeps while completions
/// are being produced.
public final class GenerationActivity: @unchecked Sendable {
    private let condition = NSCondition()
    private var busyWorkers = 0  // guarded by condition
    private var released = false  // guarded by condition: waits end at once
    private var lastBusy = Date()  // guarded by condition: when a generation last ran

    /// Nobody busy yet.
    public init() {}

    /// Whether a generation is running or queued now.
    public var isBusy: Bool {
        condition.lock()
        defer { condition.unlock() }
        return busyWorkers > 0
    }

    /// Since when no generation has run or waited (the daemon's start if none ever did); nil
    /// while one does. The autopilot starts a round only after a stretch of it.
    public var idleSince: Date? {
        condition.lock()
        defer { condition.unlock() }
        return busyWorkers > 0 ? nil : lastBusy
    }

    /// A worker went from idle to busy (`true`) or back.
    func workerChanged(busy: Bool) {
        condition.lock()
        lastBusy = Date()
        busyWorkers += busy ? 1 : -1
        if busyWorkers == 0 { condition.broadcast() }
        condition.unlock()
    }

    /// Ends every wait now and from now on: the daemon is stopping, and a training job must
    /// reach its next stopping point rather than wait for generations that may never finish.
    func releaseWaiters() {
        condition.lock()
        released = true
        condition.broadcast()
        condition.unlock()
    }

    /// Blocks while any generation runs, then lingers `grace` of idleness (an editor's next
    /// keystroke usually follows within it). Returns the seconds spent waiting.
    @discardableResult
    public func waitUntilIdle(grace: TimeInterval = 0.05) -> TimeInterval {
        let start = Date()
        condition.lock()
        defer { condition.unlock() }
        while !released {
            while busyWorkers > 0 && !released { condition.wait() }
            guard grace > 0, !released else { break }
            _ = condition.wait(until: Date().addingTimeInterval(grace))
            if busyWorkers == 0 { break }
        }
        return Date().timeIntervalSince(start)
    }
}
