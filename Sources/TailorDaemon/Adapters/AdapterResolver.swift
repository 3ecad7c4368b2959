import TailorEngine
import TailorStore
import TailorWire

/// Turns a Generate request's personalization fields into the adapter stack of its batch row:
/// explicit adapter references in order, or for (user, task) the caller's current task adapter
/// then that user's current adapter, each present one applied. Only the `current` pointer is
/// read per request; the adapters themselves come from the `AdapterCache`.
struct AdapterResolver: Sendable {
    let registry: AdapterRegistry
    let cache: AdapterCache
    let policy: AccessPolicy

    /// What a Generate request decodes with: its row's adapters, and for CoPe modes the task
    /// model's adapters to contrast with.
    struct Plan {
        var adapters: [AdapterUse]
        var contrastBase: [AdapterUse]?
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
            let uses = try refs.map { ref in
                let key = try policy.adapterKey(for: ref, caller: caller, field: "generate.adapters")
                return AdapterUse(try cache.adapter(key, version: ref.version == 0 ? nil : ref.version, for: model))
            }
            return Plan(adapters: uses, contrastBase: contrastive ? Array(uses.dropLast()) : nil)
        case .none where mode == .automatic || mode == .base:
            return Plan(adapters: [], contrastBase: nil)
        case .none, .personalized(_, ""):
            throw RPCError.invalidArgument(
                "generate.task", "a user or a personalized mode needs a task to pick adapters")
        case let .personalized(user, task):
            return try plan(user: user, task: task, mode: mode, caller: caller, model: model)
        }
    }

    /// The task adapter, then the user's version for `mode`, each when it exists.
    private func plan(
        user: String, task: String, mode: DecodingMode, caller: PeerCredentials, model: LoadedModel
    ) throws -> Plan {
        if mode == .base { return Plan(adapters: [], contrastBase: nil) }
        var taskAdapters: [AdapterUse] = []
        let taskKey = try policy.adapterKey(
            for: AdapterRef(task: task, kind: "task"), caller: caller, field: "generate")
        if let a = try optional({ try cache.adapter(taskKey, version: nil, for: model) }) {
            taskAdapters.append(AdapterUse(a))
        }
        if mode == .tam || user.isEmpty {
            guard mode == .automatic || mode == .tam else {
                throw RPCError.invalidArgument("generate.user", "mode \(mode.rawValue) needs a user")
            }
            return Plan(adapters: taskAdapters, contrastBase: nil)
        }
        let userKey = try policy.adapterKey(
            for: AdapterRef(user: user, task: task, kind: "user"), caller: caller, field: "generate")
        // The version each mode uses: the newest one its stage made, else the current one.
        var version: UInt32?
        if let stage = mode.userStage, let entry = try? registry.entry(userKey) {
            version = entry.versions.last { $0.stage == stage }?.version
        }
        guard let userAdapter = try optional({ try cache.adapter(userKey, version: version, for: model) }) else {
            guard !mode.isContrastive else {
                throw RPCError(
                    .failedPrecondition,
                    "user '\(user)' has no adapter for task '\(task)' to contrast with: train one first")
            }
            return Plan(adapters: taskAdapters, contrastBase: nil)
        }
        return Plan(
            adapters: taskAdapters + [AdapterUse(userAdapter)], contrastBase: mode.isContrastive ? taskAdapters : nil)
    }

    /// nil when the adapter does not exist (a new user has no adapter yet); other errors pass.
    private func optional(_ body: () throws -> LoRAAdapter) throws -> LoRAAdapter? {
        do { return try body() } catch AdapterStoreError.notFound { return nil }
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
