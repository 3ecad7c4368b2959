import Synchronization

/// The weights of one transformer block, bound to the mapped file.
public struct BlockWeights: Sendable {
    /// RMSNorm weights before attention.
    public let attnNorm: [Float]
    /// Attention projections: query, key, value, output.
    public let q, k, v, o: Linear
    /// Qwen2's Q/K/V biases.
    public let qBias, kBias, vBias: [Float]?
    /// Gemma 3's per-head RMSNorm weights of Q and K.
    public let qNorm, kNorm: [Float]?
    /// Gemma 3's RMSNorm of the attention output.
    public let postAttnNorm: [Float]?
    /// RMSNorm weights before the feed-forward.
    public let ffnNorm: [Float]
    /// The feed-forward's projections: one gated MLP, or routed experts.
    public let feedForward: FeedForwardWeights
    /// Gemma 3's RMSNorm of the feed-forward output.
    public let postFFNNorm: [Float]?

    /// The dense MLP's gate, up and down projections, nil in a mixture-of-experts block.
    public var mlp: (gate: Linear, up: Linear, down: Linear)? {
        if case let .dense(gate, up, down) = feedForward { return (gate, up, down) }
        return nil
    }

    /// Every projection of the block: attention's, then the feed-forward's.
    public var linears: [Linear] {
        switch feedForward {
        case let .dense(gate, up, down): return [q, k, v, o, gate, up, down]
        case let .experts(e): return [q, k, v, o, e.router] + e.gate + e.up + e.down
        }
    }
}

/// A block's feed-forward weights.
public enum FeedForwardWeights: Sendable {
    /// One gated MLP for every token: down(act(gate·x) ⊙ up·x).
    case dense(gate: Linear, up: Linear, down: Linear)
    /// Routed experts (Qwen3-MoE): each token runs through the few its router picks.
    case experts(ExpertWeights)
}

/// A mixture of experts: a router and, per expert, a gated MLP of its own. A token's output
/// is Σ wₑ·downₑ(SiLU(gateₑ·x) ⊙ upₑ·x) over the `expertsUsed` experts of highest router
/// probability, the weights wₑ their probabilities renormalized to sum to 1.
public struct ExpertWeights: Sendable {
    /// Router logits: experts rows × d. llama-quantize keeps it f32, so routing is exact.
    public let router: Linear
    /// Expert e's gate and up (f rows × d) and down (d rows × f): slices of the three stacked
    /// 3-D tensors, each expert's rows contiguous in the mapping.
    public let gate, up, down: [Linear]
}

/// All weights of a model. Projections stay in the file mapping; small vectors are copied.
public struct TransformerWeights: Sendable {
    /// Token embeddings: vocab rows × d.
    public let tokenEmbedding: Linear  // vocab rows × d
    /// The transformer blocks, in order.
    public let blocks: [BlockWeights]
    /// Final RMSNorm before the output projection.
    public let outputNorm: [Float]
    /// The output projection; the token embedding when the model ties them.
    public let output: Linear
    /// Per-dimension RoPE frequency divisors: Llama 3.1's `rope_freqs.weight`, or LongRoPE's short
    /// factors (`rope_factors_short.weight`), if any.
    public let ropeFrequencyFactors: [Float]?
    /// LongRoPE's long factors (`rope_factors_long.weight`), for contexts past
    /// `ModelConfig.ropeOriginalContext`.
    public let ropeLongFactors: [Float]?

    /// Weights given part by part (a merged copy).
    init(
        tokenEmbedding: Linear, blocks: [BlockWeights], outputNorm: [Float], output: Linear,
        ropeFrequencyFactors: [Float]?, ropeLongFactors: [Float]?
    ) {
        self.tokenEmbedding = tokenEmbedding
        self.blocks = blocks
        self.outputNorm = outputNorm
        self.output = output
        self.ropeFrequencyFactors = ropeFrequencyFactors
        self.ropeLongFactors = ropeLongFactors
    }

    init(file: GGUFFile, config c: ModelConfig) throws {
        let b = TensorBinder(file: file)
        tokenEmbedding = try b.linear("token_embd.weight", rows: c.vocabSize, cols: c.embeddingLength)
        output = try b.optionalLinear("output.weight", rows: c.vocabSize, cols: c.embeddingLength) ?? tokenEmbedding
        outputNorm = try b.vector("output_norm.weight", count: c.embeddingLength)
        ropeFrequencyFactors =
            try b.optionalVector("rope_freqs.weight", count: c.ropeDim / 2)
            ?? b.optionalVector("rope_factors_short.weight", count: c.ropeDim / 2)
        ropeLongFactors = try b.optionalVector("rope_factors_long.weight", count: c.ropeDim / 2)
        var blocks: [BlockWeights] = []
        for i in 0..<c.layerCount {
            let p = "blk.\(i)."
            let d = c.embeddingLength
            // Phi-3 stores Q/K/V as one matrix (its converter may also split them) and gate/up as
            // one, gate first.
            let qkv =
                b.file.tensor(p + "attn_qkv.weight") != nil
                ? try b.rowSlices(p + "attn_qkv.weight", rows: [c.qDim, c.kvDim, c.kvDim], cols: d)
                : [
                    try b.linear(p + "attn_q.weight", rows: c.qDim, cols: d),
                    try b.linear(p + "attn_k.weight", rows: c.kvDim, cols: d),
                    try b.linear(p + "attn_v.weight", rows: c.kvDim, cols: d),
                ]
            let feedForward = try Self.feedForward(b, prefix: p, config: c)
            blocks.append(
                BlockWeights(
                    attnNorm: try b.vector(p + "attn_norm.weight", count: d),
                    q: qkv[0], k: qkv[1], v: qkv[2],
                    o: try b.linear(p + "attn_output.weight", rows: d, cols: c.qDim),
                    qBias: c.hasQKVBias ? try b.vector(p + "attn_q.bias", count: c.qDim) : nil,
                    kBias: c.hasQKVBias ? try b.vector(p + "attn_k.bias", count: c.kvDim) : nil,
                    vBias: c.hasQKVBias ? try b.vector(p + "attn_v.bias", count: c.kvDim) : nil,
                    qNorm: c.hasQKNorm ? try b.vector(p + "attn_q_norm.weight", count: c.headDim) : nil,
                    kNorm: c.hasQKNorm ? try b.vector(p + "attn_k_norm.weight", count: c.headDim) : nil,
                    postAttnNorm: c.hasPostNorms ? try b.vector(p + "post_attention_norm.weight", count: d) : nil,
                    ffnNorm: try b.vector(p + "ffn_norm.weight", count: d),
                    feedForward: feedForward,
                    postFFNNorm: c.hasPostNorms ? try b.vector(p + "post_ffw_norm.weight", count: d) : nil
                ))
        }
        self.blocks = blocks
    }

