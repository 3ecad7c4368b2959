import CTailorKernels
import Foundation
import XCTest

@testable import TailorEngine

/// `tk_sgemm`'s few-row path (C = αA·Bᵀ + βC for m ≤ 4: the two LoRA products of every decode
/// step) against a double-precision reference. Scripts/test.sh runs it again with
/// TAILOR_PORTABLE=1 for the portable kernel.
final class SmallGemmTests: XCTestCase {
    private func random(_ n: Int, _ rng: inout SeededGenerator) -> [Float] { (0..<n).map { _ in rng.nextUnit() - 0.5 } }

    func testMatchesDoublePrecisionAcrossShapes() {
        var rng = SeededGenerator(seed: 5)
        // LoRA's shapes (A: k = width, n = rank; B: k = rank, n = width), and edges around the
        // kernel's eight outputs and eight-wide k steps; leading dimensions wider than the rows.
        let shapes: [(m: Int, n: Int, k: Int)] = [
            (1, 16, 576), (2, 576, 16), (2, 8, 960), (3, 17, 9), (4, 7, 3), (1, 1, 1), (2, 1536, 8), (1, 9, 8),
        ]
        for (m, n, k) in shapes {
            let lda = k + 3, ldb = k + 1, ldc = n + 5
            let a = random(m * lda, &rng), b = random(n * ldb, &rng)
            for (alpha, beta) in [(Float(1), Float(0)), (0.75, 1), (-2, 0.5)] {
                // beta = 0 must ignore C's old contents, NaN included (as BLAS does).
                let old: [Float] = beta == 0 ? [Float](repeating: .nan, count: m * ldc) : random(m * ldc, &rng)
                var c = old
                a.withUnsafeBufferPointer { ap in
                    b.withUnsafeBufferPointer { bp in
                        c.withUnsafeMutableBufferPointer { cp in
                            tk_sgemm(
                                nil, false, true, Int64(m), Int64(n), Int64(k), alpha, ap.baseAddress, Int64(lda),
                                bp.baseAddress, Int64(ldb),
                                beta, cp.baseAddress, Int64(ldc))
                        }
                    }
                }
                for i in 0..<m {
                    for j in 0..<n {
                        var dot = 0.0
                        for p in 0..<k { dot += Double(a[i * lda + p]) * Double(b[j * ldb + p]) }
                        let want = Double(alpha) * dot + (beta == 0 ? 0 : Double(beta) * Double(old[i * ldc + j]))
                        XCTAssertEqual(
                            Double(c[i * ldc + j]), want, accuracy: 1e-5 * max(1, Double(k).squareRoot()),
                            "m \(m) n \(n) k \(k) [\(i)][\(j)]")
                    }
                    // Padding between rows is left alone.
                    for j in n..<ldc {
                        XCTAssertEqual(
                            c[i * ldc + j].bitPattern, old[i * ldc + j].bitPattern,
                            "m \(m) n \(n) k \(k): padding [\(i)][\(j)] written")
                    }
                }
            }
        }
    }

    /// A row's result does not depend on how many rows share the call: CoPe's batched two-row
    /// forward must equal two one-row forwards.
    func testRowsAreIndependentOfTheBatch() {
        var rng = SeededGenerator(seed: 9)
        let (n, k) = (576, 16)
        let a = random(2 * k, &rng), b = random(n * k, &rng)
        var both = [Float](repeating: 0, count: 2 * n), one = [Float](repeating: 0, count: n)
        tk_sgemm(nil, false, true, 2, Int64(n), Int64(k), 1, a, Int64(k), b, Int64(k), 0, &both, Int64(n))
        a.withUnsafeBufferPointer { ap in
            tk_sgemm(
                nil, false, true, 1, Int64(n), Int64(k), 1, ap.baseAddress! + k, Int64(k), b, Int64(k), 0, &one,
                Int64(n))
        }
        XCTAssertEqual(Array(both[n...]), one)
    }
}
