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
        let h = HealthCheckResponse(version: "0.1.0", models: ["smollm2", "gemma-3-270m", "ünïcode"], uptimeMS: 123_456_789, queueDepth: 4)
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
