import CProtobufC
import TailorWireC

/// Names an adapter (and optionally one version) in requests (Proto/tailor/v1/adapters.proto).
public struct AdapterRef: Sendable, Equatable, Hashable {
    /// Personalization user; empty for task adapters.
    public var user: String
    /// Task name.
    public var task: String
    /// "task" or "user".
    public var kind: String
    /// 0: the current version.
    public var version: UInt32
    /// 0: the caller's own uid.
    public var ownerUID: UInt32

    /// How people read it: "task email v1", "user alice/email v2" (v0 is the current version).
    public var spelled: String {
        "\(kind) \(user.isEmpty ? task : user + "/" + task) v\(version)"
    }

    /// A reference.
    public init(user: String = "", task: String, kind: String, version: UInt32 = 0, ownerUID: UInt32 = 0) {
        self.user = user
        self.task = task
        self.kind = kind
        self.version = version
        self.ownerUID = ownerUID
    }

    func fill(_ m: UnsafeMutablePointer<Tailor__V1__AdapterRef>, arena: CMessageArena, field: String) throws {
        tailor__v1__adapter_ref__init(m)
        m.pointee.user = try arena.cString(user, field: field + ".user")
        m.pointee.task = try arena.cString(task, field: field + ".task")
        m.pointee.kind = try arena.cString(kind, field: field + ".kind")
        m.pointee.version = version
        m.pointee.owner_uid = ownerUID
    }

    init(_ m: Tailor__V1__AdapterRef, reader r: CMessageReader, field: String) throws {
        self.init(
            user: try r.string(m.user, field: field + ".user"), task: try r.string(m.task, field: field + ".task"),
            kind: try r.string(m.kind, field: field + ".kind"), version: m.version, ownerUID: m.owner_uid)
    }

    /// Serialized `tailor.v1.AdapterRef` (Get, Delete and SetCurrent take one).
    public func serialized() throws -> [UInt8] {
        let arena = CMessageArena()
        let m = arena.make(Tailor__V1__AdapterRef.self)
        try fill(m, arena: arena, field: "ref")
        return CMessageReader.pack(
            UnsafePointer(m), size: tailor__v1__adapter_ref__get_packed_size, pack: tailor__v1__adapter_ref__pack)
    }

    /// Parses a serialized `tailor.v1.AdapterRef`.
    public init(serialized bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { raw in
            try CMessageReader.read(
                raw, type: "tailor.v1.AdapterRef", unpack: tailor__v1__adapter_ref__unpack,
                free: tailor__v1__adapter_ref__free_unpacked
            ) { m, r in try AdapterRef(m.pointee, reader: r, field: "ref") }
        }
    }
}

/// One stored version of an adapter, as clients see it.
public struct AdapterVersion: Sendable, Equatable {
    public var version: UInt32
    public var baseModelSHA256: String
    public var baseArchitecture: String
    public var rank: UInt32
    public var alpha: Float
    public var useRSLoRA: Bool
    public var targets: [String]
    public var createdUnixMS: UInt64
    public var jobID: String
    /// Metrics by name, in name order on the wire.
    public var metrics: [String: Double]
    public var sha256: String
    public var bytes: UInt64
    /// The training stage that made it (tam, oppu, dpo); empty for imports. The decoding modes
    /// pick a user's version by it: oppu and cd-only the newest OPPU one, dpo-only and cope the
    /// newest DPO one.
    public var stage: String
    /// The autopilot's verdict, for versions it trained.
    public var promotion: Promotion?

