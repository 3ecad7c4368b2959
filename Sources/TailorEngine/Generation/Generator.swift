import Foundation

/// Limits and stop conditions of one generation.
public struct GenerationOptions: Sendable {
    /// Maximum number of new tokens.
    public var maxTokens: Int = 256
    /// Generation ends before the first occurrence of any of these strings.
    public var stopStrings: [String] = []
    /// End at the model's EOS / end-of-turn tokens.
    public var stopAtEndOfGeneration = true
    /// The text must match this grammar: tokens that cannot continue it are never chosen, and
    /// the generation ends where the grammar does.
    public var grammar: Grammar?
    /// Report this many most likely tokens with each generated one (`GeneratedToken.top`).
    public var topLogprobs = 0
    /// Report them from the sampler's final distribution (after temperature and truncation)
    /// instead of the model's: llama.cpp's `post_sampling_probs`.
    public var postSampling = false

    /// Options with the given limits.
    public init(
        maxTokens: Int = 256, stopStrings: [String] = [], stopAtEndOfGeneration: Bool = true, grammar: Grammar? = nil
    ) {
        self.maxTokens = maxTokens
        self.stopStrings = stopStrings
        self.stopAtEndOfGeneration = stopAtEndOfGeneration
        self.grammar = grammar
    }
}

/// Why a generation ended.
public enum FinishReason: String, Sendable {
    case length, stopString = "stop", endOfGeneration = "eos", cancelled, contextFull = "context"
}

/// The outcome of a generation, with timings for benchmarks and clients.
public struct GenerationResult: Sendable {
    /// The generated tokens (stop strings' tokens included, EOS excluded).
    public var tokens: [Int32]
    /// The text streamed to the caller, stop string excluded.
    public var text: String
    /// Why generation ended.
    public var finishReason: FinishReason
    /// Tokens in the prompt.
    public var promptTokens: Int
    /// Time to evaluate the prompt.
    public var prefillSeconds: Double
    /// Time spent generating after the prompt.
    public var decodeSeconds: Double
}

/// Plain autoregressive generation on one sequence of an `InferenceContext`: prefill in chunks,
/// then one token at a time, streaming complete UTF-8 text through `onText`.
public struct Generator {
    /// The context whose sequence this generator drives.
    public let context: InferenceContext
    /// The KV-cache row used.
    public let sequence: Int
    /// LoRA adapters applied to every forward call, unmerged.
    public let adapters: [AdapterUse]

    /// A generator on `sequence` of `context`, adapted by `adapters`.
    public init(context: InferenceContext, sequence: Int = 0, adapters: [AdapterUse] = []) {
        self.context = context
        self.sequence = sequence
        self.adapters = adapters
    }

    /// Feeds `tokens` to the sequence in chunks of the context's batch size.
    /// Afterwards row 0 of the context's logits holds the last token's logits.
    public func prefill(_ tokens: [Int32]) throws {
        guard !tokens.isEmpty else { throw EngineError.emptyInput }
        var i = 0
        while i < tokens.count {
            let end = min(tokens.count, i + context.maxBatchTokens)
            try context.forward([BatchItem(sequence: sequence, tokens: Array(tokens[i..<end]), adapters: adapters)])
            i = end
        }
    }

    /// Generates from `prompt`. The sequence is reset first, except for its first `reusing`
    /// positions, which the caller guarantees hold `prompt`'s first `reusing` tokens (a chat's
    /// earlier turns): only the rest is prefilled. `reusing` must be less than the prompt's
    /// length and at most what the sequence holds.
    /// `onText` receives each newly complete piece of text; returning false cancels.
    /// `beforeForward` runs before the prefill and before each generated token's forward pass:
    /// where a background caller (a training job sampling negatives) can wait while interactive
    /// decoding runs, so that it yields every token instead of every whole sample.
    public func generate(
        prompt: [Int32], reusing: Int = 0, sampling: SamplingParameters, options: GenerationOptions = .init(),
        onText: (String) -> Bool = { _ in true }, beforeForward: () -> Void = {}
    ) throws -> GenerationResult {
        precondition(reusing >= 0 && reusing < max(1, prompt.count) && reusing <= context.length(of: sequence))
        var state = try DecodingState(
            prompt: prompt, sampling: sampling, options: options, tokenizer: context.model.tokenizer)
        context.cache.truncate(sequence: sequence, to: reusing)
        let t0 = DispatchTime.now().uptimeNanoseconds
        beforeForward()
        try prefill(Array(prompt[reusing...]))
        let t1 = DispatchTime.now().uptimeNanoseconds
        var reason = FinishReason.length
        loop: while state.generated.count < options.maxTokens {
            let full = context.length(of: sequence) >= context.maxContext
            switch state.step(logits: context.logits(row: 0), contextFull: full) {
            case let .end(text, finish):
                if !text.isEmpty { _ = onText(text) }
                reason = finish
                break loop
            case let .token(token, finish):
                if !token.text.isEmpty && !onText(token.text) { reason = .cancelled; break loop }
                if let finish { reason = finish; break loop }
                beforeForward()
                try context.forward([BatchItem(sequence: sequence, tokens: [token.id], adapters: adapters)])
            }
        }
        let t2 = DispatchTime.now().uptimeNanoseconds
        return GenerationResult(
            tokens: state.generated, text: state.text, finishReason: reason, promptTokens: prompt.count,
            prefillSeconds: Double(t1 - t0) / 1e9, decodeSeconds: Double(t2 - t1) / 1e9)
    }
}
