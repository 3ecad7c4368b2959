import CTailorKernels
import Foundation

/// Buffers of merged projections, owned by the `Model` whose `Linear`s point into them.
final class MergedStorage: @unchecked Sendable {
    // Each a malloc'd block of rows × rowBytes; immutable once the model is built; freed in deinit.
    private let blocks: [UnsafeMutableRawPointer]
    init(_ blocks: [UnsafeMutableRawPointer]) { self.blocks = blocks }
    deinit { for b in blocks { free(b) } }
}

/// How merged projections of a quantized model are stored.
public enum MergedPrecision: Sendable {
    /// 8-bit blocks (1.06 bytes per weight): the fast choice, adding requantization error
    /// (on SmolLM2 Q4_1: max |Δlogit| ≈ 0.18 against the unmerged path).
    case q8_0
    /// Half precision (2 bytes per weight): near-exact, but reads more bytes per token.
    case f16
}

extension Model {
    /// A private copy of this model with `adapters` merged into the weights they adapt:
    /// W' = W + Σ s·w·B·A for each adapted projection; everything else stays shared with this
    /// model's mapping.
    ///
    /// Why: a fixed adapter (a single-user deployment) then costs nothing per token. Unmerged
    /// LoRA already costs little (BENCHMARKS.md: 1.01×–1.17× decode), so this is an option, not
    /// the default; switching adapters stays free only unmerged.
    ///
    /// Merged projections are stored as F32 when the base is F32, else in `precision`: a
    /// quantized base cannot hold an arbitrary delta exactly in its own type.
    /// - Throws: `EngineError.adapterMismatch` when an adapter does not fit the model.
    public func merging(_ adapters: [AdapterUse], precision: MergedPrecision = .q8_0) throws -> Model {
        for use in adapters { try use.adapter.validate(for: config) }
        var blocks: [UnsafeMutableRawPointer] = []
        var owned = false
        defer { if !owned { for b in blocks { free(b) } } }
        var merged: [BlockWeights] = []
        for (l, w) in weights.blocks.enumerated() {
            func merge(_ lin: Linear, _ target: LoRATarget) -> Linear {
                let deltas = adapters.compactMap { use in
                    use.adapter.weights[LoRAAdapter.Key(layer: l, target: target)].map { (use, $0) }
                }
                guard !deltas.isEmpty else { return lin }
                // dense: rows × cols f32, freed at the end of this function.
                let dense = UnsafeMutablePointer<Float>.allocate(capacity: lin.rows * lin.cols)
                defer { dense.deallocate() }
                lin.dequantize(rows: 0..<lin.rows, into: dense)
                for (use, d) in deltas {
                    d.b.withUnsafeBufferPointer { b in
                        d.a.withUnsafeBufferPointer { a in
                            tk_sgemm(
                                nil, false, false, Int64(lin.rows), Int64(lin.cols), Int64(d.rank),
                                use.adapter.scale * use.weight,
                                b.baseAddress, Int64(d.rank), a.baseAddress, Int64(lin.cols), 1, dense, Int64(lin.cols))
                        }
                    }
                }
                let type: GGMLType = lin.type == .f32 ? .f32 : (precision == .q8_0 ? .q8_0 : .f16)
                let bytes = type.rowBytes(lin.cols) * lin.rows
                let out = malloc(max(bytes, 1))!
                blocks.append(out)
                switch type {
                case .f32: memcpy(out, dense, bytes)
                case .f16:
                    let h = out.assumingMemoryBound(to: UInt16.self)
                    for i in 0..<(lin.rows * lin.cols) { h[i] = tk_f32_to_f16(dense[i]) }
                default: Self.quantizeQ8_0(dense, count: lin.rows * lin.cols, into: out)
                }
                return Linear(
                    name: lin.name + "+lora", type: type, rows: lin.rows, cols: lin.cols, data: UnsafeRawPointer(out))
            }
            // Experts take no adapter (`validate` refuses one), so a mixture's pass through.
            var feedForward = w.feedForward
            if let (gate, up, down) = w.mlp {
                feedForward = .dense(gate: merge(gate, .gate), up: merge(up, .up), down: merge(down, .down))
            }
            merged.append(
                BlockWeights(
                    attnNorm: w.attnNorm, q: merge(w.q, .q), k: merge(w.k, .k), v: merge(w.v, .v), o: merge(w.o, .o),
                    qBias: w.qBias, kBias: w.kBias, vBias: w.vBias, qNorm: w.qNorm, kNorm: w.kNorm,
                    postAttnNorm: w.postAttnNorm, ffnNorm: w.ffnNorm, feedForward: feedForward,
                    postFFNNorm: w.postFFNNorm))
        }
        let newWeights = TransformerWeights(
            tokenEmbedding: weights.tokenEmbedding, blocks: merged, outputNorm: weights.outputNorm,
            output: weights.output, ropeFrequencyFactors: weights.ropeFrequencyFactors,
            ropeLongFactors: weights.ropeLongFactors)
        owned = true
        return Model(
            file: file, config: config, weights: newWeights, tokenizer: tokenizer, storage: MergedStorage(blocks))
    }

    /// ggml's Q8_0: per block of 32, an f16 scale d = max|x|/127 and 32 int8 values round(x/d).
    static func quantizeQ8_0(_ x: UnsafePointer<Float>, count: Int, into out: UnsafeMutableRawPointer) {
        var p = out
        for b in stride(from: 0, to: count, by: 32) {
            var amax: Float = 0
            for i in 0..<32 { amax = max(amax, abs(x[b + i])) }
            let d = amax / 127
            let id: Float = d == 0 ? 0 : 1 / d
            p.storeBytes(of: tk_f32_to_f16(d), as: UInt16.self)
            let qs = (p + 2).assumingMemoryBound(to: Int8.self)
            for i in 0..<32 { qs[i] = Int8(max(-127, min(127, (x[b + i] * id).rounded()))) }
            p += 34
        }
    }
}
