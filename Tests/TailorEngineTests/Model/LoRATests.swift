import Foundation
import TailorTestSupport
import XCTest

@testable import TailorEngine

/// Unmerged LoRA at decode time against transformers with the same deltas merged into the
/// weights (PEFT agrees with that merge to 1e-4: Scripts/fixtures/make_lora_fixtures.py).
final class LoRATests: XCTestCase {
    struct Fixture: Decodable {
        struct Adapter: Decodable {
            struct W: Decodable {
                let layer: Int; let target: String; let a: [Float]; let b: [Float]; let `in`: Int; let out: Int
            }
            let r: Int; let alpha: Float; let rslora: Bool; let weights: [W]
        }
        let tokens: [Int32]
        let adapters: [String: Adapter]
        let expected: [String: [[Float]]]
    }

    private func load(_ arch: String) throws -> (Model, Fixture, LoRAAdapter, LoRAAdapter) {
        let (model, _) = try TinyModelLogitTests.load(arch)
        let data = try Data(contentsOf: TestPaths.fixtures.appendingPathComponent("lora/\(arch).json"))
        let fx = try JSONDecoder().decode(Fixture.self, from: data)
        func adapter(_ name: String) throws -> LoRAAdapter {
            let a = try XCTUnwrap(fx.adapters[name])
            // Phi-3's fused modules are split into their parts, as the importers split them.
            let ws = try a.weights.flatMap { w -> [LoRAAdapter.HFWeights] in
                let module = try XCTUnwrap(model.config.loraModules.first { $0.peftName == w.target })
                return LoRAAdapter.split(
                    .init(layer: w.layer, module: module, a: w.a, b: w.b), rank: a.r, config: model.config)
            }
            return try LoRAAdapter.fromHuggingFace(
                name: name, rank: a.r, alpha: a.alpha, useRSLoRA: a.rslora, weights: ws, config: model.config)
        }
        return (model, fx, try adapter("task"), try adapter("user"))
    }

    private func check(_ arch: String, incremental: Bool) throws {
        let (model, fx, task, user) = try load(arch)
        let n = fx.tokens.count
        let ctx = InferenceContext(
            model: model, maxSequences: 2, maxContext: 64, maxBatchTokens: 2 * n, maxLogitRows: 2 * n, threads: 2)
        // Row 0: task alone. Row 1: task + user at weight 0.5. Both in one batch, so a row's
        // adapters must not leak into the other row.
        let stacks: [[AdapterUse]] = [[AdapterUse(task)], [AdapterUse(task), AdapterUse(user, weight: 0.5)]]
        var got: [[[Float]]] = [[], []]
        if incremental {
            for t in fx.tokens {
                try ctx.forward((0..<2).map { BatchItem(sequence: $0, tokens: [t], adapters: stacks[$0]) })
                for s in 0..<2 { got[s].append(Array(ctx.logits(row: s))) }
            }
        } else {
            try ctx.forward(
                (0..<2).map { BatchItem(sequence: $0, tokens: fx.tokens, allLogits: true, adapters: stacks[$0]) })
            for s in 0..<2 { got[s] = (0..<n).map { Array(ctx.logits(row: s * n + $0)) } }
        }
        for (s, key) in ["task", "task+0.5user"].enumerated() {
            let want = try XCTUnwrap(fx.expected[key])
            var worst: Float = 0
            for p in 0..<n { for v in 0..<want[p].count { worst = max(worst, abs(got[s][p][v] - want[p][v])) } }
            XCTAssertLessThanOrEqual(worst, 1e-3, "\(arch) \(key) incremental=\(incremental): max |Δlogit| \(worst)")
        }
    }

    func testLlamaBatched() throws { try check("llama", incremental: false) }
    func testLlamaIncremental() throws { try check("llama", incremental: true) }
    func testQwen2Batched() throws { try check("qwen2", incremental: false) }
    func testQwen3Batched() throws { try check("qwen3", incremental: false) }
    func testSmolLM3Batched() throws { try check("smollm3", incremental: false) }
    func testSmolLM3Incremental() throws { try check("smollm3", incremental: true) }
    func testGemma2Batched() throws { try check("gemma2", incremental: false) }
    func testGemma2Incremental() throws { try check("gemma2", incremental: true) }
    func testGemma3Batched() throws { try check("gemma3", incremental: false) }
    func testGemma3Incremental() throws { try check("gemma3", incremental: true) }
    func testPhi3Batched() throws { try check("phi3", incremental: false) }
    func testPhi3Incremental() throws { try check("phi3", incremental: true) }
    func testQwen3MoeBatched() throws { try check("qwen3moe", incremental: false) }
    func testQwen3MoeIncremental() throws { try check("qwen3moe", incremental: true) }

