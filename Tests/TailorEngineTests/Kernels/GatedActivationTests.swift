import CTailorKernels
import Foundation
import XCTest

@testable import TailorEngine

/// `tk_gated_activation` (the feed-forward's SiLU or GELU gate, vectorized with a polynomial
/// exponential) against libm in double precision, in place and out of place, with the values
/// where the formulas turn: 0, large magnitudes, infinities. Scripts/test.sh runs it again with
/// TAILOR_PORTABLE=1.
final class GatedActivationTests: XCTestCase {
    private func silu(_ x: Double) -> Double { x / (1 + exp(-x)) }
    private func gelu(_ x: Double) -> Double { 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))) }

    func testMatchesLibmInDoublePrecision() {
        var rng = SeededGenerator(seed: 21)
        var g: [Float] = [0, -0.0, 1e-8, -1e-8, 5, -5, 20, -20, 87.5, -87.5, 100, -100, 1e4, -1e4]
        g += (0..<1_037).map { _ in (rng.nextUnit() - 0.5) * 24 }
        let u = g.indices.map { _ in rng.nextUnit() * 2 - 1 }
        for useGELU in [false, true] {
            var out = [Float](repeating: .nan, count: g.count)
            tk_gated_activation(g, u, &out, Int64(g.count), useGELU)
            var inPlace = g
            inPlace.withUnsafeMutableBufferPointer {
                tk_gated_activation($0.baseAddress, u, $0.baseAddress, Int64(g.count), useGELU)
            }
            XCTAssertEqual(inPlace, out, "in place must equal out of place")
            for i in g.indices {
                let x = Double(g[i]), want = (useGELU ? gelu(x) : silu(x)) * Double(u[i])
                XCTAssertEqual(
                    Double(out[i]), want, accuracy: 2e-6 * max(1, abs(want)),
                    "\(useGELU ? "gelu" : "silu")(\(g[i])) · \(u[i])")
            }
        }
    }

    func testInfinitiesAndNaN() {
        let g: [Float] = [.infinity, -.infinity, .nan]
        let u: [Float] = [1, 1, 1]
        var out = [Float](repeating: 0, count: 3)
        tk_gated_activation(g, u, &out, 3, false)
        XCTAssertEqual(out[0], .infinity)
        XCTAssertTrue(out[2].isNaN)
        tk_gated_activation(g, u, &out, 3, true)
        XCTAssertEqual(out[0], .infinity)
        XCTAssertTrue(out[2].isNaN)
    }
}
