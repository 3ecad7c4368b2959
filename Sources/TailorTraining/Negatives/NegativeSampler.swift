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
        if samples < 1 || samples > 64 {
            throw TrainingError.badHyperparameter("negative samples must be 1...64, not \(samples)")
        }
        if !(temperature > 0) || !(topP > 0 && topP <= 1) {
            throw TrainingError.badHyperparameter("temperature must be > 0 and top-p in (0, 1]")
        }
        if !(1...4096).contains(maxNewTokens) {
            throw TrainingError.badHyperparameter("max new tokens must be 1...4096")
        }
        if !alpha.isFinite || alpha < 0 {
            throw TrainingError.badHyperparameter("the reward's alpha must be finite and ≥ 0")
        }
    }
}

/// One sampled completion and its implicit reward.
public struct ScoredCompletion: Sendable, Equatable {
    /// Generated tokens, with EOS when generation ended there (what DPO learns).
    public var tokens: [Int32]
    public var text: String
    /// Σ (or mean) of log π_user(y_t) − α·log π_base(y_t).
    public var reward: Float
    /// Σ log π_base(y_t) over `tokens` (a sum, whatever the reward's normalization): DPO's
    /// reference score of the sample when DPO's tokens are these.
    public var baseLogProbability: Float = 0
    /// The context sequence it was sampled in (its π_base row), which holds the prompt and
    /// every token but the last until the next `candidates` call.
    var sequence = 0
}

/// CoPe's synthetic negatives: for a prompt, sample K completions from π_base (base + task
/// adapter), score each with the implicit reward of π_user (base + task + user adapters) against
/// π_base, and keep the lowest — the completion the user's model likes least relative to the
/// task model.
///
/// The K samples decode as K rows of one batch after one prefill of the prompt, and each has a
/// twin row under π_user fed the same tokens: every step reads the weights once for all 2K
/// rows, and the reward comes out of the sampling itself (log π_base of each sampled token from
/// its row, log π_user from its twin's), with no second pass over the completions.
public final class NegativeSampler {
    public let graph: TrainingGraph
    public let configuration: NegativeConfiguration
    /// π_base's adapters (the task adapter).
    public let base: [AdapterUse]
    /// π_user's adapters (task, then user).
    public let user: [AdapterUse]
    /// Rows 0..<K sample under π_base; rows K..<2K are their π_user twins.
    private let context: InferenceContext

    /// A sampler whose prompt + completion fit `graph`'s capacity (`graph.maxTokens`), using its
    /// threads and pausing at its `pausePoint`.
    public init(
        graph: TrainingGraph, base: [AdapterUse], user: [AdapterUse], configuration: NegativeConfiguration = .init()
    ) throws {
        try configuration.validate()
        self.graph = graph
        self.base = base
        self.user = user
        self.configuration = configuration
        let rows = 2 * configuration.samples
        // Sequences 1 and 2 score a pair's two completions afterwards (`reference`).
        context = InferenceContext(
            model: graph.model, maxSequences: max(rows, 3), maxContext: graph.maxTokens,
            maxBatchTokens: max(rows, 2 * min(256, graph.maxTokens)),
            maxLogitRows: max(rows, ReferenceScorer.chunk), threads: graph.threads)
    }

    /// One sample's row while it decodes.
    private struct Row {
        var state: DecodingState
        var endToken: Int32?
        var logpUser: Double = 0
        var logpBase: Double = 0
        var done = false
    }

