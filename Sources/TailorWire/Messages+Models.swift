import CProtobufC
import TailorWireC

/// A base model the daemon holds (Proto/tailor/v1/models.proto).
public struct ModelInfo: Sendable, Equatable {
    /// The id requests name it by.
    public var id: String
    /// The GGUF file it was loaded from.
    public var path: String
    /// llama, qwen2, qwen3, smollm3, gemma2, gemma3, phi3 or qwen3moe.
    public var architecture: String
    /// Parameter count.
    public var parameters: UInt64
    /// Size of the file in bytes.
    public var fileBytes: UInt64
    /// Positions the daemon serves per sequence.
    public var contextLength: UInt32
    /// sha256 of the file, hex: the identity adapters are checked against.
    public var sha256: String
    /// Whether the GGUF holds a chat template; most base models lack one, and a client warns
    /// before sending them chat input.
    public var hasChatTemplate: Bool

    /// A description of a loaded model.
    public init(
        id: String, path: String, architecture: String, parameters: UInt64, fileBytes: UInt64,
        contextLength: UInt32, sha256: String, hasChatTemplate: Bool = true
    ) {
        self.hasChatTemplate = hasChatTemplate
        self.id = id
        self.path = path
        self.architecture = architecture
        self.parameters = parameters
        self.fileBytes = fileBytes
        self.contextLength = contextLength
        self.sha256 = sha256
    }

    /// Fills `m` (already initialized) from self, with memory owned by `arena`.
    func fill(_ m: UnsafeMutablePointer<Tailor__V1__ModelInfo>, arena: CMessageArena) throws {
        m.pointee.id = try arena.cString(id, field: "model.id")
        m.pointee.path = try arena.cString(path, field: "model.path")
        m.pointee.architecture = try arena.cString(architecture, field: "model.architecture")
        m.pointee.parameters = parameters
        m.pointee.file_bytes = fileBytes
        m.pointee.context_length = contextLength
        m.pointee.sha256 = try arena.cString(sha256, field: "model.sha256")
        m.pointee.has_chat_template = hasChatTemplate ? 1 : 0
    }

    /// Reads an unpacked `tailor.v1.ModelInfo`.
    init(_ m: Tailor__V1__ModelInfo, reader r: CMessageReader) throws {
        self.init(
            id: try r.string(m.id, field: "model.id"), path: try r.string(m.path, field: "model.path"),
            architecture: try r.string(m.architecture, field: "model.architecture"), parameters: m.parameters,
            fileBytes: m.file_bytes, contextLength: m.context_length,
            sha256: try r.string(m.sha256, field: "model.sha256"), hasChatTemplate: m.has_chat_template != 0)
    }

    /// Serialized `tailor.v1.ModelInfo` (Models.Load's response).
    public func serialized() throws -> [UInt8] {
        let arena = CMessageArena()
        let m = arena.make(Tailor__V1__ModelInfo.self)
        tailor__v1__model_info__init(m)
        try fill(m, arena: arena)
        return CMessageReader.pack(
            UnsafePointer(m), size: tailor__v1__model_info__get_packed_size, pack: tailor__v1__model_info__pack)
    }

    /// Parses a serialized `tailor.v1.ModelInfo`.
    public init(serialized bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { raw in
            try CMessageReader.read(
                raw, type: "tailor.v1.ModelInfo", unpack: tailor__v1__model_info__unpack,
                free: tailor__v1__model_info__free_unpacked
            ) { m, r in try ModelInfo(m.pointee, reader: r) }
        }
    }
}

/// Models.Load's request: a GGUF path and an optional id.
public struct LoadModelRequest: Sendable, Equatable {
    /// A GGUF file readable by the daemon.
    public var path: String
    /// The id to serve it under; empty for the file name without ".gguf".
    public var id: String

    /// A request to load `path` as `id`.
    public init(path: String, id: String = "") {
        self.path = path
        self.id = id
    }

    /// Serialized `tailor.v1.LoadModelRequest`.
    public func serialized() throws -> [UInt8] {
        let arena = CMessageArena()
        let m = arena.make(Tailor__V1__LoadModelRequest.self)
        tailor__v1__load_model_request__init(m)
        m.pointee.path = try arena.cString(path, field: "load.path")
        m.pointee.id = try arena.cString(id, field: "load.id")
        return CMessageReader.pack(
            UnsafePointer(m), size: tailor__v1__load_model_request__get_packed_size,
            pack: tailor__v1__load_model_request__pack)
    }

    /// Parses a serialized `tailor.v1.LoadModelRequest`.
    public init(serialized bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { raw in
            try CMessageReader.read(
                raw, type: "tailor.v1.LoadModelRequest", unpack: tailor__v1__load_model_request__unpack,
                free: tailor__v1__load_model_request__free_unpacked
            ) { m, r in
                LoadModelRequest(
                    path: try r.string(m.pointee.path, field: "load.path"),
                    id: try r.string(m.pointee.id, field: "load.id"))
            }
        }
    }
}

