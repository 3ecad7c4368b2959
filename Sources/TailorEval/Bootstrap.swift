import TailorRandom

/// Bootstrap confidence intervals for a mean, seeded so a report is reproducible.
public enum Bootstrap {
    /// The mean of `values` with a `level` (e.g. 0.95) percentile interval over `resamples`
    /// resamples with replacement.
    public static func meanInterval(
        _ values: [Double], level: Double = 0.95, resamples: Int = 2000, seed: UInt64 = 1
    )
        -> (mean: Double, low: Double, high: Double)
    {
        guard !values.isEmpty else { return (0, 0, 0) }
        let mean = values.reduce(0, +) / Double(values.count)
        guard values.count > 1 else { return (mean, mean, mean) }
        var rng = SeededGenerator(seed: seed)
        func next() -> UInt64 { rng.next() }
        var means: [Double] = []
        means.reserveCapacity(resamples)
        for _ in 0..<resamples {
            var s = 0.0
            for _ in values.indices { s += values[Int(next() % UInt64(values.count))] }
            means.append(s / Double(values.count))
        }
        means.sort()
        let lo = Int((1 - level) / 2 * Double(resamples)),
            hi = min(resamples - 1, Int((1 + level) / 2 * Double(resamples)))
        return (mean, means[lo], means[hi])
    }
}

/// How two methods compare on the same queries: the paired difference of their scores, with
/// a bootstrap interval over queries (resampled together, so the spread between queries,
/// which both methods share, does not widen the interval as it does for two per-method
/// intervals), and the count of queries each wins.
public struct PairedComparison: Sendable, Equatable {
    /// Mean of a − b over the queries, and its percentile interval.
    public var mean: Double
    public var low: Double
    public var high: Double
    /// Queries where a scored higher, the same, or lower than b.
    public var wins: Int
    public var ties: Int
    public var losses: Int

    /// Compares paired scores `a[i]` and `b[i]` (the same query under two methods).
    /// - Precondition: `a.count == b.count`.
    public init(_ a: [Double], _ b: [Double], level: Double = 0.95, resamples: Int = 2000, seed: UInt64 = 1) {
        precondition(a.count == b.count, "paired scores must be of the same queries")
        let d = zip(a, b).map { $0 - $1 }
        (mean, low, high) = Bootstrap.meanInterval(d, level: level, resamples: resamples, seed: seed)
        wins = d.count { $0 > 1e-12 }
        losses = d.count { $0 < -1e-12 }
        ties = d.count - wins - losses
    }

    /// Whether the interval lies wholly above (1) or below (−1) zero, or straddles it (0).
    public var sign: Int { low > 0 ? 1 : high < 0 ? -1 : 0 }
}