    /// A version description.
    public init(
        version: UInt32, baseModelSHA256: String, baseArchitecture: String, rank: UInt32, alpha: Float, useRSLoRA: Bool,
        targets: [String], createdUnixMS: UInt64, jobID: String, metrics: [String: Double], sha256: String,
        bytes: UInt64, stage: String = ""
    ) {
        self.stage = stage
        self.version = version
        self.baseModelSHA256 = baseModelSHA256
        self.baseArchitecture = baseArchitecture
        self.rank = rank
        self.alpha = alpha
        self.useRSLoRA = useRSLoRA
        self.targets = targets
        self.createdUnixMS = createdUnixMS
        self.jobID = jobID
        self.metrics = metrics
        self.sha256 = sha256
        self.bytes = bytes
    }

    func fill(_ m: UnsafeMutablePointer<Tailor__V1__AdapterVersion>, arena: CMessageArena) throws {
        tailor__v1__adapter_version__init(m)
        m.pointee.version = version
        m.pointee.base_model_sha256 = try arena.cString(baseModelSHA256, field: "version.base_model_sha256")
        m.pointee.base_architecture = try arena.cString(baseArchitecture, field: "version.base_architecture")
        m.pointee.rank = rank
        m.pointee.alpha = alpha
        m.pointee.use_rslora = useRSLoRA ? 1 : 0
        let t = arena.array(UnsafeMutablePointer<CChar>?.self, count: targets.count)
        for (i, s) in targets.enumerated() { t[i] = try arena.cString(s, field: "version.targets") }
        m.pointee.n_targets = targets.count
        m.pointee.targets = t
        m.pointee.created_unix_ms = createdUnixMS
        m.pointee.job_id = try arena.cString(jobID, field: "version.job_id")
        try fillMetrics(metrics, arena: arena, field: "version.metrics") {
            m.pointee.n_metrics = $0; m.pointee.metrics = $1
        }
        m.pointee.sha256 = try arena.cString(sha256, field: "version.sha256")
        m.pointee.bytes = bytes
        m.pointee.stage = try arena.cString(stage, field: "version.stage")
        if let promotion {
            let p = arena.make(Tailor__V1__Promotion.self)
            try promotion.fill(p, arena: arena, field: "version.promotion")
            m.pointee.promotion = p
        }
    }

    init(_ m: Tailor__V1__AdapterVersion, reader r: CMessageReader) throws {
        self.init(
            version: m.version, baseModelSHA256: try r.string(m.base_model_sha256, field: "version.base_model_sha256"),
            baseArchitecture: try r.string(m.base_architecture, field: "version.base_architecture"), rank: m.rank,
            alpha: m.alpha,
            useRSLoRA: m.use_rslora != 0,
            targets: try (0..<m.n_targets).map { try r.string(m.targets[$0], field: "version.targets") },
            createdUnixMS: m.created_unix_ms, jobID: try r.string(m.job_id, field: "version.job_id"),
            metrics: try readMetrics(m.metrics, count: m.n_metrics, reader: r, field: "version.metrics"),
            sha256: try r.string(m.sha256, field: "version.sha256"), bytes: m.bytes,
            stage: try r.string(m.stage, field: "version.stage"))
        promotion = try m.promotion.map { try Promotion($0.pointee, reader: r, field: "version.promotion") }
    }
}

/// The autopilot's verdict on a version it trained (`tailor.v1.Promotion`).
public struct Promotion: Sendable, Equatable {
    public var promoted: Bool
    public var reason: String
    /// What it was compared with: "v3", "task adapter v2" or "base model".
    public var baseline: String
    public var candidateRougeL: Double
    public var candidateLogLikelihood: Double
    public var baselineRougeL: Double
    public var baselineLogLikelihood: Double
    public var heldOut: UInt32
    public var decidedUnixMS: UInt64

    /// A verdict.
    public init(
        promoted: Bool, reason: String, baseline: String, candidateRougeL: Double, candidateLogLikelihood: Double,
        baselineRougeL: Double, baselineLogLikelihood: Double, heldOut: UInt32, decidedUnixMS: UInt64
    ) {
        self.promoted = promoted
        self.reason = reason
        self.baseline = baseline
        self.candidateRougeL = candidateRougeL
        self.candidateLogLikelihood = candidateLogLikelihood
        self.baselineRougeL = baselineRougeL
        self.baselineLogLikelihood = baselineLogLikelihood
        self.heldOut = heldOut
        self.decidedUnixMS = decidedUnixMS
    }

