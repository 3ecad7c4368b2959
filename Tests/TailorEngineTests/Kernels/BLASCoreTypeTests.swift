import CTailorKernels
import TailorEngine
import XCTest

/// Which OpenBLAS kernels a CPU gets when OpenBLAS's own choice fell back (`BLASKernels`).
final class BLASCoreTypeTests: XCTestCase {
    private func choice(_ core: String, avx2: Bool, avx512: Bool) -> String? {
        tk_blas_coretype_for(core, avx2, avx512).map { String(cString: $0) }
    }

    func testTheFallbackIsReplacedByTheWidestKernelsTheCPURuns() {
        XCTAssertEqual(choice("Prescott", avx2: true, avx512: true), "SkylakeX")
        XCTAssertEqual(choice("Prescott", avx2: true, avx512: false), "Haswell")
        XCTAssertEqual(choice("prescott", avx2: true, avx512: false), "Haswell", "OpenBLAS's spelling varies")
    }

    func testAChoiceOpenBLASMadeItselfIsKept() {
        XCTAssertNil(choice("Haswell", avx2: true, avx512: true))
        XCTAssertNil(choice("Zen", avx2: true, avx512: false))
        XCTAssertNil(choice("Cooperlake", avx2: true, avx512: true))
        XCTAssertNil(choice("Prescott", avx2: false, avx512: false), "a CPU without AVX2 keeps SSE3")
    }

    func testThisProcessNamesItsKernels() {
        XCTAssertFalse(BLASKernels.coreName.isEmpty)
        if let better = BLASKernels.betterCoreType {
            XCTAssertEqual(BLASKernels.coreName.lowercased(), "prescott", "only a fallback is replaced")
            XCTAssertTrue(["SkylakeX", "Haswell"].contains(better))
        }
    }
}
