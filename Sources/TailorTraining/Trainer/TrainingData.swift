import Foundation
import TailorEngine

/// One supervised sequence: a prompt then a completion; only the completion is learned.
public struct TrainingExample: Sendable, Equatable {
    /// Prompt and completion tokens.
    public var tokens: [Int32]
    /// Index of the first completion token.
    public var targetStart: Int

    /// An example.
    public init(tokens: [Int32], targetStart: Int) {
        self.tokens = tokens
        self.targetStart = targetStart
    }

    /// Completion tokens (those the loss counts).
    public var targetCount: Int { tokens.count - targetStart }
}

/// One preference: the same prompt with the completion the user prefers and one they do not.
public struct PreferenceExample: Sendable, Equatable {
    public var chosen: TrainingExample
    public var rejected: TrainingExample
    /// DPO's reference scores of these sequences, when the negatives stage already has them;
    /// nil: DPO computes them.
    public var reference: ReferenceScores?

    /// A pair.
    public init(chosen: TrainingExample, rejected: TrainingExample, reference: ReferenceScores? = nil) {
        self.chosen = chosen
        self.rejected = rejected
        self.reference = reference
    }
}

/// A DPO pair's reference scores: Σ log π_base of the chosen and of the rejected completion
/// after the prompt, π_base being the frozen model DPO measures the policy against (base and
/// task adapter).
///
/// The negatives stage has the prompt evaluated under π_base already, and the rejected
/// completion's score summed while sampling it; the chosen one costs it a few rows more. DPO
/// would otherwise evaluate the prompt again, a third of its time. The values are a different computation's than DPO's own (the sampler's products,
/// not the training graph's), equal within rounding; a pair keeps them with it, so a resumed or
/// separate DPO stage reads the same numbers and trains to the same adapter.
public struct ReferenceScores: Sendable, Equatable, Codable {
    public var chosen: Float
    public var rejected: Float

    public init(chosen: Float, rejected: Float) {
        self.chosen = chosen
        self.rejected = rejected
    }
}

/// How text becomes training sequences: `BOS? + input` is the prompt, `output + EOS` the
/// completion, the same shape the decoder sees at inference (a prompt, then generation until
/// EOS). Too-long sequences keep the end of the prompt and the start of the completion.
public struct ExampleFormatter: Sendable {
    public let tokenizer: Tokenizer
    /// Longest sequence (the graph's capacity).
    public let maxTokens: Int
    /// Longest completion kept.
    public let maxCompletionTokens: Int

    /// A formatter for `tokenizer`.
    public init(tokenizer: Tokenizer, maxTokens: Int, maxCompletionTokens: Int? = nil) {
        self.tokenizer = tokenizer
        self.maxTokens = maxTokens
        self.maxCompletionTokens = min(maxCompletionTokens ?? maxTokens / 2, maxTokens - 2)
    }

    /// The prompt's tokens, as generation would see them.
    public func prompt(_ input: String) -> [Int32] {
        tokenizer.encode(input, addSpecial: true, parseSpecial: false)
    }

    /// The example for `input` → `output`; nil when the output is empty.
    public func example(input: String, output: String) -> TrainingExample? {
        var completion = tokenizer.encode(output, addSpecial: false, parseSpecial: false)
        guard !completion.isEmpty else { return nil }
        if let eos = tokenizer.eosID { completion.append(eos) }
        return example(prompt: prompt(input), completion: completion)
    }

    /// The example for already-tokenized parts, truncated to fit.
    public func example(prompt: [Int32], completion: [Int32]) -> TrainingExample {
        let c = Array(completion.prefix(maxCompletionTokens))
        var p = prompt
        if p.count + c.count > maxTokens {
            let keep = max(1, maxTokens - c.count)
            // Keep the BOS (if any) and the end of the prompt, where the task instruction sits.
            if let bos = tokenizer.bosID, p.first == bos, keep > 1 {
                p = [bos] + p.suffix(keep - 1)
            } else {
                p = Array(p.suffix(keep))
            }
        }
        return TrainingExample(tokens: p + c, targetStart: p.count)
    }
}
