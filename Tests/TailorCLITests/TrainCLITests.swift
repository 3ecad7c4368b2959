import Foundation
import TailorTestSupport
import XCTest

/// `tailor train` and `tailor jobs`: offline on files, and through a real tailord that is killed
/// mid-job and must resume from its checkpoint.
final class TrainCLITests: DaemonTestCase {
    override var scratchName: String { "tailor-train" }

    private func history(_ n: Int) throws -> String {
        let path = dir + "/history.jsonl"
        let text = (0..<n).map {
            "{\"id\": \"h\($0)\", \"input\": \"the theme \($0) of\", \"output\": \"he the \($0 % 3)\"}\n"
        }.joined()
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testOfflineOPPUAndCoPeWriteAdapters() throws {
        let data = try history(6)
        let small = [
            "--epochs", "1", "--batch", "2", "--max-tokens", "48", "--samples", "2", "--max-new-tokens", "4", "-t", "1",
        ]
        let oppu = try BuiltProducts.tailor(
            [
                "train", "oppu", "--offline", "--model", TestPaths.tinyModel(), "--task", "t", "--data", data,
                "--out", dir + "/oppu",
            ] + small)
        XCTAssertEqual(oppu.status, 0, oppu.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/oppu/adapter_model.safetensors"))
        // Not a terminal: one JSON object per step on stdout.
        let steps = oppu.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        XCTAssertEqual(steps.count, 3)
        XCTAssertEqual(steps.last?["total_steps"] as? Int, 3)
        let run = try BuiltProducts.tailor([
            "run", "--model", TestPaths.tinyModel(), "--lora", dir + "/oppu", "-n", "3", "-t", "1", "the theme",
        ])
        XCTAssertEqual(run.status, 0, run.stderr)
        let cope = try BuiltProducts.tailor(
            [
                "train", "cope", "--offline", "--model", TestPaths.tinyModel(), "--task", "t", "--data", data,
                "--out", dir + "/cope",
            ] + small)
        XCTAssertEqual(cope.status, 0, cope.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/cope/adapter_config.json"))
        let negatives = try String(contentsOfFile: dir + "/cope.negatives.jsonl", encoding: .utf8)
        XCTAssertEqual(negatives.split(separator: "\n").count, 6)
        let bad = try BuiltProducts.tailor(["train", "poetry", "--offline", "--task", "t"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("kind must be"), bad.stderr)
    }

    /// `--prefill-path` sets an offline run's path over `TAILOR_PREFILL_PATH`: forced to float
    /// with the environment saying integer, the adapter is byte for byte the one a float
    /// environment trains, and not the integer one (whose frozen products round the
    /// activations to int16). A bad spelling, or the option without --offline, is refused.
    func testOfflinePrefillPathOption() throws {
        let data = try history(4)
        func adapter(_ name: String, _ env: String, _ extra: [String]) throws -> Data {
            let r = try BuiltProducts.tailor(
                [
                    "train", "oppu", "--offline", "--model", TestPaths.tinyModel(), "--task", "t", "--data", data,
                    "--out", dir + "/" + name, "--epochs", "1", "--batch", "2", "--max-tokens", "48", "-t", "1",
                ] + extra, environment: ["TAILOR_PREFILL_PATH": env])
            XCTAssertEqual(r.status, 0, r.stderr)
            return try Data(contentsOf: URL(fileURLWithPath: dir + "/\(name)/adapter_model.safetensors"))
        }
        let forced = try adapter("forced", "integer", ["--prefill-path", "float"])
        XCTAssertEqual(forced, try adapter("float", "float", []))
        XCTAssertNotEqual(forced, try adapter("integer", "integer", []))
        let bad = try BuiltProducts.tailor(["train", "oppu", "--offline", "--task", "t", "--prefill-path", "fast"])
        XCTAssertTrue(bad.stderr.contains("--prefill-path must be one of auto, float, integer, bf16"), bad.stderr)
        let online = try BuiltProducts.tailor(["train", "oppu", "--task", "t", "--prefill-path", "float"])
        XCTAssertNotEqual(online.status, 0)
        XCTAssertTrue(online.stderr.contains("offline run's path"), online.stderr)
    }

    /// What other trainers are checked by (tailor_cluster's tests): `--print-examples` prints the
    /// trainer's sequences, `--candidates` every negative sample with its reward and the one kept,
    /// `run --json` the generated ids, `logits --lora` the adapted logits.
    func testOfflineHooksPrintWhatTheTrainerReads() throws {
        let data = try history(6)
        let model = TestPaths.tinyModel()
        func json(_ line: Substring) throws -> [String: Any] {
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
        func tokens(_ text: String, special: Bool) throws -> [Int] {
            let r = try BuiltProducts.tailor(
                ["tokenize", "--model", model, "--json", "--text", text] + (special ? [] : ["--no-special"]))
            XCTAssertEqual(r.status, 0, r.stderr)
            return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [Int])
        }
        let printed = try BuiltProducts.tailor([
            "train", "oppu", "--offline", "--model", model, "--task", "t", "--data", data, "--print-examples",
        ])
        XCTAssertEqual(printed.status, 0, printed.stderr)
        let rows = try printed.stdout.split(separator: "\n").map(json)
        XCTAssertEqual(rows.count, 6)
        let prompt = try tokens("the theme 0 of", special: true), output = try tokens("he the 0", special: false)
        XCTAssertEqual(rows[0]["input_ids"] as? [Int], prompt + output + [261])  // 261: the tiny model's EOS
        XCTAssertEqual(
            rows[0]["completion_mask"] as? [Int],
            Array(repeating: 0, count: prompt.count) + Array(repeating: 1, count: output.count + 1))
        let refused = try BuiltProducts.tailor([
            "train", "negatives", "--offline", "--model", model, "--task", "t", "--data", data, "--print-examples",
        ])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("prints one training stage"), refused.stderr)

        let oppu = try BuiltProducts.tailor([
            "train", "oppu", "--offline", "--model", model, "--task", "t", "--data", data, "--out", dir + "/oppu",
            "--epochs", "1", "-t", "1",
        ])
        XCTAssertEqual(oppu.status, 0, oppu.stderr)
        let negatives = try BuiltProducts.tailor([
            "train", "negatives", "--offline", "--model", model, "--task", "t", "--data", data, "--user-adapter",
            dir + "/oppu", "--out", dir + "/pairs.jsonl", "--candidates", dir + "/samples.jsonl", "--samples", "3",
            "--max-new-tokens", "4", "-t", "1",
        ])
        XCTAssertEqual(negatives.status, 0, negatives.stderr)
        let samples = try String(contentsOfFile: dir + "/samples.jsonl", encoding: .utf8).split(separator: "\n")
            .map(json)
        let pairs = try String(contentsOfFile: dir + "/pairs.jsonl", encoding: .utf8).split(separator: "\n").map(json)
        XCTAssertEqual(samples.count, 6)
        var kept: [String] = []
        for line in samples {
            let list = try XCTUnwrap(line["samples"] as? [[String: Any]])
            XCTAssertTrue((1...3).contains(list.count))
            let rewards = list.compactMap { $0["reward"] as? Double }
            XCTAssertEqual(rewards, rewards.sorted(), "lowest reward first")
            if let k = line["kept"] as? Int { kept.append(try XCTUnwrap(list[k]["text"] as? String)) }
        }
        XCTAssertEqual(pairs.compactMap { $0["rejected"] as? String }, kept, "the kept samples are the negatives")
        let online = try BuiltProducts.tailor(["train", "negatives", "--task", "t", "--candidates", dir + "/x"])
        XCTAssertNotEqual(online.status, 0)
        XCTAssertTrue(online.stderr.contains("--candidates writes an offline negatives stage"), online.stderr)

        let run = try BuiltProducts.tailor([
            "run", "--model", model, "--lora", dir + "/oppu", "-n", "5", "-t", "1", "--json", "the theme",
        ])
        XCTAssertEqual(run.status, 0, run.stderr)
        let result = try json(Substring(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        let generated = try XCTUnwrap(result["tokens"] as? [Int])
        let finish = try XCTUnwrap(result["finish_reason"] as? String)
        XCTAssertTrue(finish == "length" ? generated.count == 5 : (0..<5).contains(generated.count), "\(result)")
        XCTAssertEqual(result["prompt_tokens"] as? Int, try tokens("the theme", special: true).count)
        func top(_ lora: [String]) throws -> String {
            let r = try BuiltProducts.tailor(["logits", "--model", model, "--tokens", "5,67,120"] + lora)
            XCTAssertEqual(r.status, 0, r.stderr)
            return r.stdout
        }
        XCTAssertNotEqual(try top([]), try top(["--lora", dir + "/oppu"]), "the adapter changes the logits")
    }

    /// One thread, and the float prefill path for the training graph's frozen products: left
    /// to measure, each process times the paths on the tiny model, where float and bf16 take
    /// the same 0.2 ms, and two processes can choose differently and round differently.
    static let daemonConfig =
        "model = \(TestPaths.tinyModel())\nthreads = 1\ntraining_threads = 1\nprefill_path = float\n"

    /// The daemon's cope job and `tailor train --offline` run one pipeline: from the same data,
    /// seed and thread count they write bit-identical adapters (OPPU, negatives, DPO).
    func testDaemonJobAndOfflineRunWriteIdenticalAdapters() throws {
        let data = try history(6)
        let small = ["--epochs", "1", "--batch", "2", "--max-tokens", "48", "--samples", "2", "--max-new-tokens", "4"]
        let offline = try BuiltProducts.tailor(
            [
                "train", "cope", "--offline", "--model", TestPaths.tinyModel(), "--task", "t", "--data", data,
                "--out", dir + "/offline", "-t", "1", "--prefill-path", "float",
            ] + small)
        XCTAssertEqual(offline.status, 0, offline.stderr)

        let socket = dir + "/t.sock", config = dir + "/tailord.conf"
        try Data(Self.daemonConfig.utf8).write(to: URL(fileURLWithPath: config))
        try startDaemon(
            ["--socket", socket, "--state-dir", dir + "/state", "--config", config],
            socket: socket)
        let job = try BuiltProducts.tailor(
            ["train", "cope", "--socket", socket, "--user", "alice", "--task", "t", "--data", data] + small)
        XCTAssertEqual(job.status, 0, job.stderr)
        let export = try BuiltProducts.tailor([
            "adapters", "export", "--socket", socket, "--task", "t", "--user", "alice", dir + "/job",
        ])
        XCTAssertEqual(export.status, 0, export.stderr)

        let weights = "/adapter_model.safetensors"
        let a = try Data(contentsOf: URL(fileURLWithPath: dir + "/offline" + weights))
        let b = try Data(contentsOf: URL(fileURLWithPath: dir + "/job" + weights))
        XCTAssertGreaterThan(a.count, 1000)
        XCTAssertEqual(a, b, "the job's DPO adapter differs from the offline run's")
    }

    /// The reference scores the negatives stage keeps with its pairs hold only for the π_base
    /// they were computed under: once a task adapter is trained, a DPO job over those pairs
    /// computes its own, and so writes the adapter an offline DPO run, which has no stored
    /// scores, writes from the same pairs and adapters.
    func testDPOAfterANewTaskAdapterComputesItsOwnReferences() throws {
        let data = try history(6)
        let small = ["--epochs", "1", "--batch", "2", "--max-tokens", "48", "--samples", "2", "--max-new-tokens", "4"]
        let socket = dir + "/t.sock", config = dir + "/tailord.conf"
        try Data(Self.daemonConfig.utf8).write(to: URL(fileURLWithPath: config))
        try startDaemon(["--socket", socket, "--state-dir", dir + "/state", "--config", config], socket: socket)
        func tailor(_ args: [String]) throws {
            let r = try BuiltProducts.tailor(args)
            XCTAssertEqual(r.status, 0, "\(args.prefix(2)): \(r.stderr)")
        }
        let online = ["--socket", socket, "--task", "t"]
        // alice's synthetic pairs and their scores, under no task adapter; then a task adapter
        // (from alice's items, bob being the user it leaves out) changes π_base.
        try tailor(["train", "cope", "--user", "alice", "--data", data] + online + small)
        try tailor(["train", "tam", "--user", "bob", "--data", data] + online + small)
        try tailor(["adapters", "export", "--socket", socket, "--task", "t", dir + "/task"])
        try tailor(["adapters", "export", "--user", "alice", "--socket", socket, "--task", "t", dir + "/start"])
        try tailor([
            "data", "export", "--user", "alice", "--socket", socket, "--task", "t", "--output", dir + "/a.jsonl",
        ])
        XCTAssertTrue(try String(contentsOfFile: dir + "/a.jsonl", encoding: .utf8).contains("\"rejected\""))
        try tailor(["train", "dpo", "--user", "alice"] + online + small)
        try tailor(["adapters", "export", "--user", "alice", "--socket", socket, "--task", "t", dir + "/job"])
        try tailor(
            [
                "train", "dpo", "--offline", "--model", TestPaths.tinyModel(), "--task", "t", "--data",
                dir + "/a.jsonl", "--task-adapter", dir + "/task", "--user-adapter", dir + "/start", "--out",
                dir + "/offline", "-t", "1", "--prefill-path", "float",
            ] + small)
        let weights = "/adapter_model.safetensors"
        let job = try Data(contentsOf: URL(fileURLWithPath: dir + "/job" + weights))
        XCTAssertNotEqual(job, try Data(contentsOf: URL(fileURLWithPath: dir + "/start" + weights)), "DPO trained")
        XCTAssertEqual(job, try Data(contentsOf: URL(fileURLWithPath: dir + "/offline" + weights)))
    }

    /// SIGKILL during a job: after a restart the job resumes from its last checkpoint (it does not
    /// start over) and publishes its adapter.
    func testAJobResumesFromItsCheckpointAfterSIGKILL() throws {
        let socket = dir + "/t.sock"
        let config = dir + "/tailord.conf"
        try Data("model = \(TestPaths.tinyModel())\nthreads = 1\n".utf8).write(to: URL(fileURLWithPath: config))
        let args = ["--socket", socket, "--state-dir", dir + "/state", "--config", config]
        try startDaemon(args, socket: socket)
        let data = try history(20)
        let submit = try BuiltProducts.tailor([
            "train", "oppu", "--socket", socket, "--user", "alice", "--task", "t", "--data", data,
            "--epochs", "12", "--batch", "2", "--max-tokens", "48", "--checkpoint-every", "5", "--no-wait",
        ])
        XCTAssertEqual(submit.status, 0, submit.stderr)
        let id = submit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(id.hasPrefix("job-"), submit.stdout)
        // Wait until it has passed a checkpoint, then kill it.
        var step = 0
        let deadline = Date().addingTimeInterval(60)
        while step < 12, Date() < deadline {
            let ls = try BuiltProducts.tailor(["jobs", "ls", "--socket", socket])
            if let line = ls.stdout.split(separator: "\n").first(where: { $0.hasPrefix(id) }),
                let progress = line.split(separator: "\t").dropFirst(5).first?.split(separator: " ").last?.split(
                    separator: "/"
                ).first
            {
                step = Int(progress) ?? 0
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTAssertGreaterThanOrEqual(step, 12)
        kill(daemon!.processIdentifier, SIGKILL)
        daemon!.waitUntilExit()
        XCTAssertTrue(
            (try? FileManager.default.contentsOfDirectory(atPath: dir + "/state/jobs"))?.contains("\(id)-oppu.ckpt")
                ?? false)

        try startDaemon(args, socket: socket)
        let watch = try BuiltProducts.tailor(["jobs", "watch", "--socket", socket, "--json", id])
        XCTAssertEqual(watch.status, 0, watch.stderr + watch.stdout.suffix(500))
        let events = watch.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let first = try XCTUnwrap(events.first)
        XCTAssertEqual(first["resumed"] as? Int, 1)
        XCTAssertGreaterThanOrEqual(first["step"] as? Int ?? 0, 10, "resumed from the checkpoint, not from step 0")
        XCTAssertEqual(events.last?["state"] as? String, "succeeded")
        XCTAssertEqual(events.last?["step"] as? Int, events.last?["total_steps"] as? Int)
        XCTAssertFalse(
            (try? FileManager.default.contentsOfDirectory(atPath: dir + "/state/jobs"))?.contains("\(id)-oppu.ckpt")
                ?? true,
            "the checkpoint goes once the adapter is published")
        let adapters = try BuiltProducts.tailor(["adapters", "ls", "--socket", socket])
        XCTAssertTrue(adapters.stdout.contains("user\tt\talice\tv1"), adapters.stdout)
    }
}
