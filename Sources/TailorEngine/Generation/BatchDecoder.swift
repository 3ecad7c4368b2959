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
        public init(prompt: [Int32], sampling: SamplingParameters = .init(), options: GenerationOptions = .init(),
                    adapters: [AdapterUse] = [], contrast: Contrast? = nil) {
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

    private struct Slot {
        var state: DecodingState
        var pending: [Int32]        // tokens not yet evaluated: the prompt's rest, or the last sampled token
        var prefilling: Bool
        var adapters: [AdapterUse]
        /// CoPe: the slot holding the base row, the base adapters, and the rule.
        var partner: Int?
        var base: [AdapterUse] = []
        var selector: ContrastiveSelector?
        /// This slot is another slot's base row: it runs only with its leader.
        var isShadow = false
    }

    /// What a free slot's KV-cache row still holds from its last generation: the tokens evaluated
    /// into it and the adapters they were evaluated with. A new job whose prompt starts with
    /// those tokens, under the same adapters, reuses that prefix instead of prefilling it (the
    /// prompt cache: editors re-send mostly the same prefix).
    private struct CachedRow {
        var tokens: [Int32]
        var adapters: [AdapterIdentity]
    }

    /// An adapter use by identity (the same loaded adapter at the same weight).
    private struct AdapterIdentity: Equatable {
        var adapter: ObjectIdentifier
        var weight: Float
        init(_ use: AdapterUse) {
            adapter = ObjectIdentifier(use.adapter)
            weight = use.weight
        }
    }

    /// The context whose sequences are the slots.
    public let context: InferenceContext
    /// Prompt tokens a slot may prefill in one step while other slots are decoding.
    public var prefillChunkWhileDecoding: Int
    private var slots: [Slot?]
    private var nextPrefill = 0
    private var evaluated: [[Int32]]            // per slot: tokens in its KV-cache row
    private var rowAdapters: [[AdapterIdentity]] // per slot: the adapters they were evaluated with
    /// Prompt tokens each slot's current job took from the cache instead of prefilling.
    public private(set) var reusedPrefix: [Int]

    /// A decoder with one slot per sequence of `context`.
    public init(context: InferenceContext, prefillChunkWhileDecoding: Int = 64) {
        self.context = context
        self.prefillChunkWhileDecoding = max(1, prefillChunkWhileDecoding)
        slots = Array(repeating: nil, count: context.maxSequences)
        evaluated = Array(repeating: [], count: context.maxSequences)
        rowAdapters = Array(repeating: [], count: context.maxSequences)
        reusedPrefix = Array(repeating: 0, count: context.maxSequences)
    }

    /// The free slot whose cached row shares the longest prefix with `prompt` under `adapters`
    /// (at most prompt.count − 1 tokens: the last must be evaluated for its logits), or the
    /// first free slot with no reuse.
    private func pickSlot(_ prompt: [Int32], _ adapters: [AdapterUse], excluding: Int? = nil) -> (slot: Int, reuse: Int)? {
        let ids = adapters.map(AdapterIdentity.init)
        var best: (slot: Int, reuse: Int)?
        for i in slots.indices where slots[i] == nil && i != excluding {
            var n = 0
            if rowAdapters[i] == ids {
                let cached = evaluated[i], limit = min(cached.count, prompt.count - 1)
                while n < limit && cached[n] == prompt[n] { n += 1 }
            }
            if best == nil || n > best!.reuse { best = (i, n) }
        }
        return best
    }

    /// Prepares `slot`'s row for a job: keeps `reuse` cached tokens, forgets the rest.
    private func prepare(_ slot: Int, reuse: Int, adapters: [AdapterUse]) {
        context.cache.truncate(sequence: slot, to: reuse)
        evaluated[slot] = Array(evaluated[slot].prefix(reuse))
        rowAdapters[slot] = adapters.map(AdapterIdentity.init)
        reusedPrefix[slot] = reuse
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
        for t in job.prompt where t < 0 || Int(t) >= config.vocabSize { throw EngineError.invalidToken(id: t, vocabSize: config.vocabSize) }
        for use in job.adapters + (job.contrast?.base ?? []) {
            guard use.adapter.maxRank <= context.maxLoRARank else {
                throw EngineError.adapterMismatch("adapter '\(use.adapter.name)' has rank \(use.adapter.maxRank); this context allows \(context.maxLoRARank)")
            }
            try use.adapter.validate(for: config)
        }
        let state = try DecodingState(prompt: job.prompt, sampling: job.sampling, options: job.options,
                                      tokenizer: context.model.tokenizer)
        let selector = try job.contrast.map { try ContrastiveSelector($0.parameters, tokenizer: context.model.tokenizer) }
        // A CoPe pair prefills both rows together, so both reuse the same (shorter) prefix.
        let shared = min(reuse, partner?.reuse ?? reuse)
        prepare(slot, reuse: shared, adapters: job.adapters)
        slots[slot] = Slot(state: state, pending: Array(job.prompt[shared...]), prefilling: true, adapters: job.adapters, partner: partner?.slot,
                           base: job.contrast?.base ?? [], selector: selector)
        if let partner, let contrast = job.contrast {
            prepare(partner.slot, reuse: shared, adapters: contrast.base)
            slots[partner.slot] = Slot(state: state, pending: [], prefilling: true, adapters: contrast.base, isShadow: true)
        }
        return slot
    }

    /// Ends the generation in `slot` now (a cancelled request); the slot is free afterwards.
    public func remove(slot: Int) {
        guard slot >= 0 && slot < slots.count else { return }
        for s in [slots[slot]?.partner, slot].compactMap({ $0 }) {
            slots[s] = nil
            context.reset(sequence: s)
            evaluated[s] = []
            rowAdapters[s] = []
        }
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
        var shadowRows: [Int: Int] = [:]    // leader slot -> its base row's item index
        func addShadow(of leader: Int, tokens: [Int32]) {
            guard let p = slots[leader]?.partner, let shadow = slots[p] else { return }
            shadowRows[leader] = items.count
            items.append(BatchItem(sequence: p, tokens: tokens, adapters: shadow.adapters))
            budget -= tokens.count
        }
        for (i, s) in slots.enumerated() {
            guard let s, !s.isShadow, !s.prefilling, budget >= s.pending.count * (s.partner == nil ? 1 : 2) else { continue }
            items.append(BatchItem(sequence: i, tokens: s.pending, adapters: s.adapters))
            itemSlots.append(i)
            completes.append(true)
            budget -= s.pending.count
            addShadow(of: i, tokens: s.pending)
            decoding = true
        }
        // Prefills in turn, starting after the slot that prefilled last, so no prompt starves.
        let n = slots.count, first = nextPrefill
        for k in 0..<n where budget > 0 {
            let i = (first + k) % n
            guard let s = slots[i], !s.isShadow, s.prefilling else { continue }
            let rows = s.partner == nil ? 1 : 2
            let take = min(s.pending.count, budget / rows, decoding ? prefillChunkWhileDecoding : budget)
            guard take > 0 else { continue }
            let part = Array(s.pending.prefix(take))
            items.append(BatchItem(sequence: i, tokens: part, adapters: s.adapters))
            itemSlots.append(i)
            completes.append(take == s.pending.count)
            budget -= take
            addShadow(of: i, tokens: part)
            nextPrefill = (i + 1) % n
        }
        guard !items.isEmpty else { return [] }
        do {
            try context.forward(items)
        } catch {
            for it in items { evaluated[it.sequence] = []; rowAdapters[it.sequence] = []; context.reset(sequence: it.sequence) }
            throw error
        }
        for it in items { evaluated[it.sequence] += it.tokens }

        // Logit rows come out item by item, one per item (no item asks for all logits).
        var events: [Event] = []
        let itemIndex = Dictionary(uniqueKeysWithValues: items.enumerated().map { ($1.sequence, $0) })
        for (k, i) in itemSlots.enumerated() {
            guard var s = slots[i], let row = itemIndex[i] else { continue }
            s.pending.removeFirst(items[row].tokens.count)
            guard completes[k] else { slots[i] = s; continue }
            s.prefilling = false
            let full = context.length(of: i) >= context.maxContext
            var event: Event
            if var selector = s.selector, let baseRow = shadowRows[i] {
                let choice = selector.choose(user: context.logits(row: row), base: context.logits(row: baseRow), history: s.state.tokens)
                s.selector = selector
                event = Event(slot: i, step: s.state.advance(token: choice.token, logprob: choice.logProbUser, contextFull: full))
                if case .token = event.step { event.choice = choice }
            } else {
                event = Event(slot: i, step: s.state.step(logits: context.logits(row: row), contextFull: full))
            }
            let step = event.step
            if event.finished {
                if let p = s.partner { slots[p] = nil }
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
