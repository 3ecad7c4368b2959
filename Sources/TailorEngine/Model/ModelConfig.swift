import Foundation

/// The transformer families the engine runs. Each differs only in a few switches of
/// `ModelConfig`; the forward pass is one code path.
public enum Architecture: String, Sendable, CaseIterable {
    case llama, qwen2, qwen3, smollm3, gemma2, gemma3, phi3, qwen3moe
}

/// How rotary embeddings pair up the dimensions of a head.
public enum RopeStyle: Sendable {
    /// Adjacent pairs (2i, 2i+1). llama.cpp's converter permutes Llama Q/K rows for this.
    case interleaved
    /// Split halves (i, i + n/2), as Qwen2 and Gemma store them ("NeoX" style).
    case neox
}

/// Hyper-parameters of a model, read from GGUF metadata (`{arch}.*` keys).
public struct ModelConfig: Sendable, Equatable {
    /// Which family's switches apply.
    public var architecture: Architecture
    /// Width d of the residual stream.
    public var embeddingLength: Int
    /// Number of transformer blocks.
    public var layerCount: Int
    /// Hidden width of the gated MLP; of one expert's in a mixture-of-experts model.
    public var feedForwardLength: Int
    /// Routed experts per block (Qwen3-MoE); 0 in a dense model, whose blocks have one MLP.
    public var expertCount: Int
    /// Experts each token runs through, chosen by the router's top probabilities.
    public var expertsUsed: Int
    /// Query heads.
    public var headCount: Int
    /// Key/value heads (fewer than query heads under grouped-query attention).
    public var kvHeadCount: Int
    /// Width of one head.
    public var headDim: Int
    /// Dimensions of each head that rotary embedding touches (≤ headDim).
    public var ropeDim: Int
    /// Rows of the embedding and output matrices.
    public var vocabSize: Int
    /// Positions the model was trained for; contexts are capped here.
    public var contextLength: Int
    /// Epsilon of every RMSNorm.
    public var rmsEpsilon: Float
    /// RoPE base of global layers.
    public var ropeBase: Float
    /// RoPE base of sliding-window layers (Gemma 3 uses 10 000 there).
    public var ropeBaseLocal: Float
    /// Linear RoPE scaling of the global layers (positions divided by this), 1 when absent.
    public var ropeLinearScale: Float
    /// LongRoPE (Phi-3.5, Phi-4-mini): the context its short frequency factors serve. A context
    /// longer than this takes the long factors, as llama.cpp chooses; `contextLength` when absent.
    public var ropeOriginalContext: Int
    /// LongRoPE's attention factor, which multiplies RoPE's cos and sin; 1 when absent.
    public var ropeAttentionFactor: Float
    /// How RoPE pairs dimensions (interleaved for Llama GGUFs, halves otherwise).
    public var ropeStyle: RopeStyle
    /// Sliding-window width of local layers, 0 when every layer is global.
    public var slidingWindow: Int
    /// Gemma makes every `slidingPattern`-th layer global (2 for Gemma 2, 6 for Gemma 3); 0 means
    /// no pattern.
    public var slidingPattern: Int
    /// Scale applied to token embeddings (√d for Gemma, 1 otherwise).
    public var embeddingScale: Float
    /// Scale of attention scores (1/√headDim unless the model says otherwise).
    public var attentionScale: Float
    /// Gemma's feed-forward uses GELU (tanh approximation) instead of SiLU.
    public var usesGELU: Bool
    /// Gemma normalizes the outputs of attention and feed-forward too.
    public var hasPostNorms: Bool
    /// Gemma 3 and Qwen3 normalize each Q and K head (RMSNorm over the head's width).
    public var hasQKNorm: Bool
    /// Qwen2 adds biases to Q, K and V.
    public var hasQKVBias: Bool
    /// Gemma 2 bends every attention score s into c·tanh(s/c) before the softmax; 0 means no cap.
    public var attentionSoftcap: Float
    /// Gemma 2 bends the output logits the same way; 0 means no cap.
    public var finalLogitSoftcap: Float
    /// SmolLM3 leaves out RoPE in every `noRopeLayerStep`-th layer ("NoPE"); 0 means never.
    public var noRopeLayerStep: Int

    /// Width of all query heads together.
    public var qDim: Int { headCount * headDim }
    /// Width of all key (or value) heads together: one KV-cache row.
    public var kvDim: Int { kvHeadCount * headDim }
    /// True when each block's feed-forward is routed experts rather than one MLP.
    public var isMixtureOfExperts: Bool { expertCount > 0 }
    /// Hidden values one token's feed-forward computes: every chosen expert's.
    public var activeFeedForwardWidth: Int { max(1, expertsUsed) * feedForwardLength }

    /// True when layer `i` attends within the sliding window only.
    public func isLocalLayer(_ i: Int) -> Bool {
        guard slidingWindow > 0 else { return false }
        guard slidingPattern > 0 else { return true }
        return (i + 1) % slidingPattern != 0
    }

    /// True when layer `i` rotates its queries and keys.
    public func usesRope(_ i: Int) -> Bool {
        noRopeLayerStep == 0 || (i + 1) % noRopeLayerStep != 0
    }

