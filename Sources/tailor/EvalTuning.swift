import Foundation
import TailorEngine
import TailorEval
import TailorStore

/// The values `tailor eval --tune` tries, axis by axis. The first value of each list wins a
/// tie, so the reference's (or the cheaper) value comes first.
struct TuneGrid: Codable, Equatable {
    var tamEpochs = [1, 3]
    var oppuLearningRate: [Float] = [1e-4, 1e-3, 3e-3]
    var oppuEpochs = [2, 1]
    var samples = [3, 5]
    var negativeTemperature: [Float] = [1, 0.7]
    var beta: [Float] = [0.01, 0.1]
    var dpoLearningRate: [Float] = [1.5e-4, 5e-6, 5e-4]
    var dpoEpochs = [1, 2]
    var alpha: [Float] = [0.1, 0.3, 1]
    var tau: [Float] = [0.1, 0.3, 0.05]

    enum CodingKeys: String, CodingKey {
        case tamEpochs = "tam_epochs", oppuLearningRate = "oppu_learning_rate", oppuEpochs = "oppu_epochs"
        case samples, negativeTemperature = "negative_temperature", beta
        case dpoLearningRate = "dpo_learning_rate", dpoEpochs = "dpo_epochs", alpha, tau
    }

    init() {}

    /// Reads a grid; an axis the file leaves out keeps its default list.
    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = TuneGrid()
        func list<T: Decodable>(_ k: CodingKeys, _ fallback: [T]) throws -> [T] {
            try c.decodeIfPresent([T].self, forKey: k) ?? fallback
        }
        tamEpochs = try list(.tamEpochs, d.tamEpochs)
        oppuLearningRate = try list(.oppuLearningRate, d.oppuLearningRate)
        oppuEpochs = try list(.oppuEpochs, d.oppuEpochs)
        samples = try list(.samples, d.samples)
        negativeTemperature = try list(.negativeTemperature, d.negativeTemperature)
        beta = try list(.beta, d.beta)
        dpoLearningRate = try list(.dpoLearningRate, d.dpoLearningRate)
        dpoEpochs = try list(.dpoEpochs, d.dpoEpochs)
        alpha = try list(.alpha, d.alpha)
        tau = try list(.tau, d.tau)
    }

    /// The grid in `path`.
    /// - Throws: `CLIError` naming the file, for a missing file, bad JSON or an empty list.
    static func load(_ path: String) throws -> TuneGrid {
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read \(path)") }
        let grid: TuneGrid
        do { grid = try JSONDecoder().decode(TuneGrid.self, from: data) } catch {
            throw CLIError("\(path) is not a tuning grid: \(error)")
        }
        let sizes = [
            grid.tamEpochs.count, grid.oppuLearningRate.count, grid.oppuEpochs.count, grid.samples.count,
            grid.negativeTemperature.count, grid.beta.count, grid.dpoLearningRate.count, grid.dpoEpochs.count,
            grid.alpha.count, grid.tau.count,
        ]
        guard !sizes.contains(0) else { throw CLIError("\(path): every list of the grid needs a value") }
        // Checked before any stage runs: a bad value would otherwise stop the search hours in.
        func check<T: Comparable>(_ name: String, _ values: [T], _ ok: (T) -> Bool) throws {
            if let bad = values.first(where: { !ok($0) }) { throw CLIError("\(path): \(name) \(bad) is out of range") }
        }
        let positive: (Float) -> Bool = { $0 > 0 && $0.isFinite }
        try check("tam_epochs", grid.tamEpochs) { (1...1000).contains($0) }
        try check("oppu_epochs", grid.oppuEpochs) { (1...1000).contains($0) }
        try check("dpo_epochs", grid.dpoEpochs) { (1...1000).contains($0) }
        try check("samples", grid.samples) { (1...64).contains($0) }
        try check("oppu_learning_rate", grid.oppuLearningRate, positive)
        try check("dpo_learning_rate", grid.dpoLearningRate, positive)
        try check("negative_temperature", grid.negativeTemperature, positive)
        try check("beta", grid.beta, positive)
        try check("alpha", grid.alpha) { $0 >= 0 && $0.isFinite }
        try check("tau", grid.tau) { $0 > 0 && $0 <= 1 }
        return grid
    }
}

/// The names of a run's cached steps: each says the settings its output depends on, so two
/// runs (or two grid points) that share a stage's settings share its output.
struct EvalSettingKeys {
    let tam: String
    let oppu: String
    let negatives: String
    let dpo: String
    let decoding: String
    /// The decoding settings every method shares (`EvalCommand.decodingVariant`).
    let variant: String

    init(_ c: EvalCommand) {
        tam = "tam\(c.tamEpochs)"
        oppu = tam + "-lr\(c.oppuLearningRate)x\(c.oppuEpochs)"
        negatives = oppu + "-k\(c.samples)t\(c.negativeTemperature)"
        dpo = negatives + "-b\(c.beta)lr\(c.dpoLearningRate)x\(c.dpoEpochs)"
        variant = c.decodingVariant
        decoding = "a\(c.alpha)t\(c.tau)" + variant
    }

