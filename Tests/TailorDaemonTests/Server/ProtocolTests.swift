import Foundation
import TailorWire
import XCTest

@testable import TailorDaemon

/// The protocol rules of Proto/README.md, checked with raw frames.
final class ProtocolTests: XCTestCase {
    func testFirstFrameMustBeHelloAndVersionsMustMeet() async throws {
        let d = try await DaemonHarness(loadModel: false)
        let c1 = try d.raw(hello: false)
        try c1.send(Frame(streamID: 1, kind: .request(Request(service: "tailor.v1.Health", method: "Check"))))
        let frames = try c1.readUntilClosed()
        XCTAssertEqual(frames.count, 1)
        XCTAssertEqual(frames.first?.streamID, 0)
        XCTAssertEqual(frames.status?.code, .failedPrecondition)

        let c2 = try d.raw(hello: false)
        XCTAssertThrowsError(try c2.hello(min: 2, max: 3))
        let c3 = try d.raw(hello: false)
        try c3.send(
            Frame(
                streamID: 0,
                kind: .request(
                    Request(
                        service: "tailor.v1.Session", method: "Hello",
                        payload: try HelloRequest(minVersion: 2, maxVersion: 5, client: "future").serialized()))))
        let refusal = try c3.readUntilClosed()
        XCTAssertEqual(refusal.status?.code, .failedPrecondition)
        XCTAssertTrue(refusal.status?.message.contains("2-5") ?? false, refusal.status?.message ?? "")

        // A client speaking 1...3 gets version 1.
        let c4 = try d.raw(hello: false)
        try c4.send(
            Frame(
                streamID: 0,
                kind: .request(
                    Request(
                        service: "tailor.v1.Session", method: "Hello",
                        payload: try HelloRequest(minVersion: 1, maxVersion: 3, client: "newer").serialized()))))
        guard case let .response(payload) = try c4.read().kind else { return XCTFail("no Hello response") }
        let hello = try HelloResponse(serialized: payload)
        XCTAssertEqual(hello.version, 1)
        XCTAssertEqual(hello.maxFrameBytes, 4 << 20)
        await d.stop()
    }

    func testStreamIDsMustBeOddAndIncreasing() async throws {
        let d = try await DaemonHarness(loadModel: false)
        let c = try d.raw()
        XCTAssertEqual(try c.call(5, "tailor.v1.Health", "Check").status?.code, .ok)
        let even = try c.call(6, "tailor.v1.Health", "Check")
        XCTAssertEqual(even.status?.code, .invalidArgument)
        XCTAssertEqual(try c.call(3, "tailor.v1.Health", "Check").status?.code, .invalidArgument)  // not increasing
        XCTAssertEqual(try c.call(5, "tailor.v1.Health", "Check").status?.code, .invalidArgument)  // reused
        let zero = try c.call(0, "tailor.v1.Health", "Check")
        XCTAssertEqual(zero.status?.code, .invalidArgument)
        // The connection is still good.
        XCTAssertEqual(try c.call(7, "tailor.v1.Health", "Check").status?.code, .ok)
        await d.stop()
    }

