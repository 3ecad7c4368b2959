import TailorEngine

/// A DPO pair as one sequence: the tokens both sequences share (the prompt, and any common
/// start of the completions), the chosen sequence's rest, then the rejected sequence's rest.
/// The rejected rows see the shared prefix and themselves, at the positions they have in their
/// own sequence, so every log-probability equals the one its sequence alone gives, while the
/// prompt is evaluated once and both completions share each weight read and one backward pass.
struct PackedPair: Equatable {
    /// Shared prefix, chosen rest, rejected rest.
    let tokens: [Int32]
    /// Length of the shared prefix.
    let shared: Int
    /// Where the rejected rest starts (the chosen sequence's length).
    let rejectedStart: Int
    /// The chosen completion's targets then the rejected one's, each with the row predicting it.
    let targetRows: [Int]
    let targets: [Int32]
    let chosenTargetCount: Int

    /// - Throws: `TrainingError.noTargets` when either sequence has no completion token.
    init(_ pair: PreferenceExample) throws {
        let c = pair.chosen, r = pair.rejected
        for e in [c, r] where e.targetStart < 1 || e.targetStart >= e.tokens.count { throw TrainingError.noTargets }
        var s = 0
        while s < min(c.tokens.count, r.tokens.count), c.tokens[s] == r.tokens[s] { s += 1 }
        shared = s
        rejectedStart = c.tokens.count
        tokens = c.tokens + r.tokens[s...]
        let gap = c.tokens.count - s
        // Target t of a sequence is predicted by its row t − 1; a rejected row past the
        // shared prefix sits `gap` rows further on in the packed sequence.
        let chosenRows = Array((c.targetStart - 1)..<(c.tokens.count - 1))
        let rejectedRows = ((r.targetStart - 1)..<(r.tokens.count - 1)).map { $0 < s ? $0 : $0 + gap }
        targetRows = chosenRows + rejectedRows
        targets = Array(c.tokens[c.targetStart...]) + Array(r.tokens[r.targetStart...])
        chosenTargetCount = chosenRows.count
    }

    /// Rows from `hiddenEnd` on do not see rows `hiddenStart..<hiddenEnd`; nil when the
    /// chosen sequence has no rows of its own (it is a prefix of the rejected one).
    var branch: (hiddenStart: Int, hiddenEnd: Int)? {
        shared < rejectedStart ? (shared, rejectedStart) : nil
    }
}

extension TrainingGraph {
    /// Whether `pair` fits this graph as one packed sequence (see `forward(pair:)`); false for
    /// a pair without completion tokens.
    public func fits(pair: PreferenceExample) -> Bool {
        (try? PackedPair(pair)).map(fits) ?? false
    }

    func fits(_ p: PackedPair) -> Bool { p.tokens.count <= maxTokens && p.targets.count <= maxTokens }

    /// The forward pass of a DPO pair as one sequence: the log-probabilities of the chosen
    /// and the rejected completion, each equal to `forward(tokens:targetStart:)` of its own
    /// sequence. `backward(chosenScale:rejectedScale:)` then gives both gradients in one pass.
    /// - Throws: `TrainingError.sequenceTooLong` when the pair does not `fit`, `noTargets`
    ///   when a sequence has no completion token.
    public func forward(
        pair: PreferenceExample, frozen: [AdapterUse] = [], trainable: TrainableLoRA?
    ) throws
        -> (chosen: [Float], rejected: [Float])
    {
        try forward(PackedPair(pair), frozen: frozen, trainable: trainable)
    }

    func forward(
        _ p: PackedPair, frozen: [AdapterUse], trainable: TrainableLoRA?
    ) throws -> (chosen: [Float], rejected: [Float]) {
        let logps = try run(
            tokens: p.tokens, targetRows: p.targetRows, targets: p.targets, chosenTargets: p.chosenTargetCount,
            branch: p.branch, frozen: frozen, trainable: trainable)
        return (Array(logps[..<p.chosenTargetCount]), Array(logps[p.chosenTargetCount...]))
    }
}
