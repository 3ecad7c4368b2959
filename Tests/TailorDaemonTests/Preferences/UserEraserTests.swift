import Foundation
import TailorStore
import TailorTestSupport
import XCTest

@testable import TailorDaemon

/// "Forget me" on its own: the user's data, adapters, job records and the checkpoints that hold
/// weights trained on their text all go; another user's stay; a second call finds nothing.
final class UserEraserTests: XCTestCase {
    func testEraseRemovesEverythingOfTheUserAndNothingElse() async throws {
        let d = try await DaemonHarness()
        let c = d.components
        let owner = geteuid()
        for user in ["alice", "bob"] {
            _ = try c.preferences.addHistory(
                [HistoryItem(id: "h1", task: "t", input: "a", output: "b")], user: user, owner: owner)
            _ = try c.preferences.addPairs(
                [PreferencePair(id: "p1", task: "t", prompt: "a", chosen: "b", rejected: "c")], user: user, owner: owner
            )
        }
        let dir = TestPaths.fixtures.appendingPathComponent("lora/llama-user-peft")
        let config = [UInt8](try Data(contentsOf: dir.appendingPathComponent("adapter_config.json")))
        let weights = [UInt8](try Data(contentsOf: dir.appendingPathComponent("adapter_model.safetensors")))
        let key = AdapterKey(owner: owner, kind: .user, task: "t", user: "alice")
        let record = AdapterVersionRecord(
            baseModelSHA256: "x", baseArchitecture: "llama", rank: 2, alpha: 2, useRSLoRA: true,
            targets: [], jobID: "job-a", stage: "oppu")
        _ = try d.registry.add(key, record: record, configJSON: config, weights: weights, makeCurrent: true)
        var job = JobRecord(
            id: "job-a", owner: owner, user: "alice", task: "t", kind: "oppu", model: "tiny", request: "{}")
        job.state = .cancelled
        _ = try c.runner.jobs.create(job)
        let checkpoint = c.runner.environment.checkpointDirectory + "/job-a-oppu.ckpt"
        XCTAssertTrue(FileManager.default.createFile(atPath: checkpoint, contents: Data([1, 2, 3])))

        let eraser = UserEraser(store: c.preferences, registry: d.registry, cache: c.cache, runner: c.runner)
        let erased = try eraser.erase(user: "alice", owner: owner)
        XCTAssertEqual(erased.adapters, 1)
        XCTAssertEqual([erased.data.history, erased.data.pairs], [1, 1])
        XCTAssertFalse(try c.preferences.hasUser("alice", owner: owner))
        XCTAssertTrue(d.registry.list(owner: owner, user: "alice").isEmpty)
        XCTAssertTrue(try c.runner.jobs.list(owner: owner, user: "alice").isEmpty)
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: checkpoint), "the checkpoint held weights trained on her text")
        XCTAssertEqual(try c.preferences.history(user: "bob", owner: owner).count, 1)
        XCTAssertThrowsError(try eraser.erase(user: "alice", owner: owner)) { e in
            XCTAssertEqual(e as? PreferenceStoreError, .unknownUser("alice"))
        }
        await d.stop()
    }
}
