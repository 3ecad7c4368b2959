import Foundation
import XCTest

@testable import TailorDaemon

/// Training threads run at nice 19 so interactive decoding gets the cores at once; the
/// daemon's other threads keep their priority.
final class TrainingThreadPriorityTests: XCTestCase {
    /// (name, nice) of every thread of this process, from /proc (Linux).
    private func threads() throws -> [(name: String, nice: Int)] {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").compactMap { tid in
            guard let comm = try? String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8),
                let stat = try? String(contentsOfFile: "/proc/self/task/\(tid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return nil }
            // Fields after "pid (comm)": state is field 3, nice is field 19.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return (comm.trimmingCharacters(in: .newlines), Int(fields[16]) ?? -100)
        }
    }

    func testTheJobRunnerThreadRunsAtTheLowestPriority() async throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: "/proc/self/task"), "needs Linux's /proc")
        let before = TrainingThreadPriority.currentNiceness
        let d = try await DaemonHarness()
        var train: [(name: String, nice: Int)] = []
        for _ in 0..<100 {  // the runner lowers itself as its thread starts
            train = try threads().filter { $0.name == "tailor-train" }
            if !train.isEmpty && train.allSatisfy({ $0.nice == 19 }) { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        XCTAssertFalse(train.isEmpty, "no tailor-train thread")
        XCTAssertTrue(train.allSatisfy { $0.nice == 19 }, "\(train)")
        XCTAssertEqual(TrainingThreadPriority.currentNiceness, before, "the test's own thread is untouched")
        await d.stop()
    }

    func testLoweringIsPerThreadAndInherited() {
        let before = TrainingThreadPriority.currentNiceness
        let done = expectation(description: "thread ran")
        nonisolated(unsafe) var seen: (own: Int32, child: Int32) = (0, 0)
        Thread.detachNewThread {
            XCTAssertTrue(TrainingThreadPriority.lowerCurrentThread())
            seen.own = TrainingThreadPriority.currentNiceness
            let child = Thread {
                seen.child = TrainingThreadPriority.currentNiceness; done.fulfill()
            }
            child.start()
        }
        wait(for: [done], timeout: 5)
        XCTAssertEqual(seen.own, 19)
        XCTAssertEqual(seen.child, 19, "threads created afterwards inherit it")
        XCTAssertEqual(TrainingThreadPriority.currentNiceness, before, "the calling thread is untouched")
    }
}
