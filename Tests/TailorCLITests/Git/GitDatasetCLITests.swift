import Foundation
import TailorTestSupport
import XCTest

@testable import tailor

/// `tailor git dataset` writes a repository's history as the per-user data set `tailor eval`
/// reads: authors with enough commits become users (newest commits the queries, the earlier
/// ones the profile, oldest first), `--except` authors never do, and every non-user's commits
/// train the task adapter; each input is the demo's `CommitPrompt` of the commit's change.
final class GitDatasetCLITests: DaemonTestCase {
    override var scratchName: String { "tailor-dataset" }
    private var repo: ScratchGitRepository!

    override func setUpWithError() throws {
        try super.setUpWithError()
        repo = try ScratchGitRepository(dir + "/repo")
        // Interleaved, so each author's newest commits are not simply the repository's newest.
        for i in 0..<10 {
            try repo.commit(
                "Ann Lee", to: "ann.txt", adding: "ann line \(i)", subject: "Ann change \(i)", body: "Why \(i)")
            if i < 7 { try repo.commit("Bo", to: "bo.txt", adding: "bo line \(i)", subject: "Bo change \(i)") }
            if i < 6 { try repo.commit("Dee", to: "dee.txt", adding: "dee line \(i)", subject: "Dee change \(i)") }
            if i < 3 { try repo.commit("Cy", to: "cy.txt", adding: "cy line \(i)", subject: "Cy change \(i)") }
        }
    }

    private func json(_ name: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/out/" + name)))
    }

    func testUsersQueriesProfilesAndTheTaskAdaptersCommits() throws {
        let r = try BuiltProducts.tailor([
            "git", "dataset", "--repo", repo.path, "--out", dir + "/out", "--queries", "2", "--min-profile", "4",
            "--max-profile", "5", "--except", "Dee",
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("2 users, profile + queries: Ann Lee (5 + 2), Bo (5 + 2); 9 commits"), r.stdout)
        let users = try XCTUnwrap(try json("users.json") as? [[String: Any]])
        XCTAssertEqual(users.map { $0["user_id"] as? String }, ["Ann Lee", "Bo"])
        let ann = users[0]
        let profile = try XCTUnwrap(ann["profile"] as? [[String: String]])
        let queries = try XCTUnwrap(ann["query"] as? [[String: String]])
        XCTAssertEqual(queries.map { $0["gold"] }, ["Ann change 9", "Ann change 8"])
        XCTAssertEqual(profile.map { $0["output"] }, (3...7).map { "Ann change \($0)" })
        // The demo's prompt: the file with its counts, then the added line; never the body,
        // which the hook's staged change does not have yet.
        XCTAssertEqual(
            queries[0]["input"],
            """
            Write the subject of a git commit for this change.
            files: ann.txt (+1 -0)
            diff:
            file: ann.txt
            +ann line 9
            subject:
            """)
        XCTAssertEqual(queries[0]["id"]?.count, 12)
        // Cy has too few commits and Dee is excepted: theirs, newest first, train the task adapter.
        let others = try XCTUnwrap(try json("user_others.json") as? [[String: String]])
        XCTAssertEqual(others.map { $0["output"] }.prefix(3), ["Dee change 5", "Dee change 4", "Dee change 3"])
        XCTAssertEqual(Set(others.compactMap { $0["output"]?.split(separator: " ").first }), ["Dee", "Cy"])
        XCTAssertEqual(others.count, 9)

        // tailor eval reads it as a data set, holdout included.
        let set = try EvalDataSet(directory: dir + "/out", users: 0, validate: 2)
        XCTAssertEqual(set.users.map(\.name), ["Ann Lee", "Bo"])
        XCTAssertEqual(set.users[0].queries.map(\.gold), ["Ann change 6", "Ann change 7"])
        XCTAssertEqual(set.others.count, 9)
    }

    func testNoEligibleAuthorIsAClearErrorAndWritesNothing() throws {
        let r = try BuiltProducts.tailor([
            "git", "dataset", "--repo", repo.path, "--out", dir + "/out", "--queries", "4", "--min-profile", "8",
        ])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(
            r.stderr.contains("no author of \(repo.path) has 12 commits (4 queries and 8 to learn from)"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out/users.json"))
    }

    func testASplitCapsUsersAndKeepsTheRestForTheTaskAdapter() throws {
        let git = try GitHistory(repository: repo.path, limit: 100)
        let split = CommitDataSplit(git, queries: 2, profile: 4...5, others: 3, users: 1, except: [])
        XCTAssertEqual(split.users.map(\.author), ["Ann Lee"])
        // Bo, Dee and Cy are all "others" now; the newest three commits by any of them.
        XCTAssertEqual(split.others.map(\.subject), ["Bo change 6", "Dee change 5", "Bo change 5"])
    }
}
