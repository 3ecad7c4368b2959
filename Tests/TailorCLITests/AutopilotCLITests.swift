import Foundation
import TailorTestSupport
import XCTest

/// The autopilot in a real tailord: data imported through the CLI starts a round by itself;
/// SIGKILL in the middle of it and a restart finish that round exactly once (one job, one
/// version per stage, one verdict); `tailor autopilot status` and `tailor adapters show`
/// report it.
final class AutopilotCLITests: DaemonTestCase {
    override var scratchName: String { "tailor-autopilot" }

    private func importHistory(_ n: Int, socket: String) throws {
        let path = dir + "/history.jsonl"
        let text = (0..<n).map {
            """
            {\"id\": \"h\($0)\", \"input\": \"change \($0 % 4) in file\($0 % 4).txt:\", \"output\": \"update \
            file\($0 % 4) notes\"}\n
            """
        }.joined()
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        let r = try BuiltProducts.tailor(["data", "import", "--socket", socket, "--user", "alice", "--task", "t", path])
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    /// The autopilot's job lines of `tailor jobs ls`.
    private func rounds(_ socket: String) throws -> [[Substring]] {
        let ls = try BuiltProducts.tailor(["jobs", "ls", "--socket", socket])
        return ls.stdout.split(separator: "\n").map { $0.split(separator: "\t") }.filter {
            $0.count > 4 && $0[1] == "cope (autopilot)"
        }
    }

    func testARoundKilledMidwayFinishesExactlyOnceAfterARestart() throws {
        let socket = dir + "/t.sock", config = dir + "/tailord.conf"
        let settings = """
            model = \(TestPaths.tinyModel())
            threads = 1
            autopilot_idle_seconds = 0
            autopilot_check_seconds = 0.2
            autopilot_power_supply_dir = /nonexistent
            autopilot_learning_rate = 0.3
            autopilot_epochs = 16
            autopilot_samples = 2

            """
        try Data(settings.utf8).write(to: URL(fileURLWithPath: config))
        let args = ["--socket", socket, "--state-dir", dir + "/state", "--config", config]
        try startDaemon(args, socket: socket)
        try importHistory(20, socket: socket)

        // The round starts by itself; kill the daemon once OPPU has passed a checkpoint.
        var killedAt = ""
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            if let r = try rounds(socket).first, r[4] == "running",
                let step = Int(r[5].split(separator: " ").last?.split(separator: "/").first ?? "0"),
                r[5].hasPrefix("oppu") ? step >= 12 : true
            {
                killedAt = "\(r[5])"
                break
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTAssertFalse(killedAt.isEmpty, "no autopilot round started")
        kill(daemon!.processIdentifier, SIGKILL)
        daemon!.waitUntilExit()

        try startDaemon(args, socket: socket)
        var finished: [Substring]?
        while Date() < deadline.addingTimeInterval(180) {
            if let r = try rounds(socket).first, ["succeeded", "failed", "cancelled"].contains(r[4]) {
                finished = r
                break
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        let round = try XCTUnwrap(finished, "the round did not finish after the restart (killed at \(killedAt))")
        XCTAssertEqual(round[4], "succeeded", round.joined(separator: " "))
        Thread.sleep(forTimeInterval: 1)  // five more looks: no second round
        XCTAssertEqual(try rounds(socket).count, 1, "exactly one round")

        let show = try BuiltProducts.tailor(["adapters", "show", "--socket", socket, "--user", "alice", "--task", "t"])
        XCTAssertEqual(show.status, 0, show.stderr)
        let id = String(round[0])
        let versions = show.stdout.split(separator: "\n").filter { $0.contains("job \(id)") }
        XCTAssertEqual(versions.count, 2, "one OPPU and one DPO version:\n\(show.stdout)")
        XCTAssertTrue(show.stdout.contains("autopilot verdicts"), show.stdout)
        XCTAssertTrue(show.stdout.contains("over base model on 4 held-out items"), show.stdout)

        let status = try BuiltProducts.tailor(["autopilot", "status", "--socket", socket])
        XCTAssertEqual(status.status, 0, status.stderr)
        XCTAssertTrue(status.stdout.contains("alice\tt\twaiting-for-data\t0/16"), status.stdout)
        XCTAssertTrue(status.stdout.contains(id + " succeeded"), status.stdout)
        let watch = try BuiltProducts.tailor(["jobs", "watch", "--json", "--socket", socket, id])
        let last = try XCTUnwrap(
            watch.stdout.split(separator: "\n").last.flatMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }, watch.stdout)
        XCTAssertEqual(last["resumed"] as? Int, 1, "the killed round resumed once")
        XCTAssertEqual(last["origin"] as? String, "autopilot")
    }
}
