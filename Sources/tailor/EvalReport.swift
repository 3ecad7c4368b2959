import Foundation
import TailorEval
import TailorStore

/// The results table (markdown and JSON) and the bar chart (SVG) of an eval run.
struct EvalReport {
    let methods: [String]
    let generations: [String: [String: EvalOutput]]
    /// Per user, what the adapters do (empty when no personal method ran).
    let diagnostics: [String: UserDiagnostics]
    let out: String
    let command: String
    /// Names a decoding variant's files (`-rp1.3`); empty for the default run.
    let suffix: String

    func write() throws {
        var json: [String: Any] = ["command": command]
        var md =
            """
            # Evaluation results\n\n`\(command)`\n\nROUGE F1 (rouge_score's tokenizer, no stemmer), mean over \
            queries with bootstrap 95% intervals.\n\n
            """
        md += "| method | n | ROUGE-1 | ROUGE-L | loops |\n|---|---|---|---|---|\n"
        var bars: [(String, Double, Double, Double)] = []
        var perUser: [String: [String: [Double]]] = [:]
        var rougeL: [String: [String: Double]] = [:]  // method → query id → ROUGE-L F1
        for m in methods {
            let rows = (generations[m] ?? [:]).sorted { $0.key < $1.key }
            let scores = rows.map { Rouge.score(prediction: $0.value.text, reference: $0.value.gold) }
            let r1 = Bootstrap.meanInterval(scores.map(\.rouge1.fmeasure)),
                rl = Bootstrap.meanInterval(scores.map(\.rougeL.fmeasure))
            let loops = rows.count { Repetition.loops($0.value.text) }
            md += String(
                format: "| %@ | %d | %.4f [%.4f, %.4f] | %.4f [%.4f, %.4f] | %d |\n", m, rows.count, r1.mean, r1.low,
                r1.high, rl.mean, rl.low, rl.high, loops)
            json[m] = [
                "n": rows.count, "rouge1": [r1.mean, r1.low, r1.high], "rougeL": [rl.mean, rl.low, rl.high],
                "loops": loops,
            ]
            bars.append((m, rl.mean, rl.low, rl.high))
            for (row, s) in zip(rows, scores) {
                perUser[row.value.user, default: [:]][m, default: []].append(s.rougeL.fmeasure)
                rougeL[m, default: [:]][row.key] = s.rougeL.fmeasure
            }
        }
        let golds = generations.values.reduce(into: [String: String]()) { all, rows in
            for (id, o) in rows { all[id] = o.gold }
        }
        let goldLoops = golds.values.count { Repetition.loops($0) }
        md +=
            """
            \nloops: outputs in which a word of \(Repetition.minimumWordLength) or more characters comes \
            \(Repetition.minimumCount) or more times ("PEP 698: PEP 698 - PEP 699: …"); \(goldLoops) of the \
            \(golds.count) golds do.\n
            """
        json["gold_loops"] = goldLoops
        md +=
            "\n## ROUGE-L per user\n\n| user | " + methods.joined(separator: " | ") + " |\n|---|"
            + String(repeating: "---|", count: methods.count) + "\n"
        for (u, byMethod) in perUser.sorted(by: { $0.key < $1.key }) {
            md +=
                "| \(u) | "
                + methods.map { m in
                    byMethod[m].map { String(format: "%.4f", $0.reduce(0, +) / Double($0.count)) } ?? "-"
                }.joined(separator: " | ") + " |\n"
        }
        json["per_user_rougeL"] = perUser.mapValues { $0.mapValues { $0.reduce(0, +) / Double($0.count) } }
        let (pairedMD, pairedJSON) = paired(rougeL)
        md += pairedMD
        json["paired_rougeL"] = pairedJSON
        let (diagnosticsMD, diagnosticsJSON) = DiagnosticsReport(users: diagnostics, generations: generations).render()
        md += diagnosticsMD
        json["diagnostics"] = diagnosticsJSON
        try AtomicFile.write(Array(md.utf8), to: out + "/results\(suffix).md", mode: 0o644)
        try AtomicFile.write(
            [UInt8](try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys, .prettyPrinted])),
            to: out + "/results\(suffix).json", mode: 0o644)
        try AtomicFile.write(Array(Self.chart(bars).utf8), to: out + "/results\(suffix).svg", mode: 0o644)
    }

    /// The method pairs compared query by query: CoPe against each thing it adds to, OPPU
    /// against the task adapter, and the task adapter against the model without it.
    static let pairs = [
        ("cope", "oppu"), ("cope", "tam"), ("oppu", "tam"), ("cope", "cd-only"), ("cope", "dpo-only"), ("tam", "base"),
    ]

    /// Paired ROUGE-L differences over the queries both methods answered: mean, bootstrap 95%
    /// interval, wins/ties/losses, and how often the two texts are identical.
    /// - Parameter rougeL: each method's score per query id, as the per-method table computed.
    func paired(_ rougeL: [String: [String: Double]]) -> (markdown: String, json: [String: Any]) {
        var md =
            """
            \n## Paired differences (ROUGE-L)\n\nOver the queries both methods answered; the interval resamples \
            queries, 
            """
                + """
                so what the methods share does not widen it.\n\n| a − b | n | mean | 95% interval | wins / ties / \
                losses | same text |\n|---|---|---|---|---|---|\n
                """
        var json: [String: Any] = [:]
        for (a, b) in Self.pairs {
            guard let ga = generations[a], let gb = generations[b], let ra = rougeL[a], let rb = rougeL[b] else {
                continue
            }
            let keys = ga.keys.filter { gb[$0] != nil }.sorted()
            guard !keys.isEmpty else { continue }
            let p = PairedComparison(keys.map { ra[$0]! }, keys.map { rb[$0]! })
            let same = keys.count { ga[$0]!.text == gb[$0]!.text }
            md += String(
                format: "| %@ − %@ | %d | %+.4f | [%+.4f, %+.4f] | %d / %d / %d | %d |\n", a, b, keys.count, p.mean,
                p.low, p.high,
                p.wins, p.ties, p.losses, same)
            json["\(a)-\(b)"] = [
                "n": keys.count, "mean": p.mean, "interval": [p.low, p.high], "wins": p.wins, "ties": p.ties,
                "losses": p.losses, "same_text": same,
            ]
        }
        return (md, json)
    }

    /// A bar per method (ROUGE-L) with its 95% interval as a whisker.
    static func chart(_ bars: [(String, Double, Double, Double)]) -> String {
        let w = 80 * bars.count + 80, h = 320, top = max(0.05, (bars.map(\.3).max() ?? 0) * 1.15)
        func y(_ v: Double) -> Double { 280 - v / top * 240 }
        var svg =
            """
            <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(w)\" height=\"\(h)\" font-family=\"sans-serif\" \
            font-size=\"12\">\n
            """
        svg +=
            """
            <text x=\"10\" y=\"20\">ROUGE-L (mean, 95% bootstrap interval)</text>\n<line x1=\"50\" y1=\"280\" \
            x2=\"\(w - 10)\" y2=\"280\" stroke=\"black\"/>\n
            """
        for (i, b) in bars.enumerated() {
            let x = 70 + 80 * i
            svg += String(
                format: "<rect x=\"%d\" y=\"%.1f\" width=\"50\" height=\"%.1f\" fill=\"#4a7ab7\"/>\n", x, y(b.1),
                280 - y(b.1))
            svg += String(
                format: "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"black\"/>\n", x + 25, y(b.2),
                x + 25, y(b.3))
            svg += String(
                format: "<text x=\"%d\" y=\"298\">%@</text><text x=\"%d\" y=\"%.1f\">%.3f</text>\n", x, b.0, x,
                y(b.3) - 4, b.1)
        }
        return svg + "</svg>\n"
    }
}
