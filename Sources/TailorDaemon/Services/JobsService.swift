import Foundation
import TailorJobs
import TailorStore
import TailorWire

/// `tailor.v1.Jobs`: submit, inspect, list, cancel and watch training jobs.
///
/// A submission is checked (kind, names, parameters, the model, that the data exists) before it
/// is stored; the `JobRunner` runs it. Every call is scoped to the caller's uid.
public struct JobsService: RPCService {
    public let name = "tailor.v1.Jobs"
    let runner: JobRunner
    let models: ModelManager
    let policy: AccessPolicy

    public func handle(_ call: RPCCall, _ writer: RPCWriter) async throws {
        do {
            switch call.method {
            case "Submit":
                try await writer.respond(
                    try await submit(try Jobs.SubmitRequest(serialized: call.payload), call).serialized())
            case "Get":
                try await writer.respond(
                    try Self.info(try job(Jobs.Query(ref: call.payload).id, call.caller)).serialized())
            case "List":
                let q = try Jobs.Query(list: call.payload)
                let owner: UInt32? = policy.seesAll(call.caller) ? nil : call.caller.uid
                let list = try runner.jobs.list(
                    owner: owner, user: q.user.isEmpty ? nil : q.user, task: q.task.isEmpty ? nil : q.task)
                try await writer.respond(try Jobs.Info.serialized(list.map(Self.info)))
            case "Cancel":
                let record = try job(Jobs.Query(ref: call.payload).id, call.caller)
                guard !record.state.isFinal else {
                    throw RPCError(.failedPrecondition, "job \(record.id) is already \(record.state.rawValue)")
                }
                runner.cancel(record.id)
                try await writer.respond(try Self.info(try runner.jobs.get(record.id)).serialized())
            case "Watch":
                let record = try job(Jobs.Query(ref: call.payload).id, call.caller)
                let stream = runner.watch(record.id)
                // The state now, then every change (re-read, so nothing between the two is lost).
                let now = try runner.jobs.get(record.id)
                try await writer.event(try Self.info(now).serialized())
                guard !now.state.isFinal else { return }
                for await r in stream {
                    try await writer.event(try Self.info(r).serialized())
                    if r.state.isFinal { break }
                }
            default:
                throw RPCError(.unimplemented, "\(name) has no method '\(call.method.echoed)'")
            }
        } catch let e as PreferenceStoreError {
            throw RPCError(preference: e)
        } catch let e as JobStoreError {
            throw RPCError(.notFound, e.description)
        }
    }

    private func job(_ id: String, _ caller: PeerCredentials) throws -> JobRecord {
        guard !id.isEmpty else { throw RPCError.invalidArgument("id", "name the job") }
        let record = try runner.jobs.get(id)
        guard policy.mayAccess(owner: record.owner, as: caller) else { throw JobStoreError.notFound(id) }
        return record
    }

    private func submit(_ req: Jobs.SubmitRequest, _ call: RPCCall) async throws -> Jobs.Info {
        let owner = try policy.owner(req.ownerUID, caller: call.caller, of: "data")
        let spec = try JobSpec(req)
        guard AdapterKey.isValidName(req.task) else {
            throw RPCError.invalidArgument(
                "task", "'\(req.task.prefix(64))' is not a task name: use 1-64 letters, digits, '.', '_' or '-'")
        }
        let store = runner.store
        if spec.kind == .tam {
            let others = try store.countsByTask(owner: owner, task: req.task).filter {
                $0.user != req.user && $0.history > 0
            }
            guard !others.isEmpty || !spec.dataUser.isEmpty else {
                throw RPCError.invalidArgument(
                    "task",
                    "no user other than '\(req.user)' has history for task '\(req.task)' to train a task adapter on")
            }
        } else {
            guard !req.user.isEmpty else {
                throw RPCError.invalidArgument("user", "a \(req.kind) job needs the user it personalizes")
            }
            // unknown user or task: INVALID_ARGUMENT
            _ = try store.counts(user: req.user, owner: owner, task: req.task)
        }
        let loaded = try await models.model(req.model, field: "model")
        let id = JobRecord.newID()
        // Resolved again for the model: its tuned rates fill what the request leaves unset.
        var resolved = try JobSpec(req, shape: TrainingPreset.ModelShape(loaded.model.config))
        resolved.model = loaded.info.id
        let record = try runner.jobs.create(
            JobRecord(
                id: id, owner: owner, user: req.user, task: req.task, kind: spec.kind.rawValue,
                model: loaded.info.id, request: resolved.json()))
        do {
            try runner.enqueue(record, spec: resolved, model: loaded, limited: true)
        } catch let e as RPCError {
            var refused = record
            refused.state = .failed
            refused.error = e.message
            _ = try? runner.jobs.update(refused)
            throw e
        }
        call.logger.info(
            "job submitted", metadata: ["job": "\(id)", "kind": "\(spec.kind.rawValue)", "task": "\(req.task)"])
        return Self.info(record)
    }

    static func info(_ r: JobRecord) -> Jobs.Info {
        var i = Jobs.Info(
            id: r.id, kind: r.kind, user: r.user, task: r.task, ownerUID: r.owner, state: r.state.rawValue)
        i.stage = r.stage
        i.step = UInt32(clamping: r.step)
        i.totalSteps = UInt32(clamping: r.totalSteps)
        i.loss = r.loss
        i.tokensPerSecond = r.tokensPerSecond
        i.etaSeconds = r.etaSeconds
        i.error = r.error
        i.adapterVersion = r.adapterVersion
        i.createdUnixMS = UInt64(max(0, r.createdMS))
        i.updatedUnixMS = UInt64(max(0, r.updatedMS))
        i.resumed = UInt32(clamping: r.resumed)
        i.origin = r.origin.rawValue
        return i
    }
}
