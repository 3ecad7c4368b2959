import Foundation

/// Chooses tokens from logits: repetition penalty and DRY, then greedy, or temperature with
/// top-k, top-p and min-p filtering. Holds its buffers, so sampling allocates nothing per token.
public struct Sampler: Sendable {
    /// The validated parameters in use.
    public let parameters: SamplingParameters
    private var rng: SeededGenerator
    private let dry: DRYPenalty?
    private var work: [Float] = []
    private var order: [Int32] = []
    private var probs: [Float] = []
    /// The last draw's final distribution (after truncation, renormalized), best first: what
    /// llama.cpp reports as post-sampling probabilities. Greedy: the argmax alone, at 1.
    public private(set) var lastDistribution: [(token: Int32, probability: Float)] = []
    /// Whether to keep `lastDistribution` (it costs a copy per token).
    public var recordsDistribution = false

    /// A sampler; throws `SamplingError` naming an out-of-range parameter.
    /// - Parameter tokenizer: the vocabulary, which DRY needs for its sequence breakers; without
    ///   it, enabled DRY parameters are an error.
    public init(_ parameters: SamplingParameters, tokenizer: Tokenizer? = nil) throws {
        try parameters.validate()
        self.parameters = parameters
        rng = SeededGenerator(seed: parameters.seed)
        dry = try DRYPenalty.make(parameters.dry, tokenizer: tokenizer)
    }

    /// Applies the repetition penalty to `logits` in place for tokens in `recent`.
    public static func penalize(_ logits: UnsafeMutableBufferPointer<Float>, recent: ArraySlice<Int32>, penalty: Float)
    {
        guard penalty != 1 else { return }
        // Each distinct token once. The window is short (tens of tokens), so a scan of the
        // tokens before it finds repeats without allocating a set on every sampled token.
        var i = recent.startIndex
        while i < recent.endIndex {
            let t = recent[i]
            if t >= 0 && Int(t) < logits.count && !recent[recent.startIndex..<i].contains(t) {
                let l = logits[Int(t)]
                logits[Int(t)] = l > 0 ? l / penalty : l * penalty
            }
            i += 1
        }
    }

    /// Index of the largest value (the first one on ties).
    public static func argmax(_ v: UnsafeBufferPointer<Float>) -> Int32 {
        var best = 0
        var bv = -Float.infinity
        for i in 0..<v.count where v[i] > bv { bv = v[i]; best = i }
        return Int32(best)
    }

    /// Adds each bias to its token's logit (ids outside the row are ignored).
    public static func bias(_ logits: UnsafeMutableBufferPointer<Float>, _ bias: [Int32: Float]) {
        for (t, b) in bias where t >= 0 && Int(t) < logits.count { logits[Int(t)] += b }
    }

    /// Picks the next token given `logits` and the tokens generated or read so far.
    public mutating func sample(_ logits: UnsafeBufferPointer<Float>, history: [Int32]) -> Int32 {
        let p = parameters
        if work.count != logits.count { work = Array(repeating: 0, count: logits.count) }
        work.withUnsafeMutableBufferPointer { w in
            _ = w.initialize(from: logits)
            Sampler.bias(w, p.logitBias)
            Sampler.penalize(w, recent: history.suffix(p.repetitionWindow), penalty: p.repetitionPenalty)
            dry?.apply(to: w, history: history)
        }
        if p.temperature == 0 {
            let best = work.withUnsafeBufferPointer { Sampler.argmax($0) }
            if recordsDistribution { lastDistribution = [(best, 1)] }
            return best
        }
        let n = work.count
        let k = p.topK > 0 ? min(p.topK, n) : n
        if k == n { return drawFromAll() }
        // Candidates sorted by logit, cut by top-k.
        if order.count != n { order = (0..<Int32(n)).map { $0 } } else { for i in 0..<n { order[i] = Int32(i) } }
        let w = work
        order.withUnsafeMutableBufferPointer { o in
            partialSort(o, k: k) { w[Int($0)] > w[Int($1)] }
        }
        // Softmax at temperature over the k candidates.
        let maxL = w[Int(order[0])]
        guard maxL > -.infinity else { return order[0] }  // every token banned
        if probs.count < k { probs = Array(repeating: 0, count: k) }
        var sum: Float = 0
        for i in 0..<k {
            let e = expf((w[Int(order[i])] - maxL) / p.temperature)
            probs[i] = e
            sum += e
        }
        for i in 0..<k { probs[i] /= sum }
        var keep = k
        if p.minP > 0 {
            let floor = probs[0] * p.minP
            while keep > 1 && probs[keep - 1] < floor { keep -= 1 }
        }
        if p.topP < 1 {
            var cum: Float = 0
            for i in 0..<keep {
                cum += probs[i]
                if cum >= p.topP { keep = i + 1; break }
            }
        }
        var total: Float = 0
        for i in 0..<keep { total += probs[i] }
        if recordsDistribution {
            lastDistribution = (0..<keep).compactMap { probs[$0] > 0 ? (order[$0], probs[$0] / total) : nil }
        }
        let r = rng.nextUnit() * total
        var acc: Float = 0
        for i in 0..<keep {
            acc += probs[i]
            if r < acc { return order[i] }
        }
        return order[keep - 1]
    }

