import Foundation
import TailorTestSupport
import XCTest

@testable import TailorEngine

/// Tiny random models of each architecture against the logits transformers computed for them
/// (Scripts/fixtures/make_tiny_models.py). Required: max |Δlogit| ≤ 1e-3 in the f32 path.
final class TinyModelLogitTests: XCTestCase {
    struct Expected: Decodable {
        let tokens: [Int32]
        let vocab: Int
        let logits: [[Float]]
    }

    static func load(_ arch: String, logits: String? = nil) throws -> (Model, Expected) {
        let dir = TestPaths.fixtures.appendingPathComponent("tiny")
        let model = try Model(path: dir.appendingPathComponent("\(arch).gguf").path)
        let data = try Data(contentsOf: dir.appendingPathComponent("\(logits ?? arch).logits.json"))
        return (model, try JSONDecoder().decode(Expected.self, from: data))
    }

    /// Runs the whole sequence in one batch and checks every position, once through the
    /// dequantize+sgemm prefill path and once through the integer-dot path (which batches
    /// shorter than `gemmThreshold` take).
    private func checkBatched(
        _ arch: String, logits: String? = nil, precision: ComputePrecision, threads: Int, context: Int = 64
    ) throws {
        let (model, exp) = try Self.load(arch, logits: logits)
        XCTAssertEqual(model.config.architecture.rawValue, arch)
        let n = exp.tokens.count
        let ctx = InferenceContext(
            model: model, maxContext: context, maxBatchTokens: n, maxLogitRows: n,
            threads: threads, precision: precision)
        for threshold in [1, Int.max] {
            ctx.reset(sequence: 0)
            ctx.gemmThreshold = threshold
            let rows = try ctx.forward([BatchItem(sequence: 0, tokens: exp.tokens, allLogits: true)])
            XCTAssertEqual(rows, n)
            var worst: Float = 0
            for p in 0..<n {
                let got = ctx.logits(row: p)
                XCTAssertEqual(got.count, exp.vocab)
                for v in 0..<exp.vocab { worst = max(worst, abs(got[v] - exp.logits[p][v])) }
            }
            XCTAssertLessThanOrEqual(worst, 1e-3, "\(arch) gemm threshold \(threshold): max |Δlogit| \(worst)")
        }
    }

    /// Feeds one token at a time (decode path, KV cache) and checks every position.
    private func checkIncremental(_ arch: String) throws {
        let (model, exp) = try Self.load(arch)
        let ctx = InferenceContext(model: model, maxContext: 64, maxBatchTokens: 4, threads: 2, precision: .fast)
        var worst: Float = 0
        for (p, t) in exp.tokens.enumerated() {
            try ctx.forward([BatchItem(sequence: 0, tokens: [t])])
            let got = ctx.logits(row: 0)
            for v in 0..<exp.vocab { worst = max(worst, abs(got[v] - exp.logits[p][v])) }
        }
        XCTAssertLessThanOrEqual(worst, 1e-3, "\(arch) incremental: max |Δlogit| \(worst)")
    }

    func testLlamaExact() throws { try checkBatched("llama", precision: .exact, threads: 2) }
    func testQwen2Exact() throws { try checkBatched("qwen2", precision: .exact, threads: 2) }
    func testQwen3Exact() throws { try checkBatched("qwen3", precision: .exact, threads: 2) }
    func testSmolLM3Exact() throws { try checkBatched("smollm3", precision: .exact, threads: 2) }
    func testGemma2Exact() throws { try checkBatched("gemma2", precision: .exact, threads: 2) }
    func testGemma3Exact() throws { try checkBatched("gemma3", precision: .exact, threads: 2) }
    func testPhi3Exact() throws { try checkBatched("phi3", precision: .exact, threads: 2) }
    func testGemma3SingleThread() throws { try checkBatched("gemma3", precision: .exact, threads: 1) }
    func testLlamaIncremental() throws { try checkIncremental("llama") }
    func testQwen2Incremental() throws { try checkIncremental("qwen2") }
    func testQwen3Incremental() throws { try checkIncremental("qwen3") }
    func testSmolLM3Incremental() throws { try checkIncremental("smollm3") }
    func testGemma2Incremental() throws { try checkIncremental("gemma2") }
    func testGemma3Incremental() throws { try checkIncremental("gemma3") }
    func testPhi3Incremental() throws { try checkIncremental("phi3") }
    func testQwen3MoeExact() throws { try checkBatched("qwen3moe", precision: .exact, threads: 2) }
    func testQwen3MoeIncremental() throws { try checkIncremental("qwen3moe") }

