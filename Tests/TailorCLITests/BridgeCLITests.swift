import Foundation
import TailorTestSupport
import XCTest

/// `tailor bridge` against a real tailord: ping, a streamed completion, cancel, feedback that
/// lands in the store, and bad lines answered without stopping the bridge.
final class BridgeCLITests: DaemonTestCase {
    override var scratchName: String { "tailor-bridge" }

    override func setUpWithError() throws {
        try super.setUpWithError()
        try startDaemon(
            [
                "--socket", dir + "/t.sock", "--state-dir", dir + "/state", "--config", emptyConfig(),
                "--model", TestPaths.tinyModel(), "-t", "1",
            ], socket: dir + "/t.sock")
    }

    /// A running bridge: write lines, read answers.
    final class Bridge {
        let process = Process()
        let input = Pipe(), output = Pipe()
        private var buffer = Data()

        init(socket: String) throws {
            process.executableURL = BuiltProducts.tailor
            process.arguments = ["bridge", "--socket", socket, "--user", "Ann Lee"]
            process.standardInput = input
            process.standardOutput = output
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
        }

        func send(_ line: String) { input.fileHandleForWriting.write(Data((line + "\n").utf8)) }

        /// The next answer line as JSON.
        func next() -> [String: Any] {
            while true {
                if let nl = buffer.firstIndex(of: 0x0A) {
                    let line = buffer[buffer.startIndex..<nl]
                    buffer = Data(buffer[(nl + 1)...])
                    return (try? JSONSerialization.jsonObject(with: line) as? [String: Any]) ?? [
                        "unparsed": String(decoding: line, as: UTF8.self)
                    ]
                }
                let chunk = output.fileHandleForReading.availableData
                if chunk.isEmpty { return ["eof": true] }
                buffer += chunk
            }
        }

        /// Answers until one with `event` for `id`.
        func until(_ event: String, id: String) -> [[String: Any]] {
            var seen: [[String: Any]] = []
            while true {
                let m = next()
                seen.append(m)
                if m["eof"] != nil || (m["event"] as? String == event && "\(m["id"] ?? "")" == id) { return seen }
            }
        }
    }

    func testCompleteCancelFeedbackAndBadLines() throws {
        let b = try Bridge(socket: dir + "/t.sock")
        XCTAssertEqual(b.next()["event"] as? String, "ready")
        b.send(#"{"id": 1, "op": "ping"}"#)
        XCTAssertEqual(b.next()["event"] as? String, "pong")
        // A completion streams tokens, then done with the whole text.
        b.send(#"{"id": 2, "op": "complete", "prompt": "the theme", "task": "lua", "max_tokens": 6}"#)
        let answers = b.until("done", id: "2")
        let done = try XCTUnwrap(answers.last)
        XCTAssertEqual(done["generated_tokens"] as? Int, 6)
        XCTAssertEqual(done["mode"] as? String, "base", "no adapters yet: served without them")
        XCTAssertEqual(done["fallback"] as? Bool, true, "and done says the mode asked for did not run")
        XCTAssertEqual(done["adapters"] as? [String], [])
        XCTAssertEqual(
            answers.filter { $0["event"] as? String == "token" }.compactMap { $0["text"] as? String }.joined(),
            done["text"] as? String)
        // Cancel: a long completion stops and says so.
        b.send(#"{"id": "long", "op": "complete", "prompt": "the theme", "max_tokens": 4000}"#)
        b.send(#"{"id": 3, "op": "cancel", "target": "long"}"#)
        var cancelled = b.until("cancelled", id: "long")
        XCTAssertNil(
            cancelled.first { $0["event"] as? String == "done" && "\($0["id"] ?? "")" == "long" },
            "a cancelled completion does not finish")
        // The cancel's own "ok" and the completion's "cancelled" come from two tasks, in either
        // order: read on to the "ok" when it has not come yet, so the next line is the error below.
        let acknowledged = { (answers: [[String: Any]]) in
            answers.contains { $0["event"] as? String == "ok" && "\($0["id"] ?? "")" == "3" }
        }
        if !acknowledged(cancelled) { cancelled += b.until("ok", id: "3") }
        XCTAssertTrue(acknowledged(cancelled), "the cancel is acknowledged")
        // Bad lines get errors; the bridge keeps going.
        b.send("not json")
        XCTAssertEqual(b.next()["message"] as? String, "the line is not a JSON object")
        b.send(#"{"id": 5, "op": "feedback", "task": "lua", "prompt": "p", "shown": "s", "outcome": "loved"}"#)
        XCTAssertEqual(
            b.until("error", id: "5").last?["message"] as? String,
            "field 'outcome' must be accepted, edited or rejected")
        b.send(#"{"id": 6, "op": "complete", "prompt": 7}"#)
        XCTAssertEqual(b.until("error", id: "6").last?["message"] as? String, "field 'prompt' must be a string")
        // Feedback lands in the store as training data.
        b.send(
            #"{"id": 7, "op": "feedback", "task": "lua", "prompt": "local x = ", "shown": "1", "kept": "2","#
                + #" "outcome": "edited"}"#
        )
        let ok = try XCTUnwrap(b.until("ok", id: "7").last)
        XCTAssertEqual(ok["pairs"] as? Int, 1)
        b.input.fileHandleForWriting.closeFile()
        b.process.waitUntilExit()
        XCTAssertEqual(b.process.terminationStatus, 0)
        let stats = try BuiltProducts.tailor(["data", "ls", "--socket", dir + "/t.sock"])
        XCTAssertTrue(stats.stdout.contains("Ann Lee\t0 history\t1 pairs\t1 feedback\ttasks: lua"), stats.stdout)
    }

    /// `train` submits a job and streams its progress to the end (what :TailorTrain shows).
    func testTrainStreamsProgressUntilTheJobEnds() throws {
        let b = try Bridge(socket: dir + "/t.sock")
        XCTAssertEqual(b.next()["event"] as? String, "ready")
        for i in 0..<4 {
            b.send(
                #"{"id": "a\#(i)", "op": "feedback", "task": "lua", "prompt": "the theme \#(i)", "shown": "the he","#
                    + #" "outcome": "accepted"}"#
            )
            XCTAssertEqual(b.until("ok", id: "a\(i)").last?["history"] as? Int, 1)
        }
        b.send(#"{"id": "t", "op": "train", "kind": "oppu", "task": "lua"}"#)
        let answers = b.until("done", id: "t")
        XCTAssertNotNil(answers.first { $0["event"] as? String == "job" }, "\(answers)")
        let progress = answers.filter { $0["event"] as? String == "progress" }
        XCTAssertFalse(progress.isEmpty, "\(answers)")
        XCTAssertEqual(answers.last?["state"] as? String, "succeeded", "\(answers)")
        XCTAssertEqual(progress.last?["step"] as? Int, progress.last?["total_steps"] as? Int)
        b.send(#"{"id": "t2", "op": "train", "kind": "fly", "task": "lua"}"#)
        XCTAssertEqual(b.until("error", id: "t2").last?["code"] as? String, "INVALID_ARGUMENT")
        b.input.fileHandleForWriting.closeFile()
        b.process.waitUntilExit()
    }
}