    /// A draw with no top-k: every token's softmax weight, then the best-first prefix that
    /// min-p and top-p keep. Sorting the whole vocabulary cost milliseconds a token (49,152
    /// entries; Qwen's 151,936), a third of CoPe's negatives stage; here the walk sorts one band of
    /// weights at a time (≥ 1/64 of the best, then ≥ 1/64², ...) and usually ends in the first,
    /// a trained model's nucleus being a few tokens. The bands partition the tokens by weight,
    /// which grows with the logit, so the walk visits them in a full sort's order (ties by
    /// index); sums run in double.
    private mutating func drawFromAll() -> Int32 {
        let p = parameters, n = work.count
        var maxL = -Float.infinity, best = 0
        for i in 0..<n where work[i] > maxL { maxL = work[i]; best = i }
        guard maxL > -.infinity else { return 0 }  // every token banned: the first, as argmax
        if probs.count < n { probs = Array(repeating: 0, count: n) }
        if order.count < n { order = Array(repeating: 0, count: n) }
        var total = 0.0
        for i in 0..<n {
            probs[i] = expf((work[i] - maxL) / p.temperature)
            total += Double(probs[i])
        }
        // Without a cut (and no distribution to report) the draw is the walk itself.
        let direct = p.topP >= 1 && p.minP == 0 && !recordsDistribution
        let r = direct ? Double(rng.nextUnit()) * total : 0
        let target = p.topP < 1 ? Double(p.topP) * total : .infinity
        var walked = 0, keep = -1, mass = 0.0
        var upper = Float.infinity, lower: Float = 1.0 / 64
        let w = work
        bands: while true {
            let start = walked
            for i in 0..<n where probs[i] >= lower && probs[i] < upper {
                order[walked] = Int32(i)
                walked += 1
            }
            order[start..<walked].sort { a, b in w[Int(a)] > w[Int(b)] || (w[Int(a)] == w[Int(b)] && a < b) }
            for j in start..<walked {
                let e = probs[Int(order[j])]
                if j > 0 && e < p.minP { keep = j; break bands }  // min-p: the best weighs 1
                mass += Double(e)
                if direct && r < mass { return order[j] }
                if mass >= target { keep = j + 1; break bands }
            }
            if lower == 0 { break }
            upper = lower
            lower = lower > 1e-30 ? lower / 64 : 0
        }
        if keep < 0 { keep = walked }
        guard keep > 0 else { return Int32(best) }  // no finite weight (an infinite logit)
        if direct { return order[keep - 1] }  // rounding left r at the very end
        if recordsDistribution {
            lastDistribution = (0..<keep).compactMap {
                probs[Int(order[$0])] > 0 ? (order[$0], Float(Double(probs[Int(order[$0])]) / mass)) : nil
            }
        }
        let draw = Double(rng.nextUnit()) * mass
        var acc = 0.0
        for j in 0..<keep {
            acc += Double(probs[Int(order[j])])
            if draw < acc { return order[j] }
        }
        return order[keep - 1]
    }
}

/// Moves the k elements that come first under `before` to the front, in order.
func partialSort(_ a: UnsafeMutableBufferPointer<Int32>, k: Int, by before: @escaping (Int32, Int32) -> Bool) {
    // Selection through a bounded heap of size k holding the worst kept element on top.
    var heap = BinaryHeap<Int32> { x, y in before(y, x) }
    var count = 0
    for v in a {
        if count < k {
            heap.push(v)
            count += 1
        } else if let worst = heap.peek, before(v, worst) {
            _ = heap.pop()
            heap.push(v)
        }
    }
    var kept: [Int32] = []
    kept.reserveCapacity(k)
    while let v = heap.pop() { kept.append(v) }
    kept.sort(by: before)
    for i in 0..<kept.count { a[i] = kept[i] }
}