    /// The K scored samples for `prompt` (tokens, BOS included), lowest reward first; the
    /// samples of prompt `index` are fixed by (seed, index). Empty completions are dropped.
    /// The graph's `pausePoint` runs before every forward call (each prefill chunk and each
    /// step of the K rows), so a job drawing negatives yields to interactive decoding at token
    /// granularity.
    public func candidates(prompt: [Int32], index: Int) throws -> [ScoredCompletion] {
        let c = configuration, k = c.samples
        let room = graph.maxTokens - prompt.count - 1
        guard room >= 1 else {
            throw TrainingError.sequenceTooLong(tokens: prompt.count + 1, capacity: graph.maxTokens)
        }
        let options = GenerationOptions(maxTokens: min(c.maxNewTokens, room))
        var rows = try (0..<k).map { i -> Row in
            let seed = c.seed &+ UInt64(index) &* 1_000_003 &+ UInt64(i) &* 7919
            let sampling = SamplingParameters(temperature: c.temperature, topP: c.topP, seed: seed)
            return Row(
                state: try DecodingState(
                    prompt: prompt, sampling: sampling, options: options, tokenizer: graph.model.tokenizer))
        }
        try prefill(prompt)
        // Logit rows: after the prefill, 0 is π_base's and 1 π_user's, shared by every sample;
        // after a step, the active samples' base rows, then their user rows, in the same order.
        var baseRow = [Int](repeating: 0, count: k), userRow = [Int](repeating: 1, count: k)
        while true {
            var fed: [Int] = []
            for i in 0..<k where !rows[i].done {
                if step(&rows[i], base: context.logits(row: baseRow[i]), user: context.logits(row: userRow[i])) {
                    fed.append(i)
                }
            }
            guard !fed.isEmpty else { break }
            graph.pausePoint?()
            let last = fed.map { rows[$0].state.generated.last! }
            try context.forward(
                zip(fed, last).map { BatchItem(sequence: $0, tokens: [$1], adapters: base) }
                    + zip(fed, last).map { BatchItem(sequence: k + $0, tokens: [$1], adapters: user) })
            for (n, i) in fed.enumerated() { baseRow[i] = n; userRow[i] = fed.count + n }
        }
        var out: [ScoredCompletion] = []
        for (i, row) in rows.enumerated() {
            let tokens = row.state.generated + (row.endToken.map { [$0] } ?? [])
            guard !tokens.isEmpty, !row.state.text.isEmpty else { continue }
            let r = row.logpUser - Double(c.alpha) * row.logpBase
            out.append(
                ScoredCompletion(
                    tokens: tokens, text: row.state.text,
                    reward: Float(c.lengthNormalized ? r / Double(tokens.count) : r),
                    baseLogProbability: Float(row.logpBase), sequence: i))
        }
        return out.sorted { $0.reward < $1.reward }
    }

    /// Evaluates `prompt` once under π_base (row 0) and once under π_user (row K), in chunks,
    /// then copies both prefixes to the other samples' rows.
    private func prefill(_ prompt: [Int32]) throws {
        let k = configuration.samples
        for s in 0..<(2 * k) { context.reset(sequence: s) }
        let chunk = context.maxBatchTokens / 2
        var i = 0
        while i < prompt.count {
            let part = Array(prompt[i..<min(prompt.count, i + chunk)])
            graph.pausePoint?()
            try context.forward([
                BatchItem(sequence: 0, tokens: part, adapters: base),
                BatchItem(sequence: k, tokens: part, adapters: user),
            ])
            i += part.count
        }
        for s in 1..<k {
            context.cache.copyPrefix(from: 0, to: s, length: prompt.count)
            context.cache.copyPrefix(from: k, to: k + s, length: prompt.count)
        }
    }

    /// Samples `row`'s next token from π_base's `base` logits and adds both models' log p of
    /// it to the row's sums. Returns true when the token is to be fed back (the row goes on).
    private func step(_ row: inout Row, base: UnsafeBufferPointer<Float>, user: UnsafeBufferPointer<Float>) -> Bool {
        let token = row.state.sample(base)
        let lb = VectorOps.logSoftmax(base, at: Int(token)), lu = VectorOps.logSoftmax(user, at: Int(token))
        row.logpBase += Double(lb)
        row.logpUser += Double(lu)
        switch row.state.advance(token: token, logprob: lb, contextFull: false) {
        case .end:
            row.endToken = token
            row.done = true
            return false
        case let .token(_, finish):
            row.done = finish != nil
            return finish == nil
        }
    }

