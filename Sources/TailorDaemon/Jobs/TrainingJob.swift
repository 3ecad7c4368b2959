import Foundation
import TailorEngine
import TailorJobs
import TailorStore
import TailorTraining

/// Runs one job's stages on the job runner's thread: gathers the user's data (frozen in a
/// dataset snapshot per stage, so a resumed or re-run stage sees the same items), trains or
/// samples, checkpoints, and publishes the resulting adapter version.
///
/// Between sequences it checks for cancellation and waits while interactive generations run.
final class TrainingJob {
    private(set) var record: JobRecord
    let spec: JobSpec
    let loaded: LoadedModel
    let environment: TrainingEnvironment
    let isCancelled: @Sendable () -> Bool
    /// Persists and broadcasts progress.
    let report: (JobRecord) -> JobRecord

    private var store: PreferenceStore { environment.store }
    private var registry: AdapterRegistry { environment.registry }
    private var cache: AdapterCache { environment.cache }
    private var activity: GenerationActivity { environment.activity }
    private var checkpointDirectory: String { environment.checkpointDirectory }
    private var threads: Int { environment.threads }

    init(
        record: JobRecord, spec: JobSpec, loaded: LoadedModel, environment: TrainingEnvironment,
        isCancelled: @escaping @Sendable () -> Bool,
        report: @escaping (JobRecord) -> JobRecord
    ) {
        self.record = record
        self.spec = spec
        self.loaded = loaded
        self.environment = environment
        self.isCancelled = isCancelled
        self.report = report
    }

    private var config: ModelConfig { loaded.model.config }
    /// The stages' shared code: examples cut to the job's max_tokens, never past the model's
    /// context (a 128-token model given max_tokens 256 would otherwise fail on its first long
    /// example).
    private var pipeline: PersonalizationPipeline {
        PersonalizationPipeline(model: loaded.model, maxTokens: spec.maxTokens, threads: threads)
    }

    /// The stage name of an autopilot job's last step, after its training stages.
    static let gateStage = "gate"

    /// Runs the remaining stages, then an autopilot job's gate; the record ends succeeded (or
    /// the error propagates).
    func run() throws -> JobRecord {
        let stages = spec.kind.stages
        let atGate = record.stage == Self.gateStage
        let first = stages.firstIndex { $0.rawValue == record.stage } ?? 0
        for stage in atGate ? [] : stages[first...] {
            record.stage = stage.rawValue
            record.step = 0
            record.totalSteps = 0
            record = report(record)
            switch stage {
            case .tam, .oppu, .dpo: try train(stage)
            case .negatives: try sampleNegatives()
            case .cope: break
            }
        }
        if let plan = spec.autopilot {
            if !atGate {
                record.stage = Self.gateStage
                record.step = 0
                record.totalSteps = 2
                record = report(record)
            }
            try gate(plan)
        }
        record.state = .succeeded
        record.etaSeconds = 0
        return record
    }

    // MARK: Data

    /// The ids frozen for `stage` of this job (created on first use).
    private func snapshot(_ stage: JobSpec.Kind) throws -> (history: Set<String>, pairs: Set<String>) {
        let id = "\(record.id)/\(stage.rawValue)"
        if let s = try? store.snapshotItems(jobID: id) { return (Set(s.history), Set(s.pairs)) }
        let s = try store.snapshot(jobID: id, user: record.user, owner: record.owner, task: record.task)
        return (Set(s.history), Set(s.pairs))
    }

    private func limited<T>(_ items: [T]) -> [T] { spec.maxItems > 0 ? Array(items.prefix(spec.maxItems)) : items }

    /// The stage's frozen history, less what an autopilot job holds back.
    private func userHistory(_ stage: JobSpec.Kind) throws -> [HistoryItem] {
        let ids = try snapshot(stage).history.subtracting(spec.autopilot?.historyIDs ?? [])
        return limited(
            try store.history(user: record.user, owner: record.owner, task: record.task).filter { ids.contains($0.id) })
    }

