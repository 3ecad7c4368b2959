import Foundation
import TailorEngine
import TailorStore
import TailorWire

/// `tailor.v1.Adapters`: list, inspect, import, export, delete and roll back LoRA adapters.
///
/// Imports are checked against a loaded base model (shapes, targets, dtype) before anything is
/// stored, and stored in PEFT form whatever their format; a failed import leaves the registry
/// as it was. Every call is scoped to the caller's uid (`AccessPolicy`).
public struct AdaptersService: RPCService {
    public let name = "tailor.v1.Adapters"
    private let registry: AdapterRegistry
    private let models: ModelManager
    private let cache: AdapterCache
    private let policy: AccessPolicy
    /// Where GGUF uploads are staged while they are read (inside the state directory, 0700):
    /// never /tmp, where other users could read them.
    private let stagingDirectory: String

    /// Largest upload accepted (the weights file).
    static let maxUploadBytes = 1 << 30
    /// Data frame size of exports.
    static let chunkBytes = 1 << 20

    init(
        registry: AdapterRegistry, models: ModelManager, cache: AdapterCache, policy: AccessPolicy,
        stagingDirectory: String
    ) {
        self.stagingDirectory = stagingDirectory
        self.registry = registry
        self.models = models
        self.cache = cache
        self.policy = policy
    }

    public func handle(_ call: RPCCall, _ writer: RPCWriter) async throws {
        switch call.method {
        case "List":
            let req = try ListAdaptersRequest(serialized: call.payload)
            let owner: UInt32? = policy.seesAll(call.caller) ? nil : call.caller.uid
            let entries = registry.list(
                owner: owner, task: req.task.isEmpty ? nil : req.task, user: req.user.isEmpty ? nil : req.user)
            try await writer.respond(try ListAdaptersResponse(adapters: entries.map(Self.info)).serialized())
        case "Get":
            let key = try resolve(try AdapterRef(serialized: call.payload), call.caller)
            try await writer.respond(try Self.info(try registry.entry(key)).serialized())
        case "SetCurrent":
            let ref = try AdapterRef(serialized: call.payload)
            guard ref.version > 0 else {
                throw RPCError.invalidArgument("ref.version", "name the version to make current")
            }
            let key = try resolve(ref, call.caller)
            try registry.setCurrent(key, version: ref.version)
            call.logger.info(
                "current adapter version set", metadata: ["adapter": "\(key)", "version": "\(ref.version)"])
            try await writer.respond(try Self.info(try registry.entry(key)).serialized())
        case "Delete":
            let ref = try AdapterRef(serialized: call.payload)
            let key = try resolve(ref, call.caller)
            try registry.delete(key, version: ref.version == 0 ? nil : ref.version)
            cache.invalidate(key)
            call.logger.info("deleted adapter", metadata: ["adapter": "\(key)", "version": "\(ref.version)"])
            try await writer.respond([])
        case "Import":
            try await importAdapter(call, writer)
        case "Export":
            try await exportAdapter(call, writer)
        default:
            throw RPCError(.unimplemented, "\(name) has no method '\(call.method.echoed)'")
        }
    }

    public func takesUploads(_ method: String) -> Bool { method == "Import" }

    private func resolve(_ ref: AdapterRef, _ caller: PeerCredentials, field: String = "ref") throws -> AdapterKey {
        try policy.adapterKey(for: ref, caller: caller, field: field)
    }

    private func importAdapter(_ call: RPCCall, _ writer: RPCWriter) async throws {
        let req = try ImportAdapterRequest(serialized: call.payload)
        let key = try resolve(req.ref, call.caller, field: "import.ref")
        let loaded = try await models.model(req.model, field: "import.model")
        var upload: [UInt8] = []
        var complete = false
        for await chunk in call.uploads {
            upload += chunk.bytes
            guard upload.count <= Self.maxUploadBytes else {
                throw RPCError(.resourceExhausted, "the upload exceeds \(Self.maxUploadBytes) bytes")
            }
            if chunk.last { complete = true; break }
        }
        guard complete else { throw RPCError(.cancelled, "the upload ended before its last chunk") }
        let config = loaded.model.config
        let adapter: LoRAAdapter
        var peftConfig = Array(req.peftConfigJSON.utf8)
        var weights = upload
        switch req.format {
        case "peft":
            guard !peftConfig.isEmpty else {
                throw RPCError.invalidArgument("import.peft_config_json", "a PEFT import needs adapter_config.json")
            }
            adapter = try PEFTAdapter.load(
                name: key.description, configJSON: Data(peftConfig), safetensors: upload, config: config)
        case "gguf":
            let temp = try stage(upload)
            defer { unlink(temp) }
            do {
                adapter = try GGUFLoRA.load(path: temp, name: key.description, config: config)
            } catch {
                // The staging path is the daemon's business, not the client's.
                throw RPCError.invalidArgument(
                    "import.weights", "\(error)".replacingOccurrences(of: temp, with: "the uploaded GGUF"))
            }
            (peftConfig, weights) = try PEFTAdapter.export(adapter, config: config, baseModel: loaded.info.id)
        default:
            throw RPCError.invalidArgument(
                "import.format", "format must be 'peft' or 'gguf', not '\(req.format.echoed)'")
        }
        try adapter.validate(for: config)
        let targets = Set(adapter.weights.keys.map(\.target))
        let record = AdapterVersionRecord(
            baseModelSHA256: loaded.info.sha256, baseArchitecture: config.architecture.rawValue,
            rank: adapter.rank, alpha: adapter.alpha, useRSLoRA: adapter.useRSLoRA,
            targets: LoRATarget.allCases.filter(targets.contains).map(\.rawValue),
            jobID: req.jobID, metrics: req.metrics)
        let stored = try registry.add(
            key, record: record, configJSON: peftConfig, weights: weights, makeCurrent: req.makeCurrent)
        call.logger.info(
            "imported adapter",
            metadata: ["adapter": "\(key)", "version": "\(stored.version)", "format": "\(req.format)"])
        try await writer.respond(try Self.info(try registry.entry(key)).serialized())
    }

