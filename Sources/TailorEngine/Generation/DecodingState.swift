import Foundation

/// One generated token as a client sees it.
public struct GeneratedToken: Sendable, Equatable {
    /// The token id.
    public var id: Int32
    /// The token's raw bytes; a byte-level BPE token may hold part of a UTF-8 character.
    public var bytes: [UInt8]
    /// Text that became complete with this token and is not held back by a possible stop
    /// string: possibly empty, never a partial character.
    public var text: String
    /// log p(token) under the model: the log-softmax of the raw logits, before temperature,
    /// penalties and filters, so clients can compare it across sampling settings. With
    /// `GenerationOptions.postSampling`, its log-probability in the sampler's final distribution.
    public var logprob: Float
    /// The most likely tokens at this step, best first, when `GenerationOptions.topLogprobs` asks.
    public var top: [TokenLogprob] = []
}

/// A token and its log-probability.
public struct TokenLogprob: Sendable, Equatable {
    public var id: Int32
    public var logprob: Float
    public init(id: Int32, logprob: Float) {
        self.id = id
        self.logprob = logprob
    }
}

/// What one decoding step produced.
public enum DecodingStep: Sendable, Equatable {
    /// A token was generated; when `finish` is set it was the last one.
    case token(GeneratedToken, finish: FinishReason?)
    /// Generation ended without a new token (end of generation), flushing `text`.
    case end(text: String, finish: FinishReason)
}

/// The state of one sequence between decode steps: its sampler, the token history, the UTF-8
/// stream and the stop-string matcher. `Generator` drives one of these for one sequence and
/// `BatchDecoder` one per slot, so both stream and stop exactly the same way.
public struct DecodingState {
    /// The limits this generation runs under.
    public let options: GenerationOptions
    /// Tokens generated so far (EOS excluded).
    public private(set) var generated: [Int32] = []
    /// Text delivered so far.
    public private(set) var text = ""
    private var sampler: Sampler
    private var history: [Int32]
    private var utf8 = UTF8StreamDecoder()
    private var stops: StopStringMatcher
    private let tokenizer: Tokenizer
    private var grammar: GrammarMatcher?
    private var masked: [Float] = []
    private var masks: [GrammarMatcher.State: [Bool]] = [:]

    /// Starts a generation after `prompt`.
    /// - Throws: `SamplingError` for out-of-range sampling parameters.
    public init(prompt: [Int32], sampling: SamplingParameters, options: GenerationOptions, tokenizer: Tokenizer) throws
    {
        sampler = try Sampler(sampling, tokenizer: tokenizer)
        sampler.recordsDistribution = options.postSampling && options.topLogprobs > 0
        self.options = options
        self.tokenizer = tokenizer
        history = prompt
        stops = StopStringMatcher(options.stopStrings)
        grammar = options.grammar.map(GrammarMatcher.init)
    }

    /// Prompt and generated tokens (what repetition penalties look back over).
    public var tokens: [Int32] { history }

    /// Samples the next token from `logits` and advances the text stream.
    /// - Parameter contextFull: the sequence has no room for another token after this one.
    public mutating func step(logits: UnsafeBufferPointer<Float>, contextFull: Bool) -> DecodingStep {
        let next = sample(logits)
        guard options.postSampling && options.topLogprobs > 0 else {
            return advance(
                token: next, logprob: VectorOps.logSoftmax(logits, at: Int(next)), top: topLogprobs(logits),
                contextFull: contextFull)
        }
        let kept = sampler.lastDistribution
        let p = kept.first { $0.token == next }?.probability ?? 0
        let top = kept.prefix(options.topLogprobs).map { TokenLogprob(id: $0.token, logprob: logf($0.probability)) }
        return advance(token: next, logprob: logf(p), top: top, contextFull: contextFull)
    }

    /// The `options.topLogprobs` most likely tokens of `logits` under the model, best first
    /// (empty when none are asked for).
    public func topLogprobs(_ logits: UnsafeBufferPointer<Float>) -> [TokenLogprob] {
        let n = min(options.topLogprobs, logits.count)
        guard n > 0 else { return [] }
        let lse = VectorOps.logSumExp(logits).logSumExp
        // The n best in one pass, kept sorted; most tokens fail the first comparison.
        var best: [TokenLogprob] = []
        best.reserveCapacity(n + 1)
        for v in 0..<logits.count where best.count < n || logits[v] > best[best.count - 1].logprob {
            let at = best.firstIndex { logits[v] > $0.logprob } ?? best.count
            best.insert(TokenLogprob(id: Int32(v), logprob: logits[v]), at: at)
            if best.count > n { best.removeLast() }
        }
        return best.map { TokenLogprob(id: $0.id, logprob: $0.logprob - lse) }
    }

