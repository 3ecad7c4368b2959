import TailorTestSupport
import XCTest

@testable import tailor

/// The commit-message prompt shows the change itself: files with their line counts, then the
/// changed lines, within a budget; the same builder serves history, shown commits and hooks.
final class CommitPromptTests: XCTestCase {
    static let show = """
        60\t14\tpeps/pep-0694.rst
        -\t-\tpeps/diagram.png
        1\t0\t.github/CODEOWNERS

        diff --git a/peps/pep-0694.rst b/peps/pep-0694.rst
        index ff9c053..ab6167d 100644
        --- a/peps/pep-0694.rst
        +++ b/peps/pep-0694.rst
        @@ -1,2 +1,3 @@
        -If a session is created for a project
        --- a removed line that looks like a header
        +    A string with valid values ``pending``
        +
        +Require the index to reserve the name
        diff --git a/old.txt b/old.txt
        deleted file mode 100644
        --- a/old.txt
        +++ /dev/null
        @@ -1 +0,0 @@
        -gone
        """

    func testParseKeepsFilesAndChangedLinesOnly() {
        let c = CommitChange.parse(Self.show)
        XCTAssertEqual(
            c.files,
            [
                .init(path: "peps/pep-0694.rst", added: 60, removed: 14),
                .init(path: "peps/diagram.png", added: nil, removed: nil),
                .init(path: ".github/CODEOWNERS", added: 1, removed: 0),
            ])
        XCTAssertEqual(
            c.lines,
            [
                "file: peps/pep-0694.rst", "-If a session is created for a project",
                "--- a removed line that looks like a header",
                "+A string with valid values ``pending``", "+Require the index to reserve the name", "file: old.txt",
                "-gone",
            ])
    }

    /// A past commit's prompt is the one its change had when staged, whatever its message
    /// says: the hook suggests a subject before the message exists, so history that showed the
    /// body trained on an input the tool never has (and the model learned to copy its lines).
    func testACommitsPromptIsItsStagedChangesPromptWithoutItsBody() throws {
        let dir = NSTemporaryDirectory() + "tailor-staged-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let repo = try ScratchGitRepository(dir)
        try repo.commit("Ann Lee", to: "a.txt", adding: "first", subject: "Start")
        try "first\nsecond line\n".write(toFile: dir + "/a.txt", atomically: true, encoding: .utf8)
        XCTAssertEqual(try repo.git(["add", "a.txt"]).status, 0)
        let staged = CommitPrompt.text(try CommitChange.staged(repository: dir))
        let r = try repo.git(["commit", "-q", "-m", "Add a second line", "-m", "Because the body explains why."])
        XCTAssertEqual(r.status, 0, r.out)
        let committed = CommitPrompt.text(try CommitChange.of(commit: "HEAD", repository: dir))
        XCTAssertEqual(committed, staged)
        XCTAssertEqual(
            committed,
            "Write the subject of a git commit for this change.\nfiles: a.txt (+1 -0)\n"
                + "diff:\nfile: a.txt\n+second line\nsubject:")
        let history = try GitHistory(repository: dir, limit: 10)
        XCTAssertEqual(history.commits.map(\.subject), ["Add a second line", "Start"])
        XCTAssertEqual(history.commits.map(\.files), [["a.txt"], ["a.txt"]])
    }

    /// A commit of megabytes is read up to the cap and git is stopped: it once blocked on its
    /// full pipe forever (the child inherits a signal mask that blocks SIGTERM).
    func testAHugeCommitIsReadUpToTheCap() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/git"), "git is not installed")
        let dir = NSTemporaryDirectory() + "tailor-huge-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        _ = try Git.run(["-C", dir, "init", "-q"])
        let big = (0..<40_000).map { "line \($0) of a generated file\n" }.joined()
        try big.write(toFile: dir + "/big.txt", atomically: true, encoding: .utf8)
        _ = try Git.run(["-C", dir, "add", "big.txt"])
        _ = try Git.run([
            "-C", dir, "-c", "user.name=A", "-c", "user.email=a@e", "commit", "-q", "-m", "Add a big file",
        ])
        let started = Date()
        let change = try CommitChange.of(commit: "HEAD", repository: dir)
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
        XCTAssertEqual(change.files, [.init(path: "big.txt", added: 40_000, removed: 0)])
        XCTAssertEqual(change.lines.first, "file: big.txt")
        XCTAssertGreaterThan(change.lines.count, 1000)
        XCTAssertLessThan(change.lines.count, 40_000)
    }

    func testPromptShowsFilesThenLinesWithinTheBudget() {
        let c = CommitChange.parse(Self.show)
        let p = CommitPrompt.text(c, budget: 2000)
        XCTAssertTrue(
            p.hasPrefix(
                "Write the subject of a git commit for this change.\n"
                    + "files: peps/pep-0694.rst (+60 -14), peps/diagram.png (binary), .github/CODEOWNERS (+1 -0)\n"
                    + "diff:\nfile: peps/pep-0694.rst\n-If a session"), p)
        XCTAssertTrue(p.hasSuffix("-gone\nsubject:"), p)
        let short = CommitPrompt.text(c, budget: 200)
        XCTAssertLessThanOrEqual(short.count, 200 + "subject:".count)
        XCTAssertTrue(short.contains("diff:\nfile: peps/pep-0694.rst\n"), short)
        XCTAssertFalse(short.contains("-gone"), short)
        XCTAssertFalse(CommitPrompt.text(CommitChange(files: [], lines: [])).contains("diff:"))
    }
}