    func fill(_ m: UnsafeMutablePointer<Tailor__V1__Promotion>, arena: CMessageArena, field: String) throws {
        tailor__v1__promotion__init(m)
        m.pointee.promoted = promoted ? 1 : 0
        m.pointee.reason = try arena.cString(reason, field: field + ".reason")
        m.pointee.baseline = try arena.cString(baseline, field: field + ".baseline")
        m.pointee.candidate_rouge_l = candidateRougeL
        m.pointee.candidate_log_likelihood = candidateLogLikelihood
        m.pointee.baseline_rouge_l = baselineRougeL
        m.pointee.baseline_log_likelihood = baselineLogLikelihood
        m.pointee.held_out = heldOut
        m.pointee.decided_unix_ms = decidedUnixMS
    }

    init(_ m: Tailor__V1__Promotion, reader r: CMessageReader, field: String) throws {
        self.init(
            promoted: m.promoted != 0, reason: try r.string(m.reason, field: field + ".reason"),
            baseline: try r.string(m.baseline, field: field + ".baseline"), candidateRougeL: m.candidate_rouge_l,
            candidateLogLikelihood: m.candidate_log_likelihood, baselineRougeL: m.baseline_rouge_l,
            baselineLogLikelihood: m.baseline_log_likelihood, heldOut: m.held_out, decidedUnixMS: m.decided_unix_ms)
    }
}

/// An adapter with its versions; `ref.version` is the current one.
public struct AdapterInfo: Sendable, Equatable {
    public var ref: AdapterRef
    public var versions: [AdapterVersion]

    /// An adapter description.
    public init(ref: AdapterRef, versions: [AdapterVersion]) {
        self.ref = ref
        self.versions = versions
    }

    func fill(_ m: UnsafeMutablePointer<Tailor__V1__AdapterInfo>, arena: CMessageArena) throws {
        tailor__v1__adapter_info__init(m)
        let ref = arena.make(Tailor__V1__AdapterRef.self)
        try self.ref.fill(ref, arena: arena, field: "info.ref")
        m.pointee.ref = ref
        let list = arena.array(UnsafeMutablePointer<Tailor__V1__AdapterVersion>?.self, count: versions.count)
        for (i, v) in versions.enumerated() {
            let e = arena.make(Tailor__V1__AdapterVersion.self)
            try v.fill(e, arena: arena)
            list[i] = e
        }
        m.pointee.n_versions = versions.count
        m.pointee.versions = list
    }

    init(_ m: Tailor__V1__AdapterInfo, reader r: CMessageReader) throws {
        guard let ref = m.ref else { throw WireError.missingField(field: "info.ref") }
        self.init(
            ref: try AdapterRef(ref.pointee, reader: r, field: "info.ref"),
            versions: try (0..<m.n_versions).map { try AdapterVersion(m.versions[$0]!.pointee, reader: r) })
    }

    /// Serialized `tailor.v1.AdapterInfo`.
    public func serialized() throws -> [UInt8] {
        let arena = CMessageArena()
        let m = arena.make(Tailor__V1__AdapterInfo.self)
        try fill(m, arena: arena)
        return CMessageReader.pack(
            UnsafePointer(m), size: tailor__v1__adapter_info__get_packed_size, pack: tailor__v1__adapter_info__pack)
    }

    /// Parses a serialized `tailor.v1.AdapterInfo`.
    public init(serialized bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { raw in
            try CMessageReader.read(
                raw, type: "tailor.v1.AdapterInfo", unpack: tailor__v1__adapter_info__unpack,
                free: tailor__v1__adapter_info__free_unpacked
            ) { m, r in try AdapterInfo(m.pointee, reader: r) }
        }
    }
}

