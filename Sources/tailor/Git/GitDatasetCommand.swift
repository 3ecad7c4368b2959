import ArgumentParser
import Foundation
import TailorStore

/// `tailor git dataset`: a repository's history as a per-user commit_subject data set in the
/// layout of ../shared/data (`users.json`, `user_others.json`), with the prompts that the demo
/// and the hooks build (`CommitPrompt`). `tailor eval --data` then runs the demo's pipeline on
/// every author with enough commits, not just the most active one, with paired statistics;
/// `--except` keeps out the authors whose items chose the hyperparameters, so the result is a
/// check on users the tuning never saw.
struct GitDatasetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataset",
        abstract:
            """
            Write a repository's history as a per-user commit_subject data set (users.json, user_others.json) for \
            tailor eval, with the demo's prompts.
            """
    )

    @Option(help: "The git repository (default: the current directory).") var repo: String = "."
    @Option(help: "The folder to write users.json and user_others.json into (created if missing).") var out: String
    @Option(help: "Each user's latest commits, scored as the queries.") var queries: Int = 4
    @Option(name: .customLong("max-profile"), help: "Each user's earlier commits to train on, at most.")
    var maxProfile: Int = 32
    @Option(name: .customLong("min-profile"), help: "Fewest earlier commits that make an author a user.")
    var minProfile: Int = 8
    @Option(
        name: .customLong("max-others"),
        help: "Commits by authors who are not users, newest first, for the task adapter, at most.")
    var maxOthers: Int = 64
    @Option(help: "At most N users, most active first (0: every author with enough commits).") var users: Int = 0
    @Option(
        help:
            """
            Authors never made users (comma-separated names), e.g. those whose items chose the hyperparameters; \
            their commits may still train the task adapter.
            """
    )
    var except: String?
    @Option(help: "Newest non-merge commits read from git log.") var limit: Int = 5000

    func validate() throws {
        guard queries >= 1, minProfile >= 1, maxProfile >= minProfile, maxOthers >= 1, users >= 0, limit >= 1 else {
            throw ValidationError(
                "--queries, --min-profile, --max-others and --limit must be ≥ 1, and --max-profile ≥ --min-profile")
        }
    }

    func run() throws {
        let git = try GitHistory(repository: repo, limit: limit)
        let excluded = Set((except ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        let split = CommitDataSplit(
            git, queries: queries, profile: minProfile...maxProfile, others: maxOthers, users: users,
            except: excluded)
        guard !split.users.isEmpty else {
            throw CLIError(
                """
                no author of \(repo) has \(queries + minProfile) commits (\(queries) queries and \(minProfile) to \
                learn from) outside --except
                """
            )
        }
        guard !split.others.isEmpty else {
            throw CLIError("every commit of \(repo) is by a user: the task adapter has no other authors' commits")
        }
        let changes = try CommitChange.of(
            split.users.flatMap { $0.queries + $0.profile } + split.others, repository: repo)
        func item(_ c: GitHistory.Commit, gold: Bool) -> [String: String] {
            [
                "id": String(c.hash.prefix(12)), "input": CommitPrompt.text(changes[c.hash]!),
                (gold ? "gold" : "output"): c.subject,
            ]
        }
        let usersJSON: [[String: Any]] = split.users.map { u in
            [
                "user_id": u.author, "profile": u.profile.map { item($0, gold: false) },
                "query": u.queries.map { item($0, gold: true) },
            ]
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try write(usersJSON, to: out + "/users.json")
        try write(split.others.map { item($0, gold: false) }, to: out + "/user_others.json")
        let counts = split.users.map { "\($0.author) (\($0.profile.count) + \($0.queries.count))" }
        print(
            """
            \(out): \(split.users.count) users, profile + queries: \(counts.joined(separator: ", ")); \
            \(split.others.count) commits by other authors for the task adapter
            """
        )
    }

    private func write(_ object: Any, to path: String) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write([UInt8](data), to: path, mode: 0o644)
    }
}

/// Which commits of a history are each user's queries and profile, and which train the task
/// adapter. A user is an author with enough commits: their newest are the queries, the ones
/// before those the profile (oldest first, so `tailor eval --holdout` holds back the newest).
/// The task adapter gets the newest commits of every author who is not a user.
struct CommitDataSplit {
    struct User {
        var author: String
        /// Oldest first.
        var profile: [GitHistory.Commit]
        /// Newest first.
        var queries: [GitHistory.Commit]
    }

    var users: [User] = []
    /// Newest first.
    var others: [GitHistory.Commit]

    init(
        _ git: GitHistory, queries: Int, profile: ClosedRange<Int>, others maxOthers: Int, users maxUsers: Int,
        except: Set<String>
    ) {
        for (author, count) in git.authorsByActivity where count >= queries + profile.lowerBound {
            guard !except.contains(author), maxUsers == 0 || users.count < maxUsers else { continue }
            let mine = git.commits.filter { $0.author == author }
            users.append(
                User(
                    author: author, profile: mine.dropFirst(queries).prefix(profile.upperBound).reversed(),
                    queries: Array(mine.prefix(queries))))
        }
        let userNames = Set(users.map(\.author))
        others = Array(git.commits.filter { !userNames.contains($0.author) }.prefix(maxOthers))
    }
}
