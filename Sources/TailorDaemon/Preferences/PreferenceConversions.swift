import TailorStore
import TailorWire

/// Wire forms ⇄ stored forms of preference records. Unknown enum names (a pair's source, a
/// feedback outcome) are refused here with the field named, before the store sees the record.
extension HistoryItem {
    /// The stored item for a wire item; an empty source means "api".
    init(_ w: Preferences.HistoryItem) {
        self.init(
            id: w.id, task: w.task, input: w.input, output: w.output, source: w.source.isEmpty ? "api" : w.source,
            metadata: w.metadataJSON)
    }

    /// The wire form.
    var wire: Preferences.HistoryItem {
        Preferences.HistoryItem(
            id: id, task: task, input: input, output: output, source: source, metadataJSON: metadata)
    }
}

extension PreferencePair {
    /// The stored pair for a wire pair; an empty source means "explicit".
    /// - Throws: INVALID_ARGUMENT naming `field`.source for an unknown source.
    init(_ w: Preferences.Pair, field: String) throws {
        guard let source = w.source.isEmpty ? .explicit : Source(rawValue: w.source) else {
            throw RPCError.invalidArgument(
                field + ".source",
                "\(field): source must be explicit, synthetic or feedback, not '\(w.source.prefix(32))'")
        }
        self.init(id: w.id, task: w.task, prompt: w.prompt, chosen: w.chosen, rejected: w.rejected, source: source)
    }

    /// The wire form.
    var wire: Preferences.Pair {
        Preferences.Pair(
            id: id, task: task, prompt: prompt, chosen: chosen, rejected: rejected, source: source.rawValue)
    }
}

extension FeedbackEvent {
    /// The stored event for a wire event.
    /// - Throws: INVALID_ARGUMENT naming `field`.outcome for an unknown outcome.
    init(_ w: Preferences.Feedback, field: String) throws {
        guard let outcome = Outcome(rawValue: w.outcome) else {
            throw RPCError.invalidArgument(
                field + ".outcome",
                "\(field): outcome must be accepted, edited or rejected, not '\(w.outcome.prefix(32))'")
        }
        self.init(
            requestID: w.requestID, task: w.task, prompt: w.prompt, shown: w.shown, kept: w.kept, outcome: outcome,
            adapters: w.adapters, mode: w.mode)
    }

    /// The wire form.
    var wire: Preferences.Feedback {
        Preferences.Feedback(
            requestID: requestID, task: task, prompt: prompt, shown: shown, kept: kept, outcome: outcome.rawValue,
            adapters: adapters, mode: mode)
    }
}

extension WriteCounts {
    /// The wire form.
    var wire: Preferences.WriteResult {
        Preferences.WriteResult(
            history: UInt64(history), pairs: UInt64(pairs), feedback: UInt64(feedback), skipped: UInt64(skipped))
    }
}
