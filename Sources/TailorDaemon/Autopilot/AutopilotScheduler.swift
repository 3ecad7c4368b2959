import Foundation
import Logging
import ServiceLifecycle
import TailorJobs
import TailorStore
import TailorWire

/// The daemon's own trainer: every `autopilot_check_seconds` it looks at each (owner, user,
/// task) with data and, when one has enough new items, the machine is idle and on mains, and
/// no other autopilot job is running, starts a cope job for it that holds the user's newest
/// items back and ends in `CandidateGate`, which promotes the new version only if it is not
/// worse than what serves now.
///
/// It keeps no state of its own: every decision is read from the stores (the jobs table,
/// the adapter registry, the pauses), so a restart changes nothing, and a job the restart
/// interrupted is resumed by the job runner like any other.
///
/// Each round retrains the user's adapter from scratch (OPPU on the task adapter, then
/// negatives and DPO) on all their data but the held-back items, rather than continuing the
/// current version: continuing would stack DPO rounds on DPO rounds with no fixed reference,
/// and at desktop data sizes a full round takes minutes.
final class AutopilotScheduler: Service, Sendable {
    let settings: AutopilotSettings
    let runner: JobRunner
    let pauses: AutopilotPauses
    let models: ModelManager
    let power: any PowerSource
    let logger: Logger

    var store: PreferenceStore { runner.store }
    var registry: AdapterRegistry { runner.environment.registry }
    var jobs: JobStore { runner.jobs }

    init(
        settings: AutopilotSettings, runner: JobRunner, pauses: AutopilotPauses, models: ModelManager,
        power: (any PowerSource)? = nil, logger: Logger
    ) {
        self.settings = settings
        self.runner = runner
        self.pauses = pauses
        self.models = models
        self.power = power ?? SysfsPowerSource(directory: settings.powerSupplyDirectory)
        self.logger = logger
    }

