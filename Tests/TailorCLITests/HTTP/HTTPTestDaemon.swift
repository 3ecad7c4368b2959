import Foundation
import TailorTestSupport
import XCTest

/// A real `tailord` with its HTTP endpoint on a Unix socket and on a loopback TCP port (with a
/// bearer token), in a scratch directory of its own: what the HTTP tests talk to.
final class HTTPTestDaemon {
    let dir: String
    let token = "test-token-0123456789abcdef"
    let port: UInt16
    let process: Process

    /// What the daemon wrote to its standard error.
    var log: String { (try? String(contentsOfFile: dir + "/tailord.log", encoding: .utf8)) ?? "" }

    /// The HTTP endpoint's Unix socket.
    var http: HTTPTestClient.Target { .unix(dir + "/http.sock") }

    /// Starts tailord serving `model`, with `extra` config lines after the endpoint's.
    init(model: String = TestPaths.tinyModel(), extra: String = "") throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: BuiltProducts.tailord.path), "tailord not built")
        dir = NSTemporaryDirectory() + "tailor-http-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try token.write(toFile: dir + "/token", atomically: true, encoding: .utf8)
        port = UInt16(20000 + Int((getpid() + Int32.random(in: 0..<997)) % 20000))
        let conf =
            """
            http_socket = \(dir)/http.sock\nhttp_listen = 127.0.0.1:\(port)\nhttp_token_file = \
            \(dir)/token\nslots = 2\n
            """
            + extra
        try conf.write(toFile: dir + "/tailord.conf", atomically: true, encoding: .utf8)
        process = try BuiltProducts.launchDaemon(
            [
                "--socket", dir + "/t.sock", "--state-dir", dir + "/state",
                "--config", dir + "/tailord.conf", "--model", model, "-t", "1",
            ],
            socket: dir + "/t.sock", log: dir + "/tailord.log")
    }

    /// Stops the daemon and removes its directory.
    func stop() {
        if process.isRunning { process.terminate(); process.waitUntilExit() }
        try? FileManager.default.removeItem(atPath: dir)
    }
}
