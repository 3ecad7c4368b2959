import Foundation
import TailorTestSupport
import XCTest

@testable import TailorEngine

/// A mixture-of-experts block's routing, on the tiny Qwen3-MoE (its logits against
/// transformers are in TinyModelLogitTests).
final class ExpertRoutingTests: XCTestCase {
    /// The tiny Qwen3-MoE's layout (eight experts of width 32, two per token, sliced from the
    /// stacked tensors) and the routing of a batch: each row's top two logits (ties to the
    /// lower index), softmax weights over them, and every expert's slots grouped in row order.
    func testTinyQwen3MoeLayout() throws {
        let (model, reference) = try TinyModelLogitTests.load("qwen3moe")
        let c = model.config
        XCTAssertEqual([c.expertCount, c.expertsUsed, c.feedForwardLength], [8, 2, 32])
        guard case let .experts(e) = model.weights.blocks[0].feedForward else { return XCTFail("dense block") }
        XCTAssertEqual(e.gate.count, 8)
        XCTAssertEqual([e.down[7].rows, e.down[7].cols], [c.embeddingLength, 32])
        XCTAssertNil(model.weights.blocks[0].mlp)
        let n = reference.tokens.count
        // Logits with ties (the same values recur), so the tie rule matters.
        let logits: [Float] = (0..<(n * 8)).map { (i: Int) -> Float in
            Float((i * 37) % 11) - Float(i % 3) * 0.25
        }
        let expert = UnsafeMutablePointer<Int32>.allocate(capacity: n * 2)
        let weight = UnsafeMutablePointer<Float>.allocate(capacity: n * 2)
        let start = UnsafeMutablePointer<Int>.allocate(capacity: 9)
        let order = UnsafeMutablePointer<Int32>.allocate(capacity: n * 2)
        defer { expert.deallocate(); weight.deallocate(); start.deallocate(); order.deallocate() }
        let routing = ExpertRouting(used: 2, experts: 8, expert: expert, weight: weight, start: start, order: order)
        routing.route(logits: logits, rows: n)
        for r in 0..<n {
            let row = Array(logits[(r * 8)..<(r * 8 + 8)])
            let ranked: [Int] = row.indices.sorted { (a: Int, b: Int) -> Bool in
                row[a] > row[b] || (row[a] == row[b] && a < b)
            }
            let chosen: [Int] = [Int(expert[r * 2]), Int(expert[r * 2 + 1])]
            XCTAssertEqual(chosen, Array(ranked.prefix(2)), "row \(r)")
            let e0: Float = Foundation.exp(row[ranked[0]]), e1: Float = Foundation.exp(row[ranked[1]])
            let w0: Float = e0 / (e0 + e1)
            XCTAssertEqual(weight[r * 2], w0, accuracy: 1e-6)
            XCTAssertEqual(weight[r * 2] + weight[r * 2 + 1], 1, accuracy: 1e-6)
        }
        XCTAssertEqual(start[8], n * 2)
        for x in 0..<8 {
            let group = (start[x]..<start[x + 1]).map { Int(order[$0]) }
            XCTAssertEqual(group, group.sorted())
            XCTAssertTrue(group.allSatisfy { expert[$0] == Int32(x) })
        }
    }
}
