import Foundation

/// The checks every record passes before it is stored, shared by the store (which names records
/// by position) and the importers (which name them by line), so both refuse the same things.
extension PreferenceLimits {
    /// Checks a history item.
    /// - Throws: `PreferenceStoreError.invalidField` naming `record` and the field.
    public func validate(_ item: HistoryItem, record r: String) throws {
        try check(item.id, r, "id", .id)
        try check(item.task, r, "task", .task)
        try check(item.input, r, "input")
        try check(item.output, r, "output")
        try check(item.source, r, "source", .id)
        if !item.metadata.isEmpty {
            guard item.metadata.utf8.count <= maxFieldBytes else {
                throw PreferenceStoreError.invalidField(
                    record: r, field: "metadata",
                    problem: "is \(item.metadata.utf8.count) bytes; the limit is \(maxFieldBytes)")
            }
            let parsed = try? JSONSerialization.jsonObject(with: Data(item.metadata.utf8))
            guard parsed is [String: Any] else {
                throw PreferenceStoreError.invalidField(record: r, field: "metadata", problem: "is not a JSON object")
            }
        }
    }

    /// Checks a preference pair.
    public func validate(_ p: PreferencePair, record r: String) throws {
        try check(p.id, r, "id", .id)
        try check(p.task, r, "task", .task)
        try check(p.prompt, r, "prompt")
        try check(p.chosen, r, "chosen")
        try check(p.rejected, r, "rejected")
        if p.chosen == p.rejected {
            throw PreferenceStoreError.invalidField(
                record: r, field: "rejected", problem: "equals chosen: a pair needs two different texts")
        }
    }

    /// Checks a feedback event; an edited completion must keep something different from what
    /// was shown (otherwise it was accepted).
    public func validate(_ e: FeedbackEvent, record r: String) throws {
        try check(e.requestID, r, "request_id", .id)
        try check(e.task, r, "task", .task)
        try check(e.prompt, r, "prompt")
        try check(e.shown, r, "shown")
        for (value, field) in [(e.adapters, "adapters"), (e.mode, "mode")] where !value.isEmpty {
            try check(value, r, field, .id)
        }
        switch e.outcome {
        case .edited:
            try check(e.kept, r, "kept")
            if e.kept == e.shown {
                throw PreferenceStoreError.invalidField(
                    record: r, field: "kept", problem: "equals the text shown: that is an accepted completion")
            }
        case .accepted, .rejected:
            if !e.kept.isEmpty { try check(e.kept, r, "kept") }
        }
    }

    /// Checks a personalization user's name (the registry's rule, since it also names adapters).
    public func validateUser(_ name: String, field: String = "user") throws {
        try check(name, "request", field, .user)
    }

    /// What a checked string is: free text, an id, or a name that also names adapters (so the
    /// registry's rules apply to it).
    enum Rule { case text, id, task, user }

    func check(_ s: String, _ record: String, _ field: String, _ rule: Rule = .text) throws {
        guard !s.isEmpty else {
            throw PreferenceStoreError.invalidField(record: record, field: field, problem: "is empty")
        }
        switch rule {
        case .task where !AdapterKey.isValidName(s):
            throw PreferenceStoreError.invalidField(
                record: record, field: field,
                problem:
                    """
                    '\(s.prefix(64))' is not a task name: use 1-64 letters, digits, '.', '_' or '-', not starting \
                    with '.'
                    """
            )
        case .user where !AdapterKey.isValidUserName(s):
            throw PreferenceStoreError.invalidField(
                record: record, field: field,
                problem:
                    """
                    '\(s.prefix(64))' is not a user name: use 1-64 bytes of printable text without '/', not \
                    starting with '.'
                    """
            )
        default:
            break
        }
        let limit = rule == .text ? maxFieldBytes : maxNameBytes
        guard s.utf8.count <= limit else {
            throw PreferenceStoreError.invalidField(
                record: record, field: field, problem: "is \(s.utf8.count) bytes; the limit is \(limit)")
        }
        guard !s.utf8.contains(0) else {
            throw PreferenceStoreError.invalidField(record: record, field: field, problem: "contains a NUL byte")
        }
    }
}
