import Foundation
import TailorWire
import XCTest

@testable import TailorDaemon

/// Graceful shutdown: stop accepting, let open streams finish within the grace period, then
/// cancel what remains.
final class ShutdownTests: XCTestCase {
    func testInFlightStreamsFinishWithinGraceThenTheRestAreCancelled() async throws {
        let d = try await DaemonHarness(shutdownGrace: .milliseconds(600))
        let c = try d.raw()
        // A generation that finishes well within the grace period, and a hold that never does.
        let gen = try GenerateRequest(model: "tiny", input: .prompt("finish me"), maxTokens: 30).serialized()
        try c.send(Frame(streamID: 1, kind: .request(Request(service: "test.Hold", method: "Hold"))))
        _ = try c.read()
        let stopping = Task { await d.stop() }
        // The listener closes: new connections are refused.
        let refused = await DaemonHarness.eventually { (try? RawConnection(path: d.socket)) == nil }
        XCTAssertTrue(refused)
        // A new stream on the open connection is refused UNAVAILABLE.
        try c.send(
            Frame(streamID: 3, kind: .request(Request(service: "tailor.v1.Decoding", method: "Generate", payload: gen)))
        )
        XCTAssertEqual(try c.readStream(3).status?.code, .unavailable)
        // The hold outlives the grace period: cancelled, UNAVAILABLE, then the connection closes.
        XCTAssertEqual(try c.readStream(1).status?.code, .unavailable)
        XCTAssertTrue(try c.readUntilClosed().isEmpty)
        await stopping.value
        XCTAssertFalse(FileManager.default.fileExists(atPath: d.socket))
    }

    func testAStreamThatEndsWithinGraceEndsOK() async throws {
        let d = try await DaemonHarness(shutdownGrace: .seconds(20))
        let c = try d.raw()
        let gen = try GenerateRequest(model: "tiny", input: .prompt("finish me"), maxTokens: 60).serialized()
        try c.send(
            Frame(streamID: 1, kind: .request(Request(service: "tailor.v1.Decoding", method: "Generate", payload: gen)))
        )
        _ = try c.read()
        let clock = ContinuousClock()
        let t0 = clock.now
        let stopping = Task { await d.stop() }
        XCTAssertEqual(try c.readStream(1).status?.code, .ok)
        await stopping.value
        XCTAssertLessThan(clock.now - t0, .seconds(10))
    }

    func testServesASocketPassedByFileDescriptor() async throws {
        // What socket activation hands over: an already listening socket.
        let dir = NSTemporaryDirectory() + "tailord-act-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/act.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        XCTAssertEqual(bound, 0)
        XCTAssertEqual(listen(fd, 16), 0)
        let d = try await DaemonHarness(listen: .activated(fd), loadModel: false)
        let c = try RawConnection(path: path)
        try c.hello()
        XCTAssertEqual(try c.call(1, "tailor.v1.Health", "Check").status?.code, .ok)
        await d.stop()
        // An inherited socket is never unlinked by the daemon.
        XCTAssertTrue(FileManager.default.fileExists(atPath: path))
        try? FileManager.default.removeItem(atPath: dir)
    }

    func testSocketActivationVariables() throws {
        let pid = getpid()
        XCTAssertEqual(try SocketActivation.takeListeningSockets(environment: [:], pid: pid, unset: false), [])
        XCTAssertEqual(
            try SocketActivation.takeListeningSockets(
                environment: ["LISTEN_PID": "\(pid + 1)", "LISTEN_FDS": "1"], pid: pid, unset: false), [])
        XCTAssertEqual(
            try SocketActivation.takeListeningSockets(
                environment: ["LISTEN_PID": "\(pid)", "LISTEN_FDS": "2"], pid: pid, unset: false), [3, 4])
        XCTAssertThrowsError(
            try SocketActivation.takeListeningSockets(
                environment: ["LISTEN_PID": "\(pid)", "LISTEN_FDS": "many"], pid: pid, unset: false))
        XCTAssertThrowsError(
            try SocketActivation.takeListeningSockets(
                environment: ["LISTEN_PID": "me", "LISTEN_FDS": "1"], pid: pid, unset: false))
    }

    func testASecondDaemonRefusesALiveSocketButReplacesAStaleOne() async throws {
        let d = try await DaemonHarness(loadModel: false)
        let policy = AccessPolicy(mode: .user, daemonUID: geteuid())
        let second = TailorServer(
            configuration: .init(listen: .path(d.socket), policy: policy), router: RPCRouter([]),
            logger: .init(label: "second"))
        do {
            try await second.run()
            XCTFail("a second daemon took a live socket")
        } catch let e as ServerError {
            XCTAssertEqual(e, .alreadyListening(d.socket))
        }
        // The first daemon still answers.
        XCTAssertEqual(try d.raw().call(1, "tailor.v1.Health", "Check").status?.code, .ok)
        await d.stop()
    }
}
