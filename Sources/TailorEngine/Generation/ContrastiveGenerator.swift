import Foundation

/// CoPe decoding: the user's model (task + user adapters) and the task model (task adapter) run
/// as two sequences of one batch — the same tokens, two KV-cache rows, every weight read once
/// for both — and each step picks the token by `ContrastiveSelector`.
public struct ContrastiveGenerator {
    /// A context with at least two sequences.
    public let context: InferenceContext
    /// π_user's adapters (task, then user) and π_base's (task).
    public let user: [AdapterUse]
    public let base: [AdapterUse]
    /// The KV-cache rows used.
    public let userSequence: Int
    public let baseSequence: Int

    /// A generator on rows `userSequence` and `userSequence + 1` of `context`.
    public init(context: InferenceContext, user: [AdapterUse], base: [AdapterUse], userSequence: Int = 0) throws {
        guard context.maxSequences >= userSequence + 2 else {
            throw EngineError.invalidRequest(
                "CoPe decoding needs two sequences of the context, rows \(userSequence) and \(userSequence + 1)")
        }
        self.context = context
        self.user = user
        self.base = base
        self.userSequence = userSequence
        baseSequence = userSequence + 1
    }

    /// Generates from `prompt` (both rows are reset first). `onToken` receives each token with
    /// why it was chosen (returning false cancels); `onTail` the text held back until the end
    /// (a partial stop string's prefix), when there is any. `beforeForward` runs before each
    /// prefill chunk and each generated token's forward pass: where a background caller (the
    /// autopilot's gate) waits while interactive decoding runs.
    public func generate(
        prompt: [Int32], parameters: ContrastiveParameters, options: GenerationOptions = .init(),
        onToken: (GeneratedToken, ContrastiveChoice) -> Bool = { _, _ in true },
        onTail: (String) -> Void = { _ in }, beforeForward: () -> Void = {}
    ) throws -> (GenerationResult, [ContrastiveChoice]) {
        guard !prompt.isEmpty else { throw EngineError.emptyInput }
        var selector = try ContrastiveSelector(parameters, tokenizer: context.model.tokenizer)
        var state = try DecodingState(
            prompt: prompt, sampling: SamplingParameters(), options: options, tokenizer: context.model.tokenizer)
        context.reset(sequence: userSequence)
        context.reset(sequence: baseSequence)
        let t0 = DispatchTime.now().uptimeNanoseconds
        let chunk = max(1, context.maxBatchTokens / 2)
        var i = 0
        while i < prompt.count {
            let part = Array(prompt[i..<min(prompt.count, i + chunk)])
            beforeForward()
            try context.forward(items(part))
            i += part.count
        }
        let t1 = DispatchTime.now().uptimeNanoseconds
        var choices: [ContrastiveChoice] = []
        var reason = FinishReason.length
        loop: while state.generated.count < options.maxTokens {
            let current = state
            let choice = selector.choose(
                user: context.logits(row: 0), base: context.logits(row: 1), history: current.tokens,
                allowed: current.isConstrained ? { current.allows($0) } : nil)
            let full = context.length(of: userSequence) >= context.maxContext
            let top = state.topLogprobs(context.logits(row: 0))
            switch state.advance(token: choice.token, logprob: choice.logProbUser, top: top, contextFull: full) {
            case let .end(tail, finish):
                if !tail.isEmpty { onTail(tail) }
                reason = finish
                break loop
            case let .token(token, finish):
                choices.append(choice)
                if !onToken(token, choice) { reason = .cancelled; break loop }
                if let finish { reason = finish; break loop }
                beforeForward()
                try context.forward(items([token.id]))
            }
        }
        let t2 = DispatchTime.now().uptimeNanoseconds
        return (
            GenerationResult(
                tokens: state.generated, text: state.text, finishReason: reason, promptTokens: prompt.count,
                prefillSeconds: Double(t1 - t0) / 1e9, decodeSeconds: Double(t2 - t1) / 1e9), choices
        )
    }

    private func items(_ tokens: [Int32]) -> [BatchItem] {
        [
            BatchItem(sequence: userSequence, tokens: tokens, adapters: user),
            BatchItem(sequence: baseSequence, tokens: tokens, adapters: base),
        ]
    }
}
