import Foundation

/// Whether any generation is running or waiting, so training can give interactive decoding the
/// CPU: a training job calls `waitUntilIdle()` between sequences and sleeps while completions
/// are being produced.
public final class GenerationActivity: @unchecked Sendable {
    private let condition = NSCondition()
    private var busyWorkers = 0                      // guarded by condition

    /// Nobody busy yet.
    public init() {}

    /// Whether a generation is running or queued now.
    public var isBusy: Bool {
        condition.lock()
        defer { condition.unlock() }
        return busyWorkers > 0
    }

    /// A worker went from idle to busy (`true`) or back.
    func workerChanged(busy: Bool) {
        condition.lock()
        busyWorkers += busy ? 1 : -1
        if busyWorkers == 0 { condition.broadcast() }
        condition.unlock()
    }

    /// Blocks while any generation runs, then lingers `grace` of idleness (an editor's next
    /// keystroke usually follows within it). Returns the seconds spent waiting.
    @discardableResult
    public func waitUntilIdle(grace: TimeInterval = 0.05) -> TimeInterval {
        let start = Date()
        condition.lock()
        defer { condition.unlock() }
        while true {
            while busyWorkers > 0 { condition.wait() }
            guard grace > 0 else { break }
            _ = condition.wait(until: Date().addingTimeInterval(grace))
            if busyWorkers == 0 { break }
        }
        return Date().timeIntervalSince(start)
    }
}