    /// An adapter changes nothing for a sequence that does not carry it.
    func testRowsWithoutAdaptersMatchTheBaseModel() throws {
        let (model, exp) = try TinyModelLogitTests.load("qwen2")
        let (_, _, task, _) = try load("qwen2")
        let ctx = InferenceContext(
            model: model, maxSequences: 2, maxContext: 64, maxBatchTokens: 32, maxLogitRows: 32, threads: 2)
        try ctx.forward([
            BatchItem(sequence: 0, tokens: exp.tokens, allLogits: true),
            BatchItem(sequence: 1, tokens: exp.tokens, adapters: [AdapterUse(task)]),
        ])
        for p in 0..<exp.tokens.count {
            let l = ctx.logits(row: p)
            for v in 0..<exp.vocab { XCTAssertEqual(l[v], exp.logits[p][v], accuracy: 1e-3) }
        }
    }

    func testMismatchedAdaptersAreRefusedByName() throws {
        let (model, _) = try TinyModelLogitTests.load("llama")
        let c = model.config
        let bad = LoRAAdapter(
            name: "wrong-shape", rank: 2, alpha: 2,
            weights: [
                LoRAAdapter.Key(layer: 0, target: .q): try LoRAWeights(
                    a: Array(repeating: 0, count: 2 * 10), b: Array(repeating: 0, count: c.qDim * 2),
                    rank: 2, inputs: 10, outputs: c.qDim)
            ])
        XCTAssertThrowsError(try bad.validate(for: c)) {
            guard case let .adapterMismatch(m)? = $0 as? EngineError else { return XCTFail("\($0)") }
            XCTAssertTrue(m.contains("wrong-shape") && m.contains("q_proj"), m)
        }
        let ctx = InferenceContext(model: model, maxContext: 16, maxBatchTokens: 4, maxLoRARank: 1)
        let (_, _, task, _) = try load("llama")
        XCTAssertThrowsError(try ctx.forward([BatchItem(sequence: 0, tokens: [1], adapters: [AdapterUse(task)])])) {
            guard case let .adapterMismatch(m)? = $0 as? EngineError else { return XCTFail("\($0)") }
            XCTAssertTrue(m.contains("rank 4"), m)
        }
        XCTAssertEqual(ctx.length(of: 0), 0, "a refused batch leaves the cache as it was")
        XCTAssertThrowsError(try LoRAWeights(a: [1, 2, 3], b: [1], rank: 2, inputs: 2, outputs: 1))
    }

    /// A mixture's feed-forward is routed experts, which v1 adapters do not target: an adapter
    /// on them (here llama's, whose every layer adapts gate, up and down) is refused by name,
    /// when applied and when merged, and the cache stays as it was.
    func testMixtureRefusesFeedForwardAdapters() throws {
        let (moe, _) = try TinyModelLogitTests.load("qwen3moe")
        let c = moe.config
        let f = c.feedForwardLength, d = c.embeddingLength
        let onExperts = LoRAAdapter(
            name: "experts", rank: 1, alpha: 1,
            weights: [
                LoRAAdapter.Key(layer: 1, target: .up): try LoRAWeights(
                    a: Array(repeating: 0, count: d), b: Array(repeating: 0, count: f), rank: 1, inputs: d, outputs: f)
            ])
        let ctx = InferenceContext(model: moe, maxContext: 16, maxBatchTokens: 4)
        XCTAssertThrowsError(try ctx.forward([BatchItem(sequence: 0, tokens: [1], adapters: [AdapterUse(onExperts)])]))
        {
            guard case let .adapterMismatch(m)? = $0 as? EngineError else { return XCTFail("\($0)") }
            XCTAssertTrue(m.contains("adapter 'experts', layer 1: LoRA target 'up'") && m.contains("qwen3moe"), m)
        }
        XCTAssertEqual(ctx.length(of: 0), 0)
        XCTAssertThrowsError(try moe.merging([AdapterUse(onExperts)]))
    }
}
