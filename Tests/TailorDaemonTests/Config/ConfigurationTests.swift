import ArgumentParser
import Foundation
import TailorEngine
import TailorStore
import TailorTestSupport
import XCTest

@testable import TailorDaemon

final class ConfigurationTests: XCTestCase {
    func testConfigFileIsReadAndFlagsOverrideIt() throws {
        let dir = NSTemporaryDirectory() + "tailor-conf-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/tailord.conf"
        try """
        # tailord settings
        mode = system
        socket = "/run/custom/t.sock"   # quoted values are fine
        state_dir = /var/lib/custom
        model = /models/a.gguf
        model = /models/b.gguf
        threads = 3
        slots = 2
        context = 1024
        max_streams = 8
        shutdown_grace_seconds = 4
        max_field_bytes = 4096
        max_items_per_user = 500
        max_bytes_per_user = 1000000
        max_import_bytes = 2000000
        import_batch = 250
        log_level = debug
        prefill_path = integer
        """.write(toFile: file, atomically: true, encoding: .utf8)

        let fromFile = try DaemonOptions.parse(["--config", file]).resolve(environment: [:])
        XCTAssertEqual(fromFile.mode, .system)
        XCTAssertEqual(fromFile.socket, "/run/custom/t.sock")
        XCTAssertEqual(fromFile.stateDirectory, "/var/lib/custom")
        XCTAssertEqual(fromFile.preferences.maxFieldBytes, 4096)
        XCTAssertEqual(fromFile.preferences.maxItemsPerUser, 500)
        XCTAssertEqual(fromFile.preferences.maxBytesPerUser, 1_000_000)
        XCTAssertEqual(fromFile.preferences.maxImportBytes, 2_000_000)
        XCTAssertEqual(fromFile.preferences.importBatch, 250)
        XCTAssertEqual(fromFile.models, ["/models/a.gguf", "/models/b.gguf"])
        XCTAssertEqual(fromFile.generation.threads, 3)
        XCTAssertEqual(fromFile.generation.slots, 2)
        XCTAssertEqual(fromFile.generation.contextLength, 1024)
        XCTAssertEqual(fromFile.limits.maxStreams, 8)
        XCTAssertEqual(fromFile.shutdownGrace, .seconds(4))
        XCTAssertEqual(fromFile.logLevel, .debug)
        XCTAssertEqual(fromFile.generation.prefillPath, .forced(.integer))

        let flags = try DaemonOptions.parse([
            "--config", file, "--mode", "user", "--socket", "/tmp/x.sock", "--threads", "1",
            "--model", "/m/c.gguf", "--state-dir", "/tmp/state", "--prefill-path", "auto",
        ]).resolve(environment: [:])
        XCTAssertEqual(flags.generation.prefillPath, .measured)
        XCTAssertEqual(flags.mode, .user)
        XCTAssertEqual(flags.socket, "/tmp/x.sock")
        XCTAssertEqual(flags.stateDirectory, "/tmp/state")
        XCTAssertEqual(flags.generation.threads, 1)
        XCTAssertEqual(flags.models, ["/m/c.gguf"])
        XCTAssertEqual(flags.generation.slots, 2)  // not overridden
    }

