import Foundation
import TailorTestSupport
import XCTest

@testable import TailorEngine

final class GGUFFileTests: XCTestCase {
    private func valid() -> GGUFBuilder {
        var b = GGUFBuilder()
        b.addString("general.architecture", "llama")
        b.addUInt32("llama.block_count", 1)
        b.addF32Tensor("a.weight", dims: [4, 2], values: [1, 2, 3, 4, 5, 6, 7, 8])
        b.addF32Tensor("b.weight", dims: [3], values: [9, 10, 11])
        return b
    }

    private func expectError(
        _ b: GGUFBuilder, _ check: (GGUFError, String) -> Void,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let path = try b.write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertThrowsError(try GGUFFile(path: path), file: file, line: line) { error in
            guard let e = error as? GGUFError else {
                return XCTFail("not a GGUFError: \(error)", file: file, line: line)
            }
            XCTAssertTrue(e.description.contains(path), "error names the file: \(e)", file: file, line: line)
            check(e, path)
        }
    }

    func testReadsValidFile() throws {
        let path = try valid().write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let f = try GGUFFile(path: path)
        XCTAssertEqual(f.version, 3)
        XCTAssertEqual(try f.string("general.architecture"), "llama")
        XCTAssertEqual(try f.int("llama.block_count"), 1)
        XCTAssertEqual(f.tensors.map(\.name), ["a.weight", "b.weight"])
        let a = try XCTUnwrap(f.tensor("a.weight"))
        XCTAssertEqual(a.dims, [4, 2])
        XCTAssertEqual(a.fileOffset % 32, 0)
        let values = f.data(of: a).assumingMemoryBound(to: Float.self)
        XCTAssertEqual((0..<8).map { values[$0] }, [1, 2, 3, 4, 5, 6, 7, 8])
        XCTAssertThrowsError(try f.int("missing.key")) {
            XCTAssertEqual($0 as? GGUFError, .missingMetadata(path: path, key: "missing.key"))
        }
    }

    func testReadsVersion2() throws {
        var b = valid()
        b.version = 2
        let path = try b.write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let f = try GGUFFile(path: path)
        XCTAssertEqual(f.version, 2)
        XCTAssertEqual(f.tensor("b.weight")?.dims, [3])
    }

    func testMissingFile() {
        XCTAssertThrowsError(try GGUFFile(path: "/nonexistent/model.gguf")) {
            guard case .cannotOpen(let p, _)? = $0 as? GGUFError else { return XCTFail("\($0)") }
            XCTAssertEqual(p, "/nonexistent/model.gguf")
        }
    }

    func testWrongMagic() throws {
        var b = valid()
        b.magic = Array("GGML".utf8)
        try expectError(b) { e, _ in guard case .badMagic = e else { return XCTFail("\(e)") } }
    }

    func testUnsupportedVersion() throws {
        var b = valid()
        b.version = 1
        try expectError(b) { e, p in XCTAssertEqual(e, .unsupportedVersion(path: p, version: 1)) }
    }

    func testUnknownTensorType() throws {
        var b = valid()
        b.tensors[0].type = 99
        try expectError(b) { e, p in XCTAssertEqual(e, .unknownTensorType(path: p, tensor: "a.weight", type: 99)) }
        var c = valid()
        c.tensors[0].type = GGMLType.iq2_xxs.rawValue  // a real type Tailor cannot compute with
        try expectError(c) { e, p in XCTAssertEqual(e, .unknownTensorType(path: p, tensor: "a.weight", type: 16)) }
    }

    func testOffsetPastEnd() throws {
        var b = valid()
        b.tensors[1].offset = 1 << 20
        try expectError(b) { e, _ in
            guard case .tensorOutOfBounds(_, "b.weight", _, _, _) = e else { return XCTFail("\(e)") }
        }
    }

    func testAbsurdDimensions() throws {
        var b = valid()
        b.tensors[0].dims = [0, 2]
        try expectError(b) { e, _ in guard case .absurdDimension(_, "a.weight", _) = e else { return XCTFail("\(e)") } }
        var c = valid()
        c.tensors[0].dims = [1 << 30, 1 << 30]
        try expectError(c) { e, _ in guard case .absurdDimension(_, "a.weight", _) = e else { return XCTFail("\(e)") } }
        var d = valid()
        d.tensors[0].dims = [1, 1, 1, 1, 1]
        try expectError(d) { e, _ in guard case .absurdDimension(_, "a.weight", _) = e else { return XCTFail("\(e)") } }
    }

    func testAbsurdCountsAndLengths() throws {
        var b = valid()
        b.tensorCountOverride = 1 << 40
        try expectError(b) { e, _ in guard case .absurdLength = e else { return XCTFail("\(e)") } }
        var c = valid()
        c.metadata.append(("huge", 8, GGUFBuilder.le(UInt64(1) << 50)))
        try expectError(c) { e, _ in guard case .absurdLength = e else { return XCTFail("\(e)") } }
        var d = valid()
        d.metadata.append(("badtype", 77, [0, 0, 0, 0]))
        try expectError(d) { e, p in XCTAssertEqual(e, .badValueType(path: p, key: "badtype", type: 77)) }
    }

    func testTruncatedAtEveryLength() throws {
        let full = valid().bytes()
        for cut in stride(from: 0, to: full.count - 1, by: 3) {
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("tailor-cut-\(cut).gguf")
            try Data(full[0..<cut]).write(to: url)
            defer { try? FileManager.default.removeItem(at: url) }
            XCTAssertThrowsError(try GGUFFile(path: url.path), "cut at \(cut)") { error in
                guard let e = error as? GGUFError else { return XCTFail("cut \(cut): \(error)") }
                switch e {
                case .truncated, .tensorOutOfBounds, .absurdLength: break
                default: XCTFail("cut \(cut): unexpected \(e)")
                }
            }
        }
    }

    /// Random byte flips and truncations of a real (tiny) model never crash the loader: each
    /// attempt either loads or throws. A dense model and a mixture of experts (whose expert
    /// counts and stacked tensors are read from the same header).
    func testMutatedModelsNeverCrash() throws {
        for arch in ["qwen2", "qwen3moe"] { try mutate(arch) }
    }

    private func mutate(_ arch: String) throws {
        let src = TestPaths.fixtures.appendingPathComponent("tiny/\(arch).gguf")
        let original = [UInt8](try Data(contentsOf: src))
        var rng = SeededGenerator(seed: 99)
        let headerEnd = 16 << 10  // flips land in the header and tokenizer, where parsing happens
        var threw = 0
        for i in 0..<150 {
            var bytes = original
            if i % 3 == 0 {
                bytes = Array(bytes[0..<Int(rng.next() % UInt64(bytes.count))])
            } else {
                for _ in 0..<4 { bytes[Int(rng.next() % UInt64(headerEnd))] = UInt8(truncatingIfNeeded: rng.next()) }
            }
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("tailor-fuzz-\(i).gguf")
            try Data(bytes).write(to: url)
            defer { try? FileManager.default.removeItem(at: url) }
            do { _ = try Model(path: url.path) } catch { threw += 1 }
        }
        XCTAssertGreaterThan(threw, 0)
    }
}
