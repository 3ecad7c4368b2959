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
        try ModelInfo(serialized: try await call("tailor.v1.Models", "Load", payload: try LoadModelRequest(path: path, id: id).serialized()))
    }

    /// Models.Unload.
    public func unloadModel(id: String) async throws {
        _ = try await call("tailor.v1.Models", "Unload", payload: try UnloadModelRequest(id: id).serialized())
    }

    /// Decoding.Generate: token events, then the stats event. Stop iterating (or cancel the
    /// task) to cancel the generation.
    public func generate(_ request: GenerateRequest, timeoutMS: UInt32 = 0) throws -> AsyncThrowingStream<GenerateEvent, any Error> {
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
