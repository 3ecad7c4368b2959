import Foundation
import TailorTestSupport
import XCTest

@testable import TailorEngine

/// GBNF parsing and matching. The cases follow llama.cpp's grammar integration tests: each
/// grammar with strings it must match completely and strings it must refuse.
final class GrammarTests: XCTestCase {
    /// Whether `text`, fed in pieces of `split` bytes (tokens), is a complete match.
    static func matches(_ grammar: Grammar, _ text: String, split: Int = .max) -> Bool {
        var m = GrammarMatcher(grammar)
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let piece = Array(bytes.prefix(split))
            guard m.accept(piece) else { return false }
            bytes = bytes.dropFirst(piece.count)
        }
        return m.canEnd
    }

    private func check(_ gbnf: String, pass: [String], fail: [String], line: UInt = #line) throws {
        let g = try Grammar(gbnf: gbnf)
        for s in pass {
            XCTAssertTrue(Self.matches(g, s), "\(gbnf) should match \(s.debugDescription)", line: line)
            XCTAssertTrue(Self.matches(g, s, split: 1), "\(gbnf), byte by byte: \(s.debugDescription)", line: line)
        }
        for s in fail { XCTAssertFalse(Self.matches(g, s), "\(gbnf) should refuse \(s.debugDescription)", line: line) }
    }

    func testLiteralsAlternativesAndGroups() throws {
        try check(#"root ::= "yes" | "no""#, pass: ["yes", "no"], fail: ["", "ye", "yesno", "No"])
        try check(
            #"root ::= ("a" | "bc") ("d" | "")"#, pass: ["a", "ad", "bc", "bcd"], fail: ["b", "abc", "add"])
        try check(
            """
            root ::= greeting " " name   # a comment
            greeting ::= "hi" | "hello"
            name ::= [A-Z] [a-z]+
            """, pass: ["hi Bo", "hello Alice"], fail: ["hi bo", "hey Bo", "hi B", "hello  Alice"])
        try check(#"root ::= "\"\\\n\x41\u00e9""#, pass: ["\"\\\nAé"], fail: ["\"\\nAé"])
    }

    func testCharacterClassesAndAnyCharacter() throws {
        try check(#"root ::= [a-c0-2_]"#, pass: ["a", "c", "1", "_"], fail: ["d", "3", "ab", ""])
        try check(#"root ::= [^"\\]+"#, pass: ["abc", "é∑"], fail: ["a\"", "\\", ""])
        try check(#"root ::= . "x""#, pass: ["ax", "éx", "∑x"], fail: ["x", "abx"])
    }

    func testRepetitions() throws {
        try check(#"root ::= "a"{5,5}"#, pass: ["aaaaa"], fail: ["aaaa", "aaaaaa"])
        try check(#"root ::= "ab"{2,3}"#, pass: ["abab", "ababab"], fail: ["ab", "abababab", "abb"])
        try check(#"root ::= [0-9]{2,} "!""#, pass: ["12!", "12345!"], fail: ["1!", "!"])
        try check(#"root ::= "x"{0,2} "y"?"#, pass: ["", "x", "xx", "xxy", "y"], fail: ["xxx", "yy"])
        try check(#"root ::= ("a" "b"*)+"#, pass: ["a", "abb", "aba", "abbab"], fail: ["", "b", "ba"])
    }

    func testUTF8SplitAcrossTokensWaitsForTheRestOfTheCharacter() throws {
        let g = try Grammar(gbnf: #"root ::= "é" "x""#)
        var m = GrammarMatcher(g)
        XCTAssertTrue(m.accept([0xC3]))
        XCTAssertFalse(m.canEnd)
        XCTAssertFalse(m.accepts([0xC3]), "a lead byte cannot follow an unfinished character")
        XCTAssertTrue(m.accept([0xA9, 0x78]))
        XCTAssertTrue(m.canEnd)
        XCTAssertFalse(m.canContinue)
        XCTAssertFalse(GrammarMatcher(g).accepts([0xFF]), "invalid UTF-8")
        XCTAssertFalse(GrammarMatcher(g).accepts([0xF0, 0x80]), "the start of an overlong form")
        let ascii = try Grammar(gbnf: #"root ::= [a-z]+"#)
        XCTAssertFalse(GrammarMatcher(ascii).accepts([0xC3]), "no allowed character starts with C3")
        XCTAssertFalse(GrammarMatcher(g).accepts([]), "a token without bytes (a control token)")
    }

    func testRecursiveRulesNest() throws {
        try check(
            #"root ::= "(" root ")" | "x""#, pass: ["x", "(x)", "(((x)))"], fail: ["(x", "((x)", "()"])
    }

    func testInvalidGrammarsNameTheirProblem() {
        func error(_ gbnf: String) -> GrammarError? {
            do { _ = try Grammar(gbnf: gbnf); return nil } catch { return error as? GrammarError }
        }
        guard case .syntax(_, 1, _)? = error("root ::= this is (not valid GBNF") else {
            return XCTFail("an unclosed group is a syntax error")
        }
        XCTAssertEqual(error(#"root ::= item"#), .undefinedRule("item"))
        XCTAssertEqual(error(#"answer ::= "x""#), .missingRoot)
        XCTAssertEqual(error(#"root ::= root "x" | "y""#), .leftRecursion(rule: "root"))
        XCTAssertEqual(error("root ::= a\na ::= b? a \"x\"\nb ::= \"b\""), .leftRecursion(rule: "a"))
        XCTAssertNotNil(error(#"root ::= "a"{3,2}"#))
        XCTAssertNotNil(error(#"root ::= "unterminated"#))
        XCTAssertNotNil(error(#"root ::= [z-a]"#))
        XCTAssertNotNil(error(#"root ::= "x"{999999}"#))
        XCTAssertEqual(error("root ::= " + String(repeating: #""ab"{10000} "#, count: 6)), .tooLarge)
        XCTAssertNotNil(error("root ::= \"a\"\nroot ::= \"b\""), "a rule defined twice")
    }

    /// The first-byte filter never refuses what `accepts` would take.
    func testLeadByteFilterIsANecessaryCondition() throws {
        let g = try Grammar(gbnf: #"root ::= "{" [ \n]* ("\"" [^"\\]* "\"" | [0-9]+ | "é" | "∑x")? "}""#)
        var m = GrammarMatcher(g)
        for piece in ["{", " ", "\"", "ab", "\""] {
            for b in 0..<256 {
                for tail in [[], [0x61], [0xA9], [0x88, 0x91]] as [[UInt8]] where m.accepts([UInt8(b)] + tail) {
                    XCTAssertTrue(m.mayStart(with: UInt8(b)), "byte \(b) after \(piece)")
                }
            }
            XCTAssertTrue(m.accept(Array(piece.utf8)))
        }
        XCTAssertFalse(GrammarMatcher(g).mayStart(with: UInt8(ascii: "x")))
    }

    func testAmbiguousGrammarStaysBounded() throws {
        // Every prefix of a's can be split between the two groups in many ways.
        let g = try Grammar(gbnf: #"root ::= ("a" | "aa")* ("a" | "aa")*"#)
        XCTAssertTrue(Self.matches(g, String(repeating: "a", count: 200), split: 1))
    }
}
