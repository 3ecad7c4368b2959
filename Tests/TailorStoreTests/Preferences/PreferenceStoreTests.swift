import Foundation
import GRDB
import TailorTestSupport
import XCTest

@testable import TailorStore

final class PreferenceStoreTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "prefs-\(UUID().uuidString.prefix(8))"
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    private func store(_ limits: PreferenceLimits = PreferenceLimits()) throws -> PreferenceStore {
        try PreferenceStore(path: dir + "/tailor.sqlite", limits: limits)
    }

    private func items(_ n: Int, task: String = "email") -> [HistoryItem] {
        (0..<n).map { HistoryItem(id: "h\($0)", task: task, input: "input \($0)", output: "output \($0)") }
    }

    func testHistoryIsStoredPerOwnerAndReimportIsIdempotent() throws {
        let s = try store()
        XCTAssertEqual(try s.addHistory(items(3), user: "alice", owner: 1000), 3)
        XCTAssertEqual(try s.addHistory(items(5), user: "alice", owner: 1000), 2)  // h0...h2 exist
        XCTAssertEqual(try s.counts(user: "alice", owner: 1000).history, 5)
        XCTAssertEqual(try s.history(user: "alice", owner: 1000).map(\.id), ["h0", "h1", "h2", "h3", "h4"])
        // Another uid's "alice" is another user.
        XCTAssertThrowsError(try s.counts(user: "alice", owner: 1001)) {
            XCTAssertEqual($0 as? PreferenceStoreError, .unknownUser("alice"))
        }
        XCTAssertEqual(try s.users(owner: 1000), ["alice"])
        // Survives reopening (the file is the store).
        let again = try store()
        XCTAssertEqual(try again.counts(user: "alice", owner: 1000).history, 5)
        XCTAssertEqual(try again.integrityCheck(), "ok")
    }

    func testABadRecordFailsTheWholeBatchAndIsNamed() throws {
        var limits = PreferenceLimits()
        limits.maxFieldBytes = 100
        let s = try store(limits)
        var batch = items(4)
        batch[2].output = ""
        XCTAssertThrowsError(try s.addHistory(batch, user: "alice", owner: 1)) {
            XCTAssertEqual(
                $0 as? PreferenceStoreError,
                .invalidField(record: "items[2] (id 'h2')", field: "output", problem: "is empty"))
        }
        batch[2].output = String(repeating: "x", count: 101)
        XCTAssertThrowsError(try s.addHistory(batch, user: "alice", owner: 1)) {
            XCTAssertEqual(($0 as? PreferenceStoreError)?.field, "output")
        }
        batch[2].output = "ok"
        batch[3].task = "bad/task"
        XCTAssertThrowsError(try s.addHistory(batch, user: "alice", owner: 1)) {
            XCTAssertEqual(($0 as? PreferenceStoreError)?.field, "task")
        }
        batch[3].task = "email"
        batch[3].metadata = "[1]"
        XCTAssertThrowsError(try s.addHistory(batch, user: "alice", owner: 1)) {
            XCTAssertEqual(($0 as? PreferenceStoreError)?.field, "metadata")
        }
        // Nothing was written, not even the user.
        XCTAssertEqual(try s.users(owner: 1), [])
        // A quota counts history and pairs.
        limits.maxItemsPerUser = 3
        let small = try PreferenceStore(path: dir + "/small.sqlite", limits: limits)
        XCTAssertThrowsError(try small.addHistory(items(4), user: "bob", owner: 1)) {
            XCTAssertEqual(
                $0 as? PreferenceStoreError,
                .quotaExceeded(user: "bob", problem: "the quota of 3 items (it would hold 4)"))
        }
        XCTAssertEqual(try small.users(owner: 1), [])
    }

    func testFeedbackBecomesTrainingData() throws {
        let s = try store()
        try s.recordFeedback(
            FeedbackEvent(
                requestID: "r1", task: "email", prompt: "Subject for: lunch at 1", shown: "Lunch at 1pm",
                kept: "Lunch at 1pm", outcome: .accepted, adapters: "task/email@1", mode: "cope"), user: "alice",
            owner: 7)
        try s.recordFeedback(
            FeedbackEvent(
                requestID: "r2", task: "email", prompt: "Subject for: standup moved", shown: "Standup moved",
                kept: "Standup now at 10:30", outcome: .edited), user: "alice", owner: 7)
        try s.recordFeedback(
            FeedbackEvent(
                requestID: "r3", task: "email", prompt: "p", shown: "no thanks", kept: "", outcome: .rejected),
            user: "alice", owner: 7)
        try s.recordFeedback(
            FeedbackEvent(
                requestID: "r2", task: "email", prompt: "Subject for: standup moved", shown: "Standup moved",
                kept: "Standup now at 10:30", outcome: .edited), user: "alice", owner: 7)  // repeated: no-op
        XCTAssertEqual(try s.counts(user: "alice", owner: 7), PreferenceStore.Counts(history: 1, pairs: 1, feedback: 3))
        XCTAssertEqual(try s.history(user: "alice", owner: 7).first?.output, "Lunch at 1pm")
        let pair = try XCTUnwrap(try s.pairs(user: "alice", owner: 7).first)
        XCTAssertEqual(pair.chosen, "Standup now at 10:30")
        XCTAssertEqual(pair.rejected, "Standup moved")
        XCTAssertEqual(pair.source, .feedback)
        XCTAssertThrowsError(
            try s.recordFeedback(
                FeedbackEvent(
                    requestID: "r4", task: "email", prompt: "p", shown: "same", kept: "same", outcome: .edited),
                user: "alice", owner: 7)
        ) { XCTAssertEqual(($0 as? PreferenceStoreError)?.field, "kept") }
    }

    func testSnapshotsFreezeTheDataAJobUsedAndForgetMeRemovesEverything() throws {
        let s = try store()
        try s.addHistory(items(3), user: "alice", owner: 1)
        try s.addPairs(
            [PreferencePair(id: "p1", task: "email", prompt: "x", chosen: "a", rejected: "b")], user: "alice", owner: 1)
        let snap = try s.snapshot(jobID: "job-1", user: "alice", owner: 1, task: "email")
        XCTAssertEqual(snap.history, ["h0", "h1", "h2"])
        XCTAssertEqual(snap.pairs, ["p1"])
        try s.addHistory(items(6), user: "alice", owner: 1)
        XCTAssertEqual(try s.snapshotItems(jobID: "job-1").history, ["h0", "h1", "h2"])  // later data does not leak in
        XCTAssertThrowsError(
            try s.addPairs(
                [PreferencePair(id: "p2", task: "email", prompt: "x", chosen: "a", rejected: "a")], user: "alice",
                owner: 1))
        try s.deleteUser("alice", owner: 1)
        XCTAssertEqual(try s.users(owner: 1), [])
        XCTAssertThrowsError(try s.snapshotItems(jobID: "job-1"))
        XCTAssertEqual(try s.integrityCheck(), "ok")
    }

    func testTaskSnapshotsFreezeSeveralUsersAndLoseADeletedUsersPart() throws {
        let s = try store()
        try s.addHistory(items(2), user: "bob", owner: 1)
        try s.addHistory(items(3), user: "carol", owner: 1)
        try s.addHistory(items(4), user: "dave", owner: 2)  // another owner's user
        let frozen = try s.snapshot(
            jobID: "job-2/tam", users: ["bob", "carol", "dave", "nobody"], owner: 1, task: "email")
        XCTAssertEqual(frozen, ["bob": ["h0", "h1"], "carol": ["h0", "h1", "h2"]])
        try s.addHistory(items(6), user: "bob", owner: 1)
        XCTAssertEqual(try s.userSnapshots(jobID: "job-2/tam"), frozen, "later data does not leak in")
        XCTAssertEqual(try s.userSnapshots(jobID: "job-2"), [:], "only the exact job id's parts")
        XCTAssertEqual(try s.userSnapshots(jobID: "job-3/tam"), [:])
        try s.deleteUser("carol", owner: 1)
        XCTAssertEqual(try s.userSnapshots(jobID: "job-2/tam"), ["bob": ["h0", "h1"]])
        XCTAssertEqual(try s.integrityCheck(), "ok")
    }

    func testCountsPagesUnknownTasksAndByteQuota() throws {
        let s = try store()
        XCTAssertEqual(try s.appliedMigrations(), ["v1", "v2", "v3", "v4", "v5", "v6"])
        try s.addHistory(
            items(5, task: "email") + [HistoryItem(id: "x1", task: "code", input: "i", output: "o")], user: "alice",
            owner: 1)
        try s.addPairs(
            [PreferencePair(id: "p1", task: "email", prompt: "x", chosen: "a", rejected: "b")], user: "alice", owner: 1)
        try s.addHistory(items(2, task: "email"), user: "bob", owner: 2)
        XCTAssertEqual(
            try s.countsByTask(owner: 1),
            [
                PreferenceCount(owner: 1, user: "alice", task: "code", history: 1, pairs: 0, feedback: 0),
                PreferenceCount(owner: 1, user: "alice", task: "email", history: 5, pairs: 1, feedback: 0),
            ])
        XCTAssertEqual(try s.countsByTask(owner: nil).count, 3)
        XCTAssertEqual(try s.countsByTask(owner: nil, task: "email").map(\.user), ["alice", "bob"])
        let page = try s.historyPage(user: "alice", owner: 1, task: "email", offset: 1, limit: 2)
        XCTAssertEqual(page.records.map(\.id), ["h1", "h2"])
        XCTAssertEqual(page.total, 5)
        XCTAssertThrowsError(try s.counts(user: "alice", owner: 1, task: "poetry")) {
            XCTAssertEqual($0 as? PreferenceStoreError, .unknownTask(user: "alice", task: "poetry"))
        }
        XCTAssertThrowsError(try s.countsByTask(owner: 1, user: "carol")) {
            XCTAssertEqual($0 as? PreferenceStoreError, .unknownUser("carol"))
        }
        XCTAssertThrowsError(try s.countsByTask(owner: nil, user: "carol")) {
            XCTAssertEqual($0 as? PreferenceStoreError, .unknownUser("carol"))
        }
        XCTAssertThrowsError(try s.countsByTask(owner: nil, user: "alice", task: "poetry")) {
            XCTAssertEqual($0 as? PreferenceStoreError, .unknownTask(user: "alice", task: "poetry"))
        }
        // The byte quota counts every stored string (here id 1 + task 1 + input 20 + output 20 +
        // source "api" 3 = 45 bytes an item), across batches, and a refused batch leaves the totals alone.
        var limits = PreferenceLimits()
        limits.maxBytesPerUser = 100
        let small = try PreferenceStore(path: dir + "/bytes.sqlite", limits: limits)
        let forty = HistoryItem(
            id: "a", task: "t", input: String(repeating: "i", count: 20), output: String(repeating: "o", count: 20))
        var second = forty
        second.id = "b"
        var third = forty
        third.id = "c"
        try small.addHistory([forty, second], user: "u", owner: 1)
        XCTAssertThrowsError(try small.addHistory([third], user: "u", owner: 1)) {
            XCTAssertEqual(
                $0 as? PreferenceStoreError,
                .quotaExceeded(user: "u", problem: "the quota of 100 bytes (it would hold 135)"))
        }
        // a re-send adds nothing and is not refused
        XCTAssertEqual(try small.addHistory([forty], user: "u", owner: 1), 0)
        XCTAssertEqual(try small.deleteUser("u", owner: 1), PreferenceStore.Counts(history: 2, pairs: 0, feedback: 0))
        try small.addHistory([forty, second], user: "u", owner: 1)  // totals went with the user
    }

    /// Every stored byte counts, whatever kind of record holds it: rejected feedback events and
    /// metadata were once stored uncounted (16 MB under a 1,000-byte quota).
    func testQuotasCountFeedbackOfEveryOutcomeAndMetadata() throws {
        var limits = PreferenceLimits()
        limits.maxBytesPerUser = 1000
        let s = try store(limits)
        let big = String(repeating: "x", count: 600)
        try s.recordFeedback(
            FeedbackEvent(requestID: "r1", task: "t", prompt: big, shown: "s", kept: "", outcome: .rejected), user: "u",
            owner: 1)
        XCTAssertThrowsError(
            try s.recordFeedback(
                FeedbackEvent(requestID: "r2", task: "t", prompt: big, shown: "s", kept: "", outcome: .rejected),
                user: "u", owner: 1)
        ) {
            guard case .quotaExceeded(user: "u", _)? = $0 as? PreferenceStoreError else { return XCTFail("\($0)") }
        }
        XCTAssertEqual(try s.counts(user: "u", owner: 1).feedback, 1)
        let meta = "{\"note\": \"\(String(repeating: "m", count: 600))\"}"
        XCTAssertThrowsError(
            try s.addHistory(
                [HistoryItem(id: "h", task: "t", input: "i", output: "o", metadata: meta)], user: "u", owner: 1)
        ) {
            guard case .quotaExceeded? = $0 as? PreferenceStoreError else { return XCTFail("\($0)") }
        }
        // Rejected events count as records too.
        var few = PreferenceLimits()
        few.maxItemsPerUser = 2
        let s2 = try PreferenceStore(path: dir + "/items.sqlite", limits: few)
        for i in 0..<2 {
            try s2.recordFeedback(
                FeedbackEvent(requestID: "r\(i)", task: "t", prompt: "p", shown: "s", kept: "", outcome: .rejected),
                user: "u", owner: 1)
        }
        XCTAssertThrowsError(
            try s2.recordFeedback(
                FeedbackEvent(requestID: "r9", task: "t", prompt: "p", shown: "s", kept: "", outcome: .rejected),
                user: "u", owner: 1))
    }

    /// Names are free to mint, so a uid's users and their bytes are bounded over all names.
    func testQuotasPerUIDSpanAllItsUserNames() throws {
        var limits = PreferenceLimits()
        limits.maxUsersPerUID = 3
        limits.maxBytesPerUID = 500
        let s = try store(limits)
        for i in 0..<3 {
            try s.addHistory([HistoryItem(id: "a", task: "t", input: "i", output: "o")], user: "u\(i)", owner: 7)
        }
        XCTAssertThrowsError(
            try s.addHistory([HistoryItem(id: "a", task: "t", input: "i", output: "o")], user: "u3", owner: 7)
        ) {
            XCTAssertEqual($0 as? PreferenceStoreError, .quotaExceeded(user: "u3", problem: "uid 7's quota of 3 users"))
        }
        XCTAssertEqual(try s.users(owner: 7), ["u0", "u1", "u2"])
        // Another uid has its own allowance.
        try s.addHistory([HistoryItem(id: "a", task: "t", input: "i", output: "o")], user: "u3", owner: 8)
        let text = String(repeating: "y", count: 200)
        try s.addHistory([HistoryItem(id: "b", task: "t", input: text, output: "o")], user: "u0", owner: 7)
        try s.addHistory([HistoryItem(id: "b", task: "t", input: text, output: "o")], user: "u1", owner: 7)
        XCTAssertThrowsError(
            try s.addHistory([HistoryItem(id: "b", task: "t", input: text, output: "o")], user: "u2", owner: 7)
        ) {
            guard case let .quotaExceeded(_, problem)? = $0 as? PreferenceStoreError else { return XCTFail("\($0)") }
            XCTAssertTrue(problem.contains("uid 7's quota of 500 bytes"), problem)
        }
    }

    /// Totals recorded by an older version (text only, no feedback) are recomputed by
    /// migration v4 under the rule that counts every byte.
    func testMigrationV4RecountsTheTotals() throws {
        let path = dir + "/old.sqlite"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let queue = try DatabaseQueue(path: path)
        try PreferenceStore.migrator.migrate(queue, upTo: "v3")
        try queue.write { db in
            try db.execute(
                sql: "INSERT INTO users (id, owner_uid, name, created_ms, items, bytes) VALUES (1, 1, 'u', 0, 1, 10)")
            try db.execute(sql: "INSERT INTO history VALUES (1, 'h', 'email', 'input', 'outpt', 'api', '{\"k\":1}', 0)")
            try db.execute(
                sql: "INSERT INTO feedback VALUES (1, 'r', 'email', 'p', 'shown', '', 'rejected', '', '', 0)")
        }
        try queue.close()
        let s = try PreferenceStore(path: path)
        // history: h + email + input + outpt + api + {"k":1} = 1+5+5+5+3+7; feedback: r + email + p
        // + shown + rejected = 1+5+1+5+8.
        XCTAssertEqual(try s.quotaTotals(user: "u", owner: 1), PreferenceStore.QuotaTotals(items: 2, bytes: 26 + 20))
        // New writes are counted by the same rule.
        try s.recordFeedback(
            FeedbackEvent(requestID: "r2", task: "email", prompt: "p", shown: "shown", kept: "", outcome: .rejected),
            user: "u", owner: 1)
        XCTAssertEqual(
            try s.quotaTotals(user: "u", owner: 1), PreferenceStore.QuotaTotals(items: 3, bytes: 26 + 20 + 21))
    }

    func testImportFormats() throws {
        let jsonl = Data(
            """
            {"id": "a1", "input": "abstract: A", "output": "Title A", "metadata": {"year": 2020}}

            {"id": 2, "task": "pep_abstract", "input": "title: B", "output": "Abstract B"}
            {"id": "p1", "prompt": "q", "chosen": "good", "rejected": "bad"}
            """.utf8)
        let parsed = try PreferenceImport.parse(jsonl, format: .jsonl, task: "pep_title")
        XCTAssertEqual(parsed.history.map(\.id), ["a1", "2"])
        XCTAssertEqual(parsed.history.map(\.task), ["pep_title", "pep_abstract"])
        XCTAssertEqual(parsed.history[0].metadata, "{\"year\":2020}")
        XCTAssertEqual(parsed.pairs.map(\.chosen), ["good"])
        XCTAssertThrowsError(
            try PreferenceImport.parse(Data("{\"id\": \"x\", \"input\": \"i\"}\n".utf8), format: .jsonl, task: "t")
        ) {
            XCTAssertEqual(
                $0 as? PreferenceStoreError, .malformedImport(record: "line 1", problem: "field 'output' is missing"))
        }
        XCTAssertThrowsError(try PreferenceImport.parse(Data([0x7B, 0xFF, 0x7D, 0x0A]), format: .jsonl, task: "t")) {
            XCTAssertEqual(
                $0 as? PreferenceStoreError, .malformedImport(record: "line 1", problem: "is not valid UTF-8"))
        }
        let questions = Data(
            #"[{"id": "110", "input": "Generate a title for: X"}, {"id": "111", "input": "Generate a title for: Y"}]"#
                .utf8)
        let outputs = Data(
            #"{"task": "LaMP_5", "golds": [{"id": "111", "output": "Y!"}, {"id": "110", "output": "X!"}]}"#.utf8)
        let lamp = try PreferenceImport.parse(questions, format: .lamp, task: "lamp5", outputs: outputs)
        XCTAssertEqual(lamp.history.map(\.output), ["X!", "Y!"])
        XCTAssertThrowsError(
            try PreferenceImport.parse(
                questions, format: .lamp, task: "lamp5",
                outputs: Data(#"{"golds": [{"id": "110", "output": "X!"}]}"#.utf8))
        ) {
            XCTAssertEqual(
                $0 as? PreferenceStoreError,
                .malformedImport(record: "[1] (id '111')", problem: "has no gold output in the outputs file"))
        }
    }

    /// The real per-user data sets of ../shared/data import whole and idempotently.
    func testSharedPerUserDataImports() throws {
        guard let root = TestPaths.shared?.appendingPathComponent("data/pep_title"),
            case let usersFile = root.appendingPathComponent("users.json"),
            FileManager.default.fileExists(atPath: usersFile.path)
        else {
            throw XCTSkip("../shared/data is absent: skipping the import of the shared per-user data")
        }
        let data = try Data(contentsOf: usersFile)
        let users = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        let first = try XCTUnwrap(users.first)
        let name = "\(first["user_id"]!)"
        let profile = try XCTUnwrap(first["profile"] as? [[String: Any]])
        let parsed = try PreferenceImport.parse(data, format: .perUser, task: "pep_title", user: name)
        XCTAssertEqual(parsed.history.count, profile.count)
        let s = try store()
        XCTAssertEqual(try s.addHistory(parsed.history, user: name, owner: 1), profile.count)
        XCTAssertEqual(try s.addHistory(parsed.history, user: name, owner: 1), 0)
        let others = try PreferenceImport.parse(
            Data(contentsOf: root.appendingPathComponent("user_others.json")), format: .perUser, task: "pep_title")
        XCTAssertGreaterThan(others.history.count, 100)
        // several users: name one
        XCTAssertThrowsError(try PreferenceImport.parse(data, format: .perUser, task: "pep_title"))
    }
}
