import Foundation
import TailorStore
import TailorTraining
import XCTest

@testable import TailorJobs

/// The autopilot's promotion rule on numbers, and the scores it is given: mean ROUGE-L as
/// rouge_score computes it, mean per-token log-likelihood, outputs with no tokens skipped.
final class PromotionGateTests: XCTestCase {
    func testACandidateWorseBeyondEitherMarginIsRefused() {
        let gate = PromotionGate(margin: 0.02, logLikelihoodMargin: 0.1)
        let current = HoldoutScores(rougeL: 0.30, logLikelihood: -2.0)
        XCTAssertTrue(gate.decide(candidate: current, current: current).promote, "equal is not worse")
        XCTAssertTrue(gate.decide(candidate: .init(rougeL: 0.29, logLikelihood: -2.05), current: current).promote)
        let rouge = gate.decide(candidate: .init(rougeL: 0.27, logLikelihood: -1.0), current: current)
        XCTAssertFalse(rouge.promote)
        XCTAssertEqual(
            rouge.reason,
            "ROUGE-L 0.270 vs 0.300: worse by more than the margin 0.020; log-likelihood -1.000 vs -2.000 per token")
        let likelihood = gate.decide(candidate: .init(rougeL: 0.5, logLikelihood: -2.2), current: current)
        XCTAssertFalse(likelihood.promote)
        XCTAssertTrue(
            likelihood.reason.hasPrefix("log-likelihood -2.200 vs -2.000 per token: worse"), likelihood.reason)
    }

    /// CoPe's contrast stays unless it loses to plain decoding of the same version by more
    /// than the margin; the likelihood, the same model's either way, does not count.
    func testTheContrastIsDroppedOnlyWhenItLosesBeyondTheMargin() {
        let gate = PromotionGate(margin: 0.02, logLikelihoodMargin: 0.1)
        let plain = HoldoutScores(rougeL: 0.30, logLikelihood: -2.0)
        XCTAssertTrue(gate.decideContrast(contrasted: plain, plain: plain).keep, "a tie keeps the method")
        XCTAssertTrue(gate.decideContrast(contrasted: .init(rougeL: 0.29, logLikelihood: -9), plain: plain).keep)
        let lost = gate.decideContrast(contrasted: .init(rougeL: 0.25, logLikelihood: -2.0), plain: plain)
        XCTAssertFalse(lost.keep)
        XCTAssertEqual(
            lost.reason,
            "cope mode drops the contrast (ROUGE-L 0.250 with it vs 0.300 without: worse by more than the margin)")
        XCTAssertEqual(
            gate.decideContrast(contrasted: .init(rougeL: 0.4, logLikelihood: -2.0), plain: plain).reason,
            "cope mode keeps the contrast (ROUGE-L 0.400 with it vs 0.300 without)")
    }

    func testScoresAverageOverItems() {
        let outcome = HoldoutScorer.Outcome(
            texts: ["fix the parser", "nothing alike"], logLikelihoods: [-1.0, nil])
        let s = PromotionGate.scores(outcome, references: ["fix the parser", "update docs"])
        XCTAssertEqual(s.rougeL, 0.5, accuracy: 1e-12)
        XCTAssertEqual(s.logLikelihood, -1.0, "an output with no tokens has no likelihood to average")
    }

    func testAPlanKeepsHeldBackItemsAndTheirNegativesOutOfTraining() {
        let plan = AutopilotPlan(
            holdout: [.init(kind: .history, id: "h9"), .init(kind: .pair, id: "feedback:r3")], gate: PromotionGate())
        XCTAssertEqual(plan.historyIDs, ["h9"])
        XCTAssertEqual(plan.pairIDs, ["negative:h9", "feedback:r3"])
    }
}
