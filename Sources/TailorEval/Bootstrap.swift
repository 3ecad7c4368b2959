import TailorEngine

/// Bootstrap confidence intervals for a mean, seeded so a report is reproducible.
public enum Bootstrap {
    /// The mean of `values` with a `level` (e.g. 0.95) percentile interval over `resamples`
    /// resamples with replacement.
    public static func meanInterval(_ values: [Double], level: Double = 0.95, resamples: Int = 2000, seed: UInt64 = 1)
        -> (mean: Double, low: Double, high: Double) {
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
        let lo = Int((1 - level) / 2 * Double(resamples)), hi = min(resamples - 1, Int((1 + level) / 2 * Double(resamples)))
        return (mean, means[lo], means[hi])
    }
}
