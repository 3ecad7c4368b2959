import TailorWire

/// Why a call through `TailorClient` failed.
public enum TailorClientError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The daemon ended the call with this non-OK Status.
    case status(Status)
    /// The connection closed before the call ended.
    case connectionClosed
    /// The daemon sent something the protocol does not allow here.
    case protocolViolation(String)
    /// Nothing could be reached at the socket `path`, for `reason` (in words).
    case unreachable(path: String, reason: String)

    /// The daemon's Status, when it gave one.
    public var status: Status? {
        if case let .status(s) = self { return s }
        return nil
    }

    /// The Status code, when the daemon gave one.
    public var code: StatusCode? {
        if case let .status(s) = self { return s.code }
        return nil
    }

    /// The whole story, for logs and developers: the status code and the field at fault.
    public var description: String {
        switch self {
        case let .status(s):
            return s.field.isEmpty ? "\(s.code): \(s.message)" : "\(s.code): \(s.message) (field \(s.field))"
        default: return message
        }
    }

    /// What a person reads: the daemon's message alone, without the status code or the
    /// protocol's field path (the message already names the problem).
    public var message: String {
        switch self {
        case let .status(s): return s.message
        case .connectionClosed: return "the connection to tailord closed"
        case let .protocolViolation(m): return "protocol violation: \(m)"
        case let .unreachable(path, reason): return "cannot reach tailord at \(path): \(reason)"
        }
    }
}
