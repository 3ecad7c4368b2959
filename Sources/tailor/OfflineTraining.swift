import ArgumentParser
import Foundation
import TailorEngine
import TailorDaemon
import TailorStore
import TailorTraining
import TailorWire

/// `tailor train --offline`: CoPe's stages on files, without the daemon — for scripts and
/// evaluation. Adapters are read and written as PEFT directories, negatives as JSONL pairs.
struct OfflineTraining {
    /// The files an offline run reads and writes.
    struct Files: ParsableArguments {
        @Option(name: .customLong("task-adapter"), help: "Offline: the task adapter (PEFT dir) applied under the user's.") var taskAdapter: String?
        @Option(name: .customLong("user-adapter"), help: "Offline: the user's adapter (PEFT dir) negatives score with and DPO continues.") var userAdapter: String?
        @Option(name: .customLong("file-user"), help: "Offline: the user_id to take from a per-user users.json.") var fileUser: String?
        @Option(help: "Offline: output — a PEFT dir (tam, oppu, dpo, cope) or a JSONL file of pairs (negatives).") var out: String?
    }

    let kind: String
    let task: String
    let model: String?
    let data: String?
    let files: Files
    let parameters: Jobs.Parameters
    let threads: Int?

    func run() throws {
        guard let data else { throw ValidationError("--offline needs --data FILE") }
        guard let out = files.out else { throw ValidationError("--offline needs --out PATH") }
        let path = model ?? ModelOptions().modelPath
        let model = try Model(path: path)
        var request = Jobs.SubmitRequest(kind: kind, user: "offline", task: task)
        request.parameters = parameters
        let spec: JobSpec
        do { spec = try JobSpec(request) } catch { throw ValidationError("\(error)") }
        let formatter = ExampleFormatter(tokenizer: model.tokenizer, maxTokens: spec.maxTokens)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: data))
        let task = try files.taskAdapter.map { try Self.loadPEFT($0, model: model) }.map { [AdapterUse($0)] } ?? []
        var user = try files.userAdapter.map { try Self.loadPEFT($0, model: model) }
        let stages: [String] = kind == "cope" ? ["oppu", "negatives", "dpo"] : [kind]
        var pairs: [PreferencePair] = []
        let parsed = try PreferenceImport.parse(bytes, format: DataCommand.Import.guessFormat(data) == "jsonl" ? .jsonl : .perUser,
                                                task: self.task, user: files.fileUser)
        pairs = parsed.pairs
        for stage in stages {
            switch stage {
            case "tam", "oppu":
                let examples = parsed.history.prefix(spec.maxItems > 0 ? spec.maxItems : .max).compactMap { formatter.example(input: $0.input, output: $0.output) }
                let lora = TrainableLoRA(config: model.config, rank: spec.sft.rank, alpha: spec.sft.alpha, targets: try spec.sft.loraTargets(), seed: spec.sft.seed)
                try train(model, lora, frozen: stage == "tam" ? [] : task, .sft(examples), spec.sft, stage: stage, maxTokens: spec.maxTokens)
                user = lora.adapter(name: stage)
                if stages.count == 1 { try Self.savePEFT(user!, model: model, to: out) }
            case "negatives":
                guard let u = user else { throw ValidationError("negatives need --user-adapter (or run cope)") }
                let graph = TrainingGraph(model: model, maxTokens: spec.maxTokens, maxRank: 1, threads: threads)
                let sampler = try NegativeSampler(graph: graph, base: task, user: task + [AdapterUse(u)], configuration: spec.negatives)
                pairs = []
                for (i, h) in parsed.history.prefix(spec.maxItems > 0 ? spec.maxItems : .max).enumerated() {
                    guard let worst = try sampler.negative(input: h.input, output: h.output, index: i, formatter: formatter) else { continue }
                    pairs.append(PreferencePair(id: "negative:" + h.id, task: self.task, prompt: h.input, chosen: h.output,
                                                rejected: worst.text, source: .synthetic))
                    Console.error("negatives \(i + 1)/\(min(parsed.history.count, spec.maxItems > 0 ? spec.maxItems : .max))  reward \(worst.reward)")
                }
                let file = stages.count == 1 ? out : out + ".negatives.jsonl"
                try AtomicFile.write(pairs.flatMap(PreferenceExport.line), to: file, mode: 0o644)
            default:
                guard let u = user else { throw ValidationError("dpo needs --user-adapter (or run cope)") }
                let examples = pairs.compactMap { p -> PreferenceExample? in
                    guard let c = formatter.example(input: p.prompt, output: p.chosen), let r = formatter.example(input: p.prompt, output: p.rejected) else { return nil }
                    return PreferenceExample(chosen: c, rejected: r)
                }
                let lora = try TrainableLoRA(continuing: u, config: model.config)
                try train(model, lora, frozen: task, .dpo(examples), spec.dpo, stage: "dpo", maxTokens: spec.maxTokens)
                try Self.savePEFT(lora.adapter(name: "dpo"), model: model, to: out)
            }
        }
        Console.error("wrote \(out)")
    }

    private func train(_ model: Model, _ lora: TrainableLoRA, frozen: [AdapterUse], _ objective: LoRATrainer.Objective,
                       _ config: TrainingConfiguration, stage: String, maxTokens: Int) throws {
        let graph = TrainingGraph(model: model, maxTokens: maxTokens, maxRank: lora.rank, threads: threads)
        let trainer = try LoRATrainer(graph: graph, trainable: lora, frozen: frozen, objective: objective, configuration: config)
        let json = isatty(STDOUT_FILENO) == 0
        while !trainer.isFinished {
            let r = try trainer.runStep()
            if json {
                print("{\"stage\":\"\(stage)\",\"step\":\(r.step),\"total_steps\":\(r.totalSteps),\"loss\":\(r.loss),\"learning_rate\":\(r.learningRate)}")
            } else {
                Console.error(String(format: "%@ %d/%d  loss %.4f  lr %.2e  |g| %.3f", stage, r.step, r.totalSteps, r.loss, r.learningRate, r.gradientNorm))
            }
        }
    }

    static func loadPEFT(_ dir: String, model: Model) throws -> LoRAAdapter {
        try PEFTAdapter.load(name: (dir as NSString).lastPathComponent, configJSON: Data(contentsOf: URL(fileURLWithPath: dir + "/adapter_config.json")),
                             safetensors: [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/adapter_model.safetensors"))), config: model.config)
    }

    static func savePEFT(_ adapter: LoRAAdapter, model: Model, to dir: String) throws {
        let (config, weights) = try PEFTAdapter.export(adapter, config: model.config, baseModel: (model.file.path as NSString).lastPathComponent)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try AtomicFile.write(config, to: dir + "/adapter_config.json", mode: 0o644)
        try AtomicFile.write(weights, to: dir + "/adapter_model.safetensors", mode: 0o644)
    }
}
