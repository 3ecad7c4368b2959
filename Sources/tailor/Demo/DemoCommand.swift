import ArgumentParser
import Foundation
import TailorClient
import TailorDaemon
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
        abstract: "Learn the commit-subject style of a git repository's most active author and compare base, OPPU and CoPe with the real subjects.")

    @Option(help: "The git repository (default: the current directory).") var repo: String = "."
    @Option(help: "GGUF model for the private daemon (default: the model Scripts/fetch-model.sh installs).") var model: String?
    @Option(help: "Use this running tailord instead of starting a private one (its store keeps the imported commits and adapters).")
    var socket: String?
    @Option(name: [.customShort("t"), .long], help: "The private daemon's threads (default: all cores).") var threads: Int?
    @Option(help: "Latest commits of the author to show (never trained on).") var shown: Int = 5
    @Option(name: .customLong("max-history"), help: "The author's earlier commits to learn from, at most.") var maxHistory: Int = 24
    @Option(name: .customLong("max-others"), help: "Other authors' commits for the task adapter, at most.") var maxOthers: Int = 48
    @Option(name: .customLong("tam-lr"), help: "Task adapter learning rate (the reference's 1e-4 needs far more steps than a demo has).")
    var tamLearningRate: Float = 1e-3
    @Option(name: .customLong("oppu-lr"), help: "User adapter learning rate.") var oppuLearningRate: Float = 1e-3
    @Option(name: .customLong("oppu-epochs"), help: "User adapter epochs.") var oppuEpochs: UInt32 = 2
    @Flag(help: "Keep the private daemon's directory (store, adapters, log) afterwards.") var keep = false

    static let task = "commit_subject"
    static let othersUser = "demo-other-authors"

    func validate() throws {
        guard shown >= 1, maxHistory >= 4, maxOthers >= 4 else { throw ValidationError("--shown must be ≥ 1 and --max-history, --max-others ≥ 4") }
        if let threads, threads < 1 { throw ValidationError("--threads must be ≥ 1") }
    }

    func run() async throws {
        let started = Date()
        func step(_ s: String) { Console.error(String(format: "[%5.0f s] ", Date().timeIntervalSince(started)) + s) }

        step("reading git log of \(repo)")
        let git = try GitHistory(repository: repo, limit: 2000)
        let plan = try DemoPlan(git, limits: .init(shown: shown, history: maxHistory, others: maxOthers))
        let author = AdapterKey.isValidUserName(plan.author) ? plan.author : plan.author.replacingOccurrences(of: "/", with: "-")
        step("\(git.commits.count) commits; most active author: \(plan.author) (\(git.commits.filter { $0.author == plan.author }.count) commits)")
        if plan.taskFromAuthorsOlderCommits {
            step("note: fewer than 8 commits by other authors, so the task adapter learns from \(plan.others.count) of \(plan.author)'s older commits here, not from others' as in CoPe")
        }

        var daemon: PrivateDaemon?
        if socket == nil {
            let path = model ?? ModelOptions.defaultModelPath
            guard FileManager.default.fileExists(atPath: path) else { throw CLIError("no model at \(path): run Scripts/fetch-model.sh or pass --model") }
            step("starting a private tailord with \((path as NSString).lastPathComponent)")
            daemon = try await PrivateDaemon(model: path, threads: threads)
        }
        defer { daemon?.stop(keep: keep) }
        if keep, let d = daemon { step("the private daemon's files stay in \(d.directory)") }
        let client: TailorClient
        do {
            client = try await TailorClient.connect(to: daemon?.socket ?? DaemonPaths.clientSocket(flag: socket), clientName: "tailor-demo/\(tailorVersion)")
        } catch {
            throw CLIError("cannot reach tailord: \(error)")
        }
        do {
            try await personalize(client, plan: plan, author: author, step: step)
            try await compare(client, plan: plan, author: author, step: step)
            await client.close()
        } catch {
            await client.close()
            throw error
        }
        step("done")
    }

    private func items(_ commits: [GitHistory.Commit]) -> [Preferences.HistoryItem] {
        commits.map { Preferences.HistoryItem(id: "git:" + $0.hash, task: Self.task, input: $0.input, output: $0.subject, source: "import") }
    }

    /// Imports the commits, then trains the task adapter and the author's CoPe adapters as jobs.
    private func personalize(_ client: TailorClient, plan: DemoPlan, author: String, step: (String) -> Void) async throws {
        _ = try await client.addHistory(items(plan.others), user: Self.othersUser)
        _ = try await client.addHistory(items(plan.history), user: author)
        step("imported \(plan.others.count) commits for the task adapter and \(plan.history.count) of \(plan.author)'s")

        var tam = Jobs.SubmitRequest(kind: "tam", user: author, task: Self.task)
        tam.dataUser = Self.othersUser
        tam.parameters.epochs = 1
        tam.parameters.learningRate = tamLearningRate
        tam.parameters.maxTokens = 128
        step("training the task adapter (TAM) on the other commits")
        try await JobFollower(json: false, fd: STDERR_FILENO).follow(client, try await client.submitJob(tam).id)

        var cope = Jobs.SubmitRequest(kind: "cope", user: author, task: Self.task)
        cope.parameters.epochs = oppuEpochs
        cope.parameters.learningRate = oppuLearningRate
        cope.parameters.maxTokens = 128
        cope.parameters.samples = 2
        cope.parameters.maxNewTokens = 24
        step("training \(plan.author)'s adapter: OPPU → synthetic negatives → DPO")
        try await JobFollower(json: false, fd: STDERR_FILENO).follow(client, try await client.submitJob(cope).id)
    }

    /// Generates the shown commits' subjects under base, OPPU and CoPe and prints them with ROUGE-L.
    private func compare(_ client: TailorClient, plan: DemoPlan, author: String, step: (String) -> Void) async throws {
        let modes = ["base", "oppu", "cope"]
        var scores: [String: [Double]] = [:]
        step("generating subjects for \(plan.author)'s \(plan.shown.count) latest commits (not trained on)")
        print("")
        for c in plan.shown {
            print("commit \(c.hash.prefix(10))  files: \(c.files.prefix(4).joined(separator: ", "))\(c.files.count > 4 ? ", …" : "")")
            print("  real  \(c.subject)")
            for mode in modes {
                var request = GenerateRequest(model: "", input: .prompt(c.input), maxTokens: 40, user: author, task: Self.task)
                request.mode = mode
                // The subject is the first non-empty line: leading newlines are skipped, and
                // leaving the loop at the line's end cancels the rest of the generation.
                var text = ""
                for try await event in try client.generate(request) {
                    text += event.tokenText ?? ""
                    if SubjectLine.isComplete(text) { break }
                }
                text = SubjectLine.first(text)
                let r = Rouge.score(prediction: text, reference: c.subject).rougeL.fmeasure
                scores[mode, default: []].append(r)
                print(String(format: "  %-5@ %@   (ROUGE-L %.2f)", mode, text.isEmpty ? "(empty)" : text, r))
            }
            print("")
        }
        print("mean ROUGE-L over \(plan.shown.count) commits: " + modes.map { m in
            String(format: "%@ %.3f", m, (scores[m] ?? []).reduce(0, +) / Double(max(1, scores[m]?.count ?? 0)))
        }.joined(separator: ", "))
    }
}
