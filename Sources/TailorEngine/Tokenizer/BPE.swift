/// Byte-level BPE (GPT-2 family: GPT-2, Llama 3, Qwen2, SmolLM).
///
/// Text is pre-tokenized into words, each word's bytes are mapped to printable characters
/// (GPT-2's byte→unicode table), and adjacent symbols are merged by rank with a heap, so a word
/// of n symbols costs O(n log n) even when it is a megabyte of one letter.
struct BPEModel: Sendable {
    let vocab: Vocabulary
    let pre: PreTokenizer
    /// (left id, right id) → (rank, merged id).
    let merges: [UInt64: (rank: Int32, id: Int32)]
    /// Byte → token id of its byte-level character.
    let byteTokens: [Int32]
    /// Token id → raw bytes (the byte-level characters decoded back).
    let tokenBytes: PackedStrings
    /// Llama 3 takes a pre-tokenized word whole when it is a token, before merging.
    let ignoreMerges: Bool

    static let byteToUnicode: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var n: UInt32 = 0
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            if printable { table[b] = Unicode.Scalar(UInt32(b))! } else { table[b] = Unicode.Scalar(256 + n)!; n += 1 }
        }
        return table
    }()

    init(vocab: Vocabulary, merges mergeList: [String], pre: PreTokenizer, path: String) throws {
        self.vocab = vocab
        self.pre = pre
        ignoreMerges = pre == .llama3
        var unicodeToByte: [Unicode.Scalar: UInt8] = [:]
        for (b, u) in Self.byteToUnicode.enumerated() { unicodeToByte[u] = UInt8(b) }
        var m: [UInt64: (Int32, Int32)] = [:]
        m.reserveCapacity(mergeList.count)
        for (rank, line) in mergeList.enumerated() {
            guard let sp = line.dropFirst().firstIndex(of: " ") else { continue }
            let a = String(line[..<sp]), b = String(line[line.index(after: sp)...])
            guard let ia = vocab.id(a), let ib = vocab.id(b), let im = vocab.id(a + b) else { continue }
            let key = UInt64(UInt32(bitPattern: ia)) << 32 | UInt64(UInt32(bitPattern: ib))
            if m[key] == nil { m[key] = (Int32(rank), im) }
        }
        merges = m
        // Some vocabularies (SmolLM2's) lack tokens for a few control bytes; those bytes are
        // dropped on encoding, as llama.cpp does.
        var bt = [Int32](repeating: -1, count: 256)
        for b in 0..<256 { bt[b] = vocab.id(String(Character(Self.byteToUnicode[b]))) ?? -1 }
        guard bt.filter({ $0 >= 0 }).count >= 128 else {
            throw TokenizerError.inconsistentVocabulary(path: path, reason: "fewer than 128 of the 256 byte tokens")
        }
        byteTokens = bt
        tokenBytes = PackedStrings(
            (0..<vocab.count).lazy.map { i in
                let t = vocab.text(i)
                if vocab.kinds[i] == .control || vocab.kinds[i] == .userDefined { return Array(t.utf8) }
                var out: [UInt8] = []
                for u in t.unicodeScalars {
                    if let b = unicodeToByte[u] { out.append(b) } else { out.append(contentsOf: Array(String(u).utf8)) }
                }
                return out
            })
    }

    func encode(_ text: Substring, into out: inout [Int32]) {
        for word in pre.split(String(text)) { encodeWord(Array(word.utf8), into: &out) }
    }

    private func encodeWord(_ bytes: [UInt8], into out: inout [Int32]) {
        if bytes.isEmpty { return }
        if ignoreMerges {
            let mapped = String(String.UnicodeScalarView(bytes.map { Self.byteToUnicode[Int($0)] }))
            if let id = vocab.id(mapped) { out.append(id); return }
        }
        var ids = bytes.map { byteTokens[Int($0)] }
        let n = ids.count
        if n == 1 { if ids[0] >= 0 { out.append(ids[0]) }; return }
        var prev = Array(-1..<(n - 1)), next = Array(1...n)
        var alive = [Bool](repeating: true, count: n)
        var heap = BinaryHeap<MergeCandidate> { a, b in a.rank != b.rank ? a.rank < b.rank : a.left < b.left }
        func push(_ l: Int) {
            let r = next[l]
            guard r < n else { return }
            let key = UInt64(UInt32(bitPattern: ids[l])) << 32 | UInt64(UInt32(bitPattern: ids[r]))
            if let m = merges[key] {
                heap.push(MergeCandidate(rank: m.rank, left: Int32(l), leftID: ids[l], rightID: ids[r]))
            }
        }
        for i in 0..<(n - 1) { push(i) }
        while let e = heap.pop() {
            let l = Int(e.left)
            guard alive[l], ids[l] == e.leftID else { continue }
            let r = next[l]
            guard r < n, ids[r] == e.rightID else { continue }
            let key = UInt64(UInt32(bitPattern: ids[l])) << 32 | UInt64(UInt32(bitPattern: ids[r]))
            guard let m = merges[key] else { continue }
            ids[l] = m.id
            alive[r] = false
            next[l] = next[r]
            if next[r] < n { prev[next[r]] = l }
            if prev[l] >= 0 { push(prev[l]) }
            push(l)
        }
        var i = 0
        while i < n { if ids[i] >= 0 { out.append(ids[i]) }; i = next[i] }
    }
}

/// A candidate BPE merge: lower rank first, then the leftmost.
struct MergeCandidate { var rank: Int32; var left: Int32; var leftID: Int32; var rightID: Int32 }
