import TailorWire

/// `tailor.v1.Models`: load, list and unload base models.
public struct ModelsService: RPCService {
    public let name = "tailor.v1.Models"
    private let models: ModelManager
    private let policy: AccessPolicy

    /// A service over `models`; `policy` decides who may load and unload.
    public init(models: ModelManager, policy: AccessPolicy) {
        self.models = models
        self.policy = policy
    }

    public func handle(_ call: RPCCall, _ writer: RPCWriter) async throws {
        switch call.method {
        case "List":
            try EmptyMessage.validate(call.payload, as: .listModelsRequest)
            try await writer.respond(try ListModelsResponse(models: await models.list()).serialized())
        case "Load":
            let req = try LoadModelRequest(serialized: call.payload)
            try authorize(call)
            let info = try await models.load(path: req.path, id: req.id)
            call.logger.info("loaded model", metadata: ["model": "\(info.id)", "path": "\(info.path)"])
            try await writer.respond(try info.serialized())
        case "Unload":
            let req = try UnloadModelRequest(serialized: call.payload)
            try authorize(call)
            try await models.unload(id: req.id)
            call.logger.info("unloaded model", metadata: ["model": "\(req.id)"])
            try await writer.respond([])
        default:
            throw RPCError(.unimplemented, "\(name) has no method '\(call.method.echoed)'")
        }
    }

    private func authorize(_ call: RPCCall) throws {
        guard policy.mayManageModels(call.caller) else {
            throw RPCError(
                .permissionDenied, "uid \(call.caller.uid) may not load or unload models of the system daemon")
        }
    }
}
