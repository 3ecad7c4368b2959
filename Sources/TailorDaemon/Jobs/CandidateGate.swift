import Foundation
import TailorEngine
import TailorJobs
import TailorStore
import TailorTraining

/// The last step of an autopilot job: scores its candidate (the DPO version it published,
/// not current) and what serves the user now on the items the job held back, records the
/// verdict beside the candidate, and makes the candidate current only if the gate allows.
/// The same rule decides whether `cope` mode contrasts the candidate with the task model or
/// decodes it plainly, for this user (`PromotionRecord.contrast`).
///
/// The verdict is recorded before the current pointer moves, so a job killed in between
/// applies the same verdict when it resumes and never promotes twice or judges twice.
struct CandidateGate {
    let plan: AutopilotPlan
    let record: JobRecord
    let loaded: LoadedModel
    let environment: TrainingEnvironment
    let pipeline: PersonalizationPipeline
    /// The current task adapter as the job loaded it (empty without one): π_base.
    let task: [AdapterUse]

    private var registry: AdapterRegistry { environment.registry }
    private var userKey: AdapterKey {
        AdapterKey(owner: record.owner, kind: .user, task: record.task, user: record.user)
    }
    private var taskKey: AdapterKey { AdapterKey(owner: record.owner, kind: .task, task: record.task) }

    /// What the candidate is compared with: the user's version that `cope` mode serves now,
    /// or for a user's first version the task adapter alone (the base model without one).
    enum Baseline: Equatable {
        case version(UInt32)
        case taskAdapter(UInt32)
        case baseModel

        var name: String {
            switch self {
            case let .version(v): return "v\(v)"
            case let .taskAdapter(v): return "task adapter v\(v)"
            case .baseModel: return "base model"
            }
        }
    }

    /// The baseline now (see `Baseline`): what `cope` mode serves, with a fallback's reading
    /// (the newest DPO version up to current, else the newest import, else current).
    func baseline() -> Baseline {
        if let entry = try? registry.entry(userKey), entry.current != 0 {
            return .version(
                entry.newest(stage: JobSpec.Kind.dpo.rawValue) ?? entry.newest(stage: nil) ?? entry.current)
        }
        if let v = try? registry.currentVersion(of: taskKey) { return .taskAdapter(v) }
        return .baseModel
    }

    /// The verdict on `candidate`: the one recorded, or a new one measured and recorded now.
    func verdict(on candidate: UInt32) throws -> PromotionRecord {
        let entry = try registry.entry(userKey)
        if let recorded = entry.versions.first(where: { $0.version == candidate })?.promotion { return recorded }
        let held = try heldOut()
        guard !held.isEmpty else {
            throw RPCError(.failedPrecondition, "the items held back to judge the candidate are gone")
        }
        let scorer = HoldoutScorer(pipeline: pipeline, maxNewTokens: plan.maxNewTokens)
        let references = held.map(\.output)
        let pause = { [activity = environment.activity] in _ = activity.waitUntilIdle(grace: 0) }
        // The candidate as `cope` mode would serve it: contrasted, unless plain decoding of the
        // same version does better on the held-back items by the gate's rule.
        let stack = task + [try adapter(userKey, candidate)]
        let contrasted = PromotionGate.scores(
            try scorer.run(held, stack: stack, contrastWith: task, pause: pause), references: references)
        let plain = PromotionGate.scores(
            try scorer.run(held, stack: stack, contrastWith: nil, pause: pause), references: references)
        let contrast = plan.gate.decideContrast(contrasted: contrasted, plain: plain)
        let base = baseline()
        let theirs: HoldoutScorer.Outcome
        switch base {
        case let .version(v):
            // As it serves now: contrasted unless its own verdict dropped the contrast.
            theirs = try scorer.run(
                held, stack: task + [try adapter(userKey, v)], contrastWith: entry.keepsContrast(v) ? task : nil,
                pause: pause)
        case .taskAdapter, .baseModel:
            theirs = try scorer.run(held, stack: task, contrastWith: nil, pause: pause)
        }
        let candidateScores = contrast.keep ? contrasted : plain
        let currentScores = PromotionGate.scores(theirs, references: references)
        let (promote, reason) = plan.gate.decide(candidate: candidateScores, current: currentScores)
        let verdict = PromotionRecord(
            promoted: promote, reason: reason + "; " + contrast.reason, baseline: base.name,
            candidate: candidateScores, current: currentScores, heldOut: held.count,
            decidedUnixMS: UInt64(max(0, Date().timeIntervalSince1970 * 1000)), withoutContrast: plain,
            contrast: contrast.keep)
        try registry.recordPromotion(userKey, version: candidate, verdict)
        environment.cache.invalidate(userKey)
        return verdict
    }

    /// Makes `candidate` current (again, when a resumed job repeats it).
    func promote(_ candidate: UInt32) throws {
        try registry.setCurrent(userKey, version: candidate)
        environment.cache.invalidate(userKey)
    }

    /// The held-back items as text, in the plan's order; ones deleted since are skipped.
    private func heldOut() throws -> [TextExample] {
        let items = try environment.store.ownItems(user: record.user, owner: record.owner, task: record.task)
        let byRef = Dictionary(
            items.map { (AutopilotPlan.Item(kind: $0.kind, id: $0.id), $0) }, uniquingKeysWith: { a, _ in a })
        return plan.holdout.compactMap { byRef[$0] }.map { TextExample(input: $0.input, output: $0.output) }
    }

    private func adapter(_ key: AdapterKey, _ version: UInt32) throws -> AdapterUse {
        AdapterUse(try environment.cache.adapter(key, version: version, for: loaded))
    }
}
