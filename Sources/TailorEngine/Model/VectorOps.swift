import CTailorKernels
import Foundation

/// Small elementwise operations of the forward pass, on raw f32 rows.
package enum VectorOps {
    /// y = x / sqrt(mean(x²) + eps) ⊙ w, for one row of `n`; returns 1/rms (what training's
    /// backward pass needs). `y` may alias `x`.
    @inline(__always) @discardableResult
    package static func rmsNorm(
        _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, n: Int, eps: Float
    ) -> Float {
        var ss: Float = 0
        for i in 0..<n { ss += x[i] * x[i] }
        let inv = 1 / (ss / Float(n) + eps).squareRoot()
        for i in 0..<n { y[i] = x[i] * inv * w[i] }
        return inv
    }

    /// √(2/π), GELU's tanh-approximation constant.
    package static let geluK: Float = 0.7978845608028654

    /// g ← act(g) ⊙ u, with SiLU or GELU (tanh approximation).
    package static func gatedActivation(
        _ g: UnsafeMutablePointer<Float>, _ u: UnsafePointer<Float>, count: Int, gelu: Bool
    ) {
        gatedActivation(g, u, into: g, count: count, gelu: gelu)
    }

    /// h = act(g) ⊙ u; `h` may alias `g`. A vectorized kernel: per-element libm calls cost a
    /// decode step about as much as one small projection.
    package static func gatedActivation(
        _ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>, into h: UnsafeMutablePointer<Float>, count: Int,
        gelu: Bool
    ) {
        tk_gated_activation(g, u, h, Int64(count), gelu)
    }

    /// log Σ exp(x) of a logit row and its max, vectorized (one per sampled token's
    /// log-probability; CoPe needs two per step).
    package static func logSumExp(_ x: UnsafeBufferPointer<Float>) -> (logSumExp: Float, max: Float) {
        var m: Float = 0
        let l = tk_logsumexp(x.baseAddress, Int64(x.count), &m)
        return (l, m)
    }

    /// log softmax(logits)[i], computed stably: a sampled token's log-probability.
    package static func logSoftmax(_ logits: UnsafeBufferPointer<Float>, at i: Int) -> Float {
        logits[i] - logSumExp(logits).logSumExp
    }

    package static func add(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { y[i] += x[i] }
    }

    /// y += a·x: an expert's output into its rows' sum, at the router's weight.
    package static func addScaled(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ a: Float, count: Int) {
        for i in 0..<count { y[i] += a * x[i] }
    }

    package static func scale(_ y: UnsafeMutablePointer<Float>, by s: Float, count: Int) {
        for i in 0..<count { y[i] *= s }
    }

    /// Gemma 2's soft-cap, in place: y ← c·tanh(y/c) over `count` values (c > 0).
    package static func softcap(_ y: UnsafeMutablePointer<Float>, cap c: Float, count: Int) {
        let inv = 1 / c
        for i in 0..<count { y[i] = c * tanhf(y[i] * inv) }
    }

    /// The soft-cap's derivative from its output, in place on a gradient: dy ← dy·(1 − (y/c)²),
    /// where y = c·tanh(x/c) is the capped value (d/dx of c·tanh(x/c) is 1 − tanh²).
    package static func softcapBackward(
        _ dy: UnsafeMutablePointer<Float>, capped y: UnsafePointer<Float>, cap c: Float, count: Int
    ) {
        let inv = 1 / c
        for i in 0..<count {
            let t = y[i] * inv
            dy[i] *= 1 - t * t
        }
    }

    /// Adds `bias` (length n) to each of `rows` rows of length n.
    package static func addBias(_ y: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, rows: Int, n: Int) {
        for r in 0..<rows { for i in 0..<n { y[r * n + i] += bias[i] } }
    }
}
