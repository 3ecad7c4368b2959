import Foundation
import TailorTestSupport
import XCTest

/// The commit-message hooks in a scratch repository against a real tailord (tiny llama):
/// installed, they pre-fill a subject and record what was committed (accepted → history,
/// edited → pair, a -m commit → history); with the daemon down a commit goes through
/// untouched; uninstalled, they are gone and others' hooks are never overwritten.
final class GitHookCLITests: DaemonTestCase {
    override var scratchName: String { "tailor-hook" }
    private var scratch: ScratchGitRepository!
    private var repo: String { scratch.path }
    private var socket: String { dir + "/t.sock" }

    override func setUpWithError() throws {
        try super.setUpWithError()
        scratch = try ScratchGitRepository(dir + "/repo")
        try startDaemon(
            [
                "--socket", socket, "--state-dir", dir + "/state", "--config", emptyConfig(),
                "--model", TestPaths.tinyModel(), "-t", "1",
            ], socket: socket)
    }

    /// Runs git in the scratch repository as Ann Lee; `editor` is GIT_EDITOR.
    @discardableResult
    private func git(_ args: [String], editor: String = "true") throws -> (status: Int32, out: String) {
        try scratch.git(args, editor: editor)
    }

    private func stage(_ file: String, _ text: String) throws {
        try text.write(toFile: repo + "/" + file, atomically: true, encoding: .utf8)
        try git(["add", file])
    }

