import Foundation

/// Whether tailord serves one user (from their session) or the whole machine.
public enum DaemonMode: String, Sendable, CaseIterable {
    /// Socket under `$XDG_RUNTIME_DIR/tailor/`, state under `$XDG_STATE_HOME/tailor`.
    case user
    /// Socket under /run/tailor, state under /var/lib/tailor.
    case system
}

/// Where the daemon puts its socket and state, following XDG in user mode and the FHS in system
/// mode, and where clients look for the socket.
public struct DaemonPaths: Sendable, Equatable {
    /// The Unix socket the daemon listens on.
    public var socket: String
    /// The directory holding the database and adapter registry.
    public var stateDirectory: String

    /// Paths given explicitly.
    public init(socket: String, stateDirectory: String) {
        self.socket = socket
        self.stateDirectory = stateDirectory
    }

    /// The socket's file name inside its directory.
    public static let socketName = "tailord.sock"

    /// The default paths for `mode`.
    /// - Throws: `PathError.noRuntimeDirectory` in user mode when `$XDG_RUNTIME_DIR` is unset:
    ///   a user daemon's socket must not land in a shared directory.
    public static func defaults(mode: DaemonMode, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> DaemonPaths {
        switch mode {
        case .system:
            return DaemonPaths(socket: "/run/tailor/\(socketName)", stateDirectory: "/var/lib/tailor")
        case .user:
            guard let runtime = environment["XDG_RUNTIME_DIR"], runtime.hasPrefix("/") else { throw PathError.noRuntimeDirectory }
            let home = environment["HOME"] ?? NSHomeDirectory()
            let stateHome = environment["XDG_STATE_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? home + "/.local/state"
            return DaemonPaths(socket: runtime + "/tailor/" + socketName, stateDirectory: stateHome + "/tailor")
        }
    }

    /// The socket a client connects to: `flag` (--socket), then `$TAILOR_SOCKET`, then the user
    /// daemon's socket when `$XDG_RUNTIME_DIR` is set, else the system daemon's.
    public static func clientSocket(flag: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let flag, !flag.isEmpty { return flag }
        if let env = environment["TAILOR_SOCKET"], !env.isEmpty { return env }
        if let user = try? defaults(mode: .user, environment: environment) { return user.socket }
        return (try? defaults(mode: .system, environment: environment))?.socket ?? "/run/tailor/\(socketName)"
    }

    /// Why default paths could not be chosen.
    public enum PathError: Error, Equatable, CustomStringConvertible {
        /// User mode without an absolute `$XDG_RUNTIME_DIR`.
        case noRuntimeDirectory

        /// A message saying what to set.
        public var description: String {
            "user mode needs XDG_RUNTIME_DIR set to an absolute path (or pass --socket)"
        }
    }
}
