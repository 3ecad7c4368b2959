import Foundation
import TailorStore
import TailorTestSupport
import XCTest

/// `tailor data …` against a real `tailord`, and the crash test: SIGKILL during a large import.
final class DataCLITests: DaemonTestCase {
    override var scratchName: String { "tailor-data" }

    private var socket: String { dir + "/t.sock" }

    /// Starts tailord on the test's state directory with `config` as its config file.
    private func startDaemon(config: String = "") throws {
        let path = dir + "/tailord.conf"
        try Data(config.utf8).write(to: URL(fileURLWithPath: path))
        try startDaemon(
            ["--socket", socket, "--state-dir", dir + "/state", "--config", path],
            socket: socket)
    }

    private func cli(_ args: [String]) throws -> BuiltProducts.Output {
        try BuiltProducts.tailor(args + ["--socket", socket])
    }

    private func writeJSONL(_ path: String, count: Int) throws {
        var text = ""
        text.reserveCapacity(count * 96)
        for i in 0..<count {
            text +=
                """
                {\"id\": \"i\(String(format: "%07d", i))\", \"input\": \"Write a subject for change \(i) to the \
                parser\", \"output\": \"Fix parser case \(i)\"}\n
                """
        }
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    /// A bad file gets a message a person can act on: the line, what is wrong with it, and the
    /// flag that fixes a missing task; no status codes or protocol field paths.
    func testImportErrorsSayWhatToDo() throws {
        try startDaemon()
        let file = dir + "/cut.jsonl"
        try Data("{\"id\": \"a\", \"input\": \"x\", \"output\": \"y\"}\n{\"id\": \"b\", \"inp".utf8).write(
            to: URL(fileURLWithPath: file))
        let noTask = try cli(["data", "import", "--user", "bob", file])
        XCTAssertEqual(
            noTask.stderr,
            "Error: record line 1: field 'task' is empty; pass --task TASK for the records that name none\n")
        let cut = try cli(["data", "import", "--user", "bob", "--task", "t", file])
        XCTAssertEqual(
            cut.stderr, "Error: record line 2: is not valid JSON (a line cut short, or two records on one line?)\n")
        XCTAssertEqual(try cli(["data", "ls", "--user", "bob"]).stdout.contains("x"), false, "nothing imported")
    }

    func testImportListStatsExportAndForget() throws {
        try startDaemon()
        let file = dir + "/h.jsonl"
        try writeJSONL(file, count: 50)
        let imported = try cli(["data", "import", "--user", "Grace Hopper", "--task", "commit_subject", file])
        XCTAssertEqual(imported.status, 0, imported.stderr)
        XCTAssertTrue(
            imported.stdout.hasPrefix("imported 50 history items, 0 pairs, 0 feedback events; 0 already present"),
            imported.stdout)
        let again = try cli(["data", "import", "--user", "Grace Hopper", "--task", "commit_subject", file])
        XCTAssertTrue(
            again.stdout.hasPrefix("imported 0 history items, 0 pairs, 0 feedback events; 50 already present"),
            again.stdout)
        let stats = try cli(["data", "stats", "--json"])
        let rows = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(rows.count, 1)
        XCTAssertEqual(rows[0]["user"] as? String, "Grace Hopper")
        XCTAssertEqual(rows[0]["history"] as? Int, 50)
        let users = try cli(["data", "ls"])
        XCTAssertTrue(
            users.stdout.hasPrefix("Grace Hopper\t50 history\t0 pairs\t0 feedback\ttasks: commit_subject"), users.stdout
        )
        let page = try cli(["data", "ls", "--user", "Grace Hopper", "--limit", "2", "--offset", "10"])
        XCTAssertEqual(
            page.stdout.split(separator: "\n").first.map(String.init),
            "i0000010\tcommit_subject\tWrite a subject for change 10 to the parser\t→ Fix parser case 10")
        XCTAssertTrue(page.stdout.contains("(2 of 50 history records from 10)"), page.stdout)
        let out = dir + "/export.jsonl"
        XCTAssertEqual(try cli(["data", "export", "--user", "Grace Hopper", "-o", out]).status, 0)
        let exported = try PreferenceImport.parse(
            Data(contentsOf: URL(fileURLWithPath: out)), format: .jsonl, task: "x")
        XCTAssertEqual(exported.history.count, 50)
        XCTAssertEqual(exported.history[3].output, "Fix parser case 3")
        // TRL's prompt-completion format: the inputs and outputs as the trainer reads them.
        let sft = dir + "/sft.jsonl"
        let trl = try cli(["data", "export", "--user", "Grace Hopper", "--format", "trl-sft", "-o", sft])
        XCTAssertEqual(trl.status, 0, trl.stderr)
        XCTAssertTrue(trl.stderr.contains("exported 50 records"), trl.stderr)
        let trlRows = try String(contentsOfFile: sft, encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String])
        }
        XCTAssertEqual(trlRows.count, 50)
        XCTAssertEqual(
            trlRows[3], ["prompt": "Write a subject for change 3 to the parser", "completion": "Fix parser case 3"])
        XCTAssertNotEqual(try cli(["data", "export", "--user", "Grace Hopper", "--format", "trl-kto"]).status, 0)
        // Bad input: the error names the line and field, and the exit status says it failed.
        try Data("{\"id\": \"z\", \"input\": \"\", \"output\": \"o\"}\n".utf8).write(
            to: URL(fileURLWithPath: dir + "/bad.jsonl"))
        let bad = try cli(["data", "import", "--user", "Grace Hopper", "--task", "commit_subject", dir + "/bad.jsonl"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("record line 1: field 'input' is empty"), bad.stderr)
        // Forgetting needs --yes.
        let refused = try cli(["data", "rm", "--user", "Grace Hopper"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("deletes 50 records"), refused.stderr)
        let forgot = try cli(["data", "rm", "--user", "Grace Hopper", "--yes"])
        XCTAssertEqual(forgot.stdout, "forgot Grace Hopper: 50 history items, 0 pairs, 0 feedback events, 0 adapters\n")
        XCTAssertEqual(try cli(["data", "ls"]).stdout, "no data\n")
    }

    /// SIGKILL in the middle of a large import: after a restart the database passes
    /// `PRAGMA integrity_check`, every batch is wholly present or wholly absent (the committed
    /// ones are a prefix), and re-importing the file completes it.
    func testSIGKILLDuringALargeImportLeavesWholeBatches() throws {
        let batch = 1000, total = 150_000
        try startDaemon(config: "import_batch = \(batch)\n")
        let file = dir + "/big.jsonl"
        try writeJSONL(file, count: total)
        let importer = Process()
        importer.executableURL = BuiltProducts.tailor
        importer.arguments = ["data", "import", "--socket", socket, "--user", "u", "--task", "t", file]
        importer.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        importer.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try importer.run()
        let db = dir + "/state/tailor.sqlite"
        var seen = 0
        let deadline = Date().addingTimeInterval(60)
        while seen < 2 * batch, Date() < deadline {
            Thread.sleep(forTimeInterval: 0.01)
            seen = (try? PreferenceStore(path: db).counts(user: "u", owner: geteuid()).history) ?? 0
        }
        kill(daemon!.processIdentifier, SIGKILL)
        daemon!.waitUntilExit()
        importer.waitUntilExit()
        XCTAssertNotEqual(importer.terminationStatus, 0, "the import finished before the kill: make the file larger")

        try startDaemon(config: "import_batch = \(batch)\n")
        let store = try PreferenceStore(path: db)
        XCTAssertEqual(try store.integrityCheck(), "ok")
        let ids = try store.history(user: "u", owner: geteuid()).map { Int($0.id.dropFirst())! }
        XCTAssertGreaterThanOrEqual(ids.count, 2 * batch)
        XCTAssertLessThan(ids.count, total)
        var perBatch = [Int](repeating: 0, count: total / batch)
        for i in ids { perBatch[i / batch] += 1 }
        XCTAssertTrue(
            perBatch.allSatisfy { $0 == 0 || $0 == batch },
            "a batch was partly written: \(perBatch.filter { $0 != 0 && $0 != batch })")
        XCTAssertEqual(ids, Array(0..<ids.count), "the committed batches are not a prefix of the file")

        let again = try cli(["data", "import", "--user", "u", "--task", "t", file])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(
            again.stdout.hasPrefix(
                """
                imported \(total - ids.count) history items, 0 pairs, 0 feedback events; \(ids.count) already \
                present
                """),
            again.stdout)
        XCTAssertEqual(try store.counts(user: "u", owner: geteuid()).history, total)
        XCTAssertEqual(try store.integrityCheck(), "ok")
    }
}
