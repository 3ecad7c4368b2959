import CTailorKernels
import Foundation
import TailorTestSupport
import XCTest

@testable import TailorEngine

/// Merging a fixed adapter into a private copy of the weights (`Model.merging`).
final class MergedLoRATests: XCTestCase {
    /// On the tiny F32 models the merged copy is exact: its logits equal transformers' with the
    /// same deltas merged (the LoRA fixtures' reference), and the unmerged path's.
    func testMergedTinyModelsMatchTransformersMerge() throws {
        struct Fixture: Decodable { let tokens: [Int32]; let expected: [String: [[Float]]] }
        for arch in ["llama", "qwen2", "qwen3", "smollm3", "gemma2", "gemma3", "phi3", "qwen3moe"] {
            let (model, _) = try TinyModelLogitTests.load(arch)
            let fx = try JSONDecoder().decode(
                Fixture.self, from: Data(contentsOf: TestPaths.fixtures.appendingPathComponent("lora/\(arch).json")))
            let dir = TestPaths.fixtures.appendingPathComponent("lora")
            func peft(_ name: String) throws -> LoRAAdapter {
                let d = dir.appendingPathComponent("\(arch)-\(name)-peft")
                return try PEFTAdapter.load(
                    name: name, configJSON: Data(contentsOf: d.appendingPathComponent("adapter_config.json")),
                    safetensors: [UInt8](Data(contentsOf: d.appendingPathComponent("adapter_model.safetensors"))),
                    config: model.config)
            }
            let merged = try model.merging([AdapterUse(try peft("task")), AdapterUse(try peft("user"), weight: 0.5)])
            XCTAssertEqual(merged.weights.blocks[0].q.type, .f32)
            let n = fx.tokens.count
            let ctx = InferenceContext(model: merged, maxContext: 64, maxBatchTokens: n, maxLogitRows: n, threads: 2)
            try ctx.forward([BatchItem(sequence: 0, tokens: fx.tokens, allLogits: true)])
            let want = try XCTUnwrap(fx.expected["task+0.5user"])
            var worst: Float = 0
            for p in 0..<n { for (v, w) in want[p].enumerated() { worst = max(worst, abs(ctx.logits(row: p)[v] - w)) } }
            XCTAssertLessThanOrEqual(worst, 1e-3, "\(arch): max |Δlogit| \(worst)")
            // The base model is untouched by the merge.
            let base = InferenceContext(model: model, maxContext: 64, maxBatchTokens: n, maxLogitRows: n, threads: 1)
            try base.forward([BatchItem(sequence: 0, tokens: fx.tokens, allLogits: true)])
            XCTAssertNotEqual(Array(base.logits(row: n - 1)), Array(ctx.logits(row: n - 1)))
        }
    }

    func testQ8_0QuantizerRoundTripsWithinHalfAStep() {
        var x = [Float](repeating: 0, count: 64)
        for i in 0..<64 { x[i] = sinf(Float(i) * 0.37) * (i < 32 ? 3 : 0.01) }
        var q = [UInt8](repeating: 0, count: 68)
        x.withUnsafeBufferPointer { xb in
            q.withUnsafeMutableBytes { Model.quantizeQ8_0(xb.baseAddress!, count: 64, into: $0.baseAddress!) }
        }
        var back = [Float](repeating: 0, count: 64)
        q.withUnsafeBytes { qb in
            back.withUnsafeMutableBufferPointer {
                tk_dequantize(Int32(GGMLType.q8_0.rawValue), qb.baseAddress, $0.baseAddress, 64)
            }
        }
        for b in 0..<2 {
            let amax = x[(b * 32)..<(b * 32 + 32)].map(abs).max()!
            for i in (b * 32)..<(b * 32 + 32) {
                XCTAssertEqual(back[i], x[i], accuracy: amax / 127 * 0.5 + amax * 1e-3)
            }
        }
    }

    /// On a real quantized model, teacher-forced over a prompt, the merged copy gives the
    /// unmerged adapter's logits: near-exactly in F16; within the requantization error in Q8_0
    /// (measured 0.18 with a zero adapter: that is Q4_1 → Q8_0 alone), with the same top token
    /// at nearly every position.
    func testMergedRealModelFollowsTheUnmergedAdapter() throws {
        let path = try TestPaths.requireModel(TestPaths.smolLM2)
        let model = try Model(path: path)
        var rng = SeededGenerator(seed: 11)
        var weights: [LoRAAdapter.Key: LoRAWeights] = [:]
        for l in 0..<model.config.layerCount {
            for t in [LoRATarget.q, .v] {
                let (inputs, outputs) = model.config.shape(of: t)
                let a = (0..<(8 * inputs)).map { _ in (rng.nextUnit() - 0.5) * 0.1 }
                let b = (0..<(outputs * 8)).map { _ in (rng.nextUnit() - 0.5) * 0.1 }
                weights[.init(layer: l, target: t)] = try LoRAWeights(
                    a: a, b: b, rank: 8, inputs: inputs, outputs: outputs)
            }
        }
        let adapter = LoRAAdapter(name: "random", rank: 8, alpha: 16, weights: weights)
        let tokens = model.tokenizer.encode(
            """
            Write a haiku about autumn leaves. The wind carries the last of the red maple leaves across the quiet \
            road.
            """,
            addSpecial: true, parseSpecial: false)
        let n = tokens.count
        func logits(_ m: Model, _ adapters: [AdapterUse]) throws -> [[Float]] {
            let ctx = InferenceContext(
                model: m, maxContext: 128, maxBatchTokens: n, maxLogitRows: n, threads: 2, precision: .exact)
            try ctx.forward([BatchItem(sequence: 0, tokens: tokens, allLogits: true, adapters: adapters)])
            return (0..<n).map { Array(ctx.logits(row: $0)) }
        }
        let unmerged = try logits(model, [AdapterUse(adapter)])
        let base = try logits(model, [])
        func compare(_ got: [[Float]]) -> (worst: Float, agree: Int) {
            var worst: Float = 0, agree = 0
            for p in 0..<n {
                for v in 0..<got[p].count { worst = max(worst, abs(got[p][v] - unmerged[p][v])) }
                if got[p].indices.max(by: { got[p][$0] < got[p][$1] })
                    == unmerged[p].indices.max(by: { unmerged[p][$0] < unmerged[p][$1] })
                {
                    agree += 1
                }
            }
            return (worst, agree)
        }
        let effect = compare(base)
        XCTAssertGreaterThan(effect.worst, 1, "the adapter should move the logits")
        let f16 = try model.merging([AdapterUse(adapter)], precision: .f16)
        XCTAssertEqual(f16.weights.blocks[0].q.type, .f16)
        XCTAssertEqual(f16.weights.blocks[0].k.type, model.weights.blocks[0].k.type)  // not adapted: shared
        let h = compare(try logits(f16, []))
        XCTAssertLessThan(h.worst, 0.02)
        XCTAssertEqual(h.agree, n)
        let q8 = try model.merging([AdapterUse(adapter)])
        XCTAssertEqual(q8.weights.blocks[0].q.type, .q8_0)
        let q = compare(try logits(q8, []))
        XCTAssertLessThan(q.worst, 0.5)
        XCTAssertGreaterThanOrEqual(Double(q.agree), 0.85 * Double(n), "top-1 agreement \(q.agree)/\(n)")
        print(
            """
            merged vs unmerged on SmolLM2: f16 max |Δ| \(h.worst) top-1 \(h.agree)/\(n); q8_0 max |Δ| \(q.worst) \
            top-1 \(q.agree)/\(n); adapter effect \(effect.worst)
            """
        )
    }
}
