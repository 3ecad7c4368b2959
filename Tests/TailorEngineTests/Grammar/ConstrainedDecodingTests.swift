import Foundation
import TailorTestSupport
import XCTest

@testable import TailorEngine

/// Decoding under a grammar against the definition: at each step, every token the grammar
/// refuses is masked out of the whole vocabulary before the choice. The decoders test only
/// the drawn token and mask lazily; these tests hold them to the full mask.
final class ConstrainedDecodingTests: XCTestCase {
    private let grammar = #"root ::= [a-m ]{2,40} "e""#

    func testGreedyDecodingUnderAGrammarEqualsTheFullyMaskedArgmax() throws {
        let model = try Model(path: TestPaths.tinyModel("llama"))
        let g = try Grammar(gbnf: grammar)
        let prompt = model.tokenizer.encode("the theme", addSpecial: true, parseSpecial: false)
        let ctx = InferenceContext(model: model, maxContext: 64, maxBatchTokens: 32, threads: 1)
        let result = try Generator(context: ctx).generate(
            prompt: prompt, sampling: SamplingParameters(), options: GenerationOptions(maxTokens: 12, grammar: g))

        // The reference: mask the whole vocabulary at each step, take the argmax.
        var matcher = GrammarMatcher(g)
        var want: [Int32] = []
        var next = prompt
        let eos = model.tokenizer.endOfGenerationIDs
        for _ in 0..<12 {
            ctx.reset(sequence: 0)
            try ctx.forward([BatchItem(sequence: 0, tokens: prompt + want)])
            _ = next
            let logits = ctx.logits(row: 0)
            var best: Int32 = -1
            for v in 0..<logits.count {
                let id = Int32(v)
                let ok =
                    eos.contains(id) ? matcher.canEnd : matcher.accepts(model.tokenizer.bytes(of: id))
                if ok && (best < 0 || logits[v] > logits[Int(best)]) { best = id }
            }
            if best < 0 || eos.contains(best) { break }
            XCTAssertTrue(matcher.accept(model.tokenizer.bytes(of: best)))
            want.append(best)
            next = [best]
        }
        XCTAssertFalse(want.isEmpty)
        XCTAssertEqual(result.tokens, want)
        XCTAssertNotNil(result.text.range(of: #"^[a-m ]{2,40}e?$"#, options: .regularExpression), result.text)
        // Unconstrained, the same model leaves the grammar (else this test would prove nothing).
        let free = try Generator(context: ctx).generate(
            prompt: prompt, sampling: SamplingParameters(), options: GenerationOptions(maxTokens: 12))
        XCTAssertNotEqual(free.tokens, want)
    }

    func testSampledTokensAlwaysSatisfyTheGrammar() throws {
        let model = try Model(path: TestPaths.tinyModel("llama"))
        let g = try Grammar(gbnf: grammar)
        let prompt = model.tokenizer.encode("the theme", addSpecial: true, parseSpecial: false)
        let ctx = InferenceContext(model: model, maxContext: 64, maxBatchTokens: 32, threads: 1)
        for seed in 0..<8 as Range<UInt64> {
            let result = try Generator(context: ctx).generate(
                prompt: prompt, sampling: SamplingParameters(temperature: 1.5, seed: seed),
                options: GenerationOptions(maxTokens: 16, grammar: g))
            var m = GrammarMatcher(g)
            for t in result.tokens { XCTAssertTrue(m.accept(model.tokenizer.bytes(of: t)), "seed \(seed)") }
            if result.finishReason == .endOfGeneration { XCTAssertTrue(m.canEnd, "ended mid-grammar, seed \(seed)") }
        }
    }

    /// CoPe's head under a grammar: V_head = allowed ∩ {v : p_u(v) ≥ τ · max over allowed p_u}.
    func testContrastiveHeadIsDrawnFromAllowedTokensOnly() throws {
        var rng = SeededGenerator(seed: 7)
        for trial in 0..<50 {
            let n = 300
            let user = (0..<n).map { _ in Float(rng.nextUnit()) * 8 - 4 }
            let base = (0..<n).map { _ in Float(rng.nextUnit()) * 8 - 4 }
            let allowedSet = Set((0..<n).filter { _ in rng.nextUnit() < 0.3 }.map(Int32.init))
            let p = ContrastiveParameters(alpha: 0.5, tau: 0.2)
            var selector = try ContrastiveSelector(p)
            let choice = user.withUnsafeBufferPointer { u in
                base.withUnsafeBufferPointer { b in
                    selector.choose(user: u, base: b, history: [], allowed: { allowedSet.contains($0) })
                }
            }
            // The definition, by brute force.
            let allowed = allowedSet.sorted()
            let top = allowed.map { user[Int($0)] }.max()!
            let head = allowed.filter { user[Int($0)] >= top + logf(p.tau) }
            let logZ = logf(head.map { expf(user[Int($0)]) }.reduce(0, +))
            let lseB = logf(base.map(expf).reduce(0, +))
            let best = head.max { a, b in
                (user[Int(a)] - logZ) - p.alpha * (base[Int(a)] - lseB)
                    < (user[Int(b)] - logZ) - p.alpha * (base[Int(b)] - lseB)
            }!
            XCTAssertEqual(choice.token, best, "trial \(trial)")
            XCTAssertEqual(choice.candidates, head.count, "trial \(trial)")
        }
    }
}