    /// Reads the configuration from `file`'s metadata.
    public init(file: GGUFFile) throws {
        let archName = try file.string("general.architecture")
        guard let arch = Architecture(rawValue: archName) else {
            throw GGUFError.unsupportedArchitecture(path: file.path, architecture: archName)
        }
        func key(_ k: String) -> String { "\(archName).\(k)" }
        func opt(_ k: String) -> GGUFValue? { file.metadata[key(k)] }

        architecture = arch
        embeddingLength = try file.int(key("embedding_length"))
        layerCount = try file.int(key("block_count"))
        // A mixture of experts records its experts' width apart from the (unused) dense one.
        feedForwardLength = try opt("expert_feed_forward_length")?.intValue ?? file.int(key("feed_forward_length"))
        if arch != .qwen3moe, let n = opt("expert_count")?.intValue, n > 0 {
            // Mixtral and others store experts under a dense architecture's name.
            throw GGUFError.unsupportedArchitecture(path: file.path, architecture: "\(archName) with \(n) experts")
        }
        expertCount = arch == .qwen3moe ? try file.int(key("expert_count")) : 0
        expertsUsed = arch == .qwen3moe ? try file.int(key("expert_used_count")) : 0
        headCount = try file.int(key("attention.head_count"))
        kvHeadCount = opt("attention.head_count_kv")?.intValue ?? headCount
        headDim = opt("attention.key_length")?.intValue ?? (headCount > 0 ? embeddingLength / headCount : 0)
        ropeDim = opt("rope.dimension_count")?.intValue ?? headDim
        contextLength = opt("context_length")?.intValue ?? 2048
        rmsEpsilon = Float(opt("attention.layer_norm_rms_epsilon")?.doubleValue ?? 1e-6)
        ropeBase = Float(opt("rope.freq_base")?.doubleValue ?? 10_000)
        ropeBaseLocal = ropeBase
        ropeLinearScale = 1
        if opt("rope.scaling.type")?.stringValue == "linear", let f = opt("rope.scaling.factor")?.doubleValue, f > 0 {
            ropeLinearScale = Float(f)
        }
        ropeOriginalContext = opt("rope.scaling.original_context_length")?.intValue ?? contextLength
        ropeAttentionFactor = Float(opt("rope.scaling.attn_factor")?.doubleValue ?? 1)
        vocabSize =
            opt("vocab_size")?.intValue
            ?? file.metadata["tokenizer.ggml.tokens"]?.packedStrings?.count
            ?? file.tensor("token_embd.weight")?.dims.last ?? 0
        ropeStyle = .interleaved
        slidingWindow = 0
        slidingPattern = 0
        embeddingScale = 1
        attentionScale = headDim > 0 ? 1 / Float(headDim).squareRoot() : 1
        usesGELU = false
        hasPostNorms = false
        hasQKNorm = false
        hasQKVBias = false
        noRopeLayerStep = 0
        attentionSoftcap = 0
        finalLogitSoftcap = 0

        switch arch {
        case .llama:
            break
        case .qwen2:
            ropeStyle = .neox
            hasQKVBias = true
        case .qwen3, .qwen3moe:
            // Qwen2's layout without the biases, with an RMSNorm on each Q and K head; Qwen3-MoE
            // routes each token to `expertsUsed` of its experts, their softmax weights
            // renormalized over the chosen ones, as llama.cpp does.
            ropeStyle = .neox
            hasQKNorm = true
        case .smollm3:
            // Llama's layout (the converter permutes Q/K for interleaved RoPE); llama.cpp
            // fixes the NoPE step at 4, as SmolLM3's config does.
            noRopeLayerStep = 4
        case .gemma2:
            // Gemma 3's layout before its Q/K norms and local RoPE base: every other layer local
            // (the first of each pair), scores and logits soft-capped.
            ropeStyle = .neox
            usesGELU = true
            hasPostNorms = true
            embeddingScale = Float(embeddingLength).squareRoot()
            slidingWindow = opt("attention.sliding_window")?.intValue ?? 4096
            slidingPattern = 2
            attentionSoftcap = Float(opt("attn_logit_softcapping")?.doubleValue ?? 0)
            finalLogitSoftcap = Float(opt("final_logit_softcapping")?.doubleValue ?? 0)
        case .phi3:
            // Llama's blocks with Q/K/V fused into one matrix and gate/up into another (the
            // weights bind them as row slices), RoPE over split halves, optionally partial and
            // LongRoPE-scaled. Phi-3's sliding window is ignored, as llama.cpp ignores it.
            ropeStyle = .neox
        case .gemma3:
            ropeStyle = .neox
            usesGELU = true
            hasPostNorms = true
            hasQKNorm = true
            embeddingScale = Float(embeddingLength).squareRoot()
            slidingWindow = opt("attention.sliding_window")?.intValue ?? 0
            slidingPattern = opt("attention.sliding_window_pattern")?.intValue ?? 6
            ropeBaseLocal = 10_000
        }

        let dims = [embeddingLength, layerCount, feedForwardLength, headCount, kvHeadCount, headDim, vocabSize]
        guard dims.allSatisfy({ $0 > 0 && $0 < 1 << 24 }), headCount % kvHeadCount == 0,
            ropeDim > 0, ropeDim <= headDim, ropeDim % 2 == 0
        else {
            throw GGUFError.missingMetadata(
                path: file.path, key: key("attention.head_count / embedding_length (inconsistent)"))
        }
        if arch == .qwen3moe {
            guard expertCount > 0, expertCount <= 4096, expertsUsed > 0, expertsUsed <= expertCount else {
                throw GGUFError.missingMetadata(
                    path: file.path,
                    key: key("expert_used_count (\(expertsUsed)) of expert_count (\(expertCount)) out of range"))
            }
        }
        guard ropeAttentionFactor > 0, ropeAttentionFactor.isFinite, ropeOriginalContext > 0 else {
            throw GGUFError.missingMetadata(
                path: file.path, key: key("rope.scaling.attn_factor / original_context_length (not positive)"))
        }
        for (name, cap) in [
            ("attn_logit_softcapping", attentionSoftcap), ("final_logit_softcapping", finalLogitSoftcap),
        ]
        where !(cap >= 0 && cap.isFinite) {
            throw GGUFError.missingMetadata(path: file.path, key: key(name) + " (negative or not finite)")
        }
    }
}
