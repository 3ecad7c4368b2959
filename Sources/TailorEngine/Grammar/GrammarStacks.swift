/// The stack-set semantics of a grammar, as in llama.cpp: each stack is one way the text so
/// far can continue, its top the next element to match. A rule on top is expanded into its
/// alternatives at once, so every top is a character set, and an empty stack means the text
/// is a complete match. `GrammarAutomaton` memoizes these steps.
enum GrammarStacks {
    /// Where in the grammar a stack entry stands: alternative `alt` of `rule`, before `index`.
    struct Position: Hashable, Sendable {
        var rule: Int32
        var alt: Int32
        var index: Int32
    }
    typealias Stack = [Position]

    /// The most ways to continue kept at once; a grammar ambiguous enough to exceed it makes
    /// the text that would have needed more stacks unmatchable rather than the daemon slow.
    static let maxStacks = 1024

    /// The stacks before any text.
    static func start(_ g: Grammar) -> [Stack] {
        var out: [Stack] = []
        for a in g.rules[g.root].indices { expand(g, entry(g, rule: g.root, alt: a, into: []), into: &out) }
        return out
    }

    /// The stacks after code point `c`.
    static func step(_ g: Grammar, _ stacks: [Stack], _ c: UInt32) -> [Stack] {
        var out: [Stack] = []
        for stack in stacks {
            guard let top = stack.last, element(g, top).matches(c) else { continue }
            var rest = stack
            rest.removeLast()
            expand(g, entry(g, rule: Int(top.rule), alt: Int(top.alt), index: top.index + 1, into: rest), into: &out)
            if out.count > maxStacks { break }
        }
        return out
    }

    static func element(_ g: Grammar, _ p: Position) -> Grammar.Element {
        g.rules[Int(p.rule)][Int(p.alt)][Int(p.index)]
    }

    /// `stack` with the position before element `index` of the alternative pushed, or as it is
    /// when the alternative ends there.
    private static func entry(_ g: Grammar, rule: Int, alt: Int, index: Int32 = 0, into stack: Stack) -> Stack {
        guard Int(index) < g.rules[rule][alt].count else { return stack }
        return stack + [Position(rule: Int32(rule), alt: Int32(alt), index: index)]
    }

    /// Adds `stack` to `out` with rules on top replaced by their alternatives, until every top
    /// is a character set (or the stack is empty). Terminates: left recursion is refused.
    /// `out` is a list without repeats: there are few stacks, so comparing is cheaper than
    /// hashing, and the order is the same whenever the state is.
    private static func expand(_ g: Grammar, _ stack: Stack, into out: inout [Stack]) {
        guard out.count <= maxStacks else { return }
        guard let top = stack.last, case .rule(let r) = element(g, top) else {
            if !out.contains(stack) { out.append(stack) }
            return
        }
        var rest = stack
        rest.removeLast()
        let continuation = entry(g, rule: Int(top.rule), alt: Int(top.alt), index: top.index + 1, into: rest)
        for a in g.rules[r].indices {
            expand(g, entry(g, rule: r, alt: a, into: continuation), into: &out)
        }
    }
}

/// One step of UTF-8 decoding over a byte buffer that may end mid-character.
enum UTF8Scalar: Equatable {
    case scalar(UInt32, length: Int)
    /// The buffer ends inside a character whose bytes so far are valid.
    case incomplete
    case invalid

    /// The code points whose encoding starts with `prefix`, a valid incomplete character.
    static func span(of prefix: ArraySlice<UInt8>) -> ClosedRange<UInt32>? {
        let length = prefix.first! >= 0xF0 ? 4 : prefix.first! >= 0xE0 ? 3 : 2
        var low = UInt32(prefix.first! & (0xFF >> (length + 1)))
        var high = low
        for k in 1..<length {
            let byte = prefix.count > k ? UInt32(prefix[prefix.startIndex + k] & 0x3F) : nil
            low = low << 6 | (byte ?? 0)
            high = high << 6 | (byte ?? 0x3F)
        }
        // Overlong forms (F0 80 …) and values past U+10FFFF encode nothing.
        let smallest: UInt32 = [0, 0, 0x80, 0x800, 0x10000][length]
        let (from, to) = (max(low, smallest), min(high, 0x10FFFF))
        return from <= to ? from...to : nil
    }

    /// The character at index `i` of `b` (indices as the slice's own).
    static func decode(_ b: ArraySlice<UInt8>, at i: Int) -> UTF8Scalar {
        let lead = b[i]
        let (length, initial): (Int, UInt32) =
            switch lead {
            case 0..<0x80: (1, UInt32(lead))
            case 0xC2..<0xE0: (2, UInt32(lead & 0x1F))
            case 0xE0..<0xF0: (3, UInt32(lead & 0x0F))
            case 0xF0..<0xF5: (4, UInt32(lead & 0x07))
            default: (0, 0)
            }
        guard length > 0 else { return .invalid }
        var v = initial
        for k in 1..<length {
            guard i + k < b.endIndex else { return .incomplete }
            guard b[i + k] & 0xC0 == 0x80 else { return .invalid }
            v = v << 6 | UInt32(b[i + k] & 0x3F)
        }
        let smallest: [UInt32] = [0, 0, 0x80, 0x800, 0x10000]
        guard v >= smallest[length], v <= 0x10FFFF, !(0xD800...0xDFFF).contains(v) else { return .invalid }
        return .scalar(v, length: length)
    }
}
