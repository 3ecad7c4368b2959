import Foundation
import TailorTestSupport
import XCTest

/// The daemon as its users run it: the `tailord` binary (directly and socket-activated), and
/// the `tailor` client commands against it.
final class DaemonCLITests: DaemonTestCase {
    override var scratchName: String { "tailord-cli" }

    private func cli(_ args: [String]) throws -> BuiltProducts.Output { try BuiltProducts.tailor(args) }

    /// A command's private daemon (`tailor demo`'s) starts with --exit-with-parent and must end
    /// when that command is killed: before, a Ctrl-C'd demo left its tailord training on.
    func testExitWithParentEndsTheDaemonWhenItsParentDies() throws {
        let socket = dir + "/p.sock", pidFile = dir + "/pid"
        // A shell stands for the command: it starts the daemon and waits on it; it is then killed.
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = [
            "-c", "\"$0\" \"$@\" >/dev/null 2>&1 & echo $! > \(pidFile); wait", BuiltProducts.tailord.path, "--socket",
            socket,
            "--state-dir", dir + "/state", "--model", TestPaths.tinyModel(), "--threads", "1", "--config",
            emptyConfig(),
            "--exit-with-parent",
        ]
        shell.standardOutput = FileHandle.nullDevice
        shell.standardError = FileHandle.nullDevice
        try shell.run()
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, (try? BuiltProducts.tailor(["status", "--socket", socket]))?.status != 0 {
            Thread.sleep(forTimeInterval: 0.05)
        }
        let pid = try XCTUnwrap(
            pid_t(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        defer { kill(pid, SIGKILL) }
        XCTAssertEqual(kill(pid, 0), 0, "the daemon did not start")
        // Not waitUntilExit: Foundation notices a child's exit when its descendants let go of
        // the child's pipes too, so it would wait for the daemon. The daemon is orphaned at the
        // shell's death; its new parent may never reap it, so a zombie counts as ended.
        kill(shell.processIdentifier, SIGKILL)
        let gone = Date().addingTimeInterval(15)
        while Date() < gone, Self.isRunning(pid) { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertFalse(Self.isRunning(pid), "the orphaned daemon (pid \(pid)) is still running")
    }

    /// Whether `pid` exists and has not exited: kill(pid, 0) also succeeds for a zombie, which
    /// stays until its parent reaps it (and init in a container may never do so).
    static func isRunning(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return true }
        // "pid (comm) S ...": the state follows the command name, which may hold spaces.
        let state = stat[stat.index(after: close)...].drop(while: { $0 == " " }).first
        return state != "Z" && state != "X"
    }

    func testStatusModelsGenerateAndSIGTERM() throws {
        let socket = dir + "/t.sock"
        let p = try startDaemon(
            [
                "--socket", socket, "--state-dir", dir + "/state", "--model", TestPaths.tinyModel(),
                "--threads", "1", "--config", emptyConfig(),
            ], socket: socket)
        let status = try cli(["status", "--socket", socket])
        XCTAssertTrue(status.stdout.contains("models: llama"), status.stdout)
        let ls = try cli(["models", "ls", "--socket", socket])
        XCTAssertTrue(ls.stdout.hasPrefix("ID\tARCH\tPARAMS\tCONTEXT\tSHA256\tPATH\nllama\tllama\t"), ls.stdout)
        // Generation through the daemon prints what the offline command prints for the same
        // greedy request.
        let online = try cli(["generate", "--socket", socket, "-n", "8", "the quick brown fox"])
        XCTAssertEqual(online.status, 0, online.stderr)
        let offline = try cli(["run", "--model", TestPaths.tinyModel(), "-n", "8", "-t", "1", "the quick brown fox"])
        XCTAssertEqual(online.stdout, offline.stdout)
        // Load under another id, unload, and a typed error for a missing model.
        XCTAssertEqual(
            try cli(["models", "load", "--socket", socket, "--id", "second", TestPaths.tinyModel()]).status, 0)
        XCTAssertEqual(try cli(["models", "unload", "--socket", socket, "second"]).status, 0)
        let missing = try cli(["generate", "--socket", socket, "--model", "second", "hi"])
        XCTAssertNotEqual(missing.status, 0)
        // For people: the daemon's message, without the status code or the field path ...
        XCTAssertEqual(missing.stderr, "Error: no model with id 'second' is loaded\n")
        // ... which TAILOR_DEBUG=1 adds back.
        let debug = try BuiltProducts.tailor(
            ["generate", "--socket", socket, "--model", "second", "hi"], environment: ["TAILOR_DEBUG": "1"])
        XCTAssertTrue(debug.stderr.contains("NOT_FOUND: no model with id 'second' is loaded"), debug.stderr)
        // SIGTERM: a clean exit, and the socket file is gone.
        p.terminate()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: socket))
        let down = try cli(["status", "--socket", socket])
        XCTAssertNotEqual(down.status, 0)
        XCTAssertTrue(
            down.stderr.hasPrefix("Error: cannot reach tailord at \(socket): no socket there (is tailord running?)"),
            down.stderr)
    }

