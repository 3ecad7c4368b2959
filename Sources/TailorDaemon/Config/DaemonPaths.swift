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

    /// The default paths for `mode`. In user mode without `$XDG_RUNTIME_DIR`, the socket goes
    /// in `SocketLocation.fallbackDirectory`, which the listener checks is the user's alone.
    public static func defaults(
        mode: DaemonMode, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> DaemonPaths {
        switch mode {
        case .system:
            return DaemonPaths(socket: SocketLocation.system, stateDirectory: "/var/lib/tailor")
        case .user:
            let socket =
                SocketLocation.user(environment: environment)
                ?? SocketLocation.fallbackDirectory() + "/" + SocketLocation.fileName
            let home = environment["HOME"] ?? NSHomeDirectory()
            let stateHome =
                environment["XDG_STATE_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? home + "/.local/state"
            return DaemonPaths(socket: socket, stateDirectory: stateHome + "/tailor")
        }
    }
}
