import Foundation
import TailorEval
import TailorRandom
import XCTest

/// The bootstrap interval of a mean: reproducible for a seed, and as wide as the normal
/// approximation says for a large sample (±1.96·σ/√n).
final class BootstrapTests: XCTestCase {
    func testIntervalMatchesTheNormalApproximationAndIsReproducible() {
        var rng = SeededGenerator(seed: 7)
        // 400 standard normal draws (Box–Muller).
        let values = (0..<400).map { _ -> Double in
            let u = max(Double(rng.nextUnit()), 1e-9), v = Double(rng.nextUnit())
            return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
        }
        let mean = values.reduce(0, +) / Double(values.count)
        let sd = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1)).squareRoot()
        let r = Bootstrap.meanInterval(values)
        XCTAssertEqual(r.mean, mean, accuracy: 1e-12)
        XCTAssertLessThan(r.low, mean)
        XCTAssertGreaterThan(r.high, mean)
        let expected = 2 * 1.96 * sd / Double(values.count).squareRoot()
        XCTAssertEqual(r.high - r.low, expected, accuracy: 0.15 * expected)
        let again = Bootstrap.meanInterval(values)
        XCTAssertEqual([again.low, again.high], [r.low, r.high])
        let other = Bootstrap.meanInterval(values, seed: 2)
        XCTAssertNotEqual([other.low, other.high], [r.low, r.high])
    }

    func testDegenerateSamples() {
        XCTAssertTrue(Bootstrap.meanInterval([]) == (0, 0, 0))
        XCTAssertTrue(Bootstrap.meanInterval([0.3]) == (0.3, 0.3, 0.3))
        XCTAssertTrue(Bootstrap.meanInterval([0.5, 0.5, 0.5]) == (0.5, 0.5, 0.5))
    }
}
