import XCTest

@testable import TailorEngine

final class BatchDecoderTests: XCTestCase {
    private let prompts: [[Int32]] = [[5, 67, 120], [9, 9, 9, 14, 200, 31, 7, 88, 3, 41, 12], [1, 2, 3, 4], [77]]

    /// Each prompt decoded alone with `Generator`: the reference every batched slot must match.
    private func references(_ model: Model, maxTokens: Int) throws -> [[Int32]] {
        let ctx = InferenceContext(model: model, maxContext: 64, maxBatchTokens: 16, threads: 2)
        return try prompts.map {
            try Generator(context: ctx).generate(
                prompt: $0, sampling: SamplingParameters(),
                options: GenerationOptions(maxTokens: maxTokens, stopAtEndOfGeneration: false)
            ).tokens
        }
    }

    private func drain(_ dec: BatchDecoder, into out: inout [Int: [Int32]], finished: inout [Int: FinishReason]) throws
    {
        for e in try dec.step() {
            switch e.step {
            case let .token(t, finish):
                out[e.slot, default: []].append(t.id)
                if let finish { finished[e.slot] = finish }
            case let .end(_, finish):
                finished[e.slot] = finish
            }
        }
    }

    func testBatchedSlotsMatchSingleSequenceGreedyDecoding() throws {
        for arch in ["llama", "qwen2", "gemma3"] {
            let (model, _) = try TinyModelLogitTests.load(arch)
            let want = try references(model, maxTokens: 6)
            // Four slots, a 16-token budget and 4-token prefill chunks while others decode, so
            // prompts prefill across several steps next to decoding slots.
            let ctx = InferenceContext(model: model, maxSequences: 4, maxContext: 64, maxBatchTokens: 16, threads: 2)
            let dec = BatchDecoder(context: ctx, prefillChunkWhileDecoding: 4)
            let opts = GenerationOptions(maxTokens: 6, stopAtEndOfGeneration: false)
            var slotOf: [Int: Int] = [:]  // slot -> prompt index
            var out: [Int: [Int32]] = [:], finished: [Int: FinishReason] = [:]
            slotOf[try dec.admit(.init(prompt: prompts[0], options: opts))] = 0
            try drain(dec, into: &out, finished: &finished)
            try drain(dec, into: &out, finished: &finished)
            // Later arrivals join a batch that is already decoding.
            for p in 1..<4 { slotOf[try dec.admit(.init(prompt: prompts[p], options: opts))] = p }
            XCTAssertEqual(dec.freeSlots, 0)
            XCTAssertThrowsError(try dec.admit(.init(prompt: [1], options: opts))) {
                XCTAssertEqual($0 as? EngineError, .noFreeSlot)
            }
            var steps = 0
            while dec.activeSlots > 0 && steps < 100 {
                try drain(dec, into: &out, finished: &finished)
                steps += 1
            }
            XCTAssertEqual(dec.activeSlots, 0, arch)
            for (slot, p) in slotOf {
                XCTAssertEqual(out[slot], want[p], "\(arch) prompt \(p)")
                XCTAssertEqual(finished[slot], .length, "\(arch) prompt \(p)")
            }
        }
    }

    func testRemovedSlotIsFreedAndOthersContinue() throws {
        let (model, _) = try TinyModelLogitTests.load("qwen2")
        let want = try references(model, maxTokens: 5)
        let ctx = InferenceContext(model: model, maxSequences: 2, maxContext: 64, maxBatchTokens: 16, threads: 1)
        let dec = BatchDecoder(context: ctx)
        let opts = GenerationOptions(maxTokens: 5, stopAtEndOfGeneration: false)
        let a = try dec.admit(.init(prompt: prompts[0], options: opts))
        let b = try dec.admit(.init(prompt: prompts[1], options: opts))
        var out: [Int: [Int32]] = [:], finished: [Int: FinishReason] = [:]
        try drain(dec, into: &out, finished: &finished)
        dec.remove(slot: b)
        XCTAssertEqual(dec.freeSlots, 1)
        // The freed slot takes a new prompt from a clean cache.
        let c = try dec.admit(.init(prompt: prompts[2], options: opts))
        XCTAssertEqual(c, b)
        out[c] = []
        while dec.activeSlots > 0 { try drain(dec, into: &out, finished: &finished) }
        XCTAssertEqual(out[a], want[0])
        XCTAssertEqual(out[c], want[2])
    }

    func testAdmitRefusesBadJobsWithoutChangingState() throws {
        let (model, _) = try TinyModelLogitTests.load("llama")
        let ctx = InferenceContext(model: model, maxSequences: 2, maxContext: 16, maxBatchTokens: 8, threads: 1)
        let dec = BatchDecoder(context: ctx)
        XCTAssertThrowsError(try dec.admit(.init(prompt: []))) { XCTAssertEqual($0 as? EngineError, .emptyInput) }
        XCTAssertThrowsError(try dec.admit(.init(prompt: Array(repeating: 1, count: 17)))) {
            XCTAssertEqual($0 as? EngineError, .contextFull(sequence: 0, needed: 17, capacity: 16))
        }
        XCTAssertThrowsError(try dec.admit(.init(prompt: [1], options: GenerationOptions(maxTokens: 0))))
        XCTAssertThrowsError(try dec.admit(.init(prompt: [Int32(model.config.vocabSize)])))
        XCTAssertThrowsError(try dec.admit(.init(prompt: [1], sampling: SamplingParameters(temperature: -1))))
        XCTAssertEqual(dec.freeSlots, 2)
        XCTAssertTrue(try dec.step().isEmpty)
    }

    func testContextFullEndsTheSlot() throws {
        let (model, _) = try TinyModelLogitTests.load("llama")
        let ctx = InferenceContext(model: model, maxSequences: 1, maxContext: 8, maxBatchTokens: 8, threads: 1)
        let dec = BatchDecoder(context: ctx)
        let slot = try dec.admit(
            .init(prompt: [1, 2, 3, 4, 5], options: GenerationOptions(maxTokens: 50, stopAtEndOfGeneration: false)))
        var out: [Int: [Int32]] = [:], finished: [Int: FinishReason] = [:]
        while dec.activeSlots > 0 { try drain(dec, into: &out, finished: &finished) }
        XCTAssertEqual(finished[slot], .contextFull)
        // 5 prompt positions + 3 generated tokens fed back fill 8; the 4th is sampled, not fed.
        XCTAssertEqual(out[slot]?.count, 4)
    }
}
