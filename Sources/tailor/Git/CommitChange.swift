import Foundation

/// What a commit (or the staged change) did, as the commit-message prompt shows it: each file
/// with its added and removed line counts, and the changed lines themselves, from
/// `git show --numstat -p -U0` (or `git diff --cached`). Read with a byte cap, so one huge
/// commit cannot make the demo or a hook read megabytes.
struct CommitChange: Equatable, Sendable {
    /// One changed file.
    struct File: Equatable, Sendable {
        var path: String
        /// Lines added and removed; nil for a binary file.
        var added: Int?
        var removed: Int?
    }

    var files: [File]
    /// Changed lines in patch order: "file: <path>" before each file's lines, then its "+…"
    /// and "-…" lines (hunk headers and context left out).
    var lines: [String]

    /// No files and no lines: an empty commit's change, and the one a lookup falls back on
    /// (its prompt is the instruction alone).
    static let empty = CommitChange(files: [], lines: [])

    /// The most output read from git per change.
    static let maxBytes = 256 << 10

    /// The change of commit `hash` in the repository at `path`.
    /// - Throws: `CLIError` when git fails.
    static func of(commit hash: String, repository path: String) throws -> CommitChange {
        parse(
            try Git.run(
                ["-C", path, "show", "--numstat", "-p", "-U0", "--no-color", "--no-ext-diff", "--format=", hash],
                maxBytes: maxBytes))
    }

    /// The change of each of `commits`, by hash: what the demo and `tailor git dataset` build
    /// their prompts from.
    /// - Throws: `CLIError` when git fails.
    static func of(_ commits: [GitHistory.Commit], repository path: String) throws -> [String: CommitChange] {
        var changes: [String: CommitChange] = [:]
        for c in commits { changes[c.hash] = try of(commit: c.hash, repository: path) }
        return changes
    }

    /// The staged change of the repository at `path` (what `git commit` would record).
    static func staged(repository path: String) throws -> CommitChange {
        parse(
            try Git.run(
                ["-C", path, "diff", "--cached", "--numstat", "-p", "-U0", "--no-color", "--no-ext-diff"],
                maxBytes: maxBytes))
    }

    /// Parses numstat lines followed by a -U0 patch. A file's header (from `diff --git` to its
    /// first `@@`) names it; only the lines of its hunks are kept, so a removed line that
    /// begins with "--" is never mistaken for a header.
    static func parse(_ text: String) -> CommitChange {
        var files: [File] = []
        var lines: [String] = []
        var inPatch = false, inHeader = false
        var oldPath = ""
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(raw)
            if line.hasPrefix("diff --git ") {
                inPatch = true
                inHeader = true
                continue
            }
            if !inPatch {
                let f = line.split(separator: "\t", maxSplits: 2)
                if f.count == 3 { files.append(File(path: String(f[2]), added: Int(f[0]), removed: Int(f[1]))) }
            } else if inHeader {
                if line.hasPrefix("--- ") { oldPath = Self.path(line.dropFirst(4), side: "a/") }
                if line.hasPrefix("+++ ") {
                    let new = Self.path(line.dropFirst(4), side: "b/")
                    lines.append("file: " + (new == "/dev/null" ? oldPath : new))
                }
                if line.hasPrefix("@@") { inHeader = false }
            } else if line.hasPrefix("+") || line.hasPrefix("-") {
                let body = line.dropFirst().trimmingCharacters(in: .whitespaces)
                if !body.isEmpty { lines.append(String(line.prefix(1)) + body) }
            }
        }
        return CommitChange(files: files, lines: lines)
    }

    private static func path(_ s: Substring, side: String) -> String {
        s.hasPrefix(side) ? String(s.dropFirst(side.count)) : String(s)
    }
}

/// The commit-message prompt: one builder for the demo's history, its shown commits and the
/// hook's staged change, so the model sees the same layout in training and in use.
///
/// It shows the change alone. A commit's body is written with its subject, after the hook
/// has suggested one, so a prompt that showed it would train on (and the demo would score
/// with) an input the tool never has; with one, the model learned to copy the body's first
/// line. Nor does the instruction say "one-line": a model with little to go on copied the
/// words ("the one-line subject of a git commit") into the subject.
enum CommitPrompt {
    /// The prompt's usual size in characters (about 130-160 tokens for SmolLM2, whose BPE
    /// gives code about 3 characters a token): enough for the file list and the first changed
    /// lines, and short enough that training on it fits the demo's minutes.
    static let defaultBudget = 480

    /// The prompt for `change`, at most about `budget` characters: the file list first, then
    /// the changed lines in order until the budget is spent.
    static func text(_ change: CommitChange, budget: Int = defaultBudget) -> String {
        let head = "Write the subject of a git commit for this change.\n"
        let shown = change.files.prefix(8).map { f in
            f.added.map { "\(f.path) (+\($0) -\(f.removed ?? 0))" } ?? "\(f.path) (binary)"
        }
        var text = head + "files: " + shown.joined(separator: ", ")
        if change.files.count > 8 { text += ", … (\(change.files.count) files)" }
        text += "\n"
        var diff = ""
        for line in change.lines {
            let cut = line.count > 160 ? line.prefix(160) + "…" : Substring(line)
            guard text.count + diff.count + cut.count + 1 <= budget else { break }
            diff += cut + "\n"
        }
        if !diff.isEmpty { text += "diff:\n" + diff }
        return text + "subject:"
    }
}

/// Runs git, reading at most a cap of its output.
enum Git {
    /// Runs `git args` and returns its output (cut at `maxBytes`; git is stopped then).
    /// - Parameter label: what failed, for the error ("git log in PATH"); by default the command.
    /// - Throws: `CLIError` naming the command and git's message when it fails.
    static func run(_ args: [String], maxBytes: Int = 16 << 20, label: String? = nil) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git"] + args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        do { try p.run() } catch { throw CLIError("cannot run git: \(error)") }
        var data = Data()
        let reader = out.fileHandleForReading
        while data.count < maxBytes {
            let chunk = reader.readData(ofLength: min(64 << 10, maxBytes - data.count))
            if chunk.isEmpty { break }
            data += chunk
        }
        let cut = data.count >= maxBytes
        if cut {
            // The child inherits a mask that blocks SIGTERM; SIGKILL and a closed pipe end it.
            kill(p.processIdentifier, SIGKILL)
            try? reader.close()
        }
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard cut || p.terminationStatus == 0 else {
            let what = label ?? "git " + args.filter { !$0.hasPrefix("--") }.prefix(4).joined(separator: " ")
            throw CLIError("\(what) failed: " + message.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return String(decoding: data, as: UTF8.self)
    }
}