    /// The limits that keep clients from starving each other are configurable, and a system
    /// daemon fills in per-uid shares where none is set (a user daemon keeps none).
    func testHardeningKeysAndSystemModeShares() throws {
        var c = DaemonConfiguration()
        try c.apply(
            configFile: """
                max_connections = 100
                hello_timeout_seconds = 2
                idle_timeout_seconds = 60
                max_queued_per_uid = 5
                max_jobs = 9
                max_users_per_uid = 12
                max_bytes_per_uid = 4096
                http_header_timeout_seconds = 3
                http_body_timeout_seconds = 4
                max_buffered_upload_bytes = 2097152
                max_pending_write_bytes = 131072
                """, path: "t.conf")
        XCTAssertEqual(c.limits.maxBufferedUploadBytes, 2 << 20)
        XCTAssertEqual(c.limits.maxPendingWriteBytes, 128 << 10)
        XCTAssertEqual(c.limits.maxConnections, 100)
        XCTAssertEqual(c.limits.helloTimeout, .seconds(2))
        XCTAssertEqual(c.limits.idleTimeout, .seconds(60))
        XCTAssertEqual(c.generation.maxQueuedPerUID, 5)
        XCTAssertEqual(c.maxJobs, 9)
        XCTAssertEqual(c.preferences.maxUsersPerUID, 12)
        XCTAssertEqual(c.preferences.maxBytesPerUID, 4096)
        XCTAssertEqual(c.http.headerTimeout, .seconds(3))
        XCTAssertEqual(c.http.bodyTimeout, .seconds(4))
        XCTAssertNil(c.withModeShares().limits.maxConnectionsPerUID, "a user daemon has no per-uid share")
        c.mode = .system
        let system = c.withModeShares()
        XCTAssertEqual(system.limits.maxConnectionsPerUID, DaemonConfiguration.systemShares.connections)
        XCTAssertEqual(system.generation.maxQueuedPerUID, 5, "a configured share is kept")
        XCTAssertEqual(system.maxJobsPerUID, DaemonConfiguration.systemShares.jobs)
        try c.apply(configFile: "idle_timeout_seconds = 0", path: "t.conf")
        XCTAssertNil(c.limits.idleTimeout)
        XCTAssertThrowsError(try c.apply(configFile: "hello_timeout_seconds = 0", path: "t.conf"))
    }

    /// docs/tailord.conf.sample names every key with a valid value: uncommented, it parses,
    /// and it sets each section's values as written.
    func testTheSampleConfigParsesUncommented() throws {
        let sample = try String(
            contentsOf: TestPaths.repository("docs/tailord.conf.sample"), encoding: .utf8)
        let keys = sample.split(separator: "\n").filter { line in
            guard line.hasPrefix("# "), let key = line.dropFirst(2).split(separator: " ").first else { return false }
            return line.dropFirst(2 + key.count).hasPrefix(" = ") && key.allSatisfy { $0.isLowercase || $0 == "_" }
        }
        XCTAssertGreaterThan(keys.count, 50)
        let uncommented = keys.map { $0.dropFirst(2) }.joined(separator: "\n")
        var c = DaemonConfiguration()
        XCTAssertNoThrow(try c.apply(configFile: uncommented, path: "sample"))
        XCTAssertEqual(c.autopilot.minNewItems, 16)
        XCTAssertEqual(c.autopilot.gate.logLikelihoodMargin, 0.1)
        XCTAssertEqual(c.autopilot.parameters.epochs, 1)
        XCTAssertEqual(c.preferences.maxFieldBytes, PreferenceLimits().maxFieldBytes, "the sample shows the default")
        XCTAssertEqual(c.http.listen?.port, 8012)
    }

