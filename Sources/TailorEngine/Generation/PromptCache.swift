/// The prompt cache of a `BatchDecoder`: what each slot's KV-cache row still holds, the tokens
/// evaluated into it and the adapters they were evaluated with. A new job whose prompt starts
/// with a free row's tokens, under the same adapters, reuses that prefix instead of prefilling
/// it (editors re-send mostly the same prefix). It keeps the bookkeeping; the decoder cuts the
/// KV cache to match.
struct PromptCache {
    /// One row's contents.
    private struct Row {
        var tokens: [Int32] = []
        var adapters: [AdapterIdentity] = []
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

    private var rows: [Row]
    /// Prompt tokens each slot's current job took from the cache instead of prefilling.
    private(set) var reusedPrefix: [Int]

    init(slots: Int) {
        rows = Array(repeating: Row(), count: slots)
        reusedPrefix = Array(repeating: 0, count: slots)
    }

    /// The slot among `free` whose row shares the longest prefix with `prompt` under
    /// `adapters` (at most prompt.count − 1 tokens: the last must be evaluated for its
    /// logits), or the first of them with no reuse; nil when none is free.
    func pick(_ prompt: [Int32], _ adapters: [AdapterUse], among free: [Int]) -> (slot: Int, reuse: Int)? {
        let ids = adapters.map(AdapterIdentity.init)
        var best: (slot: Int, reuse: Int)?
        for i in free {
            var n = 0
            if rows[i].adapters == ids {
                let cached = rows[i].tokens, limit = min(cached.count, prompt.count - 1)
                while n < limit && cached[n] == prompt[n] { n += 1 }
            }
            if best == nil || n > best!.reuse { best = (i, n) }
        }
        return best
    }

    /// Slot `slot` starts a job under `adapters`, keeping the first `reuse` tokens of its row.
    mutating func start(_ slot: Int, reuse: Int, adapters: [AdapterUse]) {
        rows[slot].tokens.removeSubrange(reuse...)
        rows[slot].adapters = adapters.map(AdapterIdentity.init)
        reusedPrefix[slot] = reuse
    }

    /// `tokens` were evaluated into `slot`'s row.
    mutating func append(_ tokens: [Int32], to slot: Int) {
        rows[slot].tokens += tokens
    }

    /// `slot`'s row was reset: nothing to reuse.
    mutating func forget(_ slot: Int) {
        rows[slot] = Row()
    }
}