    /// TAM data: the task's history of every other user of this owner (or of `data_user`),
    /// frozen per user on first use like the other stages' data.
    private func taskHistory() throws -> [HistoryItem] {
        let id = "\(record.id)/\(JobSpec.Kind.tam.rawValue)"
        var frozen = try store.userSnapshots(jobID: id)
        if frozen.isEmpty {
            let users =
                spec.dataUser.isEmpty
                ? try store.users(owner: record.owner).filter { $0 != record.user } : [spec.dataUser]
            frozen = try store.snapshot(jobID: id, users: users, owner: record.owner, task: record.task)
        }
        var items: [HistoryItem] = []
        for (user, ids) in frozen.sorted(by: { $0.key < $1.key }) {
            let keep = Set(ids)
            guard let h = try? store.history(user: user, owner: record.owner, task: record.task) else { continue }
            items += h.filter { keep.contains($0.id) }
        }
        return limited(items)
    }

    // MARK: Adapters

    private var taskKey: AdapterKey { AdapterKey(owner: record.owner, kind: .task, task: record.task, user: "") }
    private var userKey: AdapterKey {
        AdapterKey(owner: record.owner, kind: .user, task: record.task, user: record.user)
    }

    /// The current task adapter, if there is one.
    private func taskAdapter() throws -> [AdapterUse] {
        guard (try? registry.currentVersion(of: taskKey)) != nil else { return [] }
        return [AdapterUse(try cache.adapter(taskKey, version: nil, for: loaded))]
    }

    /// What DPO's reference scores depend on: the model, the task adapter's current version
    /// (π_base) and the sequence length (how prompts are cut). Scores the negatives stage kept
    /// under another basis are not used; DPO computes those itself.
    private func referenceBasis() -> String {
        let task = (try? registry.entry(taskKey))?.currentRecord.map { "\($0.version)@\($0.createdUnixMS)/\($0.jobID)" }
        return "model \(loaded.info.sha256) task \(task ?? "none") max_tokens \(spec.maxTokens)"
    }

    /// The version of `key` this job's `stage` published, if it got that far (a job resumed
    /// after its stage published, but before its record said so, must not publish twice).
    private func published(_ stage: JobSpec.Kind, _ key: AdapterKey) -> UInt32? {
        (try? registry.entry(key))?.versions.last { $0.jobID == record.id && $0.stage == stage.rawValue }?.version
    }

    /// The user's adapter the negatives and DPO stages build on: the OPPU version this job
    /// made (an autopilot job's is a candidate, not current), else the current one.
    private func userAdapter(for stage: JobSpec.Kind) throws -> LoRAAdapter {
        if let v = published(.oppu, userKey) { return try cache.adapter(userKey, version: v, for: loaded) }
        guard (try? registry.currentVersion(of: userKey)) != nil else {
            throw RPCError(
                .failedPrecondition,
                "\(stage.rawValue) needs the user's adapter: train oppu for \(record.user)/\(record.task) first")
        }
        return try cache.adapter(userKey, version: nil, for: loaded)
    }

    // MARK: Stages

    /// What a training stage measured, for its record and its adapter's metrics.
    private final class StageProgress {
        let started = Date()
        var resumedAt = 0, tokens = 0, items = 0, totalSteps = 0
        var lastLoss: Float = 0
    }

    /// A training stage: train through the pipeline, then publish the adapter.
    private func train(_ stage: JobSpec.Kind) throws {
        if let v = published(stage, stage == .tam ? taskKey : userKey) {
            record.adapterVersion = v
            return
        }
        let checkpoint = checkpointDirectory + "/\(record.id)-\(stage.rawValue).ckpt"
        let progress = StageProgress()
        let trainable = try runStage(stage, hooks: try hooks(checkpoint: checkpoint, progress: progress))
        try publish(trainable, stage: stage, progress: progress)
        try? FileManager.default.removeItem(atPath: checkpoint)
    }