    func testAdaptersCommands() throws {
        let socket = dir + "/a.sock"
        let p = try startDaemon(
            [
                "--socket", socket, "--state-dir", dir + "/state", "--model", TestPaths.tinyModel(),
                "--threads", "1", "--config", emptyConfig(),
            ], socket: socket)
        let lora = TestPaths.repository("Tests/TailorEngineTests/Fixtures/lora").path
        func ok(_ args: [String]) throws -> String {
            let out = try cli(args + ["--socket", socket])
            XCTAssertEqual(out.status, 0, "\(args): \(out.stderr)")
            return out.stdout
        }
        XCTAssertEqual(try ok(["adapters", "ls"]), "no adapters\n")
        XCTAssertTrue(
            try ok(["adapters", "import", "--task", "email", lora + "/llama-task-peft"]).contains("as v1 (current)"))
        XCTAssertTrue(
            try ok(["adapters", "import", "--task", "email", "--user", "alice", lora + "/llama-user-peft"]).contains(
                "as v1"))
        let ls = try ok(["adapters", "ls"])
        XCTAssertTrue(ls.contains("task\temail\t-\tv1 of 1\tr=4"), ls)
        XCTAssertTrue(ls.contains("user\temail\talice\tv1 of 1\tr=2"), ls)
        let plain = try ok(["generate", "-n", "8", "the quick brown fox"])
        let personal = try ok(["generate", "-n", "8", "--user", "alice", "--task", "email", "the quick brown fox"])
        XCTAssertNotEqual(plain, personal)
        // Export reproduces the imported files; a second version, then a rollback to the first.
        XCTAssertTrue(
            try ok(["adapters", "export", "--task", "email", "--user", "alice", dir + "/out"]).contains("exported v1"))
        XCTAssertEqual(
            try Data(contentsOf: URL(fileURLWithPath: dir + "/out/adapter_model.safetensors")),
            try Data(contentsOf: URL(fileURLWithPath: lora + "/llama-user-peft/adapter_model.safetensors")))
        _ = try ok([
            "adapters", "export", "--task", "email", "--user", "alice", "--format", "gguf", dir + "/alice.gguf",
        ])
        XCTAssertTrue(
            try ok(["adapters", "import", "--task", "email", "--user", "alice", dir + "/alice.gguf"]).contains(
                "as v2 (current)"))
        XCTAssertEqual(
            try ok(["generate", "-n", "8", "--user", "alice", "--task", "email", "the quick brown fox"]), personal)
        XCTAssertTrue(try ok(["adapters", "rollback", "--task", "email", "--user", "alice"]).contains("now v1"))
        XCTAssertTrue(try ok(["adapters", "show", "--task", "email", "--user", "alice"]).contains("* v1"))
        XCTAssertTrue(
            try ok(["adapters", "rm", "--task", "email", "--user", "alice", "--version", "2"]).contains("deleted v2"))
        let refused = try cli(["adapters", "import", "--socket", socket, "--task", "email", lora + "/gemma3-task-peft"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(
            refused.stderr.contains("trained on a Gemma3ForCausalLM; the base model is a llama"), refused.stderr)
        XCTAssertTrue(try ok(["adapters", "rm", "--task", "email"]).contains("deleted the adapter"))
        p.terminate()
        p.waitUntilExit()
    }

    /// A personalized mode runs as asked or fails saying what to train; `--fallback` runs what
    /// exists and says so; `--verbose` names the mode and adapters; `adapters show` the stage.
    func testModesNeverSilentlyBecomeAnother() throws {
        let socket = dir + "/m.sock"
        let p = try startDaemon(
            [
                "--socket", socket, "--state-dir", dir + "/state", "--model", TestPaths.tinyModel(),
                "--threads", "1", "--config", emptyConfig(),
            ], socket: socket)
        defer {
            p.terminate()
            p.waitUntilExit()
        }
        let lora = TestPaths.repository("Tests/TailorEngineTests/Fixtures/lora").path
        func gen(_ args: [String]) throws -> BuiltProducts.Output {
            try cli(["generate", "--socket", socket, "-n", "4"] + args + ["the quick brown fox"])
        }
        let noTask = try gen(["--task", "email", "--mode", "tam"])
        XCTAssertNotEqual(noTask.status, 0)
        XCTAssertTrue(noTask.stderr.contains("tailor train tam --task email"), noTask.stderr)
        XCTAssertEqual(
            try cli(["adapters", "import", "--socket", socket, "--task", "email", lora + "/llama-task-peft"]).status, 0)
        for mode in ["cope", "oppu", ""] {
            let bob = try gen(["--user", "bob", "--task", "email"] + (mode.isEmpty ? [] : ["--mode", mode]))
            XCTAssertNotEqual(bob.status, 0, "mode '\(mode)' for a user with no adapter")
            XCTAssertEqual(bob.stdout, "")
            XCTAssertTrue(bob.stderr.contains("user 'bob' has no adapter for task 'email'"), bob.stderr)
        }
        let fell = try gen(["--user", "bob", "--task", "email", "--mode", "cope", "--fallback"])
        XCTAssertEqual(fell.status, 0, fell.stderr)
        XCTAssertFalse(fell.stdout.isEmpty)
        XCTAssertTrue(fell.stderr.contains("mode cope could not be served; ran tam"), fell.stderr)
        XCTAssertEqual(
            try cli([
                "adapters", "import", "--socket", socket, "--task", "email", "--user", "alice",
                lora + "/llama-user-peft",
            ]).status, 0)
        let verbose = try gen(["--user", "alice", "--task", "email", "--mode", "oppu", "--verbose"])
        XCTAssertEqual(verbose.status, 0, verbose.stderr)
        XCTAssertTrue(verbose.stderr.contains("mode oppu with task email v1, user alice/email v1"), verbose.stderr)
        let show = try cli(["adapters", "show", "--socket", socket, "--task", "email", "--user", "alice"])
        XCTAssertTrue(show.stdout.contains("* v1  import  "), show.stdout)
    }

    func testSocketActivation() throws {
        let activate = "/usr/bin/systemd-socket-activate"
        try XCTSkipUnless(
            FileManager.default.isExecutableFile(atPath: activate), "systemd-socket-activate is not installed")
        let socket = dir + "/act.sock"
        // One shell runs the activator, the client and the SIGTERM, so the daemon is not a
        // child Foundation's Process must track while other children come and go.
        let script = """
            set -u
            \(activate) -l \(socket) \(BuiltProducts.tailord.path) --socket \(dir)/unused.sock --state-dir \
            \(dir)/state \
                --model \(TestPaths.tinyModel()) --threads 1 --config \(emptyConfig()) 2>/dev/null &
            daemon=$!
            for i in $(seq 100); do [ -S \(socket) ] && break; sleep 0.05; done
            timeout 60 \(BuiltProducts.tailor.path) generate --socket \(socket) -n 3 hello > \(dir)/out.txt 2>&1
            echo "generate=$?"
            [ -e \(dir)/unused.sock ] && echo "fallback socket was bound"
            kill -TERM $daemon
            wait $daemon
            echo "daemon=$?"
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let generated = (try? String(contentsOfFile: dir + "/out.txt", encoding: .utf8)) ?? ""
        XCTAssertTrue(text.contains("generate=0"), text + generated)
        XCTAssertTrue(text.contains("daemon=0"), text)
        XCTAssertFalse(text.contains("fallback socket was bound"), text)
        XCTAssertFalse(generated.isEmpty)
    }

    func testNotifiesSystemdReadyWatchdogAndStopping() throws {
        // A datagram socket standing in for systemd's NOTIFY_SOCKET.
        let notify = dir + "/notify.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(notify.utf8)) }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        XCTAssertEqual(bound, 0)
        var tv = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        func receive() -> String? {
            var buf = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &buf, buf.count, 0)
            return n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : nil
        }
        let socket = dir + "/n.sock"
        let p = Process()
        p.executableURL = BuiltProducts.tailord
        p.arguments = ["--socket", socket, "--state-dir", dir + "/state", "--config", emptyConfig()]
        var env = ProcessInfo.processInfo.environment
        env["NOTIFY_SOCKET"] = notify
        env["WATCHDOG_USEC"] = "200000"
        p.environment = env
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        daemon = p
        var messages: [String] = []
        while let m = receive() {
            messages.append(m)
            if m.contains("READY=1") { break }
        }
        XCTAssertTrue(messages.contains { $0.contains("READY=1") && $0.contains("STATUS=") }, "\(messages)")
        // The watchdog pings at half of WATCHDOG_USEC.
        var pings = 0
        while pings < 2, let m = receive() { if m.contains("WATCHDOG=1") { pings += 1 } }
        XCTAssertEqual(pings, 2)
        p.terminate()
        var stopping = false
        while !stopping, let m = receive() { stopping = m.contains("STOPPING=1") }
        XCTAssertTrue(stopping)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
    }

    func testInstallWritesUserUnitsForThisBinary() throws {
        let config = dir + "/config/tailor/tailord.conf"
        func install(_ extra: [String], environment: [String: String] = [:]) throws -> BuiltProducts.Output {
            try BuiltProducts.tailor(
                [
                    "daemon", "install", "--user", "--no-enable", "--directory", dir + "/units", "--executable",
                    BuiltProducts.tailord.path, "--config", config,
                ] + extra, environment: environment)
        }
        // No model on the machine: the units are written, and a warning says what to do.
        let bare = try install([], environment: ["TAILOR_MODEL": dir + "/none.gguf"])
        XCTAssertEqual(bare.status, 0, bare.stderr)
        XCTAssertTrue(bare.stderr.contains("the daemon will start with none"), bare.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: config))
        let service = try String(contentsOfFile: dir + "/units/tailord.service", encoding: .utf8)
        XCTAssertTrue(service.contains("ExecStart=\(BuiltProducts.tailord.path) --mode user"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/units/tailord.socket"))
        // With a model, the config names it, and a daemon reading that config serves it.
        let out = try install([], environment: ["TAILOR_MODEL": TestPaths.tinyModel()])
        XCTAssertEqual(out.status, 0, out.stderr)
        XCTAssertEqual(
            try String(contentsOfFile: config, encoding: .utf8), "model = \(TestPaths.tinyModel())\n")
        let again = try install(["--model", dir + "/other.gguf"])
        XCTAssertTrue(again.stdout.contains("already names a model"), again.stdout)
        let socket = dir + "/i.sock"
        try startDaemon(
            ["--socket", socket, "--state-dir", dir + "/state", "--threads", "1", "--config", config], socket: socket)
        let generated = try cli(["generate", "--socket", socket, "-n", "2", "hi"])
        XCTAssertEqual(generated.status, 0, generated.stderr)
        XCTAssertNotEqual(try cli(["daemon", "install", "--no-enable"]).status, 0)  // --user is required
    }
}