/// Adapters.List's request and response.
public struct ListAdaptersRequest: Sendable, Equatable {
    /// Filters; empty matches all.
    public var user: String
    public var task: String

    /// A listing request.
    public init(user: String = "", task: String = "") {
        self.user = user
        self.task = task
    }

    /// Serialized `tailor.v1.ListAdaptersRequest`.
    public func serialized() throws -> [UInt8] {
        let arena = CMessageArena()
        let m = arena.make(Tailor__V1__ListAdaptersRequest.self)
        tailor__v1__list_adapters_request__init(m)
        m.pointee.user = try arena.cString(user, field: "list.user")
        m.pointee.task = try arena.cString(task, field: "list.task")
        return CMessageReader.pack(
            UnsafePointer(m), size: tailor__v1__list_adapters_request__get_packed_size,
            pack: tailor__v1__list_adapters_request__pack)
    }

    /// Parses a serialized `tailor.v1.ListAdaptersRequest`.
    public init(serialized bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { raw in
            try CMessageReader.read(
                raw, type: "tailor.v1.ListAdaptersRequest", unpack: tailor__v1__list_adapters_request__unpack,
                free: tailor__v1__list_adapters_request__free_unpacked
            ) { m, r in
                ListAdaptersRequest(
                    user: try r.string(m.pointee.user, field: "list.user"),
                    task: try r.string(m.pointee.task, field: "list.task"))
            }
        }
    }
}

/// Adapters.List's response.
public struct ListAdaptersResponse: Sendable, Equatable {
    public var adapters: [AdapterInfo]

    /// A listing.
    public init(adapters: [AdapterInfo]) { self.adapters = adapters }

    /// Serialized `tailor.v1.ListAdaptersResponse`.
    public func serialized() throws -> [UInt8] {
        let arena = CMessageArena()
        let m = arena.make(Tailor__V1__ListAdaptersResponse.self)
        tailor__v1__list_adapters_response__init(m)
        let list = arena.array(UnsafeMutablePointer<Tailor__V1__AdapterInfo>?.self, count: adapters.count)
        for (i, a) in adapters.enumerated() {
            let e = arena.make(Tailor__V1__AdapterInfo.self)
            try a.fill(e, arena: arena)
            list[i] = e
        }
        m.pointee.n_adapters = adapters.count
        m.pointee.adapters = list
        return CMessageReader.pack(
            UnsafePointer(m), size: tailor__v1__list_adapters_response__get_packed_size,
            pack: tailor__v1__list_adapters_response__pack)
    }

    /// Parses a serialized `tailor.v1.ListAdaptersResponse`.
    public init(serialized bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { raw in
            try CMessageReader.read(
                raw, type: "tailor.v1.ListAdaptersResponse", unpack: tailor__v1__list_adapters_response__unpack,
                free: tailor__v1__list_adapters_response__free_unpacked
            ) { m, r in
                ListAdaptersResponse(
                    adapters: try (0..<m.pointee.n_adapters).map {
                        try AdapterInfo(m.pointee.adapters[$0]!.pointee, reader: r)
                    })
            }
        }
    }
}

/// Adapters.Import's request; the weights follow in Data frames.
public struct ImportAdapterRequest: Sendable, Equatable {
    public var ref: AdapterRef
    /// "peft" or "gguf".
    public var format: String
    /// The base model's id; empty for the only loaded one.
    public var model: String
    /// adapter_config.json, for "peft".
    public var peftConfigJSON: String
    public var jobID: String
    public var metrics: [String: Double]
    public var makeCurrent: Bool

    /// An import request.
    public init(
        ref: AdapterRef, format: String, model: String = "", peftConfigJSON: String = "", jobID: String = "",
        metrics: [String: Double] = [:], makeCurrent: Bool = true
    ) {
        self.ref = ref
        self.format = format
        self.model = model
        self.peftConfigJSON = peftConfigJSON
        self.jobID = jobID
        self.metrics = metrics
        self.makeCurrent = makeCurrent
    }

