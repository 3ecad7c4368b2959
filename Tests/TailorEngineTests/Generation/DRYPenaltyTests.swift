import Foundation
import TailorTestSupport
import XCTest

@testable import TailorEngine

/// DRY against its definition written out plainly, on random histories over a small vocabulary
/// (so repeats are common), plus the penalty's size, the breakers, and its effect on sampling.
final class DRYPenaltyTests: XCTestCase {
    /// The definition: token t's match is the longest L such that the context's last L tokens,
    /// followed by t, occur earlier in the context, with no breaker among the L tokens or in t.
    private func reference(_ ctx: [Int32], breakers: Set<Int32>, allowed: Int) -> [Int32: Int] {
        var out: [Int32: Int] = [:]
        let n = ctx.count
        guard n >= 2 else { return [:] }
        for j in 0..<(n - 1) {
            let t = ctx[j + 1]
            if breakers.contains(t) { continue }
            // Longest L with ctx[j-L+1...j] == ctx[n-L...n-1], breaker-free.
            var best = 0
            for L in 1...(j + 1) where L <= DRYPenalty.maxMatch {
                let earlier = ctx[(j - L + 1)...j], tail = ctx[(n - L)...]
                if Array(earlier) == Array(tail), !earlier.contains(where: breakers.contains) { best = L }
            }
            if best >= allowed { out[t] = max(out[t] ?? 0, best) }
        }
        return out
    }

    func testMatchesEqualTheDefinitionOnRandomHistories() throws {
        var rng = SeededGenerator(seed: 5)
        for trial in 0..<400 {
            let vocab = 2 + Int(rng.next() % 5), n = Int(rng.next() % 40)
            let ctx = (0..<n).map { _ in Int32(rng.next() % UInt64(vocab)) }
            let breakers: Set<Int32> = trial % 3 == 0 ? [0] : []
            let allowed = 1 + trial % 3
            let dry = try DRYPenalty(DRYParameters(multiplier: 0.8, allowedLength: allowed), breakerTokens: breakers)
            XCTAssertEqual(
                dry.matches(history: ctx), reference(ctx, breakers: breakers, allowed: allowed), "context \(ctx)")
        }
    }

    func testPenaltyGrowsWithTheCopyAndSparesShortRepeats() throws {
        let dry = try DRYPenalty(DRYParameters(multiplier: 0.8, base: 1.75, allowedLength: 2), breakerTokens: [])
        // "1 2 3 4 … 1 2 3": continuing with 4 would copy a 3-token run plus one.
        XCTAssertEqual(dry.matches(history: [1, 2, 3, 4, 1, 2, 3]), [4: 3])
        var logits: [Float] = [0, 0, 0, 0, 5, 0]
        logits.withUnsafeMutableBufferPointer { dry.apply(to: $0, history: [1, 2, 3, 4, 1, 2, 3]) }
        XCTAssertEqual(logits[4], 5 - 0.8 * 1.75, accuracy: 1e-6)
        XCTAssertEqual(logits.enumerated().filter { $0.offset != 4 }.map(\.element), [0, 0, 0, 0, 0])
        // A one-token repeat is allowed: "5 6 … 5" does not penalize 6.
        XCTAssertEqual(dry.matches(history: [5, 6, 7, 5]), [:])
        // A window cuts the earlier occurrence out of sight.
        let windowed = try DRYPenalty(DRYParameters(multiplier: 0.8, allowedLength: 2, window: 4), breakerTokens: [])
        XCTAssertEqual(windowed.matches(history: [1, 2, 3, 4, 1, 2, 3]), [:])
    }

    func testBreakersEndAMatch() throws {
        let dry = try DRYPenalty(DRYParameters(multiplier: 1, allowedLength: 2), breakerTokens: [9])
        // "1 2 : 3 … 1 2 : 3": the match of the tail stops at the breaker.
        XCTAssertEqual(dry.matches(history: [1, 2, 9, 3, 7, 1, 2, 9, 3]), [:])
        let none = try DRYPenalty(DRYParameters(multiplier: 1, allowedLength: 2), breakerTokens: [])
        XCTAssertEqual(none.matches(history: [1, 2, 9, 3, 7, 1, 2, 9, 3]), [7: 4])
    }

