import Foundation
import TailorEval
import TailorStore
import TailorTraining

/// What an autopilot job adds to a cope job: the user's newest items, held back from
/// training to judge the candidate, and the rule that judges it. Stored in the job's spec, so
/// a job resumed after a crash holds back and judges exactly the same.
public struct AutopilotPlan: Codable, Sendable, Equatable {
    /// One held-back item: a history item's id or a pair's.
    public struct Item: Codable, Sendable, Hashable {
        public var kind: OwnItem.Kind
        public var id: String

        public init(kind: OwnItem.Kind, id: String) {
            self.kind = kind
            self.id = id
        }
    }

    /// The items held back, newest first.
    public var holdout: [Item]
    /// The rule.
    public var gate: PromotionGate
    /// Longest answer generated per held-back item.
    public var maxNewTokens: Int

    public init(holdout: [Item], gate: PromotionGate, maxNewTokens: Int = 48) {
        self.holdout = holdout
        self.gate = gate
        self.maxNewTokens = maxNewTokens
    }

    /// History ids held back.
    public var historyIDs: Set<String> { Set(holdout.filter { $0.kind == .history }.map(\.id)) }

    /// Pair ids kept out of DPO: held-back pairs, and the synthetic negatives of held-back
    /// history items (made in an earlier round, they carry the held-back real output).
    public var pairIDs: Set<String> {
        Set(holdout.map { $0.kind == .pair ? $0.id : "negative:" + $0.id })
    }
}

/// The autopilot's promotion rule: a candidate replaces what serves now unless it is worse,
/// on the user's held-back items, by more than a margin on either measure. Two measures,
/// because each alone misleads on a handful of items: ROUGE-L of the `cope` output is what
/// the user sees but moves in big steps; the log-likelihood of what the user really wrote is
/// smooth and catches a wrecked adapter even when both write nothing alike.
public struct PromotionGate: Codable, Sendable, Equatable {
    /// Largest drop of mean ROUGE-L F1 tolerated (absolute).
    public var margin: Double
    /// Largest drop of mean per-token log-likelihood tolerated, in nats.
    public var logLikelihoodMargin: Double

    public init(margin: Double = 0.02, logLikelihoodMargin: Double = 0.1) {
        self.margin = margin
        self.logLikelihoodMargin = logLikelihoodMargin
    }

    /// The scores of `outcome` against `references` (the real outputs, same order).
    public static func scores(_ outcome: HoldoutScorer.Outcome, references: [String]) -> HoldoutScores {
        let rouge = zip(outcome.texts, references).map {
            Rouge.score(prediction: $0, reference: $1).rougeL.fmeasure
        }
        let likelihoods = outcome.logLikelihoods.compactMap { $0 }
        return HoldoutScores(
            rougeL: rouge.isEmpty ? 0 : rouge.reduce(0, +) / Double(rouge.count),
            logLikelihood: likelihoods.isEmpty ? 0 : likelihoods.reduce(0, +) / Double(likelihoods.count))
    }

    /// Whether `candidate` may replace `current`, and why, with the numbers.
    public func decide(candidate: HoldoutScores, current: HoldoutScores) -> (promote: Bool, reason: String) {
        func f(_ x: Double) -> String { String(format: "%.3f", x) }
        let rouge = "ROUGE-L \(f(candidate.rougeL)) vs \(f(current.rougeL))"
        let likelihood = "log-likelihood \(f(candidate.logLikelihood)) vs \(f(current.logLikelihood)) per token"
        if candidate.rougeL < current.rougeL - margin {
            return (false, "\(rouge): worse by more than the margin \(f(margin)); \(likelihood)")
        }
        if candidate.logLikelihood < current.logLikelihood - logLikelihoodMargin {
            return (false, "\(likelihood): worse by more than the margin \(f(logLikelihoodMargin)); \(rouge)")
        }
        return (true, "\(rouge), \(likelihood): not worse beyond the margins")
    }

    /// Whether a version keeps CoPe's contrast in `cope` mode, judged like a promotion: the
    /// contrasted output (CoPe, the method) stays unless its ROUGE-L on the held-back items
    /// falls below the same version decoded plainly by more than `margin`. Log-likelihood
    /// does not enter: it is the same model's under both decodings.
    public func decideContrast(contrasted: HoldoutScores, plain: HoldoutScores) -> (keep: Bool, reason: String) {
        let scores = String(format: "ROUGE-L %.3f with it vs %.3f without", contrasted.rougeL, plain.rougeL)
        if contrasted.rougeL < plain.rougeL - margin {
            return (false, "cope mode drops the contrast (\(scores): worse by more than the margin)")
        }
        return (true, "cope mode keeps the contrast (\(scores))")
    }
}
