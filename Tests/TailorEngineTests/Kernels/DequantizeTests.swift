import CTailorKernels
import Foundation
import TailorTestSupport
import XCTest

@testable import TailorEngine

/// Every dequantizer, on both kernel paths, against the `gguf` package's dequantization of
/// random blocks (Scripts/fixtures/make_dequant_fixtures.py).
final class DequantizeTests: XCTestCase {
    static let types: [GGMLType] = [
        .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K, .iq4_nl, .iq4_xs, .q2_K, .q3_K,
    ]

    override func tearDown() { KernelPath.reset() }

    fileprivate func load(_ t: GGMLType) throws -> (raw: Data, expected: [Float]) {
        let dir = TestPaths.fixtures.appendingPathComponent("dequant")
        let raw = try Data(contentsOf: dir.appendingPathComponent("\(t.name).bin"))
        let f = try Data(contentsOf: dir.appendingPathComponent("\(t.name).f32"))
        let expected = f.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        return (raw, expected)
    }

    private func check(portable: Bool) throws {
        tk_force_portable(portable)
        XCTAssertEqual(tk_uses_avx2(), !portable && CPUFeatures.hasAVX2, "kernel path selection")
        for t in Self.types {
            let (raw, expected) = try load(t)
            XCTAssertEqual(raw.count, expected.count / t.blockSize * t.blockBytes, "\(t.name): fixture size")
            var out = [Float](repeating: .nan, count: expected.count)
            raw.withUnsafeBytes { r in
                out.withUnsafeMutableBufferPointer { o in
                    tk_dequantize(Int32(t.rawValue), r.baseAddress, o.baseAddress, Int64(expected.count))
                }
            }
            var worst: Float = 0
            for i in 0..<expected.count { worst = max(worst, abs(out[i] - expected[i]) / max(1, abs(expected[i]))) }
            XCTAssertLessThanOrEqual(worst, 1e-6, "\(t.name) (portable: \(portable)): max relative error \(worst)")
        }
    }

    func testDequantizeAVX2() throws {
        try XCTSkipUnless(CPUFeatures.hasAVX2, "this CPU has no AVX2; the portable test covers it")
        try check(portable: false)
    }

    func testDequantizePortable() throws { try check(portable: true) }

    /// The integer dot products (activations quantized to int8) agree with the f32 product of the
    /// dequantized weights, on both paths, within what int8 activations allow.
    func testQuantizedMatmulMatchesFloat() throws {
        for portable in [false, true] {
            if !portable && !CPUFeatures.hasAVX2 { continue }
            tk_force_portable(portable)
            for t in Self.types {
                let (raw, expected) = try load(t)
                let cols = t.blockSize == 256 ? 512 : 256
                let rows = expected.count / cols
                var rng = SeededGenerator(seed: 7)
                let nx = 3
                let x = (0..<(nx * cols)).map { _ in rng.nextUnit() * 2 - 1 }
                var y = [Float](repeating: 0, count: nx * rows)
                var scratch = [UInt8](
                    repeating: 0, count: max(1, tk_matmul_scratch_size(Int32(t.rawValue), Int64(cols), Int64(nx))))
                let pool = tk_pool_create(2)
                defer { tk_pool_destroy(pool) }
                raw.withUnsafeBytes { r in
                    tk_matmul(
                        pool, Int32(t.rawValue), r.baseAddress, Int64(rows), Int64(cols), x, Int64(cols), Int64(nx),
                        &y, Int64(rows), &scratch, false)
                }
                for b in 0..<nx {
                    for r in 0..<rows {
                        var ref: Double = 0, mag: Double = 0
                        for i in 0..<cols {
                            ref += Double(expected[r * cols + i]) * Double(x[b * cols + i])
                            mag += abs(Double(expected[r * cols + i]) * Double(x[b * cols + i]))
                        }
                        // int16 activations: |error| ≤ ~1/32767 of Σ|w·x| (plus float rounding).
                        let tol = mag / 32767 + 1e-4
                        XCTAssertEqual(
                            Double(y[b * rows + r]), ref, accuracy: tol,
                            "\(t.name) row \(r) batch \(b) portable \(portable)")
                    }
                }
            }
        }
    }
}

