/// The projections of a transformer block that LoRA can adapt.
public enum LoRATarget: String, Sendable, CaseIterable, Hashable {
    case q, k, v, o, gate, up, down

    /// The attention projections: what a mixture-of-experts model's adapters may target.
    public static let attention: [LoRATarget] = [.q, .k, .v, .o]

    /// Why this target is refused in a model of `architecture` whose feed-forward is routed
    /// experts (`expertCount` > 0), or nil where it is not: experts take no LoRA in v1. One
    /// sentence wherever it is refused: a job's submission, a training step, an adapter applied.
    public func expertRefusal(architecture: String, expertCount: Int) -> String? {
        guard expertCount > 0, !Self.attention.contains(self) else { return nil }
        return """
            LoRA target '\(rawValue)' is a feed-forward projection, which is routed experts in this \
            \(architecture) model; use attention targets (q, k, v, o)
            """
    }

    /// PEFT's module name for the target (q_proj, ..., down_proj).
    public var peftName: String {
        switch self {
        case .q: return "q_proj"
        case .k: return "k_proj"
        case .v: return "v_proj"
        case .o: return "o_proj"
        case .gate: return "gate_proj"
        case .up: return "up_proj"
        case .down: return "down_proj"
        }
    }
}

/// One adapted projection: y += scale · B·(A·x), with A [rank × in] and B [out × rank], f32,
/// row-major. Small next to the base weights, so kept as plain arrays.
public struct LoRAWeights: Sendable {
    /// rank × inputs.
    public let a: [Float]
    /// outputs × rank.
    public let b: [Float]
    /// Rows of A (the rank).
    public let rank: Int
    /// Columns of A: the projection's input width.
    public let inputs: Int
    /// Rows of B: the projection's output width.
    public let outputs: Int

    /// Weights with the given shapes; throws when the arrays do not match them.
    public init(a: [Float], b: [Float], rank: Int, inputs: Int, outputs: Int) throws {
        guard rank > 0, a.count == rank * inputs, b.count == outputs * rank else {
            throw EngineError.adapterMismatch(
                """
                LoRA weights of rank \(rank): A has \(a.count) values (want \(rank * inputs)), B has \(b.count) \
                (want \(outputs * rank))
                """
            )
        }
        self.a = a
        self.b = b
        self.rank = rank
        self.inputs = inputs
        self.outputs = outputs
    }
}

/// A LoRA adapter: low-rank deltas for some projections of some layers, applied unmerged at
/// decode time, so switching adapters between requests costs nothing and the base weights stay
/// shared and untouched.
public final class LoRAAdapter: Sendable {
    /// A name for errors and logs.
    public let name: String
    /// The scale s in y += s·B·A·x: alpha/r, or alpha/√r under rsLoRA.
    public let scale: Float
    /// The rank r the adapter was trained with (its config's `r`).
    public let rank: Int
    /// LoRA's alpha.
    public let alpha: Float
    /// Whether the scale is alpha/√r (rank-stabilized LoRA).
    public let useRSLoRA: Bool
    /// Per (layer, target) weights; absent pairs are not adapted.
    public let weights: [Key: LoRAWeights]

    /// A layer and projection.
    public struct Key: Hashable, Sendable {
        /// Block index.
        public let layer: Int
        /// Which projection of the block.
        public let target: LoRATarget
        /// The key of `target` in `layer`.
        public init(layer: Int, target: LoRATarget) {
            self.layer = layer
            self.target = target
        }
    }

    /// An adapter with `alpha` and `rank`, scaled as PEFT scales it.
    public init(name: String, rank: Int, alpha: Float, useRSLoRA: Bool = false, weights: [Key: LoRAWeights]) {
        self.name = name
        self.scale = useRSLoRA ? alpha / Float(rank).squareRoot() : alpha / Float(rank)
        self.rank = rank
        self.alpha = alpha
        self.useRSLoRA = useRSLoRA
        self.weights = weights
    }

    /// Largest rank among the adapted projections.
    public var maxRank: Int { weights.values.map(\.rank).max() ?? 0 }

    /// Checks every adapted projection against `config`'s shapes.
    public func validate(for config: ModelConfig) throws {
        for (key, w) in weights {
            guard key.layer >= 0, key.layer < config.layerCount else {
                throw EngineError.adapterMismatch(
                    "adapter '\(name)': layer \(key.layer) does not exist (model has \(config.layerCount))")
            }
            if let refusal = key.target.expertRefusal(
                architecture: config.architecture.rawValue, expertCount: config.expertCount)
            {
                throw EngineError.adapterMismatch("adapter '\(name)', layer \(key.layer): \(refusal)")
            }
            let (inputs, outputs) = config.shape(of: key.target)
            guard w.inputs == inputs, w.outputs == outputs else {
                throw EngineError.adapterMismatch(
                    """
                    adapter '\(name)': \(key.target.peftName) of layer \(key.layer) is \(w.outputs)×\(w.inputs), \
                    the model's is \(outputs)×\(inputs)
                    """
                )
            }
        }
    }
}

