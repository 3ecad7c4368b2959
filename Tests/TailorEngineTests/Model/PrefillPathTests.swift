import Foundation
import TailorTestSupport
import XCTest

@testable import TailorEngine

/// The prefill path's setting, its measured choice and where each context takes it from.
/// (RealModelTests checks every path against transformers.)
final class PrefillPathTests: XCTestCase {
    func testSettingSpellings() {
        XCTAssertEqual(PrefillPathSetting("auto"), .measured)
        XCTAssertEqual(PrefillPathSetting("float"), .forced(.float))
        XCTAssertEqual(PrefillPathSetting("integer"), .forced(.integer))
        XCTAssertEqual(PrefillPathSetting("bf16"), .forced(.bfloat16))
        for bad in ["", "sgemm", "Integer", "int8", "bfloat16"] { XCTAssertNil(PrefillPathSetting(bad), bad) }
    }

    /// A path that rounds more must win by more than 5%: a tie keeps the more exact path
    /// (float, then integer, then bf16), so that noise does not flip a host's choice between runs.
    func testChoiceNeedsAClearWin() {
        func choice(float: Double, integer: Double, bf16: Double? = nil) -> PrefillPath {
            PrefillMeasurement(rows: 256, floatSeconds: float, integerSeconds: integer, bfloat16Seconds: bf16).choice
        }
        XCTAssertEqual(choice(float: 1, integer: 0.5), .integer)
        XCTAssertEqual(choice(float: 1, integer: 0.94), .integer)
        XCTAssertEqual(choice(float: 1, integer: 0.97), .float)
        XCTAssertEqual(choice(float: 1, integer: 1.5), .float)
        XCTAssertEqual(choice(float: 1, integer: 1.5, bf16: 0.5), .bfloat16)
        XCTAssertEqual(choice(float: 1, integer: 1.5, bf16: 0.97), .float, "bf16 within 5% of float")
        XCTAssertEqual(choice(float: 1, integer: 0.5, bf16: 0.49), .integer, "bf16 within 5% of integer")
        XCTAssertEqual(choice(float: 1, integer: 0.5, bf16: 0.4), .bfloat16)
        XCTAssertEqual(choice(float: 1, integer: 0.5, bf16: 0.6), .integer)
        XCTAssertEqual(choice(float: 1, integer: 1.2, bf16: nil), .float, "bf16 not measured: cannot run here")
    }

    /// A model measures once per thread count: a second context gets the same measurement
    /// (timings would differ if it measured again), and the context takes its choice.
    func testModelKeepsItsMeasurement() throws {
        let model = try Model(path: TestPaths.tinyModel("qwen2"))
        let first = model.prefillMeasurement(threads: 2)
        XCTAssertEqual(first.rows, PrefillPathProbe.rows)
        XCTAssertGreaterThan(first.floatSeconds, 0)
        XCTAssertGreaterThan(first.integerSeconds, 0)
        XCTAssertEqual(first.bfloat16Seconds != nil, PrefillPath.bfloat16.isAvailable, "bf16 measured where it runs")
        let ctx = InferenceContext(model: model, maxContext: 64, maxBatchTokens: 64, threads: 2, prefill: .measured)
        XCTAssertEqual(model.prefillMeasurement(threads: 2), first)
        XCTAssertEqual(ctx.prefillPath, first.choice)
    }

    /// A forced setting wins over the measurement (the float path standing in for one this host
    /// cannot take), and contexts that name none take the process's default.
    func testForcedAndProcessDefaultSettings() throws {
        let model = try Model(path: TestPaths.tinyModel("llama"))
        for path in PrefillPath.allCases {
            let ctx = InferenceContext(model: model, maxBatchTokens: 64, threads: 1, prefill: .forced(path))
            XCTAssertEqual(ctx.prefillPath, path.isAvailable ? path : .float, "\(path)")
        }
        let saved = PrefillPathSetting.processDefault
        defer { PrefillPathSetting.processDefault = saved }
        for path in PrefillPath.allCases {
            PrefillPathSetting.processDefault = .forced(path)
            let ctx = InferenceContext(model: model, maxBatchTokens: 64, threads: 1)
            XCTAssertEqual(ctx.prefillPath, path.isAvailable ? path : .float, "\(path)")
        }
    }
}