    /// Serialized `tailor.v1.ImportAdapterRequest`.
    public func serialized() throws -> [UInt8] {
        let arena = CMessageArena()
        let m = arena.make(Tailor__V1__ImportAdapterRequest.self)
        tailor__v1__import_adapter_request__init(m)
        let r = arena.make(Tailor__V1__AdapterRef.self)
        try ref.fill(r, arena: arena, field: "import.ref")
        m.pointee.ref = r
        m.pointee.format = try arena.cString(format, field: "import.format")
        m.pointee.model = try arena.cString(model, field: "import.model")
        m.pointee.peft_config_json = try arena.cString(peftConfigJSON, field: "import.peft_config_json")
        m.pointee.job_id = try arena.cString(jobID, field: "import.job_id")
        try fillMetrics(metrics, arena: arena, field: "import.metrics") {
            m.pointee.n_metrics = $0; m.pointee.metrics = $1
        }
        m.pointee.make_current = makeCurrent ? 1 : 0
        return CMessageReader.pack(
            UnsafePointer(m), size: tailor__v1__import_adapter_request__get_packed_size,
            pack: tailor__v1__import_adapter_request__pack)
    }

    /// Parses a serialized `tailor.v1.ImportAdapterRequest`.
    public init(serialized bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { raw in
            try CMessageReader.read(
                raw, type: "tailor.v1.ImportAdapterRequest", unpack: tailor__v1__import_adapter_request__unpack,
                free: tailor__v1__import_adapter_request__free_unpacked
            ) { m, r in
                guard let ref = m.pointee.ref else { throw WireError.missingField(field: "import.ref") }
                return ImportAdapterRequest(
                    ref: try AdapterRef(ref.pointee, reader: r, field: "import.ref"),
                    format: try r.string(m.pointee.format, field: "import.format"),
                    model: try r.string(m.pointee.model, field: "import.model"),
                    peftConfigJSON: try r.string(m.pointee.peft_config_json, field: "import.peft_config_json"),
                    jobID: try r.string(m.pointee.job_id, field: "import.job_id"),
                    metrics: try readMetrics(
                        m.pointee.metrics, count: m.pointee.n_metrics, reader: r, field: "import.metrics"),
                    makeCurrent: m.pointee.make_current != 0)
            }
        }
    }
}

/// Adapters.Export's request.
public struct ExportAdapterRequest: Sendable, Equatable {
    public var ref: AdapterRef
    /// "peft" or "gguf".
    public var format: String
    /// The base model's id (gguf export needs its shapes); empty for the only loaded one.
    public var model: String

    /// An export request.
    public init(ref: AdapterRef, format: String, model: String = "") {
        self.ref = ref
        self.format = format
        self.model = model
    }

    /// Serialized `tailor.v1.ExportAdapterRequest`.
    public func serialized() throws -> [UInt8] {
        let arena = CMessageArena()
        let m = arena.make(Tailor__V1__ExportAdapterRequest.self)
        tailor__v1__export_adapter_request__init(m)
        let r = arena.make(Tailor__V1__AdapterRef.self)
        try ref.fill(r, arena: arena, field: "export.ref")
        m.pointee.ref = r
        m.pointee.format = try arena.cString(format, field: "export.format")
        m.pointee.model = try arena.cString(model, field: "export.model")
        return CMessageReader.pack(
            UnsafePointer(m), size: tailor__v1__export_adapter_request__get_packed_size,
            pack: tailor__v1__export_adapter_request__pack)
    }

