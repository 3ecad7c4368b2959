import CTailorKernels
import TailorEngine

/// A mixture-of-experts feed-forward, forward and backward. The experts and the router are
/// frozen (LoRA adapts attention only in such models), but the gradient of the block's input
/// runs through both: through each chosen expert's MLP, and through the router, whose choice
/// is piecewise constant while its renormalized weights are not.
extension TrainingGraph {
    /// downOut = Σ wₑ·expertₑ(xn2) per row: routes the rows, then runs each expert on the rows
    /// that chose it, storing its gate, up and hidden values at the rows' slot positions.
    func expertsForward(_ e: ExpertWeights, acts a: BlockActivations) {
        let c = config, d = c.embeddingLength, f = c.feedForwardLength, n = tokenCount
        // Exact f32 router products on every path: a rounded product could flip a near tie.
        scratch.multiply(e.router, by: .integer, x: a.xn2, n: n, y: routerLogits, exact: true)
        a.routing.route(logits: routerLogits, rows: n)
        a.downOut.update(repeating: 0, count: n * d)
        for ex in 0..<c.expertCount {
            let slots = a.routing.slots(of: ex), p0 = slots.lowerBound
            guard !slots.isEmpty else { continue }
            a.routing.gather(a.xn2, width: d, expert: ex, into: expertRows)
            frozenProduct(e.gate[ex], x: expertRows, y: a.gate + p0 * f, n: slots.count)
            frozenProduct(e.up[ex], x: expertRows, y: a.up + p0 * f, n: slots.count)
            VectorOps.gatedActivation(
                a.gate + p0 * f, a.up + p0 * f, into: a.hidden + p0 * f, count: slots.count * f, gelu: false)
            frozenProduct(e.down[ex], x: a.hidden + p0 * f, y: expertOut, n: slots.count)
            a.routing.addBack(expertOut, width: d, expert: ex, into: a.downOut, weighted: true)
        }
    }

    /// From downOut's gradient `dy` to xn2's, into `dxn` (n × d): each expert's share
    /// wₑ·Wᵀ-chain, plus the router's. With w = softmax over the chosen logits and
    /// gₑ = ∂L/∂wₑ = dy·expertₑ(x), the chosen logits get wₑ·(gₑ − Σⱼ wⱼgⱼ), the others none.
    func expertsBackward(_ e: ExpertWeights, acts a: BlockActivations, dy: UnsafePointer<Float>) {
        let c = config, d = c.embeddingLength, f = c.feedForwardLength, k = c.expertsUsed, n = tokenCount
        let routing = a.routing
        dxn.update(repeating: 0, count: n * d)
        for ex in 0..<c.expertCount {
            let slots = routing.slots(of: ex), p0 = slots.lowerBound, m = slots.count
            guard !slots.isEmpty else { continue }
            routing.gather(dy, width: d, expert: ex, into: expertRows)
            // dhidden = dy·down (the expert's output gradient before its weight), m × f.
            frozenTransposedProduct(e.down[ex], dy: expertRows, lddy: d, n: m, dx: dhidden, accumulate: false)
            for i in 0..<m {
                let slot = Int(routing.order[p0 + i]), h = dhidden + i * f, hidden = a.hidden + (p0 + i) * f
                var g: Float = 0
                for j in 0..<f { g += h[j] * hidden[j] }
                routeGradient[slot] = g
                VectorOps.scale(h, by: routing.weight[slot], count: f)
            }
            BackpropOps.gatedActivationBackward(
                a.gate + p0 * f, a.up + p0 * f, dh: dhidden, dg: dgate, du: dup, count: m * f, gelu: false)
            frozenTransposedProduct(e.gate[ex], dy: dgate, lddy: f, n: m, dx: expertOut, accumulate: false)
            frozenTransposedProduct(e.up[ex], dy: dup, lddy: f, n: m, dx: expertOut, accumulate: true)
            routing.addBack(expertOut, width: d, expert: ex, into: dxn, weighted: false)
        }
        routerLogits.update(repeating: 0, count: n * c.expertCount)
        for r in 0..<n {
            var mean: Float = 0
            for j in 0..<k { mean += routing.weight[r * k + j] * routeGradient[r * k + j] }
            for j in 0..<k {
                let slot = r * k + j
                routerLogits[r * c.expertCount + Int(routing.expert[slot])] =
                    routing.weight[slot] * (routeGradient[slot] - mean)
            }
        }
        frozenTransposedProduct(
            e.router, dy: routerLogits, lddy: c.expertCount, n: n, dx: dxn, accumulate: true)
    }
}
