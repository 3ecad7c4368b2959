import ArgumentParser
import Foundation
import TailorClient
import TailorStore
import TailorTraining
import TailorWire

/// `tailor git`: commit subjects in the author's own voice, from the daemon, for the staged
/// change; and the hooks that pre-fill them and learn from what was committed.
struct GitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "git",
        abstract:
            """
            Suggest a commit subject for the staged change, and install the git hooks that pre-fill it and learn \
            from your commits.
            """,
        subcommands: [GitSuggestCommand.self, GitHookCommand.self, GitDatasetCommand.self])

    /// The task the suggestions and their feedback belong to (the demo's and the data set's).
    static let task = "commit_subject"
}

/// Options shared by the git subcommands.
struct GitOptions: ParsableArguments {
    @Option(help: "The git repository (default: the current directory).") var repo: String = "."
    @Option(
        help:
            """
            Whose adapters personalize the subject (default: the repository's user.name, as `tailor demo` names \
            authors).
            """
    )
    var user: String?
    @Option(
        help:
            """
            Decoding mode: base, tam, oppu, dpo-only, cope or cd-only; a user without that mode's adapters gets \
            the best they have.
            """
    )
    var mode: String = "cope"
    @Option(help: "Seconds the whole suggestion may take; past it nothing is suggested.") var timeout: Double = 2

    func validate() throws {
        guard timeout > 0, timeout <= 600 else { throw ValidationError("--timeout must be in (0, 600] seconds") }
    }

    /// The personalization user: --user, else git's user.name made a valid user name.
    func resolvedUser() -> String {
        if let user { return user }
        let name =
            (try? Git.run(["-C", repo, "config", "user.name"]).trimmingCharacters(in: .whitespacesAndNewlines)) ?? ""
        return name.isEmpty ? NSUserName() : GitSuggestion.userName(forAuthor: name)
    }
}

/// `tailor git suggest`: prints a subject for the staged change.
struct GitSuggestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "suggest", abstract: "Print a personalized subject for the staged change.")

    @OptionGroup var git: GitOptions
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let change = try CommitChange.staged(repository: git.repo)
        guard !change.files.isEmpty else {
            throw CLIError("nothing is staged in \(git.repo): `git add` the change first")
        }
        let s = try await GitSuggestion.make(
            change: change, user: git.resolvedUser(), mode: git.mode, connection: connection,
            timeout: git.timeout)
        guard !s.subject.isEmpty else { throw CLIError("the model suggested nothing for this change") }
        print(s.subject)
    }
}

/// A suggested subject with what produced it, kept between the two hooks.
struct GitSuggestion: Codable, Equatable {
    var requestID: String
    var prompt: String
    var subject: String
    var user: String
    var mode: String

    /// A valid personalization user name for a git author ("/" is the one character names
    /// may not hold).
    static func userName(forAuthor author: String) -> String {
        let name = String(author.replacingOccurrences(of: "/", with: "-").prefix(64))
        return AdapterKey.isValidUserName(name) ? name : "git-author"
    }

    /// Asks the daemon for a subject for `change`, within `timeout` seconds, falling back to
    /// what the user has when `mode` needs adapters they lack.
    /// - Throws: `CLIError` when the daemon is unreachable, fails, or the time is up.
    /// DRY's multiplier for suggestions: a subject that loops ("PEP 8: "PEP 8: …") or copies a
    /// long changed line is of no use; on peps-dev it also scored no worse (BENCHMARKS.md).
    static let defaultDRY: Float = 0.8
    /// A subject is one line: only a newline ends a DRY match, so a repeated "PEP 8:" counts.
    static let dryBreakers = ["\n"]
    /// DRY looks back over the subject and the prompt's last tokens only: a loop is caught,
    /// while a phrase taken from the change's first lines (near the prompt's start) is not.
    static let dryWindow: UInt32 = 24

    static func make(
        change: CommitChange, user: String, mode: String, connection: ConnectionOptions,
        timeout: Double
    ) async throws -> GitSuggestion {
        try await withDeadline(seconds: timeout) {
            let client = try await connection.connect()
            defer { Task { await client.close() } }
            return try await generate(client, change: change, user: user, mode: mode, fallback: true)
        }
    }

    /// A subject for `change` from `client` in `mode` (or, with `fallback`, in what the user
    /// has when they lack that mode's adapters). A prompt longer than the model's context is
    /// retried with less of the change, down to the file list alone.
    /// - Parameter dry: DRY's multiplier (0: off), against copying a line of the change.
    /// - Throws: `CLIError` with the daemon's message, or when the model suggests nothing.
    static func generate(
        _ client: TailorClient, change: CommitChange, user: String, mode: String,
        fallback: Bool, dry: Float = defaultDRY
    ) async throws -> GitSuggestion {
        var budget = CommitPrompt.defaultBudget
        while true {
            let prompt = CommitPrompt.text(change, budget: budget)
            var request = GenerateRequest(
                model: "", input: .prompt(prompt), maxTokens: 40, user: user, task: GitCommand.task)
            request.mode = mode
            request.fallback = fallback
            request.sampling.dryMultiplier = dry
            request.sampling.drySequenceBreakers = Self.dryBreakers
            request.sampling.dryPenaltyLastN = Self.dryWindow
            do {
                // The subject is the first non-empty line: leading newlines are skipped. Without
                // a fallback the mode is the one asked for, so leaving the loop at the line's end
                // cancels the rest of the generation; with one, the closing statistics say
                // which mode ran, so the stream is read to its end (40 tokens at most).
                var text = "", served = mode
                for try await event in try client.generate(request) {
                    if case let .stats(s) = event { served = s.mode }
                    text += event.tokenText ?? ""
                    if !fallback && SubjectLine.isComplete(text) { break }
                }
                return GitSuggestion(
                    requestID: "git-\(UUID().uuidString.lowercased())", prompt: prompt,
                    subject: SubjectLine.first(text), user: user, mode: served)
            } catch let TailorClientError.status(s)
                where s.code == .invalidArgument && s.field == "generate.prompt" && budget > 64
            {
                budget /= 2
            } catch let TailorClientError.status(s) {
                throw CLIError(s.message)
            }
        }
    }
}

/// Runs `body`, giving up (CancellationError → CLIError) after `seconds`.
func withDeadline<T: Sendable>(seconds: Double, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw CLIError("no answer within \(seconds) s")
        }
        return value
    }
}
