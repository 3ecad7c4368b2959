import Foundation
import TailorTestSupport
import XCTest

@testable import TailorEngine

/// The head-major KV cache: positions written by the forward pass are read back by attention
/// through the same layout, and `copyPrefix` gives a second sequence the first one's prefix.
final class KVCacheTests: XCTestCase {
    /// A sequence continued from a copied prefix must give the logits the original sequence gave
    /// at the same position: every head's keys and values were copied, and no more.
    func testCopiedPrefixContinuesLikeTheOriginal() throws {
        let model = try Model(path: TestPaths.fixtures.appendingPathComponent("tiny/llama.gguf").path)
        let ctx = InferenceContext(model: model, maxSequences: 2, maxContext: 32, maxBatchTokens: 8, threads: 2)
        let tokens: [Int32] = [5, 67, 120, 3, 250]
        try ctx.forward([BatchItem(sequence: 1, tokens: [9, 9, 9, 9, 9, 9])])  // stale rows the copy must overwrite
        try ctx.forward([BatchItem(sequence: 0, tokens: Array(tokens.prefix(4)))])
        try ctx.forward([BatchItem(sequence: 0, tokens: [tokens[4]])])
        let original = Array(ctx.logits(row: 0))
        ctx.cache.copyPrefix(from: 0, to: 1, length: 4)
        XCTAssertEqual(ctx.length(of: 1), 4)
        try ctx.forward([BatchItem(sequence: 1, tokens: [tokens[4]])])
        let continued = Array(ctx.logits(row: 0))
        XCTAssertEqual(continued.count, original.count)
        for (a, b) in zip(continued, original) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }

    func testHeadMajorLayoutAndSize() throws {
        let model = try Model(path: TestPaths.fixtures.appendingPathComponent("tiny/llama.gguf").path)
        let ctx = InferenceContext(model: model, maxSequences: 2, maxContext: 16, maxBatchTokens: 8, threads: 1)
        let c = model.config
        XCTAssertEqual(ctx.cache.kvDim, c.kvHeadCount * c.headDim)
        XCTAssertEqual(ctx.cache.headStride, 16 * c.headDim)
        XCTAssertEqual(ctx.cache.byteCount, c.layerCount * 2 * 2 * 16 * c.kvDim * 4)
        // Writing position 3 of sequence 1 touches head h at h·headStride + 3·headDim only.
        let keys = (0..<c.kvDim).map { Float($0 + 1) }, values = keys.map { -$0 }
        ctx.cache.store(layer: 0, sequence: 1, position: 3, count: 1, keys: keys, values: values)
        let k = ctx.cache.base(layer: 0, value: false, sequence: 1),
            v = ctx.cache.base(layer: 0, value: true, sequence: 1)
        for h in 0..<c.kvHeadCount {
            for d in 0..<c.headDim {
                XCTAssertEqual(k[h * ctx.cache.headStride + 3 * c.headDim + d], keys[h * c.headDim + d])
                XCTAssertEqual(v[h * ctx.cache.headStride + 3 * c.headDim + d], values[h * c.headDim + d])
            }
        }
    }
}
