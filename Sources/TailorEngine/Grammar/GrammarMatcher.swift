/// Follows a `Grammar` through generated text, one token's bytes at a time, and answers the
/// sampler's two questions: may this token come next, and may the generation end here.
///
/// Its state is a state of the grammar's `GrammarAutomaton` (a set of llama.cpp-style stacks,
/// see `GrammarStacks`), plus the bytes of a UTF-8 character split across tokens, which wait
/// in `pending`. Copies share the automaton, so a check made on one copy speeds up the next.
public struct GrammarMatcher {
    /// The grammar being matched.
    public let grammar: Grammar
    private let automaton: GrammarAutomaton
    private var current: Int
    private var pending: [UInt8] = []

    /// A matcher at the start of the text.
    public init(_ grammar: Grammar) {
        self.grammar = grammar
        automaton = GrammarAutomaton(grammar)
        current = automaton.start
    }

    /// Where the matcher stands, comparable across steps of one generation: the same state
    /// allows the same tokens next (a decoder caches its vocabulary masks by it).
    public var state: State { State(id: current, pending: pending) }

    /// See `state`.
    public struct State: Hashable, Sendable {
        fileprivate let id: Int
        fileprivate let pending: [UInt8]
    }

    /// Whether the text so far is a complete match, so the generation may end.
    public var canEnd: Bool { pending.isEmpty && automaton.isComplete(current) }

    /// Whether any character may still come.
    public var canContinue: Bool { automaton.canContinue(current) }

    /// Whether a token whose text starts with `byte` may come next, as far as that byte tells:
    /// false means `accepts` is false too. Most tokens of a vocabulary fail this one lookup.
    public func mayStart(with byte: UInt8) -> Bool { !pending.isEmpty || automaton.allowsLead(current, byte) }

    /// Whether a token with these bytes may come next. Empty bytes (control tokens) never may.
    public func accepts<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Bool { advanced(by: bytes) != nil }

    /// Moves past a token's bytes.
    /// - Returns: false, changing nothing, when the grammar does not allow them.
    @discardableResult
    public mutating func accept<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Bool {
        guard let (next, rest) = advanced(by: bytes) else { return false }
        current = next
        pending = rest
        return true
    }

    private func advanced<Bytes: Collection<UInt8>>(by bytes: Bytes) -> (Int, [UInt8])? {
        guard !bytes.isEmpty else { return nil }
        // A token's own bytes are read in place (no copy) unless a character is pending.
        let buffer: ArraySlice<UInt8> =
            pending.isEmpty ? (bytes as? ArraySlice<UInt8> ?? ArraySlice(bytes)) : ArraySlice(pending + bytes)
        var state = current
        var i = buffer.startIndex
        while i < buffer.endIndex {
            switch UTF8Scalar.decode(buffer, at: i) {
            case .invalid:
                return nil
            case .incomplete:
                // The character's remaining bytes come with a later token: some stack must
                // allow a character that starts with these bytes.
                guard let span = UTF8Scalar.span(of: buffer[i...]), automaton.allows(state, anyOf: span) else {
                    return nil
                }
                return (state, Array(buffer[i...]))
            case let .scalar(c, length):
                state = automaton.next(state, c)
                if state == GrammarAutomaton.dead { return nil }
                i += length
            }
        }
        return (state, [])
    }
}