/// An adapter applied to one sequence, with a multiplier on its own scale (1 = as trained).
public struct AdapterUse: Sendable {
    /// The adapter.
    public let adapter: LoRAAdapter
    /// Multiplies the adapter's scale.
    public let weight: Float
    /// `adapter` at `weight`.
    public init(_ adapter: LoRAAdapter, weight: Float = 1) {
        self.adapter = adapter
        self.weight = weight
    }
}

extension ModelConfig {
    /// (inputs, outputs) of a projection.
    public func shape(of target: LoRATarget) -> (inputs: Int, outputs: Int) {
        switch target {
        case .q: return (embeddingLength, qDim)
        case .k, .v: return (embeddingLength, kvDim)
        case .o: return (qDim, embeddingLength)
        case .gate, .up: return (embeddingLength, feedForwardLength)
        case .down: return (feedForwardLength, embeddingLength)
        }
    }
}

extension LoRAAdapter {
    /// One projection's weights in Hugging Face (PEFT) layout: A [rank × in], B [out × rank].
    public struct HFWeights: Sendable {
        /// Block index.
        public var layer: Int
        /// Which projection.
        public var target: LoRATarget
        /// A, row-major [rank × inputs].
        public var a: [Float]
        /// B, row-major [outputs × rank].
        public var b: [Float]
        /// The rank.
        public var rank: Int
        /// Weights of one projection.
        public init(layer: Int, target: LoRATarget, a: [Float], b: [Float], rank: Int) {
            self.layer = layer
            self.target = target
            self.a = a
            self.b = b
            self.rank = rank
        }
    }

    /// An adapter from Hugging Face-layout weights, converted for `config`'s GGUF layout.
    ///
    /// llama.cpp's converter permutes the rows of Llama's Q and K weights so that RoPE can
    /// rotate adjacent pairs; a delta B·A on those projections must have B's rows permuted the
    /// same way, or it would land on the wrong dimensions.
    public static func fromHuggingFace(
        name: String, rank: Int, alpha: Float, useRSLoRA: Bool,
        weights: [HFWeights], config: ModelConfig
    ) throws -> LoRAAdapter {
        var out: [Key: LoRAWeights] = [:]
        for w in weights {
            let (inputs, outputs) = config.shape(of: w.target)
            var b = w.b
            if config.ropeStyle == .interleaved && (w.target == .q || w.target == .k) {
                let heads = w.target == .q ? config.headCount : config.kvHeadCount
                b = permuteRowsForInterleavedRoPE(b, rows: outputs, cols: w.rank, heads: heads)
            }
            out[Key(layer: w.layer, target: w.target)] = try LoRAWeights(
                a: w.a, b: b, rank: w.rank, inputs: inputs, outputs: outputs)
        }
        let adapter = LoRAAdapter(name: name, rank: rank, alpha: alpha, useRSLoRA: useRSLoRA, weights: out)
        try adapter.validate(for: config)
        return adapter
    }

    /// Within each head, row p·(hd/2) + i moves to 2i + p: the half-split layout becomes the
    /// interleaved one (llama.cpp's `permute` in convert_hf_to_gguf). `inverse` undoes it.
    static func permuteRowsForInterleavedRoPE(
        _ m: [Float], rows: Int, cols: Int, heads: Int, inverse: Bool = false
    ) -> [Float] {
        let hd = rows / heads, half = hd / 2
        var out = m
        for h in 0..<heads {
            for p in 0..<2 {
                for i in 0..<half {
                    var src = (h * hd + p * half + i) * cols, dst = (h * hd + 2 * i + p) * cols
                    if inverse { swap(&src, &dst) }
                    for c in 0..<cols { out[dst + c] = m[src + c] }
                }
            }
        }
        return out
    }

    /// The adapter's weights back in Hugging Face layout (undoing the Q/K permutation).
    public func huggingFaceWeights(config: ModelConfig) -> [HFWeights] {
        weights.keys.sorted { ($0.layer, $0.target.peftName) < ($1.layer, $1.target.peftName) }.map { key in
            let w = weights[key]!
            var b = w.b
            if config.ropeStyle == .interleaved && (key.target == .q || key.target == .k) {
                let heads = key.target == .q ? config.headCount : config.kvHeadCount
                b = Self.permuteRowsForInterleavedRoPE(b, rows: w.outputs, cols: w.rank, heads: heads, inverse: true)
            }
            return HFWeights(layer: key.layer, target: key.target, a: w.a, b: b, rank: w.rank)
        }
    }
}
