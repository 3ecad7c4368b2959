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
    public var textPreference: TextPreference { TextPreference(prompt: prompt, chosen: chosen, rejected: rejected) }
}
