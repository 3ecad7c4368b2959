import Foundation
import GRDB
import XCTest

@testable import TailorStore

/// DPO's reference scores kept with the negatives stage's pairs.
final class PairReferenceTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "refs-\(UUID().uuidString.prefix(8))"
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    private func pair(_ id: String, rejected: String = "b") -> PreferencePair {
        PreferencePair(id: id, task: "t", prompt: "x", chosen: "a", rejected: rejected, source: .synthetic)
    }

    /// Scores are read back exactly under their basis only; a pair that already existed keeps
    /// its scores (its text did not change, so neither may they); they leave no trace in the
    /// quotas and go with their user.
    func testScoresAreKeptPerBasisWithNewPairsOnly() throws {
        let s = try PreferenceStore(path: dir + "/tailor.sqlite")
        let r1 = PairReference(basis: "task v1", chosen: -1.2345678, rejected: -9.87654321)
        XCTAssertEqual(try s.addPairs([pair("p1")], references: ["p1": r1], user: "alice", owner: 1), 1)
        try s.addPairs([pair("p2")], user: "alice", owner: 1)
        XCTAssertEqual(try s.references(user: "alice", owner: 1, basis: "task v1"), ["p1": r1])
        XCTAssertEqual(try s.references(user: "alice", owner: 1, basis: "task v2"), [:], "another π_base")
        XCTAssertEqual(try s.references(user: "bob", owner: 1, basis: "task v1"), [:], "an unknown user")
        XCTAssertEqual(try s.references(user: "alice", owner: 2, basis: "task v1"), [:], "another owner's")

        let other = PairReference(basis: "task v1", chosen: 0, rejected: 0)
        XCTAssertEqual(
            try s.addPairs([pair("p1", rejected: "c")], references: ["p1": other], user: "alice", owner: 1), 0)
        XCTAssertEqual(try s.references(user: "alice", owner: 1, basis: "task v1"), ["p1": r1])
        XCTAssertEqual(try s.pairs(user: "alice", owner: 1).map(\.rejected), ["b", "b"])

        let quota = try s.pool.read { db in try Row.fetchOne(db, sql: "SELECT items, bytes FROM users")! }
        XCTAssertEqual(quota["items"] as Int, 2)
        XCTAssertEqual(quota["bytes"] as Int, 2 * PreferenceStore.storedBytes(pair("p1")))

        try s.deleteUser("alice", owner: 1)
        let left = try s.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM pair_references") }
        XCTAssertEqual(left, 0)
        XCTAssertEqual(try s.integrityCheck(), "ok")
    }
}
