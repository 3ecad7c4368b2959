import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The HTTP endpoint of a real `tailord` under the attacks of the security review: a request
/// that once killed the daemon, bodies sent before the token is checked, sockets that say
/// nothing, and more connections than one uid may hold.
final class HTTPHardeningTests: XCTestCase {
    private var server: HTTPTestDaemon?

    override func setUpWithError() throws {
        server = try HTTPTestDaemon(extra: "http_header_timeout_seconds = 1\nmax_connections_per_uid = 6\n")
    }

    override func tearDown() { server?.stop() }

    private var http: HTTPTestClient.Target { server!.http }
    private var port: UInt16 { server!.port }

    func testHugeIntegersGet400AndTheDaemonLives() throws {
        for field in ["n_predict", "top_k", "max_tokens"] {
            let r = try HTTPTestClient.call(
                http, "POST", "/completion", body: #"{"prompt": "hi", ""# + field + #"": 5000000000}"#)
            XCTAssertEqual(r.status, 400, r.body)
            XCTAssertTrue(r.body.contains(field), r.body)
        }
        XCTAssertTrue(server?.process.isRunning ?? false, "tailord died")
        XCTAssertEqual(try HTTPTestClient.call(http, "GET", "/health").status, 200)
    }

    /// An HTTP/1.0 client gets an HTTP/1.0 answer it can read (no chunked encoding), and a
    /// client that sends `Expect: 100-continue` gets its go-ahead at once.
    func testHTTP10AndExpectContinue() throws {
        let body = #"{"prompt": "the theme", "n_predict": 2}"#
        let old = try HTTPTestClient(http)
        old.send("POST", "/completion", body: body, version: "1.0")
        let answer = old.readResponse()
        XCTAssertEqual(answer.status, 200, answer.body)
        XCTAssertNil(answer.headers["transfer-encoding"])
        XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any], answer.body)

        let asking = try HTTPTestClient(http)
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(asking.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        asking.send("POST", "/completion", body: body, headers: ["Expect": "100-continue"], withBody: false)
        XCTAssertTrue(asking.readSome().hasPrefix("HTTP/1.1 100 Continue\r\n"))
        asking.write(body)
        XCTAssertEqual(asking.readResponse().status, 200)
    }

    /// A wrong token is answered at the head: the body it announces is never waited for.
    func testTheTokenIsCheckedBeforeTheBody() throws {
        let c = try HTTPTestClient(.tcp(port))
        var tv = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        c.send("POST", "/completion", body: "{", headers: ["Authorization": "Bearer wrong"], bodyBytes: 1_000_000)
        let started = Date()
        let r = c.readResponse()
        XCTAssertEqual(r.status, 401, r.body)
        XCTAssertLessThan(Date().timeIntervalSince(started), 2.5)
    }

    func testASilentConnectionIsClosedAfterTheHeaderTimeout() throws {
        let c = try HTTPTestClient(http)
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let started = Date()
        XCTAssertEqual(c.readSome(), "", "the server should close, not answer")
        let waited = Date().timeIntervalSince(started)
        XCTAssertGreaterThan(waited, 0.5)
        XCTAssertLessThan(waited, 4, "closed by the header timeout, not the client's read timeout")
        // A body that never comes is cut off the same way.
        let slow = try HTTPTestClient(http)
        setsockopt(slow.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        slow.send("POST", "/completion", body: #"{"prompt": "#, bodyBytes: 100)
        XCTAssertEqual(try HTTPTestClient.call(http, "GET", "/health").status, 200)
    }

    /// SIGTERM with idle keep-alive connections open (each with its header timer armed): the
    /// daemon closes them before their event loop stops, and exits 0 without NIO's "Cannot
    /// schedule tasks on an EventLoop that has already shut down".
    func testSIGTERMWithIdleKeepAliveConnectionsExitsCleanly() throws {
        let server = try XCTUnwrap(server)
        let idle = try (0..<3).map { _ in try HTTPTestClient(http) }
        for c in idle {
            var request = Array("GET /health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n".utf8)
            _ = request.withUnsafeMutableBytes { send(c.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            XCTAssertTrue(c.readSome().contains("200"))
        }
        server.process.terminate()
        server.process.waitUntilExit()
        XCTAssertEqual(server.process.terminationStatus, 0, server.log)
        XCTAssertFalse(server.log.contains("Cannot schedule"), server.log)
        _ = idle
    }

    func testOneUIDCannotHoldMoreThanItsShareOfConnections() throws {
        let held = try (0..<6).map { _ in try HTTPTestClient(http) }
        let extra = try HTTPTestClient(http)
        var tv = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(extra.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        extra.send("GET", "/health")
        XCTAssertEqual(extra.readResponse().status, 0, "the seventh connection should be closed unanswered")
        _ = held
        // Once the silent ones are timed out, the uid is served again.
        Thread.sleep(forTimeInterval: 1.5)
        XCTAssertEqual(try HTTPTestClient.call(http, "GET", "/health").status, 200)
    }
}
