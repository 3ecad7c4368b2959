import Foundation
import GRDB

/// What one user holds for one task.
public struct PreferenceCount: Sendable, Equatable {
    public var owner: UInt32
    public var user: String
    public var task: String
    public var history: Int
    public var pairs: Int
    public var feedback: Int

    /// A row.
    public init(owner: UInt32, user: String, task: String, history: Int, pairs: Int, feedback: Int) {
        self.owner = owner
        self.user = user
        self.task = task
        self.history = history
        self.pairs = pairs
        self.feedback = feedback
    }
}

/// A page of records and how many there are in all.
public struct PreferencePage<Record: Sendable & Equatable>: Sendable, Equatable {
    public var records: [Record]
    public var total: Int
}

extension PreferenceStore {
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
    /// - Throws: `unknownUser`, or `unknownTask` when the user has nothing for `task`.
    public func counts(user: String, owner: UInt32, task: String? = nil) throws -> Counts {
        try pool.read { db in
            let uid = try scope(db, user: user, owner: owner, task: task)
            return Counts(
                history: try count(db, "history", uid, task), pairs: try count(db, "pairs", uid, task),
                feedback: try count(db, "feedback", uid, task))
        }
    }

    /// One row per (user, task) with data: `owner`'s users (every owner's when nil), optionally
    /// one user and one task, sorted by owner, user and task.
    /// - Throws: `unknownUser` / `unknownTask` when a named user or task has nothing.
    public func countsByTask(owner: UInt32?, user: String? = nil, task: String? = nil) throws -> [PreferenceCount] {
        try pool.read { db in
            if let user, let owner { _ = try scope(db, user: user, owner: owner, task: task) }
            var filters: [String] = []
            var args: [(any DatabaseValueConvertible)?] = []
            if let owner { filters.append("u.owner_uid = ?"); args.append(Int64(owner)) }
            if let user { filters.append("u.name = ?"); args.append(user) }
            if let task { filters.append("t.task = ?"); args.append(task) }
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT u.owner_uid AS owner, u.name AS user, t.task AS task, SUM(h) AS h, SUM(p) AS p, SUM(f) AS f
                    FROM (
                        SELECT user_id, task, COUNT(*) AS h, 0 AS p, 0 AS f FROM history GROUP BY user_id, task
                        UNION ALL SELECT user_id, task, 0, COUNT(*), 0 FROM pairs GROUP BY user_id, task
                        UNION ALL SELECT user_id, task, 0, 0, COUNT(*) FROM feedback GROUP BY user_id, task) t
                    JOIN users u ON u.id = t.user_id
                    \(filters.isEmpty ? "" : "WHERE " + filters.joined(separator: " AND "))
                    GROUP BY u.id, t.task ORDER BY u.owner_uid, u.name, t.task
                    """, arguments: StatementArguments(args))
            if let user, owner == nil, rows.isEmpty {
                let exists =
                    try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM users WHERE name = ?)", arguments: [user])
                    ?? false
                guard exists, let task else { throw PreferenceStoreError.unknownUser(user) }
                throw PreferenceStoreError.unknownTask(user: user, task: task)
            }
            return rows.map {
                PreferenceCount(
                    owner: UInt32(truncatingIfNeeded: $0["owner"] as Int64), user: $0["user"], task: $0["task"],
                    history: $0["h"], pairs: $0["p"], feedback: $0["f"])
            }
        }
    }

    /// `user`'s history items (optionally one task's), in id order, `limit` from `offset`.
    public func history(
        user: String, owner: UInt32, task: String? = nil, offset: Int = 0, limit: Int = .max
    ) throws -> [HistoryItem] {
        try historyPage(user: user, owner: owner, task: task, offset: offset, limit: limit).records
    }

    /// A page of `user`'s history items with their total.
    public func historyPage(
        user: String, owner: UInt32, task: String? = nil, after: String? = nil, offset: Int = 0, limit: Int = .max
    ) throws -> PreferencePage<HistoryItem> {
        try page(
            user: user, owner: owner, task: task, table: "history",
            columns: "id, task, input, output, source, metadata",
            order: "id", after: after, offset: offset, limit: limit
        ) {
            HistoryItem(
                id: $0["id"], task: $0["task"], input: $0["input"], output: $0["output"], source: $0["source"],
                metadata: $0["metadata"])
        }
    }

    /// `user`'s preference pairs (optionally one task's), in id order.
    public func pairs(
        user: String, owner: UInt32, task: String? = nil, offset: Int = 0, limit: Int = .max
    ) throws -> [PreferencePair] {
        try pairsPage(user: user, owner: owner, task: task, offset: offset, limit: limit).records
    }

    /// A page of `user`'s pairs with their total.
    public func pairsPage(
        user: String, owner: UInt32, task: String? = nil, after: String? = nil, offset: Int = 0, limit: Int = .max
    ) throws -> PreferencePage<PreferencePair> {
        try page(
            user: user, owner: owner, task: task, table: "pairs", columns: "id, task, prompt, chosen, rejected, source",
            order: "id", after: after, offset: offset, limit: limit
        ) {
            PreferencePair(
                id: $0["id"], task: $0["task"], prompt: $0["prompt"], chosen: $0["chosen"], rejected: $0["rejected"],
                source: PreferencePair.Source(rawValue: $0["source"]) ?? .explicit)
        }
    }

    /// A page of `user`'s feedback events (optionally one task's), in request-id order.
    public func feedbackPage(
        user: String, owner: UInt32, task: String? = nil, after: String? = nil, offset: Int = 0, limit: Int = .max
    ) throws -> PreferencePage<FeedbackEvent> {
        try page(
            user: user, owner: owner, task: task, table: "feedback",
            columns: "request_id, task, prompt, shown, kept, outcome, adapters, mode", order: "request_id",
            after: after, offset: offset, limit: limit
        ) {
            FeedbackEvent(
                requestID: $0["request_id"], task: $0["task"], prompt: $0["prompt"], shown: $0["shown"],
                kept: $0["kept"],
                outcome: FeedbackEvent.Outcome(rawValue: $0["outcome"]) ?? .rejected, adapters: $0["adapters"],
                mode: $0["mode"])
        }
    }

    /// Records in `order` (the key column), `limit` of them after skipping `offset`; with
    /// `after`, only keys greater than it (keyset paging: a reader walking a user's data page
    /// by page sees every record that exists throughout exactly once, whatever is added meanwhile).
    private func page<R>(
        user: String, owner: UInt32, task: String?, table: String, columns: String, order: String,
        after: String?, offset: Int, limit: Int, _ make: (Row) -> R
    ) throws -> PreferencePage<R> {
        try pool.read { db in
            let uid = try scope(db, user: user, owner: owner, task: task)
            let total = try count(db, table, uid, task)
            var args: [(any DatabaseValueConvertible)?] = [uid]
            if let task { args.append(task) }
            if let after { args.append(after) }
            args += [Int64(min(limit, Int(Int64.max))), Int64(offset)]
            let rows = try Row.fetchAll(
                db,
                sql: "SELECT \(columns) FROM \(table) WHERE user_id = ?" + (task == nil ? "" : " AND task = ?")
                    + (after == nil ? "" : " AND \(order) > ?") + " ORDER BY \(order) LIMIT ? OFFSET ?",
                arguments: StatementArguments(args))
            return PreferencePage(records: rows.map(make), total: total)
        }
    }

    /// The user's row id, checking that the user exists and (when named) has data for `task`.
    private func scope(_ db: Database, user: String, owner: UInt32, task: String?) throws -> Int64 {
        let uid = try userID(db, owner: owner, name: user, create: false)
        if let task {
            let known =
                try Bool.fetchOne(
                    db,
                    sql: """
                        SELECT EXISTS (SELECT 1 FROM history WHERE user_id = ?1 AND task = ?2)
                            OR EXISTS (SELECT 1 FROM pairs WHERE user_id = ?1 AND task = ?2)
                            OR EXISTS (SELECT 1 FROM feedback WHERE user_id = ?1 AND task = ?2)
                        """, arguments: [uid, task]) ?? false
            guard known else { throw PreferenceStoreError.unknownTask(user: user, task: task) }
        }
        return uid
    }

    private func count(_ db: Database, _ table: String, _ uid: Int64, _ task: String?) throws -> Int {
        if let task {
            return try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM \(table) WHERE user_id = ? AND task = ?", arguments: [uid, task]) ?? 0
        }
        return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table) WHERE user_id = ?", arguments: [uid]) ?? 0
    }

    // MARK: Snapshots

    /// Freezes the ids of `user`'s current history and pairs for `task` under `jobID`, so the
    /// job can be re-run on exactly the same data later. Returns the ids, history then pairs.
    public func snapshot(
        jobID: String, user: String, owner: UInt32, task: String
    ) throws -> (history: [String], pairs: [String]) {
        try limits.check(jobID, "snapshot", "job_id", .id)
        return try pool.write { db in
            let uid = try userID(db, owner: owner, name: user, create: false)
            return try snapshotIDs(db, freeze(db, user: uid, jobID: jobID, task: task, pairs: true))
        }
    }

    /// Freezes, in one transaction, the ids of several users' current history for `task` under
    /// `jobID`: a task adapter's training data is everyone else's history, and a resumed or
    /// re-run job must see the same items even if users add data meanwhile. Each user's part is
    /// its own snapshot (job id `jobID/user`), so deleting a user removes their part with them.
    /// Users this owner does not have are skipped. Returns user → history ids.
    public func snapshot(jobID: String, users: [String], owner: UInt32, task: String) throws -> [String: [String]] {
        try limits.check(jobID, "snapshot", "job_id", .id)
        return try pool.write { db in
            var frozen: [String: [String]] = [:]
            for user in Set(users) {
                guard let uid = try? userID(db, owner: owner, name: user, create: false) else { continue }
                frozen[user] = try snapshotIDs(
                    db, freeze(db, user: uid, jobID: jobID + "/" + user, task: task, pairs: false)
                ).history
            }
            return frozen
        }
    }

    /// The per-user history ids that `snapshot(jobID:users:owner:task:)` froze under `jobID`
    /// (user → ids); empty when it took none (or every user in it has since been deleted).
    public func userSnapshots(jobID: String) throws -> [String: [String]] {
        try pool.read { db in
            // Exactly `jobID/<that user's name>`: not another job id that merely starts the same way.
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT s.id AS sid, u.name AS name FROM snapshots s JOIN users u ON u.id = s.user_id
                    WHERE s.job_id = ? || u.name
                    """, arguments: [jobID + "/"])
            var frozen: [String: [String]] = [:]
            for row in rows { frozen[row["name"]] = try snapshotIDs(db, row["sid"]).history }
            return frozen
        }
    }

    /// The ids a job's snapshot froze.
    public func snapshotItems(jobID: String) throws -> (history: [String], pairs: [String]) {
        try pool.read { db in
            guard let sid = try Int64.fetchOne(db, sql: "SELECT id FROM snapshots WHERE job_id = ?", arguments: [jobID])
            else {
                throw PreferenceStoreError.invalidField(
                    record: "snapshot", field: "job_id", problem: "names no snapshot: '\(jobID)'")
            }
            return try snapshotIDs(db, sid)
        }
    }

    /// Records snapshot `jobID` of user row `uid`: the ids of their current history for `task`,
    /// and of their pairs when `pairs` is set. Returns the snapshot's row id.
    private func freeze(_ db: Database, user uid: Int64, jobID: String, task: String, pairs: Bool) throws -> Int64 {
        try db.execute(
            sql: "INSERT INTO snapshots (user_id, job_id, task, created_ms) VALUES (?, ?, ?, ?)",
            arguments: [uid, jobID, task, Self.now()])
        let sid = db.lastInsertedRowID
        try db.execute(
            sql: "INSERT INTO snapshot_items SELECT ?, 'history', id FROM history WHERE user_id = ? AND task = ?",
            arguments: [sid, uid, task])
        if pairs {
            try db.execute(
                sql: "INSERT INTO snapshot_items SELECT ?, 'pair', id FROM pairs WHERE user_id = ? AND task = ?",
                arguments: [sid, uid, task])
        }
        return sid
    }

    private func snapshotIDs(_ db: Database, _ sid: Int64) throws -> (history: [String], pairs: [String]) {
        func ids(_ kind: String) throws -> [String] {
            try String.fetchAll(
                db, sql: "SELECT item_id FROM snapshot_items WHERE snapshot_id = ? AND kind = ? ORDER BY item_id",
                arguments: [sid, kind])
        }
        return (try ids("history"), try ids("pair"))
    }
}
