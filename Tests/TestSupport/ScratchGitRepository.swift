import Foundation
import XCTest

/// A git repository in a test's scratch folder, committed to under any author's name: the
/// history that the demo, the hooks and the data-set export read.
public struct ScratchGitRepository {
    public let path: String

    /// Creates the folder and runs `git init` there.
    /// - Throws: `XCTSkip` when git is not installed.
    public init(_ path: String) throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/git"), "git is not installed")
        self.path = path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try git(["init", "-q"])
    }

    /// Runs `git args` in the repository as `author` (and committer), with `editor` as
    /// GIT_EDITOR; stdout and stderr are returned together.
    @discardableResult
    public func git(
        _ args: [String], author: String = "Ann Lee", editor: String = "true"
    ) throws -> (
        status: Int32, out: String
    ) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        p.arguments = ["-C", path] + args
        var env = ProcessInfo.processInfo.environment
        for k in ["GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"] { env[k] = author }
        for k in ["GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"] { env[k] = "\(author.prefix(3))@example.org" }
        env["GIT_EDITOR"] = editor
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Appends `text` as a line of `target` and commits it as `author` with `subject` and `body`.
    public func commit(
        _ author: String, to target: String, adding text: String, subject: String, body: String = "",
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let full = path + "/" + target
        let old = (try? String(contentsOfFile: full, encoding: .utf8)) ?? ""
        try (old + text + "\n").write(toFile: full, atomically: true, encoding: .utf8)
        XCTAssertEqual(try git(["add", target], author: author).status, 0, file: file, line: line)
        let message = body.isEmpty ? ["-m", subject] : ["-m", subject, "-m", body]
        let r = try git(["commit", "-q"] + message, author: author)
        XCTAssertEqual(r.status, 0, r.out, file: file, line: line)
    }
}
