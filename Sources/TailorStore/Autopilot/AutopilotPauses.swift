import Foundation
import GRDB

/// Where the autopilot is paused: rows of `autopilot_pauses` (migration v5), one per
/// (owner, user, task) a person paused, with an empty user or task standing for all of them.
/// A pause outlives restarts; forgetting a user removes theirs.
public final class AutopilotPauses: Sendable {
    private let pool: DatabasePool

    /// The pauses of `database`.
    public init(_ database: PreferenceStore) { pool = database.pool }

    /// One pause: an owner's user and task, either of them empty for "every".
    public struct Scope: Sendable, Hashable {
        public var owner: UInt32
        public var user: String
        public var task: String

        /// A scope; empty `user` or `task` covers every user or task.
        public init(owner: UInt32, user: String = "", task: String = "") {
            self.owner = owner
            self.user = user
            self.task = task
        }

        /// Whether this scope covers (`user`, `task`) of its owner.
        public func covers(owner: UInt32, user: String, task: String) -> Bool {
            contains(Scope(owner: owner, user: user, task: task))
        }

        /// Whether this scope covers every (user, task) `other` covers.
        public func contains(_ other: Scope) -> Bool {
            owner == other.owner && (user.isEmpty || user == other.user) && (task.isEmpty || task == other.task)
        }
    }

    /// Pauses `scope` (pausing it twice changes nothing).
    public func pause(_ scope: Scope) throws {
        try pool.write { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO autopilot_pauses (owner_uid, user, task, created_ms) VALUES (?, ?, ?, ?)",
                arguments: [Int64(scope.owner), scope.user, scope.task, PreferenceStore.now()])
        }
    }

    /// Removes every pause inside `scope` or covering it, so that what `scope` names runs
    /// again (resuming one task of a user paused for every task resumes them all), and returns
    /// how many there were.
    @discardableResult
    public func resume(_ scope: Scope) throws -> Int {
        try pool.write { db in
            let inside = try self.all(db, owner: scope.owner).filter { scope.contains($0) || $0.contains(scope) }
            for p in inside {
                try db.execute(
                    sql: "DELETE FROM autopilot_pauses WHERE owner_uid = ? AND user = ? AND task = ?",
                    arguments: [Int64(p.owner), p.user, p.task])
            }
            return inside.count
        }
    }

    /// The pauses of `owner` (every owner's when nil).
    public func list(owner: UInt32?) throws -> [Scope] {
        try pool.read { db in try self.all(db, owner: owner) }
    }

    /// Removes `user`'s own pauses (forget me); owner-wide pauses stay.
    public func forget(owner: UInt32, user: String) throws {
        try pool.write { db in
            try db.execute(
                sql: "DELETE FROM autopilot_pauses WHERE owner_uid = ? AND user = ?", arguments: [Int64(owner), user])
        }
    }

    private func all(_ db: Database, owner: UInt32?) throws -> [Scope] {
        let rows =
            try owner.map {
                try Row.fetchAll(
                    db, sql: "SELECT * FROM autopilot_pauses WHERE owner_uid = ? ORDER BY user, task",
                    arguments: [Int64($0)])
            } ?? Row.fetchAll(db, sql: "SELECT * FROM autopilot_pauses ORDER BY owner_uid, user, task")
        return rows.map {
            Scope(owner: UInt32(truncatingIfNeeded: $0["owner_uid"] as Int64), user: $0["user"], task: $0["task"])
        }
    }
}
