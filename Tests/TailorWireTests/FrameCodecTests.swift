import XCTest

@testable import TailorWire

final class FrameCodecTests: XCTestCase {
    static let samples: [Frame] = [
        Frame(
            streamID: 0,
            kind: .request(Request(service: "tailor.v1.Session", method: "Hello", payload: [8, 1, 16, 1]))),
        Frame(
            streamID: 1,
            kind: .request(
                Request(
                    service: "tailor.v1.Decoding", method: "Generate", payload: Array(repeating: 7, count: 3000),
                    timeoutMS: 2500))),
        Frame(streamID: 3, kind: .response(payload: [])),
        Frame(streamID: 5, kind: .event(payload: Array("héllo wörld 🙂".utf8))),
        Frame(streamID: 7, kind: .data(chunk: (0..<255).map { UInt8($0) }, last: true)),
        Frame(streamID: 9, kind: .cancel(reason: "user typed again — 取消")),
        Frame(
            streamID: 11, kind: .status(Status(code: .invalidArgument, message: "bad prompt", field: "generate.prompt"))
        ),
        Frame(streamID: 0, kind: .status(Status(code: .ok))),
        Frame(streamID: UInt32.max, kind: .data(chunk: [], last: false)),
    ]

    func testRoundTripEveryKind() throws {
        for f in Self.samples {
            XCTAssertEqual(try Frame(serialized: try f.serialized()), f)
        }
    }

    func testDecoderReassemblesArbitraryChunks() throws {
        var stream: [UInt8] = []
        for f in Self.samples { stream += try FrameCodec.encode(f) }
        for chunk in [1, 3, 7, 64, stream.count] {
            var d = FrameDecoder()
            var got: [Frame] = []
            var i = 0
            while i < stream.count {
                d.append(stream[i..<min(i + chunk, stream.count)])
                while let f = try d.next() { got.append(f) }
                i += chunk
            }
            XCTAssertEqual(got, Self.samples, "chunk \(chunk)")
            XCTAssertEqual(d.bufferedBytes, 0)
        }
    }

    func testOversizeLengthIsRefusedBeforeTheBody() throws {
        var d = FrameDecoder()
        d.append([0x00, 0x40, 0x00, 0x01])  // 4 MiB + 1, and no body at all
        XCTAssertThrowsError(try d.next()) {
            XCTAssertEqual($0 as? WireError, .frameTooLarge(length: (4 << 20) + 1, limit: 4 << 20))
            XCTAssertEqual(($0 as? WireError)?.statusCode, .resourceExhausted)
        }
        XCTAssertEqual(d.bufferedBytes, 0, "nothing of an oversize frame is kept")
        d.append([0, 0, 0, 0])
        XCTAssertThrowsError(try d.next(), "the decoder stays failed")
        var exact = FrameDecoder()
        exact.append([0x00, 0x40, 0x00, 0x00])  // exactly 4 MiB is allowed: it waits for the body
        XCTAssertNil(try exact.next())
    }

    func testEncodeRefusesOversizeFrames() {
        let big = Frame(streamID: 1, kind: .data(chunk: Array(repeating: 1, count: 4 << 20), last: true))
        XCTAssertThrowsError(try FrameCodec.encode(big)) {
            guard case .frameTooLarge? = $0 as? WireError else { return XCTFail("\($0)") }
        }
    }

    /// Serializes a Cancel with `reason`, then replaces one byte of the reason in the wire bytes.
    private func cancelBytes(reason: String, patch: (index: Int, byte: UInt8)) throws -> [UInt8] {
        var bytes = try Frame(streamID: 1, kind: .cancel(reason: reason)).serialized()
        let r = Array(reason.utf8)
        let at = try XCTUnwrap((0...(bytes.count - r.count)).first { Array(bytes[$0..<($0 + r.count)]) == r })
        bytes[at + patch.index] = patch.byte
        return bytes
    }

    func testEmbeddedNULIsRefusedNotTruncated() throws {
        let bytes = try cancelBytes(reason: "abcdef", patch: (2, 0))
        XCTAssertThrowsError(try Frame(serialized: bytes)) {
            XCTAssertEqual($0 as? WireError, .embeddedNUL(field: "cancel.reason"))
            XCTAssertEqual(Status($0 as! WireError).field, "cancel.reason")
        }
        XCTAssertThrowsError(try Frame(streamID: 1, kind: .cancel(reason: "a\u{0}b")).serialized()) {
            XCTAssertEqual($0 as? WireError, .embeddedNUL(field: "cancel.reason"))
        }
    }

    func testInvalidUTF8IsRefused() throws {
        let bytes = try cancelBytes(reason: "abcdef", patch: (3, 0xFF))
        XCTAssertThrowsError(try Frame(serialized: bytes)) {
            XCTAssertEqual($0 as? WireError, .invalidUTF8(field: "cancel.reason"))
            XCTAssertEqual(($0 as? WireError)?.statusCode, .invalidArgument)
        }
    }

    func testEmptyFrameAndUnknownStatusCode() throws {
        XCTAssertThrowsError(try Frame(serialized: [0x08, 0x05])) {  // stream_id = 5, no kind
            XCTAssertEqual($0 as? WireError, .emptyFrame)
        }
        XCTAssertThrowsError(try Frame(serialized: [0x3A, 0x02, 0x08, 99])) {  // status { code: 99 }
            XCTAssertEqual($0 as? WireError, .unknownStatusCode(99))
        }
        XCTAssertThrowsError(try Frame(serialized: [0x12, 0x05, 0x0A])) {  // truncated request
            XCTAssertEqual($0 as? WireError, .malformedMessage(type: "tailor.v1.Frame"))
        }
    }

    /// 10 000 random and mutated frames: every one decodes to a frame or throws a WireError.
    func testFuzzNeverCrashes() throws {
        var rng = SystemRandomNumberGenerator()
        var seeds = try Self.samples.map { try $0.serialized() }
        var errors = 0, frames = 0
        for i in 0..<10_000 {
            var bytes: [UInt8]
            if i % 4 == 0 {
                bytes = (0..<Int.random(in: 0..<64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                bytes = seeds[i % seeds.count]
                for _ in 0..<Int.random(in: 1...4, using: &rng) where !bytes.isEmpty {
                    switch Int.random(in: 0..<3, using: &rng) {
                    case 0: bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                    case 1: bytes.removeLast(Int.random(in: 0...bytes.count, using: &rng))
                    default:
                        bytes.insert(
                            UInt8.random(in: 0...255, using: &rng), at: Int.random(in: 0...bytes.count, using: &rng))
                    }
                }
            }
            do {
                let f = try Frame(serialized: bytes)
                frames += 1
                if i % 97 == 0 { seeds.append(try f.serialized()) }
            } catch is WireError {
                errors += 1
            }
        }
        XCTAssertEqual(errors + frames, 10_000)
        XCTAssertGreaterThan(errors, 1000)
        XCTAssertGreaterThan(frames, 100)
    }
}
