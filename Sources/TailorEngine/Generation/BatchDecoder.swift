/// Continuous batching: independent generations share one `InferenceContext`, one sequence
/// (slot) each, and advance together, one forward call per step.
///
/// Every weight is read once per step for all slots, so serving several clients costs little
/// more than serving one (a two-row decode step costs 1.24× a one-row step, BENCHMARKS.md).
/// Slots that are decoding get their next token in every step; prompts are prefilled in chunks
/// alongside them, smaller chunks while others decode, so a long prompt does not stall the
/// streams already running. Which request gets a slot, and when, is the caller's policy.
///
/// Not thread-safe: one thread drives a decoder (the daemon's generation worker).
public final class BatchDecoder {
    /// One generation to run.
    public struct Job: Sendable {
        /// Prompt tokens, at least one.
        public var prompt: [Int32]
        /// How to pick tokens.
        public var sampling: SamplingParameters
        /// Limits and stop strings; `maxTokens` must be at least 1.
        public var options: GenerationOptions
        /// Adapters applied to this slot's rows.
        public var adapters: [AdapterUse]

        /// A job generating from `prompt`.
        public init(prompt: [Int32], sampling: SamplingParameters = .init(), options: GenerationOptions = .init(),
                    adapters: [AdapterUse] = []) {
            self.prompt = prompt
            self.sampling = sampling
            self.options = options
            self.adapters = adapters
        }
    }

    /// What a step produced for one slot.
    public struct Event {
        /// The slot, as `admit` returned it.
        public var slot: Int
        /// The token or the end.
        public var step: DecodingStep
        /// Whether the slot is now free (its generation finished).
        public var finished: Bool {
            switch step {
            case .end: return true
            case let .token(_, finish): return finish != nil
            }
        }
    }

    private struct Slot {
        var state: DecodingState
        var pending: [Int32]        // tokens not yet evaluated: the prompt's rest, or the last sampled token
        var prefilling: Bool
        var adapters: [AdapterUse]
    }

    /// The context whose sequences are the slots.
    public let context: InferenceContext
    /// Prompt tokens a slot may prefill in one step while other slots are decoding.
    public var prefillChunkWhileDecoding: Int
    private var slots: [Slot?]
    private var nextPrefill = 0

    /// A decoder with one slot per sequence of `context`.
    public init(context: InferenceContext, prefillChunkWhileDecoding: Int = 64) {
        self.context = context
        self.prefillChunkWhileDecoding = max(1, prefillChunkWhileDecoding)
        slots = Array(repeating: nil, count: context.maxSequences)
    }

    /// Slots without a generation.
    public var freeSlots: Int { slots.reduce(0) { $0 + ($1 == nil ? 1 : 0) } }
    /// Slots with a generation.
    public var activeSlots: Int { slots.count - freeSlots }

    /// Starts `job` in a free slot and returns the slot.
    /// - Throws: `EngineError` for an empty or too long prompt, no free slot, or an adapter that
    ///   does not fit; `SamplingError` for bad sampling parameters. Nothing changes on error.
    public func admit(_ job: Job) throws -> Int {
        guard !job.prompt.isEmpty else { throw EngineError.emptyInput }
        guard job.options.maxTokens >= 1 else { throw EngineError.invalidRequest("maxTokens must be at least 1") }
        guard let slot = slots.firstIndex(where: { $0 == nil }) else { throw EngineError.noFreeSlot }
        guard job.prompt.count <= context.maxContext else {
            throw EngineError.contextFull(sequence: slot, needed: job.prompt.count, capacity: context.maxContext)
        }
        let config = context.model.config
        for t in job.prompt where t < 0 || Int(t) >= config.vocabSize { throw EngineError.invalidToken(id: t, vocabSize: config.vocabSize) }
        for use in job.adapters {
            guard use.adapter.maxRank <= context.maxLoRARank else {
                throw EngineError.adapterMismatch("adapter '\(use.adapter.name)' has rank \(use.adapter.maxRank); this context allows \(context.maxLoRARank)")
            }
            try use.adapter.validate(for: config)
        }
        let state = try DecodingState(prompt: job.prompt, sampling: job.sampling, options: job.options,
                                      tokenizer: context.model.tokenizer)
        context.reset(sequence: slot)
        slots[slot] = Slot(state: state, pending: job.prompt, prefilling: true, adapters: job.adapters)
        return slot
    }

    /// Ends the generation in `slot` now (a cancelled request); the slot is free afterwards.
    public func remove(slot: Int) {
        guard slot >= 0 && slot < slots.count else { return }
        slots[slot] = nil
        context.reset(sequence: slot)
    }

    /// Runs one forward call over every active slot and returns what each produced: a token
    /// for each decoding slot and for each slot whose prompt finished prefilling.
    /// Returns no events when no slot is active.
    /// - Throws: `EngineError` from the forward call; the caller should then end every slot.
    public func step() throws -> [Event] {
        var items: [BatchItem] = []
        var itemSlots: [Int] = []
        var completes: [Bool] = []
        var budget = context.maxBatchTokens
        var decoding = false
        for (i, s) in slots.enumerated() {
            guard let s, !s.prefilling, budget > 0 else { continue }
            items.append(BatchItem(sequence: i, tokens: s.pending, adapters: s.adapters))
            itemSlots.append(i)
            completes.append(true)
            budget -= s.pending.count
            decoding = true
        }
        // Prefills in turn, starting after the slot that prefilled last, so no prompt starves.
        let n = slots.count, first = nextPrefill
        for k in 0..<n where budget > 0 {
            let i = (first + k) % n
            guard let s = slots[i], s.prefilling else { continue }
            let take = min(s.pending.count, budget, decoding ? prefillChunkWhileDecoding : budget)
            items.append(BatchItem(sequence: i, tokens: Array(s.pending.prefix(take)), adapters: s.adapters))
            itemSlots.append(i)
            completes.append(take == s.pending.count)
            budget -= take
            nextPrefill = (i + 1) % n
        }
        guard !items.isEmpty else { return [] }
        try context.forward(items)

        var events: [Event] = []
        for (row, i) in itemSlots.enumerated() {
            guard var s = slots[i] else { continue }
            s.pending.removeFirst(items[row].tokens.count)
            guard completes[row] else { slots[i] = s; continue }
            s.prefilling = false
            let full = context.length(of: i) >= context.maxContext
            let step = s.state.step(logits: context.logits(row: row), contextFull: full)
            let event = Event(slot: i, step: step)
            if event.finished {
                slots[i] = nil
            } else {
                if case let .token(token, _) = step { s.pending = [token.id] }
                slots[i] = s
            }
            events.append(event)
        }
        return events
    }
}
