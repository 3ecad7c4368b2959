import Foundation
import TailorTestSupport
import XCTest

@testable import TailorEngine

/// Loading a mixture of experts: the tiny Qwen3-MoE rewritten with one thing wrong at a time
/// must be refused with an error naming the key or tensor, never half-loaded.
final class ExpertWeightsTests: XCTestCase {
    /// The tiny Qwen3-MoE's numeric metadata (renamed for `architecture`) and f32 tensors, with
    /// `edits` to its keys applied (nil leaves a key out) and `dims` replacing a tensor's shape
    /// (its values cut or padded to fit).
    private func rewritten(
        architecture: String = "qwen3moe", edits: [String: GGUFWriter.Value?] = [:], dims: [String: [Int]] = [:]
    ) throws -> String {
        let source = try GGUFFile(path: TestPaths.tinyModel("qwen3moe"))
        var w = GGUFWriter()
        w.set("general.architecture", .string(architecture))
        for key in source.metadataKeys where key.hasPrefix("qwen3moe.") {
            let name = architecture + key.dropFirst("qwen3moe".count)
            if let edit = edits[name] {
                if let value = edit { w.set(name, value) }
                continue
            }
            switch source.metadata[key] {
            case let v? where v.intValue != nil: w.set(name, .uint32(UInt32(v.intValue!)))
            case let v? where v.doubleValue != nil: w.set(name, .float32(Float(v.doubleValue!)))
            default: break
            }
        }
        for t in source.tensors {
            let shape = dims[t.name] ?? t.dims, count = shape.reduce(1, *)
            let data = source.data(of: t).assumingMemoryBound(to: Float.self)
            w.addTensor(t.name, dims: shape, values: (0..<count).map { $0 < t.elementCount ? data[$0] : 0 })
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("moe-\(UUID().uuidString).gguf").path
        try Data(w.serialized()).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Loads config and weights from `path` (deleted after), returning the error's message.
    private func refusal(_ path: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let f = try GGUFFile(path: path)
            _ = try TransformerWeights(file: f, config: try ModelConfig(file: f))
            XCTFail("loaded", file: file, line: line)
            return ""
        } catch {
            XCTAssertTrue(error is GGUFError, "\(error)", file: file, line: line)
            return "\(error)"
        }
    }

    func testRewrittenFileLoads() throws {
        let path = try rewritten()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let f = try GGUFFile(path: path)
        let c = try ModelConfig(file: f)
        XCTAssertEqual([c.expertCount, c.expertsUsed, c.feedForwardLength], [8, 2, 32])
        XCTAssertEqual(try TransformerWeights(file: f, config: c).blocks.count, 2)
    }

    func testBadExpertCountsAreRefusedByKey() throws {
        let tooMany = refusal(try rewritten(edits: ["qwen3moe.expert_used_count": .uint32(9)]))
        XCTAssertTrue(tooMany.contains("qwen3moe.expert_used_count (9) of expert_count (8)"), tooMany)
        let none = refusal(try rewritten(edits: ["qwen3moe.expert_count": nil]))
        XCTAssertTrue(none.contains("qwen3moe.expert_count"), none)
    }

    func testMisshapenExpertTensorIsRefusedByName() throws {
        let m = refusal(try rewritten(dims: ["blk.1.ffn_up_exps.weight": [64, 32, 7]]))
        XCTAssertTrue(m.contains("blk.1.ffn_up_exps.weight") && m.contains("[64, 32, 8]"), m)
    }

    /// Mixtral-style files keep a dense architecture's name and add experts: refused as such,
    /// not with a missing-tensor error halfway through the blocks.
    func testExpertsUnderADenseArchitectureAreRefused() throws {
        let m = refusal(try rewritten(architecture: "llama"))
        XCTAssertTrue(m.contains("unsupported architecture 'llama with 8 experts'"), m)
    }
}
