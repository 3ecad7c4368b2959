import ArgumentParser
import Foundation
import TailorClient
import TailorEngine
import TailorJobs
import TailorTraining
import TailorWire

/// Hyperparameter flags shared by online and offline training; unset ones take the kind's
/// defaults (CoPe's reference settings), which the help shows per stage from the same values
/// the trainer uses.
struct HyperparameterOptions: ParsableArguments {
    @Option(help: "LoRA rank (default: \(Stage.each { "\($0.rank)" })).") var rank: UInt32?
    @Option(help: "LoRA alpha (default: \(Stage.each { "\(Int($0.alpha))" })).") var alpha: Float?
    @Option(help: "Targets, e.g. q,v or q,k,v,o (default: \(Stage.each { $0.targets.joined(separator: ",") })).")
    var targets: String?
    @Option(name: .customLong("lr"), help: "Peak learning rate (default: \(Stage.each { "\($0.learningRate)" })).")
    var learningRate: Float?
    @Option(
        name: .customLong("dpo-lr"),
        help:
            """
            cope jobs: DPO's learning rate (default: 1/20 of --lr when given, else \
            \(TrainingConfiguration.dpo.learningRate)).
            """
    )
    var dpoLearningRate: Float?
    @Option(help: "Epochs (default: \(Stage.each { "\($0.epochs)" })).") var epochs: UInt32?
    @Option(
        name: .customLong("batch"),
        help: "Sequences (or pairs) per optimizer step (default: \(Stage.each { "\($0.batchSize)" })).")
    var batchSize: UInt32?
    @Option(
        name: .customLong("accumulate"),
        help: "Batches per optimizer step (default: \(TrainingConfiguration().gradientAccumulation)).")
    var gradientAccumulation: UInt32?
    @Option(
        name: .customLong("warmup"),
        help: "Warmup fraction of the steps (default: \(Stage.each { "\($0.warmupRatio)" })).")
    var warmupRatio: Float?
    @Option(name: .customLong("clip"), help: "Gradient-norm clip (default: \(Stage.each { "\($0.maxGradNorm)" })).")
    var maxGradNorm: Float?
    @Option(help: "DPO β (default: \(TrainingConfiguration.dpo.beta)).") var beta: Float?
    @Option(help: "Negatives sampled per prompt, K (default: \(NegativeConfiguration().samples)).") var samples: UInt32?
    @Option(
        name: .customLong("max-new-tokens"),
        help: "Tokens per sampled negative (default: \(NegativeConfiguration().maxNewTokens)).")
    var maxNewTokens: UInt32?
    @Option(
        name: .customLong("reward-alpha"),
        help: "α of the implicit reward log π_user − α·log π_base (default: \(NegativeConfiguration().alpha)).")
    var rewardAlpha: Float?
    @Flag(name: .customLong("length-normalized"), help: "Score negatives by per-token means (as the reference code).")
    var lengthNormalized = false
    @Option(help: "Seed (default: \(TrainingConfiguration().seed)).") var seed: UInt64?
    @Option(
        help:
            """
            Where unset rates come from: tuned (the rates chosen on profile holdout for the model, where it has \
            them; else the reference's) or reference (the CoPe reference code's).
            """
    )
    var preset: String = ""

    /// The stages' defaults, for the help.
    enum Stage {
        /// "tam X, oppu Y, dpo Z" for a setting, or its one value when the stages agree.
        static func each(_ value: (TrainingConfiguration) -> String) -> String {
            let values = [("tam", TrainingConfiguration.tam), ("oppu", .oppu), ("dpo", .dpo)].map { ($0, value($1)) }
            if Set(values.map(\.1)).count == 1 { return values[0].1 }
            return values.map { "\($0) \($1)" }.joined(separator: ", ")
        }
    }
    @Option(
        name: .customLong("max-tokens"), help: "Longest training sequence (default: \(JobSpec.defaultMaxTokens)).")
    var maxTokens: UInt32?
    @Option(name: .customLong("max-items"), help: "Use at most this many history items (default: all).")
    var maxItems: UInt32?

    var parameters: Jobs.Parameters {
        var p = Jobs.Parameters()
        p.rank = rank ?? 0
        p.alpha = alpha ?? 0
        p.targets = targets.map { $0.split(separator: ",").map(String.init) } ?? []
        p.learningRate = learningRate ?? 0
        p.preset = preset
        p.epochs = epochs ?? 0
        p.batchSize = batchSize ?? 0
        p.gradientAccumulation = gradientAccumulation ?? 0
        p.warmupRatio = warmupRatio ?? 0
        p.maxGradNorm = maxGradNorm ?? 0
        p.beta = beta ?? 0
        p.samples = samples ?? 0
        p.maxNewTokens = maxNewTokens ?? 0
        p.rewardAlpha = rewardAlpha ?? 0
        p.lengthNormalized = lengthNormalized
        p.seed = seed ?? 0
        p.maxTokens = maxTokens ?? 0
        p.maxItems = maxItems ?? 0
        p.dpoLearningRate = dpoLearningRate ?? 0
        return p
    }
}

