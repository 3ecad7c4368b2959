import Foundation
import TailorEngine

/// Measures of what adapters do to a model, for telling why a method helps or does not: how
/// far one stack's next-token distributions sit from another's on real text, and how DPO's
/// implicit reward separates a user's outputs from their synthetic negatives.
///
/// CoPe's contrast can only change an output where π_user and π_base disagree among the
/// plausible tokens, and DPO can only help where it widens the margin; these numbers say
/// whether either happened.
public struct AdapterDiagnostics {
    public let pipeline: PersonalizationPipeline
    /// Logit rows per forward call (per stack) while teacher-forcing a completion.
    static let chunk = 32

    public init(pipeline: PersonalizationPipeline) {
        self.pipeline = pipeline
    }

    /// The mean per-token KL(p ‖ q) over the outputs of `items`, teacher-forced: p and q read
    /// the same tokens as two rows of one batch. Nil when no item has an output token.
    public func meanKL(_ items: [TextExample], p: [AdapterUse], q: [AdapterUse]) throws -> Double? {
        let examples = pipeline.examples(items)
        let longest = examples.map(\.tokens.count).max() ?? 0
        guard longest > 0 else { return nil }
        let context = InferenceContext(
            model: pipeline.model, maxSequences: 2, maxContext: longest, maxBatchTokens: 2 * Self.chunk,
            maxLogitRows: 2 * Self.chunk, threads: pipeline.threads, precision: .exact)
        var total = 0.0, tokens = 0
        for e in examples where e.targetCount > 0 {
            context.reset(sequence: 0)
            context.reset(sequence: 1)
            // The prompt but its last token, then each row predicting the next token.
            let prompt = e.tokens[..<(e.targetStart - 1)]
            var i = 0
            while i < prompt.count {
                let part = Array(prompt[i..<min(prompt.count, i + Self.chunk)])
                _ = try context.forward([
                    BatchItem(sequence: 0, tokens: part, adapters: p),
                    BatchItem(sequence: 1, tokens: part, adapters: q),
                ])
                i += part.count
            }
            let feed = Array(e.tokens[(e.targetStart - 1)..<(e.tokens.count - 1)])
            i = 0
            while i < feed.count {
                let part = Array(feed[i..<min(feed.count, i + Self.chunk)])
                _ = try context.forward([
                    BatchItem(sequence: 0, tokens: part, allLogits: true, adapters: p),
                    BatchItem(sequence: 1, tokens: part, allLogits: true, adapters: q),
                ])
                for r in 0..<part.count {
                    total += Self.kl(context.logits(row: r), context.logits(row: part.count + r))
                }
                i += part.count
            }
            tokens += feed.count
        }
        return tokens == 0 ? nil : total / Double(tokens)
    }

    /// KL(softmax(p) ‖ softmax(q)) of two logit rows.
    static func kl(_ p: UnsafeBufferPointer<Float>, _ q: UnsafeBufferPointer<Float>) -> Double {
        let lp = Double(VectorOps.logSumExp(p).logSumExp), lq = Double(VectorOps.logSumExp(q).logSumExp)
        var sum = 0.0
        for v in 0..<p.count {
            let a = Double(p[v]) - lp
            sum += exp(a) * (a - (Double(q[v]) - lq))
        }
        return max(0, sum)
    }

    /// DPO's implicit reward margin of each pair with both sides, in `pairs`' order, for each
    /// of `policies`: β·[(log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))] over
    /// whole completions, π being the policy and π_ref `reference` (scored once for all).
    /// Positive when the policy prefers the user's output over the negative by more than the
    /// reference does; DPO's loss is −log σ of it.
    public func rewardMargins(
        _ pairs: [TextPreference], policies: [[AdapterUse]], reference: [AdapterUse], beta: Float
    ) throws -> [[Double]] {
        let examples = pipeline.examples(pairs)
        func scorer(_ adapters: [AdapterUse]) -> ReferenceScorer {
            ReferenceScorer(
                model: pipeline.model, maxTokens: pipeline.maxTokens, threads: pipeline.threads, adapters: adapters,
                path: PrefillPathSetting.processDefault.path(
                    for: pipeline.model, threads: pipeline.threads ?? ProcessInfo.processInfo.activeProcessorCount))
        }
        let ref = scorer(reference)
        let references = try examples.map { try ref.score($0, pause: {}) }
        return try policies.map { policy in
            let s = scorer(policy)
            return try zip(examples, references).map { e, r in
                let p = try s.score(e, pause: {})
                return Double(beta) * Double((p.chosen - r.chosen) - (p.rejected - r.rejected))
            }
        }
    }
}
