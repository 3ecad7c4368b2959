import Foundation
import TailorEngine
import TailorJobs
import TailorStore
import TailorTraining

/// Runs training jobs one at a time on a thread of its own: round-robin over owner uids, in
/// submission order within each, so one uid's backlog never holds another's job back for
/// more than one job at a time.
///
/// State machine per job: queued → running → succeeded | failed | cancelled. Progress is saved
/// to the job store at every step and sent to watchers. When the daemon stops, the running job
/// stops between sequences and stays `running` in the store (queued ones stay `queued`), so the
/// next start resumes it from its last checkpoint.
final class JobRunner: @unchecked Sendable {
    private struct Entry {
        var record: JobRecord
        var spec: JobSpec
        var model: LoadedModel
    }

    // Everything below `condition` is guarded by it.
    private let condition = NSCondition()
    private var queue: [Entry] = []
    private var cancelled: Set<String> = []
    private var runningID: String?
    private var runningRecord: JobRecord?
    private var stopping = false
    private var exited = false
    private var watchers: [String: [UUID: AsyncStream<JobRecord>.Continuation]] = [:]
    /// The run counter at each owner's last job, for round-robin.
    private var lastRun: [UInt32: UInt64] = [:]
    private var runs: UInt64 = 0

    /// Jobs that may be queued or running at once, over all uids.
    let maxJobs: Int
    /// Jobs one uid may have queued or running at once.
    let maxJobsPerUID: Int

    let jobs: JobStore
    let environment: TrainingEnvironment
    var store: PreferenceStore { environment.store }

    init(jobs: JobStore, environment: TrainingEnvironment, maxJobs: Int = 64, maxJobsPerUID: Int? = nil) {
        self.jobs = jobs
        self.environment = environment
        self.maxJobs = maxJobs
        self.maxJobsPerUID = maxJobsPerUID ?? maxJobs
        let thread = Thread { [self] in self.loop() }
        thread.name = "tailor-train"
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Queues a stored job to run on `model`.
    /// - Parameter limited: refuse the job when its owner or the daemon holds too many (a new
    ///   submission); jobs resumed after a restart are not limited.
    /// - Throws: RESOURCE_EXHAUSTED naming the limit, when `limited`; nothing is queued then.
    func enqueue(_ record: JobRecord, spec: JobSpec, model: LoadedModel, limited: Bool = false) throws {
        condition.lock()
        defer { condition.unlock() }
        if limited {
            let held = queue.map(\.record.owner) + (runningRecord.map { [$0.owner] } ?? [])
            try JobShares.admit(record.owner, holding: held, maxJobs: maxJobs, maxJobsPerUID: maxJobsPerUID)
        }
        queue.append(Entry(record: record, spec: spec, model: model))
        condition.signal()
    }

    /// Cancels job `id`: a queued job at once, a running one between sequences. Returns false
    /// when the runner does not hold it (it is final, or unknown).
    @discardableResult
    func cancel(_ id: String) -> Bool {
        condition.lock()
        var removed: Entry?
        if let i = queue.firstIndex(where: { $0.record.id == id }) { removed = queue.remove(at: i) }
        let running = runningID == id
        if running { cancelled.insert(id) }
        condition.unlock()
        if var r = removed?.record {
            r.state = .cancelled
            publish(r)
        }
        return running || removed != nil
    }

    /// Progress events of job `id` until it is final.
    func watch(_ id: String) -> AsyncStream<JobRecord> {
        let (stream, continuation) = AsyncStream.makeStream(of: JobRecord.self, bufferingPolicy: .bufferingNewest(16))
        let token = UUID()
        condition.lock()
        watchers[id, default: [:]][token] = continuation
        condition.unlock()
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            self.condition.lock()
            self.watchers[id]?[token] = nil
            self.condition.unlock()
        }
        return stream
    }

    /// Blocks until no running job matches `predicate` (after cancelling it, say).
    func waitUntilNotRunning(_ predicate: (JobRecord) -> Bool) {
        condition.lock()
        while let r = runningRecord, predicate(r) { condition.wait() }
        condition.unlock()
    }

