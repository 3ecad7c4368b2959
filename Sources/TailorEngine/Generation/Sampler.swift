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
        // Candidates sorted by logit, cut by top-k.
        let n = work.count
        if order.count != n { order = (0..<Int32(n)).map { $0 } } else { for i in 0..<n { order[i] = Int32(i) } }
        let k = p.topK > 0 ? min(p.topK, n) : n
        let w = work
        if k < n {
            order.withUnsafeMutableBufferPointer { o in
                partialSort(o, k: k) { w[Int($0)] > w[Int($1)] }
            }
        } else {
            order.sort { w[Int($0)] > w[Int($1)] }
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
