import Foundation
import GRDB

/// Users' history, preference pairs and editor feedback, in one SQLite database (GRDB, WAL).
///
/// Every write is one transaction: a batch with one bad record writes nothing. Items carry ids,
/// and inserting an id that exists is a no-op, so re-importing a file changes nothing. Users
/// are (owner uid, name): one uid's "alice" is not another's.
public final class PreferenceStore: Sendable {
    /// The database file.
    public let path: String
    /// Size limits checked on every write.
    public let limits: PreferenceLimits
    private let pool: DatabasePool

    /// Opens (creating and migrating) the database at `path`.
    public init(path: String, limits: PreferenceLimits = PreferenceLimits()) throws {
        self.path = path
        self.limits = limits
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        var config = Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(10)
        pool = try DatabasePool(path: path, configuration: config)
        try Self.migrator.migrate(pool)
    }

    /// The schema's history: each migration runs once, in order, in its own transaction.
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE users (
                    id INTEGER PRIMARY KEY,
                    owner_uid INTEGER NOT NULL,
                    name TEXT NOT NULL,
                    created_ms INTEGER NOT NULL,
                    UNIQUE (owner_uid, name));
                CREATE TABLE history (
                    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    id TEXT NOT NULL,
                    task TEXT NOT NULL,
                    input TEXT NOT NULL,
                    output TEXT NOT NULL,
                    source TEXT NOT NULL,
                    metadata TEXT NOT NULL,
                    created_ms INTEGER NOT NULL,
                    PRIMARY KEY (user_id, id));
                CREATE INDEX history_task ON history(user_id, task);
                CREATE TABLE pairs (
                    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    id TEXT NOT NULL,
                    task TEXT NOT NULL,
                    prompt TEXT NOT NULL,
                    chosen TEXT NOT NULL,
                    rejected TEXT NOT NULL,
                    source TEXT NOT NULL,
                    created_ms INTEGER NOT NULL,
                    PRIMARY KEY (user_id, id));
                CREATE TABLE feedback (
                    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    request_id TEXT NOT NULL,
                    task TEXT NOT NULL,
                    prompt TEXT NOT NULL,
                    shown TEXT NOT NULL,
                    kept TEXT NOT NULL,
                    outcome TEXT NOT NULL,
                    adapters TEXT NOT NULL,
                    mode TEXT NOT NULL,
                    created_ms INTEGER NOT NULL,
                    PRIMARY KEY (user_id, request_id));
                CREATE TABLE snapshots (
                    id INTEGER PRIMARY KEY,
                    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    job_id TEXT NOT NULL UNIQUE,
                    task TEXT NOT NULL,
                    created_ms INTEGER NOT NULL);
                CREATE TABLE snapshot_items (
                    snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
                    kind TEXT NOT NULL,
                    item_id TEXT NOT NULL,
                    PRIMARY KEY (snapshot_id, kind, item_id));
                """)
        }
        return m
    }

    // MARK: Users

    /// The user's row id, creating the user when `create` is set.
    /// - Throws: `PreferenceStoreError.unknownUser` when absent and not created.
    func userID(_ db: Database, owner: UInt32, name: String, create: Bool) throws -> Int64 {
        if let id = try Int64.fetchOne(db, sql: "SELECT id FROM users WHERE owner_uid = ? AND name = ?", arguments: [Int64(owner), name]) {
            return id
        }
        guard create else { throw PreferenceStoreError.unknownUser(name) }
        try check(name, record: "user", field: "user", as: .user)
        try db.execute(sql: "INSERT INTO users (owner_uid, name, created_ms) VALUES (?, ?, ?)", arguments: [Int64(owner), name, Self.now()])
        return db.lastInsertedRowID
    }

    /// The names of `owner`'s users (every owner's when nil), sorted.
    public func users(owner: UInt32?) throws -> [String] {
        try pool.read { db in
            if let owner { return try String.fetchAll(db, sql: "SELECT name FROM users WHERE owner_uid = ? ORDER BY name", arguments: [Int64(owner)]) }
            return try String.fetchAll(db, sql: "SELECT name FROM users ORDER BY name")
        }
    }

    // MARK: Writing

    /// Adds history items for `user` (created if new) in one transaction; items whose id
    /// exists are skipped. Returns how many were new.
    /// - Throws: `PreferenceStoreError` naming the first bad record and field; nothing is written.
    @discardableResult
    public func addHistory(_ items: [HistoryItem], user: String, owner: UInt32) throws -> Int {
        for (i, item) in items.enumerated() {
            let r = "\(i) (id '\(item.id.prefix(64))')"
            try check(item.id, record: r, field: "id", as: .id)
            try check(item.task, record: r, field: "task", as: .task)
            try check(item.input, record: r, field: "input")
            try check(item.output, record: r, field: "output")
            if !item.metadata.isEmpty {
                let parsed = try? JSONSerialization.jsonObject(with: Data(item.metadata.utf8))
                guard parsed is [String: Any] else {
                    throw PreferenceStoreError.invalidField(record: r, field: "metadata", problem: "is not a JSON object")
                }
            }
        }
        return try pool.write { db in
            let uid = try userID(db, owner: owner, name: user, create: true)
            let statement = try db.makeStatement(sql: """
                INSERT OR IGNORE INTO history (user_id, id, task, input, output, source, metadata, created_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """)
            let now = Self.now()
            var added = 0
            for item in items {
                try statement.execute(arguments: [uid, item.id, item.task, item.input, item.output, item.source, item.metadata, now])
                added += db.changesCount
            }
            try checkQuota(db, uid, user)
            return added
        }
    }

    /// Adds preference pairs for `user` (created if new) in one transaction; returns how many
    /// were new.
    @discardableResult
    public func addPairs(_ pairs: [PreferencePair], user: String, owner: UInt32) throws -> Int {
        for (i, p) in pairs.enumerated() {
            let r = "\(i) (id '\(p.id.prefix(64))')"
            try check(p.id, record: r, field: "id", as: .id)
            try check(p.task, record: r, field: "task", as: .task)
            try check(p.prompt, record: r, field: "prompt")
            try check(p.chosen, record: r, field: "chosen")
            try check(p.rejected, record: r, field: "rejected")
            if p.chosen == p.rejected {
                throw PreferenceStoreError.invalidField(record: r, field: "rejected", problem: "equals chosen: a pair needs two different texts")
            }
        }
        return try pool.write { db in
            let uid = try userID(db, owner: owner, name: user, create: true)
            let now = Self.now()
            var added = 0
            for p in pairs {
                try db.execute(sql: """
                    INSERT OR IGNORE INTO pairs (user_id, id, task, prompt, chosen, rejected, source, created_ms)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [uid, p.id, p.task, p.prompt, p.chosen, p.rejected, p.source.rawValue, now])
                added += db.changesCount
            }
            try checkQuota(db, uid, user)
            return added
        }
    }

    /// Records an editor's verdict on a completion, and turns it into training data in the same
    /// transaction: an accepted completion becomes a history item (prompt → shown), an edited
    /// one a pair (kept over shown). Recording the same request twice changes nothing.
    public func recordFeedback(_ event: FeedbackEvent, user: String, owner: UInt32) throws {
        let r = "request '\(event.requestID.prefix(64))'"
        try check(event.requestID, record: r, field: "request_id", as: .id)
        try check(event.task, record: r, field: "task", as: .task)
        try check(event.prompt, record: r, field: "prompt")
        try check(event.shown, record: r, field: "shown")
        switch event.outcome {
        case .edited:
            try check(event.kept, record: r, field: "kept")
            if event.kept == event.shown {
                throw PreferenceStoreError.invalidField(record: r, field: "kept", problem: "equals the text shown: that is an accepted completion")
            }
        case .accepted, .rejected: break
        }
        try pool.write { db in
            let uid = try userID(db, owner: owner, name: user, create: true)
            try db.execute(sql: """
                INSERT OR IGNORE INTO feedback (user_id, request_id, task, prompt, shown, kept, outcome, adapters, mode, created_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [uid, event.requestID, event.task, event.prompt, event.shown, event.kept, event.outcome.rawValue,
                                 event.adapters, event.mode, Self.now()])
            guard db.changesCount == 1 else { return }
            let id = "feedback:" + event.requestID
            switch event.outcome {
            case .accepted:
                try db.execute(sql: """
                    INSERT OR IGNORE INTO history (user_id, id, task, input, output, source, metadata, created_ms)
                    VALUES (?, ?, ?, ?, ?, 'feedback', '', ?)
                    """, arguments: [uid, id, event.task, event.prompt, event.shown, Self.now()])
            case .edited:
                try db.execute(sql: """
                    INSERT OR IGNORE INTO pairs (user_id, id, task, prompt, chosen, rejected, source, created_ms)
                    VALUES (?, ?, ?, ?, ?, ?, 'feedback', ?)
                    """, arguments: [uid, id, event.task, event.prompt, event.kept, event.shown, Self.now()])
            case .rejected:
                break
            }
            try checkQuota(db, uid, user)
        }
    }

    // MARK: Reading

    /// How much a user has, by kind.
    public struct Counts: Sendable, Equatable {
        public var history: Int
        public var pairs: Int
        public var feedback: Int

        /// Counts as given.
        public init(history: Int, pairs: Int, feedback: Int) {
            self.history = history
            self.pairs = pairs
            self.feedback = feedback
        }
    }

    /// `user`'s counts, optionally for one task.
    public func counts(user: String, owner: UInt32, task: String? = nil) throws -> Counts {
        try pool.read { db in
            let uid = try userID(db, owner: owner, name: user, create: false)
            func count(_ table: String) throws -> Int {
                if let task { return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table) WHERE user_id = ? AND task = ?", arguments: [uid, task]) ?? 0 }
                return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table) WHERE user_id = ?", arguments: [uid]) ?? 0
            }
            return Counts(history: try count("history"), pairs: try count("pairs"), feedback: try count("feedback"))
        }
    }

    /// `user`'s history items (optionally one task's), in id order.
    public func history(user: String, owner: UInt32, task: String? = nil) throws -> [HistoryItem] {
        try pool.read { db in
            let uid = try userID(db, owner: owner, name: user, create: false)
            let rows = try Row.fetchAll(db, sql: "SELECT id, task, input, output, source, metadata FROM history WHERE user_id = ?" +
                                        (task == nil ? "" : " AND task = ?") + " ORDER BY id",
                                        arguments: task == nil ? [uid] : [uid, task!])
            return rows.map { HistoryItem(id: $0["id"], task: $0["task"], input: $0["input"], output: $0["output"], source: $0["source"], metadata: $0["metadata"]) }
        }
    }

    /// `user`'s preference pairs (optionally one task's), in id order.
    public func pairs(user: String, owner: UInt32, task: String? = nil) throws -> [PreferencePair] {
        try pool.read { db in
            let uid = try userID(db, owner: owner, name: user, create: false)
            let rows = try Row.fetchAll(db, sql: "SELECT id, task, prompt, chosen, rejected, source FROM pairs WHERE user_id = ?" +
                                        (task == nil ? "" : " AND task = ?") + " ORDER BY id",
                                        arguments: task == nil ? [uid] : [uid, task!])
            return rows.map { PreferencePair(id: $0["id"], task: $0["task"], prompt: $0["prompt"], chosen: $0["chosen"], rejected: $0["rejected"],
                                             source: PreferencePair.Source(rawValue: $0["source"]) ?? .explicit) }
        }
    }

    // MARK: Snapshots and deletion

    /// Freezes the ids of `user`'s current history and pairs for `task` under `jobID`, so the
    /// job can be re-run on exactly the same data later. Returns the ids, history then pairs.
    public func snapshot(jobID: String, user: String, owner: UInt32, task: String) throws -> (history: [String], pairs: [String]) {
        try check(jobID, record: "snapshot", field: "job_id", as: .id)
        return try pool.write { db in
            let uid = try userID(db, owner: owner, name: user, create: false)
            try db.execute(sql: "INSERT INTO snapshots (user_id, job_id, task, created_ms) VALUES (?, ?, ?, ?)",
                           arguments: [uid, jobID, task, Self.now()])
            let sid = db.lastInsertedRowID
            try db.execute(sql: "INSERT INTO snapshot_items SELECT ?, 'history', id FROM history WHERE user_id = ? AND task = ?", arguments: [sid, uid, task])
            try db.execute(sql: "INSERT INTO snapshot_items SELECT ?, 'pair', id FROM pairs WHERE user_id = ? AND task = ?", arguments: [sid, uid, task])
            return try snapshotIDs(db, sid)
        }
    }

    /// The ids a job's snapshot froze.
    public func snapshotItems(jobID: String) throws -> (history: [String], pairs: [String]) {
        try pool.read { db in
            guard let sid = try Int64.fetchOne(db, sql: "SELECT id FROM snapshots WHERE job_id = ?", arguments: [jobID]) else {
                throw PreferenceStoreError.invalidField(record: "snapshot", field: "job_id", problem: "names no snapshot: '\(jobID)'")
            }
            return try snapshotIDs(db, sid)
        }
    }

    private func snapshotIDs(_ db: Database, _ sid: Int64) throws -> (history: [String], pairs: [String]) {
        func ids(_ kind: String) throws -> [String] {
            try String.fetchAll(db, sql: "SELECT item_id FROM snapshot_items WHERE snapshot_id = ? AND kind = ? ORDER BY item_id",
                                arguments: [sid, kind])
        }
        return (try ids("history"), try ids("pair"))
    }

    /// Deletes `user` and everything stored for them (history, pairs, feedback, snapshots).
    public func deleteUser(_ user: String, owner: UInt32) throws {
        try pool.write { db in
            let uid = try userID(db, owner: owner, name: user, create: false)
            try db.execute(sql: "DELETE FROM users WHERE id = ?", arguments: [uid])
        }
    }

    /// SQLite's own consistency check ("ok" when sound).
    public func integrityCheck() throws -> String {
        try pool.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "; ") }
    }

    // MARK: Checks

    /// What a checked string is: free text, an id, or a name that also names adapters (so
    /// the registry's rules apply to it).
    private enum Rule { case text, id, task, user }

    private func check(_ s: String, record: String, field: String, as rule: Rule = .text) throws {
        guard !s.isEmpty else { throw PreferenceStoreError.invalidField(record: record, field: field, problem: "is empty") }
        switch rule {
        case .task where !AdapterKey.isValidName(s):
            throw PreferenceStoreError.invalidField(record: record, field: field,
                                                    problem: "'\(s.prefix(64))' is not a task name: use 1-64 letters, digits, '.', '_' or '-', not starting with '.'")
        case .user where !AdapterKey.isValidUserName(s):
            throw PreferenceStoreError.invalidField(record: record, field: field,
                                                    problem: "'\(s.prefix(64))' is not a user name: use 1-64 bytes of printable text without '/', not starting with '.'")
        default:
            break
        }
        let limit = rule == .text ? limits.maxFieldBytes : limits.maxNameBytes
        guard s.utf8.count <= limit else {
            throw PreferenceStoreError.invalidField(record: record, field: field, problem: "is \(s.utf8.count) bytes; the limit is \(limit)")
        }
        guard !s.utf8.contains(0) else { throw PreferenceStoreError.invalidField(record: record, field: field, problem: "contains a NUL byte") }
    }

    private func checkQuota(_ db: Database, _ uid: Int64, _ user: String) throws {
        let n = try Int.fetchOne(db, sql: "SELECT (SELECT COUNT(*) FROM history WHERE user_id = ?) + (SELECT COUNT(*) FROM pairs WHERE user_id = ?)",
                                 arguments: [uid, uid]) ?? 0
        if n > limits.maxItemsPerUser { throw PreferenceStoreError.quotaExceeded(user: user, limit: limits.maxItemsPerUser) }
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}
