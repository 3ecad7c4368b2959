import Foundation
import TailorTestSupport
import XCTest

@testable import TailorEngine

/// The batch decoder's prompt cache: a prompt extending what a free slot's row already holds
/// (under the same adapters) prefills only the new part, and decodes exactly as from scratch.
final class PromptCacheTests: XCTestCase {
    func testASharedPrefixIsReusedAndDecodesAsFromScratch() throws {
        let model = try Model(path: TestPaths.fixtures.appendingPathComponent("tiny/llama.gguf").path)
        let tok = model.tokenizer
        let first = tok.encode("the theme of the", addSpecial: true, parseSpecial: false)
        let second = tok.encode("the theme of the theme", addSpecial: true, parseSpecial: false)
        XCTAssertEqual(Array(second.prefix(first.count)), first)
        let options = GenerationOptions(maxTokens: 6, stopAtEndOfGeneration: false)
        func decode(
            _ dec: BatchDecoder, _ prompt: [Int32], adapters: [AdapterUse] = []
        ) throws -> (slot: Int, tokens: [Int32]) {
            let slot = try dec.admit(.init(prompt: prompt, options: options, adapters: adapters))
            var out: [Int32] = []
            while dec.activeSlots > 0 {
                for e in try dec.step() { if case let .token(t, _) = e.step { out.append(t.id) } }
            }
            return (slot, out)
        }
        let ctx = InferenceContext(
            model: model, maxSequences: 2, maxContext: 64, maxBatchTokens: 32, threads: 1, precision: .exact)
        let dec = BatchDecoder(context: ctx)
        let a = try decode(dec, first)
        XCTAssertEqual(dec.reusedPrefix[a.slot], 0)
        let b = try decode(dec, second)
        XCTAssertEqual(b.slot, a.slot, "the slot holding the prefix is picked")
        // Reused: the first prompt and the generated tokens that match the second prompt's next ones.
        XCTAssertGreaterThanOrEqual(dec.reusedPrefix[b.slot], first.count)
        let fresh = BatchDecoder(
            context: InferenceContext(
                model: model, maxSequences: 1, maxContext: 64, maxBatchTokens: 32, threads: 1, precision: .exact))
        XCTAssertEqual(b.tokens, try decode(fresh, second).tokens, "reuse decodes exactly as a fresh prefill")
        // Other adapters: no reuse.
        let dir = TestPaths.fixtures.appendingPathComponent("lora/llama-user-peft")
        let user = AdapterUse(
            try PEFTAdapter.load(
                name: "u", configJSON: Data(contentsOf: dir.appendingPathComponent("adapter_config.json")),
                safetensors: [UInt8](Data(contentsOf: dir.appendingPathComponent("adapter_model.safetensors"))),
                config: model.config))
        let c = try decode(dec, second, adapters: [user])
        XCTAssertEqual(dec.reusedPrefix[c.slot], 0)
        // A removed (cancelled) slot keeps what it evaluated: a request cancelled during its
        // prefill leaves the chunks it finished to the next request (an editor cancels the last
        // request on every keystroke), which then decodes as from scratch. A finished one keeps
        // its whole row.
        let one = BatchDecoder(
            context: InferenceContext(
                model: model, maxSequences: 1, maxContext: 64, maxBatchTokens: 4, threads: 1, precision: .exact))
        XCTAssertGreaterThan(second.count, 4)
        let d = try one.admit(.init(prompt: second, options: options))
        _ = try one.step()  // one chunk of 4 prompt tokens
        one.remove(slot: d)
        XCTAssertEqual(one.activeSlots, 0)
        let afterCancel = try decode(one, second)
        XCTAssertEqual(one.reusedPrefix[0], 4)
        XCTAssertEqual(afterCancel.tokens, try decode(fresh, second).tokens)
        _ = try decode(one, second)
        XCTAssertEqual(one.reusedPrefix[0], second.count - 1)
    }

    /// The bookkeeping alone: the longest shared prefix wins, never the prompt's last token
    /// (its logits are needed), a started job keeps only what it reuses, a reset row offers
    /// nothing, and a busy slot is never offered.
    func testPickPrefersTheLongestSharedPrefix() {
        var cache = PromptCache(slots: 3)
        cache.start(0, reuse: 0, adapters: [])
        cache.append([1, 2, 3, 4], to: 0)
        cache.start(1, reuse: 0, adapters: [])
        cache.append([1, 2], to: 1)
        XCTAssertTrue(cache.pick([1, 2, 3, 9], [], among: [0, 1, 2])! == (0, 3))
        XCTAssertTrue(
            cache.pick([1, 2, 3, 4], [], among: [0, 1, 2])! == (0, 3), "the last prompt token is always evaluated")
        XCTAssertTrue(cache.pick([1, 2, 3, 4], [], among: [1, 2])! == (1, 2))
        XCTAssertTrue(cache.pick([7], [], among: [2, 1])! == (2, 0))
        XCTAssertNil(cache.pick([1, 2], [], among: []))
        cache.start(0, reuse: 2, adapters: [])
        XCTAssertEqual(cache.reusedPrefix[0], 2)
        XCTAssertTrue(cache.pick([1, 2, 3, 4], [], among: [0])! == (0, 2))
        cache.forget(0)
        XCTAssertTrue(cache.pick([1, 2, 3, 4], [], among: [0])! == (0, 0))
    }
}
