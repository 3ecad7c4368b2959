import Foundation
import TailorClient
import TailorEngine
import TailorWire
import XCTest

@testable import TailorDaemon

/// Generation through the daemon, checked against the engine run in-process.
final class DecodingServiceTests: XCTestCase {
    /// Greedy tokens for `prompt` from the engine directly: the reference.
    private func reference(_ prompt: String, maxTokens: Int) throws -> [Int32] {
        let model = try Model(path: DaemonHarness.tinyModel)
        let ids = model.tokenizer.encode(prompt, addSpecial: true, parseSpecial: false)
        let ctx = InferenceContext(model: model, maxContext: 256, maxBatchTokens: 256, threads: 1)
        return try Generator(context: ctx).generate(
            prompt: ids, sampling: SamplingParameters(),
            options: GenerationOptions(maxTokens: maxTokens)
        ).tokens
    }

    func testHealthModelsAndGenerateMatchTheEngine() async throws {
        let d = try await DaemonHarness()
        let client = try await d.client()
        XCTAssertEqual(client.hello.version, 1)
        let health = try await client.health()
        XCTAssertEqual(health.models, ["tiny"])
        XCTAssertEqual(health.version, tailorVersion)
        XCTAssertEqual(health.queueDepth, 0)
        let models = try await client.models()
        XCTAssertEqual(models.count, 1)
        XCTAssertEqual(models[0].architecture, "llama")
        XCTAssertEqual(models[0].sha256.count, 64)
        XCTAssertEqual(
            models[0].fileBytes,
            UInt64(try FileManager.default.attributesOfItem(atPath: DaemonHarness.tinyModel)[.size] as! Int))

        let prompt = "the quick brown fox"
        let want = try reference(prompt, maxTokens: 12)
        var ids: [Int32] = [], text = "", bytes: [UInt8] = []
        var stats: (UInt32, UInt32, String)?
        for try await e in try client.generate(GenerateRequest(model: "tiny", input: .prompt(prompt), maxTokens: 12)) {
            switch e {
            case let .token(id, b, t, logprob):
                ids.append(Int32(id)); text += t; bytes += b
                XCTAssertLessThanOrEqual(logprob, 0)
            case let .stats(s):
                stats = (s.promptTokens, s.generatedTokens, s.finishReason); text += s.tailText
            case .contrastiveToken:
                XCTFail("a plain request got a CoPe token")
            }
        }
        XCTAssertEqual(ids, want)
        let model = try Model(path: DaemonHarness.tinyModel)
        XCTAssertEqual(stats?.0, UInt32(model.tokenizer.encode(prompt, addSpecial: true, parseSpecial: false).count))
        XCTAssertEqual(stats?.1, UInt32(want.count))
        XCTAssertEqual(text, String(decoding: bytes, as: UTF8.self))
        // The model is named implicitly when it is the only one. The same prompt again comes from
        // the prompt cache, and the stats say how much of it did.
        var n = 0
        var again: GenerateStats?
        for try await e in try client.generate(GenerateRequest(model: "", input: .prompt(prompt), maxTokens: 3)) {
            if case .token = e { n += 1 }
            if case let .stats(s) = e { again = s }
        }
        XCTAssertEqual(n, 3)
        XCTAssertEqual(again?.promptTokens, stats?.0)
        XCTAssertGreaterThan(again?.cachedTokens ?? 0, 0)
        XCTAssertLessThan(
            again?.cachedTokens ?? .max, again?.promptTokens ?? 0, "the last prompt token is always prefilled")
        await client.close()
        await d.stop()
    }

    /// A cancelled request leaves what it evaluated to the prompt cache: the next request with
    /// the same prefix (an editor's next keystroke) does not prefill it again.
    func testACancelledRequestKeepsThePromptCache() async throws {
        let d = try await DaemonHarness()
        let client = try await d.client()
        let prompt = "the theme of the quick brown fox jumps over the lazy dog"
        let stream = try client.generate(GenerateRequest(model: "tiny", input: .prompt(prompt), maxTokens: 240))
        for try await _ in stream { break }  // the prompt is evaluated; leaving cancels the rest
        let ended = await DaemonHarness.eventually { d.server.streamCount == 0 }
        XCTAssertTrue(ended)
        var again: GenerateStats?
        for try await e in try client.generate(GenerateRequest(model: "tiny", input: .prompt(prompt), maxTokens: 2)) {
            if case let .stats(s) = e { again = s }
        }
        let s = try XCTUnwrap(again)
        XCTAssertEqual(s.cachedTokens, s.promptTokens - 1, "all but the last prompt token came from the cache")
        await client.close()
        await d.stop()
    }

