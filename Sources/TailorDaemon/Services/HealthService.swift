import Foundation
import TailorWire

/// `tailor.v1.Health`: is the daemon up, what does it hold, how busy is it.
public struct HealthService: RPCService {
    public let name = "tailor.v1.Health"
    private let models: ModelManager
    private let version: String
    private let started: ContinuousClock.Instant

    /// A health service reporting on `models`, started at `started`.
    public init(models: ModelManager, version: String, started: ContinuousClock.Instant = .now) {
        self.models = models
        self.version = version
        self.started = started
    }

    public func handle(_ call: RPCCall, _ writer: RPCWriter) async throws {
        guard call.method == "Check" else {
            throw RPCError(.unimplemented, "\(name) has no method '\(call.method.echoed)'")
        }
        try EmptyMessage.validate(call.payload, as: .healthCheckRequest)
        let up = ContinuousClock.now - started
        let report = HealthCheckResponse(
            version: version, models: await models.list().map(\.id),
            uptimeMS: UInt64(up.components.seconds) * 1000 + UInt64(up.components.attoseconds / 1_000_000_000_000_000),
            queueDepth: UInt32(clamping: await models.queueDepth()))
        try await writer.respond(try report.serialized())
    }
}
