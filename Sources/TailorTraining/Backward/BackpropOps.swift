import Foundation
import TailorEngine

/// Elementwise pieces of the backward pass, each the exact derivative of the engine's forward
/// operation (`VectorOps`; checked by finite differences in the tests).
enum BackpropOps {
    /// dx (+)= r·(w⊙dy) − x · r³/n · Σ(w⊙dy⊙x): the gradient of `rmsNorm` at `x`.
    @inline(__always)
    static func rmsNormBackward(
        x: UnsafePointer<Float>, w: UnsafePointer<Float>, rstd r: Float, dy: UnsafePointer<Float>,
        dx: UnsafeMutablePointer<Float>, n: Int, accumulate: Bool
    ) {
        var dot: Float = 0
        for i in 0..<n { dot += w[i] * dy[i] * x[i] }
        let k = r * r * r * dot / Float(n)
        if accumulate {
            for i in 0..<n { dx[i] += r * w[i] * dy[i] - x[i] * k }
        } else {
            for i in 0..<n { dx[i] = r * w[i] * dy[i] - x[i] * k }
        }
    }

    static let geluK = VectorOps.geluK

    /// dg = dh ⊙ u ⊙ act′(g), du = dh ⊙ act(g).
    static func gatedActivationBackward(
        _ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>, dh: UnsafePointer<Float>,
        dg: UnsafeMutablePointer<Float>, du: UnsafeMutablePointer<Float>, count: Int, gelu: Bool
    ) {
        if gelu {
            for i in 0..<count {
                let x = g[i]
                let t = tanhf(geluK * (x + 0.044715 * x * x * x))
                let act = 0.5 * x * (1 + t)
                let dact = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * geluK * (1 + 3 * 0.044715 * x * x)
                du[i] = dh[i] * act
                dg[i] = dh[i] * u[i] * dact
            }
        } else {
            for i in 0..<count {
                let x = g[i]
                let s = 1 / (1 + expf(-x))
                du[i] = dh[i] * x * s
                dg[i] = dh[i] * u[i] * s * (1 + x * (1 - s))
            }
        }
    }
}