    private func lastSubject() throws -> String {
        try git(["log", "-1", "--format=%s"]).out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testHookRoundTripRecordsWhatWasCommitted() throws {
        let install = try BuiltProducts.tailor([
            "git", "hook", "install", "--repo", repo, "--socket", socket, "--user", "ann", "--timeout", "30",
        ])
        XCTAssertEqual(install.status, 0, install.stderr)

        // A plain commit keeps the pre-filled suggestion (GIT_EDITOR=true): accepted.
        try stage("parser.c", "int parse(void) { return 0; }\n")
        let first = try git(["commit", "-q"])
        XCTAssertEqual(first.status, 0, first.out)
        let suggested = try lastSubject()
        XCTAssertFalse(suggested.isEmpty)

        // The author rewrites the subject in the editor: edited, a pair real-over-suggestion.
        let editor = dir + "/editor.sh"
        try "#!/bin/sh\nprintf 'Fix the parser for empty input\\n' > \"$1\"\n".write(
            toFile: editor, atomically: true, encoding: .utf8)
        chmod(editor, 0o755)
        try stage("parser.c", "int parse(void) { return 1; }\n")
        XCTAssertEqual(try git(["commit", "-q"], editor: editor).status, 0)
        XCTAssertEqual(try lastSubject(), "Fix the parser for empty input")

        // A message given with -m: no suggestion; the change and its subject become history.
        try stage("lexer.c", "int lex(void) { return 0; }\n")
        XCTAssertEqual(try git(["commit", "-q", "-m", "Add the lexer"]).status, 0)

        let counts = try BuiltProducts.tailor(["data", "ls", "--socket", socket])
        XCTAssertTrue(
            counts.stdout.contains("ann\t2 history\t1 pairs\t2 feedback\ttasks: commit_subject"), counts.stdout)
        let pairs = try BuiltProducts.tailor(["data", "ls", "--socket", socket, "--user", "ann", "--kind", "pairs"])
        XCTAssertTrue(pairs.stdout.contains("+ Fix the parser for empty input"), pairs.stdout)
        let history = try BuiltProducts.tailor(["data", "ls", "--socket", socket, "--user", "ann"])
        XCTAssertTrue(history.stdout.contains("→ Add the lexer"), history.stdout)
        // The history item's input is the change itself, as the suggestion's prompt is.
        XCTAssertEqual(
            try BuiltProducts.tailor(["data", "export", "--socket", socket, "--user", "ann", "-o", dir + "/ann.jsonl"])
                .status, 0)
        let lexer = try String(contentsOfFile: dir + "/ann.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .first { $0["output"] as? String == "Add the lexer" }
        let input = try XCTUnwrap(lexer?["input"] as? String)
        XCTAssertTrue(
            input.contains("files: lexer.c (+1 -0)\ndiff:\nfile: lexer.c\n+int lex(void) { return 0; }\nsubject:"),
            input)

        // `tailor git suggest` answers for a staged change, and says so when nothing is staged.
        try stage("README", "hello\n")
        let suggest = try BuiltProducts.tailor([
            "git", "suggest", "--repo", repo, "--socket", socket, "--user", "ann", "--timeout", "20",
        ])
        XCTAssertEqual(suggest.status, 0, suggest.stderr)
        XCTAssertFalse(suggest.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
        XCTAssertEqual(try git(["commit", "-q", "-m", "Add a README"]).status, 0)
        let nothing = try BuiltProducts.tailor(["git", "suggest", "--repo", repo, "--socket", socket])
        XCTAssertNotEqual(nothing.status, 0)
        XCTAssertTrue(nothing.stderr.contains("nothing is staged"), nothing.stderr)

        // A merge's message is git's own: nothing is recorded for it.
        let before = try BuiltProducts.tailor(["data", "ls", "--socket", socket]).stdout
        try git(["checkout", "-q", "-b", "side"])
        try stage("side.txt", "side\n")
        XCTAssertEqual(try git(["commit", "-q", "-m", "Side work"]).status, 0)
        try git(["checkout", "-q", "-"])
        try stage("main.txt", "main\n")
        XCTAssertEqual(try git(["commit", "-q", "-m", "Main work"]).status, 0)
        let merged = try BuiltProducts.tailor(["data", "ls", "--socket", socket]).stdout
        XCTAssertEqual(try git(["merge", "-q", "--no-ff", "--no-edit", "side"]).status, 0)
        XCTAssertEqual(try BuiltProducts.tailor(["data", "ls", "--socket", socket]).stdout, merged)
        XCTAssertNotEqual(merged, before, "the two -m commits were recorded")

        let uninstall = try BuiltProducts.tailor(["git", "hook", "uninstall", "--repo", repo])
        XCTAssertTrue(uninstall.stdout.contains("removed 2 hooks"), uninstall.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: repo + "/.git/hooks/commit-msg"))
    }

    func testADownDaemonNeverBlocksACommitAndOthersHooksAreKept() throws {
        XCTAssertEqual(
            try BuiltProducts.tailor(["git", "hook", "install", "--repo", repo, "--socket", socket]).status, 0)
        daemon?.terminate()
        daemon?.waitUntilExit()
        let editor = dir + "/editor.sh"
        try "#!/bin/sh\nprintf 'Write it by hand\\n' > \"$1\"\n".write(
            toFile: editor, atomically: true, encoding: .utf8)
        chmod(editor, 0o755)
        try stage("a.txt", "a\n")
        let started = Date()
        XCTAssertEqual(try git(["commit", "-q"], editor: editor).status, 0)
        XCTAssertEqual(try lastSubject(), "Write it by hand")
        try stage("b.txt", "b\n")
        XCTAssertEqual(try git(["commit", "-q", "-m", "Second"]).status, 0)
        XCTAssertLessThan(Date().timeIntervalSince(started), 10, "the hooks waited on a down daemon")

        // Someone else's hook is not overwritten.
        XCTAssertEqual(try BuiltProducts.tailor(["git", "hook", "uninstall", "--repo", repo]).status, 0)
        try "#!/bin/sh\nexit 0\n".write(toFile: repo + "/.git/hooks/commit-msg", atomically: true, encoding: .utf8)
        let refused = try BuiltProducts.tailor(["git", "hook", "install", "--repo", repo])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("is not Tailor's"), refused.stderr)
        XCTAssertEqual(
            try String(contentsOfFile: repo + "/.git/hooks/commit-msg", encoding: .utf8), "#!/bin/sh\nexit 0\n")
    }
}
