/// Parses GBNF, llama.cpp's grammar notation:
///
///     root   ::= answer ("," space answer)*
///     answer ::= "yes" | "no" | [0-9]{1,3}
///     space  ::= " "?
///
/// Literals ("…" with \n \t \r \\ \" \xHH \uHHHH \UHHHHHHHH), character classes ([a-z], [^"]),
/// `.` (any character), groups, rule names, and the postfix operators `*`, `+`, `?`, `{m}`,
/// `{m,}` and `{m,n}`. `#` starts a comment; a rule ends at a line break outside parentheses.
struct GrammarParser {
    private let text: [Unicode.Scalar]
    private var at = 0
    private var rules: [[[Grammar.Element]]] = []
    private var names: [String] = []
    private var index: [String: Int] = [:]
    private var defined: Set<Int> = []
    private var elements = 0

    init(_ source: String) { text = Array(source.unicodeScalars) }

    /// The compiled grammar.
    /// - Throws: `GrammarError` naming the first problem.
    mutating func parse() throws -> Grammar {
        skip(newlines: true)
        while at < text.count {
            try parseRule()
            skip(newlines: true)
        }
        for r in rules.indices where !defined.contains(r) { throw GrammarError.undefinedRule(names[r]) }
        guard let root = index["root"] else { throw GrammarError.missingRoot }
        return try Grammar(rules: rules, names: names, root: root)
    }

    // MARK: Rules

    private mutating func parseRule() throws {
        let name = try parseName()
        skip(newlines: false)
        guard consume("::=") else { throw problem("expected '::=' after rule name '\(name)'") }
        skip(newlines: true)
        let r = id(of: name)
        guard !defined.contains(r) else { throw problem("rule '\(name)' is defined twice") }
        defined.insert(r)
        rules[r] = try parseAlternatives(in: name, nested: false)
        guard at == text.count || text[at] == "\n" || text[at] == "\r" else {
            throw problem("expected the end of rule '\(name)'")
        }
    }

    private mutating func parseAlternatives(in rule: String, nested: Bool) throws -> [[Grammar.Element]] {
        var alternatives = [try parseSequence(in: rule, nested: nested)]
        while peek() == "|" {
            at += 1
            skip(newlines: true)
            alternatives.append(try parseSequence(in: rule, nested: nested))
        }
        return alternatives
    }

    private mutating func parseSequence(in rule: String, nested: Bool) throws -> [Grammar.Element] {
        var sequence: [Grammar.Element] = []
        var lastItem = 0  // where the item a postfix operator repeats starts
        while let c = peek() {
            switch c {
            case "\"":
                lastItem = sequence.count
                sequence += try parseLiteral()
            case "[":
                lastItem = sequence.count
                sequence.append(try parseClass())
            case ".":
                at += 1
                lastItem = sequence.count
                sequence.append(.characters([0...0x10FFFF], negated: false))
            case "(":
                at += 1
                skip(newlines: true)
                let group = try parseAlternatives(in: rule, nested: true)
                guard peek() == ")" else { throw problem("expected ')'") }
                at += 1
                lastItem = sequence.count
                sequence.append(.rule(helper(for: rule, group)))
            case "*", "+", "?", "{":
                guard lastItem < sequence.count else { throw problem("'\(c)' follows nothing") }
                let item = Array(sequence[lastItem...])
                sequence.removeSubrange(lastItem...)
                sequence += try parseRepetition(of: item, in: rule)
                lastItem = sequence.count
            case _ where Self.isNameCharacter(c):
                let name = try parseName()
                if peek() == ":" { throw problem("missing line break before rule '\(name)'") }
                lastItem = sequence.count
                sequence.append(.rule(id(of: name)))
            default:
                return sequence
            }
            elements += 1
            if elements > Grammar.maxElements { throw GrammarError.tooLarge }
            skip(newlines: nested)
        }
        return sequence
    }

    /// `item` repeated as the operator at `at` says: `x*`, `x+`, `x?`, `x{m}`, `x{m,}`, `x{m,n}`.
    private mutating func parseRepetition(of item: [Grammar.Element], in rule: String) throws -> [Grammar.Element] {
        let op = text[at]
        at += 1
        var low = 0
        var high: Int?
        switch op {
        case "*": break
        case "+": low = 1
        case "?": high = 1
        default:
            skip(newlines: false)
            low = try parseNumber()
            skip(newlines: false)
            high = low
            if peek() == "," {
                at += 1
                skip(newlines: false)
                high = peek() == "}" ? nil : try parseNumber()
                skip(newlines: false)
            }
            guard peek() == "}" else { throw problem("expected '}'") }
            at += 1
            if let h = high, h < low { throw problem("repetition {\(low),\(h)} has its bounds reversed") }
        }
        elements += item.count * max(low, high ?? low + 1)
        if elements > Grammar.maxElements { throw GrammarError.tooLarge }
        var out: [Grammar.Element] = []
        for _ in 0..<low { out += item }
        guard let h = high else {
            // x* : r ::= x r |
            let r = helper(for: rule, [])
            rules[r] = [item + [.rule(r)], []]
            return out + [.rule(r)]
        }
        // Up to h − low more: r_k ::= x r_(k-1) | , nested so that "ab" cannot skip to "b".
        var tail: Int?
        for _ in 0..<(h - low) {
            let r = helper(for: rule, [])
            rules[r] = [item + (tail.map { [.rule($0)] } ?? []), []]
            tail = r
        }
        return out + (tail.map { [.rule($0)] } ?? [])
    }

