import Foundation

/// A mixture-of-experts block's routing of a batch: which experts each row runs through, with
/// what weights, and the rows grouped by expert so that each expert's matrices are read once
/// for all the rows that chose it.
///
/// The buffers are the caller's, planned once (nothing is allocated per call). A "slot" is
/// one (row, choice) pair, numbered row · used + choice.
package struct ExpertRouting {
    /// Experts each row chooses.
    package let used: Int
    /// Experts in the block.
    package let experts: Int
    /// rows × used: the chosen experts of each row, by falling router probability.
    package let expert: UnsafeMutablePointer<Int32>
    /// rows × used: their weights, the chosen probabilities renormalized to sum to 1.
    package let weight: UnsafeMutablePointer<Float>
    /// experts + 1: expert e's slots are `order[start[e]..<start[e + 1]]`.
    package let start: UnsafeMutablePointer<Int>
    /// rows × used: slot numbers grouped by expert, rows ascending within each group.
    package let order: UnsafeMutablePointer<Int32>

    package init(
        used: Int, experts: Int, expert: UnsafeMutablePointer<Int32>, weight: UnsafeMutablePointer<Float>,
        start: UnsafeMutablePointer<Int>, order: UnsafeMutablePointer<Int32>
    ) {
        self.used = used
        self.experts = experts
        self.expert = expert
        self.weight = weight
        self.start = start
        self.order = order
    }

    /// Routing buffers for `rows` rows of a model (one slot in a dense model), each taken from
    /// `bytes`, the owner's zeroed allocator (freed with the owner).
    package init(config c: ModelConfig, rows: Int, bytes: (Int) -> UnsafeMutableRawPointer) {
        let slots = c.isMixtureOfExperts ? rows * c.expertsUsed : 1
        self.init(
            used: c.expertsUsed, experts: c.expertCount,
            expert: bytes(slots * 4).assumingMemoryBound(to: Int32.self),
            weight: bytes(slots * 4).assumingMemoryBound(to: Float.self),
            start: bytes((c.expertCount + 1) * MemoryLayout<Int>.size).assumingMemoryBound(to: Int.self),
            order: bytes(slots * 4).assumingMemoryBound(to: Int32.self))
    }

    /// Routes `rows` rows from their router logits (rows × experts): each row's `used` experts
    /// of highest logit (ties to the lower index), weighted by softmax over the chosen logits,
    /// which equals the full softmax's probabilities renormalized over them (Qwen3-MoE's
    /// `norm_topk_prob`, llama.cpp's `norm_w`).
    package func route(logits: UnsafePointer<Float>, rows: Int) {
        let k = used, e = experts
        for r in 0..<rows {
            let row = logits + r * e, chosen = expert + r * k, w = weight + r * k
            for j in 0..<k {
                var best = -1
                for x in 0..<e where !(0..<j).contains(where: { chosen[$0] == Int32(x) }) {
                    if best < 0 || row[x] > row[best] { best = x }
                }
                chosen[j] = Int32(best)
            }
            let top = row[Int(chosen[0])]
            var sum: Float = 0
            for j in 0..<k {
                w[j] = exp(row[Int(chosen[j])] - top)
                sum += w[j]
            }
            for j in 0..<k { w[j] /= sum }
        }
        start.update(repeating: 0, count: e + 1)
        for s in 0..<(rows * k) { start[Int(expert[s]) + 1] += 1 }
        for x in 0..<e { start[x + 1] += start[x] }
        // Fill each group from its start, then shift the starts back (a counting sort).
        for s in 0..<(rows * k) {
            let x = Int(expert[s])
            order[start[x]] = Int32(s)
            start[x] += 1
        }
        for x in stride(from: e, to: 0, by: -1) { start[x] = start[x - 1] }
        start[0] = 0
    }

    /// The slots expert `x` serves.
    package func slots(of x: Int) -> Range<Int> { start[x]..<start[x + 1] }

    /// The row (of `width` values in `x`) of each of expert `e`'s slots, gathered in slot order
    /// into `out`.
    package func gather(
        _ x: UnsafePointer<Float>, width: Int, expert e: Int, into out: UnsafeMutablePointer<Float>
    ) {
        for (i, s) in slots(of: e).enumerated() {
            (out + i * width).update(from: x + Int(order[s]) / used * width, count: width)
        }
    }

    /// Adds each of expert `e`'s rows of `rows` (slot order, `width` values) back into its row
    /// of `y`: at the slot's routing weight, or as is when `weighted` is false (a gradient).
    package func addBack(
        _ rows: UnsafePointer<Float>, width: Int, expert e: Int, into y: UnsafeMutablePointer<Float>,
        weighted: Bool
    ) {
        for (i, s) in slots(of: e).enumerated() {
            let slot = Int(order[s])
            VectorOps.addScaled(y + slot / used * width, rows + i * width, weighted ? weight[slot] : 1, count: width)
        }
    }
}
