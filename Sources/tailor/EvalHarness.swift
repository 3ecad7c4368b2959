import Foundation
import TailorEngine
import TailorEval
import TailorJobs
import TailorStore
import TailorTraining

/// The cached steps of `tailor eval`: each adapter is a PEFT directory, the negatives a JSONL
/// file and each method's generations a JSONL file under the out directory, each named by its
/// settings; a step whose output exists is not redone.
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

    /// Where each step's output lives: every path is named by the settings that made it, so
    /// runs with other settings (and a tuning run's grid points) share what they share (every
    /// DPO setting builds on the same OPPU adapter), and nothing cached under one setting is
    /// ever read as another's. What the keys leave out is fixed per out directory (`EvalRunStamp`).
    private var keys: EvalSettingKeys { EvalSettingKeys(command) }
    private var tamPath: String { out + "/tam-" + keys.tam }
    private func oppuPath(_ user: EvalDataSet.User) -> String { dir(user) + "/oppu-" + keys.oppu }
    private func negativesPath(_ user: EvalDataSet.User) -> String {
        dir(user) + "/negatives-" + keys.negatives + ".jsonl"
    }
    private func dpoPath(_ user: EvalDataSet.User) -> String { dir(user) + "/dpo-" + keys.dpo }
    private func generationsPath(_ user: EvalDataSet.User, _ method: String) -> String {
        dir(user) + "/generations-\(method)-\(keys.generations(method)).jsonl"
    }
    private func diagnosticsPath(_ user: EvalDataSet.User, withDPO: Bool) -> String {
        dir(user) + "/diagnostics-\(withDPO ? keys.dpo : keys.oppu).json"
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
        let path = tamPath
        if let a = try cachedAdapter(path) { return a }
        var cfg = TrainingConfiguration.tam
        cfg.epochs = command.tamEpochs
        let lora = try pipeline.supervised(others.map(\.textExample), configuration: cfg, hooks: progress("tam"))
        try PEFTDirectory.save(lora.adapter(name: "tam"), model: model, to: path)
        return try cachedAdapter(path)!
    }

    /// OPPU: r=8 on q, v over the user's profile, on top of the TAM.
    func userAdapter(_ user: EvalDataSet.User, task: LoRAAdapter) throws -> LoRAAdapter {
        let path = oppuPath(user)
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
        let path = dpoPath(user)
        if let a = try cachedAdapter(path) { return a }
        let pairsPath = negativesPath(user), referencesPath = pairsPath + ".references.json"
        var pairs: [PreferencePair]
        var references: [String: PairReference] = [:]
        if let data = FileManager.default.contents(atPath: pairsPath) {
            pairs = try PreferenceImport.parse(data, format: .jsonl, task: "eval").pairs
            references = try FileManager.default.contents(atPath: referencesPath).map(Self.references) ?? [:]
        } else {
            var neg = NegativeConfiguration()
            neg.samples = command.samples
            neg.temperature = command.negativeTemperature
            neg.maxNewTokens = command.maxNewTokens
            let sampler = try pipeline.negatives(task: [AdapterUse(task)], user: oppu, configuration: neg)
            pairs = []
            for (i, h) in user.profile.enumerated() {
                let draw = try sampler.draw(for: h.textExample, index: i)
                guard let drawn = draw.stored(id: "negative:\(h.id)", task: "eval", basis: "") else { continue }
                pairs.append(drawn.pair)
                references[drawn.pair.id] = drawn.reference
            }
            // The scores first: the pairs file's presence is what says the stage is cached.
            try AtomicFile.write(try Self.encode(references), to: referencesPath, mode: 0o644)
            try AtomicFile.write(pairs.flatMap(PreferenceExport.line), to: pairsPath, mode: 0o644)
            log("\(user.name): \(pairs.count) negatives")
        }
        var cfg = TrainingConfiguration.dpo
        cfg.epochs = command.dpoEpochs
        cfg.beta = command.beta
        cfg.learningRate = command.dpoLearningRate
        let lora = try pipeline.preference(
            pairs.map { $0.textPreference(reference: references[$0.id]) }, continuing: oppu, configuration: cfg,
            frozen: [AdapterUse(task)], hooks: progress("\(user.name) dpo"))
        try PEFTDirectory.save(lora.adapter(name: "dpo"), model: model, to: path)
        return try cachedAdapter(path)!
    }

    /// The negatives' reference scores as cached beside them: each pair id's chosen and
    /// rejected Float bit patterns, so they read back exactly.
    static func encode(_ references: [String: PairReference]) throws -> [UInt8] {
        Array(try JSONEncoder().encode(references.mapValues { [$0.chosen.bitPattern, $0.rejected.bitPattern] }))
    }

    static func references(_ data: Data) throws -> [String: PairReference] {
        try JSONDecoder().decode([String: [UInt32]].self, from: data).compactMapValues { bits in
            bits.count == 2
                ? PairReference(basis: "", chosen: Float(bitPattern: bits[0]), rejected: Float(bitPattern: bits[1]))
                : nil
        }
    }

    /// The user's queries under `method`, cached per (method, user) as JSONL: {"id", "text"},
    /// and for the contrastive methods what the selector saw ("vhead", "changed").
    func generate(
        method: String, user: EvalDataSet.User, task: LoRAAdapter, oppu: LoRAAdapter?, dpo: LoRAAdapter?
    ) throws -> [String: EvalGeneration] {
        let path = generationsPath(user, method)
        var done: [String: EvalGeneration] = [:]
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            for line in text.split(separator: "\n") {
                if let (id, g) = EvalGeneration.parse(Data(line.utf8)) { done[id] = g }
            }
        }
        let ctx = InferenceContext(
            model: model, maxSequences: 2, maxContext: min(2048, model.config.contextLength), maxBatchTokens: 256,
            threads: command.modelOptions.threads)
        // One-line tasks score the first non-empty line: a "\n" stop string would end at the
        // newline small models often emit first, scoring an empty answer.
        let options = GenerationOptions(maxTokens: command.maxNewTokens)
        let t = AdapterUse(task)
        let greedy = SamplingParameters(repetitionPenalty: command.repeatPenalty, dry: command.dry)
        let contrast = ContrastiveParameters(
            alpha: command.alpha, tau: command.tau, repetitionPenalty: command.repeatPenalty, dry: command.dry)
        if user.queries.contains(where: { done[$0.id] == nil }) {
            try FileManager.default.createDirectory(atPath: dir(user), withIntermediateDirectories: true)
        }
        for q in user.queries where done[q.id] == nil {
            let prompt = pipeline.formatter.prompt(q.input).suffix(ctx.maxContext - command.maxNewTokens - 1)
            let text: String
            var choices: [ContrastiveChoice]?
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
                let (result, steps) = try ContrastiveGenerator(context: ctx, user: [t, AdapterUse(user)], base: [t])
                    .generate(prompt: Array(prompt), parameters: contrast, options: options)
                text = result.text
                choices = steps
            }
            let clean =
                command.multiline ? text.trimmingCharacters(in: .whitespacesAndNewlines) : SubjectLine.first(text)
            let g = EvalGeneration(text: clean, choices: choices)
            done[q.id] = g
            let handle =
                FileHandle(forWritingAtPath: path)
                ?? {
                    FileManager.default.createFile(atPath: path, contents: nil)
                    return FileHandle(forWritingAtPath: path)!
                }()
            handle.seekToEndOfFile()
            handle.write(try g.line(id: q.id) + Data("\n".utf8))
            try handle.synchronize()
            try handle.close()
        }
        return done
    }

    /// What the adapters do, for `user`: the KL divergences between the stacks on the last
    /// profile items and DPO's reward margins on the user's pairs before and after DPO.
    /// Cached as `diagnostics.json` beside the adapters.
    func diagnostics(
        _ user: EvalDataSet.User, task: LoRAAdapter, oppu: LoRAAdapter, dpo: LoRAAdapter?
    ) throws -> UserDiagnostics {
        let path = diagnosticsPath(user, withDPO: dpo != nil)
        if let data = FileManager.default.contents(atPath: path),
            let cached = try? JSONDecoder().decode(UserDiagnostics.self, from: data)
        {
            return cached
        }
        let d = AdapterDiagnostics(pipeline: pipeline)
        let items = user.profile.suffix(UserDiagnostics.profileItems).map(\.textExample)
        let t = AdapterUse(task), u = AdapterUse(oppu)
        var result = UserDiagnostics(
            klTaskBase: try d.meanKL(items, p: [t], q: []), klUserTask: try d.meanKL(items, p: [t, u], q: [t]))
        if let dpo, let data = FileManager.default.contents(atPath: negativesPath(user)) {
            let pairs = try PreferenceImport.parse(data, format: .jsonl, task: "eval").pairs.map(\.textPreference)
            result.klDPOTask = try d.meanKL(items, p: [t, AdapterUse(dpo)], q: [t])
            let margins = try d.rewardMargins(
                pairs, policies: [[t, u], [t, AdapterUse(dpo)]], reference: [t], beta: command.beta)
            result.marginsBefore = margins[0]
            result.marginsAfter = margins[1]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try AtomicFile.write([UInt8](try encoder.encode(result)), to: path, mode: 0o644)
        return result
    }
}
