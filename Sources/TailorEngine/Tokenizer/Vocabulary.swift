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

    /// A message naming the problem, for logs and CLI output.
    public var description: String {
        switch self {
        case let .missingVocabulary(p): return "\(p): no tokenizer vocabulary (tokenizer.ggml.tokens)"
        case let .unsupportedModel(p, m): return "\(p): unsupported tokenizer model '\(m)' (supported: gpt2, llama)"
        case let .inconsistentVocabulary(p, r): return "\(p): inconsistent tokenizer vocabulary: \(r)"
        case let .inputTooLong(b, l): return "input of \(b) bytes exceeds the limit of \(l) bytes"
        }
    }
}

/// The token table shared by both tokenizer algorithms: token texts packed in one buffer and an
/// open-addressing hash index over them (a Dictionary<String, Int32> of Gemma's 262 144 tokens
/// costs ~10 MB; this index costs 2 MB).
struct Vocabulary: Sendable {
    let texts: PackedStrings
    let kinds: [TokenKind]
    let scores: [Float]
    private let table: [Int32]  // token id or -1; size a power of two ≥ 2 × count
    /// First bytes that can start a special (control or user-defined) token.
    let specialStarts: [Bool]
    /// Distinct byte lengths of special tokens, longest first.
    let specialLengths: [Int]

    var count: Int { texts.count }

    init(texts: PackedStrings, kinds: [TokenKind], scores: [Float]) {
        self.texts = texts
        self.kinds = kinds
        self.scores = scores
        var size = 16
        while size < 2 * texts.count { size <<= 1 }
        var table = [Int32](repeating: -1, count: size)
        for i in 0..<texts.count {
            // A repeated text keeps its first id, as a dictionary insert-if-absent would.
            texts.withBytes(at: i) { b in
                var slot = Int(Vocabulary.hash(b) & UInt64(size - 1))
                while table[slot] >= 0 {
                    if texts.withBytes(at: Int(table[slot]), { $0.elementsEqual(b) }) { return }
                    slot = (slot + 1) & (size - 1)
                }
                table[slot] = Int32(i)
            }
        }
        self.table = table
        var starts = [Bool](repeating: false, count: 256)
        var lengths = Set<Int>()
        for i in 0..<texts.count where (kinds[i] == .control || kinds[i] == .userDefined) && !texts[i].isEmpty {
            starts[Int(texts[i].first!)] = true
            lengths.insert(texts[i].count)
        }
        specialStarts = starts
        specialLengths = lengths.sorted(by: >)
    }

    /// FNV-1a, 64-bit.
    static func hash(_ b: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for x in b { h = (h ^ UInt64(x)) &* 0x100_0000_01b3 }
        return h
    }

    /// The id of the token whose text is exactly `bytes`.
    func id(bytes: UnsafeBufferPointer<UInt8>) -> Int32? {
        let mask = table.count - 1
        var slot = Int(Vocabulary.hash(bytes) & UInt64(mask))
        while true {
            let t = table[slot]
            if t < 0 { return nil }
            if texts.withBytes(at: Int(t), { $0.elementsEqual(bytes) }) { return t }
            slot = (slot + 1) & mask
        }
    }

    /// The id of the token whose text is exactly `s`.
    func id(_ s: String) -> Int32? {
        var s = s
        return s.withUTF8 { id(bytes: $0) }
    }

    /// The token's stored text.
    func text(_ id: Int) -> String { texts.string(at: id) }
}
