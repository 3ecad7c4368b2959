import CTailorKernels
import Foundation
import TailorTestSupport
import XCTest

@testable import TailorEngine

/// The AVX2 and AVX-512 K-quant rows at the edges of their integer ranges: every weight at its largest
/// value, every 6-bit scale and minimum at 63 (Q6_K's scales at 127 and -128), and activations
/// at ±32767, whose high bytes reach 127 and -128. The kernels' partial sums are bounded on paper
/// to fit vpmaddubsw's int16 and the int32 lanes; a bound off by one would saturate or wrap here
/// and nowhere in random data. Each result must equal the portable path's bit for bit and the
/// float product of the dequantized weights.
final class KQuantExtremesTests: XCTestCase {
    override func tearDown() { KernelPath.reset() }

    /// One row of `blocks` super-blocks of `type`, every block the bytes `block` builds.
    private func row(_ type: GGMLType, blocks: Int, _ block: (inout [UInt8]) -> Void) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: type.blockBytes)
        block(&b)
        return Array([[UInt8]](repeating: b, count: blocks).joined())
    }

    /// Writes `value` as an IEEE half at `offset`.
    private func half(_ value: Float, into b: inout [UInt8], at offset: Int) {
        let h = tk_f32_to_f16(value)
        b[offset] = UInt8(h & 0xFF)
        b[offset + 1] = UInt8(h >> 8)
    }

    /// The rows each type is checked with: weights at their maximum, with scales and minimums
    /// at their largest magnitudes.
    private var cases: [(name: String, type: GGMLType, rows: [[UInt8]])] {
        let n = 2
        // Q4_K: d, dmin (halves), 12 scale bytes, 128 bytes of nibbles.
        let q4 = row(.q4_K, blocks: n) { b in
            half(0.01, into: &b, at: 0)
            half(0.002, into: &b, at: 2)
            for i in 4..<16 { b[i] = 0xFF }
            for i in 16..<144 { b[i] = 0xFF }
        }
        let q4NoMin = row(.q4_K, blocks: n) { b in
            half(-0.01, into: &b, at: 0)
            for i in 4..<16 { b[i] = 0xFF }
            for i in 16..<144 { b[i] = 0xFF }
        }
        // Q5_K: as Q4_K, then 32 bytes of fifth bits before the nibbles.
        let q5 = row(.q5_K, blocks: n) { b in
            half(0.01, into: &b, at: 0)
            half(0.002, into: &b, at: 2)
            for i in 4..<176 { b[i] = 0xFF }
        }
        // Q6_K: 128 bytes of low nibbles, 64 of high pairs, 16 int8 scales, d.
        func q6(_ scale: UInt8) -> [UInt8] {
            row(.q6_K, blocks: n) { b in
                for i in 0..<192 { b[i] = 0xFF }
                for i in 192..<208 { b[i] = scale }
                half(0.01, into: &b, at: 208)
            }
        }
        let q6Low = row(.q6_K, blocks: n) { b in  // every value 0: q - 32 = -32
            for i in 192..<208 { b[i] = i % 2 == 0 ? 0x7F : 0x80 }
            half(0.01, into: &b, at: 208)
        }
        // IQ4_XS: d, 2 bytes of high scale bits, 4 of low ones, 128 of nibbles. Every nibble 0
        // (table value -127) and every 6-bit scale 0 (less 32: -32) make each scaled weight
        // 4064, the AVX-512 kernel's bound.
        let iq4 = row(.iq4_xs, blocks: n) { b in half(0.01, into: &b, at: 0) }
        return [
            ("Q4_K", .q4_K, [q4, q4NoMin]), ("Q5_K", .q5_K, [q5]),
            ("Q6_K", .q6_K, [q6(0x7F), q6(0x80), q6Low]), ("IQ4_XS", .iq4_xs, [iq4]),
        ]
    }

    func testKQuantRowsAtTheirExtremesEqualThePortablePathAndTheFloatProduct() throws {
        try XCTSkipUnless(CPUFeatures.hasAVX2, "this CPU has no AVX2")
        let pool = tk_pool_create(2)
        defer { tk_pool_destroy(pool) }
        let cols = 512
        // Activation rows: all +1, all -1 (int16 ±32767: high bytes 127 and -128), alternating,
        // then the same again in another order: three rows take the two- and one-row kernels,
        // five the four- and one-row kernels.
        let one = [Float](repeating: 1, count: cols), minusOne = [Float](repeating: -1, count: cols)
        let alternating: [Float] = (0..<cols).map { $0 % 2 == 0 ? 1 : -1 }
        let all = [one, minusOne, alternating, minusOne, alternating.map { -$0 }]
        for nx in [3, 5] {
            try check(Array(all.prefix(nx).joined()), rows: nx, cols: cols, pool: pool)
        }
    }

    private func check(_ x: [Float], rows nx: Int, cols: Int, pool: OpaquePointer?) throws {
        for (name, type, rows) in cases {
            for (r, w) in rows.enumerated() {
                var scratch = [UInt8](
                    repeating: 0, count: tk_matmul_scratch_size(Int32(type.rawValue), Int64(cols), Int64(nx)))
                func run(_ path: KernelPath) -> [Float] {
                    path.select()
                    var y = [Float](repeating: .nan, count: nx)
                    tk_matmul(
                        pool, Int32(type.rawValue), w, 1, Int64(cols), x, Int64(cols), Int64(nx), &y, 1, &scratch,
                        false)
                    return y
                }
                let slow = run(.portable)
                for path in KernelPath.vectorPaths {
                    let fast = run(path)
                    XCTAssertEqual(
                        fast.map(\.bitPattern), slow.map(\.bitPattern),
                        "\(name) row \(r) (\(path)), \(nx) activation rows")
                }
                let fast = run(KernelPath.vectorPaths.last ?? .portable)
                var weights = [Float](repeating: 0, count: cols)
                tk_dequantize(Int32(type.rawValue), w, &weights, Int64(cols))
                for b in 0..<nx {
                    var ref: Double = 0, mag: Double = 0
                    for i in 0..<cols {
                        ref += Double(weights[i]) * Double(x[b * cols + i])
                        mag += abs(Double(weights[i]) * Double(x[b * cols + i]))
                    }
                    XCTAssertEqual(
                        Double(fast[b]), ref, accuracy: mag / 32767 + 1e-4, "\(name) row \(r), activation row \(b)")
                }
            }
        }
    }
}