    func testBadConfigLinesAreNamed() {
        var c = DaemonConfiguration()
        let cases: [(String, String)] = [
            ("colour = blue", "unknown key 'colour'"),
            ("threads = many", "threads must be an integer"),
            ("threads = 0", "threads must be an integer in 1...1024"),
            ("mode = cluster", "mode must be 'user' or 'system'"),
            ("socket = relative.sock", "socket must be an absolute path"),
            ("just words", "expected 'key = value'"),
            ("log_level = loud", "log_level must be one of"),
            ("prefill_path = sgemm", "prefill_path must be one of auto, float, integer, bf16, not 'sgemm'"),
            ("http_listen = 0.0.0.0:8012", "http_listen must be a loopback address"),
            ("http_listen = 127.0.0.1", "http_listen must be host:port"),
            ("http_socket = http.sock", "http_socket must be an absolute path"),
            ("http_mode = fancy", "http_mode must be base, tam, oppu, dpo-only, cope or cd-only"),
            ("http_max_body_bytes = 12", "http_max_body_bytes must be"),
            ("http_slots = maybe", "http_slots must be on or off"),
            ("http_seed = -2", "http_seed must be an integer in -1...4294967295, not '-2'"),
        ]
        for (line, message) in cases {
            XCTAssertThrowsError(try c.apply(configFile: "# ok\n\(line)\n", path: "/etc/t.conf"), line) { e in
                let text = "\(e)"
                XCTAssertTrue(text.hasPrefix("/etc/t.conf:2: "), text)
                XCTAssertTrue(text.contains(message), text)
            }
        }
        XCTAssertThrowsError(
            try DaemonOptions.parse(["--config", "/nonexistent/tailord.conf"]).resolve(environment: [:]))
        XCTAssertThrowsError(try DaemonOptions.parse(["--mode", "galaxy"]).resolve(environment: [:]))
        XCTAssertThrowsError(try DaemonOptions.parse(["--threads", "0"]).resolve(environment: [:]))
        XCTAssertThrowsError(try DaemonOptions.parse(["--prefill-path", "fast"]).resolve(environment: [:]))
    }

    func testHTTPEndpointKeys() throws {
        var c = DaemonConfiguration()
        XCTAssertFalse(c.http.isEnabled)
        try c.apply(
            configFile:
                """
                http_socket = /run/t/http.sock\nhttp_listen = [::1]:8012\nhttp_token_file = \
                /etc/t/token\nhttp_mode = oppu\nhttp_task = lua\n
                """,
            path: "/etc/t.conf")
        XCTAssertTrue(c.http.isEnabled)
        XCTAssertEqual(c.http.socket, "/run/t/http.sock")
        XCTAssertEqual(c.http.listen?.host, "::1")
        XCTAssertEqual(c.http.listen?.port, 8012)
        XCTAssertEqual(c.http.tokenFile, "/etc/t/token")
        XCTAssertEqual(c.http.mode, "oppu")
        XCTAssertEqual(c.http.task, "lua")
        try c.apply(
            configFile: "http_model_alias = coder, fim,\nhttp_model_tags = small\nhttp_slots = on\nhttp_seed = 42\n",
            path: "/etc/t.conf")
        XCTAssertEqual(c.http.aliases, ["coder", "fim"])
        XCTAssertEqual(c.http.tags, ["small"])
        XCTAssertTrue(c.http.slotsEndpoint)
        XCTAssertEqual(c.http.seed, 42)
    }

    func testDefaultsFollowXDGAndFHS() throws {
        let env = [
            "XDG_RUNTIME_DIR": "/run/user/1000", "XDG_STATE_HOME": "/home/u/.state", "XDG_CONFIG_HOME": "/home/u/.cfg",
            "HOME": "/home/u",
        ]
        var c = DaemonConfiguration()
        XCTAssertEqual(
            try c.paths(environment: env),
            DaemonPaths(socket: "/run/user/1000/tailor/tailord.sock", stateDirectory: "/home/u/.state/tailor"))
        XCTAssertEqual(
            DaemonConfiguration.defaultFilePath(mode: .user, environment: env), "/home/u/.cfg/tailor/tailord.conf")
        c.mode = .system
        XCTAssertEqual(
            try c.paths(environment: env),
            DaemonPaths(socket: "/run/tailor/tailord.sock", stateDirectory: "/var/lib/tailor"))
        XCTAssertEqual(DaemonConfiguration.defaultFilePath(mode: .system), "/etc/tailor/tailord.conf")
        c.mode = .user
        // No runtime dir: the user's private directory under /tmp, which the listener checks.
        XCTAssertEqual(try c.paths(environment: ["HOME": "/home/u"]).socket, "/tmp/tailor-\(getuid())/tailord.sock")
        c.socket = "/tmp/s.sock"
        c.stateDirectory = "/tmp/st"
        XCTAssertEqual(try c.paths(environment: [:]), DaemonPaths(socket: "/tmp/s.sock", stateDirectory: "/tmp/st"))
    }
}
