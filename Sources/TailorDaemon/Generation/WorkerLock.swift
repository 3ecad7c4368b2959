import Foundation
import Synchronization

/// A generation worker's lock and condition, knowing which thread holds it.
///
/// A job checks, before it hands its caller an event, that the sending thread does not hold
/// its worker's lock: an event resumes the caller's task under that task's status lock, which
/// a cancellation holds while it takes this one (`GenerationWorker.loop` says more).
final class WorkerLock: @unchecked Sendable {
    private let condition = NSCondition()
    /// pthread_self() of the holder, 0 when free.
    private let holder = Atomic<UInt>(0)

    func lock() {
        condition.lock()
        holder.store(UInt(pthread_self()), ordering: .relaxed)
    }

    func unlock() {
        holder.store(0, ordering: .relaxed)
        condition.unlock()
    }

    /// Releases the lock while waiting for a signal, as `NSCondition.wait`.
    func wait() {
        holder.store(0, ordering: .relaxed)
        condition.wait()
        holder.store(UInt(pthread_self()), ordering: .relaxed)
    }

    func signal() { condition.signal() }
    func broadcast() { condition.broadcast() }

    /// True when the calling thread holds the lock.
    var isHeldByCurrentThread: Bool { holder.load(ordering: .relaxed) == UInt(pthread_self()) }
}
