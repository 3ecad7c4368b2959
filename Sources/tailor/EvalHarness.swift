import Foundation
import TailorEngine
import TailorEval
import TailorJobs
import TailorStore
import TailorTraining

/// The cached steps of `tailor eval`: each adapter is a PEFT directory, the negatives a JSONL
/// file and each method's generations a JSONL file under the out directory; a step whose output
/// exists is not redone.
struct EvalHarness {
    let model: Model
    let out: String
    let command: EvalCommand

    /// The same stages, formats and step loop as tailord's jobs.
    private var pipeline: PersonalizationPipeline {
        PersonalizationPipeline(model: model, maxTokens: command.maxTokens, threads: command.modelOptions.threads)
    }

    private func log(_ s: String) { Console.error(s) }

    /// Directory names for people's names.
    private func dir(_ user: EvalDataSet.User) -> String {
        out + "/users/" + AdapterKey.pathComponent(user.name)
    }

    private func cachedAdapter(_ path: String) throws -> LoRAAdapter? {
        guard FileManager.default.fileExists(atPath: path + "/adapter_model.safetensors") else { return nil }
        return try PEFTDirectory.load(path, model: model)
    }

    /// Logs every fifth step and the last.
    private func progress(_ label: String) -> PersonalizationPipeline.Hooks {
        let started = Date()
        return PersonalizationPipeline.Hooks(didStep: { [log] r, trainer in
            if r.step % 5 == 0 || trainer.isFinished {
                log(
                    String(
                        format: "%@ step %d/%d loss %.4f (%.0f s)", label, r.step, r.totalSteps, r.loss,
                        Date().timeIntervalSince(started)))
            }
        })
    }

    /// TAM: r=16 on q, k, v, o over the other users' items.
    func taskAdapter(_ others: [HistoryItem]) throws -> LoRAAdapter {
        let path = out + "/tam"
        if let a = try cachedAdapter(path) { return a }
        var cfg = TrainingConfiguration.tam
        cfg.epochs = command.tamEpochs
        let lora = try pipeline.supervised(others.map(\.textExample), configuration: cfg, hooks: progress("tam"))
        try PEFTDirectory.save(lora.adapter(name: "tam"), model: model, to: path)
        return try cachedAdapter(path)!
    }

    /// OPPU: r=8 on q, v over the user's profile, on top of the TAM.
    func userAdapter(_ user: EvalDataSet.User, task: LoRAAdapter) throws -> LoRAAdapter {
        let path = dir(user) + "/oppu"
        if let a = try cachedAdapter(path) { return a }
        var cfg = TrainingConfiguration.oppu
        cfg.epochs = command.oppuEpochs
        cfg.learningRate = command.oppuLearningRate
        let lora = try pipeline.supervised(
            user.profile.map(\.textExample), configuration: cfg, frozen: [AdapterUse(task)],
            hooks: progress("\(user.name) oppu"))
        try PEFTDirectory.save(lora.adapter(name: "oppu"), model: model, to: path)
        return try cachedAdapter(path)!
    }

    /// Negatives (lowest implicit reward of K samples from base + TAM), then DPO from the OPPU adapter.
    func dpoAdapter(_ user: EvalDataSet.User, task: LoRAAdapter, oppu: LoRAAdapter) throws -> LoRAAdapter {
        let path = dir(user) + "/dpo"
        if let a = try cachedAdapter(path) { return a }
        let negativesPath = dir(user) + "/negatives.jsonl"
        var pairs: [PreferencePair]
        if let data = FileManager.default.contents(atPath: negativesPath) {
            pairs = try PreferenceImport.parse(data, format: .jsonl, task: "eval").pairs
        } else {
            var neg = NegativeConfiguration()
            neg.samples = command.samples
            neg.maxNewTokens = command.maxNewTokens
            let sampler = try pipeline.negatives(task: [AdapterUse(task)], user: oppu, configuration: neg)
            pairs = []
            for (i, h) in user.profile.enumerated() {
                guard let worst = try sampler.negative(for: h.textExample, index: i) else { continue }
                pairs.append(
                    PreferencePair(
                        id: "negative:\(h.id)", task: "eval", prompt: h.input, chosen: h.output,
                        rejected: worst.text, source: .synthetic))
            }
            try AtomicFile.write(pairs.flatMap(PreferenceExport.line), to: negativesPath, mode: 0o644)
            log("\(user.name): \(pairs.count) negatives")
        }
        var cfg = TrainingConfiguration.dpo
        cfg.epochs = command.dpoEpochs
        cfg.beta = command.beta
        cfg.learningRate = command.dpoLearningRate
        let lora = try pipeline.preference(
            pairs.map(\.textPreference), continuing: oppu, configuration: cfg, frozen: [AdapterUse(task)],
            hooks: progress("\(user.name) dpo"))
        try PEFTDirectory.save(lora.adapter(name: "dpo"), model: model, to: path)
        return try cachedAdapter(path)!
    }

