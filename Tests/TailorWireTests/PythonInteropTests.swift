import Foundation
import TailorTestSupport
import XCTest

@testable import TailorWire

/// Frames cross between protobuf-c (here) and Python's protobuf (Clients/python), both ways:
/// the bytes each side writes are what the other side reads.
final class PythonInteropTests: XCTestCase {

    private func python(_ args: [String], stdin: String) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3"] + args
        let i = Pipe(), o = Pipe(), e = Pipe()
        p.standardInput = i
        p.standardOutput = o
        p.standardError = e
        try p.run()
        i.fileHandleForWriting.write(Data(stdin.utf8))
        try i.fileHandleForWriting.close()
        let out = o.fileHandleForReading.readDataToEndOfFile(), err = e.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    func testFramesRoundTripThroughPythonProtobuf() throws {
        let probe = try python(["-c", "import google.protobuf"], stdin: "")
        try XCTSkipIf(probe.status != 0, "Python's protobuf package is absent (pip install protobuf): skipping interop")
        var wire: [UInt8] = []
        for f in FrameCodecTests.samples { wire += try FrameCodec.encode(f) }
        let hex = wire.map { String(format: "%02x", $0) }.joined()
        let r = try python([TestPaths.repository("Clients/python/tests/interop.py").path], stdin: hex)
        XCTAssertEqual(r.status, 0, r.err)
        var bytes: [UInt8] = []
        var idx = r.out.startIndex
        while idx < r.out.endIndex {
            let next = r.out.index(idx, offsetBy: 2)
            bytes.append(try XCTUnwrap(UInt8(r.out[idx..<next], radix: 16)))
            idx = next
        }
        var d = FrameDecoder()
        d.append(bytes)
        var got: [Frame] = []
        while let f = try d.next() { got.append(f) }
        XCTAssertEqual(
            Array(got.prefix(FrameCodecTests.samples.count)), FrameCodecTests.samples, "Swift → Python → Swift")
        XCTAssertEqual(
            Array(got.dropFirst(FrameCodecTests.samples.count)),
            [
                Frame(
                    streamID: 1, kind: .request(Request(service: "tailor.v1.Health", method: "Check", timeoutMS: 500))),
                Frame(streamID: 3, kind: .event(payload: Array("Grüße 🙂".utf8))),
                Frame(
                    streamID: 5, kind: .status(Status(code: .invalidArgument, message: "bad", field: "generate.prompt"))
                ),
                Frame(streamID: 7, kind: .data(chunk: (0..<256).map { UInt8($0) }, last: true)),
            ], "Python → Swift")
    }
}
