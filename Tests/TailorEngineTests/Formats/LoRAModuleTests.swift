import Foundation
import TailorTestSupport
import XCTest

@testable import TailorEngine

/// Phi-3's fused modules: adapter files name qkv_proj and gate_up_proj (attn_qkv and ffn_up in
/// llama.cpp's), while Tailor adapts and trains q, k, v, gate and up apart.
final class LoRAModuleTests: XCTestCase {
    private func phi3() throws -> (Model, LoRAAdapter) {
        let (model, _) = try TinyModelLogitTests.load("phi3")
        let dir = TestPaths.fixtures.appendingPathComponent("lora/phi3-task-peft")
        let task = try PEFTAdapter.load(
            name: "task", configJSON: Data(contentsOf: dir.appendingPathComponent("adapter_config.json")),
            safetensors: [UInt8](try Data(contentsOf: dir.appendingPathComponent("adapter_model.safetensors"))),
            config: model.config)
        return (model, task)
    }

    private func logits(_ model: Model, _ adapter: LoRAAdapter) throws -> [[Float]] {
        let tokens: [Int32] = [5, 67, 120, 3, 250, 33, 91, 200]
        let ctx = InferenceContext(
            model: model, maxContext: 64, maxBatchTokens: tokens.count, maxLogitRows: tokens.count, threads: 2)
        try ctx.forward([BatchItem(sequence: 0, tokens: tokens, allLogits: true, adapters: [AdapterUse(adapter)])])
        return (0..<tokens.count).map { Array(ctx.logits(row: $0)) }
    }

    private func assertSameLogits(_ a: [[Float]], _ b: [[Float]], _ message: String) {
        var worst: Float = 0
        for (x, y) in zip(a, b) { for (u, v) in zip(x, y) { worst = max(worst, abs(u - v)) } }
        XCTAssertLessThanOrEqual(worst, 1e-5, "\(message): max |Δlogit| \(worst)")
    }

    func testPhi3NamesItsFusedModules() throws {
        let (model, task) = try phi3()
        XCTAssertEqual(model.config.loraModules.map(\.peftName), ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"])
        XCTAssertEqual(model.config.loraModules.map(\.ggufName), ["attn_qkv", "attn_output", "ffn_up", "ffn_down"])
        // Imported, each part holds the module's A and its own rows of B.
        let q = try XCTUnwrap(task.weights[.init(layer: 1, target: .q)])
        let v = try XCTUnwrap(task.weights[.init(layer: 1, target: .v)])
        XCTAssertEqual(q.a, v.a)
        XCTAssertEqual(q.outputs, model.config.qDim)
        XCTAssertEqual(v.outputs, model.config.kvDim)
        XCTAssertEqual(Set(task.weights.keys.map(\.target)), Set(LoRATarget.allCases))
        let llama = try TinyModelLogitTests.load("llama").0
        XCTAssertEqual(llama.config.loraModules.map(\.parts), LoRATarget.allCases.map { [$0] })
    }

    /// A trained adapter has its own A per part, and may leave parts out. Exported, each fused
    /// module stacks its parts' ranks (B block-diagonal, zero rows for a missing part), every
    /// module is padded to the largest rank, and alpha keeps the scale: PEFT and llama.cpp files
    /// give exactly the adapter's logits back.
    func testSeparatelyTrainedPartsExportExactly() throws {
        let (model, task) = try phi3()
        var weights: [LoRAAdapter.Key: LoRAWeights] = [:]
        for (key, w) in task.weights where key.target != .gate {
            // k's delta is unchanged but its A differs from q's and v's.
            let f: Float = key.target == .k ? 2 : 1
            weights[key] = try LoRAWeights(
                a: w.a.map { $0 * f }, b: w.b.map { $0 / f }, rank: w.rank, inputs: w.inputs, outputs: w.outputs)
        }
        let trained = LoRAAdapter(name: "trained", rank: 4, alpha: 8, useRSLoRA: true, weights: weights)
        let want = try logits(model, trained)

        let (cfg, st) = try PEFTAdapter.export(trained, config: model.config, baseModel: nil)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(cfg)) as? [String: Any])
        XCTAssertEqual(json["r"] as? Int, 12)
        XCTAssertEqual((json["lora_alpha"] as? NSNumber)?.floatValue ?? 0, trained.scale * 12, accuracy: 1e-5)
        XCTAssertEqual(json["use_rslora"] as? Bool, false)
        let peft = try PEFTAdapter.load(name: "back", configJSON: Data(cfg), safetensors: st, config: model.config)
        XCTAssertEqual(peft.scale, trained.scale, accuracy: 1e-6)
        assertSameLogits(try logits(model, peft), want, "PEFT export")

        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "tailor-phi3-\(UUID().uuidString).gguf")
        try Data(GGUFLoRA.export(trained, config: model.config)).write(to: path)
        defer { try? FileManager.default.removeItem(at: path) }
        let gguf = try GGUFLoRA.load(path: path.path, name: "back", config: model.config)
        XCTAssertEqual(gguf.rank, 12)
        assertSameLogits(try logits(model, gguf), want, "GGUF export")
    }

    /// Unfused names mean nothing to Phi-3's modules, and are refused by name.
    func testPhi3RefusesUnfusedTargets() throws {
        let (model, _) = try phi3()
        let dir = TestPaths.fixtures.appendingPathComponent("lora/phi3-user-peft")
        var json = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("adapter_config.json")))
                as? [String: Any])
        json["target_modules"] = ["q_proj"]
        XCTAssertThrowsError(
            try PEFTAdapter.load(
                name: "x", configJSON: JSONSerialization.data(withJSONObject: json),
                safetensors: [UInt8](Data(contentsOf: dir.appendingPathComponent("adapter_model.safetensors"))),
                config: model.config)
        ) {
            XCTAssertEqual(
                $0 as? PEFTError,
                .unsupportedTarget("q_proj", supported: ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]))
        }
    }
}
