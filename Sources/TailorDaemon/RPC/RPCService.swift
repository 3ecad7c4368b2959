import Logging
import TailorWire

/// One service of the protocol (e.g. `tailor.v1.Health`): a small type with one job that answers
/// the methods of its proto file. The connection layer routes a Request to it by service name
/// and supervises the call: deadlines, Cancel frames and the closing Status are not the
/// service's business. A service returns normally for OK, or throws (an `RPCError`, ideally).
public protocol RPCService: Sendable {
    /// The fully qualified service name, e.g. "tailor.v1.Health".
    var name: String { get }
    /// Handles one call of `call.method`. Unary methods send one `Response`; streaming methods
    /// send `Event`s; downloads send `Data`. The closing Status is sent by the caller.
    /// - Throws: `RPCError(.unimplemented, …)` for a method the service does not have.
    func handle(_ call: RPCCall, _ writer: RPCWriter) async throws

    /// Whether `method` reads Data frames from the client. Data frames on a stream whose
    /// method takes none end that stream INVALID_ARGUMENT instead of waiting unread.
    func takesUploads(_ method: String) -> Bool
}

extension RPCService {
    /// Most methods take no upload.
    public func takesUploads(_ method: String) -> Bool { false }
}

/// One incoming call: its method, request bytes, the caller, and its uploaded data.
public struct RPCCall: Sendable {
    /// The method name, e.g. "Generate".
    public var method: String
    /// The serialized request message.
    public var payload: [UInt8]
    /// Who called, from SO_PEERCRED.
    public var caller: PeerCredentials
    /// Data frames the client uploads on this stream (empty for other calls).
    public var uploads: RPCUploads
    /// A logger with the connection and stream ids attached.
    public var logger: Logger

    /// A call as the connection layer builds it.
    public init(method: String, payload: [UInt8], caller: PeerCredentials, uploads: RPCUploads, logger: Logger) {
        self.method = method
        self.payload = payload
        self.caller = caller
        self.uploads = uploads
        self.logger = logger
    }

    /// A chunk of an upload.
    public struct DataChunk: Sendable, Equatable {
        /// The bytes.
        public var bytes: [UInt8]
        /// No more chunks follow.
        public var last: Bool
    }
}

/// Sends the replies of one stream. Writes are ordered and flushed; each waits until the
/// connection has taken the frame, which is the back-pressure a slow client exerts.
public protocol RPCWriter: Sendable {
    /// Sends `kind` on the call's stream.
    /// - Throws: when the connection is gone.
    func send(_ kind: Frame.Kind) async throws
}

extension RPCWriter {
    /// Sends a unary method's single response.
    public func respond(_ payload: [UInt8]) async throws { try await send(.response(payload: payload)) }
    /// Sends one event of a streaming method.
    public func event(_ payload: [UInt8]) async throws { try await send(.event(payload: payload)) }
}

/// Routes calls to services by name. An unknown service or method gets UNIMPLEMENTED.
public struct RPCRouter: Sendable {
    private let services: [String: any RPCService]

    /// A router over `services`; a later service with the same name replaces an earlier one,
    /// which is how a feature's real service replaces its UNIMPLEMENTED placeholder.
    public init(_ services: [any RPCService]) {
        var map: [String: any RPCService] = [:]
        for s in services { map[s.name] = s }
        self.services = map
    }

    /// The service named `name`, if any.
    public func service(named name: String) -> (any RPCService)? { services[name] }

    /// The names served, sorted.
    public var serviceNames: [String] { services.keys.sorted() }
}

/// A service whose feature has not landed: every method answers UNIMPLEMENTED, so clients can
/// probe for it (Proto/README.md, "Versioning").
public struct UnimplementedService: RPCService {
    public let name: String

    /// A placeholder for `name`.
    public init(name: String) { self.name = name }

    public func handle(_ call: RPCCall, _ writer: RPCWriter) async throws {
        throw RPCError(.unimplemented, "\(name).\(call.method.echoed) is not implemented by this daemon")
    }
}
