import Foundation

/// Where tailord's Unix socket is: one rule for the daemon that creates it and the clients
/// that look for it, so the two cannot drift apart.
public enum SocketLocation {
    /// The socket's file name inside its directory.
    public static let fileName = "tailord.sock"

    /// The system daemon's socket (FHS: under /run).
    public static let system = "/run/tailor/" + fileName

    /// The user daemon's socket under `$XDG_RUNTIME_DIR`; nil when that is unset or relative.
    public static func user(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        guard let runtime = environment["XDG_RUNTIME_DIR"], runtime.hasPrefix("/") else { return nil }
        return runtime + "/tailor/" + fileName
    }

    /// Where a user daemon puts its socket when there is no `$XDG_RUNTIME_DIR` (no systemd
    /// session: a container, a plain `su`): a directory of the user's own under /tmp, as tmux
    /// does. The daemon creates it 0700 and refuses one that another user owns or others can
    /// enter, so squatting the name gets nobody a connection.
    public static func fallbackDirectory(uid: uid_t = getuid()) -> String { "/tmp/tailor-\(uid)" }

    /// The socket a client connects to: `flag` (--socket), then `$TAILOR_SOCKET`, then the user
    /// daemon's socket when `$XDG_RUNTIME_DIR` is set; without it, the fallback directory's
    /// socket when `exists` says it is there; else the system daemon's.
    public static func client(
        flag: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
        exists: (String) -> Bool = { FileManager.default.fileExists(atPath: $0) }
    ) -> String {
        if let flag, !flag.isEmpty { return flag }
        if let env = environment["TAILOR_SOCKET"], !env.isEmpty { return env }
        if let user = user(environment: environment) { return user }
        let fallback = fallbackDirectory() + "/" + fileName
        return exists(fallback) ? fallback : system
    }
}
