import Foundation
import XCTest

@testable import tailor

/// `data export --format trl-sft|trl-dpo` from Tailor's JSONL: which records become which rows.
final class TRLExportTests: XCTestCase {
    private let exported = """
        {"id":"h1","input":"Subject for the parser fix","output":"Fix the parser","source":"import","task":"t"}
        {"chosen":"Mine","id":"p1","prompt":"P1","rejected":"Theirs","source":"explicit","task":"t"}
        {"chosen":"Kept","id":"p2","prompt":"P2","rejected":"Shown","source":"feedback","task":"t"}
        {"chosen":"Real","id":"p3","prompt":"P3","rejected":"Sampled","source":"synthetic","task":"t"}
        {"kept":"Kept","mode":"cope","outcome":"edited","prompt":"P2","request_id":"r1","shown":"Shown","task":"t"}

        """

    private func rows(_ format: ExportFormat) throws -> [[String: String]] {
        let (bytes, count) = try format.convert(Array(exported.utf8))
        let rows = try String(decoding: bytes, as: UTF8.self).split(separator: "\n").map {
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String])
        }
        XCTAssertEqual(rows.count, count)
        return rows
    }

    func testSFTTakesTheHistory() throws {
        XCTAssertEqual(try rows(.trlSFT), [["prompt": "Subject for the parser fix", "completion": "Fix the parser"]])
    }

    /// The user's own pairs and edits, not the synthetic negatives (a cluster samples its own);
    /// feedback events are already their pairs.
    func testDPOTakesTheUsersOwnPairs() throws {
        XCTAssertEqual(
            try rows(.trlDPO),
            [
                ["prompt": "P1", "chosen": "Mine", "rejected": "Theirs"],
                ["prompt": "P2", "chosen": "Kept", "rejected": "Shown"],
            ])
    }

    func testTailorsOwnFormatPassesThrough() throws {
        let (bytes, count) = try ExportFormat.tailor.convert(Array(exported.utf8))
        XCTAssertEqual(bytes, Array(exported.utf8))
        XCTAssertEqual(count, 5)
        XCTAssertThrowsError(try ExportFormat.trlSFT.convert(Array("[1]\n".utf8)))
    }
}
