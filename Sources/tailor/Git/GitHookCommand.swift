import ArgumentParser
import Foundation
import TailorClient
import TailorStore
import TailorWire

/// `tailor git hook install|uninstall|run`: a `prepare-commit-msg` hook that pre-fills the
/// suggested subject, and a `commit-msg` hook that tells the daemon what was committed:
/// - the suggestion kept as shown → an accepted completion (a history item);
/// - kept but changed, or replaced → an edited completion (a pair: the real subject over the
///   suggestion);
/// - no suggestion (a message given with -m, say) → a history item of the change and its subject.
///
/// The hooks never block or break a commit: every failure (daemon down, slow past the
/// timeout, nothing staged) prints nothing and exits 0.
struct GitHookCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hook",
        abstract: "Install, remove or run the git hooks that suggest subjects and learn from your commits.",
        subcommands: [Install.self, Uninstall.self, Run.self])

    /// The line that marks a hook as Tailor's, so that uninstall removes only ours.
    static let marker = "# tailor git hook"
    static let hooks = ["prepare-commit-msg", "commit-msg"]

    /// The repository's hooks directory (`core.hooksPath` honoured).
    static func hooksDirectory(_ repo: String) throws -> String {
        let path = try Git.run(["-C", repo, "rev-parse", "--git-path", "hooks"]).trimmingCharacters(
            in: .whitespacesAndNewlines)
        return path.hasPrefix("/") ? path : (repo as NSString).appendingPathComponent(path)
    }

    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Install the prepare-commit-msg and commit-msg hooks in a repository.")
        @Option(help: "The git repository (default: the current directory).") var repo: String = "."
        @Option(help: "Passed on to the hooks: the daemon's socket.") var socket: String?
        @Option(help: "Passed on to the hooks: the personalization user.") var user: String?
        @Option(help: "Passed on to the hooks: seconds a suggestion may take before the commit goes on without one.")
        var timeout: Double = 2

        func validate() throws {
            guard timeout > 0, timeout <= 600 else { throw ValidationError("--timeout must be in (0, 600] seconds") }
        }

        func run() throws {
            let dir = try GitHookCommand.hooksDirectory(repo)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let tailor = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
            var extra = " --timeout \(timeout)"
            if let socket { extra += " --socket " + shellQuoted(socket) }
            if let user { extra += " --user " + shellQuoted(user) }
            for hook in GitHookCommand.hooks {
                let path = dir + "/" + hook
                if let existing = try? String(contentsOfFile: path, encoding: .utf8),
                    !existing.contains(GitHookCommand.marker)
                {
                    throw CLIError(
                        "\(path) exists and is not Tailor's: merge it by hand, or move it away and install again")
                }
                let script = """
                    #!/bin/sh
                    \(GitHookCommand.marker): installed by `tailor git hook install`; `tailor git hook uninstall` \
                    removes it.
                    # It never blocks a commit: with the daemon down or slow it does nothing.
                    \(shellQuoted(tailor)) git hook run \(hook)\(extra) -- "$@" </dev/null >/dev/null 2>&1
                    exit 0

                    """
                try AtomicFile.write(Array(script.utf8), to: path, mode: 0o755)
            }
            print("installed prepare-commit-msg and commit-msg in \(dir)")
        }
    }

    struct Uninstall: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove Tailor's git hooks from a repository (others' hooks are left alone).")
        @Option(help: "The git repository (default: the current directory).") var repo: String = "."

        func run() throws {
            let dir = try GitHookCommand.hooksDirectory(repo)
            var removed = 0
            for hook in GitHookCommand.hooks {
                let path = dir + "/" + hook
                guard let text = try? String(contentsOfFile: path, encoding: .utf8),
                    text.contains(GitHookCommand.marker)
                else { continue }
                try FileManager.default.removeItem(atPath: path)
                removed += 1
            }
            try? FileManager.default.removeItem(atPath: GitHookCommand.pendingPath(repo))
            print(removed == 0 ? "no Tailor hooks in \(dir)" : "removed \(removed) hooks from \(dir)")
        }
    }

    /// What the hooks call: `run prepare-commit-msg FILE [SOURCE [SHA]]` or `run commit-msg FILE`.
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run one hook (what the installed hooks call).", shouldDisplay: false)
        @Argument var hook: String
        @Argument var arguments: [String] = []
        @OptionGroup var git: GitOptions
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            do {
                switch hook {
                case "prepare-commit-msg": try await prepare()
                case "commit-msg": try await record()
                default: break
                }
            } catch {
                // A hook never breaks a commit.
            }
        }

        /// Pre-fills the message of a plain `git commit` (no -m, -F, template, merge or squash).
        private func prepare() async throws {
            guard let file = arguments.first, arguments.count < 2 || arguments[1].isEmpty else { return }
            let change = try CommitChange.staged(repository: git.repo)
            guard !change.files.isEmpty else { return }
            let suggestion = try await GitSuggestion.make(
                change: change, user: git.resolvedUser(), mode: git.mode,
                connection: connection, timeout: git.timeout)
            guard !suggestion.subject.isEmpty else { return }
            let message = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
            try AtomicFile.write(Array((suggestion.subject + "\n" + message).utf8), to: file, mode: 0o644)
            let data = try JSONEncoder().encode(suggestion)
            try AtomicFile.write([UInt8](data), to: GitHookCommand.pendingPath(git.repo), mode: 0o600)
        }

        /// Tells the daemon what the commit's subject became.
        private func record() async throws {
            guard let file = arguments.first, let message = try? String(contentsOfFile: file, encoding: .utf8) else {
                return
            }
            let subject = GitHookCommand.subject(of: message)
            let pendingPath = GitHookCommand.pendingPath(git.repo)
            let pending = FileManager.default.contents(atPath: pendingPath).flatMap {
                try? JSONDecoder().decode(GitSuggestion.self, from: $0)
            }
            try? FileManager.default.removeItem(atPath: pendingPath)
            guard !subject.isEmpty else { return }
            try await withDeadline(seconds: git.timeout) { [git, connection] in
                let client = try await connection.connect()
                defer { Task { await client.close() } }
                if let p = pending {
                    let kept = subject == p.subject
                    let event = Preferences.Feedback(
                        requestID: p.requestID, task: GitCommand.task, prompt: p.prompt, shown: p.subject,
                        kept: kept ? "" : subject, outcome: kept ? "accepted" : "edited", mode: p.mode)
                    _ = try await client.recordFeedback(event, user: p.user)
                } else {
                    // A merge's message is git's, not the author's: nothing to learn from it.
                    let gitDir = (pendingPath as NSString).deletingLastPathComponent
                    guard !FileManager.default.fileExists(atPath: gitDir + "/MERGE_HEAD") else { return }
                    let change = try CommitChange.staged(repository: git.repo)
                    guard !change.files.isEmpty else { return }
                    let prompt = CommitPrompt.text(change)
                    let item = Preferences.HistoryItem(
                        id: "git-commit:" + GitHookCommand.digest(prompt + "\n" + subject), task: GitCommand.task,
                        input: prompt, output: subject, source: "git-hook")
                    _ = try await client.addHistory([item], user: git.resolvedUser())
                }
            }
        }
    }

    /// Where prepare-commit-msg leaves its suggestion for commit-msg.
    static func pendingPath(_ repo: String) -> String {
        let gitDir =
            (try? Git.run(["-C", repo, "rev-parse", "--git-dir"]).trimmingCharacters(in: .whitespacesAndNewlines))
            ?? ".git"
        return (gitDir.hasPrefix("/") ? gitDir : (repo as NSString).appendingPathComponent(gitDir))
            + "/tailor-suggestion.json"
    }

    /// A commit message's subject: its first line that is not a comment and not blank.
    static func subject(of message: String) -> String {
        message.split(whereSeparator: \.isNewline).lazy.map { $0.trimmingCharacters(in: .whitespaces) }
            .first { !$0.isEmpty && !$0.hasPrefix("#") } ?? ""
    }

    /// A short stable id for a history item (FNV-1a, 64 bits, hex).
    static func digest(_ s: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return String(h, radix: 16)
    }
}

/// `s` quoted for a POSIX shell.
func shellQuoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