extension DequantizeTests {
    /// The AVX2 and AVX-512 256-block row kernels (Q2_K to Q6_K, IQ4_XS; AVX-512 takes Q4_K to
    /// Q6_K and IQ4_XS) give the portable path's results bit for bit, for one activation row (decode), two
    /// (CoPe) and counts that mix the four-, two- and one-row kernels (prefill): exact integer
    /// sums, the same float steps. (The 32-block kernels sum in eight float lanes and are held to
    /// the tolerance of `testQuantizedMatmulMatchesFloat` instead.)
    func testVectorKQuantMatvecEqualsThePortablePathBitForBit() throws {
        try XCTSkipUnless(CPUFeatures.hasAVX2, "this CPU has no AVX2")
        for path in KernelPath.vectorPaths { try checkKQuantMatvec(path) }
    }

    func testAVX512KQuantMatvecRunsWhereTheCPUHasIt() throws {
        try XCTSkipUnless(CPUFeatures.hasAVX512VNNI, "this CPU has no AVX-512 VNNI; the AVX2 kernels serve it")
        KernelPath.avx512.select()
        XCTAssertTrue(tk_uses_avx512(), "K-quant rows take the AVX-512 kernels on this CPU")
        KernelPath.avx2.select()
        XCTAssertFalse(tk_uses_avx512(), "tk_force_no_avx512 keeps them on the AVX2 kernels")
        KernelPath.portable.select()
        XCTAssertFalse(tk_uses_avx512(), "the portable path has no AVX-512 kernels")
    }

    private func checkKQuantMatvec(_ path: KernelPath) throws {
        let pool = tk_pool_create(2)
        defer { tk_pool_destroy(pool) }
        for t in [GGMLType.q4_K, .q5_K, .q6_K, .iq4_xs, .q2_K, .q3_K] {
            let (raw, expected) = try load(t)
            let cols = t.blockSize == 256 ? 512 : 256, rows = expected.count / cols
            for nx in [1, 2, 3, 4, 5, 7] {
                var rng = SeededGenerator(seed: UInt64(nx))
                let x = (0..<(nx * cols)).map { _ in (rng.nextUnit() * 2 - 1) * 3 }
                var scratch = [UInt8](
                    repeating: 0, count: max(1, tk_matmul_scratch_size(Int32(t.rawValue), Int64(cols), Int64(nx))))
                func run(_ path: KernelPath) -> [Float] {
                    path.select()
                    var y = [Float](repeating: .nan, count: nx * rows)
                    raw.withUnsafeBytes { r in
                        tk_matmul(
                            pool, Int32(t.rawValue), r.baseAddress, Int64(rows), Int64(cols), x, Int64(cols),
                            Int64(nx), &y, Int64(rows), &scratch, false)
                    }
                    return y
                }
                let fast = run(path), slow = run(.portable)
                XCTAssertEqual(
                    fast.map(\.bitPattern), slow.map(\.bitPattern), "\(t.name) (\(path)), \(nx) activation rows")
            }
        }
    }

    /// A batch of any size is quantized 64 rows at a time into a 64-row scratch (the integer
    /// prefill path sends whole prompts), a chunk of 8 rows or more on the pool: each row's
    /// result equals that row computed alone, for a 32-block and a 256-block type.
    func testManyActivationRowsEqualOneAtATime() throws {
        for type in [GGMLType.q8_0, .q4_K] {
            let (raw, expected) = try load(type)
            let cols = 256, rows = expected.count / cols, nx = 137
            var rng = SeededGenerator(seed: 5)
            let x = (0..<(nx * cols)).map { _ in rng.nextUnit() - 0.5 }
            var all = [Float](repeating: 0, count: nx * rows), one = [Float](repeating: 0, count: rows)
            let bytes = tk_matmul_scratch_size(Int32(type.rawValue), Int64(cols), Int64(nx))
            XCTAssertEqual(bytes, tk_matmul_scratch_size(Int32(type.rawValue), Int64(cols), 64), "\(type.name)")
            var scratch = [UInt8](repeating: 0, count: bytes)
            let pool = tk_pool_create(2)
            defer { tk_pool_destroy(pool) }
            raw.withUnsafeBytes { r in
                tk_matmul(
                    pool, Int32(type.rawValue), r.baseAddress, Int64(rows), Int64(cols), x, Int64(cols), Int64(nx),
                    &all, Int64(rows), &scratch, false)
            }
            for b in [0, 7, 63, 64, 127, 128, 136] {
                raw.withUnsafeBytes { r in
                    x.withUnsafeBufferPointer { xb in
                        tk_matmul(
                            pool, Int32(type.rawValue), r.baseAddress, Int64(rows), Int64(cols),
                            xb.baseAddress! + b * cols, Int64(cols), 1, &one, Int64(rows), &scratch, false)
                    }
                }
                XCTAssertEqual(Array(all[(b * rows)..<((b + 1) * rows)]), one, "\(type.name), activation row \(b)")
            }
        }
    }
}
