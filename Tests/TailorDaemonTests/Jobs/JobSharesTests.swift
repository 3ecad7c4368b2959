import XCTest

@testable import TailorDaemon

/// In system mode every uid's training jobs share one runner: none may hold more than its
/// share, and a uid with a backlog waits its turn behind each other uid's next job.
final class JobSharesTests: XCTestCase {
    func testAdmissionRespectsThePerUIDShareAndTheTotal() {
        XCTAssertNoThrow(try JobShares.admit(1, holding: [1, 2, 2], maxJobs: 8, maxJobsPerUID: 2))
        XCTAssertThrowsError(try JobShares.admit(2, holding: [1, 2, 2], maxJobs: 8, maxJobsPerUID: 2)) {
            XCTAssertEqual(($0 as? RPCError)?.code, .resourceExhausted)
            XCTAssertTrue(($0 as? RPCError)?.message.contains("uid 2 has 2") ?? false, "\($0)")
        }
        XCTAssertThrowsError(try JobShares.admit(3, holding: [1, 2, 2], maxJobs: 3, maxJobsPerUID: 2)) {
            XCTAssertTrue(($0 as? RPCError)?.message.contains("the limit is 3") ?? false, "\($0)")
        }
    }

    func testTheOwnerServedLeastRecentlyGoesNext() {
        // uid 1 queued three jobs before uid 2's one; uid 1 just ran: uid 2 goes next.
        var lastRun: [UInt32: UInt64] = [1: 5]
        var queue: [UInt32] = [1, 1, 1, 2]
        var order: [UInt32] = []
        var runs: UInt64 = 5
        while !queue.isEmpty {
            let owner = queue.remove(at: JobShares.next(queue, lastRun: lastRun))
            runs += 1
            lastRun[owner] = runs
            order.append(owner)
        }
        XCTAssertEqual(order, [2, 1, 1, 1])
        // Two uids with backlogs alternate.
        XCTAssertEqual(JobShares.next([3, 3, 4, 4], lastRun: [3: 9, 4: 8]), 2)
        XCTAssertEqual(JobShares.next([3, 3, 4, 4], lastRun: [:]), 0, "FIFO when no one has run")
    }
}
