import ArgumentParser
import Foundation
import TailorEngine
import TailorJobs
import TailorStore
import TailorTraining
import TailorWire

/// `tailor train --offline`: CoPe's stages on files, without the daemon — for scripts and
/// evaluation. Adapters are read and written as PEFT directories, negatives as JSONL pairs.
struct OfflineTraining {
    /// The files an offline run reads and writes.
    struct Files: ParsableArguments {
        @Option(
            name: .customLong("task-adapter"), help: "Offline: the task adapter (PEFT dir) applied under the user's.")
        var taskAdapter: String?
        @Option(
            name: .customLong("user-adapter"),
            help: "Offline: the user's adapter (PEFT dir) negatives score with and DPO continues.") var userAdapter:
            String?
        @Option(name: .customLong("file-user"), help: "Offline: the user_id to take from a per-user users.json.")
        var fileUser: String?
        @Option(help: "Offline: output — a PEFT dir (tam, oppu, dpo, cope) or a JSONL file of pairs (negatives).")
        var out: String?
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
        let model = try Model(path: try ModelOptions.path(model))
        var request = Jobs.SubmitRequest(kind: kind, user: "offline", task: task)
        request.parameters = parameters
        let spec: JobSpec
        do { spec = try JobSpec(request) } catch { throw ValidationError("\(error)") }
        let pipeline = PersonalizationPipeline(model: model, maxTokens: spec.maxTokens, threads: threads)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: data))
        let task = try files.taskAdapter.map { try Self.loadPEFT($0, model: model) }.map { [AdapterUse($0)] } ?? []
        var user = try files.userAdapter.map { try Self.loadPEFT($0, model: model) }
        let stages = spec.kind.stages
        let parsed = try PreferenceImport.parse(
            bytes, format: DataCommand.Import.guessFormat(data) == "jsonl" ? .jsonl : .perUser,
            task: self.task, user: files.fileUser)
        let history = Array(parsed.history.prefix(spec.maxItems > 0 ? spec.maxItems : .max))
        var pairs = parsed.pairs
        for stage in stages {
            switch stage {
            case .tam, .oppu:
                let lora = try pipeline.supervised(
                    history.map(\.textExample), configuration: spec.sft, frozen: stage == .tam ? [] : task,
                    hooks: progress(stage))
                user = lora.adapter(name: stage.rawValue)
                if stages.count == 1 { try Self.savePEFT(user!, model: model, to: out) }
            case .negatives:
                guard let u = user else { throw ValidationError("negatives need --user-adapter (or run cope)") }
                let sampler = try pipeline.negatives(task: task, user: u, configuration: spec.negatives)
                pairs = []
                for (i, h) in history.enumerated() {
                    guard let worst = try sampler.negative(for: h.textExample, index: i) else { continue }
                    pairs.append(
                        PreferencePair(
                            id: "negative:" + h.id, task: self.task, prompt: h.input, chosen: h.output,
                            rejected: worst.text, source: .synthetic))
                    Console.error("negatives \(i + 1)/\(history.count)  reward \(worst.reward)")
                }
                let file = stages.count == 1 ? out : out + ".negatives.jsonl"
                try AtomicFile.write(pairs.flatMap(PreferenceExport.line), to: file, mode: 0o644)
            case .dpo, .cope:
                guard let u = user else { throw ValidationError("dpo needs --user-adapter (or run cope)") }
                let lora = try pipeline.preference(
                    pairs.map(\.textPreference), continuing: u, configuration: spec.dpo, frozen: task,
                    hooks: progress(.dpo))
                try Self.savePEFT(lora.adapter(name: "dpo"), model: model, to: out)
            }
        }
        Console.error("wrote \(out)")
    }

    /// Each step's progress: one JSON object per line when stdout is not a terminal, else a
    /// line on stderr.
    private func progress(_ stage: JobSpec.Kind) -> PersonalizationPipeline.Hooks {
        let json = isatty(STDOUT_FILENO) == 0
        return PersonalizationPipeline.Hooks(didStep: { r, _ in
            if json {
                print(
                    "{\"stage\":\"\(stage.rawValue)\",\"step\":\(r.step),\"total_steps\":\(r.totalSteps),\"loss\":\(r.loss),\"learning_rate\":\(r.learningRate)}"
                )
            } else {
                Console.error(
                    String(
                        format: "%@ %d/%d  loss %.4f  lr %.2e  |g| %.3f", stage.rawValue, r.step, r.totalSteps, r.loss,
                        r.learningRate,
                        r.gradientNorm))
            }
        })
    }

    static func loadPEFT(_ dir: String, model: Model) throws -> LoRAAdapter {
        try PEFTAdapter.load(
            name: (dir as NSString).lastPathComponent,
            configJSON: Data(contentsOf: URL(fileURLWithPath: dir + "/adapter_config.json")),
            safetensors: [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/adapter_model.safetensors"))),
            config: model.config)
    }

    static func savePEFT(_ adapter: LoRAAdapter, model: Model, to dir: String) throws {
        let (config, weights) = try PEFTAdapter.export(
            adapter, config: model.config, baseModel: (model.file.path as NSString).lastPathComponent)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try AtomicFile.write(config, to: dir + "/adapter_config.json", mode: 0o644)
        try AtomicFile.write(weights, to: dir + "/adapter_model.safetensors", mode: 0o644)
    }
}
