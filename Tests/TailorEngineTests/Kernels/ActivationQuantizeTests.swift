import CTailorKernels
import Foundation
import XCTest

@testable import TailorEngine

/// The int16 activation blocks decode multiplies quantized weights with: the AVX2 copy must give
/// the portable copy's bytes exactly (same scale, nearest-even rounding, same sums), and both the
/// definition: d = max|x|/32767, q = round(x/d), s = d·Σq.
final class ActivationQuantizeTests: XCTestCase {
    override func tearDown() { tk_force_portable(false) }

    private struct Block { var d: Float; var s: Float; var q: [Int16] }

    private func quantize(_ x: [Float], portable: Bool) -> [Block] {
        tk_force_portable(portable)
        let blocks = x.count / 32
        var raw = [UInt8](repeating: 0, count: blocks * 72)
        raw.withUnsafeMutableBytes { tk_quantize_act32(x, $0.baseAddress, Int64(x.count)) }
        return (0..<blocks).map { b in
            raw.withUnsafeBytes { p in
                let base = p.baseAddress! + b * 72
                return Block(
                    d: base.loadUnaligned(as: Float.self), s: base.loadUnaligned(fromByteOffset: 4, as: Float.self),
                    q: (0..<32).map { base.loadUnaligned(fromByteOffset: 8 + 2 * $0, as: Int16.self) })
            }
        }
    }

    func testVectorCopyMatchesPortableBitForBitAndTheDefinition() {
        var rng = SeededGenerator(seed: 4)
        // Rows of several magnitudes, an all-zero block, a block with one outlier, exact .5 ties.
        var x = (0..<(32 * 48)).map { i in (rng.nextUnit() - 0.5) * [1e-3, 1, 30, 4000][i / 32 % 4] }
        for i in 64..<96 { x[i] = 0 }
        x[100] = 500
        for i in 128..<160 { x[i] = Float(i - 144) * 0.5 }
        x[159] = 32767 * 0.5 / 16  // scale 1/32: the other values are multiples of 16 steps plus halves
        let fast = quantize(x, portable: false), portable = quantize(x, portable: true)
        for b in fast.indices {
            XCTAssertEqual(fast[b].d.bitPattern, portable[b].d.bitPattern, "block \(b) scale")
            XCTAssertEqual(fast[b].s.bitPattern, portable[b].s.bitPattern, "block \(b) sum")
            XCTAssertEqual(fast[b].q, portable[b].q, "block \(b) values")
            let block = x[(b * 32)..<(b * 32 + 32)]
            let d = block.map { abs($0) }.max()! / 32767
            XCTAssertEqual(portable[b].d, d)
            let id: Float = d != 0 ? 1 / d : 0
            XCTAssertEqual(portable[b].q, block.map { Int16(($0 * id).rounded(.toNearestOrEven)) })
            XCTAssertEqual(portable[b].s, d * Float(portable[b].q.reduce(0) { $0 + Int($1) }))
        }
    }
}
