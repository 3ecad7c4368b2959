/// Which commits `tailor demo` trains on and which it shows: the most active author's latest
/// commits are held out and shown; their earlier ones train the user's adapter; other authors'
/// commits train the task adapter. Bounded so the demo finishes in minutes on two cores.
struct DemoPlan {
    /// The personalized author.
    var author: String
    /// The author's latest commits, never trained on, generated and scored.
    var shown: [GitHistory.Commit]
    /// The author's earlier commits: OPPU's data and the negatives' prompts.
    var history: [GitHistory.Commit]
    /// The task adapter's data: other authors' commits.
    var others: [GitHistory.Commit]
    /// True when the repository has too few other authors' commits and the task adapter is
    /// trained on the author's oldest commits instead (said on screen: it is not CoPe's setting).
    var taskFromAuthorsOlderCommits: Bool

    /// The bounds.
    struct Limits {
        var shown = 5
        var history = 32
        var others = 64
        /// Fewest commits worth training on, per adapter.
        var minimum = 8
    }

    /// Plans `commits` (newest first).
    /// - Throws: `CLIError` saying how many commits there are and how many the demo needs.
    init(_ git: GitHistory, limits: Limits = Limits()) throws {
        guard let top = git.authorsByActivity.first else {
            throw CLIError(
                """
                the repository has no commits with a subject; the demo needs at least \
                \(limits.shown + 2 * limits.minimum)
                """
            )
        }
        author = top.name
        let mine = git.commits.filter { $0.author == top.name }
        guard mine.count >= limits.shown + limits.minimum else {
            throw CLIError(
                """
                too few commits: the most active author, \(top.name), has \(mine.count); the demo needs at least \
                \(limits.shown + limits.minimum) 
                """
                    + """
                    (\(limits.shown) to show and \(limits.minimum) to learn from) plus \(limits.minimum) by \
                    others. Try --repo with a larger repository.
                    """
            )
        }
        shown = Array(mine.prefix(limits.shown))
        let rest = mine.dropFirst(limits.shown)
        let theirs = git.commits.filter { $0.author != top.name }
        if theirs.count >= limits.minimum {
            history = Array(rest.prefix(limits.history))
            others = Array(theirs.prefix(limits.others))
            taskFromAuthorsOlderCommits = false
        } else {
            // One author (or nearly): the older part of their history stands in for "others".
            let split = min(limits.history, rest.count / 2)
            history = Array(rest.prefix(split))
            others = Array(rest.dropFirst(split).prefix(limits.others))
            taskFromAuthorsOlderCommits = true
            guard history.count >= limits.minimum, others.count >= limits.minimum else {
                throw CLIError(
                    """
                    too few commits: \(git.commits.count) in the repository, \(theirs.count) by authors other \
                    than \(top.name); the demo needs 
                    """
                        + """
                        \(limits.minimum) by others, or \(limits.shown + 2 * limits.minimum) by \(top.name) \
                        alone. Try --repo with a larger repository.
                        """
                )
            }
        }
    }
}
