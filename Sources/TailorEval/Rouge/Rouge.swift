import Foundation

/// ROUGE-1, ROUGE-2 and ROUGE-L F1 exactly as Google's `rouge_score` computes them (the metric
/// LaMP and CoPe report): its default tokenizer, n-gram overlap with clipped counts, and the
/// longest common subsequence, each with precision, recall and F-measure.
public enum Rouge {
    /// Precision, recall and their harmonic mean.
    public struct Score: Sendable, Equatable, Codable {
        public var precision: Double
        public var recall: Double
        public var fmeasure: Double

        /// From precision and recall (F = 0 when both are 0).
        public init(precision: Double, recall: Double) {
            self.precision = precision
            self.recall = recall
            fmeasure = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
        }
    }

    /// The three scores of one prediction against one reference.
    public struct Scores: Sendable, Equatable, Codable {
        public var rouge1: Score
        public var rouge2: Score
        public var rougeL: Score
    }

    /// rouge_score's default tokenizer: lowercase (Unicode, as Python's `str.lower`), every run
    /// of characters outside [a-z0-9] is a separator, and (with `stem`) words longer than three
    /// letters are Porter-stemmed.
    public static func tokenize(_ text: String, stem: Bool = false) -> [String] {
        var tokens: [String] = []
        var current: [UInt8] = []
        func flush() {
            guard !current.isEmpty else { return }
            let word = String(decoding: current, as: UTF8.self)
            tokens.append(stem && word.count > 3 ? PorterStemmer.stem(word) : word)
            current.removeAll(keepingCapacity: true)
        }
        for scalar in text.lowercased().unicodeScalars {
            let v = scalar.value
            if (v >= 0x61 && v <= 0x7A) || (v >= 0x30 && v <= 0x39) {
                current.append(UInt8(v))
            } else {
                flush()
            }
        }
        flush()
        // rouge_score drops tokens that stop being [a-z0-9]+ after stemming (none do).
        return tokens.filter { !$0.isEmpty }
    }

    /// Scores `prediction` against `reference` (rouge_score's `score(target, prediction)`).
    public static func score(prediction: String, reference: String, stem: Bool = false) -> Scores {
        let p = tokenize(prediction, stem: stem), r = tokenize(reference, stem: stem)
        return Scores(
            rouge1: ngrams(reference: r, prediction: p, n: 1), rouge2: ngrams(reference: r, prediction: p, n: 2),
            rougeL: lcs(reference: r, prediction: p))
    }

    /// ROUGE-N: clipped n-gram overlap over the prediction's and the reference's n-gram counts.
    public static func ngrams(reference: [String], prediction: [String], n: Int) -> Score {
        func counts(_ t: [String]) -> [ArraySlice<String>: Int] {
            var c: [ArraySlice<String>: Int] = [:]
            if t.count >= n { for i in 0...(t.count - n) { c[t[i..<(i + n)], default: 0] += 1 } }
            return c
        }
        let r = counts(reference), p = counts(prediction)
        var overlap = 0
        for (g, k) in r { overlap += min(k, p[g] ?? 0) }
        let rTotal = r.values.reduce(0, +), pTotal = p.values.reduce(0, +)
        return Score(
            precision: Double(overlap) / Double(max(pTotal, 1)), recall: Double(overlap) / Double(max(rTotal, 1)))
    }

    /// ROUGE-L: the longest common subsequence over the lengths.
    public static func lcs(reference: [String], prediction: [String]) -> Score {
        guard !reference.isEmpty, !prediction.isEmpty else { return Score(precision: 0, recall: 0) }
        var prev = [Int](repeating: 0, count: prediction.count + 1), row = prev
        for a in reference {
            for (j, b) in prediction.enumerated() {
                row[j + 1] = a == b ? prev[j] + 1 : max(prev[j + 1], row[j])
            }
            swap(&prev, &row)
        }
        let l = Double(prev[prediction.count])
        return Score(precision: l / Double(prediction.count), recall: l / Double(reference.count))
    }
}
