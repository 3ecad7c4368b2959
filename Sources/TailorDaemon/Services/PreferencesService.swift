import TailorStore
import TailorWire

/// `tailor.v1.Preferences`: takes in a person's history, preference pairs and editor feedback,
/// lists, counts and exports it, and forgets a user on request.
///
/// Every call is scoped to an owner uid (`AccessPolicy`), every write is checked whole and
/// written in one transaction, and store work runs off the concurrency pool (`BlockingIO`).
/// Import and Export, which move files, are in `PreferencesService+Transfer.swift`.
public struct PreferencesService: RPCService {
    public let name = "tailor.v1.Preferences"
    let store: PreferenceStore
    let eraser: UserEraser
    let policy: AccessPolicy

    /// Largest page List returns.
    static let maxPage: UInt32 = 1000

    init(
        store: PreferenceStore, registry: AdapterRegistry, cache: AdapterCache, policy: AccessPolicy,
        runner: JobRunner? = nil
    ) {
        self.store = store
        self.eraser = UserEraser(store: store, registry: registry, cache: cache, runner: runner)
        self.policy = policy
    }

    public func takesUploads(_ method: String) -> Bool { method == "Import" }

    public func handle(_ call: RPCCall, _ writer: RPCWriter) async throws {
        do {
            switch call.method {
            case "AddHistory":
                let req = try Preferences.AddHistoryRequest(serialized: call.payload)
                let owner = try policy.owner(req.ownerUID, caller: call.caller, of: "data")
                let batch = PreferenceBatch(history: req.items.map(HistoryItem.init))
                try await writer.respond(try await write(batch, user: req.user, owner: owner).wire.serialized())
            case "AddPair":
                let req = try Preferences.AddPairsRequest(serialized: call.payload)
                let owner = try policy.owner(req.ownerUID, caller: call.caller, of: "data")
                let pairs = try req.pairs.enumerated().map { try PreferencePair($1, field: "pairs[\($0)]") }
                try await writer.respond(
                    try await write(PreferenceBatch(pairs: pairs), user: req.user, owner: owner).wire.serialized())
            case "RecordFeedback":
                let req = try Preferences.RecordFeedbackRequest(serialized: call.payload)
                let owner = try policy.owner(req.ownerUID, caller: call.caller, of: "data")
                let batch = PreferenceBatch(feedback: [try FeedbackEvent(req.event, field: "event")])
                try await writer.respond(try await write(batch, user: req.user, owner: owner).wire.serialized())
            case "List":
                try await writer.respond(
                    try await list(try Preferences.ListRequest(serialized: call.payload), call.caller).serialized())
            case "Count":
                let req = try Preferences.UserScope(count: call.payload)
                let owner: UInt32? =
                    req.ownerUID == 0 && policy.seesAll(call.caller)
                    ? nil
                    : try policy.owner(req.ownerUID, caller: call.caller, of: "data")
                let store = self.store
                let rows = try await BlockingIO.run {
                    try store.countsByTask(
                        owner: owner, user: req.user.isEmpty ? nil : req.user, task: req.task.isEmpty ? nil : req.task)
                }
                try await writer.respond(
                    try Preferences.Count.serialized(
                        rows.map {
                            Preferences.Count(
                                user: $0.user, ownerUID: $0.owner, task: $0.task, history: UInt64($0.history),
                                pairs: UInt64($0.pairs),
                                feedback: UInt64($0.feedback))
                        }))
            case "DeleteUser":
                let req = try Preferences.UserScope(delete: call.payload)
                let owner = try policy.owner(req.ownerUID, caller: call.caller, of: "data")
                try store.limits.validateUser(req.user)
                let eraser = self.eraser
                let erased = try await BlockingIO.run { try eraser.erase(user: req.user, owner: owner) }
                call.logger.notice(
                    "forgot user",
                    metadata: [
                        "owner": "\(owner)", "history": "\(erased.data.history)",
                        "pairs": "\(erased.data.pairs)", "adapters": "\(erased.adapters)",
                    ])
                try await writer.respond(
                    try Preferences.DeleteUserResult(
                        history: UInt64(erased.data.history), pairs: UInt64(erased.data.pairs),
                        feedback: UInt64(erased.data.feedback), adapters: UInt32(erased.adapters)
                    ).serialized())
            case "Import":
                try await importData(call, writer)
            case "Export":
                try await exportData(call, writer)
            default:
                throw RPCError(.unimplemented, "\(name) has no method '\(call.method.echoed)'")
            }
        } catch let e as PreferenceStoreError {
            throw RPCError(preference: e)
        }
    }

    /// Writes one batch off the concurrency pool.
    func write(_ batch: PreferenceBatch, user: String, owner: UInt32, checked: Bool = false) async throws -> WriteCounts
    {
        let store = self.store
        return try await BlockingIO.run { try store.write(batch, user: user, owner: owner, checked: checked) }
    }

    private func list(
        _ req: Preferences.ListRequest, _ caller: PeerCredentials
    ) async throws -> Preferences.ListResponse {
        let owner = try policy.owner(req.ownerUID, caller: caller, of: "data")
        let limit = Int(req.limit == 0 ? 100 : req.limit)
        guard limit <= Self.maxPage else {
            throw RPCError.invalidArgument("limit", "limit is at most \(Self.maxPage), not \(req.limit)")
        }
        guard req.offset <= UInt64(Int.max) else {
            throw RPCError.invalidArgument("offset", "offset \(req.offset) is too large")
        }
        let (user, task, offset, store) = (req.user, req.task.isEmpty ? nil : req.task, Int(req.offset), self.store)
        switch req.kind {
        case "history", "":
            let page = try await BlockingIO.run {
                try store.historyPage(user: user, owner: owner, task: task, offset: offset, limit: limit)
            }
            return Preferences.ListResponse(history: page.records.map(\.wire), total: UInt64(page.total))
        case "pairs":
            let page = try await BlockingIO.run {
                try store.pairsPage(user: user, owner: owner, task: task, offset: offset, limit: limit)
            }
            return Preferences.ListResponse(pairs: page.records.map(\.wire), total: UInt64(page.total))
        case "feedback":
            let page = try await BlockingIO.run {
                try store.feedbackPage(user: user, owner: owner, task: task, offset: offset, limit: limit)
            }
            return Preferences.ListResponse(feedback: page.records.map(\.wire), total: UInt64(page.total))
        default:
            throw RPCError.invalidArgument(
                "kind", "kind must be history, pairs or feedback, not '\(req.kind.prefix(32))'")
        }
    }
}

extension RPCError {
    /// The Status of a refused preference write or query: bad records and unknown names are
    /// INVALID_ARGUMENT with the field (a record path such as "items[3].output" when the record
    /// has one), quotas RESOURCE_EXHAUSTED.
    init(preference e: PreferenceStoreError) {
        switch e {
        case let .invalidField(record, field, _):
            let path = record.split(separator: " ").first.map(String.init) ?? ""
            self.init(.invalidArgument, e.description, field: path.hasSuffix("]") ? "\(path).\(field)" : field)
        case .unknownUser, .unknownTask:
            self.init(.invalidArgument, e.description, field: e.field ?? "")
        case .malformedImport:
            self.init(.invalidArgument, e.description)
        case .quotaExceeded:
            self.init(.resourceExhausted, e.description)
        }
    }
}
