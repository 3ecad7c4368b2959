import Foundation
import TailorTestSupport
import XCTest

@testable import TailorEngine

final class GGUFLoRATests: XCTestCase {
    private func peft(_ arch: String, _ name: String, _ config: ModelConfig) throws -> LoRAAdapter {
        let dir = TestPaths.fixtures.appendingPathComponent("lora/\(arch)-\(name)-peft")
        return try PEFTAdapter.load(
            name: name, configJSON: Data(contentsOf: dir.appendingPathComponent("adapter_config.json")),
            safetensors: [UInt8](try Data(contentsOf: dir.appendingPathComponent("adapter_model.safetensors"))),
            config: config)
    }

    private func write(_ bytes: [UInt8]) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tailor-lora-\(UUID().uuidString).gguf")
        try Data(bytes).write(to: url)
        return url.path
    }

    /// Export to llama.cpp's GGUF LoRA and import back: same weights, same scale (rsLoRA folded
    /// into alpha), same logits as transformers.
    func testRoundTripThroughOwnImport() throws {
        for arch in ["llama", "gemma3", "phi3"] {
            let (model, _) = try TinyModelLogitTests.load(arch)
            for name in ["task", "user"] {
                let a = try peft(arch, name, model.config)
                let path = try write(GGUFLoRA.export(a, config: model.config))
                defer { try? FileManager.default.removeItem(atPath: path) }
                let b = try GGUFLoRA.load(path: path, name: name, config: model.config)
                XCTAssertEqual(b.scale, a.scale, accuracy: 1e-6 * a.scale, "\(arch) \(name) scale")
                XCTAssertEqual(Set(b.weights.keys), Set(a.weights.keys))
                for (k, w) in a.weights {
                    XCTAssertEqual(b.weights[k]!.a, w.a, "\(arch) \(name) \(k)")
                    XCTAssertEqual(b.weights[k]!.b, w.b, "\(arch) \(name) \(k)")
                }
            }
            let fx = try JSONDecoder().decode(
                LoRATests.Fixture.self,
                from: Data(contentsOf: TestPaths.fixtures.appendingPathComponent("lora/\(arch).json")))
            let path = try write(GGUFLoRA.export(try peft(arch, "task", model.config), config: model.config))
            defer { try? FileManager.default.removeItem(atPath: path) }
            let task = try GGUFLoRA.load(path: path, name: "task", config: model.config)
            let n = fx.tokens.count
            let ctx = InferenceContext(model: model, maxContext: 64, maxBatchTokens: n, maxLogitRows: n, threads: 2)
            try ctx.forward([BatchItem(sequence: 0, tokens: fx.tokens, allLogits: true, adapters: [AdapterUse(task)])])
            let want = try XCTUnwrap(fx.expected["task"])
            var worst: Float = 0
            for p in 0..<n {
                let l = ctx.logits(row: p); for v in 0..<want[p].count { worst = max(worst, abs(l[v] - want[p][v])) }
            }
            XCTAssertLessThanOrEqual(worst, 1e-3, "\(arch) GGUF LoRA logits")
        }
    }

    /// llama.cpp's own reader (the `gguf` Python package) reads the export as a LoRA adapter
    /// with the tensors and shapes llama.cpp expects.
    func testExportReadsInGGUFPython() throws {
        try PythonTool.require("gguf")
        let (model, _) = try TinyModelLogitTests.load("llama")
        let adapter = try peft("llama", "user", model.config)
        let path = try write(GGUFLoRA.export(adapter, config: model.config))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let script = """
            import gguf, sys
            r = gguf.GGUFReader(sys.argv[1])
            f = lambda k: r.fields[k].contents()
            print(f("general.type"), f("adapter.type"), round(f("adapter.lora.alpha"), 4))
            for t in r.tensors: print(t.name, t.shape.tolist(), t.tensor_type.name)
            """
        let (status, output) = try PythonTool.run(["-c", script, path])
        XCTAssertEqual(status, 0)
        let text = String(decoding: output, as: UTF8.self)
        let lines = text.split(separator: "\n").map(String.init)
        // rsLoRA alpha 4, r 2: llama.cpp's alpha' = 4·√2 = 5.6569 so that alpha'/r = 4/√2.
        XCTAssertEqual(lines.first, "adapter lora 5.6569")
        XCTAssertTrue(lines.contains("blk.0.attn_q.weight.lora_a [64, 2] F32"), text)
        XCTAssertTrue(lines.contains("blk.1.attn_v.weight.lora_b [2, 32] F32"), text)
        XCTAssertEqual(lines.count, 1 + 2 * 2 * 2)
    }

    func testRefusesWhatIsNotAMatchingAdapter() throws {
        let (llama, _) = try TinyModelLogitTests.load("llama")
        let (gemma, _) = try TinyModelLogitTests.load("gemma3")
        let model = TestPaths.fixtures.appendingPathComponent("tiny/llama.gguf").path
        XCTAssertThrowsError(try GGUFLoRA.load(path: model, name: "x", config: llama.config)) {
            guard case let .adapterMismatch(m)? = $0 as? EngineError else { return XCTFail("\($0)") }
            XCTAssertTrue(m.contains("not a LoRA adapter"), m)
        }
        let path = try write(GGUFLoRA.export(try peft("llama", "user", llama.config), config: llama.config))
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertThrowsError(try GGUFLoRA.load(path: path, name: "x", config: gemma.config)) {
            guard case let .adapterMismatch(m)? = $0 as? EngineError else { return XCTFail("\($0)") }
            XCTAssertTrue(m.contains("'llama'") && m.contains("'gemma3'"), m)
        }
        var w = GGUFWriter()
        w.set("general.architecture", .string("llama"))
        w.set("general.type", .string("adapter"))
        w.set("adapter.type", .string("lora"))
        w.set("adapter.lora.alpha", .float32(8))
        w.addTensor("blk.0.attn_q.weight.lora_a", dims: [64, 2], values: Array(repeating: 0.1, count: 128))
        let lonely = try write(w.serialized())
        defer { try? FileManager.default.removeItem(atPath: lonely) }
        XCTAssertThrowsError(try GGUFLoRA.load(path: lonely, name: "x", config: llama.config)) {
            guard case let .adapterMismatch(m)? = $0 as? EngineError else { return XCTFail("\($0)") }
            XCTAssertTrue(m.contains("missing tensor 'blk.0.attn_q.weight.lora_b'"), m)
        }
    }

    /// A LoRA GGUF for llama's tiny fixture (64-wide attention) with the given q tensors.
    private func adapter(_ tensors: [(name: String, dims: [Int])]) -> [UInt8] {
        var w = GGUFWriter()
        w.set("general.architecture", .string("llama"))
        w.set("general.type", .string("adapter"))
        w.set("adapter.type", .string("lora"))
        w.set("adapter.lora.alpha", .float32(8))
        for t in tensors {
            w.addTensor(t.name, dims: t.dims, values: Array(repeating: 0.1, count: t.dims.reduce(1, *)))
        }
        return w.serialized()
    }

    private func refusal(_ bytes: [UInt8], _ config: ModelConfig) throws -> String {
        let path = try write(bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try GGUFLoRA.load(path: path, name: "x", config: config)
            return "imported"
        } catch let EngineError.adapterMismatch(m) {
            return m
        }
    }

    /// Names, layers, ranks and data regions are checked before a value is converted: a 0.8 MB
    /// file whose tensors alias one region once became 1.8 GiB of floats.
    func testRefusesHostileLayoutsBeforeConverting() throws {
        let (llama, _) = try TinyModelLogitTests.load("llama")
        let q = "blk.0.attn_q.weight"
        var m = try refusal(
            adapter([("blk.99.attn_q.weight.lora_a", [64, 2]), ("blk.99.attn_q.weight.lora_b", [2, 64])]), llama.config)
        XCTAssertTrue(m.contains("layer 99; the model has layers 0-1"), m)
        m = try refusal(adapter([(q + ".lora_a", [64, 65]), (q + ".lora_b", [65, 64])]), llama.config)
        XCTAssertTrue(m.contains("rank 65"), m)
        // Point lora_b's data at lora_a's bytes: a valid file whose tensors share data.
        var bytes = adapter([(q + ".lora_a", [64, 2]), (q + ".lora_b", [2, 64])])
        let name = Array((q + ".lora_b").utf8)
        let at = try XCTUnwrap((0...(bytes.count - name.count)).first { Array(bytes[$0..<($0 + name.count)]) == name })
        let offsetField = at + name.count + 4 + 2 * 8 + 4  // n_dims, two dims, type
        for i in 0..<8 { bytes[offsetField + i] = 0 }
        m = try refusal(bytes, llama.config)
        XCTAssertTrue(m.contains("share data bytes"), m)
    }
}
