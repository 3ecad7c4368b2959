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

    /// Without top-k, the banded walk draws exactly what sorting the whole vocabulary draws:
    /// the same tokens from the same seed and the same reported distribution, on peaked, flat
    /// and tied rows with banned tokens, under top-p, min-p, both and neither.
    func testDrawWithoutTopKMatchesAFullSort() throws {
        var rng = SeededGenerator(seed: 5)
        let n = 3000
        let peaked = (0..<n).map { _ in Float(rng.nextUnit()) * 30 - 25 }
        let flat = (0..<n).map { _ in Float(rng.nextUnit()) * 0.5 }
        var tied = (0..<n).map { Float($0 % 5) * 2 - 40 }
        for i in stride(from: 0, to: n, by: 97) { tied[i] = -.infinity }
        tied[1234] = 3; tied[2345] = 3
        let cuts: [(topP: Float, minP: Float)] = [(0.9, 0), (1, 0.05), (0.95, 0.01), (1, 0)]
        for (row, logits) in [peaked, flat, tied].enumerated() {
            for cut in cuts {
                let p = SamplingParameters(temperature: 0.8, topP: cut.topP, minP: cut.minP, seed: 17)
                var sampler = try Sampler(p)
                sampler.recordsDistribution = cut.topP < 1 || cut.minP > 0
                var reference = SeededGenerator(seed: 17)
                let (order, weights) = Self.sortedWeights(logits, temperature: 0.8)
                let kept = Self.kept(weights, topP: cut.topP, minP: cut.minP)
                let mass = weights[..<kept].reduce(0, +)
                for draw in 0..<100 {
                    let got = logits.withUnsafeBufferPointer { sampler.sample($0, history: []) }
                    let r = Double(reference.nextUnit()) * mass
                    var acc = 0.0, want = order[kept - 1]
                    for j in 0..<kept {
                        acc += weights[j]
                        if r < acc { want = order[j]; break }
                    }
                    XCTAssertEqual(got, want, "row \(row), cut \(cut), draw \(draw)")
                }
                if sampler.recordsDistribution {
                    let reported = sampler.lastDistribution
                    XCTAssertEqual(reported.map(\.token), Array(order[..<kept]), "row \(row), cut \(cut)")
                    for (j, d) in reported.enumerated() {
                        XCTAssertEqual(Double(d.probability), weights[j] / mass, accuracy: 1e-6)
                    }
                }
            }
        }
    }

    /// Tokens by falling logit (ties by index) with their weights exp((l − max)/T), banned
    /// tokens last at weight 0.
    private static func sortedWeights(_ logits: [Float], temperature: Float) -> (order: [Int32], weights: [Double]) {
        let order = logits.indices.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        let top = logits[order[0]]
        return (order.map(Int32.init), order.map { Double(expf((logits[$0] - top) / temperature)) })
    }

    /// How many of the sorted tokens min-p and top-p keep (at least one).
    private static func kept(_ weights: [Double], topP: Float, minP: Float) -> Int {
        let total = weights.reduce(0, +)
        var mass = 0.0
        for j in weights.indices {
            if j > 0 && weights[j] < Double(Float(minP)) { return j }
            mass += weights[j]
            if mass >= Double(topP) * total { return j + 1 }
        }
        return weights.count
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
