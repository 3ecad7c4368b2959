/// The benchmarks' summary statistic: repetitions on a shared machine have outliers, which a
/// median ignores and a mean does not.
extension Array where Element == Double {
    /// The middle value (the upper one of an even count); NaN when empty.
    var median: Double { isEmpty ? .nan : sorted()[count / 2] }
}
