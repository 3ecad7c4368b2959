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
    /// Gated MLP projections: down(act(gate·x) ⊙ up·x).
    public let gate, up, down: Linear
    /// Gemma 3's RMSNorm of the feed-forward output.
    public let postFFNNorm: [Float]?
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
            let f = c.feedForwardLength
            let gateUp =
                c.architecture == .phi3
                ? try b.rowSlices(p + "ffn_up.weight", rows: [f, f], cols: d)
                : [
                    try b.linear(p + "ffn_gate.weight", rows: f, cols: d),
                    try b.linear(p + "ffn_up.weight", rows: f, cols: d),
                ]
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
                    gate: gateUp[0], up: gateUp[1],
                    down: try b.linear(p + "ffn_down.weight", rows: d, cols: c.feedForwardLength),
                    postFFNNorm: c.hasPostNorms ? try b.vector(p + "post_ffw_norm.weight", count: d) : nil
                ))
        }
        self.blocks = blocks
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
        blocks.flatMap { [$0.q, $0.k, $0.v, $0.o, $0.gate, $0.up, $0.down] } + [output]
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