    /// The pipeline's hooks for this job: yield to generation, stop on cancellation, resume
    /// from `checkpoint`, report each step and checkpoint every `checkpointEvery` steps.
    private func hooks(checkpoint: String, progress: StageProgress) throws -> PersonalizationPipeline.Hooks {
        PersonalizationPipeline.Hooks(
            pausePoint: { [activity] in activity.waitUntilIdle(grace: 0) },
            beforeSequence: { [isCancelled, activity] in
                if isCancelled() { throw CancellationError() }
                activity.waitUntilIdle()
            },
            resume: try FileManager.default.contents(atPath: checkpoint).map {
                try TrainingCheckpoint(decoding: [UInt8]($0))
            },
            willStart: { trainer in
                progress.resumedAt = trainer.step
                progress.items = trainer.dataCount
                progress.totalSteps = trainer.totalSteps
                self.record.step = trainer.step
                self.record.totalSteps = trainer.totalSteps
                self.record = self.report(self.record)
            },
            didStep: { r, trainer in
                progress.tokens += r.tokens
                progress.lastLoss = r.loss
                let elapsed = Date().timeIntervalSince(progress.started)
                self.record.step = r.step
                self.record.loss = r.loss
                self.record.tokensPerSecond = Float(Double(progress.tokens) / max(elapsed, 1e-6))
                self.record.etaSeconds = Float(
                    elapsed / Double(max(1, r.step - progress.resumedAt)) * Double(trainer.totalSteps - r.step))
                self.record = self.report(self.record)
                if r.step % self.spec.checkpointEvery == 0 || trainer.isFinished {
                    try AtomicFile.write(try trainer.checkpoint().encoded(), to: checkpoint, mode: 0o600)
                }
            })
    }

    /// The stage's data from the store, trained through the pipeline; a stage without data
    /// fails FAILED_PRECONDITION saying what to do.
    private func runStage(_ stage: JobSpec.Kind, hooks: PersonalizationPipeline.Hooks) throws -> TrainableLoRA {
        do {
            switch stage {
            case .tam:
                return try pipeline.supervised(
                    try taskHistory().map(\.textExample), configuration: spec.sft, hooks: hooks)
            case .oppu:
                return try pipeline.supervised(
                    try userHistory(stage).map(\.textExample), configuration: spec.sft, frozen: try taskAdapter(),
                    hooks: hooks)
            default:
                let start = try userAdapter(for: stage)
                let ids = try snapshot(.dpo).pairs.subtracting(spec.autopilot?.pairIDs ?? [])
                let pairs = limited(
                    try store.pairs(user: record.user, owner: record.owner, task: record.task).filter {
                        ids.contains($0.id)
                    })
                let references = try store.references(user: record.user, owner: record.owner, basis: referenceBasis())
                return try pipeline.preference(
                    pairs.map { $0.textPreference(reference: references[$0.id]) }, continuing: start,
                    configuration: spec.dpo, frozen: try taskAdapter(), hooks: hooks)
            }
        } catch TrainingError.emptyDataset {
            switch stage {
            case .tam: throw RPCError(.failedPrecondition, "no other user has history for task '\(record.task)'")
            case .oppu:
                throw RPCError(.failedPrecondition, "user '\(record.user)' has no history for task '\(record.task)'")
            default:
                throw RPCError(
                    .failedPrecondition,
                    "user '\(record.user)' has no preference pairs for task '\(record.task)': run negatives first")
            }
        }
    }