    // MARK: Terminals

    private mutating func parseLiteral() throws -> [Grammar.Element] {
        at += 1
        var out: [Grammar.Element] = []
        while true {
            guard let c = peek(), c != "\n" else { throw problem("unterminated string literal") }
            if c == "\"" { at += 1; return out }
            let scalar = try parseCharacter()
            out.append(.characters([scalar...scalar], negated: false))
        }
    }

    private mutating func parseClass() throws -> Grammar.Element {
        at += 1
        let negated = peek() == "^"
        if negated { at += 1 }
        var ranges: [ClosedRange<UInt32>] = []
        while true {
            guard let c = peek(), c != "\n" else { throw problem("unterminated character class") }
            if c == "]" { at += 1; break }
            let low = try parseCharacter()
            var high = low
            if peek() == "-", at + 1 < text.count, text[at + 1] != "]" {
                at += 1
                high = try parseCharacter()
                guard high >= low else { throw problem("character range is reversed") }
            }
            ranges.append(low...high)
        }
        return .characters(ranges, negated: negated)
    }

    /// One character of a literal or class, escapes decoded.
    private mutating func parseCharacter() throws -> UInt32 {
        let c = text[at]
        at += 1
        guard c == "\\" else { return c.value }
        guard let e = peek() else { throw problem("escape at the end of the grammar") }
        at += 1
        switch e {
        case "n": return 10
        case "t": return 9
        case "r": return 13
        case "\\", "\"", "[", "]", "-", "^": return e.value
        case "x": return try parseHex(digits: 2)
        case "u": return try parseHex(digits: 4)
        case "U": return try parseHex(digits: 8)
        default: throw problem("unknown escape '\\\(e)'")
        }
    }

    private mutating func parseHex(digits: Int) throws -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<digits {
            guard let c = peek(), c.isASCII, let d = UInt32(String(c), radix: 16) else {
                throw problem("expected \(digits) hex digits")
            }
            v = v << 4 | d
            at += 1
        }
        guard v <= 0x10FFFF else { throw problem("code point above U+10FFFF") }
        return v
    }

    private mutating func parseNumber() throws -> Int {
        var v = 0
        let start = at
        while let c = peek(), let d = Int(String(c)), c.isASCII {
            v = v * 10 + d
            at += 1
            guard v <= Grammar.maxRepetition else { throw problem("repetition count above \(Grammar.maxRepetition)") }
        }
        guard at > start else { throw problem("expected a number") }
        return v
    }

    private mutating func parseName() throws -> String {
        let start = at
        while let c = peek(), Self.isNameCharacter(c) { at += 1 }
        guard at > start else { throw problem("expected a rule name") }
        return String(String.UnicodeScalarView(text[start..<at]))
    }

    // MARK: Helpers

    private static func isNameCharacter(_ c: Unicode.Scalar) -> Bool {
        c.isASCII && (c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "-" || c == "_")
    }

    private mutating func id(of name: String) -> Int {
        if let r = index[name] { return r }
        rules.append([])
        names.append(name)
        index[name] = rules.count - 1
        return rules.count - 1
    }

    /// A new rule serving `rule` (a group or a repetition), already defined.
    private mutating func helper(for rule: String, _ alternatives: [[Grammar.Element]]) -> Int {
        rules.append(alternatives)
        names.append("\(rule)_\(rules.count - 1)")
        defined.insert(rules.count - 1)
        return rules.count - 1
    }

    private func peek() -> Unicode.Scalar? { at < text.count ? text[at] : nil }

    private mutating func consume(_ s: String) -> Bool {
        let scalars = Array(s.unicodeScalars)
        guard at + scalars.count <= text.count, Array(text[at..<at + scalars.count]) == scalars else { return false }
        at += scalars.count
        return true
    }

    /// Skips spaces, tabs and comments, and line breaks when `newlines`.
    private mutating func skip(newlines: Bool) {
        while let c = peek() {
            if c == " " || c == "\t" || (newlines && (c == "\n" || c == "\r")) {
                at += 1
            } else if c == "#" {
                while let d = peek(), d != "\n" { at += 1 }
            } else {
                return
            }
        }
    }

    private func problem(_ message: String) -> GrammarError {
        var line = 1
        var column = 1
        for c in text[..<min(at, text.count)] {
            if c == "\n" { line += 1; column = 1 } else { column += 1 }
        }
        return .syntax(message, line: line, column: column)
    }
}

extension Grammar {
    /// Compiles GBNF text.
    /// - Throws: `GrammarError` naming the first problem and where it is.
    public init(gbnf: String) throws {
        var parser = GrammarParser(gbnf)
        self = try parser.parse()
    }
}