    /// The user's queries under `method`, cached per (method, user) as JSONL {"id", "text"}.
    func generate(
        method: String, user: EvalDataSet.User, task: LoRAAdapter, oppu: LoRAAdapter?, dpo: LoRAAdapter?
    ) throws -> [String: String] {
        let path = dir(user) + "/generations-\(method)\(command.variantSuffix).jsonl"
        var done: [String: String] = [:]
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            for line in text.split(separator: "\n") {
                if let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String],
                    let id = o["id"], let t = o["text"]
                {
                    done[id] = t
                }
            }
        }
        let ctx = InferenceContext(
            model: model, maxSequences: 2, maxContext: min(2048, model.config.contextLength), maxBatchTokens: 256,
            threads: command.modelOptions.threads)
        // One-line tasks score the first non-empty line: a "\n" stop string would end at the
        // newline small models often emit first, scoring an empty answer.
        let options = GenerationOptions(maxTokens: command.maxNewTokens)
        let t = AdapterUse(task)
        let greedy = SamplingParameters(repetitionPenalty: command.repeatPenalty)
        let contrast = ContrastiveParameters(
            alpha: command.alpha, tau: command.tau, repetitionPenalty: command.repeatPenalty)
        for q in user.queries where done[q.id] == nil {
            let prompt = pipeline.formatter.prompt(q.input).suffix(ctx.maxContext - command.maxNewTokens - 1)
            let text: String
            switch method {
            case "base", "tam", "oppu", "dpo-only":
                // Greedy decoding under the method's adapters.
                let adapters =
                    method == "base" ? [] : method == "tam" ? [t] : [t, AdapterUse(method == "oppu" ? oppu! : dpo!)]
                text = try Generator(context: ctx, adapters: adapters).generate(
                    prompt: Array(prompt), sampling: greedy, options: options
                ).text
            default:
                let user = method == "cope" ? dpo! : oppu!
                text = try ContrastiveGenerator(context: ctx, user: [t, AdapterUse(user)], base: [t])
                    .generate(prompt: Array(prompt), parameters: contrast, options: options).0.text
            }
            let clean =
                command.multiline ? text.trimmingCharacters(in: .whitespacesAndNewlines) : SubjectLine.first(text)
            done[q.id] = clean
            let line = try JSONSerialization.data(withJSONObject: ["id": q.id, "text": clean], options: [.sortedKeys])
            let handle =
                FileHandle(forWritingAtPath: path)
                ?? {
                    FileManager.default.createFile(atPath: path, contents: nil)
                    return FileHandle(forWritingAtPath: path)!
                }()
            handle.seekToEndOfFile()
            handle.write(line + Data("\n".utf8))
            try handle.synchronize()
            try handle.close()
        }
        return done
    }
}

/// The results table (markdown and JSON) and the bar chart (SVG) of an eval run.
struct EvalReport {
    let methods: [String]
    let generations: [String: [String: (user: String, text: String, gold: String)]]
    let out: String
    let command: String
    /// Names a decoding variant's files (`-rp1.3`); empty for the default run.
    let suffix: String

    func write() throws {
        var json: [String: Any] = ["command": command]
        var md =
            "# Evaluation results\n\n`\(command)`\n\nROUGE F1 (rouge_score's tokenizer, no stemmer), mean over queries with bootstrap 95% intervals.\n\n"
        md += "| method | n | ROUGE-1 | ROUGE-L |\n|---|---|---|---|\n"
        var bars: [(String, Double, Double, Double)] = []
        var perUser: [String: [String: [Double]]] = [:]
        var rougeL: [String: [String: Double]] = [:]  // method → query id → ROUGE-L F1
        for m in methods {
            let rows = (generations[m] ?? [:]).sorted { $0.key < $1.key }
            let scores = rows.map { Rouge.score(prediction: $0.value.text, reference: $0.value.gold) }
            let r1 = Bootstrap.meanInterval(scores.map(\.rouge1.fmeasure)),
                rl = Bootstrap.meanInterval(scores.map(\.rougeL.fmeasure))
            md += String(
                format: "| %@ | %d | %.4f [%.4f, %.4f] | %.4f [%.4f, %.4f] |\n", m, rows.count, r1.mean, r1.low,
                r1.high, rl.mean, rl.low, rl.high)
            json[m] = ["n": rows.count, "rouge1": [r1.mean, r1.low, r1.high], "rougeL": [rl.mean, rl.low, rl.high]]
            bars.append((m, rl.mean, rl.low, rl.high))
            for (row, s) in zip(rows, scores) {
                perUser[row.value.user, default: [:]][m, default: []].append(s.rougeL.fmeasure)
                rougeL[m, default: [:]][row.key] = s.rougeL.fmeasure
            }
        }
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
        try AtomicFile.write(Array(md.utf8), to: out + "/results\(suffix).md", mode: 0o644)
        try AtomicFile.write(
            [UInt8](try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys, .prettyPrinted])),
            to: out + "/results\(suffix).json", mode: 0o644)
        try AtomicFile.write(Array(Self.chart(bars).utf8), to: out + "/results\(suffix).svg", mode: 0o644)
    }

    /// The method pairs compared query by query: CoPe against each thing it adds to, and OPPU
    /// against the task adapter.
    static let pairs = [("cope", "oppu"), ("cope", "tam"), ("oppu", "tam"), ("cope", "cd-only"), ("cope", "dpo-only")]

    /// Paired ROUGE-L differences over the queries both methods answered: mean, bootstrap 95%
    /// interval, wins/ties/losses, and how often the two texts are identical.
    /// - Parameter rougeL: each method's score per query id, as the per-method table computed.
    func paired(_ rougeL: [String: [String: Double]]) -> (markdown: String, json: [String: Any]) {
        var md =
            "\n## Paired differences (ROUGE-L)\n\nOver the queries both methods answered; the interval resamples queries, "
            + "so what the methods share does not widen it.\n\n| a − b | n | mean | 95% interval | wins / ties / losses | same text |\n|---|---|---|---|---|---|\n"
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
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(w)\" height=\"\(h)\" font-family=\"sans-serif\" font-size=\"12\">\n"
        svg +=
            "<text x=\"10\" y=\"20\">ROUGE-L (mean, 95% bootstrap interval)</text>\n<line x1=\"50\" y1=\"280\" x2=\"\(w - 10)\" y2=\"280\" stroke=\"black\"/>\n"
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