/// `tailor train tam|oppu|negatives|dpo|cope`: submits a training job to the daemon and follows
/// it (a progress bar on a terminal, JSON lines otherwise); with `--offline`, trains on files
/// without the daemon.
struct TrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Train adapters: tam, oppu, negatives, dpo or cope (oppu → negatives → dpo).",
        discussion: """
            The kinds, in CoPe's order:
              tam        the task adapter, from other users' data for --task
              oppu       --user's adapter (One PEFT Per User) over the task adapter
              negatives  per history item, the worst of K samples of the task model
              dpo        DPO: the user's real outputs over negatives and feedback
              cope       oppu, negatives, then dpo, in one job (for --mode cope)
            Unset hyperparameters take each stage's defaults, shown below.
            """)

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var hyper: HyperparameterOptions
    @Argument(help: "tam, oppu, negatives, dpo or cope.") var kind: String
    @Option(help: "The user to personalize for (tam: whose data to leave out).") var user: String = ""
    @Option(help: "The task.") var task: String
    @Option(help: "Online: the daemon's model id (default: the only one). Offline: the GGUF file.") var model: String?
    @Option(help: "Import this file (JSONL, per-user or LaMP) for --user first; offline: the training data.") var data:
        String?
    @Option(name: .customLong("checkpoint-every"), help: "Steps between checkpoints.") var checkpointEvery: UInt32 = 0
    @Flag(name: .customLong("no-wait"), help: "Submit and print the job id without following it.") var noWait = false
    @Flag(help: "Print progress as JSON lines (one object per update).") var json = false
    @Flag(help: "Train on files, without the daemon.") var offline = false
    @Flag(
        name: .customLong("print-config"),
        help: "Print the resolved hyperparameters as PEFT's LoraConfig and TRL's SFTConfig/DPOConfig (JSON), and exit.")
    var printConfig = false
    @OptionGroup var files: OfflineTraining.Files
    @Option(name: [.customShort("t"), .long], help: "Offline: threads (default: all cores).") var threads: Int?
    @Option(
        name: .customLong("prefill-path"),
        help:
            """
            Offline: how prompts and the frozen weights' products multiply: auto (measured), float (sgemm), \
            integer or bf16 (oneDNN).
            """
    )
    var prefillPath: String?

    func validate() throws {
        guard ["tam", "oppu", "negatives", "dpo", "cope"].contains(kind) else {
            throw ValidationError("kind must be tam, oppu, negatives, dpo or cope, not '\(kind)'")
        }
        _ = try ModelOptions.prefillSetting(prefillPath)
        if prefillPath != nil && !offline {
            throw ValidationError("--prefill-path sets an offline run's path; the daemon's is its prefill_path setting")
        }
        if files.candidates != nil && !(offline && (kind == "negatives" || kind == "cope")) {
            throw ValidationError(
                "--candidates writes an offline negatives stage: use it with --offline negatives or cope")
        }
    }

    func run() async throws {
        if printConfig {
            var request = Jobs.SubmitRequest(kind: kind, user: user, task: task)
            request.parameters = hyper.parameters
            let spec: JobSpec
            // The rates tuned for the model when --model names its file.
            let config = try model.flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil }.map {
                try Model(path: $0).config
            }
            do { spec = try JobSpec(request, shape: config.map(TrainingPreset.ModelShape.init)) } catch {
                throw CLIError("\(error)")
            }
            let json = try JSONSerialization.data(
                withJSONObject: try spec.huggingFaceConfigs(model: config), options: [.sortedKeys, .prettyPrinted])
            print(String(decoding: json, as: UTF8.self))
            return
        }
        if offline {
            try OfflineTraining(
                kind: kind, task: task, model: model, data: data, files: files, parameters: hyper.parameters,
                threads: threads, prefillPath: try ModelOptions.prefillSetting(prefillPath)
            ).run()
            return
        }
        var request = Jobs.SubmitRequest(kind: kind, user: user, task: task)
        request.model = model ?? ""
        request.parameters = hyper.parameters
        request.checkpointEvery = checkpointEvery
        try await withClient(connection) { client in
            if let data {
                guard let bytes = FileManager.default.contents(atPath: data) else {
                    throw CLIError("cannot read \(data)")
                }
                let format = DataCommand.Import.guessFormat(data)
                guard format != "lamp" else { throw CLIError("import LaMP files with `tailor data import` first") }
                let r = try await client.importData(
                    Preferences.ImportRequest(user: user, task: task, format: format), data: [UInt8](bytes))
                Console.error("imported \(r.history) history items (\(r.skipped) already present)")
            }
            let job = try await client.submitJob(request)
            if noWait {
                print(job.id)
                return
            }
            try await JobFollower(style: .for(json: json)).follow(client, job.id)
        }
    }
}

/// Prints a job's progress: a one-line bar on a terminal, a plain line per update when piped,
/// or one JSON object per update when asked for.
struct JobFollower {
    enum Style {
        case bar, lines, json

