import Foundation
import TailorClient
import TailorStore
import TailorWire
import XCTest

@testable import TailorDaemon

/// Training jobs through the daemon on the tiny llama: TAM from other users, then CoPe (OPPU →
/// negatives → DPO) for one user; bad submissions; cancellation.
final class JobsServiceTests: XCTestCase {
    private func history(_ prefix: String, _ n: Int) -> [Preferences.HistoryItem] {
        (0..<n).map {
            Preferences.HistoryItem(
                id: "\(prefix)\($0)", task: "t", input: "the theme \($0) of", output: "he the \($0 % 3)")
        }
    }

    private func small(_ kind: String, _ user: String) -> Jobs.SubmitRequest {
        var r = Jobs.SubmitRequest(kind: kind, user: user, task: "t")
        r.parameters.epochs = 1
        r.parameters.batchSize = 2
        r.parameters.maxTokens = 48
        r.parameters.samples = 2
        r.parameters.maxNewTokens = 6
        r.parameters.learningRate = 1e-3
        r.checkpointEvery = 2
        return r
    }

    private func finish(_ c: TailorClient, _ id: String) async throws -> Jobs.Info {
        var last: Jobs.Info?
        var steps: [String: [UInt32]] = [:]
        for try await info in try c.watchJob(id) {
            last = info
            if info.state == "running" { steps[info.stage, default: []].append(info.step) }
        }
        for (stage, s) in steps { XCTAssertEqual(s, s.sorted(), "progress only moves forward within stage \(stage)") }
        return try XCTUnwrap(last)
    }

    func testTAMThenCoPePublishAdaptersAndStoreNegatives() async throws {
        let d = try await DaemonHarness()
        let c = try await d.client()
        _ = try await c.addHistory(history("a", 6), user: "alice")
        _ = try await c.addHistory(history("b", 8), user: "bob")
        let tam = try await c.submitJob(small("tam", "alice"))
        XCTAssertEqual(tam.state, "queued")
        let tamDone = try await finish(c, tam.id)
        XCTAssertEqual(tamDone.state, "succeeded", tamDone.error)
        XCTAssertEqual(tamDone.adapterVersion, 1)
        XCTAssertEqual(tamDone.totalSteps, 4)  // 8 of bob's items, batch 2, 1 epoch
        let taskInfo = try await c.adapter(AdapterRef(task: "t", kind: "task"))
        XCTAssertEqual(taskInfo.versions.first?.jobID, tam.id)
        XCTAssertEqual(taskInfo.versions.first?.rank, 16)
        XCTAssertNotNil(taskInfo.versions.first?.metrics["loss"])
        // The TAM's data (everyone but alice) is frozen per user under the job's id.
        XCTAssertEqual(
            try d.preferences.userSnapshots(jobID: "\(tam.id)/tam"), ["bob": (0..<8).map { "b\($0)" }.sorted()])

        let cope = try await c.submitJob(small("cope", "alice"))
        let copeDone = try await finish(c, cope.id)
        XCTAssertEqual(copeDone.state, "succeeded", copeDone.error)
        XCTAssertEqual(copeDone.stage, "dpo")
        let user = try await c.adapter(AdapterRef(user: "alice", task: "t", kind: "user"))
        XCTAssertEqual(user.versions.map(\.version), [1, 2], "OPPU then DPO")
        XCTAssertEqual(user.ref.version, 2)
        XCTAssertEqual(Set(user.versions.map(\.jobID)), [cope.id])
        let pairs = try await c.listData(Preferences.ListRequest(user: "alice", task: "t", kind: "pairs"))
        XCTAssertEqual(pairs.pairs.count, 6, "one synthetic negative per history item")
        XCTAssertTrue(pairs.pairs.allSatisfy { $0.source == "synthetic" && $0.id.hasPrefix("negative:") })
        // The snapshots froze the items each stage used.
        XCTAssertEqual(try d.preferences.snapshotItems(jobID: "\(cope.id)/oppu").history.count, 6)
        XCTAssertEqual(try d.preferences.snapshotItems(jobID: "\(cope.id)/dpo").pairs.count, 6)
        // The personalized adapters decode.
        var tokens = 0
        for try await e in try c.generate(
            GenerateRequest(model: "tiny", input: .prompt("the theme"), maxTokens: 4, user: "alice", task: "t"))
        {
            if case .token = e { tokens += 1 }
        }
        XCTAssertGreaterThan(tokens, 0)
        let listed = try await c.jobs(user: "alice")
        XCTAssertEqual(listed.map(\.id), [cope.id, tam.id])
        await d.stop()
    }

    func testBadSubmissionsAndFailuresAreNamed() async throws {
        let d = try await DaemonHarness()
        let c = try await d.client()
        _ = try await c.addHistory(history("a", 2), user: "alice")
        func status(_ r: Jobs.SubmitRequest) async -> Status? {
            do { _ = try await c.submitJob(r); return nil } catch let TailorClientError.status(s) { return s } catch {
                return nil
            }
        }
        var bad = small("poetry", "alice")
        let st1 = await status(bad)
        XCTAssertEqual(st1?.field, "kind")
        bad = small("oppu", "nobody")
        let st2 = await status(bad)
        XCTAssertEqual(st2?.field, "user")
        bad = small("oppu", "alice")
        bad.task = "nothing"
        let st3 = await status(bad)
        XCTAssertEqual(st3?.field, "task")
        bad = small("tam", "alice")
        let st4 = await status(bad)
        XCTAssertEqual(st4?.field, "task", "nobody else has data")
        bad = small("oppu", "alice")
        bad.parameters.targets = ["lm_head"]
        let st5 = await status(bad)
        XCTAssertEqual(st5?.field, "parameters")
        // DPO without the user's adapter: the job fails and says why.
        let dpo = try await c.submitJob(small("dpo", "alice"))
        let done = try await finish(c, dpo.id)
        XCTAssertEqual(done.state, "failed")
        XCTAssertTrue(done.error.contains("train oppu"), done.error)
        await d.stop()
    }

    func testCancelStopsARunningJob() async throws {
        let d = try await DaemonHarness()
        let c = try await d.client()
        _ = try await c.addHistory(history("a", 40), user: "alice")
        var r = small("oppu", "alice")
        r.parameters.epochs = 50
        let job = try await c.submitJob(r)
        for try await info in try c.watchJob(job.id) where info.state == "running" && info.step >= 1 { break }
        _ = try await c.cancelJob(job.id)
        let done = try await finish(c, job.id)
        XCTAssertEqual(done.state, "cancelled")
        XCTAssertLessThan(done.step, done.totalSteps)
        let again = try? await c.cancelJob(job.id)
        XCTAssertNil(again, "a final job cannot be cancelled")
        await d.stop()
    }
}
