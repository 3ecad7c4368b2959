import Foundation
import TailorTestSupport
import XCTest

@testable import TailorEngine

/// The prefill path's setting, its measured choice and where each context takes it from.
/// (RealModelTests checks both paths against transformers.)
final class PrefillPathTests: XCTestCase {
    func testSettingSpellings() {
        XCTAssertEqual(PrefillPathSetting("auto"), .measured)
        XCTAssertEqual(PrefillPathSetting("float"), .forced(.float))
        XCTAssertEqual(PrefillPathSetting("integer"), .forced(.integer))
        for bad in ["", "sgemm", "Integer", "int8"] { XCTAssertNil(PrefillPathSetting(bad), bad) }
    }

    /// The integer path must win by more than 5%: a tie keeps the float path, so that noise does
    /// not flip a host's choice between runs.
    func testChoiceNeedsAClearWin() {
        func choice(float: Double, integer: Double) -> PrefillPath {
            PrefillMeasurement(rows: 256, floatSeconds: float, integerSeconds: integer).choice
        }
        XCTAssertEqual(choice(float: 1, integer: 0.5), .integer)
        XCTAssertEqual(choice(float: 1, integer: 0.94), .integer)
        XCTAssertEqual(choice(float: 1, integer: 0.97), .float)
        XCTAssertEqual(choice(float: 1, integer: 1.5), .float)
    }

    /// A model measures once per thread count: a second context gets the same measurement
    /// (timings would differ if it measured again), and the context takes its choice.
    func testModelKeepsItsMeasurement() throws {
        let model = try Model(path: TestPaths.tinyModel("qwen2"))
        let first = model.prefillMeasurement(threads: 2)
        XCTAssertEqual(first.rows, PrefillPathProbe.rows)
        XCTAssertGreaterThan(first.floatSeconds, 0)
        XCTAssertGreaterThan(first.integerSeconds, 0)
        let ctx = InferenceContext(model: model, maxContext: 64, maxBatchTokens: 64, threads: 2, prefill: .measured)
        XCTAssertEqual(model.prefillMeasurement(threads: 2), first)
        XCTAssertEqual(ctx.prefillPath, first.choice)
    }

    /// A forced setting wins over the measurement, and contexts that name none take the
    /// process's default.
    func testForcedAndProcessDefaultSettings() throws {
        let model = try Model(path: TestPaths.tinyModel("llama"))
        for path in PrefillPath.allCases {
            let ctx = InferenceContext(model: model, maxBatchTokens: 64, threads: 1, prefill: .forced(path))
            XCTAssertEqual(ctx.prefillPath, path)
        }
        let saved = PrefillPathSetting.processDefault
        defer { PrefillPathSetting.processDefault = saved }
        for path in PrefillPath.allCases {
            PrefillPathSetting.processDefault = .forced(path)
            XCTAssertEqual(InferenceContext(model: model, maxBatchTokens: 64, threads: 1).prefillPath, path)
        }
    }
}
