import CProtobufC
import TailorWireC

/// The messages of `tailor.v1.Jobs` (Proto/tailor/v1/jobs.proto) as plain Swift values.
public enum Jobs {}

extension Jobs {
    /// Hyperparameters; zero values take the kind's defaults.
    public struct Parameters: Sendable, Equatable, Codable {
        public var rank: UInt32 = 0
        public var alpha: Float = 0
        public var targets: [String] = []
        public var learningRate: Float = 0
        public var epochs: UInt32 = 0
        public var batchSize: UInt32 = 0
        public var gradientAccumulation: UInt32 = 0
        public var warmupRatio: Float = 0
        public var maxGradNorm: Float = 0
        public var beta: Float = 0
        public var samples: UInt32 = 0
        public var maxNewTokens: UInt32 = 0
        public var rewardAlpha: Float = 0
        public var lengthNormalized = false
        public var seed: UInt64 = 0
        public var maxTokens: UInt32 = 0
        public var maxItems: UInt32 = 0
        /// cope jobs: DPO's own learning rate (0: derived from `learningRate`, see JobSpec).
        public var dpoLearningRate: Float = 0
        /// Where unset values come from: "" or "tuned" (per model, see `TrainingPreset`), or
        /// "reference".
        public var preset = ""

        /// All defaults.
        public init() {}

        func fill(_ m: UnsafeMutablePointer<Tailor__V1__JobParameters>, _ a: CMessageArena) throws {
            m.pointee.rank = rank
            m.pointee.alpha = alpha
            let t = a.array(UnsafeMutablePointer<CChar>?.self, count: targets.count)
            for (i, s) in targets.enumerated() { t[i] = try a.cString(s, field: "parameters.targets") }
            m.pointee.n_targets = targets.count
            m.pointee.targets = t
            m.pointee.learning_rate = learningRate
            m.pointee.epochs = epochs
            m.pointee.batch_size = batchSize
            m.pointee.gradient_accumulation = gradientAccumulation
            m.pointee.warmup_ratio = warmupRatio
            m.pointee.max_grad_norm = maxGradNorm
            m.pointee.beta = beta
            m.pointee.samples = samples
            m.pointee.max_new_tokens = maxNewTokens
            m.pointee.reward_alpha = rewardAlpha
            m.pointee.length_normalized = lengthNormalized ? 1 : 0
            m.pointee.seed = seed
            m.pointee.max_tokens = maxTokens
            m.pointee.max_items = maxItems
            m.pointee.dpo_learning_rate = dpoLearningRate
            m.pointee.preset = try a.cString(preset, field: "parameters.preset")
        }

        init(_ m: Tailor__V1__JobParameters, _ r: CMessageReader) throws {
            rank = m.rank
            alpha = m.alpha
            targets = try (0..<m.n_targets).map { try r.string(m.targets[$0], field: "parameters.targets") }
            learningRate = m.learning_rate
            epochs = m.epochs
            batchSize = m.batch_size
            gradientAccumulation = m.gradient_accumulation
            warmupRatio = m.warmup_ratio
            maxGradNorm = m.max_grad_norm
            beta = m.beta
            samples = m.samples
            maxNewTokens = m.max_new_tokens
            rewardAlpha = m.reward_alpha
            lengthNormalized = m.length_normalized != 0
            seed = m.seed
            maxTokens = m.max_tokens
            maxItems = m.max_items
            dpoLearningRate = m.dpo_learning_rate
            preset = try r.string(m.preset, field: "parameters.preset")
        }
    }

    /// Submit's request.
    public struct SubmitRequest: Sendable, Equatable {
        public var kind: String
        public var user: String
        public var task: String
        public var ownerUID: UInt32 = 0
        public var model: String = ""
        public var parameters = Parameters()
        public var checkpointEvery: UInt32 = 0
        public var dataUser: String = ""

        /// A request.
        public init(kind: String, user: String, task: String) {
            self.kind = kind
            self.user = user
            self.task = task
        }

        static let kind = CMessageKind(
            name: "tailor.v1.SubmitJobRequest", initialize: tailor__v1__submit_job_request__init,
            size: tailor__v1__submit_job_request__get_packed_size, packInto: tailor__v1__submit_job_request__pack,
            unpack: tailor__v1__submit_job_request__unpack, free: tailor__v1__submit_job_request__free_unpacked)

