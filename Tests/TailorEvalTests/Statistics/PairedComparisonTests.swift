import TailorEval
import XCTest

/// Paired differences: what tells two methods apart on a handful of queries when their own
/// intervals overlap.
final class PairedComparisonTests: XCTestCase {
    func testAConstantImprovementIsCertainAndCountedAsWins() {
        let b = [0.1, 0.5, 0.2, 0.9, 0.0, 0.3]
        let a = b.map { $0 + 0.05 }
        let p = PairedComparison(a, b)
        XCTAssertEqual(p.mean, 0.05, accuracy: 1e-12)
        XCTAssertEqual(p.low, 0.05, accuracy: 1e-12)
        XCTAssertEqual(p.high, 0.05, accuracy: 1e-12)
        XCTAssertEqual([p.wins, p.ties, p.losses], [6, 0, 0])
        XCTAssertEqual(p.sign, 1)
        // Each method's own interval is wide (the queries differ a lot) and they overlap.
        let ia = Bootstrap.meanInterval(a), ib = Bootstrap.meanInterval(b)
        XCTAssertLessThan(ia.low, ib.high)
    }

    func testTiesAndMixedResultsStraddleZero() {
        let a = [0.5, 0.2, 0.2, 0.7, 0.1], b = [0.4, 0.2, 0.3, 0.7, 0.2]
        let p = PairedComparison(a, b)
        XCTAssertEqual([p.wins, p.ties, p.losses], [1, 2, 2])
        XCTAssertEqual(p.mean, -0.02, accuracy: 1e-12)
        XCTAssertEqual(p.sign, 0)
        XCTAssertLessThanOrEqual(p.low, p.mean)
        XCTAssertGreaterThanOrEqual(p.high, p.mean)
        // The interval is the bootstrap interval of the differences.
        let d = Bootstrap.meanInterval(zip(a, b).map { $0 - $1 })
        XCTAssertEqual(p.low, d.low)
        XCTAssertEqual(p.high, d.high)
    }
}