    /// Writes an upload to a new private file (0600, O_EXCL) in the staging directory.
    private func stage(_ bytes: [UInt8]) throws -> String {
        do {
            try FileManager.default.createDirectory(
                atPath: stagingDirectory, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
        } catch {
            throw RPCError(.internalError, "cannot create the staging directory for imports")
        }
        let path = stagingDirectory + "/import-\(UUID().uuidString).gguf"
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw RPCError(.internalError, "cannot stage the upload: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        let written = bytes.withUnsafeBytes { raw -> Bool in
            var off = 0
            while off < raw.count {
                let n = write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 { if errno == EINTR { continue }; return false }
                off += n
            }
            return true
        }
        guard written else {
            unlink(path)
            throw RPCError(.resourceExhausted, "cannot stage the upload: \(String(cString: strerror(errno)))")
        }
        return path
    }

    private func exportAdapter(_ call: RPCCall, _ writer: RPCWriter) async throws {
        let req = try ExportAdapterRequest(serialized: call.payload)
        let key = try resolve(req.ref, call.caller, field: "export.ref")
        let (record, config, weights) = try registry.read(key, version: req.ref.version == 0 ? nil : req.ref.version)
        let file: [UInt8], fileName: String, configText: String
        switch req.format {
        case "peft", "":
            file = weights
            fileName = "adapter_model.safetensors"
            configText = String(decoding: config, as: UTF8.self)
        case "gguf":
            let loaded = try await models.model(req.model, field: "export.model")
            guard loaded.info.sha256 == record.baseModelSHA256 else {
                throw RPCError(
                    .failedPrecondition,
                    "the adapter was made for base model \(record.baseModelSHA256.prefix(12)), not \(loaded.info.id)")
            }
            let adapter = try PEFTAdapter.load(
                name: key.description, configJSON: Data(config), safetensors: weights, config: loaded.model.config)
            file = GGUFLoRA.export(adapter, config: loaded.model.config)
            fileName = "\(key.task)\(key.user.isEmpty ? "" : "-" + key.user)-v\(record.version).gguf"
            configText = ""
        default:
            throw RPCError.invalidArgument(
                "export.format", "format must be 'peft' or 'gguf', not '\(req.format.echoed)'")
        }
        let header = ExportAdapterHeader(
            version: Self.version(record), peftConfigJSON: configText, fileName: fileName, bytes: UInt64(file.count))
        try await writer.event(try header.serialized())
        var offset = 0
        repeat {
            let end = min(file.count, offset + Self.chunkBytes)
            try await writer.send(.data(chunk: Array(file[offset..<end]), last: end == file.count))
            offset = end
        } while offset < file.count
    }

    static func version(_ r: AdapterVersionRecord) -> AdapterVersion {
        var v = AdapterVersion(
            version: r.version, baseModelSHA256: r.baseModelSHA256, baseArchitecture: r.baseArchitecture,
            rank: UInt32(r.rank),
            alpha: r.alpha, useRSLoRA: r.useRSLoRA, targets: r.targets, createdUnixMS: r.createdUnixMS, jobID: r.jobID,
            metrics: r.metrics, sha256: r.sha256, bytes: r.bytes, stage: r.stage ?? "")
        v.promotion = r.promotion.map(Promotion.init)
        return v
    }

    static func info(_ e: AdapterEntry) -> AdapterInfo {
        AdapterInfo(
            ref: AdapterRef(
                user: e.key.user, task: e.key.task, kind: e.key.kind.rawValue, version: e.current, ownerUID: e.key.owner
            ),
            versions: e.versions.map(version))
    }
}
