import Foundation
import TailorEngine
import XCTest

@testable import TailorTraining

final class NegativeSamplerTests: XCTestCase {
    /// Σ log-softmax of the inference engine's logits for `completion` after `prompt`: an
    /// independent path to the same log-probabilities.
    private func engineLogProb(
        _ model: Model, _ prompt: [Int32], _ completion: [Int32], adapters: [AdapterUse]
    ) throws -> Double {
        let ctx = InferenceContext(
            model: model, maxSequences: 1, maxContext: 64, maxBatchTokens: 64, maxLogitRows: 64, threads: 1,
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

    /// The llama fixture with its task and user adapters, a sampler over them, and a prompt.
    private struct Setup {
        let model: Model
        let task: AdapterUse
        let user: AdapterUse
        let graph: TrainingGraph
        let sampler: NegativeSampler
        let prompt: [Int32]

        init(maxNewTokens: Int, samples: Int, alpha: Float = 1) throws {
            model = try TrainingFixtures.model("llama")
            task = AdapterUse(try TrainingFixtures.adapter("llama", "task", model: model))
            user = AdapterUse(try TrainingFixtures.adapter("llama", "user", model: model))
            var config = NegativeConfiguration()
            config.maxNewTokens = maxNewTokens
            config.samples = samples
            config.alpha = alpha
            graph = TrainingGraph(model: model, maxTokens: 40, maxRank: 4, threads: 1)
            sampler = try NegativeSampler(graph: graph, base: [task], user: [task, user], configuration: config)
            prompt = model.tokenizer.encode("the theme", addSpecial: true, parseSpecial: false)
        }
    }

    func testNegativesAreSampledFromTheBaseAndScoredByTheImplicitReward() throws {
        let f = try Setup(maxNewTokens: 8, samples: 4, alpha: 0.7)
        let (model, task, user, sampler, prompt, config) = (
            f.model, f.task, f.user, f.sampler, f.prompt, f.sampler.configuration
        )
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
        let mean = try NegativeSampler(
            graph: sampler.graph, base: [task], user: [task, user], configuration: meanConfig)
        // The same seeds draw the same samples; each reward is the summed one over its length.
        let perToken = Dictionary(
            uniqueKeysWithValues: try mean.candidates(prompt: prompt, index: 3).map { ($0.tokens, $0.reward) })
        XCTAssertEqual(Set(perToken.keys), Set(list.map(\.tokens)))
        for c in list { XCTAssertEqual(perToken[c.tokens]!, c.reward / Float(c.tokens.count), accuracy: 1e-4) }
    }

    /// A job drawing negatives must yield to interactive decoding while it samples, not only
    /// between prompts: the pause point runs before every forward call, and the K samples
    /// advance together, one call per token for all of them.
    func testSamplingPausesBeforeEveryToken() throws {
        let f = try Setup(maxNewTokens: 12, samples: 3)
        let (graph, sampler, prompt) = (f.graph, f.sampler, f.prompt)
        nonisolated(unsafe) var pauses = 0
        graph.pausePoint = { pauses += 1 }
        let list = try sampler.candidates(prompt: prompt, index: 1)
        let longest = list.map(\.tokens.count).max() ?? 0
        XCTAssertGreaterThan(longest, 2, "the fixture should sample several tokens")
        // One pause before the prefill, then one before each fed-back token of the longest
        // sample (its last token is not fed back).
        XCTAssertGreaterThanOrEqual(pauses, longest, "sampling paused \(pauses) times for a \(longest)-token sample")
        XCTAssertLessThan(
            pauses, list.reduce(0) { $0 + $1.tokens.count } + 1, "the samples share each step's forward call")
    }

    /// The batched sampler draws exactly what one generation per sample draws: the same
    /// seeds give the same tokens as `Generator` on π_base alone.
    func testBatchedSamplesEqualOneAtATimeGeneration() throws {
        let f = try Setup(maxNewTokens: 10, samples: 3)
        let (model, task, sampler, prompt, config) = (f.model, f.task, f.sampler, f.prompt, f.sampler.configuration)
        let batched = Set(try sampler.candidates(prompt: prompt, index: 2).map(\.text))
        let ctx = InferenceContext(model: model, maxSequences: 1, maxContext: 40, threads: 1)
        var single: Set<String> = []
        for k in 0..<config.samples {
            let seed = config.seed &+ 2 &* 1_000_003 &+ UInt64(k) &* 7919
            let r = try Generator(context: ctx, adapters: [task]).generate(
                prompt: prompt,
                sampling: SamplingParameters(temperature: config.temperature, topP: config.topP, seed: seed),
                options: GenerationOptions(maxTokens: config.maxNewTokens))
            if !r.text.isEmpty { single.insert(r.text) }
        }
        XCTAssertEqual(batched, single)
    }

    /// DPO's reference scores read off the sampling's prompt equal the ones DPO computes itself
    /// (`ReferenceScorer`, a separate evaluation of the prompt): for a chosen completion the
    /// sampler never fed, a rejected one re-tokenized from its text, one whose tokens are the
    /// sample's (its score is then the one its sampling summed) and one that adds the EOS the
    /// sampling stopped short of.
    func testReferenceFromTheSampledPromptEqualsDPOsOwn() throws {
        let f = try Setup(maxNewTokens: 6, samples: 2)
        // On the bf16 path (measured fastest on AVX512_BF16 hosts) each product's inputs are
        // rounded to 8 significant bits, at different points in the sampler's engine and DPO's
        // graph, so the two agree to that rounding (5e-4 relative seen), not to float's.
        let tolerance: Float = f.graph.forwardPath == .bfloat16 ? 2e-3 : 1e-4
        let formatter = ExampleFormatter(tokenizer: f.model.tokenizer, maxTokens: f.graph.maxTokens)
        let scorer = ReferenceScorer(graph: f.graph, adapters: [f.task])
        let chosen = try XCTUnwrap(formatter.example(input: "the theme", output: "the them he"))
        let eos = try XCTUnwrap(f.model.tokenizer.eosID)
        var compared = 0, withEOS = 0
        for index in 0..<3 {
            for k in 0..<2 {
                // Each check after its own sampling: a check may use the rows the samples left.
                func sampled() throws -> (prompt: [Int32], sample: ScoredCompletion)? {
                    let (prompt, candidates) = try f.sampler.samples(
                        input: "the theme", index: index, formatter: formatter)
                    XCTAssertEqual(prompt, f.prompt)
                    return k < candidates.count ? (prompt, candidates[k]) : nil
                }
                guard let (prompt, sample) = try sampled() else { continue }
                let rejected = { (tokens: [Int32]) in
                    TrainingExample(tokens: prompt + tokens, targetStart: prompt.count)
                }
                var checks: [(PreferenceExample, ScoredCompletion?)] = [
                    (
                        PreferenceExample(
                            chosen: chosen,
                            rejected: try XCTUnwrap(formatter.example(input: "the theme", output: sample.text))), nil
                    ),
                    (PreferenceExample(chosen: chosen, rejected: rejected(sample.tokens)), sample),
                ]
                if sample.tokens.last != eos {
                    checks.append(
                        (PreferenceExample(chosen: chosen, rejected: rejected(sample.tokens + [eos])), sample))
                    withEOS += 1
                }
                for (pair, given) in checks {
                    let label = "\(index) \(sample.tokens) \(pair.rejected.tokens) \(given == nil)"
                    let fresh = try XCTUnwrap(try sampled()).sample
                    XCTAssertEqual(fresh, sample)
                    let r = try XCTUnwrap(
                        try f.sampler.reference(for: pair, prompt: prompt, sample: given == nil ? nil : fresh))
                    let own = try scorer.score(pair) {}
                    XCTAssertEqual(r.chosen, own.chosen, accuracy: tolerance * max(1, abs(own.chosen)), label)
                    XCTAssertEqual(
                        r.rejected, own.rejected, accuracy: tolerance * max(1, abs(own.rejected)), label)
                    XCTAssertLessThan(r.chosen, 0)
                    if pair.rejected.tokens.count == prompt.count + sample.tokens.count {
                        XCTAssertEqual(r.rejected, sample.baseLogProbability, "taken from the sampling")
                    }
                }
                compared += 1
            }
        }
        XCTAssertGreaterThan(compared, 2)
        XCTAssertGreaterThan(withEOS, 0)
    }

    /// A negative's text holds no NUL scalar, even one a combining mark joins into a single
    /// Character (which a Character-level replacement misses), since stored text cannot.
    func testChosenNegativeHasNoNULScalar() throws {
        let sample = ScoredCompletion(tokens: [1], text: "a\u{0}\u{301}b\u{0}", reward: 0)
        let worst = try XCTUnwrap(NegativeSampler.choose([sample], real: "x"))
        XCTAssertFalse(worst.text.unicodeScalars.contains("\u{0}"), "\(worst.text.unicodeScalars.map(\.value))")
        XCTAssertEqual(worst.text, "a\u{FFFD}\u{301}b\u{FFFD}")
    }

    /// A pair whose prompt is not the one sampled from (DPO cuts a long prompt to fit its own
    /// completion, the sampler to leave room for its samples) gets no scores from the sampler.
    func testNoReferenceForAPromptCutDifferently() throws {
        let f = try Setup(maxNewTokens: 6, samples: 2)
        let formatter = ExampleFormatter(tokenizer: f.model.tokenizer, maxTokens: f.graph.maxTokens)
        let long = Array(repeating: "the theme", count: 12).joined(separator: " ")
        let (prompt, candidates) = try f.sampler.samples(input: long, index: 0, formatter: formatter)
        XCTAssertLessThan(prompt.count, formatter.prompt(long).count, "the sampler cut the prompt")
        let pair = PreferenceExample(
            chosen: try XCTUnwrap(formatter.example(input: long, output: "he")),
            rejected: try XCTUnwrap(formatter.example(input: long, output: try XCTUnwrap(candidates.first).text)))
        XCTAssertNil(try f.sampler.reference(for: pair, prompt: prompt))
    }
}
