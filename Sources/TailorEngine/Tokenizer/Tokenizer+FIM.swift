/// Fill-in-the-middle tokens, for editor completions between a prefix and a suffix.
public struct FIMTokens: Sendable, Equatable {
    /// Starts the code before the cursor.
    public var prefix: Int32
    /// Starts the code after the cursor.
    public var suffix: Int32
    /// Asks for the middle: generation starts after it.
    public var middle: Int32
    /// Separates extra context files (repository-level FIM), when the model has one.
    public var fileSeparator: Int32?

    /// FIM tokens with these ids.
    public init(prefix: Int32, suffix: Int32, middle: Int32, fileSeparator: Int32? = nil) {
        self.prefix = prefix
        self.suffix = suffix
        self.middle = middle
        self.fileSeparator = fileSeparator
    }
}

extension Tokenizer {
    /// The spellings of FIM tokens across model families (Qwen2.5-Coder and CodeGemma;
    /// StarCoder and SmolLM; DeepSeek-Coder; Code Llama), in the order prefix, suffix, middle.
    static let fimSpellings: [(String, String, String, [String])] = [
        ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", ["<|file_sep|>", "<|file_separator|>"]),
        ("<fim_prefix>", "<fim_suffix>", "<fim_middle>", ["<file_sep>", "<filename>"]),
        ("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>", []),
        ("▁<PRE>", "▁<SUF>", "▁<MID>", []),
        ("<PRE>", "<SUF>", "<MID>", []),
    ]

    /// The model's FIM tokens, found by their spelling in the vocabulary; nil when the model
    /// has none (then infill falls back to a plain prompt of the prefix).
    public var fimTokens: FIMTokens? {
        for (p, s, m, seps) in Self.fimSpellings {
            if let pi = tokenID(p), let si = tokenID(s), let mi = tokenID(m) {
                return FIMTokens(
                    prefix: pi, suffix: si, middle: mi, fileSeparator: seps.lazy.compactMap { self.tokenID($0) }.first)
            }
        }
        return nil
    }
}