        /// Serialized `tailor.v1.SubmitJobRequest`.
        public func serialized() throws -> [UInt8] {
            try Self.kind.pack { m, a in
                m.pointee.kind = try a.cString(kind, field: "kind")
                m.pointee.user = try a.cString(user, field: "user")
                m.pointee.task = try a.cString(task, field: "task")
                m.pointee.owner_uid = ownerUID
                m.pointee.model = try a.cString(model, field: "model")
                let p = a.make(Tailor__V1__JobParameters.self)
                tailor__v1__job_parameters__init(p)
                try parameters.fill(p, a)
                m.pointee.parameters = p
                m.pointee.checkpoint_every = checkpointEvery
                m.pointee.data_user = try a.cString(dataUser, field: "data_user")
            }
        }

        /// Parses a serialized `tailor.v1.SubmitJobRequest`.
        public init(serialized bytes: [UInt8]) throws {
            self = try Self.kind.read(bytes) { m, r in
                var s = SubmitRequest(
                    kind: try r.string(m.kind, field: "kind"), user: try r.string(m.user, field: "user"),
                    task: try r.string(m.task, field: "task"))
                s.ownerUID = m.owner_uid
                s.model = try r.string(m.model, field: "model")
                if let p = m.parameters { s.parameters = try Parameters(p.pointee, r) }
                s.checkpointEvery = m.checkpoint_every
                s.dataUser = try r.string(m.data_user, field: "data_user")
                return s
            }
        }
    }

    /// A job as clients see it.
    public struct Info: Sendable, Equatable {
        public var id: String
        public var kind: String
        public var user: String
        public var task: String
        public var ownerUID: UInt32
        public var state: String
        public var stage: String = ""
        public var step: UInt32 = 0
        public var totalSteps: UInt32 = 0
        public var loss: Float = 0
        public var tokensPerSecond: Float = 0
        public var etaSeconds: Float = 0
        public var error: String = ""
        public var adapterVersion: UInt32 = 0
        public var createdUnixMS: UInt64 = 0
        public var updatedUnixMS: UInt64 = 0
        public var resumed: UInt32 = 0
        /// "request" (a client submitted it) or "autopilot".
        public var origin: String = ""

        /// A job description.
        public init(id: String, kind: String, user: String, task: String, ownerUID: UInt32, state: String) {
            self.id = id
            self.kind = kind
            self.user = user
            self.task = task
            self.ownerUID = ownerUID
            self.state = state
        }

        /// Whether the job will change no more.
        public var isFinal: Bool { ["succeeded", "failed", "cancelled"].contains(state) }

        static let kind = CMessageKind(
            name: "tailor.v1.JobInfo", initialize: tailor__v1__job_info__init,
            size: tailor__v1__job_info__get_packed_size, packInto: tailor__v1__job_info__pack,
            unpack: tailor__v1__job_info__unpack, free: tailor__v1__job_info__free_unpacked)

        func fill(_ m: UnsafeMutablePointer<Tailor__V1__JobInfo>, _ a: CMessageArena) throws {
            m.pointee.id = try a.cString(id, field: "id")
            m.pointee.kind = try a.cString(kind, field: "kind")
            m.pointee.user = try a.cString(user, field: "user")
            m.pointee.task = try a.cString(task, field: "task")
            m.pointee.owner_uid = ownerUID
            m.pointee.state = try a.cString(state, field: "state")
            m.pointee.stage = try a.cString(stage, field: "stage")
            m.pointee.step = step
            m.pointee.total_steps = totalSteps
            m.pointee.loss = loss
            m.pointee.tokens_per_second = tokensPerSecond
            m.pointee.eta_seconds = etaSeconds
            m.pointee.error = try a.cString(error, field: "error")
            m.pointee.adapter_version = adapterVersion
            m.pointee.created_unix_ms = createdUnixMS
            m.pointee.updated_unix_ms = updatedUnixMS
            m.pointee.resumed = resumed
            m.pointee.origin = try a.cString(origin, field: "origin")
        }

