import Foundation
import TailorEngine

/// Runs the generations of one loaded model on a thread of its own.
///
/// The engine's forward pass blocks for tens of milliseconds and keeps its own thread pool
/// busy, so it must not run on Swift's cooperative pool or NIO's event loops. The worker owns
/// an `InferenceContext` with one slot per concurrent generation and a `BatchDecoder` over it:
/// requests are admitted from a `FairQueue` (round-robin over callers) as slots free up, and
/// all running requests advance together, one token per step.
///
/// Its life is `State`: running, then stopping once `stop()` is called (queued and running
/// jobs fail UNAVAILABLE), then stopped when the thread has exited.
final class GenerationWorker: @unchecked Sendable {
    /// Where the worker is in its life.
    private enum State {
        /// Admitting and stepping jobs.
        case running
        /// `stop()` was called: refuse new jobs; the thread fails the rest and exits.
        case stopping
        /// The thread has exited; the context may be freed.
        case stopped
    }

    // Everything below `lock` is guarded by it; `decoder` is touched only by the thread.
    private let lock = WorkerLock()
    private var queue = FairQueue<String, GenerationJob>()
    private var running: [Int: GenerationJob] = [:]  // slot -> job
    private var state = State.running
    private let decoder: BatchDecoder
    /// The most requests that may wait; beyond it, submit fails RESOURCE_EXHAUSTED.
    let maxQueued: Int
    /// The most requests one uid may have waiting, so that in system mode one uid's burst
    /// can never fill the queue another uid's request needs.
    let maxQueuedPerUID: Int
    /// Told when this worker turns busy or idle (training yields to it).
    private let activity: GenerationActivity?
    private var busy = false  // touched only by the thread

    /// A worker over `context` (one slot per sequence).
    init(
        context: InferenceContext, maxQueued: Int = 256, maxQueuedPerUID: Int? = nil, name: String,
        activity: GenerationActivity? = nil
    ) {
        decoder = BatchDecoder(context: context)
        self.maxQueued = maxQueued
        self.maxQueuedPerUID = min(maxQueued, maxQueuedPerUID ?? maxQueued)
        self.activity = activity
        let thread = Thread { [self] in self.loop() }
        thread.name = "tailor-gen-\(name)"
        thread.stackSize = 4 << 20
        thread.start()
    }

    /// Requests waiting for a slot.
    var queueDepth: Int {
        lock.lock()
        defer { lock.unlock() }
        return queue.count
    }

    /// The slots generating now.
    var busySlots: Set<Int> {
        lock.lock()
        defer { lock.unlock() }
        return Set(running.keys)
    }

    /// Queues `job`.
    /// - Throws: RESOURCE_EXHAUSTED when the queue is full, UNAVAILABLE when stopping.
    func submit(_ job: GenerationJob) throws {
        lock.lock()
        defer { lock.unlock() }
        guard state == .running else { throw RPCError(.unavailable, "the model is being unloaded") }
        guard queue.count < maxQueued else {
            throw RPCError(.resourceExhausted, "\(queue.count) generation requests are already waiting")
        }
        let uid = job.ownerUID
        let mine = queue.count { $0.ownerUID == uid }
        guard mine < maxQueuedPerUID else {
            throw RPCError(
                .resourceExhausted,
                "uid \(uid) has \(mine) generation requests waiting; the limit per uid is \(maxQueuedPerUID)")
        }
        job.queued(on: lock)
        queue.push(job, key: job.owner)
        lock.signal()
    }

    /// Stops `job`: a queued job leaves the queue now, a running one at the next step.
    func cancel(_ job: GenerationJob) {
        job.markCancelled()
        lock.lock()
        let removed = queue.removeAll { $0 === job }
        lock.signal()
        lock.unlock()
        for j in removed { j.finish(.cancelled) }
    }

    /// Fails every job with UNAVAILABLE and ends the thread; waits until it has exited, so the
    /// context can be freed safely afterwards.
    func stop() {
        lock.lock()
        if state == .running { state = .stopping }
        lock.broadcast()
        while state != .stopped { lock.wait() }
        lock.unlock()
    }

