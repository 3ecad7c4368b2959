import TailorWire

extension TailorClient {
    /// Health.Check: version, loaded models, uptime, queue depth.
    public func health() async throws -> HealthCheckResponse {
        try HealthCheckResponse(serialized: try await call("tailor.v1.Health", "Check", payload: []))
    }

    /// Models.List.
    public func models() async throws -> [ModelInfo] {
        try ListModelsResponse(serialized: try await call("tailor.v1.Models", "List", payload: [])).models
    }

    /// Models.Load: `path` must be absolute, as the daemon resolves nothing relative to itself.
    public func loadModel(path: String, id: String = "") async throws -> ModelInfo {
        try ModelInfo(
            serialized: try await call(
                "tailor.v1.Models", "Load", payload: try LoadModelRequest(path: path, id: id).serialized()))
    }

    /// Models.Unload.
    public func unloadModel(id: String) async throws {
        _ = try await call("tailor.v1.Models", "Unload", payload: try UnloadModelRequest(id: id).serialized())
    }

    /// Decoding.Generate: token events, then the stats event. Stop iterating (or cancel the
    /// task) to cancel the generation.
    public func generate(
        _ request: GenerateRequest, timeoutMS: UInt32 = 0
    ) throws -> AsyncThrowingStream<GenerateEvent, any Error> {
        let events = stream("tailor.v1.Decoding", "Generate", payload: try request.serialized(), timeoutMS: timeoutMS)
        let reader = EventReader(events.makeAsyncIterator())
        return AsyncThrowingStream { try await reader.next().map { try GenerateEvent(serialized: $0) } }
    }
}

/// Holds the payload iterator of one Generate call; only its one consumer touches it.
private final class EventReader: @unchecked Sendable {
    private var iterator: AsyncThrowingStream<[UInt8], any Error>.AsyncIterator
    init(_ iterator: AsyncThrowingStream<[UInt8], any Error>.AsyncIterator) { self.iterator = iterator }
    func next() async throws -> [UInt8]? { try await iterator.next() }
}

extension TailorClient {
    /// Adapters.List: the caller's adapters (all owners' for root), optionally filtered.
    public func adapters(user: String = "", task: String = "") async throws -> [AdapterInfo] {
        try ListAdaptersResponse(
            serialized: try await call(
                "tailor.v1.Adapters", "List",
                payload: try ListAdaptersRequest(user: user, task: task).serialized())
        ).adapters
    }

    /// Adapters.Get.
    public func adapter(_ ref: AdapterRef) async throws -> AdapterInfo {
        try AdapterInfo(serialized: try await call("tailor.v1.Adapters", "Get", payload: try ref.serialized()))
    }

    /// Adapters.Import: uploads `weights` (adapter_model.safetensors, or a GGUF LoRA file).
    public func importAdapter(_ request: ImportAdapterRequest, weights: [UInt8]) async throws -> AdapterInfo {
        try AdapterInfo(
            serialized: try await upload(
                "tailor.v1.Adapters", "Import", payload: try request.serialized(), data: weights))
    }

    /// Adapters.Export: the header and the file's bytes.
    public func exportAdapter(
        _ request: ExportAdapterRequest
    ) async throws -> (header: ExportAdapterHeader, file: [UInt8]) {
        var header: ExportAdapterHeader?
        var file: [UInt8] = []
        for try await kind in streamFrames("tailor.v1.Adapters", "Export", payload: try request.serialized()) {
            switch kind {
            case let .event(payload): header = try ExportAdapterHeader(serialized: payload)
            case let .data(chunk, _): file += chunk
            default: break
            }
        }
        guard let header else { throw TailorClientError.protocolViolation("export sent no header") }
        guard UInt64(file.count) == header.bytes else {
            throw TailorClientError.protocolViolation("export announced \(header.bytes) bytes and sent \(file.count)")
        }
        return (header, file)
    }

    /// Adapters.Delete: one version, or with version 0 the whole adapter.
    public func deleteAdapter(_ ref: AdapterRef) async throws {
        _ = try await call("tailor.v1.Adapters", "Delete", payload: try ref.serialized())
    }

    /// Adapters.SetCurrent: roll back (or forward) to `ref.version`.
    public func setCurrentAdapter(_ ref: AdapterRef) async throws -> AdapterInfo {
        try AdapterInfo(serialized: try await call("tailor.v1.Adapters", "SetCurrent", payload: try ref.serialized()))
    }
}
