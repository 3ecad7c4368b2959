import Foundation
import TailorStore
import XCTest

/// What the autopilot reads and writes in the stores: the user's own items by time (synthetic
/// negatives are not theirs), pauses with wildcards, candidates that never become current on
/// their own, and verdicts recorded beside a version.
final class AutopilotRecordsTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "tailor-autopilot-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func testOwnItemsAreHistoryAndTheUsersPairsNewestFirst() throws {
        let s = try PreferenceStore(path: dir + "/tailor.sqlite")
        try s.addHistory([HistoryItem(id: "h1", task: "t", input: "a", output: "A")], user: "ada", owner: 1)
        Thread.sleep(forTimeInterval: 0.003)
        let mark = Int64(Date().timeIntervalSince1970 * 1000)
        Thread.sleep(forTimeInterval: 0.003)
        try s.addPairs(
            [
                PreferencePair(
                    id: "negative:h1", task: "t", prompt: "a", chosen: "A", rejected: "x", source: .synthetic),
                PreferencePair(id: "p1", task: "t", prompt: "b", chosen: "B", rejected: "y", source: .explicit),
            ], user: "ada", owner: 1)
        Thread.sleep(forTimeInterval: 0.003)
        try s.recordFeedback(
            FeedbackEvent(requestID: "r1", task: "t", prompt: "c", shown: "C", kept: "C!", outcome: .edited),
            user: "ada", owner: 1)
        try s.recordFeedback(
            FeedbackEvent(requestID: "r2", task: "t", prompt: "d", shown: "D", kept: "", outcome: .rejected),
            user: "ada",
            owner: 1)
        try s.addHistory([HistoryItem(id: "o1", task: "other", input: "e", output: "E")], user: "ada", owner: 1)

        let all = try s.ownItems(user: "ada", owner: 1, task: "t")
        XCTAssertEqual(all.map(\.id), ["feedback:r1", "p1", "h1"], "no synthetic pair, no rejection, one task")
        XCTAssertEqual(all.first?.output, "C!", "an edit's output is what the user kept")
        XCTAssertEqual(try s.ownItems(user: "ada", owner: 1, task: "t", limit: 2).map(\.kind), [.pair, .pair])
        XCTAssertEqual(try s.ownItemCount(user: "ada", owner: 1, task: "t", afterMS: -1), 3)
        XCTAssertEqual(try s.ownItemCount(user: "ada", owner: 1, task: "t", afterMS: mark), 2)
        XCTAssertEqual(try s.ownItemCount(user: "nobody", owner: 1, task: "t", afterMS: -1), 0)
        XCTAssertEqual(try s.ownItems(user: "ada", owner: 2, task: "t"), [], "another uid's ada")
    }

    func testPausesCoverTheirScopeAndSurviveReopening() throws {
        let path = dir + "/tailor.sqlite"
        var pauses = AutopilotPauses(try PreferenceStore(path: path))
        try pauses.pause(.init(owner: 1, user: "ada"))
        try pauses.pause(.init(owner: 1, user: "ada"))  // twice: one row
        try pauses.pause(.init(owner: 1, task: "t"))
        try pauses.pause(.init(owner: 2))
        pauses = AutopilotPauses(try PreferenceStore(path: path))
        let mine = try pauses.list(owner: 1)
        XCTAssertEqual(mine.count, 2)
        XCTAssertTrue(mine.contains { $0.covers(owner: 1, user: "ada", task: "u") })
        XCTAssertTrue(mine.contains { $0.covers(owner: 1, user: "bob", task: "t") })
        XCTAssertFalse(mine.contains { $0.covers(owner: 1, user: "bob", task: "u") })
        XCTAssertEqual(try pauses.resume(.init(owner: 1, user: "bob", task: "u")), 0, "no pause covers bob/u")
        try pauses.forget(owner: 1, user: "ada")
        XCTAssertEqual(try pauses.list(owner: 1).map(\.task), ["t"])
        try pauses.pause(.init(owner: 1, user: "carol", task: "v"))
        XCTAssertEqual(
            try pauses.resume(.init(owner: 1, user: "bob", task: "t")), 1, "the pause covering bob/t is lifted")
        XCTAssertEqual(try pauses.resume(.init(owner: 1)), 1, "every pause of the owner is inside")
        XCTAssertEqual(try pauses.list(owner: nil).map(\.owner), [2])
    }

    func testCandidatesWaitForTheirVerdictAndTheVerdictIsKeptBesideThem() throws {
        let reg = AdapterRegistry(root: dir + "/adapters")
        let ada = AdapterKey(owner: 1, kind: .user, task: "t", user: "ada")
        let template = AdapterVersionRecord(
            baseModelSHA256: "m", baseArchitecture: "llama", rank: 4, alpha: 8, useRSLoRA: false, targets: ["q"],
            jobID: "job-1", stage: "dpo")
        let first = try reg.add(
            ada, record: template, configJSON: Array("{}".utf8), weights: [1], makeCurrent: false, candidate: true)
        XCTAssertEqual(try reg.entry(ada).current, 0, "a first candidate is not current")
        XCTAssertThrowsError(try reg.currentVersion(of: ada))
        let verdict = PromotionRecord(
            promoted: true, reason: "fine", baseline: "base model",
            candidate: HoldoutScores(rougeL: 0.3, logLikelihood: -2),
            current: HoldoutScores(rougeL: 0.1, logLikelihood: -3),
            heldOut: 4, decidedUnixMS: 7)
        try reg.recordPromotion(ada, version: first.version, verdict)
        try reg.setCurrent(ada, version: first.version)
        XCTAssertEqual(try reg.currentVersion(of: ada), 1)
        let second = try reg.add(
            ada, record: template, configJSON: Array("{}".utf8), weights: [2], makeCurrent: true, candidate: true)
        XCTAssertEqual(try reg.currentVersion(of: ada), 1, "a candidate never moves the pointer")
        let e = try reg.entry(ada)
        XCTAssertEqual(e.versions.first?.promotion, verdict)
        XCTAssertNil(e.versions.last?.promotion)
        XCTAssertEqual(try reg.read(ada, version: second.version).weights, [2], "the weights are untouched")
        XCTAssertThrowsError(try reg.recordPromotion(ada, version: 9, verdict))
        // An ordinary version after rejected candidates becomes current.
        let plain = AdapterKey(owner: 1, kind: .user, task: "t", user: "bob")
        _ = try reg.add(plain, record: template, configJSON: [], weights: [3], makeCurrent: false, candidate: true)
        _ = try reg.add(plain, record: template, configJSON: [], weights: [4], makeCurrent: false)
        XCTAssertEqual(try reg.currentVersion(of: plain), 2)
    }
}

extension AutopilotRecordsTests {
    /// Rejected candidates pile up after the current version; collecting them keeps what the
    /// modes serve: the current DPO version and the OPPU version before it.
    func testGarbageCollectionKeepsWhatTheModesServe() throws {
        let reg = AdapterRegistry(root: dir + "/adapters", keepVersions: 2)
        let ada = AdapterKey(owner: 1, kind: .user, task: "t", user: "ada")
        func add(_ stage: String, candidate: Bool) throws {
            let record = AdapterVersionRecord(
                baseModelSHA256: "m", baseArchitecture: "llama", rank: 4, alpha: 8, useRSLoRA: false, targets: ["q"],
                stage: stage)
            _ = try reg.add(ada, record: record, configJSON: [], weights: [1], makeCurrent: true, candidate: candidate)
        }
        try add("oppu", candidate: false)  // v1
        try add("dpo", candidate: false)  // v2, current
        for _ in 0..<3 {
            try add("oppu", candidate: true)
            try add("dpo", candidate: true)
        }
        XCTAssertEqual(try reg.entry(ada).versions.map(\.version), [1, 2, 7, 8])
        XCTAssertEqual(try reg.currentVersion(of: ada), 2)
    }
}
