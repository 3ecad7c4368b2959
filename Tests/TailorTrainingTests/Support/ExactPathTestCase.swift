import TailorEngine
import XCTest

/// A test case whose graphs and scorers run on the float path, whatever a host's measurement
/// would choose: its checks against torch, PEFT, TRL and finite differences hold to 1e-3 and
/// finer, which the bf16 path's rounding does not (LoRAGradientTests checks that path against
/// this one, with its own tolerance).
class ExactPathTestCase: XCTestCase {
    private var saved: PrefillPathSetting?

    override func setUp() {
        super.setUp()
        saved = PrefillPathSetting.processDefault
        PrefillPathSetting.processDefault = .forced(.float)
    }

    override func tearDown() {
        if let saved { PrefillPathSetting.processDefault = saved }
        super.tearDown()
    }
}
