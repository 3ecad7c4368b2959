#if canImport(Glibc)
import Glibc
#endif

/// Who is on the other end of a Unix socket, from the kernel (SO_PEERCRED), so it cannot be
/// forged by the client: what the daemon authorizes by, and what a client (or a benchmark)
/// reads to find the daemon's pid. Mirrors Linux's `struct ucred`, which Glibc declares only under
/// _GNU_SOURCE and Swift therefore does not import.
public struct PeerCredentials: Sendable, Equatable, Hashable {
    /// Process id of the peer when it connected.
    public var pid: Int32
    /// Effective user id.
    public var uid: UInt32
    /// Effective group id.
    public var gid: UInt32

    /// Credentials given explicitly (tests, in-process callers).
    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    /// This process's own credentials.
    public static var current: PeerCredentials {
        PeerCredentials(pid: getpid(), uid: geteuid(), gid: getegid())
    }

    /// Linux's SO_PEERCRED option number (asm-generic/socket.h), for `getsockopt`.
    public static let socketOption: Int32 = 17

    /// The credentials of the process on the other end of the connected Unix socket `fd`.
    /// - Returns: nil when the kernel gives none (not a Unix socket).
    public static func of(socket fd: Int32) -> PeerCredentials? {
        var cred = PeerCredentials(pid: 0, uid: 0, gid: 0)
        var length = socklen_t(MemoryLayout<PeerCredentials>.size)
        guard getsockopt(fd, SOL_SOCKET, socketOption, &cred, &length) == 0,
            length == MemoryLayout<PeerCredentials>.size
        else { return nil }
        return cred
    }
}