/// Models.List's response.
public struct ListModelsResponse: Sendable, Equatable {
    /// Every loaded model.
    public var models: [ModelInfo]

    /// A listing of `models`.
    public init(models: [ModelInfo]) { self.models = models }

    /// Serialized `tailor.v1.ListModelsResponse`.
    public func serialized() throws -> [UInt8] {
        let arena = CMessageArena()
        let m = arena.make(Tailor__V1__ListModelsResponse.self)
        tailor__v1__list_models_response__init(m)
        let list = arena.array(UnsafeMutablePointer<Tailor__V1__ModelInfo>?.self, count: models.count)
        for (i, info) in models.enumerated() {
            let e = arena.make(Tailor__V1__ModelInfo.self)
            tailor__v1__model_info__init(e)
            try info.fill(e, arena: arena)
            list[i] = e
        }
        m.pointee.n_models = models.count
        m.pointee.models = list
        return CMessageReader.pack(
            UnsafePointer(m), size: tailor__v1__list_models_response__get_packed_size,
            pack: tailor__v1__list_models_response__pack)
    }

    /// Parses a serialized `tailor.v1.ListModelsResponse`.
    public init(serialized bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { raw in
            try CMessageReader.read(
                raw, type: "tailor.v1.ListModelsResponse", unpack: tailor__v1__list_models_response__unpack,
                free: tailor__v1__list_models_response__free_unpacked
            ) { m, r in
                ListModelsResponse(
                    models: try (0..<m.pointee.n_models).map { try ModelInfo(m.pointee.models[$0]!.pointee, reader: r) }
                )
            }
        }
    }
}

/// Models.Unload's request.
public struct UnloadModelRequest: Sendable, Equatable {
    /// The loaded model's id.
    public var id: String

    /// A request to unload `id`.
    public init(id: String) { self.id = id }

    /// Serialized `tailor.v1.UnloadModelRequest`.
    public func serialized() throws -> [UInt8] {
        let arena = CMessageArena()
        let m = arena.make(Tailor__V1__UnloadModelRequest.self)
        tailor__v1__unload_model_request__init(m)
        m.pointee.id = try arena.cString(id, field: "unload.id")
        return CMessageReader.pack(
            UnsafePointer(m), size: tailor__v1__unload_model_request__get_packed_size,
            pack: tailor__v1__unload_model_request__pack)
    }

    /// Parses a serialized `tailor.v1.UnloadModelRequest`.
    public init(serialized bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { raw in
            try CMessageReader.read(
                raw, type: "tailor.v1.UnloadModelRequest", unpack: tailor__v1__unload_model_request__unpack,
                free: tailor__v1__unload_model_request__free_unpacked
            ) { m, r in
                UnloadModelRequest(id: try r.string(m.pointee.id, field: "unload.id"))
            }
        }
    }
}

/// Requests and responses without fields (Health.Check's request, Models.List's request,
/// Models.Unload's response). Parsing still checks that the bytes are a well-formed message of
/// the named type, so garbage gets INVALID_ARGUMENT rather than being ignored.
public enum EmptyMessage: Sendable {
    /// The message types without fields, with their descriptors.
    public enum Kind: Sendable {
        case healthCheckRequest, listModelsRequest, unloadModelResponse

        var name: String {
            switch self {
            case .healthCheckRequest: return "tailor.v1.HealthCheckRequest"
            case .listModelsRequest: return "tailor.v1.ListModelsRequest"
            case .unloadModelResponse: return "tailor.v1.UnloadModelResponse"
            }
        }

        func withDescriptor<T>(_ body: (UnsafePointer<ProtobufCMessageDescriptor>) throws -> T) rethrows -> T {
            switch self {
            case .healthCheckRequest:
                return try withUnsafePointer(to: tailor__v1__health_check_request__descriptor, body)
            case .listModelsRequest: return try withUnsafePointer(to: tailor__v1__list_models_request__descriptor, body)
            case .unloadModelResponse:
                return try withUnsafePointer(to: tailor__v1__unload_model_response__descriptor, body)
            }
        }
    }

    /// Checks that `bytes` parse as a message of `kind`.
    /// - Throws: `WireError.malformedMessage` naming the type.
    public static func validate(_ bytes: [UInt8], as kind: Kind) throws {
        try bytes.withUnsafeBytes { raw in
            try kind.withDescriptor { d in
                try CMessageReader.read(
                    raw, type: kind.name, unpack: { a, n, p in protobuf_c_message_unpack(d, a, n, p) },
                    free: { m, a in protobuf_c_message_free_unpacked(m, a) }
                ) { _, _ in () }
            }
        }
    }
}
