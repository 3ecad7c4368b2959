import Foundation
import TailorEval
import TailorTestSupport
import XCTest

/// `tailor demo` end to end on the tiny llama and a scratch git repository: it picks the most
/// active author, trains through a private daemon, and prints the three methods beside the real
/// subjects; small or missing repositories get a message saying what is wrong.
final class DemoCLITests: DaemonTestCase {
    override var scratchName: String { "tailor-demo-test" }

    private var repo: ScratchGitRepository!

    override func setUpWithError() throws {
        try super.setUpWithError()
        repo = try ScratchGitRepository(dir + "/repo")
    }

    /// A commit by `author` touching `file`, with a subject and a body.
    private func commit(_ author: String, _ i: Int, file: String) throws {
        try repo.commit(author, to: file, adding: "line \(i)", subject: "the he \(i % 3)", body: "the theme \(i)")
    }

    func testDemoPersonalizesTheMostActiveAuthorThroughThePrivateDaemon() throws {
        for i in 0..<12 { try commit("Ann Lee", i, file: "a.txt") }
        for i in 0..<9 { try commit("Bo", i, file: "b.txt") }
        for i in 12..<14 { try commit("Ann Lee", i, file: "a.txt") }
        // The private daemon's directory goes under a TMPDIR of this test's own, so what is left
        // there is this demo's (another demo running on the machine has its own).
        let tmp = dir + "/tmp"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        let r = try BuiltProducts.tailor(
            [
                "demo", "--repo", dir + "/repo", "--model", TestPaths.tinyModel(), "-t", "1", "--shown", "2",
                "--max-history", "6", "--max-others", "8", "--oppu-epochs", "1",
            ], environment: ["TMPDIR": tmp + "/"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("23 commits; most active author: Ann Lee (14 commits)"), r.stderr)
        XCTAssertTrue(r.stderr.contains("imported 8 commits for the task adapter and 6 of Ann Lee's"), r.stderr)
        XCTAssertEqual(r.stderr.components(separatedBy: "succeeded: adapter version").count - 1, 2, r.stderr)
        // The author's two latest commits, newest first, each with the three methods.
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.filter { $0.hasPrefix("  real  ") }, ["  real  the he 1", "  real  the he 0"], r.stdout)
        for mode in ["base ", "oppu ", "cope "] {
            XCTAssertEqual(
                lines.filter { $0.hasPrefix("  " + mode) && $0.contains("(ROUGE-L ") }.count, 2, mode + r.stdout)
        }
        XCTAssertTrue(r.stdout.contains("mean ROUGE-L over 2 commits: base "), r.stdout)
        // The subjects that loop, counted from those printed ("  cope  TEXT   (ROUGE-L 0.50)").
        let loops = ["base", "oppu", "cope"].map { mode in
            let texts = lines.filter { $0.hasPrefix("  \(mode)  ") }.compactMap { line in
                line.range(of: "   (ROUGE-L ", options: .backwards).map { String(line[..<$0.lowerBound].dropFirst(8)) }
            }
            return "\(mode) \(texts.count { Repetition.loops($0) })"
        }
        XCTAssertTrue(
            r.stdout.contains(
                "subjects repeating a word of 3+ characters 3+ times (loops, or a copied line of code): "
                    + loops.joined(separator: ", ")),
            r.stdout)
        // The private daemon's socket and state are gone.
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: tmp).filter { $0.hasPrefix("tailor-demo-") }, [])
    }

    func testTooFewCommitsAndNoRepositoryAreClearErrors() throws {
        for i in 0..<3 { try commit("Ann Lee", i, file: "a.txt") }
        let few = try BuiltProducts.tailor(["demo", "--repo", dir + "/repo", "--model", TestPaths.tinyModel()])
        XCTAssertNotEqual(few.status, 0)
        XCTAssertTrue(
            few.stderr.contains("too few commits: the most active author, Ann Lee, has 3; the demo needs at least 13"),
            few.stderr)
        let none = try BuiltProducts.tailor(["demo", "--repo", dir, "--model", TestPaths.tinyModel()])
        XCTAssertNotEqual(none.status, 0)
        XCTAssertTrue(none.stderr.contains("git log in \(dir) failed"), none.stderr)
        let rate = try BuiltProducts.tailor(["demo", "--repo", dir, "--oppu-lr=-0.01"])
        XCTAssertNotEqual(rate.status, 0)
        XCTAssertTrue(rate.stderr.contains("--oppu-lr must be in (0, 1), not -0.01"), rate.stderr)
    }

    func testASingleAuthorRepositoryTrainsTheTaskAdapterOnTheirOlderCommitsAndSaysSo() throws {
        for i in 0..<25 { try commit("Ann Lee", i, file: "a.txt") }
        let r = try BuiltProducts.tailor([
            "demo", "--repo", dir + "/repo", "--model", TestPaths.tinyModel(), "-t", "1", "--shown", "1",
            "--max-history", "8", "--max-others", "8", "--oppu-epochs", "1",
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(
            r.stderr.contains(
                "the task adapter learns from 8 of Ann Lee's older commits here, not from others' as in CoPe"), r.stderr
        )
        XCTAssertTrue(r.stdout.contains("  real  the he 0\n"), r.stdout)
    }
}
