import Foundation
import TailorEngine
import TailorTestSupport
import XCTest

@testable import TailorTraining

/// What the autopilot's gate measures: the per-token log-likelihood of a real output under a
/// stack, equal to a plain forward pass over prompt and output, and answers cut as the gate
/// compares them.
final class HoldoutScorerTests: ExactPathTestCase {
    func testLogLikelihoodIsTheMeanOverTheOutputsTokens() throws {
        let model = try TrainingFixtures.model("llama")
        let task = AdapterUse(try TrainingFixtures.adapter("llama", "task", model: model))
        let pipeline = PersonalizationPipeline(model: model, maxTokens: 64, threads: 1)
        let item = TextExample(input: "change 2 in file2.txt:", output: "update file2 notes")
        let outcome = try HoldoutScorer(pipeline: pipeline, maxNewTokens: 6).run(
            [item], stack: [task], contrastWith: nil)
        XCTAssertEqual(outcome.texts.count, 1)

        // The same quantity from one forward pass over the whole sequence.
        let e = try XCTUnwrap(pipeline.formatter.example(input: item.input, output: item.output))
        let context = InferenceContext(
            model: model, maxSequences: 1, maxContext: 64, maxBatchTokens: 64, maxLogitRows: 64, threads: 1,
            precision: .exact)
        let rows = try context.forward([BatchItem(sequence: 0, tokens: e.tokens, allLogits: true, adapters: [task])])
        XCTAssertEqual(rows, e.tokens.count)
        var total = 0.0
        for t in e.targetStart..<e.tokens.count {
            total += Double(VectorOps.logSoftmax(context.logits(row: t - 1), at: Int(e.tokens[t])))
        }
        let expected = total / Double(e.targetCount)
        XCTAssertEqual(try XCTUnwrap(outcome.logLikelihoods[0]), expected, accuracy: 1e-4)
        XCTAssertLessThan(expected, 0)
    }

    func testAnswersAreCutLikeTheReference() {
        XCTAssertEqual(HoldoutScorer.answer("\n  fix the parser\nmore text", like: "a subject"), "fix the parser")
        XCTAssertEqual(HoldoutScorer.answer(" line one\nline two \n", like: "a\nbody"), "line one\nline two")
        XCTAssertEqual(HoldoutScorer.answer("   ", like: "x"), "")
    }
}
