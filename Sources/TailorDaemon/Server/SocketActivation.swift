import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// systemd socket activation (sd_listen_fds(3)), without libsystemd: the listening sockets
/// systemd passed as fds 3, 4, … when `$LISTEN_PID` is this process.
public enum SocketActivation {
    /// The first passed file descriptor.
    public static let firstFD: Int32 = 3

    /// The passed listening sockets, or [] when the daemon was not socket-activated. Unsets the
    /// variables (so children do not inherit them) and marks the fds close-on-exec.
    /// - Throws: `ActivationError` when the variables are present but malformed.
    public static func takeListeningSockets(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        pid: Int32 = getpid(), unset: Bool = true
    ) throws -> [Int32] {
        guard let pidText = environment["LISTEN_PID"], let fdsText = environment["LISTEN_FDS"] else { return [] }
        defer {
            if unset { for k in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] { unsetenv(k) } }
        }
        guard let listenPID = Int32(pidText) else { throw ActivationError.malformed("LISTEN_PID=\(pidText)") }
        guard listenPID == pid else { return [] }
        guard let n = Int32(fdsText), n >= 0, n < 1024 else { throw ActivationError.malformed("LISTEN_FDS=\(fdsText)") }
        let fds = (0..<n).map { firstFD + $0 }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return fds
    }

    /// Malformed activation variables.
    public enum ActivationError: Error, Equatable, CustomStringConvertible {
        case malformed(String)

        public var description: String {
            switch self {
            case let .malformed(v): return "malformed socket activation variable \(v)"
            }
        }
    }
}
