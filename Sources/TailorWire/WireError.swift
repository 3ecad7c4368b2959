/// Why bytes from the socket could not be turned into a frame or message. Each case maps to the
/// Status the peer receives (`statusCode`), and names the field when one is at fault.
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The length prefix announces more than the limit; detected before reading the body.
    case frameTooLarge(length: UInt32, limit: Int)
    /// The bytes are not a valid serialized message of the expected type.
    case malformedMessage(type: String)
    /// A string field holds bytes that are not UTF-8.
    case invalidUTF8(field: String)
    /// A string field holds a NUL byte (C code would silently cut it there).
    case embeddedNUL(field: String)
    /// A frame with none of Request, Response, Event, Data, Cancel, Status set.
    case emptyFrame
    /// A required field (or one of a oneof) is absent.
    case missingField(field: String)
    /// A status code number gRPC does not define.
    case unknownStatusCode(UInt32)
    /// A message of `bytes` bytes holds so many (near-empty) entries that it would unpack into
    /// far more memory than its size: refused before it is built.
    case tooManyElements(type: String, bytes: Int)

    /// The Status code the peer should receive for this problem.
    public var statusCode: StatusCode {
        switch self {
        case .frameTooLarge, .tooManyElements: return .resourceExhausted
        default: return .invalidArgument
        }
    }

    /// The field at fault, if one is.
    public var field: String? {
        switch self {
        case let .invalidUTF8(f), let .embeddedNUL(f), let .missingField(f): return f
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case let .frameTooLarge(n, l): return "frame of \(n) bytes exceeds the limit of \(l) bytes"
        case let .malformedMessage(t): return "malformed \(t) message"
        case let .invalidUTF8(f): return "field '\(f)' is not valid UTF-8"
        case let .embeddedNUL(f): return "field '\(f)' contains a NUL byte"
        case .emptyFrame: return "frame has no kind (request, response, event, data, cancel or status)"
        case let .missingField(f): return "field '\(f)' is required"
        case let .unknownStatusCode(c): return "unknown status code \(c)"
        case let .tooManyElements(t, n):
            return
                """
                the \(t) message of \(n) bytes holds too many entries for its size; send fewer, or fuller, \
                entries per request
                """
        }
    }
}