    /// The thread: wait for work, admit what fits, step; until stopped.
    ///
    /// Jobs hear of what happened only after the lock is released: an event resumes the
    /// caller's task, which takes that task's status lock, while a cancellation holds the same
    /// status lock when it calls `cancel`, which takes ours. Both under one lock each is a
    /// deadlock (it hung a test run once); so the locked part only decides, in `Outcomes`.
    private func loop() {
        while true {
            lock.lock()
            waitForWork()
            guard state == .running else { return shutDown() }
            var outcomes = Outcomes()
            dropCancelled(into: &outcomes)
            admitQueued(into: &outcomes)
            lock.unlock()
            outcomes.deliver()
            step()
        }
    }

    /// What the locked part of a round decided, for the jobs to hear once it is unlocked.
    private struct Outcomes {
        var cancelled: [GenerationJob] = []
        var admitted: [(GenerationJob, cachedTokens: Int)] = []
        var refused: [(GenerationJob, RPCError)] = []

        func deliver() {
            for job in cancelled { job.finish(.cancelled) }
            for (job, cached) in admitted { job.admitted(cachedTokens: cached) }
            for (job, error) in refused { job.fail(error) }
        }
    }

    /// Sleeps while there is nothing to do, telling `activity` when the worker turns idle and
    /// busy again (training yields while it is busy). Called and returns with the lock held.
    private func waitForWork() {
        let idle = queue.isEmpty && running.isEmpty
        if state == .running && idle && busy { setBusy(false) }
        while state == .running && queue.isEmpty && running.isEmpty { lock.wait() }
        if state == .running && !busy { setBusy(true) }
    }

    private func setBusy(_ value: Bool) {
        busy = value
        activity?.workerChanged(busy: value)
    }

    /// Fails every queued and running job and marks the thread stopped. Called with the lock
    /// held; returns with it released.
    private func shutDown() {
        if busy { setBusy(false) }
        var all = Array(running.values)
        while let j = queue.pop() { all.append(j) }
        running = [:]
        state = .stopped
        lock.broadcast()
        lock.unlock()
        for j in all { j.fail(RPCError(.unavailable, "the model was unloaded or the daemon is stopping")) }
    }

    /// Frees the slots of running jobs that were cancelled. Called with the lock held.
    private func dropCancelled(into outcomes: inout Outcomes) {
        for (slot, job) in running where job.isCancelled {
            decoder.remove(slot: slot)
            running[slot] = nil
            outcomes.cancelled.append(job)
        }
    }

    /// Fills free slots from the queue, fairly. Called with the lock held.
    private func admitQueued(into outcomes: inout Outcomes) {
        while decoder.freeSlots > 0, let job = queue.pop() {
            if job.isCancelled {
                outcomes.cancelled.append(job)
                continue
            }
            do {
                let slot = try decoder.admit(job.job)
                running[slot] = job
                outcomes.admitted.append((job, decoder.reusedPrefix[slot]))
            } catch EngineError.noFreeSlot where !running.isEmpty {
                // A CoPe job needs two slots: it waits at the front of its lane for the next free one.
                queue.pushFront(job, key: job.owner)
                break
            } catch {
                outcomes.refused.append((job, RPCError(error)))
            }
        }
    }

    /// One forward step over the running slots, delivering what each produced.
    private func step() {
        guard decoder.activeSlots > 0 else { return }
        let events: [BatchDecoder.Event]
        do {
            events = try decoder.step()
        } catch {
            // A forward error is a bug or a broken model, not one request's fault: end every
            // running job with it rather than leave them waiting forever.
            lock.lock()
            let jobs = running
            running = [:]
            lock.unlock()
            for (slot, job) in jobs {
                decoder.remove(slot: slot)
                job.fail(RPCError(.internalError, "generation failed: \(error)"))
            }
            return
        }
        lock.lock()
        let jobs = running
        for e in events where e.finished { running[e.slot] = nil }
        lock.unlock()
        for p in decoder.prefilled { jobs[p.slot]?.prefilled(remaining: p.remaining) }
        for e in events {
            guard let job = jobs[e.slot] else { continue }
            switch e.step {
            case let .token(token, finish):
                job.deliver(token, choice: e.choice)
                if let finish { job.finish(finish) }
            case let .end(text, finish):
                job.finish(finish, tail: text)
            }
        }
    }
}
