import TailorWire

/// Calls of `tailor.v1.Preferences`: a person's history, pairs and feedback.
extension TailorClient {
    private static let preferences = "tailor.v1.Preferences"

    /// Adds history items for `user` in one transaction (items whose id exists are skipped).
    public func addHistory(
        _ items: [Preferences.HistoryItem], user: String, ownerUID: UInt32 = 0
    ) async throws -> Preferences.WriteResult {
        let req = Preferences.AddHistoryRequest(user: user, ownerUID: ownerUID, items: items)
        return try Preferences.WriteResult(
            serialized: try await call(Self.preferences, "AddHistory", payload: try req.serialized()))
    }

    /// Adds preference pairs for `user` in one transaction.
    public func addPairs(
        _ pairs: [Preferences.Pair], user: String, ownerUID: UInt32 = 0
    ) async throws -> Preferences.WriteResult {
        let req = Preferences.AddPairsRequest(user: user, ownerUID: ownerUID, pairs: pairs)
        return try Preferences.WriteResult(
            serialized: try await call(Self.preferences, "AddPair", payload: try req.serialized()))
    }

    /// Records what the user did with a completion (accepted, edited or rejected).
    public func recordFeedback(
        _ event: Preferences.Feedback, user: String, ownerUID: UInt32 = 0
    ) async throws -> Preferences.WriteResult {
        let req = Preferences.RecordFeedbackRequest(user: user, ownerUID: ownerUID, event: event)
        return try Preferences.WriteResult(
            serialized: try await call(Self.preferences, "RecordFeedback", payload: try req.serialized()))
    }

    /// Imports a file (`data`, uploaded in Data frames). For LaMP, `data` is the questions file
    /// followed by the outputs file, and `request.firstFileBytes` the questions file's size.
    public func importData(_ request: Preferences.ImportRequest, data: [UInt8]) async throws -> Preferences.WriteResult
    {
        try Preferences.WriteResult(
            serialized: try await upload(Self.preferences, "Import", payload: try request.serialized(), data: data))
    }

    /// One page of a user's records of one kind.
    public func listData(_ request: Preferences.ListRequest) async throws -> Preferences.ListResponse {
        try Preferences.ListResponse(
            serialized: try await call(Self.preferences, "List", payload: try request.serialized()))
    }

    /// Counts per (user, task); an empty user counts every user the caller may see.
    public func countData(
        user: String = "", task: String = "", ownerUID: UInt32 = 0
    ) async throws -> [Preferences.Count] {
        let scope = Preferences.UserScope(user: user, ownerUID: ownerUID, task: task)
        return try Preferences.Count.parse(
            try await call(Self.preferences, "Count", payload: try scope.serializedCount()))
    }

    /// A user's data as JSONL (what `importData` with format "jsonl" reads back).
    public func exportData(user: String, task: String = "", ownerUID: UInt32 = 0) async throws -> [UInt8] {
        var out: [UInt8] = []
        let scope = Preferences.UserScope(user: user, ownerUID: ownerUID, task: task)
        for try await kind in streamFrames(Self.preferences, "Export", payload: try scope.serializedExport()) {
            if case let .data(chunk, _) = kind { out += chunk }
        }
        return out
    }

    /// "Forget me": deletes the user's data and adapters; returns once both are gone.
    public func deleteUser(_ user: String, ownerUID: UInt32 = 0) async throws -> Preferences.DeleteUserResult {
        let scope = Preferences.UserScope(user: user, ownerUID: ownerUID)
        return try Preferences.DeleteUserResult(
            serialized: try await call(Self.preferences, "DeleteUser", payload: try scope.serializedDelete()))
    }
}
