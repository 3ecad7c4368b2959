import XCTest

@testable import TailorWire

final class MessageTests: XCTestCase {
    func testHelloRoundTripAndNegotiation() throws {
        let h = HelloRequest(minVersion: 1, maxVersion: 3, client: "tailor-cli/0.1 ✓")
        XCTAssertEqual(try HelloRequest(serialized: try h.serialized()), h)
        XCTAssertEqual(h.negotiate(serverMin: 1, serverMax: 1), 1)
        XCTAssertEqual(h.negotiate(serverMin: 1, serverMax: 5), 3)
        XCTAssertNil(HelloRequest(minVersion: 2, maxVersion: 3, client: "x").negotiate(serverMin: 1, serverMax: 1))
        let r = HelloResponse(version: 1, server: "tailord/0.1", maxStreams: 64)
        XCTAssertEqual(try HelloResponse(serialized: try r.serialized()), r)
    }

    func testHealthRoundTripWithRepeatedStrings() throws {
        let h = HealthCheckResponse(
            version: "0.1.0", models: ["smollm2", "gemma-3-270m", "ünïcode"], uptimeMS: 123_456_789, queueDepth: 4)
        XCTAssertEqual(try HealthCheckResponse(serialized: try h.serialized()), h)
        let empty = HealthCheckResponse(version: "", models: [], uptimeMS: 0, queueDepth: 0)
        XCTAssertEqual(try HealthCheckResponse(serialized: try empty.serialized()), empty)
    }

    func testPayloadOfTheWrongTypeOrGarbledIsRefused() throws {
        // A Frame's bytes are not a HelloRequest with valid strings: field 2 of a Frame (request)
        // lands on max_version's number with the wrong wire type.
        let frame = try Frame(streamID: 1, kind: .request(Request(service: "s", method: "m"))).serialized()
        XCTAssertThrowsError(try HelloRequest(serialized: frame)) {
            XCTAssertEqual($0 as? WireError, .malformedMessage(type: "tailor.v1.HelloRequest"))
        }
        var bytes = try HealthCheckResponse(version: "v", models: ["abc"], uptimeMS: 1, queueDepth: 0).serialized()
        let at = try XCTUnwrap(bytes.firstIndex(of: UInt8(ascii: "b")))
        bytes[at] = 0
        XCTAssertThrowsError(try HealthCheckResponse(serialized: bytes)) {
            XCTAssertEqual($0 as? WireError, .embeddedNUL(field: "health.models"))
        }
    }
}

final class DecodingMessageTests: XCTestCase {
    func testGenerateRequestRoundTrips() throws {
        let chat = GenerateRequest(
            model: "smollm2",
            input: .chat([
                .init(role: "system", content: "Be brief."),
                .init(role: "user", content: "Hallo, wie geht's? 🙂"),
            ]),
            sampling: .init(temperature: 0.7, topK: 40, topP: 0.95, minP: 0.05, repetitionPenalty: 1.1, seed: 42),
            stop: ["\n\n", "</s>"], maxTokens: 128)
        XCTAssertEqual(try GenerateRequest(serialized: try chat.serialized()), chat)
        let raw = GenerateRequest(model: "m", input: .prompt(""))
        XCTAssertEqual(try GenerateRequest(serialized: try raw.serialized()), raw)
    }

    func testGenerateRequestWithoutInputNamesTheField() throws {
        var bytes = try GenerateRequest(model: "m", input: .prompt("x")).serialized()
        // Drop the prompt field (tag 0x12, length 1, "x") to leave the oneof unset.
        let at = try XCTUnwrap(
            (0..<(bytes.count - 2)).first {
                bytes[$0] == 0x12 && bytes[$0 + 1] == 1 && bytes[$0 + 2] == UInt8(ascii: "x")
            })
        bytes.removeSubrange(at..<(at + 3))
        XCTAssertThrowsError(try GenerateRequest(serialized: bytes)) {
            XCTAssertEqual($0 as? WireError, .missingField(field: "generate.input"))
            XCTAssertEqual(Status($0 as! WireError).field, "generate.input")
        }
    }

    func testStopStringWithBadUTF8NamesTheField() throws {
        var bytes = try GenerateRequest(model: "m", input: .prompt("p"), stop: ["abc"]).serialized()
        let at = try XCTUnwrap(bytes.firstIndex(of: UInt8(ascii: "b")))
        bytes[at] = 0xC3  // a lead byte followed by 'c': invalid
        XCTAssertThrowsError(try GenerateRequest(serialized: bytes)) {
            XCTAssertEqual($0 as? WireError, .invalidUTF8(field: "generate.stop"))
        }
    }

    func testEventsRoundTrip() throws {
        let events: [GenerateEvent] = [
            .token(id: 504, tokenBytes: [0xF0, 0x9F], text: "", logprob: -0.25),
            .token(id: 9, tokenBytes: [0x99, 0x82], text: "🙂", logprob: -1.5),
            .stats(
                GenerateStats(
                    promptTokens: 37, generatedTokens: 12, timeToFirstTokenMS: 41, totalMS: 180, finishReason: "stop")),
            .stats(
                GenerateStats(
                    promptTokens: 1000, cachedTokens: 983, generatedTokens: 3, timeToFirstTokenMS: 36, totalMS: 90,
                    finishReason: "length", tailText: "</")),
        ]
        for e in events { XCTAssertEqual(try GenerateEvent(serialized: try e.serialized()), e) }
    }
}

final class SamplingMessageTests: XCTestCase {
    /// DRY's fields, breakers included, survive the wire.
    func testDRYRoundTrips() throws {
        var r = GenerateRequest(model: "m", input: .prompt("p"))
        r.sampling = .init(
            temperature: 0.5, dryMultiplier: 0.8, dryBase: 2, dryAllowedLength: 3, dryPenaltyLastN: 64,
            drySequenceBreakers: ["\n", "PEP"])
        let back = try GenerateRequest(serialized: try r.serialized())
        XCTAssertEqual(back.sampling.drySequenceBreakers, ["\n", "PEP"])
        XCTAssertEqual(back.sampling.dryMultiplier, 0.8)
        XCTAssertEqual(back.sampling.dryAllowedLength, 3)
        XCTAssertEqual(back.sampling.dryPenaltyLastN, 64)
    }
}

final class JobMessageTests: XCTestCase {
    /// Every parameter survives the wire, the newest field (DPO's own learning rate) included.
    func testSubmitRequestRoundTripsEveryParameter() throws {
        var r = Jobs.SubmitRequest(kind: "cope", user: "ada", task: "commit_subject")
        r.dataUser = "others"
        r.checkpointEvery = 7
        var p = Jobs.Parameters()
        p.rank = 8; p.alpha = 16; p.targets = ["q", "v"]; p.learningRate = 1e-3; p.epochs = 1; p.batchSize = 2
        p.gradientAccumulation = 2; p.warmupRatio = 0.1; p.maxGradNorm = 0.3; p.beta = 0.05; p.samples = 2
        p.maxNewTokens = 24; p.rewardAlpha = 0.5; p.lengthNormalized = true; p.seed = 9; p.maxTokens = 192
        p.maxItems = 32; p.dpoLearningRate = 2e-4; p.preset = "reference"
        r.parameters = p
        XCTAssertEqual(try Jobs.SubmitRequest(serialized: try r.serialized()), r)
    }
}
