import Foundation
import TailorStore
import XCTest

/// The jobs table: a record round-trips every field, lists filter and order newest first,
/// `unfinished` is what a restart resumes (oldest first), an unknown id is a typed error, and
/// "forget me" deletes one user's jobs only. It lives in the preference database, so it
/// survives reopening.
final class JobStoreTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "tailor-jobs-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    private func job(_ id: String, user: String = "alice", task: String = "t", owner: UInt32 = 1000) -> JobRecord {
        JobRecord(id: id, owner: owner, user: user, task: task, kind: "cope", model: "m", request: #"{"kind":"cope"}"#)
    }

    func testRecordsRoundTripFilterAndResume() throws {
        let path = dir + "/tailor.sqlite"
        var store = JobStore(try PreferenceStore(path: path))
        let a = try store.create(job("job-a"))
        Thread.sleep(forTimeInterval: 0.002)  // distinct creation times
        _ = try store.create(job("job-b", user: "bob"))
        Thread.sleep(forTimeInterval: 0.002)
        var c = try store.create(job("job-c", task: "u", owner: 2000))
        XCTAssertEqual(a.state, .queued)
        XCTAssertGreaterThan(a.createdMS, 0)

        c.state = .running
        c.stage = "dpo"
        c.step = 3
        c.totalSteps = 8
        c.loss = 0.5
        c.tokensPerSecond = 120
        c.etaSeconds = 4
        c.adapterVersion = 2
        c.resumed = 1
        c.error = ""
        try store.update(c)
        var done = try store.get("job-b")
        done.state = .succeeded
        try store.update(done)

        store = JobStore(try PreferenceStore(path: path))  // reopened
        let back = try store.get("job-c")
        XCTAssertEqual(
            [back.stage, back.user, back.task, back.kind, back.request],
            ["dpo", "alice", "u", "cope", #"{"kind":"cope"}"#])
        XCTAssertEqual([back.step, back.totalSteps, back.resumed], [3, 8, 1])
        XCTAssertEqual([back.loss, back.tokensPerSecond, back.etaSeconds], [0.5, 120, 4])
        XCTAssertEqual(back.adapterVersion, 2)
        XCTAssertEqual(back.state, .running)
        XCTAssertGreaterThanOrEqual(back.updatedMS, back.createdMS)

        XCTAssertEqual(try store.list(owner: nil).map(\.id), ["job-c", "job-b", "job-a"], "newest first")
        XCTAssertEqual(try store.list(owner: 1000).map(\.id), ["job-b", "job-a"])
        XCTAssertEqual(try store.list(owner: 1000, user: "alice").map(\.id), ["job-a"])
        XCTAssertEqual(try store.list(owner: nil, task: "u").map(\.id), ["job-c"])
        XCTAssertEqual(try store.unfinished().map(\.id), ["job-a", "job-c"], "queued and running, oldest first")

        XCTAssertThrowsError(try store.get("job-x")) { XCTAssertEqual($0 as? JobStoreError, .notFound("job-x")) }
        XCTAssertThrowsError(try store.update(job("job-x"))) {
            XCTAssertEqual($0 as? JobStoreError, .notFound("job-x"))
        }

        try store.deleteJobs(owner: 1000, user: "alice")
        XCTAssertEqual(try store.list(owner: nil).map(\.id), ["job-c", "job-b"], "only owner 1000's alice")
    }
}
