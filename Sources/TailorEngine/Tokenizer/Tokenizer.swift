/// A model's tokenizer, read from its GGUF: byte-level BPE (`tokenizer.ggml.model = gpt2`) or
/// SentencePiece-style (`llama`), with its special tokens and BOS/EOS rules.
public final class Tokenizer: Sendable {
    /// The two tokenizer families in GGUF files.
    public enum Algorithm: String, Sendable { case bpe, spm }

    /// Byte-level BPE or SentencePiece-style.
    public let algorithm: Algorithm
    /// The pre-tokenizer, for BPE vocabularies.
    public let preTokenizer: PreTokenizer?
    /// Number of tokens.
    public let vocabularySize: Int
    /// Beginning-of-sequence token, if the vocabulary has one.
    public let bosID: Int32?
    /// End-of-sequence token, if the vocabulary has one.
    public let eosID: Int32?
    /// Whether `encode(addSpecial: true)` prepends BOS.
    public let addBOS: Bool
    /// Whether `encode(addSpecial: true)` appends EOS.
    public let addEOS: Bool
    /// Tokens that end a generation: EOS and the chat templates' end-of-turn tokens.
    public let endOfGenerationIDs: Set<Int32>
    /// The Jinja chat template from `tokenizer.chat_template`, if the file has one.
    public let chatTemplate: String?

    /// Special tokens that swallow the whitespace after them (Phi-3's: see `init(file:)`).
    private let stripsWhitespaceAfter: Set<Int32>
    private let vocab: Vocabulary
    private let bpe: BPEModel?
    private let spm: SPMModel?
    private let bytesOfToken: PackedStrings

    /// Reads the tokenizer of `file`.
    public init(file: GGUFFile) throws {
        let md = file.metadata
        guard let tokens = md["tokenizer.ggml.tokens"]?.packedStrings, tokens.count > 0 else {
            throw TokenizerError.missingVocabulary(path: file.path)
        }
        let model = md["tokenizer.ggml.model"]?.stringValue ?? "llama"
        var kinds = (md["tokenizer.ggml.token_type"]?.intArray ?? []).map { TokenKind(rawValue: $0) ?? .normal }
        if kinds.count != tokens.count { kinds = Array(repeating: .normal, count: tokens.count) }
        var scores = md["tokenizer.ggml.scores"]?.floatArray ?? []
        if scores.count != tokens.count { scores = Array(repeating: 0, count: tokens.count) }
        let vocab = Vocabulary(texts: tokens, kinds: kinds, scores: scores)
        self.vocab = vocab
        vocabularySize = tokens.count
        chatTemplate = md["tokenizer.chat_template"]?.stringValue

        func id(_ key: String) -> Int32? {
            guard let v = md[key]?.intValue, v >= 0, v < tokens.count else { return nil }
            return Int32(v)
        }
        bosID = id("tokenizer.ggml.bos_token_id")
        eosID = id("tokenizer.ggml.eos_token_id")
        switch model {
        case "gpt2":
            algorithm = .bpe
            let pre = PreTokenizer(ggufName: md["tokenizer.ggml.pre"]?.stringValue)
            preTokenizer = pre
            bpe = try BPEModel(
                vocab: vocab, merges: md["tokenizer.ggml.merges"]?.stringArray ?? [], pre: pre, path: file.path)
            spm = nil
            bytesOfToken = bpe!.tokenBytes
            addBOS = md["tokenizer.ggml.add_bos_token"]?.boolValue ?? false
        case "llama":
            algorithm = .spm
            preTokenizer = nil
            let unk = id("tokenizer.ggml.unknown_token_id") ?? 0
            spm = SPMModel(
                vocab: vocab, addSpacePrefix: md["tokenizer.ggml.add_space_prefix"]?.boolValue ?? true, unknownID: unk)
            bpe = nil
            bytesOfToken = spm!.tokenBytes
            addBOS = md["tokenizer.ggml.add_bos_token"]?.boolValue ?? true
        default:
            throw TokenizerError.unsupportedModel(path: file.path, model: model)
        }
        addEOS = md["tokenizer.ggml.add_eos_token"]?.boolValue ?? false
        var stops = Set<Int32>()
        if let e = eosID { stops.insert(e) }
        if let e = id("tokenizer.ggml.eot_token_id") { stops.insert(e) }
        for t in ["<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<|endoftext|>", "<|end_of_text|>"] {
            if let i = vocab.id(t), vocab.kinds[Int(i)] == .control || vocab.kinds[Int(i)] == .userDefined {
                stops.insert(i)
            }
        }
        endOfGenerationIDs = stops
        // Phi-3's tokenizer marks its special tokens `rstrip` (all but <unk>, <s> and
        // <|endoftext|>, and </s> too), so "<|user|>\nHi" reads as <|user|> "Hi": the model was
        // trained without those newlines. llama.cpp sets the same attributes (by model name).
        var strips = Set<Int32>()
        let name = (md["general.name"]?.stringValue ?? "").lowercased()
        if md["general.architecture"]?.stringValue == "phi3" || name.contains("phi3") || name.contains("phi-3") {
            for i in 0..<tokens.count where [.control, .userDefined, .unknown].contains(kinds[i]) {
                strips.insert(Int32(i))
            }
            if let i = vocab.id("</s>") { strips.insert(i) }
            for t in ["<unk>", "<s>", "<|endoftext|>"] { if let i = vocab.id(t) { strips.remove(i) } }
        }
        stripsWhitespaceAfter = strips
    }

