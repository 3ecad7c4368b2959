import Foundation
import XCTest

@testable import TailorDaemon

/// The gate training waits at: closed while any generation worker is busy, open when all are
/// idle (after the grace period), and open for good once the daemon stops.
final class GenerationActivityTests: XCTestCase {
    private func waitInBackground(_ a: GenerationActivity, grace: TimeInterval) -> XCTestExpectation {
        let done = expectation(description: "wait returned")
        Thread.detachNewThread {
            a.waitUntilIdle(grace: grace)
            done.fulfill()
        }
        return done
    }

    func testTrainingWaitsWhileGenerationsRun() {
        let a = GenerationActivity()
        XCTAssertEqual(a.waitUntilIdle(grace: 0), 0, accuracy: 0.05, "idle: no wait")
        a.workerChanged(busy: true)
        a.workerChanged(busy: true)
        XCTAssertTrue(a.isBusy)
        let done = waitInBackground(a, grace: 0.01)
        Thread.sleep(forTimeInterval: 0.1)
        a.workerChanged(busy: false)
        Thread.sleep(forTimeInterval: 0.1)
        XCTAssertTrue(a.isBusy, "one worker is still busy")
        a.workerChanged(busy: false)
        wait(for: [done], timeout: 5)
        XCTAssertFalse(a.isBusy)
    }

    func testReleaseEndsWaitsWhenTheDaemonStops() {
        let a = GenerationActivity()
        a.workerChanged(busy: true)
        let done = waitInBackground(a, grace: 0.05)
        Thread.sleep(forTimeInterval: 0.1)
        a.releaseWaiters()
        wait(for: [done], timeout: 5)
        XCTAssertEqual(a.waitUntilIdle(), 0, accuracy: 0.05, "released: no more waiting")
    }
}
