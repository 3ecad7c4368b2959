import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Tells systemd how the daemon is doing (READY=1, STOPPING=1, WATCHDOG=1, STATUS=...), the way
/// sd_notify(3) does, without linking libsystemd: one datagram to the socket named by
/// `$NOTIFY_SOCKET` (a leading "@" means Linux's abstract namespace).
public struct SystemdNotifier: Sendable {
    /// The notification socket, or nil when not started by systemd with Type=notify.
    public let socketPath: String?
    /// How often to send WATCHDOG=1 (half of `$WATCHDOG_USEC`), when the watchdog is on for us.
    public let watchdogInterval: Duration?

    /// Reads `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` and `$WATCHDOG_PID` from `environment`.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment, pid: Int32 = getpid()) {
        let path = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        socketPath = path
        if let usec = environment["WATCHDOG_USEC"].flatMap(UInt64.init), usec > 0,
            environment["WATCHDOG_PID"].map({ Int32($0) == pid }) ?? true
        {
            watchdogInterval = .microseconds(Int64(usec / 2))
        } else {
            watchdogInterval = nil
        }
    }

    /// Why a notification could not be sent: the path does not fit a sockaddr_un, or
    /// socket(2)/sendto(2) failed. The same errors as every plain Unix-socket operation here.
    public typealias NotifyError = UnixSocket.SocketError

    /// Sends `fields` (e.g. ["READY": "1", "STATUS": "serving"]) as one notification, in the
    /// order given. A no-op when the daemon was not started with a notification socket.
    public func notify(_ fields: KeyValuePairs<String, String>) throws {
        guard let path = socketPath else { return }
        let message = fields.map { "\($0.key)=\($0.value)" }.joined(separator: "\n")
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw NotifyError.system(call: "socket", errno: errno) }
        defer { close(fd) }
        let sent = try UnixSocket.withAddress(path) { addr, length in
            message.withCString { sendto(fd, $0, strlen($0), Int32(MSG_NOSIGNAL), addr, length) }
        }
        guard sent >= 0 else { throw NotifyError.system(call: "sendto", errno: errno) }
    }
}
