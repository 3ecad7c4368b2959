/// One frame of the protocol as plain Swift values (see Proto/tailor/v1/frame.proto and
/// Proto/README.md). Only TailorWire converts these to and from protobuf-c messages.
public struct Frame: Sendable, Equatable {
    /// 0 for the session; odd and increasing for client-opened streams.
    public var streamID: UInt32
    /// What the frame carries.
    public var kind: Kind

    /// The six kinds of frame.
    public enum Kind: Sendable, Equatable {
        /// Opens a stream.
        case request(Request)
        /// The single reply of a unary method.
        case response(payload: [UInt8])
        /// One reply of a streaming method.
        case event(payload: [UInt8])
        /// A chunk of an upload or download.
        case data(chunk: [UInt8], last: Bool)
        /// Asks the server to stop the stream.
        case cancel(reason: String)
        /// Ends the stream.
        case status(Status)
    }

    /// A frame of `kind` on `streamID`.
    public init(streamID: UInt32, kind: Kind) {
        self.streamID = streamID
        self.kind = kind
    }
}

/// The opening of a stream: which method, with its serialized request.
public struct Request: Sendable, Equatable {
    /// Fully qualified service, e.g. "tailor.v1.Decoding".
    public var service: String
    /// Method name, e.g. "Generate".
    public var method: String
    /// The method's request message, serialized.
    public var payload: [UInt8]
    /// Deadline in milliseconds; 0 for none.
    public var timeoutMS: UInt32

    /// A request for `service`/`method`.
    public init(service: String, method: String, payload: [UInt8] = [], timeoutMS: UInt32 = 0) {
        self.service = service
        self.method = method
        self.payload = payload
        self.timeoutMS = timeoutMS
    }
}

/// The end of a stream.
public struct Status: Sendable, Equatable {
    /// The outcome.
    public var code: StatusCode
    /// A message for people.
    public var message: String
    /// The offending field, for INVALID_ARGUMENT; empty otherwise.
    public var field: String

    /// A status with `code`.
    public init(code: StatusCode, message: String = "", field: String = "") {
        self.code = code
        self.message = message
        self.field = field
    }

    /// The Status a peer receives for `error`.
    public init(_ error: WireError) {
        self.init(code: error.statusCode, message: error.description, field: error.field ?? "")
    }
}
