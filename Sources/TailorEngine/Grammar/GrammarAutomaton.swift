/// A grammar's stack sets as the states of an automaton built as it is used: each distinct
/// set gets an id, and each (state, character) step is computed once. Testing a whole
/// vocabulary against a state then costs a few table lookups per token, since tokens share
/// their characters and a JSON answer returns to the same few states.
///
/// One automaton serves one generation (its matcher and the matcher's copies), on one thread.
final class GrammarAutomaton {
    typealias Stack = GrammarStacks.Stack
    let grammar: Grammar
    /// The id of "no way to continue": every character is refused.
    static let dead = -1
    /// The most states: beyond it, new states are dead, so a grammar that keeps producing new
    /// stack sets ends the generation instead of growing without bound.
    static let maxStates = 65_536

    private var stacks: [[Stack]] = []
    private var ids: [[Stack]: Int] = [:]
    private var transitions: [[UInt32: Int32]] = []
    private var leads: [[Bool]?] = []
    /// The state before any text.
    private(set) var start = 0

    init(_ grammar: Grammar) {
        self.grammar = grammar
        start = intern(GrammarStacks.start(grammar))
    }

    private func intern(_ s: [Stack]) -> Int {
        if s.isEmpty { return Self.dead }
        if let id = ids[s] { return id }
        guard stacks.count < Self.maxStates else { return Self.dead }
        stacks.append(s)
        transitions.append([:])
        leads.append(nil)
        ids[s] = stacks.count - 1
        return stacks.count - 1
    }

    /// The state after character `c` in `state`.
    func next(_ state: Int, _ c: UInt32) -> Int {
        guard state != Self.dead else { return Self.dead }
        if let n = transitions[state][c] { return Int(n) }
        let n = intern(GrammarStacks.step(grammar, stacks[state], c))
        transitions[state][c] = Int32(n)
        return n
    }

    /// Whether the text that led to `state` is a complete match.
    func isComplete(_ state: Int) -> Bool { state != Self.dead && stacks[state].contains { $0.isEmpty } }

    /// Whether some character may follow `state`.
    func canContinue(_ state: Int) -> Bool { state != Self.dead && stacks[state].contains { !$0.isEmpty } }

    /// Whether some character in `span` may follow `state`.
    func allows(_ state: Int, anyOf span: ClosedRange<UInt32>) -> Bool {
        guard state != Self.dead else { return false }
        return stacks[state].contains { stack in
            stack.last.map { GrammarStacks.element(grammar, $0).overlaps(span) } ?? false
        }
    }

    /// Whether some character that may follow `state` starts with byte `b`.
    func allowsLead(_ state: Int, _ b: UInt8) -> Bool {
        guard state != Self.dead else { return false }
        if leads[state] == nil {
            leads[state] = (0..<256).map { lead in
                let lead = UInt8(lead)
                guard let span = lead < 0x80 ? UInt32(lead)...UInt32(lead) : UTF8Scalar.span(of: [lead][...]) else {
                    return false
                }
                return allows(state, anyOf: span)
            }
        }
        return leads[state]![Int(b)]
    }
}