    /// Block `p`'s feed-forward: Phi-3's gate/up fused in one matrix (gate first), Qwen3-MoE's
    /// router and stacked experts, or separate gate, up and down.
    private static func feedForward(
        _ b: TensorBinder, prefix p: String, config c: ModelConfig
    ) throws
        -> FeedForwardWeights
    {
        let d = c.embeddingLength, f = c.feedForwardLength
        if c.isMixtureOfExperts {
            let e = c.expertCount
            return .experts(
                ExpertWeights(
                    router: try b.linear(p + "ffn_gate_inp.weight", rows: e, cols: d),
                    gate: try b.stacked(p + "ffn_gate_exps.weight", count: e, rows: f, cols: d),
                    up: try b.stacked(p + "ffn_up_exps.weight", count: e, rows: f, cols: d),
                    down: try b.stacked(p + "ffn_down_exps.weight", count: e, rows: d, cols: f)))
        }
        let gateUp =
            c.architecture == .phi3
            ? try b.rowSlices(p + "ffn_up.weight", rows: [f, f], cols: d)
            : [
                try b.linear(p + "ffn_gate.weight", rows: f, cols: d),
                try b.linear(p + "ffn_up.weight", rows: f, cols: d),
            ]
        return .dense(gate: gateUp[0], up: gateUp[1], down: try b.linear(p + "ffn_down.weight", rows: d, cols: f))
    }

    /// The RoPE frequency divisors for a context of `maxContext` positions: LongRoPE's long
    /// factors when the context exceeds the original one (llama.cpp's rule; transformers
    /// switches by the current sequence's length instead), else the short or Llama 3.1 ones.
    public func ropeFactors(maxContext: Int, config: ModelConfig) -> [Float]? {
        if let long = ropeLongFactors, maxContext > config.ropeOriginalContext { return long }
        return ropeFrequencyFactors
    }

    /// Every projection, for planning scratch sizes.
    public var allLinears: [Linear] {
        blocks.flatMap(\.linears) + [output]
    }
}

/// A loaded model: its file, configuration, weights and tokenizer. Immutable and shareable:
/// any number of `InferenceContext`s (each with its own KV caches) can run over one `Model`.
public final class Model: Sendable {
    /// The mapped file; weights point into it, so it lives as long as the model.
    public let file: GGUFFile
    /// Hyper-parameters from the file's metadata.
    public let config: ModelConfig
    /// Weights bound to the mapping.
    public let weights: TransformerWeights
    /// The model's own tokenizer, from the same file.
    public let tokenizer: Tokenizer
    /// Private weight buffers (merged adapters), kept alive with the model.
    let storage: MergedStorage?
    /// Prefill paths timed per thread count, filled by `prefillMeasurement(threads:)`.
    private let prefillMeasurements = Mutex<[Int: PrefillMeasurement]>([:])

    /// Loads the model at `path`. Fails with a `GGUFError` (or `TokenizerError`) naming the problem.
    public init(path: String) throws {
        let file = try GGUFFile(path: path)
        self.file = file
        config = try ModelConfig(file: file)
        weights = try TransformerWeights(file: file, config: config)
        tokenizer = try Tokenizer(file: file)
        storage = nil
    }

    /// A model over parts of another (see `merging`).
    init(
        file: GGUFFile, config: ModelConfig, weights: TransformerWeights, tokenizer: Tokenizer, storage: MergedStorage?
    ) {
        self.file = file
        self.config = config
        self.weights = weights
        self.tokenizer = tokenizer
        self.storage = storage
    }
}

extension Model {
    /// The two prefill paths timed on this model's first layer with `threads` threads: measured
    /// by the first context that needs it, then kept, so that every context of a process (a
    /// daemon's slots, a CLI command's scorers) takes the same path without measuring again.
    public func prefillMeasurement(threads: Int) -> PrefillMeasurement {
        prefillMeasurements.withLock { known in
            if let m = known[threads] { return m }
            let m = PrefillPathProbe.measure(model: self, threads: threads)
            known[threads] = m
            return m
        }
    }
}