        init(_ m: Tailor__V1__JobInfo, _ r: CMessageReader) throws {
            self.init(
                id: try r.string(m.id, field: "id"), kind: try r.string(m.kind, field: "kind"),
                user: try r.string(m.user, field: "user"),
                task: try r.string(m.task, field: "task"), ownerUID: m.owner_uid,
                state: try r.string(m.state, field: "state"))
            stage = try r.string(m.stage, field: "stage")
            step = m.step
            totalSteps = m.total_steps
            loss = m.loss
            tokensPerSecond = m.tokens_per_second
            etaSeconds = m.eta_seconds
            error = try r.string(m.error, field: "error")
            adapterVersion = m.adapter_version
            createdUnixMS = m.created_unix_ms
            updatedUnixMS = m.updated_unix_ms
            resumed = m.resumed
            origin = try r.string(m.origin, field: "origin")
        }

        /// Serialized `tailor.v1.JobInfo`.
        public func serialized() throws -> [UInt8] { try Self.kind.pack { m, a in try fill(m, a) } }

        /// Parses a serialized `tailor.v1.JobInfo`.
        public init(serialized bytes: [UInt8]) throws {
            self = try Self.kind.read(bytes) { m, r in try Info(m, r) }
        }

        static let list = CMessageKind(
            name: "tailor.v1.ListJobsResponse", initialize: tailor__v1__list_jobs_response__init,
            size: tailor__v1__list_jobs_response__get_packed_size, packInto: tailor__v1__list_jobs_response__pack,
            unpack: tailor__v1__list_jobs_response__unpack, free: tailor__v1__list_jobs_response__free_unpacked)

        /// Serialized `tailor.v1.ListJobsResponse` holding `jobs`.
        public static func serialized(_ jobs: [Info]) throws -> [UInt8] {
            try list.pack { m, a in
                (m.pointee.n_jobs, m.pointee.jobs) = try a.list(jobs, kind) { j, e in try j.fill(e, a) }
            }
        }

        /// Parses a serialized `tailor.v1.ListJobsResponse`.
        public static func parseList(_ bytes: [UInt8]) throws -> [Info] {
            try list.read(bytes) { m, r in try r.list(m.jobs, count: m.n_jobs, field: "jobs") { try Info($0, r) } }
        }
    }

    /// Names a job (Get, Cancel, Watch), or filters a listing (List).
    public struct Query: Sendable, Equatable {
        public var id: String = ""
        public var user: String = ""
        public var task: String = ""

        /// A query.
        public init(id: String = "", user: String = "", task: String = "") {
            self.id = id
            self.user = user
            self.task = task
        }

        static let ref = CMessageKind(
            name: "tailor.v1.JobRef", initialize: tailor__v1__job_ref__init,
            size: tailor__v1__job_ref__get_packed_size, packInto: tailor__v1__job_ref__pack,
            unpack: tailor__v1__job_ref__unpack, free: tailor__v1__job_ref__free_unpacked)
        static let listing = CMessageKind(
            name: "tailor.v1.ListJobsRequest", initialize: tailor__v1__list_jobs_request__init,
            size: tailor__v1__list_jobs_request__get_packed_size, packInto: tailor__v1__list_jobs_request__pack,
            unpack: tailor__v1__list_jobs_request__unpack, free: tailor__v1__list_jobs_request__free_unpacked)

        /// Serialized as a `tailor.v1.JobRef`.
        public func serializedRef() throws -> [UInt8] {
            try Self.ref.pack { m, a in m.pointee.id = try a.cString(id, field: "id") }
        }

        /// Serialized as a `tailor.v1.ListJobsRequest`.
        public func serializedList() throws -> [UInt8] {
            try Self.listing.pack { m, a in
                m.pointee.user = try a.cString(user, field: "user")
                m.pointee.task = try a.cString(task, field: "task")
            }
        }

        /// Parses a `tailor.v1.JobRef`.
        public init(ref bytes: [UInt8]) throws {
            self = try Self.ref.read(bytes) { m, r in Query(id: try r.string(m.id, field: "id")) }
        }

        /// Parses a `tailor.v1.ListJobsRequest`.
        public init(list bytes: [UInt8]) throws {
            self = try Self.listing.read(bytes) { m, r in
                Query(user: try r.string(m.user, field: "user"), task: try r.string(m.task, field: "task"))
            }
        }
    }
}
