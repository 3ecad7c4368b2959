import Foundation
import GRDB

/// Records written together: one batch is one transaction.
public struct PreferenceBatch: Sendable, Equatable {
    public var history: [HistoryItem]
    public var pairs: [PreferencePair]
    public var feedback: [FeedbackEvent]

    /// A batch.
    public init(history: [HistoryItem] = [], pairs: [PreferencePair] = [], feedback: [FeedbackEvent] = []) {
        self.history = history
        self.pairs = pairs
        self.feedback = feedback
    }

    /// How many records it holds.
    public var count: Int { history.count + pairs.count + feedback.count }
    /// Whether it holds none.
    public var isEmpty: Bool { count == 0 }
}

/// What a write added. Records whose id existed are skipped, not counted.
public struct WriteCounts: Sendable, Equatable {
    public var history = 0
    public var pairs = 0
    public var feedback = 0
    public var skipped = 0

    /// Counts as given.
    public init(history: Int = 0, pairs: Int = 0, feedback: Int = 0, skipped: Int = 0) {
        self.history = history
        self.pairs = pairs
        self.feedback = feedback
        self.skipped = skipped
    }

    /// Sums two writes' counts.
    public static func + (a: WriteCounts, b: WriteCounts) -> WriteCounts {
        WriteCounts(
            history: a.history + b.history, pairs: a.pairs + b.pairs, feedback: a.feedback + b.feedback,
            skipped: a.skipped + b.skipped)
    }
}

extension PreferenceStore {
    /// Writes a batch for `user` (created if new) in one transaction, after checking every
    /// record. Feedback becomes training data in the same transaction: an accepted completion
    /// a history item (prompt → shown), an edited one a pair (kept over shown).
    /// - Parameter checked: the records were already validated (an importer that names them by
    ///   line); they are not checked again.
    /// - Throws: `PreferenceStoreError` naming the first bad record and field, or the quota
    ///   exceeded; nothing is written.
    @discardableResult
    public func write(
        _ batch: PreferenceBatch, user: String, owner: UInt32, checked: Bool = false
    ) throws -> WriteCounts {
        try write(batch, references: [:], user: user, owner: owner, checked: checked)
    }

    /// `write`, keeping with each new pair its entry of `references` (by pair id).
    private func write(
        _ batch: PreferenceBatch, references: [String: PairReference], user: String, owner: UInt32, checked: Bool
    ) throws -> WriteCounts {
        try limits.validateUser(user)
        if !checked {
            for (i, item) in batch.history.enumerated() {
                try limits.validate(item, record: "items[\(i)] (id '\(item.id.prefix(64))')")
            }
            for (i, p) in batch.pairs.enumerated() {
                try limits.validate(p, record: "pairs[\(i)] (id '\(p.id.prefix(64))')")
            }
            for (i, e) in batch.feedback.enumerated() {
                try limits.validate(e, record: "feedback[\(i)] (request '\(e.requestID.prefix(64))')")
            }
        }
        return try pool.write { db in
            let uid = try userID(db, owner: owner, name: user, create: true)
            var writer = try BatchWriter(db: db, userID: uid)
            for item in batch.history { try writer.insert(item) }
            for p in batch.pairs {
                if try writer.insert(p), let r = references[p.id] { try writer.insert(r, pair: p.id) }
            }
            for e in batch.feedback { try writer.insert(e) }
            try db.execute(
                sql: "UPDATE users SET items = items + ?, bytes = bytes + ? WHERE id = ?",
                arguments: [writer.addedItems, writer.addedBytes, uid])
            if let row = try Row.fetchOne(db, sql: "SELECT items, bytes FROM users WHERE id = ?", arguments: [uid]) {
                let items: Int = row["items"], bytes: Int = row["bytes"]
                if writer.addedItems > 0, items > limits.maxItemsPerUser {
                    throw PreferenceStoreError.quotaExceeded(
                        user: user, problem: "the quota of \(limits.maxItemsPerUser) items (it would hold \(items))")
                }
                if writer.addedBytes > 0, bytes > limits.maxBytesPerUser {
                    throw PreferenceStoreError.quotaExceeded(
                        user: user, problem: "the quota of \(limits.maxBytesPerUser) bytes (it would hold \(bytes))")
                }
            }
            if writer.addedBytes > 0 {
                let total =
                    try Int.fetchOne(
                        db, sql: "SELECT IFNULL(SUM(bytes), 0) FROM users WHERE owner_uid = ?",
                        arguments: [Int64(owner)]) ?? 0
                if total > limits.maxBytesPerUID {
                    throw PreferenceStoreError.quotaExceeded(
                        user: user,
                        problem:
                            """
                            uid \(owner)'s quota of \(limits.maxBytesPerUID) bytes over all its users (it would \
                            hold \(total))
                            """
                    )
                }
            }
            var counts = writer.counts
            // Rows derived from feedback are not records of the batch: `skipped` is about the batch.
            counts.skipped = max(0, batch.count - writer.recordsAdded)
            return counts
        }
    }

    /// Adds history items for `user` in one transaction; returns how many were new.
    @discardableResult
    public func addHistory(_ items: [HistoryItem], user: String, owner: UInt32) throws -> Int {
        try write(PreferenceBatch(history: items), user: user, owner: owner).history
    }

