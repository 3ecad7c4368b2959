import Foundation
import TailorStore
import TailorWire

extension AutopilotScheduler {
    /// Where every key of `owner` (every owner's when nil) stands, optionally one user's or
    /// task's: its state, what it waits for, what π_base is, and its latest round with the
    /// verdict.
    func status(
        owner: UInt32?, user: String? = nil, task: String? = nil, now: Date = Date()
    ) async throws
        -> Autopilot.Status
    {
        let all = try facts(owner: nil, now: now)
        let machine = await self.machine(now: now, facts: all)
        let power = machine.onMains.map { $0 ? "mains" : "battery" } ?? "unknown"
        let mine = all.filter {
            (owner == nil || $0.key.owner == owner) && (user == nil || $0.key.user == user)
                && (task == nil || $0.key.task == task)
        }
        let entries = try mine.map { f in
            let state = AutopilotState(f, machine: machine, settings: settings)
            var e = Autopilot.Entry(ownerUID: f.key.owner, user: f.key.user, task: f.key.task, state: state.name)
            e.detail = state.detail
            e.pendingItems = UInt32(clamping: f.pending)
            e.neededItems = UInt32(clamping: settings.minNewItems)
            e.nextEligibleUnixMS = state.nextEligible.map { UInt64(max(0, $0.timeIntervalSince1970 * 1000)) } ?? 0
            e.paused = f.paused
            e.failures = UInt32(clamping: f.failures)
            e.runsToday = UInt32(clamping: f.recentStarts.count)
            let taskKey = AdapterKey(owner: f.key.owner, kind: .task, task: f.key.task)
            e.piBase = (try? registry.currentVersion(of: taskKey)).map { "task adapter v\($0)" } ?? "base model"
            e.lastRun = try lastRun(f.key)
            return e
        }
        let pauses = try self.pauses.list(owner: owner).map {
            Autopilot.Scope(user: $0.user, task: $0.task, ownerUID: $0.owner)
        }
        return Autopilot.Status(enabled: settings.enabled, power: power, entries: entries, pauses: pauses)
    }

    /// The key's newest round, with its candidate's verdict once decided.
    private func lastRun(_ key: AutopilotKey) throws -> Autopilot.Run? {
        guard let job = try jobs.list(owner: key.owner, user: key.user, task: key.task, origin: .autopilot).first
        else { return nil }
        var run = Autopilot.Run(jobID: job.id, state: job.state.rawValue)
        run.error = job.error
        run.startedUnixMS = UInt64(max(0, job.createdMS))
        run.updatedUnixMS = UInt64(max(0, job.updatedMS))
        let userKey = AdapterKey(owner: key.owner, kind: .user, task: key.task, user: key.user)
        let candidate = (try? registry.entry(userKey))?.versions.last { $0.jobID == job.id && $0.stage == "dpo" }
        run.candidateVersion = candidate?.version ?? 0
        run.promotion = candidate?.promotion.map(Promotion.init)
        return run
    }
}

extension Promotion {
    /// The wire form of a recorded verdict.
    init(_ r: PromotionRecord) {
        self.init(
            promoted: r.promoted, reason: r.reason, baseline: r.baseline, candidateRougeL: r.candidate.rougeL,
            candidateLogLikelihood: r.candidate.logLikelihood, baselineRougeL: r.current.rougeL,
            baselineLogLikelihood: r.current.logLikelihood, heldOut: UInt32(clamping: r.heldOut),
            decidedUnixMS: r.decidedUnixMS)
    }
}