    /// What a method's generations depend on.
    func generations(_ method: String) -> String {
        switch method {
        case "base": return "plain" + variant
        case "tam": return tam + variant
        case "oppu": return oppu + variant
        case "dpo-only": return dpo + variant
        case "cd-only": return oppu + "-" + decoding
        default: return dpo + "-" + decoding
        }
    }
}

/// `tailor eval --tune`: a coordinate search on the users' held-back profile items. Stage by
/// stage (TAM epochs; OPPU's rate and epochs; the negatives' K and temperature; DPO's β, rate
/// and epochs; CoPe's α and τ), every combination of the stage's axes is scored with the
/// earlier stages' winners, and the best mean ROUGE-L (of the stage's own method) wins.
/// The query golds are never read: the data set's queries are the held-back items.
struct EvalTuner {
    let model: Model
    /// The command as given: its values start every axis the search has not reached yet.
    let start: EvalCommand
    let grid: TuneGrid

    /// One scored grid point.
    struct Point: Codable {
        var settings: [String: Float]
        var method: String
        var rougeL: Double
    }

    /// One stage's points and the one chosen.
    struct Stage: Codable {
        var name: String
        var points: [Point]
        var chosen: Int
    }

    /// A grid point: its settings by name, and how they change the command.
    typealias Change = (settings: [String: Float], apply: (inout EvalCommand) -> Void)

    /// Runs the search and writes the report; returns its markdown.
    func run(_ set: EvalDataSet) throws -> String {
        var best = start
        var stages: [Stage] = []
        /// Scores each change applied to the winners so far and keeps the best.
        func stage(_ name: String, _ method: String, _ changes: [Change]) throws {
            var points: [Point] = [], commands: [EvalCommand] = []
            for change in changes {
                var command = best
                change.apply(&command)
                let r = try score(command, method: method, set)
                let named = change.settings.sorted { $0.key < $1.key }.map { "\($0.key)=" + Self.value($0.value) }
                Console.error("tune \(name) \(named.joined(separator: " ")): \(method) " + String(format: "%.4f", r))
                points.append(Point(settings: change.settings, method: method, rougeL: r))
                commands.append(command)
            }
            // The first best wins a tie: the grid lists reference values first.
            var chosen = 0
            for i in points.indices where points[i].rougeL > points[chosen].rougeL { chosen = i }
            best = commands[chosen]
            stages.append(Stage(name: name, points: points, chosen: chosen))
        }
        let g = grid
        try stage("tam", "tam", g.tamEpochs.map { e in (["tam_epochs": Float(e)], { $0.tamEpochs = e }) })
        try stage(
            "oppu", "oppu",
            g.oppuLearningRate.flatMap { lr in
                g.oppuEpochs.map { e in
                    (
                        ["oppu_learning_rate": lr, "oppu_epochs": Float(e)],
                        {
                            $0.oppuLearningRate = lr; $0.oppuEpochs = e
                        }
                    )
                }
            })
        try stage(
            "negatives", "cope",
            g.samples.flatMap { k in
                g.negativeTemperature.map { t in
                    (
                        ["samples": Float(k), "negative_temperature": t],
                        {
                            $0.samples = k; $0.negativeTemperature = t
                        }
                    )
                }
            })
        var dpo: [Change] = []
        for b in g.beta {
            for lr in g.dpoLearningRate {
                for e in g.dpoEpochs {
                    dpo.append(
                        (
                            ["beta": b, "dpo_learning_rate": lr, "dpo_epochs": Float(e)],
                            {
                                $0.beta = b; $0.dpoLearningRate = lr; $0.dpoEpochs = e
                            }
                        ))
                }
            }
        }
        try stage("dpo", "cope", dpo)
        try stage(
            "decoding", "cope",
            g.alpha.flatMap { a in
                g.tau.map { t in
                    (
                        ["alpha": a, "tau": t],
                        {
                            $0.alpha = a; $0.tau = t
                        }
                    )
                }
            })
        return try write(stages, best: best, set: set)
    }

    /// A setting as people write it: 3, 0.1, 0.0003.
    static func value(_ v: Float) -> String { String(format: "%g", Double(v)) }

    /// Mean ROUGE-L of `method` under `c`'s settings over every user's held-back items.
    private func score(_ c: EvalCommand, method: String, _ set: EvalDataSet) throws -> Double {
        let scores = try outputs(c, method: method, set).map(\.rougeL)
        return scores.isEmpty ? 0 : scores.reduce(0, +) / Double(scores.count)
    }

