import Foundation
import TailorEngine
import XCTest

@testable import TailorTraining

/// The backward pass against central finite differences of the loss, per block type: attention
/// (GQA with interleaved RoPE on llama, half-split RoPE and biases on qwen2, QK-norm and sliding
/// windows on gemma3) through the q and k adapters, the MLP through gate, up and down, and the
/// norms (Gemma's post-norms sit on the o and down paths); and each elementwise derivative alone.
final class FiniteDifferenceTests: ExactPathTestCase {
    /// Loss = mean NLL of the completion, as a function of the trainable parameters.
    private func loss(_ g: TrainingGraph, _ tokens: [Int32], _ tr: TrainableLoRA) throws -> Double {
        let lp = try g.forward(tokens: tokens, targetStart: 4, trainable: tr)
        return -Double(lp.reduce(0, +)) / Double(lp.count)
    }

    private func check(_ arch: String, targets: [LoRATarget], label: String) throws {
        let model = try TrainingFixtures.model(arch)
        let tokens: [Int32] = [5, 67, 120, 3, 250, 33, 91, 200, 14, 77, 150, 8]
        // Non-zero B so both factors get gradients.
        let tr = TrainableLoRA(config: model.config, rank: 2, alpha: 4, targets: targets, seed: 7)
        var rng = SeededGenerator(seed: 11)
        for s in tr.slots { for i in 0..<(s.outputs * tr.rank) { tr.params[s.b + i] = (rng.nextUnit() - 0.5) * 0.4 } }
        let g = TrainingGraph(model: model, maxTokens: 16, maxRank: 2, threads: 1)
        let n = try g.forward(tokens: tokens, targetStart: 4, trainable: tr).count
        tr.zeroGradients()
        g.backward(scale: -1 / Float(n))
        var checked = 0
        for s in tr.slots {
            // The largest analytic gradients of A and of B in this projection.
            for range in [s.a..<s.b, s.b..<(s.b + s.outputs * tr.rank)] {
                let idx = range.max { abs(tr.grads[$0]) < abs(tr.grads[$1]) }!
                let analytic = Double(tr.grads[idx])
                let eps: Float = 1e-2, saved = tr.params[idx]
                tr.params[idx] = saved + eps
                let up = try loss(g, tokens, tr)
                tr.params[idx] = saved - eps
                let down = try loss(g, tokens, tr)
                tr.params[idx] = saved
                let numeric = (up - down) / Double(2 * eps)
                XCTAssertEqual(
                    analytic, numeric, accuracy: 2e-2 * max(abs(numeric), 1e-2),
                    "\(arch) \(label) layer \(s.key.layer) \(s.key.target)")
                checked += 1
            }
        }
        XCTAssertEqual(checked, 2 * tr.slots.count)
    }

    func testAttentionWithGQAAndRoPE() throws {
        for arch in TrainingFixtures.architectures { try check(arch, targets: [.q, .k, .v, .o], label: "attention") }
    }

    func testMLP() throws {
        for arch in TrainingFixtures.architectures where arch != "qwen3moe" {
            try check(arch, targets: [.gate, .up, .down], label: "mlp")
        }
    }

    /// A mixture's experts take no LoRA (v1): training one of the feed-forward targets fails
    /// with an error naming the target and what to train instead, before any work.
    func testMixtureRefusesExpertTargets() throws {
        let model = try TrainingFixtures.model("qwen3moe")
        let g = TrainingGraph(model: model, maxTokens: 16, maxRank: 2, threads: 1)
        for target in [LoRATarget.gate, .up, .down] {
            let tr = TrainableLoRA(config: model.config, rank: 2, alpha: 4, targets: [.q, target], seed: 7)
            XCTAssertThrowsError(try g.forward(tokens: [5, 67, 120, 3, 250], targetStart: 2, trainable: tr)) {
                XCTAssertEqual(
                    "\($0)",
                    """
                    hyperparameter: LoRA target '\(target.rawValue)' is a feed-forward projection, which is routed \
                    experts in this qwen3moe model; use attention targets (q, k, v, o)
                    """)
            }
        }
    }

    func testRMSNormAndActivationDerivatives() {
        var rng = SeededGenerator(seed: 3)
        let n = 16
        let x = (0..<n).map { _ in rng.nextUnit() * 2 - 1 }, w = (0..<n).map { _ in rng.nextUnit() + 0.5 }
        let dy = (0..<n).map { _ in rng.nextUnit() * 2 - 1 }
        func f(_ x: [Float]) -> Double {  // Σ dy ⊙ rmsNorm(x)
            var y = [Float](repeating: 0, count: n)
            _ = VectorOps.rmsNorm(x, w, &y, n: n, eps: 1e-6)
            return zip(y, dy).reduce(0) { $0 + Double($1.0 * $1.1) }
        }
        var y = [Float](repeating: 0, count: n)
        let r = VectorOps.rmsNorm(x, w, &y, n: n, eps: 1e-6)
        var dx = [Float](repeating: 0, count: n)
        BackpropOps.rmsNormBackward(x: x, w: w, rstd: r, dy: dy, dx: &dx, n: n, accumulate: false)
        for i in 0..<n {
            var xp = x, xm = x
            xp[i] += 1e-2
            xm[i] -= 1e-2
            XCTAssertEqual(Double(dx[i]), (f(xp) - f(xm)) / 2e-2, accuracy: 1e-3, "rmsNorm x[\(i)]")
        }
        for gelu in [false, true] {
            let g = (0..<n).map { _ in rng.nextUnit() * 6 - 3 }, u = (0..<n).map { _ in rng.nextUnit() * 2 - 1 }
            let dh = [Float](repeating: 1, count: n)
            var dg = [Float](repeating: 0, count: n), du = dg
            BackpropOps.gatedActivationBackward(g, u, dh: dh, dg: &dg, du: &du, count: n, gelu: gelu)
            for i in 0..<n {
                func h(_ gi: Float, _ ui: Float) -> Double {
                    var out: [Float] = [0]
                    VectorOps.gatedActivation([gi], [ui], into: &out, count: 1, gelu: gelu)
                    return Double(out[0])
                }
                XCTAssertEqual(
                    Double(dg[i]), (h(g[i] + 1e-2, u[i]) - h(g[i] - 1e-2, u[i])) / 2e-2, accuracy: 1e-3,
                    "act' gelu=\(gelu)")
                XCTAssertEqual(
                    Double(du[i]), (h(g[i], u[i] + 1e-2) - h(g[i], u[i] - 1e-2)) / 2e-2, accuracy: 1e-3,
                    "du gelu=\(gelu)")
            }
        }
    }
}
