import Foundation
import TailorEngine
import XCTest

@testable import TailorTraining

/// A DPO pair as one packed sequence gives each completion's log-probabilities and the sum of
/// both gradients exactly as its two sequences run on their own, on the tiny llama, qwen2 and
/// gemma3 models (gemma3's sliding window of 4 reaches across the hidden chosen rows).
final class PackedPairTests: ExactPathTestCase {
    private let prompt: [Int32] = [1, 17, 230, 41, 99, 5, 200, 64]

    /// Pairs whose packing differs: a shared prompt; completions with a common start; prompts
    /// cut apart (only the first token shared); nothing shared; each a prefix of the other.
    private var pairs: [(String, PreferenceExample)] {
        func pair(_ c: [Int32], _ cs: Int, _ r: [Int32], _ rs: Int) -> PreferenceExample {
            PreferenceExample(
                chosen: TrainingExample(tokens: c, targetStart: cs),
                rejected: TrainingExample(tokens: r, targetStart: rs))
        }
        let p = prompt
        return [
            ("shared prompt", pair(p + [250, 33, 91, 200, 7], p.count, p + [14, 77, 150], p.count)),
            ("common completion start", pair(p + [88, 33, 91], p.count, p + [88, 33, 12, 19, 240], p.count)),
            ("prompts cut apart", pair(p + [250, 33], p.count, [p[0]] + p.suffix(5) + [14, 77, 150, 3], 6)),
            ("nothing shared", pair(p + [250, 33], p.count, Array(p.dropFirst()) + [14, 77], p.count - 1)),
            ("rejected a prefix of chosen", pair(p + [88, 33, 91, 4], p.count, p + [88, 33], p.count)),
            ("chosen a prefix of rejected", pair(p + [88], p.count, p + [88, 33, 91], p.count)),
            ("identical", pair(p + [88, 33], p.count, p + [88, 33], p.count)),
        ]
    }

    private func grads(_ t: TrainableLoRA) -> [Float] { Array(UnsafeBufferPointer(start: t.grads, count: t.count)) }

    func testPackedPairEqualsItsTwoSequences() throws {
        for arch in TrainingFixtures.architectures {
            let model = try TrainingFixtures.model(arch)
            let task = try TrainingFixtures.adapter(arch, "task", model: model)
            let user = try TrainableLoRA(
                continuing: try TrainingFixtures.adapter(arch, "user", model: model), config: model.config)
            let frozen = [AdapterUse(task)]
            let graph = TrainingGraph(model: model, maxTokens: 32, maxRank: 4, threads: 2)
            for (name, p) in pairs {
                let label = "\(arch), \(name)"
                XCTAssertTrue(graph.fits(pair: p), label)
                let (a, b): (Float, Float) = (-0.7, 0.3)
                user.zeroGradients()
                let chosen = try graph.forward(
                    tokens: p.chosen.tokens, targetStart: p.chosen.targetStart, frozen: frozen, trainable: user)
                graph.backward(scale: a)
                let rejected = try graph.forward(
                    tokens: p.rejected.tokens, targetStart: p.rejected.targetStart, frozen: frozen, trainable: user)
                graph.backward(scale: b)
                let separate = grads(user)

                user.zeroGradients()
                let packed = try graph.forward(pair: p, frozen: frozen, trainable: user)
                graph.backward(chosenScale: a, rejectedScale: b)
                XCTAssertEqual(packed.chosen.count, chosen.count, label)
                XCTAssertEqual(packed.rejected.count, rejected.count, label)
                for (x, y) in zip(packed.chosen + packed.rejected, chosen + rejected) {
                    XCTAssertEqual(x, y, accuracy: 1e-4 * max(1, abs(y)), "\(label): log-probability")
                }
                XCTAssertGreaterThan(separate.map { abs($0) }.max() ?? 0, 0, label)
                XCTAssertLessThan(TrainingFixtures.relativeError(grads(user), separate), 1e-4, "\(label): gradients")
            }
        }
    }

    /// The layout: the shared prefix once, then the chosen rest, then the rejected rest, each
    /// target read from the row that precedes it in its own sequence.
    func testLayoutOfAPairWithACommonCompletionStart() throws {
        let p = try PackedPair(
            PreferenceExample(
                chosen: TrainingExample(tokens: [1, 2, 3, 7, 8], targetStart: 3),
                rejected: TrainingExample(tokens: [1, 2, 3, 7, 9, 6], targetStart: 3)))
        XCTAssertEqual(p.tokens, [1, 2, 3, 7, 8, 9, 6])
        XCTAssertEqual(p.shared, 4)
        XCTAssertEqual(p.targets, [7, 8, 7, 9, 6])
        XCTAssertEqual(p.targetRows, [2, 3, 2, 3, 5])
        XCTAssertEqual(p.chosenTargetCount, 2)
        XCTAssertTrue(p.branch! == (4, 5))
    }

    func testAPairTooLongToPackIsRefusedByName() throws {
        let model = try TrainingFixtures.model("llama")
        let graph = TrainingGraph(model: model, maxTokens: 12, maxRank: 4, threads: 1)
        let p = pairs[0].1  // 13 and 11 tokens sharing 8: 16 packed
        XCTAssertFalse(graph.fits(pair: p))
        XCTAssertThrowsError(try graph.forward(pair: p, trainable: nil)) { e in
            XCTAssertEqual(e as? TrainingError, .sequenceTooLong(tokens: 16, capacity: 12))
        }
        // A sequence whose completion starts past its end (fits used to trap on it).
        let empty = PreferenceExample(chosen: TrainingExample(tokens: [1, 2], targetStart: 5), rejected: p.rejected)
        XCTAssertFalse(graph.fits(pair: empty))
        XCTAssertThrowsError(try graph.forward(pair: empty, trainable: nil)) { e in
            XCTAssertEqual(e as? TrainingError, .noTargets)
        }
    }
}
