import Foundation
import GRDB

/// A user's own record of one prompt and what they wrote for it: a history item, or the
/// chosen side of a pair they made (imported or from edited feedback; synthetic negatives
/// are the model's, not theirs). The autopilot counts these and holds the newest back.
public struct OwnItem: Sendable, Equatable {
    /// Where it is stored.
    public enum Kind: String, Sendable, Codable {
        case history, pair
    }

    public var kind: Kind
    public var id: String
    public var input: String
    public var output: String
    /// Insertion time, milliseconds since 1970.
    public var createdMS: Int64

    /// An item.
    public init(kind: Kind, id: String, input: String, output: String, createdMS: Int64) {
        self.kind = kind
        self.id = id
        self.input = input
        self.output = output
        self.createdMS = createdMS
    }
}

extension PreferenceStore {
    /// The user's own items for `task` (see `OwnItem`) stored after `afterMS`, newest first,
    /// at most `limit` of them (every one when nil). An unknown user has none.
    public func ownItems(
        user: String, owner: UInt32, task: String, afterMS: Int64 = -1, limit: Int? = nil
    ) throws -> [OwnItem] {
        try pool.read { db in
            guard let uid = try? userID(db, owner: owner, name: user, create: false) else { return [] }
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT 'history' AS kind, id, input, output, created_ms FROM history
                        WHERE user_id = ? AND task = ? AND created_ms > ?
                    UNION ALL
                    SELECT 'pair' AS kind, id, prompt AS input, chosen AS output, created_ms FROM pairs
                        WHERE user_id = ? AND task = ? AND created_ms > ? AND source != 'synthetic'
                    ORDER BY created_ms DESC, kind DESC, id DESC
                    LIMIT ?
                    """,
                arguments: [uid, task, afterMS, uid, task, afterMS, limit ?? -1])
            return rows.map {
                OwnItem(
                    kind: OwnItem.Kind(rawValue: $0["kind"]) ?? .history, id: $0["id"], input: $0["input"],
                    output: $0["output"], createdMS: $0["created_ms"])
            }
        }
    }

    /// How many of the user's own items for `task` were stored after `afterMS`.
    public func ownItemCount(user: String, owner: UInt32, task: String, afterMS: Int64) throws -> Int {
        try pool.read { db in
            guard let uid = try? userID(db, owner: owner, name: user, create: false) else { return 0 }
            let history =
                try Int.fetchOne(
                    db, sql: "SELECT COUNT(*) FROM history WHERE user_id = ? AND task = ? AND created_ms > ?",
                    arguments: [uid, task, afterMS]) ?? 0
            let pairs =
                try Int.fetchOne(
                    db,
                    sql: """
                        SELECT COUNT(*) FROM pairs WHERE user_id = ? AND task = ? AND created_ms > ?
                            AND source != 'synthetic'
                        """,
                    arguments: [uid, task, afterMS]) ?? 0
            return history + pairs
        }
    }
}
