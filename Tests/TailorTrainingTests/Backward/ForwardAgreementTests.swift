import Foundation
import TailorEngine
import TailorTestSupport
import XCTest

@testable import TailorTraining

/// The training graph's forward pass and the inference engine's are two implementations of one
/// transformer block (the graph keeps every activation its backward pass needs, for one
/// sequence; the engine batches sequences over a KV cache and keeps nothing). With every
/// product through sgemm on the engine's side too (exact precision, gemm from one row: how
/// DPO's references are scored) and the same tokens in one call, they give the same logits (bit
/// for bit where OpenBLAS's summation order does not follow the product's shape) on the tiny
/// architectures (biases, QK-norm, post-norms, a sliding window, NoPE layers,
/// GELU, soft-caps) under a task adapter. Over quantized weights each pass dequantizes its own tile of
/// weight rows per sgemm call (256 in training, 128 in inference, each its faster size), and
/// OpenBLAS's summation order follows the tile's shape, so SmolLM2's Q4_1 logits agree to
/// float rounding instead. On the integer path both sides quantize each row's activations and
/// dot them with the same kernels, so SmolLM2 agrees bit for bit there too.
final class ForwardAgreementTests: XCTestCase {
    /// Compares the logits of every predicting row; `tolerance` 0 asks for equal bits. Both
    /// sides take `path`, the engine's as DPO's reference scorer sets it up.
    private func check(
        _ model: Model, adapters: [AdapterUse], tokens: [Int32], tolerance: Float = 0, path: PrefillPath = .float,
        _ label: String
    ) throws {
        let graph = TrainingGraph(model: model, maxTokens: tokens.count, maxRank: 4, threads: 2, prefill: .forced(path))
        _ = try graph.forward(tokens: tokens, targetStart: 1, frozen: adapters, trainable: nil)
        let context = InferenceContext(
            model: model, maxSequences: 1, maxContext: tokens.count, maxBatchTokens: tokens.count,
            maxLogitRows: tokens.count, threads: 2, precision: path == .float ? .exact : .fast,
            prefill: .forced(path))
        context.gemmThreshold = 1
        let rows = try context.forward([BatchItem(sequence: 0, tokens: tokens, allLogits: true, adapters: adapters)])
        XCTAssertEqual(rows, tokens.count)
        let v = model.config.vocabSize
        var differing = 0, worst: Float = 0
        for r in 0..<(rows - 1) {  // the graph has logits where a target is predicted
            let a = graph.logits + r * v, b = context.logits(row: r)
            for j in 0..<v where a[j].bitPattern != b[j].bitPattern {
                differing += 1
                worst = max(worst, abs(a[j] - b[j]) / max(1, abs(b[j])))
            }
        }
        if tolerance == 0 {
            XCTAssertEqual(differing, 0, "\(label): \(differing) logits differ, by at most \(worst) (relative)")
        } else {
            XCTAssertLessThanOrEqual(worst, tolerance, "\(label): \(differing) logits differ")
        }
    }

    func testTinyArchitecturesAgreeBitForBit() throws {
        // The two passes hand sgemm different shapes. OpenBLAS's Haswell kernels sum each
        // output in an order the shape does not change, so there the passes agree bit for bit.
        // Its SSE3 "Prescott" kernels (its fallback on CPUs it does not know, e.g. 0.3.21 on an
        // Emerald Rapids Xeon) and its AVX-512 SkylakeX and Cooperlake kernels (a Zen 4 EPYC)
        // do not: there they agree to float rounding (up to 1.7e-6 relative seen). (This test
        // process is not restarted as tailor is: BLASKernels.)
        let core = BLASKernels.coreName.lowercased()
        let tolerance: Float = core == "haswell" ? 0 : 1e-5
        for arch in TrainingFixtures.architectures {
            let model = try TrainingFixtures.model(arch)
            let task = AdapterUse(try TrainingFixtures.adapter(arch, "task", model: model))
            try check(
                model, adapters: [task], tokens: [1, 17, 230, 41, 99, 5, 200, 64, 7, 12], tolerance: tolerance,
                "\(arch) (OpenBLAS core \(core))")
        }
    }

    func testSmolLM2AgreesToRounding() throws {
        let model = try Model(path: try TestPaths.requireModel(TestPaths.smolLM2))
        let tokens = model.tokenizer.encode(
            "Write the one-line subject of a git commit for this change.", addSpecial: true,
            parseSpecial: false)
        try check(model, adapters: [], tokens: tokens, tolerance: 1e-4, "SmolLM2")
    }

    func testIntegerPathAgreesBitForBit() throws {
        let model = try Model(path: try TestPaths.requireModel(TestPaths.smolLM2))
        let tokens = model.tokenizer.encode(
            "Write the one-line subject of a git commit for this change.", addSpecial: true,
            parseSpecial: false)
        try check(model, adapters: [], tokens: tokens, path: .integer, "SmolLM2, integer path")
        let arch = "qwen3"
        let tiny = try TrainingFixtures.model(arch)
        let task = AdapterUse(try TrainingFixtures.adapter(arch, "task", model: tiny))
        try check(
            tiny, adapters: [task], tokens: [1, 17, 230, 41, 99, 5, 200], path: .integer, "\(arch), integer path")
    }

    /// On the bf16 path both sides round the same activations and weights and call the same
    /// GEMM, over weight tiles of different heights (256 rows in training, 128 in inference), so
    /// they agree to float rounding.
    func testBFloat16PathAgrees() throws {
        try XCTSkipUnless(PrefillPath.bfloat16.isAvailable, "the bf16 path cannot run on this host (oneDNN)")
        let model = try Model(path: try TestPaths.requireModel(TestPaths.smolLM2))
        let tokens = model.tokenizer.encode(
            "Write the one-line subject of a git commit for this change.", addSpecial: true,
            parseSpecial: false)
        try check(model, adapters: [], tokens: tokens, tolerance: 1e-4, path: .bfloat16, "SmolLM2, bf16 path")
    }
}