    /// With a real vocabulary the breakers are the tokens holding a newline, ':', '"' or '*'.
    func testBreakersComeFromTheVocabulary() throws {
        let model = try Model(path: TestPaths.fixtures.appendingPathComponent("tiny/llama.gguf").path)
        let tok = model.tokenizer
        let dry = try DRYPenalty(DRYParameters(multiplier: 1, allowedLength: 1), tokenizer: tok)
        let colon = tok.encode(":", addSpecial: false, parseSpecial: false)
        let letters = tok.encode("ab", addSpecial: false, parseSpecial: false)
        XCTAssertEqual(colon.count, 1)
        // "ab:ab" → after "…ab" nothing is penalized, since the candidate ':' is a breaker;
        // "ab ab" → the token after the first "ab" (' ') would continue the copy.
        XCTAssertEqual(dry.matches(history: letters + colon + letters), [:])
        let space = tok.encode(" ", addSpecial: false, parseSpecial: false)
        XCTAssertFalse(dry.matches(history: letters + space + letters).isEmpty)
    }

    /// Custom breakers are strings: a token is a breaker when its text holds one. With the
    /// newline alone (a one-line output), ':' no longer ends a match, so "ab:ab:" repeats count.
    func testCustomBreakersAreSubstrings() throws {
        let tok = try Model(path: TestPaths.fixtures.appendingPathComponent("tiny/llama.gguf").path).tokenizer
        let history = tok.encode("ab:ab", addSpecial: false, parseSpecial: false)
        let colon = try XCTUnwrap(tok.encode(":", addSpecial: false, parseSpecial: false).first)
        let defaults = try DRYPenalty(DRYParameters(multiplier: 1, allowedLength: 1), tokenizer: tok)
        XCTAssertEqual(defaults.matches(history: history), [:])
        let newline = try DRYPenalty(DRYParameters(multiplier: 1, allowedLength: 1, breakers: ["\n"]), tokenizer: tok)
        XCTAssertEqual(newline.matches(history: history)[colon], 2, "':' would continue the copy of \"ab\"")
        // A two-character breaker marks only tokens holding both characters in order.
        let pair = try DRYPenalty(DRYParameters(multiplier: 1, allowedLength: 1, breakers: ["b:"]), tokenizer: tok)
        XCTAssertEqual(pair.matches(history: history)[colon], 2, "no single-character token holds \"b:\"")
        XCTAssertThrowsError(
            try DRYPenalty(DRYParameters(multiplier: 1, breakers: Array(repeating: "x", count: 17)), tokenizer: tok)
        ) {
            XCTAssertTrue("\($0)".contains("dry_sequence_breakers"), "\($0)")
        }
    }

    /// Greedy decoding follows a loop without DRY and leaves it with DRY, through the sampler.
    func testGreedySamplingLeavesALoop() throws {
        let tok = try Model(path: TestPaths.fixtures.appendingPathComponent("tiny/llama.gguf").path).tokenizer
        let history = tok.encode("abcabcab", addSpecial: false, parseSpecial: false)
        let c = try XCTUnwrap(tok.encode("c", addSpecial: false, parseSpecial: false).first)
        let x = try XCTUnwrap(tok.encode("x", addSpecial: false, parseSpecial: false).first)
        var logits = [Float](repeating: 0, count: tok.vocabularySize)
        logits[Int(c)] = 4  // continues the loop
        logits[Int(x)] = 3.5  // a close second
        var plain = try Sampler(SamplingParameters(), tokenizer: tok)
        XCTAssertEqual(logits.withUnsafeBufferPointer { plain.sample($0, history: history) }, c)
        var guarded = try Sampler(SamplingParameters(dry: DRYParameters(multiplier: 0.8)), tokenizer: tok)
        XCTAssertEqual(logits.withUnsafeBufferPointer { guarded.sample($0, history: history) }, x)
        XCTAssertThrowsError(try Sampler(SamplingParameters(dry: DRYParameters(multiplier: 0.8)))) {
            XCTAssertTrue("\($0)".contains("dry_multiplier"), "\($0)")
        }
        XCTAssertThrowsError(try DRYPenalty(DRYParameters(multiplier: 1, base: 0.5), breakerTokens: [])) {
            XCTAssertTrue("\($0)".contains("dry_base"), "\($0)")
        }
    }
}
