import Foundation

/// One thing a user wrote before: an input and the output they produced (a LaMP profile item).
public struct HistoryItem: Sendable, Equatable, Codable {
    /// A stable id; re-importing the same item (same id) changes nothing.
    public var id: String
    /// The task it belongs to.
    public var task: String
    /// The task input (already carrying the task prompt, as in the shared data sets).
    public var input: String
    /// What the user wrote.
    public var output: String
    /// Where it came from: "import", "api", "feedback".
    public var source: String
    /// Free-form JSON object text, or empty.
    public var metadata: String

    /// An item.
    public init(id: String, task: String, input: String, output: String, source: String = "api", metadata: String = "")
    {
        self.id = id
        self.task = task
        self.input = input
        self.output = output
        self.source = source
        self.metadata = metadata
    }
}

/// A preference: for `prompt`, the user prefers `chosen` over `rejected`.
public struct PreferencePair: Sendable, Equatable, Codable {
    /// Where a pair came from.
    public enum Source: String, Sendable, Codable, CaseIterable {
        /// Given by the user or an import.
        case explicit
        /// A CoPe negative sampled from the base model.
        case synthetic
        /// An edited completion: chosen = what the user kept, rejected = what was shown.
        case feedback
    }

    public var id: String
    public var task: String
    public var prompt: String
    public var chosen: String
    public var rejected: String
    public var source: Source

    /// A pair.
    public init(id: String, task: String, prompt: String, chosen: String, rejected: String, source: Source = .explicit)
    {
        self.id = id
        self.task = task
        self.prompt = prompt
        self.chosen = chosen
        self.rejected = rejected
        self.source = source
    }
}

/// What an editor reports about one completion it showed.
public struct FeedbackEvent: Sendable, Equatable, Codable {
    /// The user's verdict.
    public enum Outcome: String, Sendable, Codable, CaseIterable {
        /// Kept as shown: becomes a history item.
        case accepted
        /// Dismissed: kept as an event only.
        case rejected
        /// Kept after changes: becomes a preference pair (kept over shown).
        case edited
    }

    /// The completion request it answers (the editor's id for it).
    public var requestID: String
    public var task: String
    /// The prompt of that request.
    public var prompt: String
    /// The text shown.
    public var shown: String
    /// The text the user finally kept (empty for rejected).
    public var kept: String
    public var outcome: Outcome
    /// The adapters the completion used, e.g. "task/email@3,user/alice/email@7".
    public var adapters: String
    /// The decoding mode, e.g. "base", "user", "cope".
    public var mode: String

    /// An event.
    public init(
        requestID: String, task: String, prompt: String, shown: String, kept: String, outcome: Outcome,
        adapters: String = "", mode: String = ""
    ) {
        self.requestID = requestID
        self.task = task
        self.prompt = prompt
        self.shown = shown
        self.kept = kept
        self.outcome = outcome
        self.adapters = adapters
        self.mode = mode
    }
}

/// Why preference data was refused. Names the record (its position in the batch, its line in
/// a file, or its id) and the field, so a client can fix exactly that; a refused batch writes
/// nothing.
public enum PreferenceStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidField(record: String, field: String, problem: String)
    case unknownUser(String)
    case unknownTask(user: String, task: String)
    case quotaExceeded(user: String, problem: String)
    case malformedImport(record: String, problem: String)

    /// The field at fault, when there is one.
    public var field: String? {
        switch self {
        case let .invalidField(_, f, _): return f
        case .unknownUser: return "user"
        case .unknownTask: return "task"
        case .quotaExceeded, .malformedImport: return nil
        }
    }

    public var description: String {
        switch self {
        case let .invalidField(r, f, p): return "record \(r): field '\(f)' \(p)"
        case let .unknownUser(u): return "unknown user '\(u)': no data is stored for them"
        case let .unknownTask(u, t): return "unknown task '\(t)': user '\(u)' has no data for it"
        case let .quotaExceeded(u, p): return "user '\(u)' would exceed \(p)"
        case let .malformedImport(r, p): return "record \(r): \(p)"
        }
    }
}

/// Size limits on stored text and on each user's data: the daemon's config file sets them
/// (`max_field_bytes`, `max_items_per_user`, `max_bytes_per_user`, `max_import_bytes`,
/// `import_batch`), so an administrator can bound what one user may store.
public struct PreferenceLimits: Sendable, Equatable {
    /// Largest input, output, prompt or completion, in UTF-8 bytes.
    public var maxFieldBytes = 256 << 10
    /// Largest id, task or source name.
    public var maxNameBytes = 256
    /// Records per user: history items, pairs and feedback events of every outcome (the
    /// records derived from feedback count too).
    public var maxItemsPerUser = 1_000_000
    /// Stored text per user, in bytes: every string column of every record (ids, task,
    /// texts, sources, metadata, feedback of every outcome).
    public var maxBytesPerUser = 2 << 30
    /// Personalization users one uid may create (`max_users_per_uid`): names are free to
    /// mint, so the per-user quotas alone would not bound a uid.
    public var maxUsersPerUID = 1_000
    /// Stored text over all of one uid's users, in bytes (`max_bytes_per_uid`).
    public var maxBytesPerUID = 8 << 30
    /// Largest upload an import accepts (JSON formats are held whole while checked).
    public var maxImportBytes = 1 << 30
    /// Records per transaction of a streamed (JSONL) import.
    public var importBatch = 5_000

    /// The defaults.
    public init() {}
}