    /// Each held-back item's ROUGE-L under `method`, keyed by user and item.
    private func outputs(
        _ c: EvalCommand, method: String, _ set: EvalDataSet
    ) throws -> [(key: String, rougeL: Double, text: String)] {
        let h = EvalHarness(model: model, out: c.out, command: c)
        let task = try h.taskAdapter(c.taskItems(set))
        var out: [(String, Double, String)] = []
        for user in set.users {
            let oppu = ["base", "tam"].contains(method) ? nil : try h.userAdapter(user, task: task)
            let dpo = ["cope", "dpo-only"].contains(method) ? try h.dpoAdapter(user, task: task, oppu: oppu!) : nil
            let texts = try h.generate(method: method, user: user, task: task, oppu: oppu, dpo: dpo)
            for q in user.queries {
                let text = texts[q.id]?.text ?? ""
                out.append(
                    (user.name + "\u{0}" + q.id, Rouge.score(prediction: text, reference: q.gold).rougeL.fmeasure, text)
                )
            }
        }
        return out
    }

    /// Writes tune.md and tune.json: every stage's points, the values chosen, the held-back
    /// scores of OPPU and CoPe under them with their paired difference, and the command that
    /// evaluates them on the queries.
    private func write(_ stages: [Stage], best: EvalCommand, set: EvalDataSet) throws -> String {
        let oppu = try outputs(best, method: "oppu", set), cope = try outputs(best, method: "cope", set)
        let paired = PairedComparison(cope.map(\.rougeL), oppu.map(\.rougeL))
        let same = zip(cope, oppu).count { $0.text == $1.text }
        let chosen: [String: Float] = [
            "tam_epochs": Float(best.tamEpochs), "oppu_learning_rate": best.oppuLearningRate,
            "oppu_epochs": Float(best.oppuEpochs), "samples": Float(best.samples),
            "negative_temperature": best.negativeTemperature, "beta": best.beta,
            "dpo_learning_rate": best.dpoLearningRate, "dpo_epochs": Float(best.dpoEpochs), "alpha": best.alpha,
            "tau": best.tau,
        ]
        let flags =
            "--tam-epochs \(best.tamEpochs) --oppu-lr \(best.oppuLearningRate) --oppu-epochs \(best.oppuEpochs) "
            + "--samples \(best.samples) --negative-temperature \(best.negativeTemperature) --beta \(best.beta) "
            + "--dpo-lr \(best.dpoLearningRate) --dpo-epochs \(best.dpoEpochs) --alpha \(best.alpha) --tau \(best.tau)"
        var md = "# Tuning on held-back profile items\n\n`\(CommandLine.arguments.joined(separator: " "))`\n\n"
        md += "\(set.users.count) users, \(oppu.count) held-back items (each user's last \(start.heldOut)), "
        md += "never the query golds. Stage by stage, the best mean ROUGE-L of the stage's method wins "
        md += "(the first listed on a tie).\n"
        for s in stages {
            md += "\n## \(s.name) (scored by \(s.points.first?.method ?? ""))\n\n| settings | ROUGE-L |\n|---|---|\n"
            for (i, p) in s.points.enumerated() {
                let settings = p.settings.sorted { $0.key < $1.key }.map { "\($0.key) " + Self.value($0.value) }
                    .joined(separator: ", ")
                let cell = String(format: "%.4f", p.rougeL)
                md += i == s.chosen ? "| **\(settings)** | **\(cell)** |\n" : "| \(settings) | \(cell) |\n"
            }
        }
        md += String(
            format:
                """
                \n## Chosen\n\nHeld-back ROUGE-L: OPPU %.4f, CoPe %.4f; CoPe − OPPU %+.4f [%+.4f, %+.4f], %d / %d \
                / %d, %d identical texts.\n\n
                """,
            oppu.map(\.rougeL).reduce(0, +) / Double(max(1, oppu.count)),
            cope.map(\.rougeL).reduce(0, +) / Double(max(1, cope.count)), paired.mean, paired.low, paired.high,
            paired.wins, paired.ties, paired.losses, same)
        md += "Evaluate on the queries with:\n\n```sh\ntailor eval ... \(flags)\n```\n"
        let json: [String: Any] = [
            "grid": try JSONSerialization.jsonObject(with: JSONEncoder().encode(grid)),
            "stages": try JSONSerialization.jsonObject(with: JSONEncoder().encode(stages)),
            "chosen": chosen, "flags": flags,
            "holdout": [
                "items": oppu.count,
                "cope-oppu": [
                    "mean": paired.mean, "interval": [paired.low, paired.high], "wins": paired.wins,
                    "ties": paired.ties, "losses": paired.losses, "same_text": same,
                ],
            ],
        ]
        try AtomicFile.write(Array(md.utf8), to: start.out + "/tune.md", mode: 0o644)
        try AtomicFile.write(
            [UInt8](try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys, .prettyPrinted])),
            to: start.out + "/tune.json", mode: 0o644)
        return md
    }
}
