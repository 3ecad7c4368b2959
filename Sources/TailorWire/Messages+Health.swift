import CProtobufC
import TailorWireC

/// Health.Check's response: is the daemon up, what it holds, how busy it is.
public struct HealthCheckResponse: Sendable, Equatable {
    /// Daemon version.
    public var version: String
    /// Ids of the loaded models.
    public var models: [String]
    /// Milliseconds since the daemon started.
    public var uptimeMS: UInt64
    /// Generation requests waiting for their turn.
    public var queueDepth: UInt32

    /// A health report.
    public init(version: String, models: [String], uptimeMS: UInt64, queueDepth: UInt32) {
        self.version = version
        self.models = models
        self.uptimeMS = uptimeMS
        self.queueDepth = queueDepth
    }

    /// Serialized `tailor.v1.HealthCheckResponse`.
    public func serialized() throws -> [UInt8] {
        let arena = CMessageArena()
        let m = arena.make(Tailor__V1__HealthCheckResponse.self)
        tailor__v1__health_check_response__init(m)
        m.pointee.version = try arena.cString(version, field: "health.version")
        let list = arena.array(UnsafeMutablePointer<CChar>?.self, count: models.count)
        for (i, id) in models.enumerated() { list[i] = try arena.cString(id, field: "health.models") }
        m.pointee.n_models = models.count
        m.pointee.models = list
        m.pointee.uptime_ms = uptimeMS
        m.pointee.queue_depth = queueDepth
        return CMessageReader.pack(
            UnsafePointer(m), size: tailor__v1__health_check_response__get_packed_size,
            pack: tailor__v1__health_check_response__pack)
    }

    /// Parses a serialized `tailor.v1.HealthCheckResponse`.
    public init(serialized bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { raw in
            try CMessageReader.read(
                raw, type: "tailor.v1.HealthCheckResponse", unpack: tailor__v1__health_check_response__unpack,
                free: tailor__v1__health_check_response__free_unpacked
            ) { m, r in
                let ids = try (0..<m.pointee.n_models).map {
                    try r.string(m.pointee.models[$0], field: "health.models")
                }
                return HealthCheckResponse(
                    version: try r.string(m.pointee.version, field: "health.version"), models: ids,
                    uptimeMS: m.pointee.uptime_ms, queueDepth: m.pointee.queue_depth)
            }
        }
    }
}
