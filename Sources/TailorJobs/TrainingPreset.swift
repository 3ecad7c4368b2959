import TailorEngine
import TailorTraining

/// Where a job's unset hyperparameters come from.
///
/// The CoPe reference code's rates were tuned for 1.5–8B models on LaMP profiles of hundreds of
/// items. On the small models people run on a CPU, with profiles of tens of items, they leave
/// the user's adapter too small to change one greedy token (docs/results/tuning-commit_subject):
/// a job with the reference's defaults would personalize nothing. `tuned` gives the rates
/// chosen on users' profile holdout for the model where there are some, and the reference's
/// for every other model. Decoding has no tuned values: the one candidate (α 0.3, τ 0.05 for
/// SmolLM2 on commit subjects) lost on another task's users (docs/results/cope-study, 4b), so
/// every model decodes at `ContrastiveParameters`' α = τ = 0.1 under either preset.
public enum TrainingPreset: String, CaseIterable, Sendable, Codable {
    case tuned
    case reference

    /// The preset a request names; "" is `tuned`.
    /// - Throws: `JobSpecError.invalidArgument` for another name.
    public init(named name: String) throws {
        guard let p = name.isEmpty ? .tuned : TrainingPreset(rawValue: name) else {
            throw JobSpecError.invalidArgument(
                "parameters.preset", "preset must be tuned or reference, not '\(name.prefix(32))'")
        }
        self = p
    }

    /// What the preset sets for the user's stages.
    public struct Values: Sendable, Equatable {
        public var oppuLearningRate: Float
        public var dpoLearningRate: Float
        /// Where the values were chosen, for people reading a job's record.
        public var source: String
    }

    /// The reference code's: OPPU 1e-4, DPO 5e-6.
    public static let referenceValues = Values(
        oppuLearningRate: TrainingConfiguration.oppu.learningRate,
        dpoLearningRate: TrainingConfiguration.dpo.learningRate,
        source: "the CoPe reference code")

    /// A model as the tuned values know it: architecture and shape, whatever its quantization
    /// or file name.
    public struct ModelShape: Hashable, Sendable {
        public var architecture: String
        public var embeddingLength: Int
        public var layerCount: Int
        /// Routed experts per block (0: dense), whose projections take no LoRA.
        public var expertCount: Int

        public init(architecture: String, embeddingLength: Int, layerCount: Int, expertCount: Int = 0) {
            self.architecture = architecture
            self.embeddingLength = embeddingLength
            self.layerCount = layerCount
            self.expertCount = expertCount
        }

        public init(_ config: ModelConfig) {
            self.init(
                architecture: config.architecture.rawValue, embeddingLength: config.embeddingLength,
                layerCount: config.layerCount, expertCount: config.expertCount)
        }
    }

    /// Rates chosen on held-back profile items, never on query golds. DPO keeps the reference's
    /// DPO/OPPU ratio (1/20), which the studies did not overturn.
    public static let tunedValues: [ModelShape: Values] = [
        ModelShape(architecture: "llama", embeddingLength: 576, layerCount: 30): Values(
            oppuLearningRate: 3e-3, dpoLearningRate: 1.5e-4,
            source: "SmolLM2-135M, docs/results/tuning-commit_subject"),
        ModelShape(architecture: "gemma3", embeddingLength: 640, layerCount: 18): Values(
            oppuLearningRate: 1e-3, dpoLearningRate: 5e-5,
            source: "Gemma 3 270M, docs/results/gemma_commit_subject"),
    ]

    /// The values for a model of `shape` (nil: unknown, the reference's).
    public func values(for shape: ModelShape?) -> Values {
        switch self {
        case .reference: return Self.referenceValues
        case .tuned: return shape.flatMap { Self.tunedValues[$0] } ?? Self.referenceValues
        }
    }
}
