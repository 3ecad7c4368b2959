import Foundation
import TailorEngine
import TailorTraining
import TailorWire

/// A submitted job's parameters resolved against its kind's defaults: what a job record stores
/// (as JSON) and what its stages run with. `tailor train --offline` resolves its flags the same
/// way, so both run a job the same (`PersonalizationPipeline`).
public struct JobSpec: Codable, Sendable, Equatable {
    /// The job kinds, in pipeline order.
    public enum Kind: String, Codable, CaseIterable, Sendable {
        case tam, oppu, negatives, dpo, cope

        /// The stages a job of this kind runs.
        public var stages: [Kind] { self == .cope ? [.oppu, .negatives, .dpo] : [self] }
    }

    public var kind: Kind
    public var model: String
    public var sft: TrainingConfiguration
    public var dpo: TrainingConfiguration
    public var negatives: NegativeConfiguration
    /// The longest training sequence when the request leaves it unset.
    public static let defaultMaxTokens = 256
    public var maxTokens: Int
    public var maxItems: Int
    public var checkpointEvery: Int
    public var dataUser: String
    /// Set for the autopilot's jobs: what it holds back and how it judges the candidate.
    public var autopilot: AutopilotPlan?

    /// Where the user's stages' unset rates came from (`TrainingPreset.Values.source`).
    public var preset: String?

    /// Resolves `request` for a model of `shape` (nil: unknown), whose tuned rates fill what
    /// the request leaves unset unless it asks for the reference's.
    /// - Throws: `JobSpecError.invalidArgument` naming the bad parameter.
    public init(_ request: Jobs.SubmitRequest, shape: TrainingPreset.ModelShape? = nil) throws {
        guard let kind = Kind(rawValue: request.kind) else {
            throw JobSpecError.invalidArgument(
                "kind", "kind must be tam, oppu, negatives, dpo or cope, not '\(request.kind.prefix(32))'")
        }
        self.kind = kind
        model = request.model
        let p = request.parameters
        var sft = kind == .tam ? TrainingConfiguration.tam : TrainingConfiguration.oppu
        var dpo = TrainingConfiguration.dpo
        var neg = NegativeConfiguration()
        let preset = try TrainingPreset(named: request.parameters.preset).values(for: shape)
        if kind != .tam {
            sft.learningRate = preset.oppuLearningRate
            dpo.learningRate = preset.dpoLearningRate
            self.preset = preset.source
        }
        func apply(_ c: inout TrainingConfiguration) {
            if p.rank > 0 { c.rank = Int(p.rank) }
            if p.alpha > 0 { c.alpha = p.alpha }
            if !p.targets.isEmpty { c.targets = p.targets }
            if p.learningRate > 0 { c.learningRate = p.learningRate }
            if p.epochs > 0 { c.epochs = Int(p.epochs) }
            if p.batchSize > 0 { c.batchSize = Int(p.batchSize) }
            if p.gradientAccumulation > 0 { c.gradientAccumulation = Int(p.gradientAccumulation) }
            if p.warmupRatio > 0 { c.warmupRatio = Double(p.warmupRatio) }
            if p.maxGradNorm > 0 { c.maxGradNorm = p.maxGradNorm }
            if p.beta > 0 { c.beta = p.beta }
            if p.seed > 0 { c.seed = p.seed }
        }
        // Shape parameters (rank, targets) belong to the adapter's first training; DPO
        // continues the user's adapter and keeps its shape, so only its optimizer settings apply.
        apply(&sft)
        if kind == .dpo {
            apply(&dpo)
        } else {
            if p.beta > 0 { dpo.beta = p.beta }
            if p.seed > 0 { dpo.seed = p.seed }
            // A cope job's learning_rate is OPPU's; DPO keeps the reference's ratio to it
            // (5e-6 : 1e-4) unless given its own, so raising OPPU's rate does not leave a DPO
            // stage that moves the adapter by nothing.
            if p.learningRate > 0 { dpo.learningRate = p.learningRate * Self.dpoToOPPURate }
        }
        if p.dpoLearningRate > 0 { dpo.learningRate = p.dpoLearningRate }
        if p.samples > 0 { neg.samples = Int(p.samples) }
        if p.maxNewTokens > 0 { neg.maxNewTokens = Int(p.maxNewTokens) }
        if p.rewardAlpha > 0 { neg.alpha = p.rewardAlpha }
        neg.lengthNormalized = p.lengthNormalized
        if p.seed > 0 { neg.seed = p.seed }
        do {
            try sft.validate()
            try dpo.validate()
            try neg.validate()
        } catch let e as TrainingError {
            throw JobSpecError.invalidArgument("parameters", e.description)
        }
        // A mixture's feed-forward is routed experts, which take no LoRA: refused at submission
        // rather than at the first training step.
        if let shape,
            let refusal = try? sft.loraTargets().lazy.compactMap({
                $0.expertRefusal(architecture: shape.architecture, expertCount: shape.expertCount)
            }).first
        {
            throw JobSpecError.invalidArgument("parameters.targets", refusal)
        }
        self.sft = sft
        self.dpo = dpo
        negatives = neg
        maxTokens = p.maxTokens > 0 ? Int(p.maxTokens) : Self.defaultMaxTokens
        guard (16...4096).contains(maxTokens) else {
            throw JobSpecError.invalidArgument("parameters.max_tokens", "max_tokens must be 16...4096")
        }
        maxItems = Int(p.maxItems)
        checkpointEvery = request.checkpointEvery > 0 ? Int(request.checkpointEvery) : 10
        dataUser = request.dataUser
    }

    /// The reference code's DPO learning rate over its OPPU learning rate (5e-6 / 1e-4).
    public static let dpoToOPPURate: Float =
        TrainingConfiguration.dpo.learningRate / TrainingConfiguration.oppu.learningRate

    public func json() -> String {
        String(decoding: (try? JSONEncoder().encode(self)) ?? Data(), as: UTF8.self)
    }

    public static func decode(_ text: String) throws -> JobSpec {
        try JSONDecoder().decode(JobSpec.self, from: Data(text.utf8))
    }
}

/// Why a job's parameters were refused: the field (as the wire names it) and what is wrong.
public enum JobSpecError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidArgument(field: String, message: String)

    static func invalidArgument(_ field: String, _ message: String) -> JobSpecError {
        .invalidArgument(field: field, message: message)
    }

    public var description: String {
        switch self {
        case let .invalidArgument(_, message): return message
        }
    }
}
