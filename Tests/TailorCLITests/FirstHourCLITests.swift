import Foundation
import TailorTestSupport
import XCTest

/// The habits an Ollama or llama.cpp user brings, through the binaries: a prompt on standard
/// input, a negative temperature, "did you mean" for a mistyped command, headers on the
/// listings, `status --json`, plain progress lines when `train` is piped, and help texts that
/// show the defaults.
final class FirstHourCLITests: DaemonTestCase {
    private func cli(_ args: [String], input: Data? = nil) throws -> BuiltProducts.Output {
        try BuiltProducts.tailor(args, input: input)
    }

    func testOfflineHabits() throws {
        let model = TestPaths.tinyModel()
        let argument = try cli(["run", "--model", model, "-n", "6", "the quick brown fox"])
        let piped = try cli(["run", "--model", model, "-n", "6", "-"], input: Data("the quick brown fox".utf8))
        XCTAssertEqual(piped.status, 0, piped.stderr)
        XCTAssertEqual(piped.stdout, argument.stdout, "- reads the prompt from standard input")
        let negative = try cli(["run", "--model", model, "-n", "6", "--temperature", "-1", "the quick brown fox"])
        XCTAssertEqual(negative.status, 0, negative.stderr)
        XCTAssertEqual(negative.stdout, argument.stdout, "a temperature of 0 or less is greedy")

        // A bad adapter is a failure, not a usage mistake: no usage banner.
        let notPEFT = try cli(["run", "--model", model, "--lora", dir, "hi"])
        XCTAssertNotEqual(notPEFT.status, 0)
        XCTAssertEqual(
            notPEFT.stderr,
            "Error: \(dir) is not a PEFT adapter directory (adapter_config.json + adapter_model.safetensors)\n")

        let typo = try cli(["gnerate", "hi"])
        XCTAssertEqual(typo.status, 64)
        XCTAssertTrue(typo.stderr.contains("'gnerate' is not a tailor command. Did you mean 'generate'?"), typo.stderr)
        let nested = try cli(["adapters", "lsit"])
        XCTAssertTrue(nested.stderr.contains("Did you mean 'ls'?"), nested.stderr)
        XCTAssertTrue(try cli(["--version"]).stdout.hasPrefix("0."))

        let help = try cli(["train", "--help"]).stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        XCTAssertTrue(help.contains("LoRA rank (default: tam 16, oppu 8, dpo 8)"), help)
        XCTAssertTrue(help.contains("Peak learning rate (default: tam 0.0001, oppu 0.0001, dpo 5e-06)"), help)
        XCTAssertTrue(help.contains("Epochs (default: tam 3, oppu 2, dpo 1)"), help)
        XCTAssertTrue(help.contains("oppu --user's adapter (One PEFT Per User)"), help)
    }

    func testDaemonListingsStatusAndPipedTraining() throws {
        let socket = dir + "/f.sock", config = dir + "/tailord.conf"
        try Data("model = \(TestPaths.tinyModel())\nthreads = 1\ntraining_threads = 1\n".utf8).write(
            to: URL(fileURLWithPath: config))
        try startDaemon(["--socket", socket, "--state-dir", dir + "/state", "--config", config], socket: socket)
        let status = try cli(["status", "--socket", socket, "--json"])
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["models"] as? [String], ["llama"])
        XCTAssertEqual(object["socket"] as? String, socket)
        XCTAssertNotNil(object["version"] as? String)

        let data = dir + "/history.jsonl"
        try Data(
            (0..<6).map { "{\"id\": \"h\($0)\", \"input\": \"the theme \($0)\", \"output\": \"he the \($0)\"}\n" }
                .joined().utf8
        ).write(to: URL(fileURLWithPath: data))
        let train = try cli([
            "train", "oppu", "--socket", socket, "--user", "alice", "--task", "t", "--data", data, "--epochs", "1",
            "--batch", "2", "--max-tokens", "32",
        ])
        XCTAssertEqual(train.status, 0, train.stderr)
        let lines = train.stdout.split(separator: "\n")
        XCTAssertTrue(lines.allSatisfy { !$0.hasPrefix("{") && !$0.contains("\u{1B}") }, "plain lines in a pipe")
        XCTAssertTrue(lines.contains { $0.contains(" oppu 3/3  loss ") }, train.stdout)
        XCTAssertTrue(lines.last?.hasSuffix("succeeded: adapter version 1") ?? false, train.stdout)

        XCTAssertEqual(
            try cli(["models", "ls", "--socket", socket]).stdout.split(separator: "\n").first,
            "ID\tARCH\tPARAMS\tCONTEXT\tSHA256\tPATH")
        let adapters = try cli(["adapters", "ls", "--socket", socket]).stdout.split(separator: "\n")
        XCTAssertEqual(adapters.first, "KIND\tTASK\tUSER\tCURRENT\tRANK\tTARGETS\tSTAGE")
        XCTAssertTrue(adapters.last?.hasSuffix("\toppu") ?? false, "\(adapters)")
        XCTAssertEqual(
            try cli(["jobs", "ls", "--socket", socket]).stdout.split(separator: "\n").first,
            "ID\tKIND\tUSER\tTASK\tSTATE\tPROGRESS\tCREATED\tERROR")
    }

    /// Without a systemd session (no XDG_RUNTIME_DIR), `tailor daemon run` and the clients meet
    /// in /tmp/tailor-UID with no flags; a directory there that others may enter is refused.
    func testWithoutXDGRuntimeDirTheDaemonAndClientsMeetInTmp() throws {
        let fallback = "/tmp/tailor-\(getuid())"
        try XCTSkipIf(
            FileManager.default.fileExists(atPath: fallback + "/tailord.sock"),
            "a daemon of this user already uses \(fallback)")
        defer { try? FileManager.default.removeItem(atPath: fallback) }
        var env = ProcessInfo.processInfo.environment
        env["XDG_RUNTIME_DIR"] = nil
        env["TAILOR_SOCKET"] = nil
        func daemon() throws -> Process {
            let p = Process()
            p.executableURL = BuiltProducts.tailord
            p.arguments = [
                "--state-dir", dir + "/state", "--config", emptyConfig(), "--model", TestPaths.tinyModel(), "-t", "1",
            ]
            p.environment = env
            p.standardError = Pipe()
            try p.run()
            return p
        }
        func status() throws -> BuiltProducts.Output {
            let p = Process()
            p.executableURL = BuiltProducts.tailor
            p.arguments = ["status"]
            p.environment = env
            let out = Pipe()
            p.standardOutput = out
            p.standardError = Pipe()
            try p.run()
            let o = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return .init(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: "")
        }
        let p = try daemon()
        self.daemon = p
        var up: BuiltProducts.Output?
        for _ in 0..<200 {
            let s = try status()
            if s.status == 0 { up = s; break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTAssertTrue(up?.stdout.contains("models: llama") ?? false, "the client found the daemon in \(fallback)")
        var st = stat()
        XCTAssertEqual(lstat(fallback, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o700)
        p.terminate()
        p.waitUntilExit()

        chmod(fallback, 0o755)
        let refused = try daemon()
        let err = (refused.standardError as! Pipe).fileHandleForReading.readDataToEndOfFile()
        refused.waitUntilExit()
        XCTAssertNotEqual(refused.terminationStatus, 0)
        XCTAssertTrue(String(decoding: err, as: UTF8.self).contains("is not a directory of this user's alone"))
    }
}
