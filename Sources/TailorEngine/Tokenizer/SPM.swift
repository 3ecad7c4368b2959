/// SentencePiece-style BPE over scored pieces (Llama 1/2, Phi-3, Gemma), with byte fallback.
///
/// Spaces become "▁" (and a leading one is added when the vocabulary asks), the text is split
/// into characters, and the adjacent pair whose concatenation is the highest-scoring piece is
/// merged first, using a heap. A final symbol that is no piece falls back to its parts, and
/// finally to `<0xXX>` byte tokens.
struct SPMModel: Sendable {
    let vocab: Vocabulary
    let addSpacePrefix: Bool
    /// Byte → id of its `<0xXX>` token, or -1.
    let byteTokens: [Int32]
    /// Token id → raw bytes ("▁" as a space, byte tokens as their byte).
    let tokenBytes: PackedStrings
    let unknownID: Int32

    init(vocab: Vocabulary, addSpacePrefix: Bool, unknownID: Int32) {
        self.vocab = vocab
        self.addSpacePrefix = addSpacePrefix
        self.unknownID = unknownID
        var bt = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            let hex = String(b, radix: 16, uppercase: true)
            bt[b] = vocab.id("<0x" + (hex.count == 1 ? "0" + hex : hex) + ">") ?? -1
        }
        byteTokens = bt
        tokenBytes = PackedStrings(
            (0..<vocab.count).lazy.map { i in
                let t = vocab.text(i)
                if vocab.kinds[i] == .byte, t.count == 6, t.hasPrefix("<0x"),
                    let b = UInt8(t.dropFirst(3).prefix(2), radix: 16)
                {
                    return [b]
                }
                return Array(t.replacingOccurrences(of: "\u{2581}", with: " ").utf8)
            })
    }

    struct Symbol { var start: Int; var len: Int; var prev: Int; var next: Int }

    /// Encodes one fragment of raw text (no special tokens inside).
    func encode(_ text: Substring, prefixSpace: Bool, into out: inout [Int32]) {
        var s = prefixSpace ? " " + text : String(text)
        s = s.replacingOccurrences(of: " ", with: "\u{2581}")
        let bytes = Array(s.utf8)
        if bytes.isEmpty { return }
        // One symbol per UTF-8 character.
        var syms: [Symbol] = []
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            let len = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4
            let l = min(len, bytes.count - i)
            syms.append(Symbol(start: i, len: l, prev: syms.count - 1, next: syms.count + 1))
            i += l
        }
        var heap = BinaryHeap<ScoredPair> { a, b in a.score != b.score ? a.score > b.score : a.left < b.left }
        var merged: [Int: (Int, Int)] = [:]  // (start,len) key -> parts, to re-split unknown pieces
        func lookup(_ a: Int, _ len: Int) -> Int32? {
            bytes.withUnsafeBufferPointer { vocab.id(bytes: UnsafeBufferPointer(rebasing: $0[a..<(a + len)])) }
        }
        func tryAdd(_ l: Int, _ r: Int) {
            guard l >= 0, r < syms.count else { return }
            guard let id = lookup(syms[l].start, syms[l].len + syms[r].len) else { return }
            heap.push(ScoredPair(score: vocab.scores[Int(id)], left: l, right: r, size: syms[l].len + syms[r].len))
        }
        for k in 1..<syms.count { tryAdd(k - 1, k) }
        while let bg = heap.pop() {
            var left = syms[bg.left], right = syms[bg.right]
            guard left.len > 0, right.len > 0, left.len + right.len == bg.size, left.next == bg.right else { continue }
            merged[left.start << 20 | (left.len + right.len)] = (left.len, right.len)
            left.len += right.len
            left.next = right.next
            right.len = 0
            syms[bg.left] = left
            syms[bg.right] = right
            if left.next < syms.count { syms[left.next].prev = bg.left }
            tryAdd(left.prev, bg.left)
            tryAdd(bg.left, left.next)
        }
        func emit(_ start: Int, _ len: Int) {
            if let id = lookup(start, len) { out.append(id); return }
            if let (a, b) = merged[start << 20 | len] { emit(start, a); emit(start + a, b); return }
            for k in start..<(start + len) {
                let id = byteTokens[Int(bytes[k])]
                out.append(id >= 0 ? id : unknownID)
            }
        }
        var k = 0
        while k < syms.count { emit(syms[k].start, syms[k].len); k = syms[k].next }
    }
}

/// A candidate SPM merge: higher score first, then the leftmost.
struct ScoredPair { var score: Float; var left: Int; var right: Int; var size: Int }
