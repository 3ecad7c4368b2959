import CTailorKernels
import Foundation
import TailorTestSupport
import XCTest

@testable import TailorEngine

/// The gemm (prefill/training) and transposed (backward) products over every weight type,
/// against a double-precision product of the dequantized weights.
final class MatmulTests: XCTestCase {
    private func fixture(_ t: GGMLType) throws -> (Data, [Float]) {
        let dir = TestPaths.fixtures.appendingPathComponent("dequant")
        let raw = try Data(contentsOf: dir.appendingPathComponent("\(t.name).bin"))
        let f = try Data(contentsOf: dir.appendingPathComponent("\(t.name).f32"))
        return (raw, f.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) })
    }

    /// The pool's threads take a product's weight tiles in turn, so the tiles must give each
    /// thread the same rows: tiles of the full 256 rows left one of two threads 256 of 576 rows
    /// (SmolLM2's q, o and down projections) and none of 192 (its k and v).
    func testTilePlanGivesEveryThreadTheSameRows() {
        let cases = [Int64](arrayLiteral: 1, 15, 100, 192, 576, 896, 1536, 4864, 49_152).flatMap { rows in
            [Int64](arrayLiteral: 128, 256).flatMap { cap in (1...4).map { (rows, cap, $0) } }
        }
        for (rows, cap, threads) in cases {
            var count: Int64 = 0, span: Int64 = 0
            tk_tile_plan(rows, cap, Int32(threads), &count, &span)
            XCTAssertLessThanOrEqual(span, cap, "\(rows) rows")
            XCTAssertGreaterThanOrEqual(count * span, rows, "\(rows) rows: tiles cover them")
            XCTAssertLessThan((count - 1) * span, rows, "\(rows) rows: no empty tile")
            var perThread = [Int64](repeating: 0, count: threads)
            for t in 0..<count { perThread[Int(t) % threads] += min(span, rows - t * span) }
            let fair = (rows + Int64(threads) - 1) / Int64(threads)
            let slack = 16 * ((count + Int64(threads) - 1) / Int64(threads))
            XCTAssertLessThanOrEqual(
                perThread.max()!, fair + slack, "\(rows) rows, cap \(cap), \(threads) threads: \(perThread)")
        }
    }

    func testGemmTransposedAndExactMatvec() throws {
        let pool = tk_pool_create(2)
        defer { tk_pool_destroy(pool) }
        for t in DequantizeTests.types {
            let (raw, w) = try fixture(t)
            let cols = t.blockSize == 256 ? 512 : 256, rows = w.count / cols, nx = 5
            var rng = SeededGenerator(seed: 3)
            let x = (0..<(nx * cols)).map { _ in rng.nextUnit() - 0.5 }
            let dy = (0..<(nx * rows)).map { _ in rng.nextUnit() - 0.5 }
            let tileRows = 3  // not a divisor of rows: exercises the ragged last tile
            var tiles = [Float](repeating: 0, count: 2 * tileRows * cols)
            var partial = [Float](repeating: 0, count: 2 * nx * cols)
            var y = [Float](repeating: 0, count: nx * rows)
            var y2 = [Float](repeating: 0, count: nx * rows)
            var dx = [Float](repeating: 1, count: nx * cols)
            raw.withUnsafeBytes { r in
                tk_matmul_gemm(
                    pool, Int32(t.rawValue), r.baseAddress, Int64(rows), Int64(cols), x, Int64(cols), Int64(nx),
                    &y, Int64(rows), &tiles, Int64(tileRows), false)
                tk_matmul(
                    pool, Int32(t.rawValue), r.baseAddress, Int64(rows), Int64(cols), x, Int64(cols), Int64(nx),
                    &y2, Int64(rows), nil, true)
                tk_matmul_transposed(
                    pool, Int32(t.rawValue), r.baseAddress, Int64(rows), Int64(cols), dy, Int64(rows),
                    Int64(nx), &dx, Int64(cols), &tiles, Int64(tileRows), &partial, true)
            }
            // f32 sums round at the size of their terms, not of their result: the K-quant
            // fixtures hold weights up to ~370, so a row's terms add to thousands while the
            // dot product may be below 1, and the order the BLAS on this CPU sums in shows.
            // The tolerance is relative to the result and to Σ|terms| (a bug is off by whole
            // terms, far above either).
            func tolerance(_ ref: Double, _ magnitude: Double) -> Double { 1e-4 * max(1, abs(ref)) + 1e-7 * magnitude }
            for b in 0..<nx {
                for r in 0..<rows {
                    var ref = 0.0, magnitude = 0.0
                    for i in 0..<cols {
                        let term = Double(w[r * cols + i]) * Double(x[b * cols + i])
                        ref += term
                        magnitude += abs(term)
                    }
                    XCTAssertEqual(Double(y[b * rows + r]), ref, accuracy: tolerance(ref, magnitude), "\(t.name) gemm")
                    XCTAssertEqual(
                        Double(y2[b * rows + r]), ref, accuracy: tolerance(ref, magnitude), "\(t.name) exact matvec")
                }
                for i in 0..<cols {
                    var ref = 1.0, magnitude = 0.0  // accumulate = true onto ones
                    for r in 0..<rows {
                        let term = Double(dy[b * rows + r]) * Double(w[r * cols + i])
                        ref += term
                        magnitude += abs(term)
                    }
                    XCTAssertEqual(
                        Double(dx[b * cols + i]), ref, accuracy: tolerance(ref, magnitude), "\(t.name) transposed")
                }
            }
        }
    }

    /// f32 → bf16 as the kernel rounds: to nearest, ties to even.
    private func bf16(_ f: Float) -> Double {
        let u = f.bitPattern, rounded = (u &+ 0x7FFF &+ ((u >> 16) & 1)) & 0xFFFF_0000
        return Double(Float(bitPattern: rounded))
    }

    /// Checks `result` against 1 + Σ_k bf16(a(k))·bf16(b(k)) over `count` terms (the kernels
    /// accumulate onto ones), to f32 summation of terms the size of Σ|terms|.
    private func checkRoundedDot(
        _ result: Float, count: Int, _ a: (Int) -> Float, _ b: (Int) -> Float, _ label: @autoclosure () -> String
    ) {
        var ref = 1.0, magnitude = 0.0
        for k in 0..<count {
            let term = bf16(a(k)) * bf16(b(k))
            ref += term
            magnitude += abs(term)
        }
        XCTAssertEqual(Double(result), ref, accuracy: 1e-5 * max(1, abs(ref)) + 1e-6 * magnitude, label())
    }

    /// The bf16 gemm equals a double-precision product of the bf16-rounded weights and
    /// activations to f32 summation, over every weight type, with strided rows, a ragged last
    /// tile and accumulation.
    func testBFloat16Gemm() throws {
        try XCTSkipUnless(PrefillPath.bfloat16.isAvailable, "the bf16 path cannot run on this host (oneDNN)")
        let pool = tk_pool_create(2)
        defer { tk_pool_destroy(pool) }
        for t in DequantizeTests.types {
            let (raw, w) = try fixture(t)
            let cols = t.blockSize == 256 ? 512 : 256, rows = w.count / cols, nx = 5
            let ldx = cols + 3, ldy = rows + 2
            var rng = SeededGenerator(seed: 5)
            let x = (0..<(nx * ldx)).map { _ in rng.nextUnit() - 0.5 }
            let tileRows = 6
            XCTAssertNotEqual(rows % tileRows, 0, "\(t.name): the last tile should be ragged")
            var tiles = [Float](repeating: 0, count: 2 * tileRows * cols)
            var halves = [UInt16](repeating: 0, count: nx * cols)
            var y = [Float](repeating: 1, count: nx * ldy)
            raw.withUnsafeBytes { r in
                tk_matmul_gemm_bf16(
                    pool, Int32(t.rawValue), r.baseAddress, Int64(rows), Int64(cols), x, Int64(ldx), Int64(nx),
                    &y, Int64(ldy), &tiles, Int64(tileRows), &halves, true)
            }
            for b in 0..<nx {
                for r in 0..<rows {
                    checkRoundedDot(
                        y[b * ldy + r], count: cols, { w[r * cols + $0] }, { x[b * ldx + $0] }, "\(t.name) row \(r)")
                }
                XCTAssertEqual(y[b * ldy + rows], 1, "\(t.name): the row's padding is left alone")
            }
        }
    }

    /// The bf16 transposed product (training's dx = dY·W) equals a double-precision product of
    /// the bf16-rounded weights and dY to f32 summation, with more rows of dY than the kernel
    /// rounds at a time (it takes `cols` of them per pass), a ragged last tile and accumulation.
    func testBFloat16TransposedProduct() throws {
        try XCTSkipUnless(PrefillPath.bfloat16.isAvailable, "the bf16 path cannot run on this host (oneDNN)")
        let pool = tk_pool_create(2)
        defer { tk_pool_destroy(pool) }
        for t in DequantizeTests.types {
            let (raw, w) = try fixture(t)
            let cols = t.blockSize == 256 ? 512 : 256, rows = w.count / cols, nx = cols + 3
            let lddy = rows + 1
            var rng = SeededGenerator(seed: 7)
            let dy = (0..<(nx * lddy)).map { _ in rng.nextUnit() - 0.5 }
            let tileRows = 6
            var tiles = [Float](repeating: 0, count: 2 * tileRows * cols)
            var partial = [Float](repeating: 0, count: 2 * nx * cols)
            var dx = [Float](repeating: 1, count: nx * cols)
            raw.withUnsafeBytes { r in
                tk_matmul_transposed_bf16(
                    pool, Int32(t.rawValue), r.baseAddress, Int64(rows), Int64(cols), dy, Int64(lddy), Int64(nx),
                    &dx, Int64(cols), &tiles, Int64(tileRows), &partial, true)
            }
            for b in [0, 1, cols - 1, cols, nx - 1] {
                for i in 0..<cols {
                    checkRoundedDot(
                        dx[b * cols + i], count: rows, { dy[b * lddy + $0] }, { w[$0 * cols + i] },
                        "\(t.name) row \(b) col \(i)")
                }
            }
        }
    }
}
