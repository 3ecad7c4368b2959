import Foundation

/// The knobs of DRY ("don't repeat yourself"), the repetition guard llama.cpp's server takes as
/// `dry_multiplier`, `dry_base`, `dry_allowed_length` and `dry_penalty_last_n`.
///
/// A token that would extend a sequence already present in the context (the prompt included)
/// loses multiplier · base^(length − allowedLength) from its logit, where length is that of the
/// longest earlier occurrence the context now ends with. A model may reuse a name or a short
/// phrase, but not copy a line of its input or loop. Unlike the repetition penalty, a token is
/// not punished for having appeared, only for continuing a copy.
public struct DRYParameters: Sendable, Equatable, Codable {
    /// 0 disables DRY; llama.cpp suggests 0.8.
    public var multiplier: Float = 0
    /// Growth of the penalty per token of match beyond the allowed length.
    public var base: Float = 1.75
    /// The longest repeated sequence left unpenalized.
    public var allowedLength = 2
    /// Tokens of context searched for earlier occurrences; 0 searches all of it.
    public var window = 0
    /// Strings that end a match: a token whose text holds one is a breaker. nil: llama.cpp's
    /// defaults (newline, ':', '"', '*'), which suit chat text; a one-line output such as a
    /// commit subject is better served by the newline alone, so "PEP 8: "PEP 8: …" loops too.
    public var breakers: [String]?

    /// Limits on client-given breakers: how many, and bytes each.
    public static let maxBreakers = 16, maxBreakerBytes = 32

    /// Parameters; the defaults disable DRY.
    public init(
        multiplier: Float = 0, base: Float = 1.75, allowedLength: Int = 2, window: Int = 0, breakers: [String]? = nil
    ) {
        self.multiplier = multiplier
        self.base = base
        self.allowedLength = allowedLength
        self.window = window
        self.breakers = breakers
    }

    /// Whether DRY changes anything.
    public var isEnabled: Bool { multiplier > 0 }

    /// Checks the values, naming the first one out of range.
    public func validate() throws {
        func bad(_ name: String, _ v: CustomStringConvertible) -> SamplingError {
            .invalidParameter(name: name, value: v.description)
        }
        guard multiplier >= 0, multiplier.isFinite else { throw bad("dry_multiplier", multiplier) }
        guard base >= 1, base.isFinite else { throw bad("dry_base", base) }
        guard (1...1024).contains(allowedLength) else { throw bad("dry_allowed_length", allowedLength) }
        guard window >= 0 else { throw bad("dry_penalty_last_n", window) }
        if let b = breakers {
            guard b.count <= Self.maxBreakers, b.allSatisfy({ !$0.isEmpty && $0.utf8.count <= Self.maxBreakerBytes })
            else {
                throw bad(
                    "dry_sequence_breakers",
                    "\(b.count) strings (1...\(Self.maxBreakerBytes) bytes each, at most \(Self.maxBreakers))")
            }
        }
    }
}

/// DRY applied to logit rows: `DRYParameters` with the tokens that end a match (those whose
/// text holds a breaker string; by default a newline, ':', '"' or '*', llama.cpp's), so a
/// match never runs across a line and, with the defaults, a line's shape ("PEP 8:") may repeat.
public struct DRYPenalty: Sendable {
    public let parameters: DRYParameters
    private let breakers: Set<Int32>
    /// Longest match measured: the penalty is already past any logit by then, and this bounds
    /// the work on a looping context.
    static let maxMatch = 64

    /// llama.cpp's default sequence breakers.
    public static let defaultBreakers = ["\n", ":", "\"", "*"]

    /// A penalty for `tokenizer`'s vocabulary (scanned once for breaker tokens).
    /// - Throws: `SamplingError` for out-of-range parameters.
    public init(_ parameters: DRYParameters, tokenizer: Tokenizer) throws {
        try parameters.validate()
        self.parameters = parameters
        let marks = (parameters.breakers ?? Self.defaultBreakers).map { Array($0.utf8) }
        var set = Set<Int32>()
        for id in 0..<Int32(tokenizer.vocabularySize) {
            let text = tokenizer.bytes(of: id, renderSpecial: true)
            if marks.contains(where: { Self.contains(text, $0) }) { set.insert(id) }
        }
        breakers = set
    }

    /// The penalty `parameters` ask for, or nil when they disable DRY: what a sampler holds.
    /// - Throws: `SamplingError` for out-of-range parameters, or for DRY enabled without the
    ///   vocabulary its breakers are found in.
    public static func make(_ parameters: DRYParameters, tokenizer: Tokenizer?) throws -> DRYPenalty? {
        guard parameters.isEnabled else { return nil }
        guard let tokenizer else {
            throw SamplingError.invalidParameter(name: "dry_multiplier", value: "set without a vocabulary")
        }
        return try DRYPenalty(parameters, tokenizer: tokenizer)
    }

    /// Whether `text` holds `part` as a contiguous run.
    private static func contains(_ text: [UInt8], _ part: [UInt8]) -> Bool {
        guard text.count >= part.count else { return false }
        return (0...(text.count - part.count)).contains { i in text[i..<(i + part.count)].elementsEqual(part) }
    }

    /// A penalty with an explicit set of breaker tokens (for tests and callers that know them).
    public init(_ parameters: DRYParameters, breakerTokens: Set<Int32>) throws {
        try parameters.validate()
        self.parameters = parameters
        breakers = breakerTokens
    }

    /// The penalty each token would get after `history`: token → match length, for the tokens
    /// whose match reaches the allowed length.
    public func matches(history: [Int32]) -> [Int32: Int] {
        let p = parameters
        let ctx = p.window > 0 ? history.suffix(p.window) : history[...]
        let n = ctx.count, s = ctx.startIndex
        guard n >= 2, !breakers.contains(ctx[s + n - 1]) else { return [:] }
        var longest: [Int32: Int] = [:]
        // An earlier occurrence ends at e and is followed by ctx[e + 1], the token that would
        // extend the copy; its length is how far ctx[...e] and the whole context agree backwards.
        for e in stride(from: n - 2, through: 0, by: -1) {
            let next = ctx[s + e + 1]
            if breakers.contains(next) { continue }
            var k = 0
            while k <= e && k < Self.maxMatch {
                let a = ctx[s + e - k]
                if a != ctx[s + n - 1 - k] || breakers.contains(a) { break }
                k += 1
            }
            if k >= p.allowedLength, k > longest[next, default: 0] { longest[next] = k }
        }
        return longest
    }

    /// Lowers the logits of tokens that would extend a repeat in `history`.
    public func apply(to logits: UnsafeMutableBufferPointer<Float>, history: [Int32]) {
        let p = parameters
        guard p.isEnabled else { return }
        for (token, length) in matches(history: history) where Int(token) < logits.count {
            logits[Int(token)] -= p.multiplier * powf(p.base, Float(length - p.allowedLength))
        }
    }
}
