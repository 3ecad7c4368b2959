import ArgumentParser
import Foundation
import TailorClient
import TailorEval
import TailorStore
import TailorWire

/// `tailor demo`: personalization end to end on data every developer has. It learns the commit
/// subject style of a repository's most active author through the daemon (task adapter on the
/// other authors, then OPPU → negatives → DPO for the author) and prints base, OPPU and CoPe
/// subjects beside the real ones for the author's latest commits, with ROUGE-L.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract:
            """
            Learn the commit-subject style of a git repository's most active author and compare base, OPPU and \
            CoPe with the real subjects.
            """
    )

    @Option(help: "The git repository (default: the current directory).") var repo: String = "."
    @Option(help: "GGUF model for the private daemon (default: the model Scripts/fetch-model.sh installs).") var model:
        String?
    @Option(
        help:
            """
            Use this running tailord instead of starting a private one (its store keeps the imported commits and \
            adapters).
            """
    )
    var socket: String?
    @Option(name: [.customShort("t"), .long], help: "The private daemon's threads (default: all cores).") var threads:
        Int?
    @Option(help: "Latest commits of the author to show (never trained on).") var shown: Int = 5
    @Option(name: .customLong("max-history"), help: "The author's earlier commits to learn from, at most.")
    var maxHistory: Int = 24
    @Option(name: .customLong("max-others"), help: "Other authors' commits for the task adapter, at most.")
    var maxOthers: Int = 40
    @Option(
        name: .customLong("tam-lr"),
        help:
            """
            Task adapter learning rate (the reference's 1e-4 needs far more steps than a demo has; at 1e-3 the 20 \
            steps did not teach a one-author repository's subject format).
            """
    )
    var tamLearningRate: Float = 3e-3
    @Option(
        name: .customLong("oppu-lr"),
        help:
            """
            User adapter learning rate (DPO's is 1/20 of it). Default: the model's tuned rate, as the daemon's \
            cope jobs and the autopilot take it (SmolLM2 3e-3).
            """
    )
    var oppuLearningRate: Float?
    @Option(name: .customLong("oppu-epochs"), help: "User adapter epochs.") var oppuEpochs: UInt32 = 1
    @Option(
        name: .customLong("batch"),
        help: "Sequences per optimizer step of the task and user adapters (small: more steps for the same compute).")
    var batchSize: UInt32 = 2
    @Option(
        name: .customLong("dry-multiplier"),
        help: "DRY's multiplier when generating (0: off), against copying a line of the change.")
    var dry: Float = GitSuggestion.defaultDRY
    @Flag(help: "Keep the private daemon's directory (store, adapters, log) afterwards.") var keep = false
    @Flag(
        help:
            """
            Print the results as one JSON object (per shown commit: the real subject and each method's text and \
            ROUGE-L; the means; seconds per stage) instead of the table.
            """
    )
    var json = false

    static let task = "commit_subject"
    static let othersUser = "demo-other-authors"

    func validate() throws {
        guard shown >= 1, maxHistory >= 4, maxOthers >= 4 else {
            throw ValidationError("--shown must be ≥ 1 and --max-history, --max-others ≥ 4")
        }
        if let threads, threads < 1 { throw ValidationError("--threads must be ≥ 1") }
        let rates: [(flag: String, rate: Float?)] = [("--tam-lr", tamLearningRate), ("--oppu-lr", oppuLearningRate)]
        for (flag, rate) in rates {
            if let rate, !(rate > 0 && rate < 1) {
                throw ValidationError("\(flag) must be in (0, 1), not \(rate)")
            }
        }
    }

    func run() async throws {
        let started = Date()
        func step(_ s: String) { Console.error(String(format: "[%5.0f s] ", Date().timeIntervalSince(started)) + s) }
        var stages = StageClock()

        step("reading git log of \(repo)")
        let git = try GitHistory(repository: repo, limit: 2000)
        let plan = try DemoPlan(git, limits: .init(shown: shown, history: maxHistory, others: maxOthers))
        let author =
            AdapterKey.isValidUserName(plan.author) ? plan.author : plan.author.replacingOccurrences(of: "/", with: "-")
        step(
            """
            \(git.commits.count) commits; most active author: \(plan.author) \
            (\(git.commits.filter { $0.author == plan.author }.count) commits)
            """
        )
        // The training items' prompts and the shown commits' generations, from one `CommitPrompt`.
        let changes = try CommitChange.of(plan.shown + plan.history + plan.others, repository: repo)
        var prompts: [String: String] = [:]
        for c in plan.history + plan.others {
            prompts[c.hash] = CommitPrompt.text(changes[c.hash, default: .empty])
        }
        if plan.taskFromAuthorsOlderCommits {
            step(
                """
                note: fewer than 8 commits by other authors, so the task adapter learns from \(plan.others.count) \
                of \(plan.author)'s older commits here, not from others' as in CoPe
                """
            )
        }

        var daemon: PrivateDaemon?
        if socket == nil {
            let path = try ModelOptions.path(model)
            step("starting a private tailord with \((path as NSString).lastPathComponent)")
            daemon = try await PrivateDaemon(model: path, threads: threads)
        }
        defer { daemon?.stop(keep: keep) }
        if keep, let d = daemon { step("the private daemon's files stay in \(d.directory)") }
        let client: TailorClient
        do {
            client = try await TailorClient.connect(
                to: daemon?.socket ?? TailorClient.socketPath(flag: socket), clientName: "tailor-demo/\(tailorVersion)")
        } catch {
            throw CLIError((error as? TailorClientError).map(CLIError.text) ?? "cannot reach tailord: \(error)")
        }
        stages.lap("setup")
        do {
            try await personalize(client, plan: plan, prompts: prompts, author: author, step: step, stages: &stages)
            let results = try await compare(client, plan: plan, changes: changes, author: author, step: step)
            stages.lap("generate")
            report(results, plan: plan, stages: stages)
            await client.close()
        } catch {
            await client.close()
            throw error
        }
        step("done")
    }

    private func items(_ commits: [GitHistory.Commit], _ prompts: [String: String]) -> [Preferences.HistoryItem] {
        commits.map {
            Preferences.HistoryItem(
                id: "git:" + $0.hash, task: Self.task, input: prompts[$0.hash] ?? "", output: $0.subject,
                source: "import")
        }
    }

    /// The training sequences' longest length in tokens: room for a prompt of
    /// `CommitPrompt.defaultBudget` characters with its subject, so none is cut (a step costs
    /// what its tokens cost, not this cap).
    static let sequenceTokens: UInt32 = 256

    /// Imports the commits, then trains the task adapter and the author's CoPe adapters as jobs.
    private func personalize(
        _ client: TailorClient, plan: DemoPlan, prompts: [String: String], author: String,
        step: (String) -> Void, stages: inout StageClock
    ) async throws {
        _ = try await client.addHistory(items(plan.others, prompts), user: Self.othersUser)
        _ = try await client.addHistory(items(plan.history, prompts), user: author)
        step("imported \(plan.others.count) commits for the task adapter and \(plan.history.count) of \(plan.author)'s")

        var tam = Jobs.SubmitRequest(kind: "tam", user: author, task: Self.task)
        tam.dataUser = Self.othersUser
        tam.parameters.epochs = 1
        tam.parameters.learningRate = tamLearningRate
        tam.parameters.batchSize = batchSize
        tam.parameters.maxTokens = Self.sequenceTokens
        step("training the task adapter (TAM) on the other commits")
        try await JobFollower(style: .for(json: false, fd: STDERR_FILENO), fd: STDERR_FILENO).follow(
            client, try await client.submitJob(tam).id)
        stages.lap("tam")

        var cope = Jobs.SubmitRequest(kind: "cope", user: author, task: Self.task)
        cope.parameters.epochs = oppuEpochs
        // Unset: the daemon resolves the model's tuned preset, as for every cope job.
        if let oppuLearningRate { cope.parameters.learningRate = oppuLearningRate }
        cope.parameters.batchSize = batchSize
        cope.parameters.maxTokens = Self.sequenceTokens
        cope.parameters.samples = 2
        cope.parameters.maxNewTokens = 24
        step("training \(plan.author)'s adapter: OPPU → synthetic negatives → DPO")
        let ran = try await JobFollower(style: .for(json: false, fd: STDERR_FILENO), fd: STDERR_FILENO).follow(
            client, try await client.submitJob(cope).id)
        stages.lap("oppu+negatives+dpo")
        for s in ran { stages.record(s.stage, seconds: s.seconds) }
    }

    /// One shown commit's subjects: the real one and each method's, with ROUGE-L.
    struct Shown {
        var commit: GitHistory.Commit
        var outputs: [(mode: String, text: String, rougeL: Double)]
    }

    static let modes = ["base", "oppu", "cope"]

    /// Generates the shown commits' subjects under base, OPPU and CoPe.
    private func compare(
        _ client: TailorClient, plan: DemoPlan, changes: [String: CommitChange], author: String,
        step: (String) -> Void
    ) async throws -> [Shown] {
        step("generating subjects for \(plan.author)'s \(plan.shown.count) latest commits (not trained on)")
        var results: [Shown] = []
        for c in plan.shown {
            var shown = Shown(commit: c, outputs: [])
            for mode in Self.modes {
                let text = try await GitSuggestion.generate(
                    client, change: changes[c.hash, default: .empty], user: author, mode: mode,
                    fallback: false, dry: dry
                ).subject
                shown.outputs.append((mode, text, Rouge.score(prediction: text, reference: c.subject).rougeL.fmeasure))
            }
            results.append(shown)
        }
        return results
    }

    /// Prints the results: a table for people, or one JSON object with `--json`.
    private func report(_ results: [Shown], plan: DemoPlan, stages: StageClock) {
        let means = Dictionary(
            uniqueKeysWithValues: Self.modes.map { m in
                (
                    m,
                    results.map { $0.outputs.first { $0.mode == m }?.rougeL ?? 0 }.reduce(0, +)
                        / Double(max(1, results.count))
                )
            })
        let loops = Dictionary(
            uniqueKeysWithValues: Self.modes.map { m in
                (m, results.count { $0.outputs.contains { $0.mode == m && Repetition.loops($0.text) } })
            })
        if json {
            let object: [String: Any] = [
                "author": plan.author, "repository": repo,
                "task_adapter_from_authors_older_commits": plan.taskFromAuthorsOlderCommits,
                "commits": results.map { r in
                    [
                        "hash": r.commit.hash, "real": r.commit.subject,
                        "methods": Dictionary(
                            uniqueKeysWithValues: r.outputs.map {
                                ($0.mode, ["text": $0.text, "rouge_l": $0.rougeL] as [String: Any])
                            }),
                    ]
                        as [String: Any]
                },
                "mean_rouge_l": means, "loops": loops, "seconds": stages.seconds,
            ]
            let data =
                (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])) ?? Data()
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("")
        for r in results {
            let files = r.commit.files
            print(
                """
                commit \(r.commit.hash.prefix(10))  files: \
                \(files.prefix(4).joined(separator: ", "))\(files.count > 4 ? ", …" : "")
                """
            )
            print("  real  \(r.commit.subject)")
            for o in r.outputs {
                print(
                    String(format: "  %-5@ %@   (ROUGE-L %.2f)", o.mode, o.text.isEmpty ? "(empty)" : o.text, o.rougeL))
            }
            print("")
        }
        print(
            "mean ROUGE-L over \(results.count) commits: "
                + Self.modes.map { String(format: "%@ %.3f", $0, means[$0] ?? 0) }.joined(separator: ", "))
        print(
            "subjects repeating a word of \(Repetition.minimumWordLength)+ characters \(Repetition.minimumCount)+ "
                + "times (loops, or a copied line of code): "
                + Self.modes.map { "\($0) \(loops[$0] ?? 0)" }.joined(separator: ", "))
        print(
            "seconds: " + stages.seconds.map { "\($0.key) \(Int($0.value.rounded()))" }.sorted().joined(separator: ", ")
        )
    }
}

/// Wall time per stage of a command, in the order the stages ran.
struct StageClock {
    private var last = Date()
    private(set) var seconds: [String: Double] = [:]

    /// Ends the stage `name` now; the next one starts.
    mutating func lap(_ name: String) {
        let now = Date()
        seconds[name, default: 0] += now.timeIntervalSince(last)
        last = now
    }

    /// Adds a part of a stage measured elsewhere (a job's own stages), without ending one.
    mutating func record(_ name: String, seconds s: Double) {
        seconds[name, default: 0] += s
    }
}