    /// Adds preference pairs for `user` in one transaction; returns how many were new.
    /// - Parameter references: DPO's reference scores of pairs the negatives stage drew, by
    ///   pair id, kept with the pair when it is new (a pair that already exists keeps its own).
    @discardableResult
    public func addPairs(
        _ pairs: [PreferencePair], references: [String: PairReference] = [:], user: String, owner: UInt32
    ) throws -> Int {
        try write(PreferenceBatch(pairs: pairs), references: references, user: user, owner: owner, checked: false)
            .pairs
    }

    /// Records an editor's verdict on a completion (see `write`); recording the same request
    /// twice changes nothing.
    @discardableResult
    public func recordFeedback(_ event: FeedbackEvent, user: String, owner: UInt32) throws -> WriteCounts {
        try write(PreferenceBatch(feedback: [event]), user: user, owner: owner)
    }
}

extension PreferenceStore {
    /// The bytes a record holds in the database, as the quotas count them: every string
    /// column. Migration v4's SQL computes the same sums for existing rows.
    static func storedBytes(_ item: HistoryItem) -> Int {
        [item.id, item.task, item.input, item.output, item.source, item.metadata].reduce(0) { $0 + $1.utf8.count }
    }

    static func storedBytes(_ p: PreferencePair) -> Int {
        [p.id, p.task, p.prompt, p.chosen, p.rejected, p.source.rawValue].reduce(0) { $0 + $1.utf8.count }
    }

    static func storedBytes(_ e: FeedbackEvent) -> Int {
        [e.requestID, e.task, e.prompt, e.shown, e.kept, e.outcome.rawValue, e.adapters, e.mode].reduce(0) {
            $0 + $1.utf8.count
        }
    }
}

/// Inserts one transaction's rows through prepared statements, counting what was new.
private struct BatchWriter {
    let db: Database
    let userID: Int64
    let now = PreferenceStore.now()
    let history: Statement
    let pairs: Statement
    let references: Statement
    let feedback: Statement
    var counts = WriteCounts()
    /// Records of the batch that were new (derived rows are not records).
    var recordsAdded = 0
    /// New records of every kind (what the item quota counts), derived ones included.
    var addedItems = 0
    /// Their stored bytes (what the byte quotas count): `PreferenceStore.storedBytes`.
    var addedBytes = 0

    init(db: Database, userID: Int64) throws {
        self.db = db
        self.userID = userID
        history = try db.cachedStatement(
            sql: """
                INSERT OR IGNORE INTO history (user_id, id, task, input, output, source, metadata, created_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """)
        pairs = try db.cachedStatement(
            sql: """
                INSERT OR IGNORE INTO pairs (user_id, id, task, prompt, chosen, rejected, source, created_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """)
        references = try db.cachedStatement(
            sql: """
                INSERT OR REPLACE INTO pair_references (user_id, pair_id, basis, chosen, rejected)
                VALUES (?, ?, ?, ?, ?)
                """)
        feedback = try db.cachedStatement(
            sql: """
                INSERT OR IGNORE INTO feedback (user_id, request_id, task, prompt, shown, kept, outcome, adapters,
                    mode, created_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
    }

    /// Inserts an item; true when it was new.
    @discardableResult
    mutating func insert(_ item: HistoryItem, derived: Bool = false) throws -> Bool {
        try history.execute(arguments: [
            userID, item.id, item.task, item.input, item.output, item.source, item.metadata, now,
        ])
        guard db.changesCount == 1 else { return false }
        addedItems += 1
        addedBytes += PreferenceStore.storedBytes(item)
        if !derived { counts.history += 1; recordsAdded += 1 }
        return true
    }

    @discardableResult
    mutating func insert(_ p: PreferencePair, derived: Bool = false) throws -> Bool {
        try pairs.execute(arguments: [userID, p.id, p.task, p.prompt, p.chosen, p.rejected, p.source.rawValue, now])
        guard db.changesCount == 1 else { return false }
        addedItems += 1
        addedBytes += PreferenceStore.storedBytes(p)
        if !derived { counts.pairs += 1; recordsAdded += 1 }
        return true
    }

    /// Keeps `r` with pair `id` (derived data: no record, no quota).
    func insert(_ r: PairReference, pair id: String) throws {
        try references.execute(arguments: [userID, id, r.basis, Double(r.chosen), Double(r.rejected)])
    }

    /// Inserts an event and the training record it implies (only when the event is new, so a
    /// repeated event cannot resurrect a record the user removed).
    mutating func insert(_ e: FeedbackEvent) throws {
        try feedback.execute(arguments: [
            userID, e.requestID, e.task, e.prompt, e.shown, e.kept, e.outcome.rawValue, e.adapters, e.mode, now,
        ])
        guard db.changesCount == 1 else { return }
        counts.feedback += 1
        recordsAdded += 1
        addedItems += 1
        addedBytes += PreferenceStore.storedBytes(e)
        let id = "feedback:" + e.requestID
        switch e.outcome {
        case .accepted:
            if try insert(
                HistoryItem(id: id, task: e.task, input: e.prompt, output: e.shown, source: "feedback"), derived: true)
            {
                counts.history += 1
            }
        case .edited:
            if try insert(
                PreferencePair(
                    id: id, task: e.task, prompt: e.prompt, chosen: e.kept, rejected: e.shown, source: .feedback),
                derived: true)
            {
                counts.pairs += 1
            }
        case .rejected:
            break
        }
    }
}
