import ArgumentParser
import Foundation
import TailorEval

/// `tailor rouge`: ROUGE-1/2/L of predictions against golds, both JSONL of {"id", "text"},
/// identical to rouge_score (optionally with its Porter stemmer).
struct RougeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rouge", abstract: "Score predictions against golds with ROUGE-1, ROUGE-2 and ROUGE-L.")

    @Option(help: "Predictions: JSONL of {\"id\", \"text\"}.") var pred: String
    @Option(help: "Golds: JSONL of {\"id\", \"text\"}.") var gold: String
    @Flag(help: "Porter-stem words longer than three letters (rouge_score's use_stemmer=True).") var stem = false
    @Flag(help: "Print JSON: the means and every id's scores.") var json = false

    /// id → text of a JSONL file, naming the line of any problem.
    static func read(_ path: String) throws -> [(id: String, text: String)] {
        let text = try readTextFile(path, limit: 1 << 30)
        var out: [(String, String)] = []
        var seen = Set<String>()
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { continue }
            guard let obj = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                throw CLIError("\(path):\(n + 1): not a JSON object")
            }
            let id: String
            switch obj["id"] {
            case let s as String: id = s
            case let i as NSNumber: id = i.stringValue
            default: throw CLIError("\(path):\(n + 1): field 'id' is missing or not a string")
            }
            guard let t = obj["text"] as? String else {
                throw CLIError("\(path):\(n + 1): field 'text' is missing or not a string")
            }
            guard seen.insert(id).inserted else { throw CLIError("\(path):\(n + 1): id '\(id)' appears twice") }
            out.append((id, t))
        }
        return out
    }

    func run() throws {
        let golds = try Self.read(gold),
            preds = Dictionary(uniqueKeysWithValues: try Self.read(pred).map { ($0.id, $0.text) })
        let missing = golds.map(\.id).filter { preds[$0] == nil }
        guard missing.isEmpty else {
            throw CLIError(
                """
                \(pred) has no prediction for \(missing.count) gold id(s): \
                \(missing.prefix(5).joined(separator: ", "))
                """
            )
        }
        guard !golds.isEmpty else { throw CLIError("\(gold) holds no golds") }
        var rows: [[String: Any]] = []
        var sums = [0.0, 0.0, 0.0]
        for g in golds {
            let s = Rouge.score(prediction: preds[g.id]!, reference: g.text, stem: stem)
            sums[0] += s.rouge1.fmeasure; sums[1] += s.rouge2.fmeasure; sums[2] += s.rougeL.fmeasure
            rows.append([
                "id": g.id, "rouge1": s.rouge1.fmeasure, "rouge2": s.rouge2.fmeasure, "rougeL": s.rougeL.fmeasure,
            ])
        }
        let n = Double(golds.count)
        if json {
            let out: [String: Any] = [
                "count": golds.count, "stemmer": stem, "rouge1": sums[0] / n, "rouge2": sums[1] / n,
                "rougeL": sums[2] / n, "items": rows,
            ]
            print(
                String(decoding: try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys]), as: UTF8.self)
            )
        } else {
            print(
                String(
                    format: "%d pairs%@: ROUGE-1 %.4f  ROUGE-2 %.4f  ROUGE-L %.4f (mean F1)", golds.count,
                    stem ? " (stemmed)" : "",
                    sums[0] / n, sums[1] / n, sums[2] / n))
        }
    }
}
