import Foundation
import TailorEngine
import XCTest

@testable import TailorTraining

/// The pipeline every front end trains through: its examples, its step loop and hooks, and the
/// adapters it gives, against `LoRATrainer` driven by hand.
final class PersonalizationPipelineTests: XCTestCase {
    private let items = (0..<6).map { TextExample(input: "the theme \($0) of", output: "he the \($0 % 3)") }

    private func params(_ t: TrainableLoRA) -> [Float] { Array(UnsafeBufferPointer(start: t.params, count: t.count)) }

    private func configuration() -> TrainingConfiguration {
        var c = TrainingConfiguration.oppu
        c.epochs = 2; c.batchSize = 2; c.learningRate = 1e-3
        return c
    }

    func testExamplesSkipEmptyOutputsAndCutToTheModelsContext() throws {
        let model = try TrainingFixtures.model("llama")
        let pipeline = PersonalizationPipeline(model: model, maxTokens: 1 << 20, threads: 1)
        XCTAssertEqual(pipeline.maxTokens, model.config.contextLength)
        XCTAssertEqual(
            pipeline.examples([TextExample(input: "a", output: ""), TextExample(input: "a", output: "b")]).count, 1)
        let prefs = pipeline.examples([
            TextPreference(prompt: "p", chosen: "x", rejected: ""),
            TextPreference(prompt: "p", chosen: "x", rejected: "y"),
        ])
        XCTAssertEqual(prefs.count, 1)
        XCTAssertEqual(
            prefs[0].chosen.tokens[..<prefs[0].chosen.targetStart],
            prefs[0].rejected.tokens[..<prefs[0].rejected.targetStart])
        XCTAssertThrowsError(
            try pipeline.supervised([TextExample(input: "a", output: "")], configuration: configuration())
        ) { e in
            guard case .emptyDataset = e as? TrainingError else { return XCTFail("\(e)") }
        }
    }

    /// Supervised training through the pipeline equals the trainer's own loop, step for step,
    /// with the hooks called once before and once after every step; a run resumed from a
    /// checkpoint taken by the hook ends with the same parameters.
    func testSupervisedRunEqualsTheTrainersLoopAndResumes() throws {
        let model = try TrainingFixtures.model("llama")
        let pipeline = PersonalizationPipeline(model: model, maxTokens: 48, threads: 1)
        let c = configuration()
        var starts = 0, steps: [Int] = [], midway: TrainingCheckpoint?
        let lora = try pipeline.supervised(
            items, configuration: c,
            hooks: .init(
                willStart: { t in
                    starts += 1; XCTAssertEqual(t.totalSteps, 6)
                },
                didStep: { r, t in
                    steps.append(r.step); if r.step == 3 { midway = t.checkpoint() }
                }))
        XCTAssertEqual(starts, 1)
        XCTAssertEqual(steps, Array(1...6))

        let direct = TrainableLoRA(
            config: model.config, rank: c.rank, alpha: c.alpha, targets: try c.loraTargets(), seed: c.seed)
        let trainer = try LoRATrainer(
            graph: TrainingGraph(model: model, maxTokens: 48, maxRank: c.rank, threads: 1), trainable: direct,
            objective: .sft(pipeline.examples(items)), configuration: c)
        while !trainer.isFinished { try trainer.runStep() }
        XCTAssertEqual(params(lora), params(direct))

        var resumedAt = 0
        let resumed = try pipeline.supervised(
            items, configuration: c,
            hooks: .init(
                resume: try XCTUnwrap(midway),
                willStart: { resumedAt = $0.step }))
        XCTAssertEqual(resumedAt, 3)
        XCTAssertEqual(params(resumed), params(lora))
    }

    /// Negatives and DPO through the pipeline: each negative differs from the real output, and
    /// DPO continues the user's adapter (it starts from its weights and moves them).
    func testNegativesThenPreferenceContinueTheUsersAdapter() throws {
        let model = try TrainingFixtures.model("llama")
        let pipeline = PersonalizationPipeline(model: model, maxTokens: 48, threads: 1)
        let user = try pipeline.supervised(items, configuration: configuration()).adapter(name: "user")
        var neg = NegativeConfiguration()
        neg.samples = 2; neg.maxNewTokens = 4
        let stage = try pipeline.negatives(task: [], user: user, configuration: neg)
        var pairs: [TextPreference] = []
        for (i, item) in items.enumerated() {
            let draw = try stage.draw(for: item, index: i)
            guard let worst = draw.negative, let pair = draw.pair else { continue }
            XCTAssertNotEqual(worst.text.trimmingCharacters(in: .whitespaces), item.output)
            XCTAssertEqual(pair.rejected, worst.text)
            XCTAssertNotNil(pair.reference, "a short prompt is DPO's prompt too")
            pairs.append(pair)
        }
        XCTAssertFalse(pairs.isEmpty)
        var dpo = TrainingConfiguration.dpo
        dpo.learningRate = 1e-3
        let start = try TrainableLoRA(continuing: user, config: model.config)
        let trained = try pipeline.preference(pairs, continuing: user, configuration: dpo)
        XCTAssertEqual(trained.count, start.count)
        XCTAssertNotEqual(params(trained), params(start))
        XCTAssertLessThan(
            TrainingFixtures.relativeError(params(trained), params(start)), 0.5, "DPO continues, not restarts")
    }
}
