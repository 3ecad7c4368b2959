import CTailorKernels
import Foundation
import XCTest

@testable import TailorEngine

/// `tk_logsumexp` (the vectorized normalizer behind every token's log-probability and CoPe's two
/// rows) against a double-precision reference with libm's exp. Scripts/test.sh runs it again
/// with TAILOR_PORTABLE=1 for the portable kernels.
final class LogSumExpTests: XCTestCase {
    private func reference(_ x: [Float]) -> Double {
        let m = Double(x.max()!)
        return m + log(x.reduce(0.0) { $0 + exp(Double($1) - m) })
    }

    func testMatchesDoublePrecisionOnVocabularyRows() {
        do {
            var rng = SeededGenerator(seed: 11)
            // Sizes around the 8-lane and 256-block edges, and a real vocabulary; spreads from
            // flat logits to ones whose tail underflows exp.
            for n in [1, 7, 8, 9, 255, 256, 257, 49_152, 151_936] {
                for spread: Float in [0.01, 4, 40, 400] {
                    let x = (0..<n).map { _ in (rng.nextUnit() - 0.5) * spread + 3 }
                    var m: Float = 0
                    let l = x.withUnsafeBufferPointer { tk_logsumexp($0.baseAddress, Int64(n), &m) }
                    XCTAssertEqual(m, x.max()!, "n \(n) spread \(spread)")
                    XCTAssertEqual(
                        Double(l), reference(x), accuracy: 2e-6 * max(1, abs(reference(x))), "n \(n) spread \(spread)")
                }
            }
        }
    }

    func testEdgeRows() {
        var m: Float = 0
        XCTAssertEqual(tk_logsumexp(nil, 0, &m), -.infinity)
        let masked: [Float] = [-.infinity, 2, -.infinity, -1e30]
        XCTAssertEqual(
            Double(masked.withUnsafeBufferPointer { tk_logsumexp($0.baseAddress, 4, nil) }), 2, accuracy: 1e-6)
        let allMasked = [Float](repeating: -.infinity, count: 9)
        XCTAssertEqual(allMasked.withUnsafeBufferPointer { tk_logsumexp($0.baseAddress, 9, &m) }, -.infinity)
        let inf: [Float] = [1, .infinity, 0]
        XCTAssertEqual(inf.withUnsafeBufferPointer { tk_logsumexp($0.baseAddress, 3, &m) }, .infinity)
    }

    func testExpShiftScaleGivesScaledSoftmax() {
        var rng = SeededGenerator(seed: 5)
        let x = (0..<49_159).map { _ in (rng.nextUnit() - 0.5) * 30 }
        var y = x
        let l = x.withUnsafeBufferPointer { tk_logsumexp($0.baseAddress, Int64(x.count), nil) }
        y.withUnsafeMutableBufferPointer { tk_exp_shift_scale($0.baseAddress, Int64(x.count), l, -0.5) }
        let m = Double(x.max()!), z = x.reduce(0.0) { $0 + exp(Double($1) - m) }
        for i in stride(from: 0, to: x.count, by: 97) {
            XCTAssertEqual(
                Double(y[i]), -0.5 * exp(Double(x[i]) - m) / z,
                accuracy: 1e-6 * max(1e-3, 0.5 * exp(Double(x[i]) - m) / z) + 1e-12)
        }
        XCTAssertEqual(y.reduce(0.0) { $0 + Double($1) }, -0.5, accuracy: 1e-5)
    }
}