    /// Stops the thread: the running job halts between sequences and stays resumable.
    func stop() {
        environment.activity.releaseWaiters()
        condition.lock()
        stopping = true
        condition.broadcast()
        while !exited { condition.wait() }
        condition.unlock()
    }

    /// Saves `record` and tells its watchers; a final record ends their streams.
    @discardableResult
    private func publish(_ record: JobRecord) -> JobRecord {
        let saved = (try? jobs.update(record)) ?? record
        condition.lock()
        let targets = watchers[record.id].map { Array($0.values) } ?? []
        if record.state.isFinal { watchers[record.id] = nil }
        condition.unlock()
        for c in targets {
            c.yield(saved)
            if record.state.isFinal { c.finish() }
        }
        return saved
    }

    private func loop() {
        TrainingThreadPriority.nameCurrentThread("tailor-train")
        TrainingThreadPriority.lowerCurrentThread()
        while true {
            condition.lock()
            while !stopping && queue.isEmpty { condition.wait() }
            if stopping {
                exited = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let entry = queue.remove(at: JobShares.next(queue.map(\.record.owner), lastRun: lastRun))
            runs += 1
            lastRun[entry.record.owner] = runs
            runningID = entry.record.id
            runningRecord = entry.record
            condition.unlock()
            run(entry)
            condition.lock()
            runningID = nil
            runningRecord = nil
            cancelled.remove(entry.record.id)
            condition.broadcast()
            condition.unlock()
        }
    }

    private func run(_ entry: Entry) {
        var record = entry.record
        if record.state == .running { record.resumed += 1 }  // it was interrupted by a stop or crash
        record.state = .running
        record.error = ""
        record = publish(record)
        let id = record.id
        let job = TrainingJob(
            record: record, spec: entry.spec, loaded: entry.model, environment: environment,
            isCancelled: { [weak self] in self?.shouldStop(id) ?? true },
            report: { [weak self] r in self?.publish(r) ?? r })
        do {
            publish(try job.run())
        } catch is CancellationError {
            var r = job.record
            condition.lock()
            let daemonStopping = stopping
            condition.unlock()
            if daemonStopping {
                _ = try? jobs.update(r)  // stays running: the next start resumes it
            } else {
                r.state = .cancelled
                publish(r)
            }
        } catch {
            var r = job.record
            r.state = .failed
            r.error = (error as? RPCError)?.message ?? "\(error)"
            publish(r)
        }
    }

    private func shouldStop(_ id: String) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopping || cancelled.contains(id)
    }
}

/// How the runner shares itself among uids: admission against the total and per-uid limits,
/// and the choice of the next job (the owner served least recently, FIFO within an owner).
enum JobShares {
    /// Admits a new job of `owner` when `held` (the owners of the queued and running jobs)
    /// leaves room under both limits.
    /// - Throws: RESOURCE_EXHAUSTED naming the limit.
    static func admit(_ owner: UInt32, holding held: [UInt32], maxJobs: Int, maxJobsPerUID: Int) throws {
        let mine = held.count { $0 == owner }
        guard mine < maxJobsPerUID else {
            throw RPCError(
                .resourceExhausted,
                "uid \(owner) has \(mine) training jobs queued or running; the limit per uid is \(maxJobsPerUID)")
        }
        guard held.count < maxJobs else {
            throw RPCError(
                .resourceExhausted, "\(held.count) training jobs are queued or running; the limit is \(maxJobs)")
        }
    }

    /// The index in `queue` (owners in submission order) of the job to run next: the first of
    /// the owner whose last job started longest ago (`lastRun`: a run counter per owner).
    static func next(_ queue: [UInt32], lastRun: [UInt32: UInt64]) -> Int {
        queue.indices.min { (lastRun[queue[$0]] ?? 0, $0) < (lastRun[queue[$1]] ?? 0, $1) }!
    }
}
