import Foundation

/// A repository's non-merge commits: author, subject and files. The demo turns the ones it
/// uses into commit_subject examples whose input is the change itself (`CommitPrompt`); a
/// body is never read, since no prompt shows one.
struct GitHistory {
    /// One commit.
    struct Commit: Equatable {
        var hash: String
        var author: String
        var subject: String
        var files: [String]
    }

    /// Newest first.
    var commits: [Commit]

    /// Reads the newest `limit` non-merge commits of the repository at `path` with `git log`.
    /// - Throws: `CLIError` saying that git is missing or that `path` is not a repository.
    init(repository path: String, limit: Int) throws {
        // Records start with RS; fields end with US; --name-only lists the files after the subject.
        let text = try Git.run(
            [
                "-C", path, "log", "--no-merges", "-n", "\(limit)", "--format=%x1e%H%x1f%an%x1f%s%x1f",
                "--name-only",
            ],
            label: "git log in \(path)")
        commits = Self.parse(text)
    }

    /// Parses `git log` output in the format above (separate so tests can feed it text).
    static func parse(_ text: String) -> [Commit] {
        text.split(separator: "\u{1E}").compactMap { record in
            let f = record.split(separator: "\u{1F}", omittingEmptySubsequences: false)
            guard f.count >= 4 else { return nil }
            let subject = f[2].trimmingCharacters(in: .whitespacesAndNewlines)
            guard !subject.isEmpty else { return nil }
            let files = f[3].split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                !$0.isEmpty
            }
            return Commit(hash: String(f[0]), author: String(f[1]), subject: subject, files: files)
        }
    }

    /// The authors by commit count, most active first (ties by name, so the choice is stable).
    var authorsByActivity: [(name: String, commits: Int)] {
        Dictionary(grouping: commits, by: \.author).map { ($0.key, $0.value.count) }
            .sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
    }
}
