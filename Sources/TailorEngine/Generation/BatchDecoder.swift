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
        /// CoPe decoding: contrast this job's model with `base` adapters in a second slot.
        public var contrast: Contrast?

        /// A job generating from `prompt`.
        public init(
            prompt: [Int32], sampling: SamplingParameters = .init(), options: GenerationOptions = .init(),
            adapters: [AdapterUse] = [], contrast: Contrast? = nil
        ) {
            self.prompt = prompt
            self.sampling = sampling
            self.options = options
            self.adapters = adapters
            self.contrast = contrast
        }
    }

    /// The second half of a CoPe job: the task model's adapters and the rule's parameters. The
    /// job then takes two slots (user row and base row) that advance in the same steps.
    public struct Contrast: Sendable {
        public var base: [AdapterUse]
        public var parameters: ContrastiveParameters

        /// A contrast against `base`.
        public init(base: [AdapterUse], parameters: ContrastiveParameters) {
            self.base = base
            self.parameters = parameters
        }
    }

    /// What a step produced for one slot.
    public struct Event {
        /// The slot, as `admit` returned it.
        public var slot: Int
        /// The token or the end.
        public var step: DecodingStep
        /// CoPe jobs: why the token was chosen.
        public var choice: ContrastiveChoice?
        /// Whether the slot is now free (its generation finished).
        public var finished: Bool {
            switch step {
            case .end: return true
            case let .token(_, finish): return finish != nil
            }
        }
    }

    /// A generation in progress on a slot's row.
    private struct Generation {
        var state: DecodingState
        /// Tokens not yet evaluated: the prompt's rest, or the last sampled token.
        var pending: [Int32]
        var prefilling = true
        var adapters: [AdapterUse]
    }

    /// What a slot is doing.
    private enum Slot {
        /// A generation decoded from its own row.
        case plain(Generation)
        /// A CoPe generation's user row; its base row is slot `partner`, fed the same tokens
        /// in the same steps, and `selector` picks each token from the two rows' logits.
        case leader(Generation, partner: Int, selector: ContrastiveSelector)
        /// A CoPe generation's base row, run only with its leader, under the base `adapters`.
        case shadow(leader: Int, adapters: [AdapterUse])

        /// The generation a slot drives; nil for a base row.
        var generation: Generation? {
            switch self {
            case let .plain(g), let .leader(g, _, _): return g
            case .shadow: return nil
            }
        }

        /// The same slot with its generation replaced.
        func with(_ g: Generation) -> Slot {
            switch self {
            case .plain: return .plain(g)
            case let .leader(_, partner, selector): return .leader(g, partner: partner, selector: selector)
            case .shadow: return self
            }
        }

        /// The base row's slot of a CoPe generation.
        var partner: Int? {
            if case let .leader(_, partner, _) = self { return partner }
            return nil
        }
    }

    /// The context whose sequences are the slots.
    public let context: InferenceContext
    /// Prompt tokens a slot may prefill in one step while other slots are decoding.
    public var prefillChunkWhileDecoding: Int
    private var slots: [Slot?]
    private var nextPrefill = 0
    private var cache: PromptCache
    /// Prompt tokens each slot's current job took from the cache instead of prefilling.
    public var reusedPrefix: [Int] { cache.reusedPrefix }
    /// The slots whose prompt advanced in the last `step`, with the prompt tokens they have
    /// left to evaluate (0: the prompt is done): what a client's progress bar shows.
    public private(set) var prefilled: [(slot: Int, remaining: Int)] = []

    /// A decoder with one slot per sequence of `context`.
    public init(context: InferenceContext, prefillChunkWhileDecoding: Int = 64) {
        self.context = context
        self.prefillChunkWhileDecoding = max(1, prefillChunkWhileDecoding)
        slots = Array(repeating: nil, count: context.maxSequences)
        cache = PromptCache(slots: context.maxSequences)
    }

    /// The free slot best placed to run `prompt` under `adapters` (see `PromptCache.pick`).
    private func pickSlot(
        _ prompt: [Int32], _ adapters: [AdapterUse], excluding: Int? = nil
    ) -> (slot: Int, reuse: Int)? {
        cache.pick(prompt, adapters, among: slots.indices.filter { slots[$0] == nil && $0 != excluding })
    }

    /// Prepares `slot`'s row for a job: keeps `reuse` cached tokens, forgets the rest.
    private func prepare(_ slot: Int, reuse: Int, adapters: [AdapterUse]) {
        context.cache.truncate(sequence: slot, to: reuse)
        cache.start(slot, reuse: reuse, adapters: adapters)
    }

    /// Slots without a generation.
    public var freeSlots: Int { slots.reduce(0) { $0 + ($1 == nil ? 1 : 0) } }
    /// Slots with a generation.
    public var activeSlots: Int { slots.count - freeSlots }

    /// Starts `job` in a free slot (two for a CoPe job) and returns the slot whose events it
    /// produces.
    /// - Throws: `EngineError` for an empty or too long prompt, no free slot, or an adapter that
    ///   does not fit; `SamplingError` for bad sampling parameters. Nothing changes on error.
    public func admit(_ job: Job) throws -> Int {
        guard !job.prompt.isEmpty else { throw EngineError.emptyInput }
        guard job.options.maxTokens >= 1 else { throw EngineError.invalidRequest("maxTokens must be at least 1") }
        guard let (slot, reuse) = pickSlot(job.prompt, job.adapters) else { throw EngineError.noFreeSlot }
        var partner: (slot: Int, reuse: Int)?
        if let contrast = job.contrast {
            guard let p = pickSlot(job.prompt, contrast.base, excluding: slot) else { throw EngineError.noFreeSlot }
            partner = p
        }
        guard job.prompt.count <= context.maxContext else {
            throw EngineError.contextFull(sequence: slot, needed: job.prompt.count, capacity: context.maxContext)
        }
        let config = context.model.config
        for t in job.prompt where t < 0 || Int(t) >= config.vocabSize {
            throw EngineError.invalidToken(id: t, vocabSize: config.vocabSize)
        }
        for use in job.adapters + (job.contrast?.base ?? []) {
            guard use.adapter.maxRank <= context.maxLoRARank else {
                throw EngineError.adapterMismatch(
                    """
                    adapter '\(use.adapter.name)' has rank \(use.adapter.maxRank); this context allows \
                    \(context.maxLoRARank)
                    """
                )
            }
            try use.adapter.validate(for: config)
        }
        let state = try DecodingState(
            prompt: job.prompt, sampling: job.sampling, options: job.options,
            tokenizer: context.model.tokenizer)
        let selector = try job.contrast.map {
            try ContrastiveSelector($0.parameters, tokenizer: context.model.tokenizer)
        }
        // A CoPe pair prefills both rows together, so both reuse the same (shorter) prefix.
        let shared = min(reuse, partner?.reuse ?? reuse)
        prepare(slot, reuse: shared, adapters: job.adapters)
        let generation = Generation(state: state, pending: Array(job.prompt[shared...]), adapters: job.adapters)
        if let partner, let contrast = job.contrast, let selector {
            prepare(partner.slot, reuse: shared, adapters: contrast.base)
            slots[slot] = .leader(generation, partner: partner.slot, selector: selector)
            slots[partner.slot] = .shadow(leader: slot, adapters: contrast.base)
        } else {
            slots[slot] = .plain(generation)
        }
        return slot
    }

    /// Ends the generation in `slot` now (a cancelled request); the slot is free afterwards.
    /// Its row keeps what was evaluated, prompt chunks included, for the prompt cache: an
    /// editor cancels its last request on every keystroke, and the next one shares its prefix.
    public func remove(slot: Int) {
        guard slot >= 0 && slot < slots.count else { return }
        if let partner = slots[slot]?.partner { slots[partner] = nil }
        slots[slot] = nil
    }

    /// The rows of one step: every decoding generation's next token, then prompt chunks, each
    /// CoPe generation's base row right after its user row.
    private struct StepBatch {
        /// A generation's row in the batch.
        struct Entry {
            var slot: Int
            /// Its item, and the item of its base row (CoPe); an item's index is its logit row.
            var item: Int
            var baseItem: Int?
            /// Whether the item ends the slot's pending tokens (a decoding token, or a prompt's
            /// last chunk), so that its logits pick a token.
            var completes: Bool
        }
        var items: [BatchItem] = []
        var entries: [Entry] = []
        var budget: Int
        var decoding = false
    }

    /// Runs one forward call over every active slot and returns what each produced: a token
    /// for each decoding slot and for each slot whose prompt finished prefilling.
    /// Returns no events when no slot is active.
    /// - Throws: `EngineError` from the forward call; the caller should then end every slot.
    public func step() throws -> [Event] {
        var batch = StepBatch(budget: context.maxBatchTokens)
        addDecodingRows(to: &batch)
        addPrefillChunks(to: &batch)
        prefilled.removeAll(keepingCapacity: true)
        guard !batch.items.isEmpty else { return [] }
        try forward(batch)
        return pickTokens(batch)
    }

    /// Adds `tokens` of slot `i` (and of its base row, for a CoPe generation).
    private func add(_ i: Int, _ g: Generation, tokens: [Int32], completes: Bool, to batch: inout StepBatch) {
        var entry = StepBatch.Entry(slot: i, item: batch.items.count, completes: completes)
        batch.items.append(BatchItem(sequence: i, tokens: tokens, adapters: g.adapters))
        batch.budget -= tokens.count
        if let p = slots[i]?.partner, case let .shadow(_, adapters)? = slots[p] {
            entry.baseItem = batch.items.count
            batch.items.append(BatchItem(sequence: p, tokens: tokens, adapters: adapters))
            batch.budget -= tokens.count
        }
        batch.entries.append(entry)
    }

    /// Every decoding generation's pending token, while the budget holds them.
    private func addDecodingRows(to batch: inout StepBatch) {
        for (i, slot) in slots.enumerated() {
            guard let slot, let g = slot.generation, !g.prefilling else { continue }
            guard batch.budget >= g.pending.count * (slot.partner == nil ? 1 : 2) else { continue }
            add(i, g, tokens: g.pending, completes: true, to: &batch)
            batch.decoding = true
        }
    }

    /// Prompt chunks in turn, starting after the slot that prefilled last, so no prompt
    /// starves; smaller chunks while others decode.
    private func addPrefillChunks(to batch: inout StepBatch) {
        let n = slots.count, first = nextPrefill
        for k in 0..<n where batch.budget > 0 {
            let i = (first + k) % n
            guard let slot = slots[i], let g = slot.generation, g.prefilling else { continue }
            let rows = slot.partner == nil ? 1 : 2
            let take = min(
                g.pending.count, batch.budget / rows, batch.decoding ? prefillChunkWhileDecoding : batch.budget)
            guard take > 0 else { continue }
            add(i, g, tokens: Array(g.pending.prefix(take)), completes: take == g.pending.count, to: &batch)
            nextPrefill = (i + 1) % n
        }
    }

    /// The forward call; on failure every row it touched is reset.
    private func forward(_ batch: StepBatch) throws {
        do {
            try context.forward(batch.items)
        } catch {
            for it in batch.items { cache.forget(it.sequence); context.reset(sequence: it.sequence) }
            throw error
        }
        for it in batch.items { cache.append(it.tokens, to: it.sequence) }
    }

    /// Each generation's logit row picks its next token (through the contrast, with the base
    /// row's logits, for a CoPe generation) once its pending tokens are all evaluated.
    private func pickTokens(_ batch: StepBatch) -> [Event] {
        var events: [Event] = []
        for entry in batch.entries {
            let i = entry.slot
            guard let slot = slots[i], var g = slot.generation else { continue }
            g.pending.removeFirst(batch.items[entry.item].tokens.count)
            if g.prefilling { prefilled.append((i, g.pending.count)) }
            guard entry.completes else { slots[i] = slot.with(g); continue }
            g.prefilling = false
            let full = context.length(of: i) >= context.maxContext
            var event: Event
            var next: Slot
            if case .leader(_, let partner, var selector) = slot, let baseItem = entry.baseItem {
                let state = g.state
                let choice = selector.choose(
                    user: context.logits(row: entry.item), base: context.logits(row: baseItem), history: state.tokens,
                    allowed: state.isConstrained ? { state.allows($0) } : nil)
                let top = g.state.topLogprobs(context.logits(row: entry.item))
                event = Event(
                    slot: i,
                    step: g.state.advance(token: choice.token, logprob: choice.logProbUser, top: top, contextFull: full)
                )
                if case .token = event.step { event.choice = choice }
                next = .leader(g, partner: partner, selector: selector)
            } else {
                event = Event(slot: i, step: g.state.step(logits: context.logits(row: entry.item), contextFull: full))
                next = slot.with(g)
            }
            if event.finished {
                if let p = slot.partner { slots[p] = nil }
                slots[i] = nil
            } else {
                if case let .token(token, _) = event.step {
                    g.pending = [token.id]
                    next = next.with(g)
                }
                slots[i] = next
            }
            events.append(event)
        }
        return events
    }
}
