import Foundation

/// Where tailord's Unix socket is: one rule for the daemon that creates it and the clients
/// that look for it, so the two cannot drift apart.
public enum SocketLocation {
    /// The socket's file name inside its directory.
    public static let fileName = "tailord.sock"

    /// The system daemon's socket (FHS: under /run).
    public static let system = "/run/tailor/" + fileName

    /// The user daemon's socket under `$XDG_RUNTIME_DIR`; nil when that is unset or relative
    /// (a user daemon's socket must not land in a shared directory).
    public static func user(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        guard let runtime = environment["XDG_RUNTIME_DIR"], runtime.hasPrefix("/") else { return nil }
        return runtime + "/tailor/" + fileName
    }

    /// The socket a client connects to: `flag` (--socket), then `$TAILOR_SOCKET`, then the user
    /// daemon's socket when `$XDG_RUNTIME_DIR` is set, else the system daemon's.
    public static func client(
        flag: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String {
        if let flag, !flag.isEmpty { return flag }
        if let env = environment["TAILOR_SOCKET"], !env.isEmpty { return env }
        return user(environment: environment) ?? system
    }
}
