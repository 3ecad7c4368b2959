import Foundation
import GRDB

/// Users' history, preference pairs and editor feedback, in one SQLite database (GRDB, WAL).
///
/// Every write is one transaction: a batch with one bad record writes nothing. Records carry
/// ids, and inserting an id that exists is a no-op, so re-importing a file changes nothing.
/// Users are (owner uid, name): one uid's "alice" is not another's. Each user's item and byte
/// totals are kept on the user's row, in the same transaction as the rows they count, so a
/// quota check costs one read however much a user has.
public final class PreferenceStore: Sendable {
    /// The database file.
    public let path: String
    /// Size limits checked on every write.
    public let limits: PreferenceLimits
    let pool: DatabasePool

    /// Opens (creating and migrating) the database at `path`.
    ///
    /// The database and its WAL and SHM files are private (0600) whatever the umask: SQLite
    /// gives the WAL and SHM the main file's mode, so the main file is created 0600 before
    /// SQLite opens it, and files an older version left readable are narrowed. Deleted rows
    /// are overwritten (`secure_delete`), so that forgetting a user leaves no text behind.
    public init(path: String, limits: PreferenceLimits = PreferenceLimits()) throws {
        self.path = path
        self.limits = limits
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Self.makePrivate(path)
        var config = Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA secure_delete = ON") }
        pool = try DatabasePool(path: path, configuration: config)
        try Self.migrator.migrate(pool)
    }

