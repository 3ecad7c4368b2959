import CTailorKernels
import Foundation
import XCTest

@testable import TailorEngine

/// `tk_attention` and `tk_attention_seqs` against a double-precision reference written straight
/// from the definition (causal, grouped-query, sliding window, Gemma 2's soft-cap), and the
/// multi-sequence call
/// against one call per sequence. Scripts/test.sh runs it again with TAILOR_PORTABLE=1.
final class AttentionKernelTests: XCTestCase {
    /// A KV cache and queries with the shapes the kernel sees.
    private struct Case {
        let heads: Int, kvHeads: Int, headDim: Int, context: Int
        var q: [Float], k: [Float], v: [Float]
        var qDim: Int { heads * headDim }
        var kvDim: Int { kvHeads * headDim }

        init(heads: Int, kvHeads: Int, headDim: Int, context: Int, queries: Int, rng: inout SeededGenerator) {
            self.heads = heads; self.kvHeads = kvHeads; self.headDim = headDim; self.context = context
            q = (0..<(queries * heads * headDim)).map { _ in (rng.nextUnit() - 0.5) * 4 }
            k = (0..<(context * kvHeads * headDim)).map { _ in (rng.nextUnit() - 0.5) * 4 }
            v = (0..<(context * kvHeads * headDim)).map { _ in rng.nextUnit() - 0.5 }
        }

        /// Output of query i (at position pos0 + i), head h, by the definition, in double.
        func reference(i: Int, h: Int, pos0: Int, window: Int, scale: Float, softcap: Float = 0) -> [Double] {
            let pos = pos0 + i, kvh = h / (heads / kvHeads)
            let lo = window > 0 ? max(0, pos - window + 1) : 0
            var scores: [Double] = []
            for key in lo...pos {
                var s = 0.0
                for d in 0..<headDim {
                    s += Double(q[i * qDim + h * headDim + d]) * Double(k[key * kvDim + kvh * headDim + d])
                }
                let scaled = s * Double(scale)
                scores.append(softcap > 0 ? Double(softcap) * tanh(scaled / Double(softcap)) : scaled)
            }
            let m = scores.max()!
            let e = scores.map { exp($0 - m) }, z = e.reduce(0, +)
            return (0..<headDim).map { d in
                zip(lo...pos, e).reduce(0.0) { $0 + $1.1 / z * Double(v[$1.0 * kvDim + kvh * headDim + d]) }
            }
        }
    }

    func testMatchesTheDefinition() {
        var rng = SeededGenerator(seed: 3)
        let pool = tk_pool_create(2)
        defer { tk_pool_destroy(pool) }
        // SmolLM2's and Qwen's head shapes, a head size that is not a multiple of 8, Gemma's 256;
        // contexts around the 8-key edges; a sliding window; scores soft-capped or not (the
        // scores reach ±8 here, so a cap of 1.5 bends most of them).
        // 18 heads over one KV head (multi-query) attend in parts of 16 and 2.
        for (heads, kv, hd) in [(9, 3, 64), (14, 2, 64), (4, 2, 12), (2, 1, 256), (18, 1, 16)] {
            let shapes = [(1, 0), (7, 0), (8, 0), (9, 0), (83, 0), (83, 16)]
            for (context, window, softcap) in shapes.flatMap({ cw in [Float(0), 1.5].map { (cw.0, cw.1, $0) } }) {
                let queries = min(3, context), pos0 = context - queries
                let c = Case(heads: heads, kvHeads: kv, headDim: hd, context: context, queries: queries, rng: &rng)
                var out = [Float](repeating: 0, count: queries * c.qDim)
                var probs = [Float](repeating: -1, count: queries * heads * context)
                var scratch = [Float](repeating: 0, count: Self.scratch(heads, kv, context))
                let scale = 1 / Float(hd).squareRoot()
                tk_attention(
                    pool, c.q, Int64(c.qDim), Int32(queries), Int64(pos0), c.k, c.v, Int64(c.kvDim), Int32(heads),
                    Int32(kv), Int32(hd), scale, softcap, Int32(window), &out, Int64(c.qDim), &probs, Int64(context),
                    &scratch)
                for i in 0..<queries {
                    for h in 0..<heads {
                        let ref = c.reference(i: i, h: h, pos0: pos0, window: window, scale: scale, softcap: softcap)
                        for d in 0..<hd {
                            XCTAssertEqual(
                                Double(out[i * c.qDim + h * hd + d]), ref[d], accuracy: 2e-6,
                                "heads \(heads)/\(kv) hd \(hd) context \(context) window \(window) cap \(softcap) "
                                    + "query \(i) head \(h)"
                            )
                        }
                        let row = probs[((i * heads + h) * context)..<((i * heads + h + 1) * context)]
                        XCTAssertEqual(row.reduce(0, +), 1, accuracy: 1e-5)
                        let pos = pos0 + i
                        XCTAssertTrue(
                            row.enumerated().allSatisfy {
                                $0.offset <= pos && (window == 0 || pos - $0.offset < window) || $0.element == 0
                            })
                    }
                }
            }
        }
    }

