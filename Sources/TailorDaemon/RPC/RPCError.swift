import TailorEngine
import TailorJobs
import TailorStore
import TailorWire

/// A failed call, as the Status the caller receives. Services throw these; anything else a
/// service throws is mapped by `RPCError.init(_:)`, so every failure reaches the client typed.
public struct RPCError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The Status code (gRPC numbering).
    public var code: StatusCode
    /// What went wrong, for people.
    public var message: String
    /// The offending request field, for INVALID_ARGUMENT.
    public var field: String

    /// An error with `code`.
    public init(_ code: StatusCode, _ message: String, field: String = "") {
        self.code = code
        self.message = message
        self.field = field
    }

    /// INVALID_ARGUMENT naming `field`.
    public static func invalidArgument(_ field: String, _ message: String) -> RPCError {
        RPCError(.invalidArgument, message, field: field)
    }

    /// The Status for any error a service might throw: wire errors name their field, engine
    /// errors about a request are INVALID_ARGUMENT, cancellation is CANCELLED, the rest INTERNAL.
    public init(_ error: any Error) {
        switch error {
        case let e as RPCError: self = e
        case let e as WireError: self.init(e.statusCode, e.description, field: e.field ?? "")
        case let .invalidArgument(field, message) as JobSpecError: self.init(.invalidArgument, message, field: field)
        case let e as EngineError: self.init(.invalidArgument, e.description)
        case let e as SamplingError: self.init(.invalidArgument, e.description, field: "generate.sampling")
        case let e as GenerationStarter.ContextOverflow: self.init(.invalidArgument, e.message, field: e.field)
        case let e as AdapterStoreError:
            switch e {
            case let .invalidName(field, _): self.init(.invalidArgument, e.description, field: "ref.\(field)")
            case .notFound, .versionNotFound: self.init(.notFound, e.description)
            case .currentVersionInUse: self.init(.failedPrecondition, e.description)
            case .corrupt: self.init(.dataLoss, e.description)
            case .io: self.init(.internalError, e.description)
            }
        case let e as PEFTError: self.init(.invalidArgument, "adapter: \(e)")
        case let e as SafetensorsError: self.init(.invalidArgument, "adapter weights: \(e)")
        case let e as GGUFError: self.init(.invalidArgument, "adapter: \(e)")
        case is CancellationError: self.init(.cancelled, "cancelled")
        default: self.init(.internalError, "\(error)")
        }
    }

    /// The Status frame ending a stream with this error.
    public var status: Status { Status(code: code, message: message, field: field) }

    public var description: String {
        field.isEmpty ? "\(code): \(message)" : "\(code): \(message) (field \(field))"
    }
}
