import Foundation
import XCTest

/// `tailor eval` end to end on the tiny llama and a small per-user data set: every method is
/// scored, the report is written, and a second run reuses every cached step.
final class EvalCLITests: XCTestCase {
    func testEvalRunsThePipelineAndResumesFromItsCaches() throws {
        let dir = NSTemporaryDirectory() + "tailor-eval-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir + "/data", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func item(_ i: Int) -> [String: String] { ["id": "o\(i)", "input": "the theme \(i)\ntitle:", "output": "he the \(i % 3)"] }
        let others = (0..<4).map(item)
        let users: [[String: Any]] = ["Ann Lee", "Bo"].map { name in
            ["user_id": name, "profile": (0..<3).map { ["id": "\(name)-\($0)", "input": "the \($0) theme\ntitle:", "output": "the he"] },
             "query": [["id": "\(name)-q", "input": "the theme\ntitle:", "gold": "the he"]]]
        }
        try JSONSerialization.data(withJSONObject: others).write(to: URL(fileURLWithPath: dir + "/data/user_others.json"))
        try JSONSerialization.data(withJSONObject: users).write(to: URL(fileURLWithPath: dir + "/data/users.json"))
        let args = ["eval", "--data", dir + "/data", "--model", DaemonCLITests.tinyLlama, "--out", dir + "/out", "--tam-epochs", "1",
                    "--oppu-epochs", "1", "--max-new-tokens", "4", "--samples", "2", "--max-tokens", "48", "-t", "1"]
        let first = try CLITests.execute(args)
        XCTAssertEqual(first.status, 0, first.stderr)
        let results = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/out/results.json"))) as? [String: Any])
        for m in ["base", "tam", "oppu", "cope", "cd-only", "dpo-only"] {
            let r = try XCTUnwrap(results[m] as? [String: Any], m)
            XCTAssertEqual(r["n"] as? Int, 2, m)
            let rl = try XCTUnwrap(r["rougeL"] as? [Double])
            XCTAssertTrue(rl[1] <= rl[0] && rl[0] <= rl[2], "\(m): the mean lies in its interval")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/out/results.svg"))
        XCTAssertTrue(try String(contentsOfFile: dir + "/out/results.md", encoding: .utf8).contains("| cope | 2 |"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/out/users/Ann%20Lee/dpo/adapter_model.safetensors"))
        // Resumed: nothing is trained or generated again, and the results are the same.
        let second = try CLITests.execute(args)
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertFalse(second.stderr.contains("step"), second.stderr)
        let again = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/out/results.json"))) as? [String: Any]
        XCTAssertEqual((again?["cope"] as? [String: Any])?["rougeL"] as? [Double], (results["cope"] as? [String: Any])?["rougeL"] as? [Double])
    }
}
