import XCTest

@testable import TailorEngine

final class GeneratorTests: XCTestCase {
    private func context() throws -> InferenceContext {
        let (model, _) = try TinyModelLogitTests.load("qwen2")
        return InferenceContext(model: model, maxContext: 64, maxBatchTokens: 8, threads: 2)
    }

    func testMaxTokensAndStreaming() throws {
        let ctx = try context()
        var pieces: [String] = []
        let r = try Generator(context: ctx).generate(
            prompt: [5, 67, 120], sampling: SamplingParameters(),
            options: GenerationOptions(maxTokens: 7, stopAtEndOfGeneration: false)
        ) {
            pieces.append($0)
            return true
        }
        XCTAssertEqual(r.tokens.count, 7)
        XCTAssertEqual(r.finishReason, .length)
        XCTAssertEqual(pieces.joined(), r.text)
        XCTAssertEqual(r.promptTokens, 3)
        // Greedy decoding is the argmax of a plain forward pass at each step.
        ctx.reset(sequence: 0)
        var seq: [Int32] = [5, 67, 120]
        try ctx.forward([BatchItem(sequence: 0, tokens: seq)])
        for t in r.tokens {
            XCTAssertEqual(Sampler.argmax(ctx.logits(row: 0)), t)
            seq.append(t)
            try ctx.forward([BatchItem(sequence: 0, tokens: [t])])
        }
    }

    /// A chat's next turn reuses the KV positions of the earlier turns it shares and prefills
    /// only the rest; the tokens are those of a fresh run on the whole prompt.
    func testReusingAHeldPrefixGivesTheFreshRunsTokens() throws {
        let ctx = try context()
        let g = Generator(context: ctx)
        let options = GenerationOptions(maxTokens: 6, stopAtEndOfGeneration: false)
        let first = try g.generate(prompt: [5, 67, 120, 9], sampling: SamplingParameters(), options: options)
        let held = Array(([5, 67, 120, 9] + first.tokens).prefix(ctx.length(of: 0)))
        XCTAssertEqual(held.count, 4 + first.tokens.count - 1, "the last token was never fed")
        // The next turn: what the sequence holds, minus its last two tokens, then new ones.
        let next = Array(held.dropLast(2)) + [33, 44, 55]
        let reused = try g.generate(
            prompt: next, reusing: held.count - 2, sampling: SamplingParameters(), options: options)
        let fresh = try g.generate(prompt: next, sampling: SamplingParameters(), options: options)
        XCTAssertEqual(reused.tokens, fresh.tokens)
        XCTAssertEqual(reused.text, fresh.text)
    }

    func testSeededSamplingRepeatsAndCancelStops() throws {
        let ctx = try context()
        let p = SamplingParameters(temperature: 1.0, topK: 40, topP: 0.95, seed: 77)
        let opts = GenerationOptions(maxTokens: 12, stopAtEndOfGeneration: false)
        let a = try Generator(context: ctx).generate(prompt: [1, 2, 3], sampling: p, options: opts)
        let b = try Generator(context: ctx).generate(prompt: [1, 2, 3], sampling: p, options: opts)
        XCTAssertEqual(a.tokens, b.tokens)
        var q = p; q.seed = 78
        let c = try Generator(context: ctx).generate(prompt: [1, 2, 3], sampling: q, options: opts)
        XCTAssertNotEqual(a.tokens, c.tokens)
        var calls = 0
        let d = try Generator(context: ctx).generate(prompt: [1, 2, 3], sampling: p, options: opts) { _ in
            calls += 1
            return calls < 2
        }
        XCTAssertEqual(d.finishReason, .cancelled)
        XCTAssertLessThan(d.tokens.count, 12)
    }

    func testStopStringEndsGeneration() throws {
        let ctx = try context()
        let full = try Generator(context: ctx).generate(
            prompt: [9, 9, 9], sampling: SamplingParameters(),
            options: GenerationOptions(maxTokens: 16, stopAtEndOfGeneration: false))
        let chars = Array(full.text)
        try XCTSkipIf(chars.count < 4, "tiny model produced too little text to cut")
        let stop = String(chars[2...3])
        let cut = try Generator(context: ctx).generate(
            prompt: [9, 9, 9], sampling: SamplingParameters(),
            options: GenerationOptions(maxTokens: 16, stopStrings: [stop], stopAtEndOfGeneration: false))
        XCTAssertEqual(cut.finishReason, .stopString)
        XCTAssertEqual(cut.text, String(full.text[..<full.text.range(of: stop)!.lowerBound]))
    }

    func testContextFullEndsGeneration() throws {
        let (model, _) = try TinyModelLogitTests.load("llama")
        let ctx = InferenceContext(model: model, maxContext: 10, maxBatchTokens: 8, threads: 1)
        let r = try Generator(context: ctx).generate(
            prompt: [1, 2, 3, 4], sampling: SamplingParameters(),
            options: GenerationOptions(maxTokens: 50, stopAtEndOfGeneration: false))
        XCTAssertEqual(r.finishReason, .contextFull)
        XCTAssertEqual(r.tokens.count, 7)  // positions 4..9 filled, the 7th token sampled from the last
    }
}