    /// Draws the next token from `logits` with this generation's sampler and history, without
    /// advancing: for a caller that needs the token's id even when it ends the generation
    /// (the negative sampler scores the end token too), then calls `advance`.
    ///
    /// Under a grammar, a first draw the grammar allows is kept, as llama.cpp keeps it: with
    /// plain temperature sampling (and greedily) that is exactly a draw from the distribution
    /// restricted to allowed tokens, without testing the whole vocabulary; with top-k, top-p
    /// or min-p the cut is taken before the restriction. Only when the draw is refused is every
    /// token tested and the draw made again over the allowed ones.
    public mutating func sample(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        let first = sampler.sample(logits, history: history)
        guard let grammar, !allows(first) else { return first }
        let allowed = allowedTokens(grammar, count: logits.count)
        if masked.count != logits.count { masked = Array(repeating: 0, count: logits.count) }
        var any = false
        for v in 0..<logits.count {
            masked[v] = allowed[v] ? logits[v] : -.infinity
            any = any || allowed[v]
        }
        // Nothing allowed: `advance` ends the generation on the refused token.
        guard any else { return first }
        return masked.withUnsafeBufferPointer { sampler.sample($0, history: history) }
    }

    /// Which of the first `count` tokens the grammar allows now, cached by the matcher's state:
    /// a JSON answer returns to the same few states (inside a string, after a comma) again and
    /// again, and testing the whole vocabulary is the expensive part of constrained decoding.
    private mutating func allowedTokens(_ grammar: GrammarMatcher, count: Int) -> [Bool] {
        let key = grammar.state
        if let hit = masks[key] { return hit }
        let allowed = (0..<count).map { allows(Int32($0)) }
        if masks.count >= Self.maxMasks { masks.removeAll(keepingCapacity: true) }
        masks[key] = allowed
        return allowed
    }

    /// The most vocabulary masks kept per generation (each is one byte per token).
    static let maxMasks = 32

    /// Whether the grammar (if any) lets `token` come next: an end-of-generation token where
    /// the text is a complete match, another token where its bytes continue the text.
    public func allows(_ token: Int32) -> Bool {
        guard let grammar else { return true }
        if tokenizer.endOfGenerationIDs.contains(token) { return grammar.canEnd }
        let bytes = tokenizer.byteSlice(of: token)
        guard let first = bytes.first, grammar.mayStart(with: first) else { return false }
        return grammar.accepts(bytes)
    }

    /// Whether this generation is under a grammar (CoPe's selector then asks `allows`).
    public var isConstrained: Bool { grammar != nil }

    /// Advances the text stream with a token chosen elsewhere (CoPe's contrastive choice), with
    /// the log-probability to report for it.
    /// Under a grammar, a token the grammar refuses (none was allowed) ends the generation.
    public mutating func advance(
        token next: Int32, logprob: Float, top: [TokenLogprob] = [], contextFull: Bool
    ) -> DecodingStep {
        let isEnd = tokenizer.endOfGenerationIDs.contains(next)
        let refused = !isEnd && grammar?.accept(tokenizer.bytes(of: next)) == false
        if refused || (options.stopAtEndOfGeneration && isEnd) {
            let (tail, stopped) = finalText()
            text += tail
            return .end(text: tail, finish: stopped ? .stopString : .endOfGeneration)
        }
        generated.append(next)
        history.append(next)
        let bytes = tokenizer.bytes(of: next)
        let (out, stopped) = stops.feed(utf8.push(bytes))
        var piece = out
        var finish: FinishReason?
        if stopped {
            finish = .stopString
        } else if generated.count >= options.maxTokens {
            finish = .length
        } else if contextFull {
            finish = .contextFull
        }
        if let f = finish, f != .stopString {
            let (tail, stoppedInTail) = finalText()
            piece += tail
            // The flushed bytes themselves may complete a stop string.
            if stoppedInTail { finish = .stopString }
        }
        text += piece
        let token = GeneratedToken(id: next, bytes: bytes, text: piece, logprob: logprob, top: top)
        return .token(token, finish: finish)
    }

    /// The text still held back (a partial character, a possible stop string's prefix), for a
    /// generation ending for another reason than a stop string.
    private mutating func finalText() -> (String, stopped: Bool) {
        let (out, stopped) = stops.feed(utf8.flush())
        if stopped { return (out, true) }
        return (out + stops.flush(), false)
    }
}