    func testCancelDeadlineAndClosedConnection() async throws {
        let d = try await DaemonHarness(slots: 2)
        let c = try d.raw()
        let long = try GenerateRequest(model: "tiny", input: .prompt("one two three"), maxTokens: 240).serialized()
        // Cancel frame: the stream ends CANCELLED. Request and Cancel go out in one write: the
        // tiny model fills its context in milliseconds, so a Cancel sent after the first token
        // may come after the end.
        _ = c.send(
            bytes: try FrameCodec.encode(
                Frame(
                    streamID: 1,
                    kind: .request(Request(service: "tailor.v1.Decoding", method: "Generate", payload: long))))
                + FrameCodec.encode(Frame(streamID: 1, kind: .cancel(reason: "user typed"))))
        let rest = try c.readStream(1)
        XCTAssertEqual(rest.status?.code, .cancelled)
        XCTAssertEqual(
            rest.filter {
                if case .status = $0.kind { return true }; return false
            }.count, 1)
        // Cancel for an unknown stream is ignored.
        try c.send(Frame(streamID: 99, kind: .cancel(reason: "nothing")))
        // A deadline shorter than the generation.
        let deadline = try c.call(3, "tailor.v1.Decoding", "Generate", payload: long, timeoutMS: 1)
        XCTAssertEqual(deadline.status?.code, .deadlineExceeded)
        // A deadline long enough lets the call finish OK.
        let short = try GenerateRequest(model: "tiny", input: .prompt("one"), maxTokens: 2).serialized()
        XCTAssertEqual(
            try c.call(5, "tailor.v1.Decoding", "Generate", payload: short, timeoutMS: 60_000).status?.code, .ok)
        // Closing the connection mid-generation frees the slot.
        let c2 = try d.raw()
        try c2.send(
            Frame(
                streamID: 1, kind: .request(Request(service: "tailor.v1.Decoding", method: "Generate", payload: long))))
        _ = try c2.read()
        close(c2.fd)
        let drained = await DaemonHarness.eventually { d.server.streamCount == 0 }
        XCTAssertTrue(drained)
        await d.stop()
    }

    func testSwiftClientTaskCancellationSendsCancel() async throws {
        let d = try await DaemonHarness(slots: 1)
        let client = try await d.client()
        let req = GenerateRequest(model: "tiny", input: .prompt("count with me"), maxTokens: 200)
        let task = Task {
            var n = 0
            for try await e in try client.generate(req) { if case .token = e { n += 1 } }
            return n
        }
        let started = await DaemonHarness.eventually { d.server.streamCount == 1 }
        XCTAssertTrue(started)
        try await Task.sleep(for: .milliseconds(50))
        task.cancel()
        _ = try? await task.value
        // The daemon saw the Cancel: the stream ends and the one slot is free for the next call.
        let ended = await DaemonHarness.eventually { d.server.streamCount == 0 }
        XCTAssertTrue(ended)
        var tokens = 0
        for try await e in try client.generate(GenerateRequest(model: "tiny", input: .prompt("again"), maxTokens: 4)) {
            if case .token = e { tokens += 1 }
        }
        XCTAssertEqual(tokens, 4)
        // Errors arrive typed.
        do {
            for try await _ in try client.generate(GenerateRequest(model: "ghost", input: .prompt("x"))) {}
            XCTFail("expected NOT_FOUND")
        } catch let e as TailorClientError {
            XCTAssertEqual(e.code, .notFound)
        }
        await client.close()
        await d.stop()
    }

    func testQueuedRequestsAreServedRoundRobinAcrossCallers() {
        var q = FairQueue<String, Int>()
        for i in 0..<4 { q.push(i, key: "editor") }
        q.push(100, key: "shell")
        q.push(200, key: "browser")
        var order: [Int] = []
        while let x = q.pop() { order.append(x) }
        XCTAssertEqual(order, [0, 100, 200, 1, 2, 3])
        XCTAssertTrue(q.isEmpty)
        q.push(1, key: "a"); q.push(2, key: "a"); q.push(3, key: "b")
        XCTAssertEqual(q.removeAll { $0 == 2 }, [2])
        XCTAssertEqual(q.count, 2)
        XCTAssertEqual(q.pop(), 1)
        XCTAssertEqual(q.pop(), 3)
        XCTAssertNil(q.pop())
    }

    /// Unloading a model ends its running and queued generations UNAVAILABLE. The tiny model
    /// finishes one generation (its context holds 128 tokens) in tens of milliseconds on a
    /// quiet machine, sooner than a second connection can ask for the unload, so 16 wait on
    /// its one slot: whatever has not finished by then must end UNAVAILABLE, and the last
    /// one cannot have finished.
    func testUnloadEndsRunningGenerationsUnavailable() async throws {
        let d = try await DaemonHarness(slots: 1)
        let c = try d.raw()
        let long = try GenerateRequest(model: "tiny", input: .prompt("on and on"), maxTokens: 250).serialized()
        let streams = (0..<16).map { UInt32(2 * $0 + 1) }
        for id in streams {
            try c.send(
                Frame(
                    streamID: id,
                    kind: .request(Request(service: "tailor.v1.Decoding", method: "Generate", payload: long))))
        }
        _ = try c.read()
        let c2 = try d.raw()
        XCTAssertEqual(
            try c2.call(1, "tailor.v1.Models", "Unload", payload: try UnloadModelRequest(id: "tiny").serialized())
                .status?.code, .ok)
        let codes = try streams.map { try c.readStream($0).status?.code }
        XCTAssertTrue(codes.allSatisfy { $0 == .ok || $0 == .unavailable }, "\(codes)")
        XCTAssertEqual(codes.last, .unavailable, "\(codes)")
        await d.stop()
    }
}

final class WireTextTests: XCTestCase {
    func testGeneratedNULBecomesReplacementCharacterInText() throws {
        XCTAssertEqual(DecodingService.wireText("a\u{0}b"), "a\u{FFFD}b")
        XCTAssertEqual(DecodingService.wireText("plain"), "plain")
        // A NUL joined with a combining mark is one Character, and still no NUL goes out.
        XCTAssertEqual(DecodingService.wireText("a\u{0}\u{301}b"), "a\u{FFFD}\u{301}b")
        // And the result crosses the wire, which a NUL would not.
        let e = GenerateEvent.token(id: 3, tokenBytes: [0], text: DecodingService.wireText("\u{0}"), logprob: -1)
        XCTAssertEqual(try GenerateEvent(serialized: try e.serialized()), e)
        XCTAssertThrowsError(try GenerateEvent.token(id: 3, tokenBytes: [0], text: "\u{0}", logprob: -1).serialized())
    }
}