    /// DPO's reference scores of `pair` (Σ log π_base of each completion), read off the prompt
    /// the last `candidates` call evaluated, which is not evaluated again. The rejected side's
    /// is `sample`'s own sum when DPO's tokens are the sampled ones, plus one row for the EOS
    /// DPO appends to a sample that stopped at its length (its sequence still holds it);
    /// otherwise, and for the chosen side, rows take the prompt's π_base prefix from row 0 and
    /// are fed the completion. Nil when either side's prompt is not `prompt` (DPO's examples
    /// cut a long prompt to fit their own completion; it scores those itself).
    public func reference(
        for pair: PreferenceExample, prompt: [Int32], sample: ScoredCompletion? = nil
    ) throws -> ReferenceScores? {
        let sides = [pair.chosen, pair.rejected]
        guard prompt.count >= 1,
            sides.allSatisfy({ $0.targetStart == prompt.count && $0.tokens[..<$0.targetStart] == prompt[...] })
        else { return nil }
        let rejected = try sample.flatMap { try sampledScore(pair.rejected, prompt: prompt, sample: $0) }
        let fed = rejected == nil ? sides : [pair.chosen]
        // Fresh rows for the fed completions: neither row 0 (their prefix) nor the sample's.
        let sequences = Array((1..<context.maxSequences).filter { $0 != sample?.sequence }.prefix(fed.count))
        for s in sequences {
            context.reset(sequence: s)
            context.cache.copyPrefix(from: 0, to: s, length: prompt.count - 1)
        }
        let sums = try ReferenceScorer.completions(
            fed, sequences: sequences, context: context, adapters: base, rows: ReferenceScorer.chunk
        ) { graph.pausePoint?() }
        return ReferenceScores(chosen: sums[0], rejected: rejected ?? sums[1])
    }

    /// Σ log π_base of `e`'s completion from `sample`'s sampling, when the completion is the
    /// sampled tokens, or those and an EOS the sampling never reached; else nil.
    private func sampledScore(_ e: TrainingExample, prompt: [Int32], sample: ScoredCompletion) throws -> Float? {
        let completion = e.tokens[e.targetStart...]
        if completion.elementsEqual(sample.tokens) { return sample.baseLogProbability }
        guard let eos = graph.model.tokenizer.eosID, let last = sample.tokens.last, last != eos,
            completion.elementsEqual(sample.tokens + [eos]),
            context.cache.lengths[sample.sequence] == prompt.count + sample.tokens.count - 1
        else { return nil }
        graph.pausePoint?()
        try context.forward([BatchItem(sequence: sample.sequence, tokens: [last], adapters: base)])
        return sample.baseLogProbability + VectorOps.logSoftmax(context.logits(row: 0), at: Int(eos))
    }

    /// The prompt history item `index` is sampled from (the end of its input, leaving room for
    /// the samples within `formatter.maxTokens`) and its K scored samples, lowest reward first.
    public func samples(
        input: String, index: Int, formatter: ExampleFormatter
    ) throws -> (prompt: [Int32], candidates: [ScoredCompletion]) {
        var prompt = formatter.prompt(input)
        let room = formatter.maxTokens - configuration.maxNewTokens - 1
        if room > 0 { prompt = Array(prompt.suffix(room)) }
        return (prompt, try candidates(prompt: prompt, index: index))
    }

    /// The negative among `candidates` (lowest reward first): the first whose text differs
    /// from the user's `real` output (ignoring surrounding whitespace); nil when every sample
    /// equals it. The text has NUL bytes replaced by U+FFFD, since stored text (like the wire)
    /// cannot hold them.
    public static func choose(_ candidates: [ScoredCompletion], real: String) -> ScoredCompletion? {
        let real = real.trimmingCharacters(in: .whitespacesAndNewlines)
        guard var worst = candidates.first(where: { $0.text.trimmingCharacters(in: .whitespacesAndNewlines) != real })
        else { return nil }
        worst.text = worst.text.replacingNULScalars
        return worst
    }
}
