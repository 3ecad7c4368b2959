#if canImport(Glibc)
import Glibc
#endif

/// Plain blocking Unix-socket helpers for the few places that need no event loop: the check
/// that no other daemon listens before a socket file is replaced, sd_notify's datagram, and
/// tools that hold raw connections.
public enum UnixSocket {
    /// Why a socket address could not be built or a connection made.
    public enum SocketError: Error, Equatable, CustomStringConvertible {
        case pathTooLong(String)
        case system(call: String, errno: Int32)

        public var description: String {
            switch self {
            case let .pathTooLong(p): return "socket path too long: \(p)"
            case let .system(call, e): return "\(call): \(String(cString: strerror(e)))"
            }
        }
    }

    /// Runs `body` with `path` as a sockaddr_un. A leading "@" names Linux's abstract namespace
    /// (exactly its bytes, no terminating NUL), as systemd writes it in $NOTIFY_SOCKET.
    public static func withAddress<T>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) throws -> T {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw SocketError.pathTooLong(path) }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        let length = MemoryLayout.offset(of: \sockaddr_un.sun_path)! + bytes.count + (abstract ? 0 : 1)
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(length)) }
        }
    }

    /// A connected blocking stream socket (close-on-exec); the caller closes it.
    public static func connect(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError.system(call: "socket", errno: errno) }
        let r = try withAddress(path) { Glibc.connect(fd, $0, $1) }
        guard r == 0 else {
            let e = errno
            close(fd)
            throw SocketError.system(call: "connect \(path)", errno: e)
        }
        return fd
    }

    /// Whether something accepts connections on `path`.
    static func isListening(_ path: String) -> Bool {
        guard let fd = try? connect(path) else { return false }
        close(fd)
        return true
    }
}
