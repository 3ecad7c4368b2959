#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Training runs at the lowest CPU priority, so that the kernel hands the cores to interactive
/// decoding the moment a generation wakes, instead of when training next reaches a pause point
/// (a transformer block of a 256-token sequence takes tens of milliseconds; the generation's
/// thread pool, spinning on a core training holds, would wait that long at every step).
///
/// On Linux the nice value is a per-thread attribute, inherited by the threads a thread
/// creates: lowering the job runner's thread also lowers the training thread pool it creates.
enum TrainingThreadPriority {
    /// The nice value training threads run at: the lowest priority a process may give itself.
    static let niceness: Int32 = 19

    /// Lowers the calling thread (and the threads it will create) to `niceness`.
    /// - Returns: whether the kernel accepted it.
    @discardableResult
    static func lowerCurrentThread() -> Bool {
        setpriority(which, 0, niceness) == 0
    }

    /// Names the calling thread in the kernel (what `top -H` and /proc show), so a user can
    /// see which thread is training; Foundation's `Thread.name` does not reach the kernel on
    /// Linux. Best effort: no-op where /proc/thread-self is absent.
    static func nameCurrentThread(_ name: String) {
        let fd = open("/proc/thread-self/comm", O_WRONLY)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let bytes = Array(name.utf8.prefix(15))  // the kernel keeps 15 bytes
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// The calling thread's nice value.
    static var currentNiceness: Int32 { getpriority(which, 0) }

    #if canImport(Glibc)
    private static let which = __priority_which_t(PRIO_PROCESS.rawValue)
    #else
    private static let which = PRIO_PROCESS
    #endif
}
