import TailorEngine
import TailorStore
import TailorWire

/// Turns a Generate request's personalization fields into the adapter stack of its batch row:
/// explicit adapter references in order, or for (user, task) the caller's task adapter then
/// the user's version for the mode. A mode whose adapters are missing is refused with
/// FAILED_PRECONDITION naming what to train, unless the request allows a fallback; either way
/// the plan says what runs, so no mode silently becomes another. `cope` and `cd-only` decode a
/// version plainly where the autopilot's holdout verdict dropped the contrast for it. Only version pointers and
/// records are read per request; the adapters themselves come from the `AdapterCache`.
struct AdapterResolver: Sendable {
    let registry: AdapterRegistry
    let cache: AdapterCache
    let policy: AccessPolicy

    /// What a Generate request decodes with: its row's adapters, for CoPe modes the task
    /// model's adapters to contrast with, and what that is called (`GenerateStats`).
    struct Plan {
        var adapters: [AdapterUse]
        var contrastBase: [AdapterUse]?
        /// The mode that runs: a `DecodingMode`'s name, or "adapters" for explicit adapters
        /// decoded plainly.
        var mode: String
        /// The adapters that run, versions resolved, in order.
        var refs: [AdapterRef]
        /// Whether `mode` differs from what the request asked for.
        var fallback = false

        static let base = Plan(adapters: [], contrastBase: nil, mode: DecodingMode.base.rawValue, refs: [])
    }

    /// One adapter version, loaded.
    private struct Resolved {
        var use: AdapterUse
        var ref: AdapterRef
    }

    func plan(for request: GenerationRequest, caller: PeerCredentials, model: LoadedModel) throws -> Plan {
        let mode = request.mode
        let contrastive = mode.isContrastive
        switch request.adapters {
        case let .explicit(refs):
            guard mode == .automatic || contrastive else {
                throw RPCError.invalidArgument(
                    "generate.mode", "with explicit adapters the mode is empty, cope or cd-only")
            }
            let resolved = try refs.map { ref in
                let key = try policy.adapterKey(for: ref, caller: caller, field: "generate.adapters")
                return try load(key, version: ref.version == 0 ? nil : ref.version, model: model, required: true)!
            }
            return Plan(
                adapters: resolved.map(\.use), contrastBase: contrastive ? resolved.dropLast().map(\.use) : nil,
                mode: contrastive ? mode.rawValue : "adapters", refs: resolved.map(\.ref))
        case .none where mode == .automatic || mode == .base:
            return .base
        case .none, .personalized(_, ""):
            throw RPCError.invalidArgument(
                "generate.task", "a user or a personalized mode needs a task to pick adapters")
        case let .personalized(user, task):
            return try plan(user: user, task: task, request: request, caller: caller, model: model)
        }
    }

