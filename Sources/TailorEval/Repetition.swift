/// Whether a generated text loops: the failure a small model falls into when it has little to
/// go on ("PEP 698: PEP 698 - PEP 699: PEP 700"). ROUGE-L barely sees it (a loop that starts
/// with the right words keeps most of its score), so evaluations count it beside ROUGE. The
/// count is a symptom, not a verdict: a copied line of code that names one identifier three
/// times counts too, and a model barred from repeating can write other noise instead.
public enum Repetition {
    /// The shortest word, in letters or digits, that counts.
    public static let minimumWordLength = 3
    /// How many times a word must come for the text to loop.
    public static let minimumCount = 3

    /// The word a looping text repeats (rouge_score's tokens: lowercased runs of [a-z0-9]), or
    /// nil when no word of `minimumWordLength` or more characters comes `minimumCount` times.
    /// Of several such words, the most frequent, then the first to appear.
    public static func loopingWord(in text: String) -> String? {
        var counts: [String: Int] = [:]
        var order: [String] = []
        for word in Rouge.tokenize(text) where word.count >= minimumWordLength {
            if counts[word] == nil { order.append(word) }
            counts[word, default: 0] += 1
        }
        guard let top = counts.values.max(), top >= minimumCount else { return nil }
        return order.first { counts[$0] == top }
    }

    /// Whether `text` loops (`loopingWord(in:)` finds a word).
    public static func loops(_ text: String) -> Bool { loopingWord(in: text) != nil }
}
