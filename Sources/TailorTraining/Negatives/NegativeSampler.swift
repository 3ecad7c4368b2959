import Foundation
import TailorEngine

/// How CoPe's synthetic negatives are drawn and chosen.
public struct NegativeConfiguration: Sendable, Equatable, Codable {
    /// Samples per prompt (K).
    public var samples = 3
    public var temperature: Float = 1.0
    public var topP: Float = 0.95
    /// New tokens per sample (100 for short tasks in the reference code, 600 for long ones).
    public var maxNewTokens = 100
    /// α in r = Σ log π_user − α·log π_base.
    public var alpha: Float = 1
    /// Score with per-token means instead of sums (what the reference code does).
    public var lengthNormalized = false
    public var seed: UInt64 = 42

    /// The defaults of the paper's reference code (sums unless `lengthNormalized`).
    public init() {}

    /// Checks ranges, naming the first bad value.
    public func validate() throws {
        if samples < 1 || samples > 64 { throw TrainingError.badHyperparameter("negative samples must be 1...64, not \(samples)") }
        if !(temperature > 0) || !(topP > 0 && topP <= 1) { throw TrainingError.badHyperparameter("temperature must be > 0 and top-p in (0, 1]") }
        if !(1...4096).contains(maxNewTokens) { throw TrainingError.badHyperparameter("max new tokens must be 1...4096") }
        if !alpha.isFinite || alpha < 0 { throw TrainingError.badHyperparameter("the reward's alpha must be finite and ≥ 0") }
    }
}

/// One sampled completion and its implicit reward.
public struct ScoredCompletion: Sendable, Equatable {
    /// Generated tokens, with EOS when generation ended there (what DPO learns).
    public var tokens: [Int32]
    public var text: String
    /// Σ (or mean) of log π_user(y_t) − α·log π_base(y_t).
    public var reward: Float
}

/// CoPe's synthetic negatives: for a prompt, sample K completions from π_base (base + task
/// adapter), score each with the implicit reward of π_user (base + task + user adapters) against
/// π_base, and keep the lowest — the completion the user's model likes least relative to the
/// task model.
public final class NegativeSampler {
    public let graph: TrainingGraph
    public let configuration: NegativeConfiguration
    /// π_base's adapters (the task adapter).
    public let base: [AdapterUse]
    /// π_user's adapters (task, then user).
    public let user: [AdapterUse]
    private let context: InferenceContext

    /// A sampler scoring with `graph` (whose capacity bounds prompt + completion).
    public init(graph: TrainingGraph, base: [AdapterUse], user: [AdapterUse], configuration: NegativeConfiguration = .init()) throws {
        try configuration.validate()
        self.graph = graph
        self.base = base
        self.user = user
        self.configuration = configuration
        context = InferenceContext(model: graph.model, maxSequences: 1, maxContext: graph.maxTokens, maxBatchTokens: min(256, graph.maxTokens),
                                   threads: graph.threads)
    }

    /// The K scored samples for `prompt` (tokens, BOS included), lowest reward first; the
    /// samples of prompt `index` are fixed by (seed, index). Empty completions are dropped.
    /// The graph's `pausePoint` runs before every sampled token's forward pass as well as in
    /// scoring, so a job drawing negatives yields to interactive decoding at token granularity.
    public func candidates(prompt: [Int32], index: Int) throws -> [ScoredCompletion] {
        let c = configuration
        let room = graph.maxTokens - prompt.count - 1
        guard room >= 1 else { throw TrainingError.sequenceTooLong(tokens: prompt.count + 1, capacity: graph.maxTokens) }
        let generator = Generator(context: context, sequence: 0, adapters: base)
        var out: [ScoredCompletion] = []
        for k in 0..<c.samples {
            let seed = c.seed &+ UInt64(index) &* 1_000_003 &+ UInt64(k) &* 7919
            let sampling = SamplingParameters(temperature: c.temperature, topP: c.topP, seed: seed)
            let result = try generator.generate(prompt: prompt, sampling: sampling, options: GenerationOptions(maxTokens: min(c.maxNewTokens, room)),
                                                beforeForward: { graph.pausePoint?() })
            var tokens = result.tokens
            if result.finishReason == .endOfGeneration, let eos = graph.model.tokenizer.eosID { tokens.append(eos) }
            guard !tokens.isEmpty, !result.text.isEmpty else { continue }
            out.append(ScoredCompletion(tokens: tokens, text: result.text, reward: try reward(prompt: prompt, completion: tokens)))
        }
        return out.sorted { $0.reward < $1.reward }
    }

    /// The implicit reward of `completion` after `prompt`.
    public func reward(prompt: [Int32], completion: [Int32]) throws -> Float {
        let seq = prompt + completion
        let lu = try graph.forward(tokens: seq, targetStart: prompt.count, frozen: user, trainable: nil)
        let lb = try graph.forward(tokens: seq, targetStart: prompt.count, frozen: base, trainable: nil)
        var r: Double = 0
        for i in lu.indices { r += Double(lu[i]) - Double(configuration.alpha) * Double(lb[i]) }
        return Float(configuration.lengthNormalized ? r / Double(lu.count) : r)
    }

    /// The negative for one history item: its prompt (the end of it, leaving room for the
    /// samples within `formatter.maxTokens`) sampled K times, and the lowest-reward sample that
    /// differs from the user's real `output` (ignoring surrounding whitespace); nil when every
    /// sample equals it or is empty. The text has NUL bytes replaced by U+FFFD, since stored
    /// text (like the wire) cannot hold them.
    public func negative(input: String, output: String, index: Int, formatter: ExampleFormatter) throws -> ScoredCompletion? {
        let prompt = formatter.prompt(input)
        let room = formatter.maxTokens - configuration.maxNewTokens - 1
        let real = output.trimmingCharacters(in: .whitespacesAndNewlines)
        let list = try candidates(prompt: room > 0 ? Array(prompt.suffix(room)) : prompt, index: index)
        guard var worst = list.first(where: { $0.text.trimmingCharacters(in: .whitespacesAndNewlines) != real }) else { return nil }
        worst.text = worst.text.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}")
        return worst
    }
}
