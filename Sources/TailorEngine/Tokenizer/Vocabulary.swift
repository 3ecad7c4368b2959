/// Token kinds as GGUF's `tokenizer.ggml.token_type` numbers them.
public enum TokenKind: Int, Sendable {
    case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
}

/// Why a vocabulary could not be read, or text could not be tokenized.
public enum TokenizerError: Error, Equatable, Sendable, CustomStringConvertible {
    case missingVocabulary(path: String)
    case unsupportedModel(path: String, model: String)
    case inconsistentVocabulary(path: String, reason: String)
    /// Input longer than the caller allows.
    case inputTooLong(bytes: Int, limit: Int)

    public var description: String {
        switch self {
        case let .missingVocabulary(p): return "\(p): no tokenizer vocabulary (tokenizer.ggml.tokens)"
        case let .unsupportedModel(p, m): return "\(p): unsupported tokenizer model '\(m)' (supported: gpt2, llama)"
        case let .inconsistentVocabulary(p, r): return "\(p): inconsistent tokenizer vocabulary: \(r)"
        case let .inputTooLong(b, l): return "input of \(b) bytes exceeds the limit of \(l) bytes"
        }
    }
}

/// The token table shared by both tokenizer algorithms.
struct Vocabulary: Sendable {
    let tokens: [String]
    let kinds: [TokenKind]
    let scores: [Float]
    let index: [String: Int32]
    /// Tokens matched in raw text before BPE/SPM: user-defined always, control ones too when
    /// special tokens are parsed. Longest first, so the longest match wins.
    let specials: [(text: [UInt8], id: Int32, kind: TokenKind)]

    init(tokens: [String], kinds: [TokenKind], scores: [Float]) {
        self.tokens = tokens
        self.kinds = kinds
        self.scores = scores
        var index: [String: Int32] = [:]
        index.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where index[t] == nil { index[t] = Int32(i) }
        self.index = index
        specials = tokens.indices
            .filter { (kinds[$0] == .control || kinds[$0] == .userDefined) && !tokens[$0].isEmpty }
            .map { (Array(tokens[$0].utf8), Int32($0), kinds[$0]) }
            .sorted { $0.text.count > $1.text.count }
    }
}
