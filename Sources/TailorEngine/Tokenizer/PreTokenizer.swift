/// The pre-tokenizers of byte-level BPE vocabularies: each splits text into words before BPE
/// runs, exactly as the regular expressions of the original tokenizers do. They are written as
/// hand matchers over Unicode scalars (no regex engine), which makes them linear-time on any
/// input, including the pathological ones a regex could backtrack on.
public enum PreTokenizer: String, Sendable {
    /// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    case gpt2
    /// Llama 3: case-insensitive contractions, `[^\r\n\p{L}\p{N}]?\p{L}+`, `\p{N}{1,3}`,
    /// ` ?[^\s\p{L}\p{N}]+[\r\n]*`, `\s*[\r\n]+`, `\s+(?!\S)`, `\s+`.
    case llama3
    /// Qwen2: as Llama 3, but digits one at a time.
    case qwen2
    /// SmolLM (and StarCoder-style): every digit alone, then the GPT-2 rules.
    case smollm

    /// Maps GGUF's `tokenizer.ggml.pre` to a pre-tokenizer; unknown names fall back to GPT-2.
    public init(ggufName: String?) {
        switch ggufName {
        case "llama-bpe", "llama3", "llama-v3", "dbrx", "smaug-bpe", "falcon3", "pixtral": self = .llama3
        case "qwen2", "stablelm2", "deepseek-r1-qwen", "megrez": self = .qwen2
        case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b": self = .smollm
        default: self = .gpt2
        }
    }

    private enum Kind: UInt8 { case letter, number, space, other }

    private static func kind(_ s: Unicode.Scalar) -> Kind {
        if s.value < 0x80 {
            let v = s.value
            if (v >= 0x61 && v <= 0x7A) || (v >= 0x41 && v <= 0x5A) { return .letter }
            if v >= 0x30 && v <= 0x39 { return .number }
            if v == 0x20 || (v >= 0x09 && v <= 0x0D) { return .space }
            return .other
        }
        let p = s.properties
        if p.isWhitespace { return .space }
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    /// Splits `text` into pre-tokenized words.
    public func split(_ text: String) -> [Substring] {
        let scalars = Array(text.unicodeScalars)
        var kinds = [Kind](); kinds.reserveCapacity(scalars.count)
        for s in scalars { kinds.append(Self.kind(s)) }
        var ranges: [Range<Int>] = []
        switch self {
        case .gpt2: Self.gpt2(scalars, kinds, 0..<scalars.count, into: &ranges)
        case .llama3: Self.llama3(scalars, kinds, maxDigits: 3, into: &ranges)
        case .qwen2: Self.llama3(scalars, kinds, maxDigits: 1, into: &ranges)
        case .smollm:
            var start = 0
            for i in 0..<scalars.count where kinds[i] == .number {
                if start < i { Self.gpt2(scalars, kinds, start..<i, into: &ranges) }
                ranges.append(i..<(i + 1))
                start = i + 1
            }
            if start < scalars.count { Self.gpt2(scalars, kinds, start..<scalars.count, into: &ranges) }
        }
        // Map scalar ranges back to String indices.
        var out: [Substring] = []
        out.reserveCapacity(ranges.count)
        var idx = text.unicodeScalars.startIndex
        var pos = 0
        for r in ranges {
            while pos < r.lowerBound { text.unicodeScalars.formIndex(after: &idx); pos += 1 }
            var end = idx
            var p2 = pos
            while p2 < r.upperBound { text.unicodeScalars.formIndex(after: &end); p2 += 1 }
            out.append(text[idx..<end])
            idx = end
            pos = p2
        }
        return out
    }

    private static func isApostrophe(_ s: Unicode.Scalar) -> Bool { s == "'" }

    /// Length of a contraction ('s 't 'm 'd 're 've 'll) at `i`, or 0.
    private static func contraction(_ s: [Unicode.Scalar], _ i: Int, end: Int, caseInsensitive: Bool) -> Int {
        guard s[i] == "'", i + 1 < end else { return 0 }
        func lower(_ c: Unicode.Scalar) -> Unicode.Scalar {
            caseInsensitive && c.value >= 0x41 && c.value <= 0x5A ? Unicode.Scalar(c.value + 32)! : c
        }
        let a = lower(s[i + 1])
        if a == "s" || a == "t" || a == "m" || a == "d" { return 2 }
        if i + 2 < end {
            let b = lower(s[i + 2])
            if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") { return 3 }
        }
        return 0
    }

    private static func gpt2(_ s: [Unicode.Scalar], _ k: [Kind], _ range: Range<Int>, into out: inout [Range<Int>]) {
        let end = range.upperBound
        var i = range.lowerBound
        while i < end {
            let c = contraction(s, i, end: end, caseInsensitive: false)
            if c > 0 { out.append(i..<(i + c)); i += c; continue }
            var j = i
            if s[j] == " ", j + 1 < end, k[j + 1] != .space { j += 1 }
            let kind = k[j]
            if kind != .space {
                var e = j + 1
                while e < end, k[e] == kind { e += 1 }
                out.append(i..<e); i = e; continue
            }
            // Whitespace run: \s+(?!\S) leaves the last space to the next word, else \s+.
            var e = i
            while e < end, k[e] == .space { e += 1 }
            if e < end, e - i >= 2 { e -= 1 }
            out.append(i..<e); i = e
        }
    }

    private static func llama3(_ s: [Unicode.Scalar], _ k: [Kind], maxDigits: Int, into out: inout [Range<Int>]) {
        let end = s.count
        var i = 0
        func isCRLF(_ x: Unicode.Scalar) -> Bool { x == "\r" || x == "\n" }
        while i < end {
            let c = contraction(s, i, end: end, caseInsensitive: true)
            if c > 0 { out.append(i..<(i + c)); i += c; continue }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if k[i] == .letter || (k[i] != .number && !isCRLF(s[i]) && i + 1 < end && k[i + 1] == .letter) {
                var e = i + 1
                while e < end, k[e] == .letter { e += 1 }
                out.append(i..<e); i = e; continue
            }
            // \p{N}{1,maxDigits}
            if k[i] == .number {
                var e = i + 1
                while e < end, e - i < maxDigits, k[e] == .number { e += 1 }
                out.append(i..<e); i = e; continue
            }
            // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
            var j = i
            if s[j] == " ", j + 1 < end, k[j + 1] == .other { j += 1 }
            if k[j] == .other {
                var e = j + 1
                while e < end, k[e] == .other { e += 1 }
                while e < end, isCRLF(s[e]) { e += 1 }
                out.append(i..<e); i = e; continue
            }
            // Whitespace: \s*[\r\n]+, then \s+(?!\S), then \s+.
            var e = i
            var lastNL = -1
            while e < end, k[e] == .space { if isCRLF(s[e]) { lastNL = e }; e += 1 }
            if lastNL >= 0 { out.append(i..<(lastNL + 1)); i = lastNL + 1; continue }
            if e < end, e - i >= 2 { e -= 1 }
            out.append(i..<e); i = e
        }
    }
}
