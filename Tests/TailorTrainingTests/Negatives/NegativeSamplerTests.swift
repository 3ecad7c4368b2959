import Foundation
import TailorEngine
@testable import TailorTraining
import XCTest

final class NegativeSamplerTests: XCTestCase {
    /// Σ log-softmax of the inference engine's logits for `completion` after `prompt`: an
    /// independent path to the same log-probabilities.
    private func engineLogProb(_ model: Model, _ prompt: [Int32], _ completion: [Int32], adapters: [AdapterUse]) throws -> Double {
        let ctx = InferenceContext(model: model, maxSequences: 1, maxContext: 64, maxBatchTokens: 64, maxLogitRows: 64, threads: 1,
                                   precision: .exact)
        let seq = prompt + completion
        try ctx.forward([BatchItem(sequence: 0, tokens: seq, allLogits: true, adapters: adapters)])
        var total = 0.0
        for (i, t) in completion.enumerated() {
            let row = ctx.logits(row: prompt.count - 1 + i)
            let m = row.max()!
            let lse = Double(m) + log(row.reduce(0.0) { $0 + exp(Double($1 - m)) })
            total += Double(row[Int(t)]) - lse
        }
        return total
    }

    func testNegativesAreSampledFromTheBaseAndScoredByTheImplicitReward() throws {
        let model = try TrainingFixtures.model("llama")
        let task = AdapterUse(try TrainingFixtures.adapter("llama", "task", model: model))
        let user = AdapterUse(try TrainingFixtures.adapter("llama", "user", model: model))
        var config = NegativeConfiguration()
        config.maxNewTokens = 8
        config.samples = 4
        config.alpha = 0.7
        let sampler = try NegativeSampler(graph: TrainingGraph(model: model, maxTokens: 40, maxRank: 4, threads: 1), base: [task],
                                          user: [task, user], configuration: config)
        let prompt = model.tokenizer.encode("the theme", addSpecial: true, parseSpecial: false)
        let list = try sampler.candidates(prompt: prompt, index: 3)
        XCTAssertFalse(list.isEmpty)
        XCTAssertEqual(list.map(\.reward), list.map(\.reward).sorted(), "lowest reward first")
        for c in list {
            let lu = try engineLogProb(model, prompt, c.tokens, adapters: [task, user])
            let lb = try engineLogProb(model, prompt, c.tokens, adapters: [task])
            XCTAssertEqual(Double(c.reward), lu - 0.7 * lb, accuracy: 1e-3 * max(1, abs(lu)), "reward of '\(c.text)'")
        }
        // Fixed by (seed, index): the same call gives the same samples; another index others.
        XCTAssertEqual(try sampler.candidates(prompt: prompt, index: 3), list)
        XCTAssertNotEqual(try sampler.candidates(prompt: prompt, index: 4).map(\.tokens), list.map(\.tokens))
        // Length normalization divides by the completion's length.
        var meanConfig = config
        meanConfig.lengthNormalized = true
        let mean = try NegativeSampler(graph: sampler.graph, base: [task], user: [task, user], configuration: meanConfig)
        let c = list[0]
        XCTAssertEqual(try mean.reward(prompt: prompt, completion: c.tokens), c.reward / Float(c.tokens.count), accuracy: 1e-4)
    }

    /// A job drawing negatives must yield to interactive decoding while it samples, not only
    /// while it scores: the pause point runs before every sampled token.
    func testSamplingPausesBeforeEveryToken() throws {
        let model = try TrainingFixtures.model("llama")
        let task = AdapterUse(try TrainingFixtures.adapter("llama", "task", model: model))
        let user = AdapterUse(try TrainingFixtures.adapter("llama", "user", model: model))
        var config = NegativeConfiguration()
        config.maxNewTokens = 12
        config.samples = 3
        let graph = TrainingGraph(model: model, maxTokens: 40, maxRank: 4, threads: 1)
        let sampler = try NegativeSampler(graph: graph, base: [task], user: [task, user], configuration: config)
        let prompt = model.tokenizer.encode("the theme", addSpecial: true, parseSpecial: false)
        nonisolated(unsafe) var pauses = 0
        graph.pausePoint = { pauses += 1 }
        let list = try sampler.candidates(prompt: prompt, index: 1)
        let total = pauses
        // What scoring alone pauses, measured on the same completions.
        pauses = 0
        for c in list { _ = try sampler.reward(prompt: prompt, completion: c.tokens) }
        let sampling = total - pauses
        let sampled = list.reduce(0) { $0 + $1.tokens.count }
        XCTAssertGreaterThan(sampled, 2 * config.samples, "the fixture should sample several tokens")
        // One pause per sample before its prefill, one before each fed-back token (all but the last).
        XCTAssertGreaterThanOrEqual(sampling, sampled, "sampling paused \(sampling) times for \(sampled) tokens")
    }
}
