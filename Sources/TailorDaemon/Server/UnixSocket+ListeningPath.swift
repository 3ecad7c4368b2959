import Foundation
import Logging
import TailorWire

#if canImport(Glibc)
import Glibc
#endif

extension UnixSocket {
    /// Readies `path` for a listening socket: creates its directory (0700 for a user daemon,
    /// 0755 for the system one) and refuses to replace a socket another process listens on; a
    /// stale socket file (nobody listening) is removed. Shared by every listener the daemon
    /// binds (the protocol socket and the HTTP endpoint's).
    static func prepareListeningPath(_ path: String, mode: DaemonMode) throws {
        let dir = (path as NSString).deletingLastPathComponent
        let dirMode: mode_t = mode == .user ? 0o700 : 0o755
        try FileManager.default.createDirectory(
            atPath: dir, withIntermediateDirectories: true,
            attributes: [.posixPermissions: Int(dirMode)])
        if dir == SocketLocation.fallbackDirectory(uid: geteuid()) { try checkPrivate(dir) }
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard (st.st_mode & S_IFMT) == S_IFSOCK else { throw ServerError.notASocket(path) }
        if isListening(path) { throw ServerError.alreadyListening(path) }
        unlink(path)
    }

    /// Refuses a socket directory in a shared place (/tmp) unless it is a real directory that
    /// this user owns and nobody else may enter: another user who made it first must not get
    /// to see, replace or intercept the socket.
    static func checkPrivate(_ dir: String) throws {
        guard SocketLocation.isPrivateDirectory(dir, uid: geteuid()) else { throw ServerError.notPrivate(dir) }
    }

    /// Who may connect to a bound socket file: its owner (user mode, 0600), or its owner and
    /// group `tailor` (system mode, 0660).
    static func restrictListeningPath(_ path: String, mode: DaemonMode, logger: Logger) throws {
        switch mode {
        case .user:
            guard chmod(path, 0o600) == 0 else { throw ServerError.system("chmod \(path)", errno) }
        case .system:
            guard chmod(path, 0o660) == 0 else { throw ServerError.system("chmod \(path)", errno) }
            if let g = getgrnam("tailor") {
                guard chown(path, uid_t.max, g.pointee.gr_gid) == 0 else {
                    throw ServerError.system("chown \(path)", errno)
                }
            } else {
                logger.warning("group 'tailor' does not exist; the socket stays in the daemon's group")
            }
        }
    }
}