    /// Scratch floats for two threads.
    static func scratch(_ heads: Int, _ kv: Int, _ context: Int) -> Int {
        2 * Int(tk_attention_scratch_rows(Int32(heads), Int32(kv))) * context
    }

    /// The query heads sharing a KV head attend together, reading its keys and values once; each
    /// head's output and probabilities must equal, bit for bit, what the head gives attending
    /// alone (a call with one head over one KV head), on both kernel paths.
    func testAGroupOfHeadsEqualsEachHeadAlone() {
        var rng = SeededGenerator(seed: 21)
        let pool = tk_pool_create(2)
        defer { tk_pool_destroy(pool) }
        defer { tk_force_portable(false) }
        for portable in [false, true] {
            tk_force_portable(portable)
            for (heads, hd, context, window) in [(3, 64, 70, 0), (7, 64, 301, 0), (18, 16, 45, 9), (4, 12, 20, 0)] {
                let c = Case(heads: heads, kvHeads: 1, headDim: hd, context: context, queries: 2, rng: &rng)
                var out = [Float](repeating: 0, count: 2 * c.qDim)
                var probs = [Float](repeating: 0, count: 2 * heads * context)
                var scratch = [Float](repeating: 0, count: Self.scratch(heads, 1, context))
                tk_attention(
                    pool, c.q, Int64(c.qDim), 2, Int64(context - 2), c.k, c.v, Int64(hd), Int32(heads), 1, Int32(hd),
                    0.125, 0, Int32(window), &out, Int64(c.qDim), &probs, Int64(context), &scratch)
                for h in 0..<heads {
                    var alone = [Float](repeating: 0, count: 2 * hd)
                    var aloneProbs = [Float](repeating: 0, count: 2 * context)
                    // Head h's queries alone: row i at q[i * qDim + h * hd].
                    var q: [Float] = []
                    for i in 0..<2 {
                        let start = i * c.qDim + h * hd
                        q += c.q[start..<(start + hd)]
                    }
                    tk_attention(
                        pool, q, Int64(hd), 2, Int64(context - 2), c.k, c.v, Int64(hd), 1, 1, Int32(hd), 0.125, 0,
                        Int32(window), &alone, Int64(hd), &aloneProbs, Int64(context), &scratch)
                    for i in 0..<2 {
                        let start = i * c.qDim + h * hd, row = (i * heads + h) * context
                        XCTAssertEqual(
                            out[start..<(start + hd)].map(\.bitPattern),
                            alone[(i * hd)..<((i + 1) * hd)].map(\.bitPattern),
                            "portable \(portable), \(heads) heads, hd \(hd), head \(h), query \(i)")
                        XCTAssertEqual(
                            probs[row..<(row + context)].map(\.bitPattern),
                            aloneProbs[(i * context)..<((i + 1) * context)].map(\.bitPattern),
                            "probabilities: portable \(portable), \(heads) heads, head \(h), query \(i)")
                    }
                }
            }
        }
    }

