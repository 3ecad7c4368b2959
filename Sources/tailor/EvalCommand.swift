import ArgumentParser
import Foundation
import TailorEngine
import TailorEval
import TailorStore
import TailorTraining

/// `tailor eval`: CoPe's whole per-user pipeline on a data set in the per-user format of
/// ../shared/data, then every query under each method, scored with ROUGE.
///
/// Resumable: adapters, negatives and generations are cached in the out directory, so a killed
/// run restarts where it stopped.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract:
            """
            Run TAM → OPPU → negatives → DPO per user and score base, tam, oppu, cope, cd-only and dpo-only with \
            ROUGE.
            """
    )

    @Option(help: "A task folder holding user_others.json and users.json, or LaMP's *questions.json and *outputs.json.")
    var data: String
    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Methods, comma-separated.") var methods: String = "base,tam,oppu,cope,cd-only,dpo-only"
    @Option(help: "Use the first N users (0: all).") var users: Int = 0
    @Option(help: "Output directory (caches and results).") var out: String
    @Option(name: .customLong("max-new-tokens"), help: "Tokens per generated output.") var maxNewTokens: Int = 32
    @Flag(help: "Keep generating past a newline (long outputs such as abstracts).") var multiline = false
    @Option(name: .customLong("max-tokens"), help: "Longest training sequence.") var maxTokens: Int = 256
    @Option(name: .customLong("tam-epochs"), help: "TAM epochs (reference: 3).") var tamEpochs: Int = 3
    @Option(help: "Only these users (comma-separated names), after --users.") var only: String?
    @Option(
        name: .customLong("tam-items"), help: "Train the TAM on the first N items of user_others.json only (0: all).")
    var tamItems: Int = 0
    @Option(name: .customLong("oppu-epochs"), help: "OPPU epochs (reference: 2).") var oppuEpochs: Int = 2
    @Option(name: .customLong("dpo-epochs"), help: "DPO epochs (reference: 1).") var dpoEpochs: Int = 1
    @Option(help: "Negatives sampled per prompt.") var samples: Int = 3
    @Option(help: "CoPe's α.") var alpha: Float = 0.1
    @Option(help: "CoPe's τ.") var tau: Float = 0.1
    @Option(
        name: .customLong("repeat-penalty"),
        help:
            """
            Repetition penalty for every method's greedy decoding (1: none, the reference code's setting); it \
            looks back over the last 64 tokens, prompt included.
            """
    )
    var repeatPenalty: Float = 1
    @Option(
        name: .customLong("dry-multiplier"),
        help:
            """
            DRY's multiplier for every method's decoding (0: off, the reference code's setting), over the window \
            and breakers `tailor git suggest` and the demo decode with.
            """
    )
    var dryMultiplier: Float = 0
    @Option(name: .customLong("dry-allowed-length"), help: "DRY's longest repeat left unpenalized.")
    var dryAllowedLength: Int = 2
    @Option(help: "DPO's β.") var beta: Float = 0.01
    @Option(name: .customLong("oppu-lr"), help: "OPPU's learning rate (reference: 1e-4).") var oppuLearningRate: Float =
        1e-4
    @Option(name: .customLong("dpo-lr"), help: "DPO's learning rate (reference: 5e-6).") var dpoLearningRate: Float =
        5e-6
    @Option(
        name: .customLong("holdout"),
        help:
            """
            Tuning mode: score each user's last K profile items (trained on the rest) instead of the queries, so \
            hyperparameters are chosen without touching the query golds.
            """
    )
    var holdout: Int = 0
    @Option(name: .customLong("negative-temperature"), help: "Sampling temperature of the negatives.")
    var negativeTemperature: Float = 1
    @Flag(
        help:
            """
            Choose TAM epochs, OPPU's rate and epochs, the negatives' K and temperature, DPO's β, rate and \
            epochs, then α and τ, stage by stage, on each user's last --holdout items (8 unless given), never on \
            the query golds; writes tune.md and tune.json.
            """
    )
    var tune = false
    @Option(name: .customLong("tune-grid"), help: "A JSON file of the values --tune tries (see tune.json's \"grid\").")
    var tuneGrid: String?

    static let allMethods = ["base", "tam", "oppu", "cope", "cd-only", "dpo-only"]

    func validate() throws {
        let list = methods.split(separator: ",").map(String.init)
        guard !list.isEmpty, list.allSatisfy(Self.allMethods.contains) else {
            throw ValidationError("--methods takes a comma list of \(Self.allMethods.joined(separator: ", "))")
        }
        guard repeatPenalty > 0, repeatPenalty.isFinite else {
            throw ValidationError("--repeat-penalty must be a positive number, not \(repeatPenalty)")
        }
        guard dryMultiplier >= 0, dryMultiplier.isFinite, (1...64).contains(dryAllowedLength) else {
            throw ValidationError("--dry-multiplier must be ≥ 0 and --dry-allowed-length 1...64")
        }
        guard negativeTemperature > 0, negativeTemperature.isFinite else {
            throw ValidationError("--negative-temperature must be a positive number, not \(negativeTemperature)")
        }
        if tuneGrid != nil && !tune { throw ValidationError("--tune-grid needs --tune") }
    }

    /// Names the results of a decoding variant (`-rp1.3`, `-dry0.8l2`), so one out dir can hold
    /// them beside the default's.
    var variantSuffix: String { decodingVariant.isEmpty ? "" : "-" + decodingVariant }

    /// The decoding settings every method shares, as they name files (empty: the defaults).
    var decodingVariant: String {
        (repeatPenalty == 1 ? "" : "rp\(repeatPenalty)")
            + (dryMultiplier == 0 ? "" : "dry\(dryMultiplier)l\(dryAllowedLength)")
    }

    /// DRY as `tailor git suggest` decodes with it, at this run's multiplier and length.
    var dry: DRYParameters {
        DRYParameters(
            multiplier: dryMultiplier, allowedLength: dryAllowedLength, window: Int(GitSuggestion.dryWindow),
            breakers: GitSuggestion.dryBreakers)
    }

    /// The items the task adapter trains on: the other users', or the first --tam-items of them.
    func taskItems(_ set: EvalDataSet) -> [HistoryItem] {
        tamItems > 0 ? Array(set.others.prefix(tamItems)) : set.others
    }

    /// Items per user held back for tuning: --holdout, or 8 under --tune.
    var heldOut: Int { tune && holdout == 0 ? 8 : holdout }

    func run() throws {
        let model = try modelOptions.load()
        var set = try EvalDataSet(directory: data, users: users, validate: heldOut)
        if let only {
            let names = Set(only.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
            set.users = set.users.filter { names.contains($0.name) }
            guard !set.users.isEmpty else { throw CLIError("--only names no user of \(data)") }
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let taskSet = taskItems(set)
        try EvalRunStamp(self, taskItems: taskSet.count).claim(out)
        if tune {
            let grid = try tuneGrid.map(TuneGrid.load) ?? TuneGrid()
            let report = try EvalTuner(model: model, start: self, grid: grid).run(set)
            print(report)
            return
        }
        let harness = EvalHarness(model: model, out: out, command: self)
        let methodList = methods.split(separator: ",").map(String.init)
        let task = try harness.taskAdapter(taskSet)
        var generations: [String: [String: EvalOutput]] = [:]
        var diagnostics: [String: UserDiagnostics] = [:]
        for user in set.users {
            let personal = methodList.contains { ["oppu", "cope", "cd-only", "dpo-only"].contains($0) }
            let oppu = personal ? try harness.userAdapter(user, task: task) : nil
            let dpo =
                methodList.contains { $0 == "cope" || $0 == "dpo-only" }
                ? try harness.dpoAdapter(user, task: task, oppu: oppu!) : nil
            if let oppu { diagnostics[user.name] = try harness.diagnostics(user, task: task, oppu: oppu, dpo: dpo) }
            for method in methodList {
                let outputs = try harness.generate(method: method, user: user, task: task, oppu: oppu, dpo: dpo)
                for (id, generation) in outputs {
                    let gold = user.queries.first { $0.id == id }!.gold
                    // Keyed by user and query: a co-authored item is a query of each of its authors.
                    generations[method, default: [:]][user.name + "\u{0}" + id] = EvalOutput(
                        user: user.name, gold: gold, generation: generation)
                }
            }
        }
        try EvalReport(
            methods: methodList, generations: generations, diagnostics: diagnostics, out: out,
            command: CommandLine.arguments.joined(separator: " "), suffix: variantSuffix
        ).write()
        print(try String(contentsOfFile: out + "/results\(variantSuffix).md", encoding: .utf8))
    }
}