    /// The task adapter, then the user's version for the mode; refused or fallen back (see the
    /// type's note) when one the mode needs is missing.
    private func plan(
        user: String, task: String, request: GenerationRequest, caller: PeerCredentials, model: LoadedModel
    ) throws -> Plan {
        let mode = request.mode
        if mode == .base { return .base }
        if user.isEmpty && mode != .automatic && mode != .tam {
            throw RPCError.invalidArgument("generate.user", "mode \(mode.rawValue) needs a user")
        }
        let taskKey = try policy.adapterKey(
            for: AdapterRef(task: task, kind: "task"), caller: caller, field: "generate")
        let taskAdapter = try load(taskKey, version: nil, model: model)
        var taskPlan =
            taskAdapter.map {
                Plan(adapters: [$0.use], contrastBase: nil, mode: DecodingMode.tam.rawValue, refs: [$0.ref])
            } ?? .base
        if mode == .tam || user.isEmpty {
            guard taskAdapter != nil || request.fallback else {
                throw RPCError(
                    .failedPrecondition,
                    "there is no task adapter for task '\(task)': train one with `tailor train tam --task \(task)`")
            }
            taskPlan.fallback = taskAdapter == nil
            return taskPlan
        }
        let userKey = try policy.adapterKey(
            for: AdapterRef(user: user, task: task, kind: "user"), caller: caller, field: "generate")
        let entry: AdapterEntry?
        do { entry = try registry.entry(userKey) } catch AdapterStoreError.notFound { entry = nil }
        // The mode's version: the newest its stage made up to the current version, else the
        // newest such import (a version with no stage, made elsewhere); an empty mode takes
        // the current version. Versions after the current one are a rollback's leftovers or
        // candidates the autopilot did not promote, and are not served.
        let current = entry.flatMap { $0.current == 0 ? nil : $0.current }
        let wanted: UInt32? =
            mode.userStage.map { stage in entry?.newest(stage: stage) ?? entry?.newest(stage: nil) } ?? current
        let version = wanted ?? (request.fallback ? current : nil)
        guard let version, let userAdapter = try load(userKey, version: version, model: model) else {
            guard request.fallback else { throw missing(mode: mode, user: user, task: task, entry: entry) }
            taskPlan.fallback = true
            return taskPlan
        }
        let record = entry?.versions.first { $0.version == version }
        // The autopilot's verdict may have dropped CoPe's contrast for this user's version: it
        // made the held-back outputs worse than the version decoded plainly.
        let contrastive = mode.isContrastive && entry?.keepsContrast(version) != false
        let served = DecodingMode.serving(stage: record?.stage, contrastive: contrastive, asked: mode)
        let adapters = (taskAdapter.map { [$0] } ?? []) + [userAdapter]
        return Plan(
            adapters: adapters.map(\.use), contrastBase: contrastive ? taskAdapter.map { [$0.use] } ?? [] : nil,
            mode: served.rawValue, refs: adapters.map(\.ref), fallback: mode != .automatic && served != mode)
    }

    /// The refusal of `mode` for a user lacking its version, with the command that makes it.
    private func missing(mode: DecodingMode, user: String, task: String, entry: AdapterEntry?) -> RPCError {
        let train = "tailor train \(mode.userStage == "oppu" ? "oppu" : "cope") --user \(user) --task \(task)"
        let what: String
        switch mode.userStage {
        case _ where entry?.current == 0:
            what =
                """
                no current version (the autopilot did not promote its candidates; `tailor adapters rollback \
                --version N` selects one)
                """
        case "dpo"? where entry != nil: what = "no DPO version (mode \(mode.rawValue) decodes with one)"
        case "oppu"? where entry != nil: what = "no OPPU version (mode \(mode.rawValue) decodes with one)"
        default: what = "no adapter"
        }
        return RPCError(
            .failedPrecondition, "user '\(user)' has \(what) for task '\(task)': train it with `\(train)`")
    }

    /// `key` at `version` (current when nil), loaded; nil when the adapter does not exist (a new
    /// user has none yet) unless it is `required`. Other errors pass.
    private func load(
        _ key: AdapterKey, version: UInt32?, model: LoadedModel, required: Bool = false
    ) throws
        -> Resolved?
    {
        do {
            let v = try version ?? registry.currentVersion(of: key)
            let adapter = try cache.adapter(key, version: v, for: model)
            let ref = AdapterRef(
                user: key.user, task: key.task, kind: key.kind.rawValue, version: v, ownerUID: key.owner)
            return Resolved(use: AdapterUse(adapter), ref: ref)
        } catch AdapterStoreError.notFound where !required {
            return nil
        }
    }
}

extension AccessPolicy {
    /// The registry key `ref` names for `caller`, after the access check: owner 0 means the
    /// caller; another owner needs `mayAccess`.
    /// - Throws: `RPCError` INVALID_ARGUMENT naming `field`'s bad part, or PERMISSION_DENIED.
    func adapterKey(for ref: AdapterRef, caller: PeerCredentials, field: String) throws -> AdapterKey {
        guard let kind = AdapterKind(rawValue: ref.kind) else {
            throw RPCError.invalidArgument(field + ".kind", "kind must be 'task' or 'user', not '\(ref.kind.echoed)'")
        }
        let owner = try owner(ref.ownerUID, caller: caller, of: "adapters")
        let key = AdapterKey(owner: owner, kind: kind, task: ref.task, user: kind == .task ? "" : ref.user)
        do { try key.validate() } catch let AdapterStoreError.invalidName(f, v) {
            throw RPCError.invalidArgument(
                "\(field).\(f)", AdapterStoreError.invalidName(field: f, value: v).description)
        }
        return key
    }
}