    func testUnknownServiceMethodAndMalformedPayloads() async throws {
        let d = try await DaemonHarness()
        let c = try d.raw()
        XCTAssertEqual(try c.call(1, "tailor.v9.Nope", "Check").status?.code, .unimplemented)
        XCTAssertEqual(try c.call(3, "tailor.v1.Health", "Explode").status?.code, .unimplemented)
        // Methods the services lack.
        XCTAssertEqual(try c.call(5, "tailor.v1.Jobs", "Explode").status?.code, .unimplemented)
        XCTAssertEqual(try c.call(7, "tailor.v1.Preferences", "Truncate").status?.code, .unimplemented)
        // An empty List request names the missing user.
        let emptyList = try c.call(9, "tailor.v1.Preferences", "List").status
        XCTAssertEqual(emptyList?.code, .invalidArgument)
        XCTAssertEqual(emptyList?.field, "user")
        // Not a GenerateRequest at all.
        let garbage = try c.call(11, "tailor.v1.Decoding", "Generate", payload: [0xFF, 0xFF, 0xFF, 0xFF, 0x0F])
        XCTAssertEqual(garbage.status?.code, .invalidArgument)
        // A prompt with a NUL byte, and one with invalid UTF-8: field 2 (prompt), length-delimited.
        for (k, bad) in [[UInt8(0x61), 0x00, 0x62], [0x61, 0xC3, 0x28]].enumerated() {
            let payload: [UInt8] = [0x12, UInt8(bad.count)] + bad
            let s = try c.call(UInt32(13 + 2 * k), "tailor.v1.Decoding", "Generate", payload: payload).status
            XCTAssertEqual(s?.code, .invalidArgument)
            XCTAssertEqual(s?.field, "generate.prompt")
        }
        // No input at all.
        let empty = try c.call(
            17, "tailor.v1.Decoding", "Generate",
            payload: try GenerateRequest(model: "tiny", input: .prompt("")).serialized())
        XCTAssertEqual(empty.status?.code, .invalidArgument)
        XCTAssertEqual(empty.status?.field, "generate.prompt")
        let role = try c.call(
            19, "tailor.v1.Decoding", "Generate",
            payload: try GenerateRequest(model: "tiny", input: .chat([.init(role: "wizard", content: "hi")]))
                .serialized())
        XCTAssertEqual(role.status?.field, "generate.chat.messages.role")
        let sampling = try c.call(
            21, "tailor.v1.Decoding", "Generate",
            payload: try GenerateRequest(model: "tiny", input: .prompt("hi"), sampling: .init(temperature: -2))
                .serialized())
        XCTAssertEqual(sampling.status?.field, "generate.sampling")
        let huge = String(repeating: "a", count: (1 << 20) + 1)
        let big = try c.call(
            23, "tailor.v1.Decoding", "Generate",
            payload: try GenerateRequest(model: "tiny", input: .prompt(huge)).serialized())
        XCTAssertEqual(big.status?.code, .invalidArgument)
        XCTAssertTrue(big.status?.message.contains("limit") ?? false)
        XCTAssertEqual(
            try c.call(
                25, "tailor.v1.Models", "Load", payload: try LoadModelRequest(path: "relative.gguf").serialized()
            ).status?.field, "load.path")
        XCTAssertEqual(
            try c.call(
                27, "tailor.v1.Models", "Load", payload: try LoadModelRequest(path: "/nonexistent/x.gguf").serialized()
            ).status?.code, .notFound)
        // A file that is not GGUF: INVALID_ARGUMENT naming the problem, and nothing loaded.
        let notGGUF = d.directory + "/fake.gguf"
        try Data("not a model".utf8).write(to: URL(fileURLWithPath: notGGUF))
        let bad = try c.call(29, "tailor.v1.Models", "Load", payload: try LoadModelRequest(path: notGGUF).serialized())
            .status
        XCTAssertEqual(bad?.code, .invalidArgument)
        XCTAssertTrue(bad?.message.contains("fake.gguf") ?? false, bad?.message ?? "")
        XCTAssertEqual(
            try c.call(
                31, "tailor.v1.Models", "Load",
                payload: try LoadModelRequest(path: DaemonHarness.tinyModel, id: "tiny").serialized()
            ).status?.code, .alreadyExists)
        XCTAssertEqual(
            try c.call(33, "tailor.v1.Models", "Unload", payload: try UnloadModelRequest(id: "ghost").serialized())
                .status?.code, .notFound)
        let list = await d.models.list()
        XCTAssertEqual(list.map(\.id), ["tiny"])
        await d.stop()
    }

