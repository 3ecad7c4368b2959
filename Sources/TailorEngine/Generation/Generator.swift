import Foundation

/// Limits and stop conditions of one generation.
public struct GenerationOptions: Sendable {
    /// Maximum number of new tokens.
    public var maxTokens: Int = 256
    /// Generation ends before the first occurrence of any of these strings.
    public var stopStrings: [String] = []
    /// End at the model's EOS / end-of-turn tokens.
    public var stopAtEndOfGeneration = true

    /// Options with the given limits.
    public init(maxTokens: Int = 256, stopStrings: [String] = [], stopAtEndOfGeneration: Bool = true) {
        self.maxTokens = maxTokens
        self.stopStrings = stopStrings
        self.stopAtEndOfGeneration = stopAtEndOfGeneration
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

    /// A generator on `sequence` of `context`.
    public init(context: InferenceContext, sequence: Int = 0) {
        self.context = context
        self.sequence = sequence
    }

    /// Feeds `tokens` to the sequence in chunks of the context's batch size.
    /// Afterwards row 0 of the context's logits holds the last token's logits.
    public func prefill(_ tokens: [Int32]) throws {
        guard !tokens.isEmpty else { throw EngineError.emptyInput }
        var i = 0
        while i < tokens.count {
            let end = min(tokens.count, i + context.maxBatchTokens)
            try context.forward([BatchItem(sequence: sequence, tokens: Array(tokens[i..<end]))])
            i = end
        }
    }

    /// Generates from `prompt` (which the sequence must not already hold: it is reset first).
    /// `onText` receives each newly complete piece of text; returning false cancels.
    public func generate(prompt: [Int32], sampling: SamplingParameters, options: GenerationOptions = .init(),
                         onText: (String) -> Bool = { _ in true }) throws -> GenerationResult {
        var sampler = try Sampler(sampling)
        let tok = context.model.tokenizer
        context.reset(sequence: sequence)
        let t0 = DispatchTime.now().uptimeNanoseconds
        try prefill(prompt)
        let t1 = DispatchTime.now().uptimeNanoseconds
        var history = prompt
        var generated: [Int32] = []
        var utf8 = UTF8StreamDecoder()
        var stops = StopStringMatcher(options.stopStrings)
        var text = ""
        var reason = FinishReason.length
        func emit(_ s: String) -> Bool {
            guard !s.isEmpty else { return true }
            text += s
            return onText(s)
        }
        loop: while generated.count < options.maxTokens {
            let next = sampler.sample(context.logits(row: 0), history: history)
            if options.stopAtEndOfGeneration && tok.endOfGenerationIDs.contains(next) { reason = .endOfGeneration; break }
            generated.append(next)
            history.append(next)
            let piece = utf8.push(tok.bytes(of: next))
            let (out, stopped) = stops.feed(piece)
            if !emit(out) { reason = .cancelled; break loop }
            if stopped { reason = .stopString; break }
            if generated.count == options.maxTokens { break }
            if context.length(of: sequence) >= context.maxContext { reason = .contextFull; break }
            try context.forward([BatchItem(sequence: sequence, tokens: [next])])
        }
        if reason != .stopString && reason != .cancelled {
            let (out, stopped) = stops.feed(utf8.flush())
            _ = emit(out)
            if stopped { reason = .stopString } else { _ = emit(stops.flush()) }
        }
        let t2 = DispatchTime.now().uptimeNanoseconds
        return GenerationResult(tokens: generated, text: text, finishReason: reason, promptTokens: prompt.count,
                                prefillSeconds: Double(t1 - t0) / 1e9, decodeSeconds: Double(t2 - t1) / 1e9)
    }
}