    /// Phi-3's LongRoPE: a context past the original 64 positions rotates by the long factors
    /// (transformers switches when the sequence passes 64; the 72 tokens here do), and the
    /// 64-position contexts above by the short ones. Each set of factors fails the other's logits.
    func testPhi3LongContextTakesTheLongFactors() throws {
        try checkBatched("phi3", logits: "phi3-long", precision: .exact, threads: 2, context: 128)
        let (model, _) = try Self.load("phi3")
        XCTAssertEqual(model.config.ropeOriginalContext, 64)
        XCTAssertEqual(model.config.ropeAttentionFactor, (1 + log(2) / log(64)).squareRoot(), accuracy: 1e-6)
        XCTAssertEqual(model.config.ropeDim, 12)
        let long = try XCTUnwrap(model.weights.ropeLongFactors)
        XCTAssertEqual(
            model.weights.ropeFactors(maxContext: 64, config: model.config), model.weights.ropeFrequencyFactors)
        XCTAssertEqual(model.weights.ropeFactors(maxContext: 65, config: model.config), long)
        XCTAssertNotEqual(long, model.weights.ropeFrequencyFactors)
    }

    /// Two sequences in one batch give the same logits as each alone: rows do not leak.
    func testBatchRowsAreIndependent() throws {
        let (model, exp) = try Self.load("qwen2")
        let ctx = InferenceContext(
            model: model, maxSequences: 2, maxContext: 64, maxBatchTokens: 32, maxLogitRows: 2, threads: 2)
        let a = Array(exp.tokens.prefix(6)), b = Array(exp.tokens.suffix(9))
        try ctx.forward([BatchItem(sequence: 0, tokens: a), BatchItem(sequence: 1, tokens: b)])
        let la = Array(ctx.logits(row: 0)), lb = Array(ctx.logits(row: 1))
        for (seq, toks, both) in [(0, a, la), (1, b, lb)] {
            ctx.reset(sequence: seq)
            try ctx.forward([BatchItem(sequence: seq, tokens: toks)])
            let alone = Array(ctx.logits(row: 0))
            for v in 0..<alone.count { XCTAssertEqual(both[v], alone[v], accuracy: 1e-4) }
        }
    }

    func testRejectsBadRequests() throws {
        let (model, _) = try Self.load("llama")
        let ctx = InferenceContext(model: model, maxSequences: 1, maxContext: 8, maxBatchTokens: 4)
        XCTAssertThrowsError(try ctx.forward([BatchItem(sequence: 0, tokens: [Int32(model.config.vocabSize)])])) {
            XCTAssertEqual(
                $0 as? EngineError, .invalidToken(id: Int32(model.config.vocabSize), vocabSize: model.config.vocabSize))
        }
        XCTAssertThrowsError(try ctx.forward([BatchItem(sequence: 0, tokens: [1, 2, 3, 4, 5])])) {
            XCTAssertEqual($0 as? EngineError, .batchTooLarge(tokens: 5, capacity: 4))
        }
        XCTAssertThrowsError(try ctx.forward([BatchItem(sequence: 1, tokens: [1])])) {
            XCTAssertEqual($0 as? EngineError, .invalidSequence(1))
        }
        XCTAssertThrowsError(try ctx.forward([BatchItem(sequence: 0, tokens: [])])) {
            XCTAssertEqual($0 as? EngineError, .emptyInput)
        }
        try ctx.forward([BatchItem(sequence: 0, tokens: [1, 2, 3, 4])])
        try ctx.forward([BatchItem(sequence: 0, tokens: [1, 2, 3, 4])])
        XCTAssertThrowsError(try ctx.forward([BatchItem(sequence: 0, tokens: [1])])) {
            XCTAssertEqual($0 as? EngineError, .contextFull(sequence: 0, needed: 9, capacity: 8))
        }
        // A failed call leaves the sequence as it was.
        XCTAssertEqual(ctx.length(of: 0), 8)
    }
}
