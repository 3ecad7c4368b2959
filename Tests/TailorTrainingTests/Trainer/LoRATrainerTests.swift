import Foundation
import TailorEngine
import TailorTestSupport
import XCTest

@testable import TailorTraining

final class LoRATrainerTests: ExactPathTestCase {
    /// The DPO loss and its gradient against the reference (TRL's sigmoid loss on summed
    /// completion log-probabilities, the reference model being the same weights with the user
    /// adapter off), for the user adapter over the frozen task adapter: with each pair packed
    /// into one sequence (16 tokens hold both), and on its own sequences (9 do not).
    func testDPOLossAndGradientMatchTheReference() throws {
        for arch in TrainingFixtures.architectures {
            for capacity in [16, 9] { try checkDPO(arch, capacity: capacity) }
        }
    }

    private func checkDPO(_ arch: String, capacity: Int) throws {
        let model = try TrainingFixtures.model(arch)
        let ref = try XCTUnwrap(try TrainingFixtures.reference(arch)["dpo"] as? [String: Any])
        let pairs = (ref["pairs"] as! [[String: [NSNumber]]]).map { p -> PreferenceExample in
            let prompt = p["prompt"]!.map { Int32($0.intValue) }
            return PreferenceExample(
                chosen: TrainingExample(
                    tokens: prompt + p["chosen"]!.map { Int32($0.intValue) }, targetStart: prompt.count),
                rejected: TrainingExample(
                    tokens: prompt + p["rejected"]!.map { Int32($0.intValue) }, targetStart: prompt.count))
        }
        let task = try TrainingFixtures.adapter(arch, "task", model: model)
        let user = try TrainableLoRA(
            continuing: try TrainingFixtures.adapter(arch, "user", model: model), config: model.config)
        var config = TrainingConfiguration.dpo
        config.beta = (ref["beta"] as! NSNumber).floatValue
        let graph = TrainingGraph(model: model, maxTokens: capacity, maxRank: 4, threads: 2)
        let label = "\(arch), \(capacity) tokens"
        XCTAssertEqual(pairs.map { graph.fits(pair: $0) }, [capacity == 16, capacity == 16], label)
        let trainer = try LoRATrainer(
            graph: graph, trainable: user, frozen: [AdapterUse(task)], objective: .dpo(pairs), configuration: config)
        let logps = ref["logps"] as! [[String: NSNumber]]
        for (i, p) in pairs.enumerated() {
            let r = try trainer.reference(i, p)
            XCTAssertEqual(r.0, logps[i]["ref_chosen"]!.floatValue, accuracy: 1e-3, "\(label): reference logp")
            XCTAssertEqual(r.1, logps[i]["ref_rejected"]!.floatValue, accuracy: 1e-3, "\(label): reference logp")
        }
        let out = try trainer.gradients(for: [0, 1])
        XCTAssertEqual(out.loss, (ref["loss"] as! NSNumber).floatValue, accuracy: 1e-5, "\(label): DPO loss")
        TrainingFixtures.assertGradients(
            user, config: model.config, reference: try TrainingFixtures.gradients(ref["grads"]),
            tolerance: 1e-3, "\(label): DPO")
    }

    /// The reference scores come from the inference engine (one prompt prefill per pair); they
    /// equal the training graph's forward pass, also for a pair whose prompts were cut apart.
    func testReferenceScoresEqualTheTrainingGraphs() throws {
        let model = try TrainingFixtures.model("llama")
        let task = AdapterUse(try TrainingFixtures.adapter("llama", "task", model: model))
        let user = try TrainableLoRA(
            continuing: try TrainingFixtures.adapter("llama", "user", model: model), config: model.config)
        let f = ExampleFormatter(tokenizer: model.tokenizer, maxTokens: 40)
        let shared = PreferenceExample(
            chosen: f.example(input: "the theme", output: "the the")!,
            rejected: f.example(input: "the theme", output: "he")!)
        let apart = PreferenceExample(
            chosen: f.example(input: "t h e", output: "theme")!, rejected: f.example(input: "them he", output: "he he")!
        )
        let graph = TrainingGraph(model: model, maxTokens: 40, maxRank: 4, threads: 1)
        let trainer = try LoRATrainer(
            graph: graph, trainable: user, frozen: [task], objective: .dpo([shared, apart]), configuration: .dpo)
        func direct(_ e: TrainingExample) throws -> Float {
            Float(
                try graph.forward(tokens: e.tokens, targetStart: e.targetStart, frozen: [task], trainable: nil).reduce(
                    0.0
                ) { $0 + Double($1) })
        }
        for (i, p) in [shared, apart].enumerated() {
            let r = try trainer.reference(i, p)
            XCTAssertEqual(r.0, try direct(p.chosen), accuracy: 1e-4 * max(1, abs(r.0)), "pair \(i) chosen")
            XCTAssertEqual(r.1, try direct(p.rejected), accuracy: 1e-4 * max(1, abs(r.1)), "pair \(i) rejected")
        }
    }

