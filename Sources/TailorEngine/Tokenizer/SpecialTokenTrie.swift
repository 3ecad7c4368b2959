/// A byte trie of special-token texts, for finding them in raw text in O(length) per position
/// (Gemma's vocabulary has thousands of special tokens, so a linear scan per position won't do).
struct SpecialTokenTrie: Sendable {
    private var children: [[UInt8: Int32]] = [[:]]
    private var terminal: [(id: Int32, kind: TokenKind)?] = [nil]

    init(_ specials: [(text: [UInt8], id: Int32, kind: TokenKind)]) {
        for s in specials {
            var node = 0
            for b in s.text {
                if let c = children[node][b] { node = Int(c); continue }
                children.append([:]); terminal.append(nil)
                children[node][b] = Int32(children.count - 1)
                node = children.count - 1
            }
            if terminal[node] == nil { terminal[node] = (s.id, s.kind) }
        }
    }

    /// The longest special token starting at `bytes[start]` whose kind `allowed` accepts.
    func longestMatch(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int, allowed: (TokenKind) -> Bool) -> (id: Int32, length: Int)? {
        var node = 0, best: (Int32, Int)?
        var i = start
        while i < bytes.count, let c = children[node][bytes[i]] {
            node = Int(c)
            i += 1
            if let t = terminal[node], allowed(t.kind) { best = (t.id, i - start) }
        }
        return best
    }
}
