import CTailorKernels
import Foundation
import XCTest

/// The thread pool when its threads get fewer CPUs than it has threads (a desktop's other
/// work, or a daemon training at nice 19 beside anything busier): a thread waiting for another
/// must give the CPU up instead of spinning until the scheduler preempts it.
final class ThreadPoolTests: XCTestCase {
    /// Two pool threads confined to one CPU run 1,000 small jobs. Spinning waiters held the CPU
    /// for milliseconds per handoff (8.0 s in all on a 2-core host); waiters that sleep after a
    /// short spin let the other thread run at once (0.23 s). The bound leaves 10x for a busy
    /// machine.
    func testTwoThreadsOnOneCPUHandOffWithoutWaitingForTimeSlices() throws {
        // glibc's sched_{get,set}affinity are GNU extensions Swift's Glibc module leaves out.
        typealias Affinity = @convention(c) (pid_t, Int, UnsafeMutableRawPointer) -> Int32
        let process = dlopen(nil, RTLD_NOW)
        guard let get = dlsym(process, "sched_getaffinity"), let set = dlsym(process, "sched_setaffinity") else {
            throw XCTSkip("no sched_setaffinity")
        }
        let getAffinity = unsafeBitCast(get, to: Affinity.self)
        let setAffinity = unsafeBitCast(set, to: Affinity.self)
        var saved = [UInt8](repeating: 0, count: 128)  // a cpu_set_t: one bit per CPU
        var one = [UInt8](repeating: 0, count: 128)
        one[0] = 1  // CPU 0
        XCTAssertEqual(getAffinity(0, 128, &saved), 0)
        try XCTSkipIf(setAffinity(0, 128, &one) != 0, "cannot pin to CPU 0")
        // The workers inherit the mask of the thread that creates them.
        let pool = tk_pool_create(2)
        defer {
            tk_pool_destroy(pool)
            _ = setAffinity(0, 128, &saved)
        }
        var counts = [Int32](repeating: 0, count: 2)
        let started = Date()
        counts.withUnsafeMutableBufferPointer { buffer in
            for _ in 0..<1000 {
                tk_pool_run(
                    pool,
                    { ctx, index, _ in ctx!.assumingMemoryBound(to: Int32.self)[Int(index)] += 1 },
                    buffer.baseAddress)
            }
        }
        let seconds = Date().timeIntervalSince(started)
        XCTAssertEqual(counts, [1000, 1000])
        XCTAssertLessThan(seconds, 2.5, "1,000 handoffs on one CPU took \(seconds) s")
    }
}