    /// The id of a token's exact text, if it is one token.
    public func tokenID(_ text: String) -> Int32? { vocab.id(text) }

    /// The stored text of token `id` (as in the vocabulary, e.g. "Ġthe" or "▁the").
    public func tokenText(_ id: Int32) -> String { vocab.text(Int(id)) }

    /// The kind of token `id`.
    public func kind(of id: Int32) -> TokenKind { vocab.kinds[Int(id)] }

    /// Encodes `text`.
    /// - Parameters:
    ///   - addSpecial: add BOS/EOS as the vocabulary's rules say.
    ///   - parseSpecial: recognize control tokens written in the text (e.g. `<|im_start|>`).
    ///     User-defined tokens are always recognized, as llama.cpp does.
    public func encode(_ text: String, addSpecial: Bool = true, parseSpecial: Bool = true) -> [Int32] {
        var out: [Int32] = addSpecial ? promptStart : []
        let utf8 = Array(text.utf8)
        var fragmentStart = 0, prevSpecial = true
        func flushRaw(_ end: Int) {
            guard fragmentStart < end else { return }
            let frag = Substring(String(decoding: utf8[fragmentStart..<end], as: UTF8.self))
            if let spm {
                spm.encode(frag, prefixSpace: spm.addSpacePrefix && prevSpecial, into: &out)
            } else if let bpe {
                bpe.encode(frag, into: &out)
            }
            prevSpecial = false
        }
        utf8.withUnsafeBufferPointer { bytes in
            var i = 0
            while i < bytes.count {
                if let m = longestSpecial(bytes, at: i, parseSpecial: parseSpecial) {
                    flushRaw(i)
                    out.append(m.id)
                    prevSpecial = true
                    i += m.length
                    if stripsWhitespaceAfter.contains(m.id) {
                        // C's isspace: space, \t, \n, \v, \f, \r
                        while i < bytes.count, bytes[i] == 0x20 || (0x09...0x0D).contains(bytes[i]) { i += 1 }
                    }
                    fragmentStart = i
                } else {
                    i += 1
                }
            }
        }
        flushRaw(utf8.count)
        if addSpecial, addEOS, let e = eosID { out.append(e) }
        return out
    }

    /// What `encode(_:addSpecial: true)` puts before the text: the BOS when the model adds one.
    /// Callers that assemble token sequences themselves (infill, token-id prompts) start with it.
    public var promptStart: [Int32] { addBOS ? bosID.map { [$0] } ?? [] : [] }

    /// The longest special token starting at `bytes[i]`: user-defined ones always, control ones
    /// when `parseSpecial`. Tries each special-token length, longest first, in the hash index.
    private func longestSpecial(
        _ bytes: UnsafeBufferPointer<UInt8>, at i: Int, parseSpecial: Bool
    ) -> (id: Int32, length: Int)? {
        guard vocab.specialStarts[Int(bytes[i])] else { return nil }
        for len in vocab.specialLengths where i + len <= bytes.count {
            guard let id = vocab.id(bytes: UnsafeBufferPointer(rebasing: bytes[i..<(i + len)])) else { continue }
            let k = vocab.kinds[Int(id)]
            if k == .userDefined || (parseSpecial && k == .control) { return (id, len) }
        }
        return nil
    }

    /// The raw bytes token `id` stands for. Control tokens give their text only when
    /// `renderSpecial` is set (a chat UI hides them; a debugging tool shows them).
    public func bytes(of id: Int32, renderSpecial: Bool = false) -> [UInt8] {
        guard id >= 0, Int(id) < vocabularySize else { return [] }
        if vocab.kinds[Int(id)] == .control && !renderSpecial { return [] }
        return Array(bytesOfToken[Int(id)])
    }

    /// The token's text in place, without a copy; empty for a control token (what a
    /// constrained decoder tests each token of the vocabulary with).
    public func byteSlice(of id: Int32) -> ArraySlice<UInt8> {
        guard id >= 0, Int(id) < vocabularySize, vocab.kinds[Int(id)] != .control else { return [] }
        return bytesOfToken[Int(id)]
    }

    /// Decodes a whole token sequence to text (invalid UTF-8 repaired with U+FFFD).
    public func decode(_ ids: [Int32], renderSpecial: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids { bytes.append(contentsOf: self.bytes(of: id, renderSpecial: renderSpecial)) }
        if let spm, spm.addSpacePrefix, bytes.first == 0x20 { bytes.removeFirst() }
        return String(decoding: bytes, as: UTF8.self)
    }
}