    /// Creates `path` 0600 if absent, and narrows it and its -wal and -shm files to 0600.
    static func makePrivate(_ path: String) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path]) }
        close(fd)
        for file in [path, path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: file) {
            guard chmod(file, 0o600) == 0 else {
                throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: file])
            }
        }
    }

    /// The schema's history: each migration runs once, in order, in its own transaction.
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(
                sql: """
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
        // v2: per-user totals for quotas, and task indexes for pairs and feedback.
        m.registerMigration("v2") { db in
            try db.execute(
                sql: """
                    ALTER TABLE users ADD COLUMN items INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE users ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
                    UPDATE users SET
                        items = (SELECT COUNT(*) FROM history WHERE user_id = users.id) + (SELECT COUNT(*) FROM pairs
                            WHERE user_id = users.id),
                        bytes = (SELECT IFNULL(SUM(LENGTH(CAST(input AS BLOB)) + LENGTH(CAST(output AS BLOB))), 0)
                            FROM history WHERE user_id = users.id)
                              + (SELECT IFNULL(SUM(LENGTH(CAST(prompt AS BLOB)) + LENGTH(CAST(chosen AS BLOB))
                                + LENGTH(CAST(rejected AS BLOB))), 0)
                                 FROM pairs WHERE user_id = users.id);
                    CREATE INDEX pairs_task ON pairs(user_id, task);
                    CREATE INDEX feedback_task ON feedback(user_id, task);
                    """)
        }
        // v3: training jobs (JobStore).
        m.registerMigration("v3") { db in
            try db.execute(
                sql: """
                    CREATE TABLE jobs (
                        id TEXT PRIMARY KEY,
                        owner_uid INTEGER NOT NULL,
                        user TEXT NOT NULL,
                        task TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        model TEXT NOT NULL,
                        request TEXT NOT NULL,
                        state TEXT NOT NULL,
                        stage TEXT NOT NULL,
                        step INTEGER NOT NULL,
                        total_steps INTEGER NOT NULL,
                        loss REAL NOT NULL,
                        tokens_per_second REAL NOT NULL,
                        eta_seconds REAL NOT NULL,
                        error TEXT NOT NULL,
                        adapter_version INTEGER NOT NULL,
                        resumed INTEGER NOT NULL,
                        created_ms INTEGER NOT NULL,
                        updated_ms INTEGER NOT NULL);
                    CREATE INDEX jobs_owner ON jobs(owner_uid, created_ms);
                    """)
        }
        // v4: the quotas count every record and every stored byte (feedback of every outcome,
        // ids, sources, metadata); the totals are recomputed under that rule.
        m.registerMigration("v4") { db in
            func bytes(_ columns: [String]) -> String {
                columns.map { "LENGTH(CAST(\($0) AS BLOB))" }.joined(separator: " + ")
            }
            let history = bytes(["id", "task", "input", "output", "source", "metadata"])
            let pairs = bytes(["id", "task", "prompt", "chosen", "rejected", "source"])
            let feedback = bytes(["request_id", "task", "prompt", "shown", "kept", "outcome", "adapters", "mode"])
            try db.execute(
                sql: """
                    UPDATE users SET
                        items = (SELECT COUNT(*) FROM history WHERE user_id = users.id) + (SELECT COUNT(*) FROM pairs
                            WHERE user_id = users.id)
                              + (SELECT COUNT(*) FROM feedback WHERE user_id = users.id),
                        bytes = (SELECT IFNULL(SUM(\(history)), 0) FROM history WHERE user_id = users.id)
                              + (SELECT IFNULL(SUM(\(pairs)), 0) FROM pairs WHERE user_id = users.id)
                              + (SELECT IFNULL(SUM(\(feedback)), 0) FROM feedback WHERE user_id = users.id);
                    """)
        }
        // v5: the autopilot. Jobs say who started them (`origin`: request or autopilot), and
        // pauses name an owner's (user, task), with '' standing for every user or task.
        m.registerMigration("v5") { db in
            try db.execute(
                sql: """
                    ALTER TABLE jobs ADD COLUMN origin TEXT NOT NULL DEFAULT 'request';
                    CREATE INDEX jobs_origin ON jobs(origin, owner_uid, user, task, created_ms);
                    CREATE TABLE autopilot_pauses (
                        owner_uid INTEGER NOT NULL,
                        user TEXT NOT NULL,
                        task TEXT NOT NULL,
                        created_ms INTEGER NOT NULL,
                        PRIMARY KEY (owner_uid, user, task));
                    """)
        }
        // v6: DPO's reference scores the negatives stage computed for its pairs (derived data:
        // not records, not counted by the quotas; gone with their pair).
        m.registerMigration("v6") { db in
            try db.execute(
                sql: """
                    CREATE TABLE pair_references (
                        user_id INTEGER NOT NULL,
                        pair_id TEXT NOT NULL,
                        basis TEXT NOT NULL,
                        chosen REAL NOT NULL,
                        rejected REAL NOT NULL,
                        PRIMARY KEY (user_id, pair_id),
                        FOREIGN KEY (user_id, pair_id) REFERENCES pairs(user_id, id) ON DELETE CASCADE);
                    """)
        }
        return m
    }

    /// The migrations applied to the open database, oldest first.
    public func appliedMigrations() throws -> [String] {
        try pool.read { db in try Self.migrator.appliedMigrations(db) }
    }

    // MARK: Users

    /// The user's row id, creating the user when `create` is set.
    /// - Throws: `PreferenceStoreError.unknownUser` when absent and not created.
    func userID(_ db: Database, owner: UInt32, name: String, create: Bool) throws -> Int64 {
        if let id = try Int64.fetchOne(
            db, sql: "SELECT id FROM users WHERE owner_uid = ? AND name = ?", arguments: [Int64(owner), name])
        {
            return id
        }
        guard create else { throw PreferenceStoreError.unknownUser(name) }
        try limits.validateUser(name)
        let users =
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM users WHERE owner_uid = ?", arguments: [Int64(owner)]) ?? 0
        guard users < limits.maxUsersPerUID else {
            throw PreferenceStoreError.quotaExceeded(
                user: name, problem: "uid \(owner)'s quota of \(limits.maxUsersPerUID) users")
        }
        try db.execute(
            sql: "INSERT INTO users (owner_uid, name, created_ms) VALUES (?, ?, ?)",
            arguments: [Int64(owner), name, Self.now()])
        return db.lastInsertedRowID
    }

    /// The names of `owner`'s users (every owner's when nil), sorted.
    public func users(owner: UInt32?) throws -> [String] {
        try pool.read { db in
            if let owner {
                return try String.fetchAll(
                    db, sql: "SELECT name FROM users WHERE owner_uid = ? ORDER BY name", arguments: [Int64(owner)])
            }
            return try String.fetchAll(db, sql: "SELECT name FROM users ORDER BY name")
        }
    }

    /// Whether `owner` has a user called `name`.
    public func hasUser(_ name: String, owner: UInt32) throws -> Bool {
        try pool.read { db in
            try Int64.fetchOne(
                db, sql: "SELECT id FROM users WHERE owner_uid = ? AND name = ?", arguments: [Int64(owner), name])
                != nil
        }
    }

    /// Deletes `user` and everything stored for them (history, pairs, feedback, snapshots) in one
    /// transaction, and returns what went (the counts it had).
    /// - Throws: `PreferenceStoreError.unknownUser` when there is no such user.
    @discardableResult
    public func deleteUser(_ user: String, owner: UInt32) throws -> Counts {
        let counts = try pool.write { db in
            let uid = try userID(db, owner: owner, name: user, create: false)
            func count(_ table: String) throws -> Int {
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table) WHERE user_id = ?", arguments: [uid]) ?? 0
            }
            let deleted = Counts(
                history: try count("history"), pairs: try count("pairs"), feedback: try count("feedback"))
            try db.execute(sql: "DELETE FROM users WHERE id = ?", arguments: [uid])
            return deleted
        }
        try forgetDeletedPages()
        return counts
    }

    /// Moves the write-ahead log into the database and truncates it: with `secure_delete` the
    /// deleted rows are then gone from the database's pages, and the log's old copies of those
    /// pages are gone with the log.
    public func forgetDeletedPages() throws {
        try pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
    }

    /// What a user's quotas count: records and stored bytes.
    public struct QuotaTotals: Sendable, Equatable {
        public var items: Int
        public var bytes: Int
        public init(items: Int, bytes: Int) {
            self.items = items
            self.bytes = bytes
        }
    }

    /// The totals `user`'s quotas are checked against.
    /// - Throws: `PreferenceStoreError.unknownUser` when there is no such user.
    public func quotaTotals(user: String, owner: UInt32) throws -> QuotaTotals {
        try pool.read { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT items, bytes FROM users WHERE owner_uid = ? AND name = ?",
                    arguments: [Int64(owner), user])
            else { throw PreferenceStoreError.unknownUser(user) }
            return QuotaTotals(items: row["items"], bytes: row["bytes"])
        }
    }

    /// SQLite's own consistency check ("ok" when sound).
    public func integrityCheck() throws -> String {
        try pool.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "; ") }
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}