    func run() async throws {
        guard settings.enabled else { return }
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.tick()
                try await Task.sleep(for: .seconds(self.settings.checkSeconds))
            }
        }
    }

    // MARK: Looking

    /// One look: starts a round for one ready key, the one of the owner served least
    /// recently, and returns its job id (nil when none is ready or it could not start).
    @discardableResult
    func tick(now: Date = Date()) async -> String? {
        guard settings.enabled, let all = try? facts(owner: nil, now: now) else { return nil }
        let machine = await self.machine(now: now, facts: all)
        let ready = all.filter { AutopilotState($0, machine: machine, settings: settings) == .ready }
        guard !ready.isEmpty else { return nil }
        let lastStart = Dictionary(
            all.map { ($0.key.owner, $0.recentStarts.max() ?? .distantPast) }, uniquingKeysWith: { max($0, $1) })
        let pick = ready.min { a, b in
            (lastStart[a.key.owner] ?? .distantPast, -a.pending) < (lastStart[b.key.owner] ?? .distantPast, -b.pending)
        }!
        do {
            return try await start(pick)
        } catch {
            logger.warning(
                "autopilot could not start a round",
                metadata: ["user": "\(pick.key.user)", "task": "\(pick.key.task)", "error": "\(error)"])
            return nil
        }
    }

    /// The machine now: a round waits while any training job (a client's or its own) is
    /// queued or running, so it neither queues behind one nor delays one.
    func machine(now: Date, facts: [AutopilotFacts]) async -> MachineFacts {
        let training = facts.contains { $0.unfinishedJob != nil } || !((try? jobs.unfinished()) ?? []).isEmpty
        return MachineFacts(
            now: now, idleSince: runner.environment.activity.idleSince, onMains: power.onMains(),
            trainingBusy: training, modelLoaded: !(await models.list()).isEmpty)
    }

    /// The facts of every key with data of `owner` (every owner's when nil), optionally one
    /// user's or task's.
    func facts(owner: UInt32?, user: String? = nil, task: String? = nil, now: Date) throws -> [AutopilotFacts] {
        let paused = try pauses.list(owner: owner)
        let counts = try store.countsByTask(owner: owner).filter {
            ($0.history + $0.pairs) > 0 && (user == nil || $0.user == user) && (task == nil || $0.task == task)
        }
        return try counts.map { c in
            let key = AutopilotKey(owner: c.owner, user: c.user, task: c.task)
            var f = AutopilotFacts(key: key)
            f.paused = paused.contains { $0.covers(owner: c.owner, user: c.user, task: c.task) }
            // The daily limit counts the user's rounds over all their tasks.
            let usersRounds = try jobs.list(owner: c.owner, user: c.user, origin: .autopilot)
            let rounds = usersRounds.filter { $0.task == c.task }
            f.unfinishedJob = rounds.first { !$0.state.isFinal }?.id
            f.recentStarts = usersRounds.map { Date(timeIntervalSince1970: Double($0.createdMS) / 1000) }.filter {
                now.timeIntervalSince($0) < 86_400
            }
            let ended = rounds.filter { $0.state != .cancelled && $0.state.isFinal }
            f.failures = ended.prefix { $0.state == .failed }.count
            f.lastFailure = ended.first { $0.state == .failed }.map {
                Date(timeIntervalSince1970: Double($0.updatedMS) / 1000)
            }
            let seen = max(
                currentDataTime(AdapterKey(owner: c.owner, kind: .user, task: c.task, user: c.user)),
                rounds.first { $0.state == .succeeded }?.createdMS ?? -1)
            f.pending = try store.ownItemCount(user: c.user, owner: c.owner, task: c.task, afterMS: seen)
            let newest = try store.ownItems(user: c.user, owner: c.owner, task: c.task, limit: settings.holdout)
            f.trainable = c.history - newest.count { $0.kind == .history }
            return f
        }
    }

    /// When the data of `key`'s current version was taken: its job's creation (the job froze
    /// its data soon after), or the version's own time for an import; -1 without a version.
    private func currentDataTime(_ key: AdapterKey) -> Int64 {
        guard let entry = try? registry.entry(key), let current = entry.currentRecord else { return -1 }
        if !current.jobID.isEmpty, let job = try? jobs.get(current.jobID) { return job.createdMS }
        return Int64(current.createdUnixMS)
    }

    // MARK: Starting

    /// Starts a round for `f`: a cope job holding back the user's newest items.
    private func start(_ f: AutopilotFacts) async throws -> String {
        let k = f.key
        let newest = try store.ownItems(user: k.user, owner: k.owner, task: k.task, limit: settings.holdout)
        var request = Jobs.SubmitRequest(kind: JobSpec.Kind.cope.rawValue, user: k.user, task: k.task)
        request.parameters = settings.parameters
        let loaded = try await model(for: k)
        var spec = try JobSpec(request, shape: TrainingPreset.ModelShape(loaded.model.config))
        spec.model = loaded.info.id
        spec.autopilot = AutopilotPlan(
            holdout: newest.map { AutopilotPlan.Item(kind: $0.kind, id: $0.id) }, gate: settings.gate)
        var record = JobRecord(
            id: JobRecord.newID(), owner: k.owner, user: k.user, task: k.task, kind: spec.kind.rawValue,
            model: loaded.info.id, request: spec.json())
        record.origin = .autopilot
        record = try jobs.create(record)
        try runner.enqueue(record, spec: spec, model: loaded)
        logger.info(
            "autopilot round started",
            metadata: [
                "job": "\(record.id)", "owner": "\(k.owner)", "user": "\(k.user)", "task": "\(k.task)",
                "new_items": "\(f.pending)", "held_back": "\(newest.count)",
            ])
        return record.id
    }

    /// The loaded model the user's current version was made for, else the first loaded one.
    private func model(for k: AutopilotKey) async throws -> LoadedModel {
        let loaded = await models.list()
        let made = (try? registry.entry(AdapterKey(owner: k.owner, kind: .user, task: k.task, user: k.user)))?
            .currentRecord?.baseModelSHA256
        guard let info = loaded.first(where: { $0.sha256 == made }) ?? loaded.first else {
            throw RPCError(.failedPrecondition, "no base model is loaded")
        }
        return try await models.model(info.id, field: "model")
    }
}

extension JobRecord {
    /// A new job id: the time in base 36 and a random suffix, so ids sort by creation.
    static func newID(now: Date = Date()) -> String {
        "job-" + String(Int64(now.timeIntervalSince1970 * 1000), radix: 36) + "-"
            + String(UInt32.random(in: 0...UInt32.max), radix: 36)
    }
}
