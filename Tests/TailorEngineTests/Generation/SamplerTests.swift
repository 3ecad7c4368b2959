import XCTest

@testable import TailorEngine

final class SamplerTests: XCTestCase {
    private func sample(
        _ logits: [Float], _ p: SamplingParameters, history: [Int32] = [], times: Int = 1
    ) throws -> [Int32] {
        var s = try Sampler(p)
        return logits.withUnsafeBufferPointer { buf in (0..<times).map { _ in s.sample(buf, history: history) } }
    }

    func testGreedyPicksArgmaxAndFirstOnTies() throws {
        XCTAssertEqual(try sample([0.1, 3, -1, 3], SamplingParameters()), [1])
    }

    func testSameSeedSameOutputDifferentSeedDifferent() throws {
        let logits = (0..<50).map { Float($0 % 7) * 0.3 }
        let p = SamplingParameters(temperature: 1, seed: 11)
        let a = try sample(logits, p, times: 200), b = try sample(logits, p, times: 200)
        XCTAssertEqual(a, b)
        var q = p; q.seed = 12
        XCTAssertNotEqual(a, try sample(logits, q, times: 200))
    }

    func testTopKKeepsOnlyKBest() throws {
        let logits: [Float] = [5, 4, 3, 2, 1, 0]
        let got = Set(try sample(logits, SamplingParameters(temperature: 5, topK: 2, seed: 3), times: 500))
        XCTAssertEqual(got, [0, 1])
    }

    func testTopPKeepsSmallestNucleus() throws {
        // Probabilities ≈ [0.665, 0.245, 0.090]: top-p 0.8 keeps the first two.
        let logits: [Float] = [2, 1, 0]
        let got = Set(try sample(logits, SamplingParameters(temperature: 1, topP: 0.8, seed: 5), times: 2000))
        XCTAssertEqual(got, [0, 1])
    }

    func testMinPDropsUnlikelyTokens() throws {
        // p ∝ e^[3,2,0]: relative to the top, token 2 has e^-3 ≈ 0.05 < 0.1.
        let got = Set(try sample([3, 2, 0], SamplingParameters(temperature: 1, minP: 0.1, seed: 9), times: 2000))
        XCTAssertEqual(got, [0, 1])
    }

    func testTemperatureFollowsSoftmaxFrequencies() throws {
        let logits: [Float] = [log(0.5), log(0.3), log(0.2)]
        let draws = try sample(logits, SamplingParameters(temperature: 1, seed: 21), times: 20000)
        let f0 = Double(draws.filter { $0 == 0 }.count) / 20000
        let f2 = Double(draws.filter { $0 == 2 }.count) / 20000
        XCTAssertEqual(f0, 0.5, accuracy: 0.02)
        XCTAssertEqual(f2, 0.2, accuracy: 0.02)
    }

    func testRepetitionPenaltyDemotesSeenTokens() throws {
        XCTAssertEqual(try sample([2.0, 1.9, 0], SamplingParameters(repetitionPenalty: 1.3), history: [0]), [1])
        XCTAssertEqual(try sample([2.0, 1.9, 0], SamplingParameters(repetitionPenalty: 1.0), history: [0]), [0])
        // Negative logits are pushed further down, not up.
        XCTAssertEqual(try sample([-1.0, -1.1], SamplingParameters(repetitionPenalty: 1.5), history: [0]), [1])
    }

    func testInvalidParametersAreNamed() {
        XCTAssertThrowsError(try Sampler(SamplingParameters(temperature: -1))) {
            XCTAssertEqual($0 as? SamplingError, .invalidParameter(name: "temperature", value: "-1.0"))
        }
        XCTAssertThrowsError(try Sampler(SamplingParameters(topP: 0)))
        XCTAssertThrowsError(try Sampler(SamplingParameters(minP: 1)))
        XCTAssertThrowsError(try Sampler(SamplingParameters(repetitionPenalty: 0)))
    }
}
