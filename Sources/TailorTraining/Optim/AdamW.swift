import Foundation

/// AdamW as torch.optim.AdamW computes it (decoupled weight decay applied first, bias-corrected
/// moments), over a trainable adapter's flat parameter vector. Its moments are part of a
/// checkpoint, so a resumed run continues exactly.
public final class AdamW: @unchecked Sendable {
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8
    public var weightDecay: Float
    /// Steps taken (t in the bias corrections).
    public private(set) var steps = 0
    let count: Int
    let m: UnsafeMutablePointer<Float>  // count; first moments; freed in deinit
    let v: UnsafeMutablePointer<Float>  // count; second moments; freed in deinit

    /// An optimizer for `count` parameters.
    public init(count: Int, weightDecay: Float) {
        self.count = count
        self.weightDecay = weightDecay
        m = .allocate(capacity: max(1, count))
        m.initialize(repeating: 0, count: max(1, count))
        v = .allocate(capacity: max(1, count))
        v.initialize(repeating: 0, count: max(1, count))
    }

    deinit {
        m.deallocate()
        v.deallocate()
    }

    /// One update of `params` from `grads` at learning rate `lr`.
    public func step(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>, lr: Float) {
        steps += 1
        let c1 = 1 - powf(beta1, Float(steps)), c2 = 1 - powf(beta2, Float(steps))
        let decay = 1 - lr * weightDecay
        let stepSize = lr / c1
        let c2root = c2.squareRoot()
        for i in 0..<count {
            let g = grads[i]
            params[i] *= decay
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            params[i] -= stepSize * m[i] / (v[i].squareRoot() / c2root + epsilon)
        }
    }

    /// The moments and step count, for checkpoints.
    public func state() -> (steps: Int, m: [Float], v: [Float]) {
        (steps, Array(UnsafeBufferPointer(start: m, count: count)), Array(UnsafeBufferPointer(start: v, count: count)))
    }

    /// Restores `state()`.
    public func restore(steps: Int, m: [Float], v: [Float]) throws {
        guard m.count == count, v.count == count else {
            throw TrainingError.badHyperparameter("checkpoint moments have \(m.count) values, the adapter \(count)")
        }
        self.steps = steps
        m.withUnsafeBufferPointer { self.m.update(from: $0.baseAddress!, count: count) }
        v.withUnsafeBufferPointer { self.v.update(from: $0.baseAddress!, count: count) }
    }
}

/// Linear warmup from 0, then linear decay to 0 (transformers' get_linear_schedule_with_warmup):
/// the update of step t (0-based) uses lr·t/w during the w warmup steps, then
/// lr·(T − t)/(T − w).
public struct LinearSchedule: Sendable, Equatable {
    public var peak: Float
    public var warmupSteps: Int
    public var totalSteps: Int

    /// A schedule with ⌈ratio · total⌉ warmup steps, as transformers rounds it.
    public init(peak: Float, warmupRatio: Double, totalSteps: Int) {
        self.peak = peak
        self.totalSteps = max(1, totalSteps)
        warmupSteps = Int((warmupRatio * Double(self.totalSteps)).rounded(.up))
    }

    /// The learning rate of update `step`.
    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return peak * Float(step) / Float(max(1, warmupSteps)) }
        return peak * max(0, Float(totalSteps - step) / Float(max(1, totalSteps - warmupSteps)))
    }
}
