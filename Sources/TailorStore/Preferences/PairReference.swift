import GRDB

/// DPO's reference scores of one stored pair, as the negatives stage computed them when it drew
/// the pair: Σ log π_base of the chosen and of the rejected completion.
///
/// Derived data, kept so that every DPO stage over the pair (the same job's, a resumed one, a
/// later one) reads the same numbers instead of evaluating the prompt again. They hold only for
/// the π_base and sequences they were computed with, which `basis` names; a reader passes the
/// basis it trains against and gets only the scores computed for it.
public struct PairReference: Sendable, Equatable {
    /// What π_base and tokenization the scores belong to (the daemon: model, task adapter
    /// version, sequence length).
    public var basis: String
    public var chosen: Float
    public var rejected: Float

    public init(basis: String, chosen: Float, rejected: Float) {
        self.basis = basis
        self.chosen = chosen
        self.rejected = rejected
    }
}

extension PreferenceStore {
    /// The reference scores kept with `user`'s pairs for `basis`, by pair id (none for a user
    /// the store does not know).
    public func references(user: String, owner: UInt32, basis: String) throws -> [String: PairReference] {
        try pool.read { db in
            guard let uid = try? userID(db, owner: owner, name: user, create: false) else { return [:] }
            let rows = try Row.fetchAll(
                db, sql: "SELECT pair_id, chosen, rejected FROM pair_references WHERE user_id = ? AND basis = ?",
                arguments: [uid, basis])
            var out: [String: PairReference] = [:]
            for row in rows {
                let chosen: Double = row["chosen"], rejected: Double = row["rejected"]
                out[row["pair_id"]] = PairReference(basis: basis, chosen: Float(chosen), rejected: Float(rejected))
            }
            return out
        }
    }
}
