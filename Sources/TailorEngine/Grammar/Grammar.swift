/// A context-free grammar over Unicode code points, compiled from GBNF (llama.cpp's grammar
/// format) for constrained decoding: a `GrammarMatcher` walks it as tokens are generated and
/// tells the sampler which tokens may come next.
///
/// Each rule is a list of alternatives; each alternative a sequence of elements, either a set
/// of code point ranges or a reference to another rule. Repetition operators are compiled into
/// helper rules (`x*` becomes `r ::= x r |`), so the matcher knows only these two elements.
public struct Grammar: Sendable, Equatable {
    /// One symbol of an alternative.
    public enum Element: Sendable, Hashable {
        /// One code point in (or, negated, outside) the ranges.
        case characters([ClosedRange<UInt32>], negated: Bool)
        /// The rule with this index.
        case rule(Int)

        /// Whether `c` is one of the characters this element matches (never, for a rule).
        func matches(_ c: UInt32) -> Bool {
            guard case .characters(let ranges, let negated) = self else { return false }
            return ranges.contains { $0.contains(c) } != negated
        }

        /// Whether some character in `span` matches (a character whose first bytes are known).
        func overlaps(_ span: ClosedRange<UInt32>) -> Bool {
            guard case .characters(let ranges, let negated) = self else { return false }
            if negated { return !ranges.contains { $0.contains(span.lowerBound) && $0.contains(span.upperBound) } }
            return ranges.contains { $0.overlaps(span) }
        }
    }

    /// rules[r][a] is alternative `a` of rule `r`; an empty alternative matches nothing.
    public let rules: [[[Element]]]
    /// Rule names, for messages (helper rules are named after the rule they serve).
    public let names: [String]
    /// The rule a whole generation must match (`root`).
    public let root: Int

    /// The largest grammar accepted, counted in elements: a request's grammar is a client's.
    public static let maxElements = 100_000
    /// The largest `{m,n}` bound: a repetition expands into that many copies.
    public static let maxRepetition = 10_000

    init(rules: [[[Element]]], names: [String], root: Int) throws {
        self.rules = rules
        self.names = names
        self.root = root
        try checkLeftRecursion()
    }

    /// Which rules can match the empty string.
    private func nullable() -> [Bool] {
        var canBeEmpty = [Bool](repeating: false, count: rules.count)
        var changed = true
        while changed {
            changed = false
            for r in rules.indices where !canBeEmpty[r] {
                let empty = rules[r].contains { alt in
                    alt.allSatisfy { if case .rule(let x) = $0 { return canBeEmpty[x] } else { return false } }
                }
                if empty { canBeEmpty[r] = true; changed = true }
            }
        }
        return canBeEmpty
    }

    /// Refuses a rule that can reach itself without consuming a character: the matcher would
    /// expand it forever (llama.cpp refuses these too).
    private func checkLeftRecursion() throws {
        let canBeEmpty = nullable()
        // leading[r]: the rules r can expand to before its first character.
        let leading: [[Int]] = rules.map { alts in
            var out: [Int] = []
            for alt in alts {
                for e in alt {
                    guard case .rule(let x) = e else { break }
                    out.append(x)
                    if !canBeEmpty[x] { break }
                }
            }
            return out
        }
        // Depth-first search for a cycle; 0 unvisited, 1 on the path, 2 done.
        var mark = [UInt8](repeating: 0, count: rules.count)
        for start in rules.indices where mark[start] == 0 {
            var path: [(rule: Int, next: Int)] = [(start, 0)]
            mark[start] = 1
            while let (r, i) = path.last {
                if i == leading[r].count {
                    mark[r] = 2
                    path.removeLast()
                    continue
                }
                path[path.count - 1].next += 1
                let x = leading[r][i]
                if mark[x] == 1 { throw GrammarError.leftRecursion(rule: names[x]) }
                if mark[x] == 0 { mark[x] = 1; path.append((x, 0)) }
            }
        }
    }
}

/// Why a grammar or a JSON schema was refused; the message names the place.
public enum GrammarError: Error, Sendable, Equatable, CustomStringConvertible {
    /// GBNF that does not parse, at a 1-based line and column.
    case syntax(String, line: Int, column: Int)
    /// A rule used and never defined.
    case undefinedRule(String)
    /// No `root` rule.
    case missingRoot
    /// A rule that reaches itself before any character (`a ::= a "x"`).
    case leftRecursion(rule: String)
    /// Over `Grammar.maxElements` once repetitions are expanded.
    case tooLarge
    /// A JSON schema this compiler does not handle, or an invalid one, at a JSON path.
    case schema(String, path: String)

    public var description: String {
        switch self {
        case let .syntax(m, line, column): return "grammar syntax error at line \(line), column \(column): \(m)"
        case let .undefinedRule(name): return "grammar rule '\(name)' is used but not defined"
        case .missingRoot: return "grammar has no 'root' rule"
        case let .leftRecursion(rule): return "grammar rule '\(rule)' is left-recursive"
        case .tooLarge: return "grammar is larger than \(Grammar.maxElements) elements"
        case let .schema(m, path): return "JSON schema at \(path): \(m)"
        }
    }
}
