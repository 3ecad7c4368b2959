import Foundation
import TailorEngine
import TailorTestSupport
import XCTest

@testable import TailorTraining

/// The diagnostics `tailor eval` reports, against the same quantities from plain forward passes
/// of one stack over a whole sequence.
final class AdapterDiagnosticsTests: ExactPathTestCase {
    private let items = [
        TextExample(input: "change 2 in file2.txt:", output: "update file2 notes"),
        TextExample(input: "change 7 in main.c:", output: "fix the loop bound in main"),
    ]

    /// Log-softmax of each logit row of `tokens` under `stack`, from one forward pass.
    private func logSoftmaxRows(_ model: Model, _ tokens: [Int32], _ stack: [AdapterUse]) throws -> [[Double]] {
        let context = InferenceContext(
            model: model, maxSequences: 1, maxContext: 64, maxBatchTokens: 64, maxLogitRows: 64, threads: 1,
            precision: .exact)
        let rows = try context.forward([BatchItem(sequence: 0, tokens: tokens, allLogits: true, adapters: stack)])
        return (0..<rows).map { r in
            let row = context.logits(row: r).map(Double.init)
            let m = row.max()!, lse = m + log(row.reduce(0) { $0 + exp($1 - m) })
            return row.map { $0 - lse }
        }
    }

    func testMeanKLIsTheTeacherForcedDivergenceOfTwoStacks() throws {
        let model = try TrainingFixtures.model("llama")
        let task = AdapterUse(try TrainingFixtures.adapter("llama", "task", model: model))
        let user = AdapterUse(try TrainingFixtures.adapter("llama", "user", model: model))
        let pipeline = PersonalizationPipeline(model: model, maxTokens: 64, threads: 1)
        let diagnostics = AdapterDiagnostics(pipeline: pipeline)

        var total = 0.0, count = 0
        for e in pipeline.examples(items) {
            let p = try logSoftmaxRows(model, e.tokens, [task, user]), q = try logSoftmaxRows(model, e.tokens, [task])
            for r in (e.targetStart - 1)..<(e.tokens.count - 1) {
                total += zip(p[r], q[r]).reduce(0) { $0 + exp($1.0) * ($1.0 - $1.1) }
                count += 1
            }
        }
        let expected = total / Double(count)
        let kl = try XCTUnwrap(try diagnostics.meanKL(items, p: [task, user], q: [task]))
        XCTAssertGreaterThan(expected, 1e-4, "the user adapter moves the distribution")
        XCTAssertEqual(kl, expected, accuracy: 1e-3 * expected)
        // One stack against itself: zero but for rounding. Its two rows sit at different rows of
        // one sgemm, which OpenBLAS's Zen kernels round apart in the last bits (logits ~3e-6
        // apart on this model), so exactly 0 holds on some hosts only.
        XCTAssertEqual(try XCTUnwrap(try diagnostics.meanKL(items, p: [task], q: [task])), 0, accuracy: 1e-6)
        XCTAssertNil(try diagnostics.meanKL([], p: [task], q: []))
    }

    func testRewardMarginIsDPOsImplicitRewardDifference() throws {
        let model = try TrainingFixtures.model("llama")
        let task = AdapterUse(try TrainingFixtures.adapter("llama", "task", model: model))
        let user = AdapterUse(try TrainingFixtures.adapter("llama", "user", model: model))
        let pipeline = PersonalizationPipeline(model: model, maxTokens: 64, threads: 1)
        let pairs = [
            TextPreference(prompt: "change 2 in file2.txt:", chosen: "update file2 notes", rejected: "misc"),
            TextPreference(prompt: "change 7 in main.c:", chosen: "fix the loop bound", rejected: "Update main.c file"),
        ]
        let both = try AdapterDiagnostics(pipeline: pipeline).rewardMargins(
            pairs, policies: [[task, user], [task]], reference: [task], beta: 0.5)
        XCTAssertEqual(both.count, 2)
        let margins = both[0]
        XCTAssertEqual(margins.count, 2)

        func logProbability(_ e: TrainingExample, _ stack: [AdapterUse]) throws -> Double {
            let rows = try logSoftmaxRows(model, e.tokens, stack)
            return (e.targetStart..<e.tokens.count).reduce(0) { $0 + rows[$1 - 1][Int(e.tokens[$1])] }
        }
        for (pair, margin) in zip(pipeline.examples(pairs), margins) {
            let chosen = try logProbability(pair.chosen, [task, user]) - logProbability(pair.chosen, [task])
            let rejected = try logProbability(pair.rejected, [task, user]) - logProbability(pair.rejected, [task])
            XCTAssertEqual(margin, 0.5 * (chosen - rejected), accuracy: 1e-3)
            XCTAssertNotEqual(margin, 0)
        }
        // A policy equal to its reference has no margin.
        XCTAssertEqual(both[1], [0, 0])
    }
}