    func testOversizeAndGarbledFramesGetStreamZeroStatusThenClose() async throws {
        let d = try await DaemonHarness(loadModel: false)
        let big = try d.raw()
        big.send(bytes: [0x7F, 0xFF, 0xFF, 0xFF])  // 2 GiB announced; no body follows
        let f1 = try big.readUntilClosed()
        XCTAssertEqual(f1.map(\.streamID), [0])
        XCTAssertEqual(f1.status?.code, .resourceExhausted)

        let garbled = try d.raw()
        garbled.send(bytes: [0, 0, 0, 3, 0xFF, 0xFF, 0xFF])
        let f2 = try garbled.readUntilClosed()
        XCTAssertEqual(f2.status?.code, .invalidArgument)

        let empty = try d.raw()
        empty.send(bytes: [0, 0, 0, 2, 0x08, 0x01])  // stream_id 1 and no kind
        XCTAssertEqual(try empty.readUntilClosed().status?.code, .invalidArgument)

        let fromServerSide = try d.raw()
        try fromServerSide.send(Frame(streamID: 1, kind: .status(Status(code: .ok))))
        XCTAssertEqual(try fromServerSide.readUntilClosed().status?.code, .invalidArgument)
        // The daemon is fine.
        XCTAssertEqual(try d.raw().call(1, "tailor.v1.Health", "Check").status?.code, .ok)
        await d.stop()
    }

    func testTooManyStreamsIsResourceExhausted() async throws {
        var limits = ConnectionLimits()
        limits.maxStreams = 2
        let d = try await DaemonHarness(limits: limits, loadModel: false)
        let c = try d.raw()
        try c.send(Frame(streamID: 1, kind: .request(Request(service: "test.Hold", method: "Hold"))))
        try c.send(Frame(streamID: 3, kind: .request(Request(service: "test.Hold", method: "Hold"))))
        try c.send(Frame(streamID: 5, kind: .request(Request(service: "tailor.v1.Health", method: "Check"))))
        XCTAssertEqual(try c.readStream(5).status?.code, .resourceExhausted)
        try c.send(Frame(streamID: 1, kind: .cancel(reason: "done")))
        try c.send(Frame(streamID: 3, kind: .cancel(reason: "done")))
        XCTAssertEqual(try c.readStream(1).status?.code, .cancelled)
        XCTAssertEqual(try c.readStream(3).status?.code, .cancelled)
        XCTAssertEqual(try c.call(7, "tailor.v1.Health", "Check").status?.code, .ok)
        await d.stop()
    }

    func testOtherUIDIsRefusedInUserModeWithPermissionDenied() async throws {
        // The daemon "belongs" to another uid, so this process is the stranger: the real
        // SO_PEERCRED path decides.
        let d = try await DaemonHarness(
            policy: AccessPolicy(mode: .user, daemonUID: geteuid() &+ 4242), loadModel: false)
        let c = try d.raw(hello: false)
        let frames = try c.readUntilClosed()
        XCTAssertEqual(frames.status?.code, .permissionDenied)
        XCTAssertTrue(frames.status?.message.contains("uid \(geteuid())") ?? false)
        // The socket itself is 0600 in user mode.
        let attrs = try FileManager.default.attributesOfItem(atPath: d.socket)
        XCTAssertEqual((attrs[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        await d.stop()
    }

    func testAccessPolicy() {
        let me = PeerCredentials(pid: 1, uid: 1000, gid: 1000)
        let other = PeerCredentials(pid: 2, uid: 1001, gid: 1001)
        let root = PeerCredentials(pid: 3, uid: 0, gid: 0)
        let user = AccessPolicy(mode: .user, daemonUID: 1000)
        XCTAssertTrue(user.admits(me))
        XCTAssertFalse(user.admits(other))
        XCTAssertTrue(user.mayManageModels(me))
        let system = AccessPolicy(mode: .system, daemonUID: 999)
        XCTAssertTrue(system.admits(other))
        XCTAssertTrue(system.mayAccess(owner: 1001, as: other))
        XCTAssertFalse(system.mayAccess(owner: 1000, as: other))
        XCTAssertTrue(system.mayAccess(owner: 1000, as: root))
        XCTAssertFalse(system.mayManageModels(other))
        XCTAssertTrue(system.mayManageModels(root))
    }
}