    /// A pair that brings its reference scores (the negatives stage's) is trained against
    /// those, not against a new evaluation: the DPO loss of the first step is the formula's
    /// with the given scores.
    func testAPairsOwnReferenceScoresAreTheOnesUsed() throws {
        let model = try TrainingFixtures.model("llama")
        let task = AdapterUse(try TrainingFixtures.adapter("llama", "task", model: model))
        let adapter = try TrainingFixtures.adapter("llama", "user", model: model)
        let f = ExampleFormatter(tokenizer: model.tokenizer, maxTokens: 40)
        var pair = PreferenceExample(
            chosen: f.example(input: "the theme", output: "the the")!,
            rejected: f.example(input: "the theme", output: "he")!)
        func firstLoss(_ p: PreferenceExample) throws -> (loss: Float, reference: (Float, Float)) {
            let graph = TrainingGraph(model: model, maxTokens: 40, maxRank: 4, threads: 1)
            var c = TrainingConfiguration.dpo
            c.batchSize = 1
            c.beta = 0.5
            let trainer = try LoRATrainer(
                graph: graph, trainable: try TrainableLoRA(continuing: adapter, config: model.config), frozen: [task],
                objective: .dpo([p]), configuration: c)
            let reference = try trainer.reference(0, p)
            return (try trainer.runStep().loss, reference)
        }
        let computed = try firstLoss(pair)
        pair.reference = ReferenceScores(chosen: computed.reference.0 - 3, rejected: computed.reference.1 + 1)
        let given = try firstLoss(pair)
        XCTAssertEqual(given.reference.0, computed.reference.0 - 3)
        XCTAssertEqual(given.reference.1, computed.reference.1 + 1)
        // Δ grows by 3 + 1 = 4 nats: L = softplus(−βΔ) at β = 0.5.
        let delta = -2 * log(exp(computed.loss) - 1)
        XCTAssertEqual(given.loss, log1p(exp(-0.5 * (delta + 4))), accuracy: 1e-4)
    }

    /// AdamW with the linear warmup/decay schedule against torch.optim.AdamW and transformers'
    /// get_linear_schedule_with_warmup.
    func testAdamWAndScheduleMatchTorch() throws {
        let url = TestPaths.packageRoot.appendingPathComponent("Tests/TailorTrainingTests/Fixtures/adamw.json")
        let ref = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        var params = (ref["start"] as! [NSNumber]).map(\.floatValue)
        let grads = (ref["grads"] as! [[NSNumber]]).map { $0.map(\.floatValue) }
        let lrs = (ref["lrs"] as! [NSNumber]).map(\.floatValue)
        let schedule = LinearSchedule(peak: 1e-2, warmupRatio: 2.0 / 6.0, totalSteps: 6)
        XCTAssertEqual(schedule.warmupSteps, 2)
        let opt = AdamW(count: params.count, weightDecay: 0.01)
        for (t, g) in grads.enumerated() {
            XCTAssertEqual(schedule.rate(at: t), lrs[t], accuracy: 1e-9, "lr of step \(t)")
            params.withUnsafeMutableBufferPointer { p in
                g.withUnsafeBufferPointer { opt.step(params: p.baseAddress!, grads: $0.baseAddress!, lr: lrs[t]) }
            }
        }
        for (a, b) in zip(params, (ref["final"] as! [NSNumber]).map(\.floatValue)) {
            XCTAssertEqual(a, b, accuracy: 1e-6)
        }
    }

    private func examples(_ model: Model) -> [TrainingExample] {
        let f = ExampleFormatter(tokenizer: model.tokenizer, maxTokens: 32)
        return [("the theme", "the the"), ("he", "the theme"), ("t h e", "theme"), ("them", "he he")].compactMap {
            f.example(input: $0.0, output: $0.1)
        }
    }

    private func trainer(_ model: Model, seed: UInt64 = 1, steps: Int = 6) throws -> LoRATrainer {
        var config = TrainingConfiguration.oppu
        config.learningRate = 5e-3
        config.batchSize = 2
        config.epochs = steps / 2
        config.seed = seed
        let tr = TrainableLoRA(config: model.config, rank: 4, alpha: 8, targets: [.q, .v, .down], seed: seed)
        return try LoRATrainer(
            graph: TrainingGraph(model: model, maxTokens: 32, maxRank: 4, threads: 2), trainable: tr,
            objective: .sft(examples(model)), configuration: config)
    }

    private func params(_ t: LoRATrainer) -> [Float] {
        Array(UnsafeBufferPointer(start: t.trainable.params, count: t.trainable.count))
    }

    /// A few steps on a fixed batch lower its loss.
    func testStepsOnAFixedBatchLowerTheLoss() throws {
        let model = try TrainingFixtures.model("llama")
        let t = try trainer(model, steps: 40)
        let before = try t.gradients(for: [0, 1, 2, 3]).loss
        for _ in 0..<20 { try t.runStep() }
        let after = try t.gradients(for: [0, 1, 2, 3]).loss
        XCTAssertLessThan(after, before * 0.9, "loss \(before) → \(after)")
    }

    /// Same seed, same parameters; a run resumed from a checkpoint (through its bytes) ends where
    /// the uninterrupted run ends, bit for bit.
    func testDeterministicAndResumable() throws {
        let model = try TrainingFixtures.model("qwen2")
        let a = try trainer(model)
        while !a.isFinished { try a.runStep() }
        let b = try trainer(model)
        while !b.isFinished { try b.runStep() }
        XCTAssertEqual(params(a), params(b))
        XCTAssertNotEqual(params(a), params(try trainer(model, seed: 2)))

        let first = try trainer(model)
        for _ in 0..<4 { try first.runStep() }
        let saved = try first.checkpoint().encoded()
        let resumed = try trainer(model)
        try resumed.resume(from: TrainingCheckpoint(decoding: saved))
        XCTAssertEqual(resumed.step, 4)
        while !resumed.isFinished { try resumed.runStep() }
        XCTAssertEqual(params(resumed), params(a))
        // A damaged checkpoint is refused by name.
        XCTAssertThrowsError(try TrainingCheckpoint(decoding: Array(saved.dropLast(4)))) {
            XCTAssertTrue("\($0)".contains("expected"), "\($0)")
        }
        var other = TrainingConfiguration.oppu
        other.learningRate = 1e-3
        XCTAssertThrowsError(
            try resumed.resume(
                from: TrainingCheckpoint(step: 1, optimizerSteps: 1, configuration: other, params: [], m: [], v: [])))
    }
}
