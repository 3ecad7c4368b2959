import Foundation

/// Precomputed cos/sin of rotary embeddings for positions 0..<maxContext, one table per base.
/// Planned once per context, so the forward pass computes no transcendental per token.
package final class RopeTable {
    let halfDim: Int
    let maxContext: Int
    private let cos: UnsafeMutablePointer<Float>  // [maxContext][halfDim]; freed in deinit
    private let sin: UnsafeMutablePointer<Float>  // [maxContext][halfDim]; freed in deinit

    /// - Parameter magnitude: multiplies every cos and sin (LongRoPE's attention factor), so
    ///   the rotated dimensions of Q and K are scaled as well as turned.
    package init(
        ropeDim: Int, base: Float, linearScale: Float, factors: [Float]?, magnitude: Float = 1, maxContext: Int
    ) {
        halfDim = ropeDim / 2
        self.maxContext = maxContext
        cos = .allocate(capacity: maxContext * halfDim)
        sin = .allocate(capacity: maxContext * halfDim)
        for i in 0..<halfDim {
            // Match the reference: inverse frequencies computed in f32, as transformers does.
            var invFreq = 1 / Float(pow(Double(base), Double(2 * i) / Double(ropeDim)))
            if let f = factors, i < f.count, f[i] > 0 { invFreq /= f[i] }
            invFreq /= linearScale
            for p in 0..<maxContext {
                let angle = Float(p) * invFreq
                cos[p * halfDim + i] = Foundation.cos(angle) * magnitude
                sin[p * halfDim + i] = Foundation.sin(angle) * magnitude
            }
        }
    }

    /// The tables of `model`'s global and sliding-window layers for `maxContext` positions:
    /// the global one with the model's frequency factors for that context, its linear scale and
    /// LongRoPE's magnitude; the local one (Gemma's) plain, at the local base.
    package static func tables(for model: Model, maxContext: Int) -> (global: RopeTable, local: RopeTable) {
        let c = model.config
        let global = RopeTable(
            ropeDim: c.ropeDim, base: c.ropeBase, linearScale: c.ropeLinearScale,
            factors: model.weights.ropeFactors(maxContext: maxContext, config: c), magnitude: c.ropeAttentionFactor,
            maxContext: maxContext)
        let local = RopeTable(
            ropeDim: c.ropeDim, base: c.ropeBaseLocal, linearScale: 1, factors: nil, maxContext: maxContext)
        return (global, local)
    }

    deinit {
        cos.deallocate()
        sin.deallocate()
    }

    /// Rotates `heads` consecutive head vectors of `headDim` at `x` for position `pos`.
    /// `inverse` rotates by the opposite angle: the backward pass of a rotation is its transpose.
    package func apply(
        _ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, pos: Int, style: RopeStyle, inverse: Bool = false
    ) {
        let c = cos + pos * halfDim, s0 = sin + pos * halfDim
        let sign: Float = inverse ? -1 : 1
        for h in 0..<heads {
            let v = x + h * headDim
            switch style {
            case .interleaved:
                for i in 0..<halfDim {
                    let a = v[2 * i], b = v[2 * i + 1]
                    v[2 * i] = a * c[i] - b * sign * s0[i]
                    v[2 * i + 1] = a * sign * s0[i] + b * c[i]
                }
            case .neox:
                for i in 0..<halfDim {
                    let a = v[i], b = v[i + halfDim]
                    v[i] = a * c[i] - b * sign * s0[i]
                    v[i + halfDim] = a * sign * s0[i] + b * c[i]
                }
            }
        }
    }
}
