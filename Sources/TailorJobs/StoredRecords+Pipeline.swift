import TailorStore
import TailorTraining

// The store's records as the pipeline trains on them. The store does not know the pipeline nor
// the pipeline the store; both job runners (tailord's jobs, the offline trainer and `tailor
// eval`) know both, and map through here.

extension HistoryItem {
    /// The item as the pipeline trains on it.
    public var textExample: TextExample { TextExample(input: input, output: output) }
}

extension PreferencePair {
    /// The pair as the pipeline trains on it.
    public var textPreference: TextPreference { textPreference(reference: nil) }

    /// The pair as the pipeline trains on it, with the reference scores kept for it.
    public func textPreference(reference: PairReference?) -> TextPreference {
        TextPreference(
            prompt: prompt, chosen: chosen, rejected: rejected,
            reference: reference.map { ReferenceScores(chosen: $0.chosen, rejected: $0.rejected) })
    }
}

extension PersonalizationPipeline.NegativeStage.Draw {
    /// The drawn pair as a store keeps it: `synthetic`, named `id`, with its reference scores
    /// (if any) kept under `basis`; nil when every sample equalled the real output. What the
    /// daemon's negatives stage, the offline run and `tailor eval` record alike.
    public func stored(id: String, task: String, basis: String) -> (pair: PreferencePair, reference: PairReference?)? {
        guard let p = pair else { return nil }
        return (
            PreferencePair(
                id: id, task: task, prompt: p.prompt, chosen: p.chosen, rejected: p.rejected, source: .synthetic),
            p.reference.map { PairReference(basis: basis, $0) }
        )
    }
}

extension PairReference {
    /// `scores`, kept under `basis`.
    public init(basis: String, _ scores: ReferenceScores) {
        self.init(basis: basis, chosen: scores.chosen, rejected: scores.rejected)
    }
}
