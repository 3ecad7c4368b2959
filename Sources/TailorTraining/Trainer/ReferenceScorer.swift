import Foundation
import TailorEngine

/// DPO's reference log-probabilities, from the inference engine instead of the training graph:
/// a pair's chosen and rejected sequences share their prompt, so the prompt is evaluated once
/// and its KV row copied for the second completion, both completions are fed in the same
/// forward calls (every weight read, and on the float path dequantized, once for both), and
/// nothing is kept for a backward pass.
/// Every product takes the training graph's forward path whatever the batch's size
/// (`gemmThreshold` 1), so that a reference equals the policy's first forward: on the float path,
/// dequantized tiles and sgemm (the exact small-batch path dots each row against the weights on
/// its own and made DPO 1.7× slower than the graph it replaced); on the integer path, the
/// integer dots, whose rows never depend on the batch.
final class ReferenceScorer {
    private let context: InferenceContext
    private let adapters: [AdapterUse]
    /// Logit rows per forward call while scoring completions (half each when two share a call).
    static let chunk = 64

    /// A scorer for sequences that fit `graph`, under the frozen `adapters`.
    convenience init(graph: TrainingGraph, adapters: [AdapterUse]) {
        self.init(
            model: graph.model, maxTokens: graph.maxTokens, threads: graph.threads, adapters: adapters,
            path: graph.forwardPath)
    }

    /// A scorer of `model` under `adapters` for sequences of at most `maxTokens`, its products on
    /// `path`.
    init(model: Model, maxTokens: Int, threads: Int?, adapters: [AdapterUse], path: PrefillPath) {
        self.adapters = adapters
        context = InferenceContext(
            model: model, maxSequences: 2, maxContext: maxTokens,
            maxBatchTokens: max(Self.chunk, min(256, maxTokens)), maxLogitRows: Self.chunk,
            threads: threads, precision: path == .float ? .exact : .fast, prefill: .forced(path))
        context.gemmThreshold = 1
    }

    /// Σ log p of the pair's chosen and rejected completions. `pause` runs before every
    /// forward call (where a daemon yields to interactive decoding).
    func score(_ pair: PreferenceExample, pause: () -> Void) throws -> (chosen: Float, rejected: Float) {
        let a = pair.chosen, b = pair.rejected
        if a.targetStart == b.targetStart, a.tokens[..<a.targetStart] == b.tokens[..<b.targetStart] {
            try prefill(a, sequence: 0, pause: pause)
            context.reset(sequence: 1)
            context.cache.copyPrefix(from: 0, to: 1, length: a.targetStart - 1)
            let sums = try completions([a, b], pause: pause)
            return (sums[0], sums[1])
        }
        // Prompts cut differently to fit (completions of different lengths): one at a time.
        try prefill(a, sequence: 0, pause: pause)
        let chosen = try completions([a], pause: pause)[0]
        try prefill(b, sequence: 0, pause: pause)
        return (chosen, try completions([b], pause: pause)[0])
    }

    /// Σ log p of `e`'s completion after its prompt, and how many tokens that is.
    func score(_ e: TrainingExample, pause: () -> Void) throws -> (logProbability: Float, tokens: Int) {
        try prefill(e, sequence: 0, pause: pause)
        return (try completions([e], pause: pause)[0], e.targetCount)
    }

    /// Evaluates the prompt of `e` but its last token into `sequence`, which is reset first.
    private func prefill(_ e: TrainingExample, sequence: Int, pause: () -> Void) throws {
        context.reset(sequence: sequence)
        var i = 0
        while i < e.targetStart - 1 {
            let end = min(e.targetStart - 1, i + context.maxBatchTokens)
            pause()
            try context.forward([BatchItem(sequence: sequence, tokens: Array(e.tokens[i..<end]), adapters: adapters)])
            i = end
        }
    }

    private func completions(_ examples: [TrainingExample], pause: () -> Void) throws -> [Float] {
        try Self.completions(
            examples, sequences: Array(examples.indices), context: context, adapters: adapters, rows: Self.chunk,
            pause: pause)
    }

    /// Σ log p of each example's completion after its prompt's prefix, example i in
    /// `sequences[i]` of `context` (holding the prompt but its last token): each call feeds every
    /// unfinished example's next tokens (the prompt's last token and every completion token but
    /// the last, each logit row predicting the next token), `rows` logit rows in all.
    static func completions(
        _ examples: [TrainingExample], sequences: [Int], context: InferenceContext, adapters: [AdapterUse],
        rows: Int, pause: () -> Void
    ) throws -> [Float] {
        let feeds = examples.map { Array($0.tokens[($0.targetStart - 1)..<($0.tokens.count - 1)]) }
        var totals = [Double](repeating: 0, count: examples.count)
        var done = [Int](repeating: 0, count: examples.count)
        let share = rows / examples.count
        while zip(done, feeds).contains(where: { $0 < $1.count }) {
            let parts = feeds.indices.map { i in done[i]..<min(feeds[i].count, done[i] + share) }
            pause()
            _ = try context.forward(
                parts.indices.filter { !parts[$0].isEmpty }.map { i in
                    BatchItem(
                        sequence: sequences[i], tokens: Array(feeds[i][parts[i]]), allLogits: true,
                        adapters: adapters)
                })
            var row = 0
            for (i, part) in parts.enumerated() {
                let e = examples[i]
                for t in part {
                    let next = Int(e.tokens[e.targetStart + t])
                    totals[i] += Double(VectorOps.logSoftmax(context.logits(row: row), at: next))
                    row += 1
                }
                done[i] = part.upperBound
            }
        }
        return totals.map { Float($0) }
    }
}