    /// CoPe's two rows (and a batch's users) attend in one call; each sequence must get what a
    /// call of its own gives, bit for bit, whatever the other sequences hold.
    func testSequencesCallEqualsOneCallPerSequence() {
        var rng = SeededGenerator(seed: 8)
        let pool = tk_pool_create(2)
        defer { tk_pool_destroy(pool) }
        let heads = 9, kv = 3, hd = 64, maxContext = 40
        let lengths = [(pos0: 17, nq: 1), (pos0: 30, nq: 1), (pos0: 0, nq: 5)]
        let cases = lengths.map {
            Case(heads: heads, kvHeads: kv, headDim: hd, context: $0.pos0 + $0.nq, queries: $0.nq, rng: &rng)
        }
        let qDim = heads * hd, kvDim = kv * hd
        var scratch = [Float](repeating: 0, count: Self.scratch(heads, kv, maxContext))
        let outs = cases.map { UnsafeMutablePointer<Float>.allocate(capacity: $0.q.count) }
        let qs = cases.map { c in UnsafeMutablePointer<Float>.allocate(capacity: c.q.count).initialized(from: c.q) }
        let ks = cases.map { c in UnsafeMutablePointer<Float>.allocate(capacity: c.k.count).initialized(from: c.k) }
        let vs = cases.map { c in UnsafeMutablePointer<Float>.allocate(capacity: c.v.count).initialized(from: c.v) }
        defer { for p in outs + qs + ks + vs { p.deallocate() } }
        let seqs = lengths.indices.map {
            tk_attention_seq(
                q: qs[$0], nq: Int32(lengths[$0].nq), pos0: Int64(lengths[$0].pos0), k: ks[$0], v: vs[$0], out: outs[$0]
            )
        }
        tk_attention_seqs(
            pool, seqs, Int32(seqs.count), Int64(qDim), Int64(kvDim), Int64(hd), Int32(heads), Int32(kv), Int32(hd),
            0.125, 0, 0, Int64(qDim), Int64(maxContext), &scratch)
        for (s, c) in cases.enumerated() {
            var alone = [Float](repeating: 0, count: c.q.count)
            tk_attention(
                pool, c.q, Int64(qDim), Int32(lengths[s].nq), Int64(lengths[s].pos0), c.k, c.v, Int64(kvDim),
                Int32(heads),
                Int32(kv), Int32(hd), 0.125, 0, 0, &alone, Int64(qDim), nil, Int64(maxContext), &scratch)
            XCTAssertEqual(Array(UnsafeBufferPointer(start: outs[s], count: c.q.count)), alone, "sequence \(s)")
        }
    }

    /// The decode cache is head-major ([kv head][position][head dim]); the kernel reads it through
    /// its strides and must give what the position-major layout gives, bit for bit.
    func testHeadMajorLayoutEqualsPositionMajor() {
        var rng = SeededGenerator(seed: 12)
        let pool = tk_pool_create(2)
        defer { tk_pool_destroy(pool) }
        let heads = 14, kv = 2, hd = 64, context = 301, maxContext = 320
        let c = Case(heads: heads, kvHeads: kv, headDim: hd, context: context, queries: 1, rng: &rng)
        var kh = [Float](repeating: 0, count: kv * maxContext * hd), vh = kh
        for p in 0..<context {
            for h in 0..<kv {
                for d in 0..<hd {
                    kh[(h * maxContext + p) * hd + d] = c.k[p * c.kvDim + h * hd + d]
                    vh[(h * maxContext + p) * hd + d] = c.v[p * c.kvDim + h * hd + d]
                }
            }
        }
        var scratch = [Float](repeating: 0, count: Self.scratch(heads, kv, maxContext))
        var positionMajor = [Float](repeating: 0, count: c.qDim), headMajor = positionMajor
        for window in [0, 50] {
            c.q.withUnsafeBufferPointer { q in
                c.k.withUnsafeBufferPointer { k in
                    c.v.withUnsafeBufferPointer { v in
                        positionMajor.withUnsafeMutableBufferPointer { out in
                            var s = tk_attention_seq(
                                q: q.baseAddress, nq: 1, pos0: Int64(context - 1), k: k.baseAddress, v: v.baseAddress,
                                out: out.baseAddress)
                            tk_attention_seqs(
                                pool, &s, 1, Int64(c.qDim), Int64(c.kvDim), Int64(hd), Int32(heads), Int32(kv),
                                Int32(hd),
                                0.125, 0, Int32(window), Int64(c.qDim), Int64(maxContext), &scratch)
                        }
                    }
                }
                kh.withUnsafeBufferPointer { k in
                    vh.withUnsafeBufferPointer { v in
                        headMajor.withUnsafeMutableBufferPointer { out in
                            var s = tk_attention_seq(
                                q: q.baseAddress, nq: 1, pos0: Int64(context - 1), k: k.baseAddress, v: v.baseAddress,
                                out: out.baseAddress)
                            tk_attention_seqs(
                                pool, &s, 1, Int64(c.qDim), Int64(hd), Int64(maxContext * hd), Int32(heads), Int32(kv),
                                Int32(hd), 0.125, 0, Int32(window), Int64(c.qDim), Int64(maxContext), &scratch)
                        }
                    }
                }
            }
            XCTAssertEqual(headMajor, positionMajor, "window \(window)")
            for h in [0, 6, 13] {
                let ref = c.reference(i: 0, h: h, pos0: context - 1, window: window, scale: 0.125)
                for d in 0..<hd { XCTAssertEqual(Double(headMajor[h * hd + d]), ref[d], accuracy: 2e-6) }
            }
        }
    }
}

private extension UnsafeMutablePointer where Pointee == Float {
    func initialized(from a: [Float]) -> Self {
        initialize(from: a, count: a.count)
        return self
    }
}
