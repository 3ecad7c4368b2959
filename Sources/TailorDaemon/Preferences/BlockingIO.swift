import Dispatch

/// Runs blocking work (SQLite transactions, file system walks) on a dispatch queue instead of
/// a Swift concurrency thread: the cooperative pool has one thread per core, and a long import
/// transaction there would stall every other call of the daemon.
enum BlockingIO {
    private static let queue = DispatchQueue(label: "tailord.blocking-io", attributes: .concurrent)

    /// `body`'s result, computed on the blocking-I/O queue.
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