        /// JSON when asked for; else the bar on a terminal and lines in a pipe or a log.
        static func `for`(json: Bool, fd: Int32 = STDOUT_FILENO) -> Style {
            json ? .json : isatty(fd) != 0 ? .bar : .lines
        }
    }

    let style: Style
    /// Where the bar and the final line go (the demo keeps standard output for its results).
    var fd: Int32 = STDOUT_FILENO

    private var json: Bool { style == .json }

    /// Follows job `id` to its end, drawing its progress.
    /// - Returns: the wall seconds of each stage the job ran while followed, in order.
    /// - Throws: `CLIError` when the job fails or is cancelled.
    @discardableResult
    func follow(_ client: TailorClient, _ id: String) async throws -> [(stage: String, seconds: Double)] {
        var last: Jobs.Info?
        var stages: [(stage: String, seconds: Double)] = []
        var stageStart = Date()
        for try await info in try client.watchJob(id) {
            if !info.stage.isEmpty, info.stage != stages.last?.stage {
                if style == .bar, !stages.isEmpty { Console.write("\n", to: fd) }  // keep the finished stage's bar
                stageStart = Date()
                stages.append((info.stage, 0))
            }
            if !stages.isEmpty { stages[stages.count - 1].seconds = Date().timeIntervalSince(stageStart) }
            last = info
            if json {
                let obj: [String: Any] = [
                    "id": info.id, "state": info.state, "stage": info.stage, "step": info.step,
                    "total_steps": info.totalSteps,
                    "loss": Double(info.loss), "tokens_per_second": Double(info.tokensPerSecond),
                    "eta_seconds": Double(info.etaSeconds), "adapter_version": info.adapterVersion, "error": info.error,
                    "resumed": info.resumed, "origin": info.origin,
                ]
                let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else if style == .lines {
                Console.write(
                    String(
                        format: "%@ %@ %d/%d  loss %.4f  %.0f tok/s  ETA %.0fs\n", info.id,
                        info.stage.isEmpty ? info.state : info.stage, info.step, info.totalSteps, info.loss,
                        info.tokensPerSecond, info.etaSeconds), to: fd)
            } else {
                let width = 30
                let done = info.totalSteps > 0 ? Int(Double(info.step) / Double(info.totalSteps) * Double(width)) : 0
                let bar = String(repeating: "█", count: done) + String(repeating: "·", count: width - done)
                Console.write(
                    String(
                        format: "\r\u{1B}[K%@ %@ %@ %d/%d  loss %.4f  %.0f tok/s  ETA %.0fs", info.id,
                        info.stage.isEmpty ? info.state : info.stage,
                        bar, info.step, info.totalSteps, info.loss, info.tokensPerSecond, info.etaSeconds), to: fd)
            }
        }
        if style == .bar { Console.write("\n", to: fd) }
        guard let last else { throw CLIError("the job's progress stream ended without a state") }
        switch last.state {
        case "succeeded":
            if !json { Console.write("\(last.id) succeeded: adapter version \(last.adapterVersion)\n", to: fd) }
            return stages
        case "failed": throw CLIError("job \(last.id) failed: \(last.error)")
        default: throw CLIError("job \(last.id) was \(last.state)")
        }
    }
}

/// `tailor jobs ls|watch|cancel`.
struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs", abstract: "List, follow and cancel training jobs.",
        subcommands: [List.self, Watch.self, Cancel.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List jobs, newest first.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "Only this user's.") var user: String = ""
        @Option(help: "Only this task's.") var task: String = ""

        func run() async throws {
            let jobs = try await withClient(connection) { try await $0.jobs(user: user, task: task) }
            if jobs.isEmpty { print("no jobs"); return }
            print("ID\tKIND\tUSER\tTASK\tSTATE\tPROGRESS\tCREATED\tERROR")
            for j in jobs {
                let when = ISO8601DateFormatter().string(
                    from: Date(timeIntervalSince1970: Double(j.createdUnixMS) / 1000))
                let kind = j.origin == "autopilot" ? j.kind + " (autopilot)" : j.kind
                print(
                    """
                    \(j.id)\t\(kind)\t\(j.user.isEmpty ? "-" : j.user)\t\(j.task)\t\(j.state)\t\(j.stage) \
                    \(j.step)/\(j.totalSteps)\t\(when)\(j.error.isEmpty ? "" : "\t" + j.error)
                    """
                )
            }
        }
    }

    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Follow a job until it ends.")
        @OptionGroup var connection: ConnectionOptions
        @Flag(help: "Print progress as JSON lines (one object per update).") var json = false
        @Argument(help: "The job id.") var id: String

        func run() async throws {
            try await withClient(connection) {
                try await JobFollower(style: .for(json: json)).follow($0, id)
            }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a job.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The job id.") var id: String

        func run() async throws {
            let j = try await withClient(connection) { try await $0.cancelJob(id) }
            print("\(j.id): \(j.state)")
        }
    }
}
