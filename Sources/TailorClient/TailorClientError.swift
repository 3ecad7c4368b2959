import TailorWire

/// Why a call through `TailorClient` failed.
public enum TailorClientError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The daemon ended the call with this non-OK Status.
    case status(Status)
    /// The connection closed before the call ended.
    case connectionClosed
    /// The daemon sent something the protocol does not allow here.
    case protocolViolation(String)

    /// The Status code, when the daemon gave one.
    public var code: StatusCode? {
        if case let .status(s) = self { return s.code }
        return nil
    }

    public var description: String {
        switch self {
        case let .status(s):
            return s.field.isEmpty ? "\(s.code): \(s.message)" : "\(s.code): \(s.message) (field \(s.field))"
        case .connectionClosed: return "the connection to tailord closed"
        case let .protocolViolation(m): return "protocol violation: \(m)"
        }
    }
}