    /// Parses a serialized `tailor.v1.ExportAdapterRequest`.
    public init(serialized bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { raw in
            try CMessageReader.read(
                raw, type: "tailor.v1.ExportAdapterRequest", unpack: tailor__v1__export_adapter_request__unpack,
                free: tailor__v1__export_adapter_request__free_unpacked
            ) { m, r in
                guard let ref = m.pointee.ref else { throw WireError.missingField(field: "export.ref") }
                return ExportAdapterRequest(
                    ref: try AdapterRef(ref.pointee, reader: r, field: "export.ref"),
                    format: try r.string(m.pointee.format, field: "export.format"),
                    model: try r.string(m.pointee.model, field: "export.model"))
            }
        }
    }
}

/// The first event of an Export: what the Data frames that follow hold.
public struct ExportAdapterHeader: Sendable, Equatable {
    public var version: AdapterVersion
    public var peftConfigJSON: String
    public var fileName: String
    public var bytes: UInt64

    /// A header.
    public init(version: AdapterVersion, peftConfigJSON: String, fileName: String, bytes: UInt64) {
        self.version = version
        self.peftConfigJSON = peftConfigJSON
        self.fileName = fileName
        self.bytes = bytes
    }

    /// Serialized `tailor.v1.ExportAdapterHeader`.
    public func serialized() throws -> [UInt8] {
        let arena = CMessageArena()
        let m = arena.make(Tailor__V1__ExportAdapterHeader.self)
        tailor__v1__export_adapter_header__init(m)
        let v = arena.make(Tailor__V1__AdapterVersion.self)
        try version.fill(v, arena: arena)
        m.pointee.version = v
        m.pointee.peft_config_json = try arena.cString(peftConfigJSON, field: "header.peft_config_json")
        m.pointee.file_name = try arena.cString(fileName, field: "header.file_name")
        m.pointee.bytes = bytes
        return CMessageReader.pack(
            UnsafePointer(m), size: tailor__v1__export_adapter_header__get_packed_size,
            pack: tailor__v1__export_adapter_header__pack)
    }

    /// Parses a serialized `tailor.v1.ExportAdapterHeader`.
    public init(serialized bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { raw in
            try CMessageReader.read(
                raw, type: "tailor.v1.ExportAdapterHeader", unpack: tailor__v1__export_adapter_header__unpack,
                free: tailor__v1__export_adapter_header__free_unpacked
            ) { m, r in
                guard let v = m.pointee.version else { throw WireError.missingField(field: "header.version") }
                return ExportAdapterHeader(
                    version: try AdapterVersion(v.pointee, reader: r),
                    peftConfigJSON: try r.string(m.pointee.peft_config_json, field: "header.peft_config_json"),
                    fileName: try r.string(m.pointee.file_name, field: "header.file_name"), bytes: m.pointee.bytes)
            }
        }
    }
}

/// Writes `metrics` as repeated tailor.v1.Metric, sorted by name so equal maps pack equally.
private func fillMetrics(
    _ metrics: [String: Double], arena: CMessageArena, field: String,
    set: (Int, UnsafeMutablePointer<UnsafeMutablePointer<Tailor__V1__Metric>?>) -> Void
) throws {
    let sorted = metrics.sorted { $0.key < $1.key }
    let list = arena.array(UnsafeMutablePointer<Tailor__V1__Metric>?.self, count: sorted.count)
    for (i, kv) in sorted.enumerated() {
        let e = arena.make(Tailor__V1__Metric.self)
        tailor__v1__metric__init(e)
        e.pointee.name = try arena.cString(kv.key, field: field + ".name")
        e.pointee.value = kv.value
        list[i] = e
    }
    set(sorted.count, list)
}

private func readMetrics(
    _ list: UnsafeMutablePointer<UnsafeMutablePointer<Tailor__V1__Metric>?>?, count: Int,
    reader r: CMessageReader, field: String
) throws -> [String: Double] {
    var out: [String: Double] = [:]
    for i in 0..<count {
        guard let e = list?[i]?.pointee else { continue }
        out[try r.string(e.name, field: field + ".name")] = e.value
    }
    return out
}
