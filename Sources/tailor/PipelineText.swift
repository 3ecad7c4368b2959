import TailorStore
import TailorTraining

// The store's records as the pipeline trains on them (the store does not know the pipeline,
// nor the pipeline the store; tailord maps them the same way in TrainingJob.swift).

extension HistoryItem {
    var textExample: TextExample { TextExample(input: input, output: output) }
}

extension PreferencePair {
    var textPreference: TextPreference { TextPreference(prompt: prompt, chosen: chosen, rejected: rejected) }
}