    /// A new current version of the stage's adapter, with its metrics and this job's id.
    private func publish(_ trainable: TrainableLoRA, stage: JobSpec.Kind, progress: StageProgress) throws {
        let key = stage == .tam ? taskKey : userKey
        let (peftConfig, weights) = try PEFTAdapter.export(
            trainable.adapter(name: "\(key)"), config: config, baseModel: loaded.info.id)
        let metrics: [String: Double] = [
            "loss": Double(progress.lastLoss), "steps": Double(progress.totalSteps),
            "examples": Double(progress.items), "train_seconds": Date().timeIntervalSince(progress.started),
        ]
        let targets = LoRATarget.allCases.filter { t in trainable.slots.contains { $0.key.target == t } }.map(
            \.rawValue)
        let version = try registry.add(
            key,
            record: AdapterVersionRecord(
                baseModelSHA256: loaded.info.sha256, baseArchitecture: config.architecture.rawValue,
                rank: trainable.rank, alpha: trainable.alpha,
                useRSLoRA: trainable.useRSLoRA, targets: targets, jobID: record.id, metrics: metrics,
                stage: stage.rawValue),
            configJSON: peftConfig, weights: weights, makeCurrent: spec.autopilot == nil,
            candidate: spec.autopilot != nil)
        cache.invalidate(key)
        record.adapterVersion = version.version
    }

    /// An autopilot job's gate (`CandidateGate`): step 1 once the verdict on the DPO
    /// candidate is recorded, step 2 once it is applied.
    private func gate(_ plan: AutopilotPlan) throws {
        guard let candidate = published(.dpo, userKey) else {
            throw RPCError(.internalError, "the autopilot job has no DPO version to judge")
        }
        record.adapterVersion = candidate
        let gate = CandidateGate(
            plan: plan, record: record, loaded: loaded, environment: environment, pipeline: pipeline,
            task: try taskAdapter())
        let verdict = try gate.verdict(on: candidate)
        if record.step < 1 {
            record.step = 1
            record = report(record)
        }
        if verdict.promoted && record.step < 2 { try gate.promote(candidate) }
        record.step = 2
        record = report(record)
    }

    /// For each of the user's history prompts, K samples from base + task adapter; the one the
    /// user's adapter likes least (lowest implicit reward) becomes a `synthetic` pair against the
    /// user's real output, kept with DPO's reference scores of it. Items that already have their
    /// pair are skipped, so a resumed stage continues where it stopped.
    private func sampleNegatives() throws {
        let history = try userHistory(.negatives)
        guard !history.isEmpty else {
            throw RPCError(.failedPrecondition, "user '\(record.user)' has no history for task '\(record.task)'")
        }
        let basis = referenceBasis()
        let stage = try pipeline.negatives(
            task: try taskAdapter(), user: try userAdapter(for: .negatives), configuration: spec.negatives,
            pausePoint: { [activity] in activity.waitUntilIdle(grace: 0) })
        let existing = Set(try store.pairs(user: record.user, owner: record.owner, task: record.task).map(\.id))
        let started = Date()
        record.totalSteps = history.count
        var done = 0
        for (i, item) in history.enumerated() {
            let id = "negative:" + item.id
            defer {
                record.step = i + 1
                let elapsed = Date().timeIntervalSince(started)
                done += 1
                record.etaSeconds = Float(elapsed / Double(done) * Double(history.count - i - 1))
                record = report(record)
            }
            if existing.contains(id) { continue }
            if isCancelled() { throw CancellationError() }
            activity.waitUntilIdle()
            let draw = try stage.draw(for: item.textExample, index: i)
            guard let worst = draw.negative, let drawn = draw.stored(id: id, task: record.task, basis: basis) else {
                continue
            }
            record.loss = worst.reward
            try store.addPairs(
                [drawn.pair], references: drawn.reference.map { [id: $0] } ?? [:], user: record.user,
                owner: record.owner)
        }
    }
}

/// What every training job works with: the stores it reads and publishes to, the gate it yields
/// at, where checkpoints go, and how many threads a step may use.
struct TrainingEnvironment: Sendable {
    let store: PreferenceStore
    let registry: AdapterRegistry
    let cache: AdapterCache
    let activity: GenerationActivity
    let checkpointDirectory: String
    /// Threads a training step uses (fewer than the cores leaves room for decoding).
    let threads: Int
}
