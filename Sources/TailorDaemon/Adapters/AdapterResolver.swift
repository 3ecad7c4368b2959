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

    func adapters(for request: GenerateRequest, caller: PeerCredentials, model: LoadedModel) throws -> [AdapterUse] {
        if !request.adapters.isEmpty {
            return try request.adapters.map { ref in
                let key = try policy.adapterKey(for: ref, caller: caller, field: "generate.adapters")
                return AdapterUse(try cache.adapter(key, version: ref.version == 0 ? nil : ref.version, for: model))
            }
        }
        guard !request.task.isEmpty else {
            guard request.user.isEmpty else { throw RPCError.invalidArgument("generate.task", "a user needs a task to pick adapters") }
            return []
        }
        var uses: [AdapterUse] = []
        let task = try policy.adapterKey(for: AdapterRef(task: request.task, kind: "task"), caller: caller, field: "generate")
        if let a = try optional({ try cache.adapter(task, version: nil, for: model) }) { uses.append(AdapterUse(a)) }
        if !request.user.isEmpty {
            let user = try policy.adapterKey(for: AdapterRef(user: request.user, task: request.task, kind: "user"), caller: caller, field: "generate")
            if let a = try optional({ try cache.adapter(user, version: nil, for: model) }) { uses.append(AdapterUse(a)) }
        }
        return uses
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
            throw RPCError.invalidArgument(field + ".kind", "kind must be 'task' or 'user', not '\(ref.kind)'")
        }
        let owner = try owner(ref.ownerUID, caller: caller, of: "adapters")
        let key = AdapterKey(owner: owner, kind: kind, task: ref.task, user: kind == .task ? "" : ref.user)
        do { try key.validate() } catch let AdapterStoreError.invalidName(f, v) {
            throw RPCError.invalidArgument("\(field).\(f)", AdapterStoreError.invalidName(field: f, value: v).description)
        }
        return key
    }
}
