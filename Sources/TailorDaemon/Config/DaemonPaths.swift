import Foundation
import TailorWire

/// Whether tailord serves one user (from their session) or the whole machine.
public enum DaemonMode: String, Sendable, CaseIterable {
    /// Socket under `$XDG_RUNTIME_DIR/tailor/`, state under `$XDG_STATE_HOME/tailor`.
    case user
    /// Socket under /run/tailor, state under /var/lib/tailor.
    case system
}

/// Where the daemon puts its socket and state, following XDG in user mode and the FHS in system
/// mode (the socket's place by `SocketLocation`, which clients share).
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

    /// The default paths for `mode`.
    /// - Throws: `PathError.noRuntimeDirectory` in user mode when `$XDG_RUNTIME_DIR` is unset:
    ///   a user daemon's socket must not land in a shared directory.
    public static func defaults(
        mode: DaemonMode, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> DaemonPaths {
        switch mode {
        case .system:
            return DaemonPaths(socket: SocketLocation.system, stateDirectory: "/var/lib/tailor")
        case .user:
            guard let socket = SocketLocation.user(environment: environment) else { throw PathError.noRuntimeDirectory }
            let home = environment["HOME"] ?? NSHomeDirectory()
            let stateHome =
                environment["XDG_STATE_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? home + "/.local/state"
            return DaemonPaths(socket: socket, stateDirectory: stateHome + "/tailor")
        }
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
