import Foundation
import TailorWire

extension TailorClient {
    /// The socket a client connects to: `flag` (a --socket option), then `$TAILOR_SOCKET`, then
    /// the user daemon's socket when `$XDG_RUNTIME_DIR` is set, else the system daemon's. The
    /// rule is `SocketLocation`'s, which tailord uses to place its socket.
    public static func socketPath(
        flag: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String {
        SocketLocation.client(flag: flag, environment: environment)
    }
}
