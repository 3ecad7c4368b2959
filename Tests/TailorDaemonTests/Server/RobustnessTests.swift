import Foundation
import TailorClient
import TailorWire
import XCTest

@testable import TailorDaemon

/// No byte sequence crashes or hangs the daemon; many clients at once leak nothing.
final class RobustnessTests: XCTestCase {
    /// Valid frames a client might send, as mutation seeds.
    private func seeds() throws -> [[UInt8]] {
        let gen = try GenerateRequest(
            model: "tiny", input: .chat([.init(role: "user", content: "hi")]),
            sampling: .init(temperature: 0.7, topK: 20, seed: 3), stop: ["\n"], maxTokens: 3
        ).serialized()
        let frames: [Frame] = [
            Frame(
                streamID: 0,
                kind: .request(
                    Request(
                        service: "tailor.v1.Session", method: "Hello",
                        payload: try HelloRequest(client: "fuzz").serialized()))),
            Frame(streamID: 1, kind: .request(Request(service: "tailor.v1.Health", method: "Check"))),
            Frame(
                streamID: 3,
                kind: .request(Request(service: "tailor.v1.Decoding", method: "Generate", payload: gen, timeoutMS: 500))
            ),
            Frame(
                streamID: 5,
                kind: .request(
                    Request(
                        service: "tailor.v1.Models", method: "Load",
                        payload: try LoadModelRequest(path: "/nonexistent.gguf").serialized()))),
            Frame(streamID: 3, kind: .cancel(reason: "x")),
            Frame(streamID: 7, kind: .data(chunk: [1, 2, 3], last: true)),
        ]
        return try frames.map { try FrameCodec.encode($0) }
    }

    func testTenThousandRandomAndMutatedFramesNeverCrashOrHang() async throws {
        let d = try await DaemonHarness(slots: 2)
        let seeds = try seeds()
        let hello = seeds[0]
        var rng = SystemRandomNumberGenerator()
        var cases = 0
        var closedByServer = 0
        // Each connection gets a batch of frames: a valid Hello half the time (so mutations
        // reach the services, not only the Hello check), then mutated or random frames.
        while cases < 10_000 {
            let c = try RawConnection(path: d.socket, timeout: 5)
            var bytes: [UInt8] = Bool.random() ? hello : []
            for _ in 0..<20 {
                cases += 1
                var f: [UInt8]
                switch Int.random(in: 0..<4, using: &rng) {
                case 0:  // random body with a truthful length
                    let n = Int.random(in: 0..<64, using: &rng)
                    let body = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
                    f = [0, 0, UInt8(n >> 8), UInt8(n & 0xFF)] + body
                case 1:  // a seed with flipped bytes after the length
                    f = seeds.randomElement(using: &rng)!
                    for _ in 0..<Int.random(in: 1...4, using: &rng) where f.count > 4 {
                        f[Int.random(in: 4..<f.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
                    }
                case 2:  // a seed truncated or extended, length unchanged
                    f = seeds.randomElement(using: &rng)!
                    if Bool.random(using: &rng) {
                        f = Array(f.prefix(Int.random(in: 0...f.count, using: &rng)))
                    } else {
                        f += [0x08, 0x01]
                    }
                default:  // a valid seed
                    f = seeds.randomElement(using: &rng)!
                }
                bytes += f
            }
            c.send(bytes: bytes)
            shutdown(c.fd, Int32(SHUT_WR))
            // The daemon either answers and keeps going, or closes; it must never leave us
            // waiting (the read timeout would throw).
            do { _ = try c.readUntilClosed(); closedByServer += 1 } catch is RawConnection.TimedOut {
                XCTFail("the daemon hung on a fuzzed connection")
                break
            }
        }
        XCTAssertGreaterThanOrEqual(cases, 10_000)
        // Still serving, with a real generation.
        let client = try await d.client()
        let health = try await client.health()
        XCTAssertEqual(health.models, ["tiny"])
        var n = 0
        for try await e in try client.generate(
            GenerateRequest(model: "tiny", input: .prompt("still alive"), maxTokens: 5))
        {
            if case .token = e { n += 1 }
        }
        XCTAssertEqual(n, 5)
        await client.close()
        await d.stop()
    }

    func testFiftyClientsTimesFourStreamsWithCancellationsLeakNothing() async throws {
        let d = try await DaemonHarness(slots: 4)
        // Warm up once so lazily created state (the event loop, the worker) is not counted.
        let warm = try await d.client()
        _ = try await warm.health()
        await warm.close()
        _ = await DaemonHarness.eventually { d.server.connectionCount == 0 }
        let fdsBefore = DaemonHarness.openFDs()

        try await withThrowingTaskGroup(of: (ok: Int, cancelled: Int).self) { group in
            for client in 0..<50 {
                group.addTask {
                    let c = try await d.client()
                    let result = try await withThrowingTaskGroup(of: (ok: Int, cancelled: Int).self) { streams in
                        for s in 0..<4 {
                            streams.addTask {
                                let request = GenerateRequest(
                                    model: "tiny", input: .prompt("client \(client) stream \(s)"),
                                    sampling: .init(temperature: 0.8, seed: UInt64(client * 4 + s)), maxTokens: 8)
                                if (client + s) % 3 == 0 {
                                    // Cancel mid-stream by leaving the loop after the first token.
                                    for try await e in try c.generate(request) { if case .token = e { break } }
                                    return (0, 1)
                                }
                                if (client + s) % 5 == 0 {
                                    // A Hold stream cancelled by task cancellation.
                                    let t = Task { for try await _ in c.stream("test.Hold", "Hold", payload: []) {} }
                                    try await Task.sleep(for: .milliseconds(5))
                                    t.cancel()
                                    _ = await t.result
                                    return (0, 1)
                                }
                                var stats = false
                                for try await e in try c.generate(request) { if case .stats = e { stats = true } }
                                return stats ? (1, 0) : (0, 0)
                            }
                        }
                        var total = (ok: 0, cancelled: 0)
                        for try await r in streams { total.ok += r.ok; total.cancelled += r.cancelled }
                        return total
                    }
                    await c.close()
                    return result
                }
            }
            var ok = 0, cancelled = 0
            for try await r in group { ok += r.ok; cancelled += r.cancelled }
            XCTAssertEqual(ok + cancelled, 200)
            XCTAssertGreaterThan(ok, 100)
        }
        let quiet = await DaemonHarness.eventually { d.server.connectionCount == 0 && d.server.streamCount == 0 }
        XCTAssertTrue(quiet, "connections \(d.server.connectionCount), streams \(d.server.streamCount) still open")
        let depth = await d.models.queueDepth()
        XCTAssertEqual(depth, 0)
        let fdsSettled = await DaemonHarness.eventually { DaemonHarness.openFDs() <= fdsBefore }
        XCTAssertTrue(fdsSettled, "fds before \(fdsBefore), after \(DaemonHarness.openFDs())")
        await d.stop()
    }
}
