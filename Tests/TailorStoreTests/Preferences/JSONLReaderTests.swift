import Foundation
import TailorStore
import XCTest

final class JSONLReaderTests: XCTestCase {
    private let sample = Data(
        """
        {"id": "a1", "input": "abstract: Ä", "output": "Title 𝔸", "metadata": {"year": 2020}}

        {"id": 2, "task": "pep_abstract", "input": "title: B", "output": "Abstract B"}\r
        {"id": "p1", "prompt": "q", "chosen": "good", "rejected": "bad"}
        {"request_id": "r1", "prompt": "p", "shown": "s", "kept": "k", "outcome": "edited", "mode": "cope"}
        {"id": "a3", "input": "last line", "output": "no newline"}
        """.utf8)

    private func limits(batch: Int) -> PreferenceLimits {
        var l = PreferenceLimits()
        l.importBatch = batch
        return l
    }

    /// Chunks cut anywhere (inside a line, inside a multi-byte character, at "\r\n") give the
    /// same records as the whole file, and batches are cut at `importBatch` records.
    func testChunksCutAnywhereGiveTheSameRecords() throws {
        let whole = try PreferenceImport.parse(sample, format: .jsonl, task: "pep_title")
        XCTAssertEqual(whole.history.map(\.id), ["a1", "2", "a3"])
        XCTAssertEqual(whole.history.map(\.task), ["pep_title", "pep_abstract", "pep_title"])
        XCTAssertEqual(whole.history[0].metadata, "{\"year\":2020}")
        XCTAssertEqual(whole.pairs.map(\.chosen), ["good"])
        XCTAssertEqual(whole.feedback.map(\.outcome), [.edited])
        let bytes = [UInt8](sample)
        for cut in 1..<bytes.count {
            var reader = JSONLReader(task: "pep_title", limits: limits(batch: 2))
            try reader.feed(Array(bytes[..<cut]))
            try reader.feed(Array(bytes[cut...]))
            try reader.finish()
            let batches = reader.takeReady()
            XCTAssertEqual(batches.map(\.batch.count), [2, 2, 1], "cut at \(cut)")
            XCTAssertEqual(batches.map(\.lines), [1...3, 4...5, 6...6], "cut at \(cut)")
            let merged = batches.map(\.batch).reduce(into: PreferenceBatch()) {
                $0.history += $1.history
                $0.pairs += $1.pairs
                $0.feedback += $1.feedback
            }
            XCTAssertEqual(merged, whole, "cut at \(cut)")
        }
    }

    func testBadLinesAreNamedByLineAndField() throws {
        func failure(_ text: String) -> PreferenceStoreError? {
            var reader = JSONLReader(task: "t", limits: PreferenceLimits())
            do {
                try reader.feed(Array(text.utf8))
                try reader.finish()
                return nil
            } catch { return error as? PreferenceStoreError }
        }
        XCTAssertEqual(
            failure("{\"id\": \"x\", \"input\": \"i\", \"output\": \"o\"}\n{\"id\": \"y\", \"input\": \"i\"}\n"),
            .malformedImport(record: "line 2", problem: "field 'output' is missing"))
        XCTAssertEqual(
            failure("{\"id\": \"x\", \"input\": \"\", \"output\": \"o\"}\n"),
            .invalidField(record: "line 1", field: "input", problem: "is empty"))
        XCTAssertEqual(failure("[1, 2]\n"), .malformedImport(record: "line 1", problem: "is not a JSON object"))
        XCTAssertEqual(
            failure("{\"id\": \"x\", \"input\": 3, \"output\": \"o\"}"),
            .malformedImport(record: "line 1", problem: "field 'input' is not a string"))
        XCTAssertEqual(
            failure("{\"id\": \"x\", \"task\": \"a/b\", \"input\": \"i\", \"output\": \"o\"}")?.field, "task")
        XCTAssertEqual(
            failure("{\"request_id\": \"r\", \"prompt\": \"p\", \"shown\": \"s\", \"outcome\": \"loved\"}")?.field,
            "outcome")
        XCTAssertEqual(
            failure("{\"id\": \"p\", \"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"a\"}")?.field, "rejected")
        // Batches completed before a bad line stay ready; the batch holding it is dropped.
        var batched = JSONLReader(task: "t", limits: limits(batch: 2))
        let good = (1...5).map { "{\"id\": \"g\($0)\", \"input\": \"i\", \"output\": \"o\"}\n" }.joined()
        XCTAssertThrowsError(try batched.feed(Array((good + "{\"id\": \"bad\"}\n").utf8)))
        XCTAssertEqual(batched.takeReady().map(\.lines), [1...2, 3...4])
        var reader = JSONLReader(task: "t", limits: PreferenceLimits())
        XCTAssertThrowsError(try reader.feed([0x7B, 0xC3, 0x28, 0x7D, 0x0A] as [UInt8])) {
            XCTAssertEqual(
                $0 as? PreferenceStoreError, .malformedImport(record: "line 1", problem: "is not valid UTF-8"))
        }
    }

    /// Export writes what import reads: a user's data survives the round trip unchanged.
    func testExportLinesReadBack() throws {
        let item = HistoryItem(
            id: "h/1", task: "email", input: "line\nbreak \"quoted\" ü", output: "out", source: "api",
            metadata: "{\"k\":[1,2]}")
        let pair = PreferencePair(id: "p1", task: "email", prompt: "p", chosen: "c", rejected: "r", source: .synthetic)
        let event = FeedbackEvent(
            requestID: "r1", task: "email", prompt: "p", shown: "s", kept: "", outcome: .rejected,
            adapters: "task/email@1", mode: "cope")
        let text = PreferenceExport.line(item) + PreferenceExport.line(pair) + PreferenceExport.line(event)
        let back = try PreferenceImport.parse(Data(text), format: .jsonl, task: "other")
        XCTAssertEqual(back, PreferenceBatch(history: [item], pairs: [pair], feedback: [event]))
    }
}
