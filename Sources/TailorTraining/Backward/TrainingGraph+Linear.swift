import CTailorKernels
import TailorEngine

/// Projections with LoRA: y = W·x + Σ s·B·(A·x), forward and backward.
extension TrainingGraph {
    /// Y[n × out] = X·Wᵀ plus the frozen adapters' and the trainable adapter's deltas; stores the
    /// trainable A·x in `u` (n × rank) for the backward pass.
    func linearForward(
        _ lin: Linear, layer: Int, target: LoRATarget, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
        n: Int, u: UnsafeMutablePointer<Float>
    ) {
        frozenProduct(lin, x: x, y: y, n: n)
        let key = LoRAAdapter.Key(layer: layer, target: target)
        for use in frozen {
            guard let w = use.adapter.weights[key] else { continue }
            w.a.withUnsafeBufferPointer { a in
                w.b.withUnsafeBufferPointer { b in
                    tk_sgemm(
                        pool, false, true, Int64(n), Int64(w.rank), Int64(lin.cols), 1, x, Int64(lin.cols),
                        a.baseAddress, Int64(lin.cols),
                        0, loraTmp, Int64(w.rank))
                    tk_sgemm(
                        pool, false, true, Int64(n), Int64(lin.rows), Int64(w.rank), use.adapter.scale * use.weight,
                        loraTmp, Int64(w.rank),
                        b.baseAddress, Int64(w.rank), 1, y, Int64(lin.rows))
                }
            }
        }
        if let tr = trainable, let s = tr.slot(layer: layer, target: target) {
            let r = tr.rank
            tk_sgemm(
                pool, false, true, Int64(n), Int64(r), Int64(lin.cols), 1, x, Int64(lin.cols), tr.params + s.a,
                Int64(lin.cols), 0, u, Int64(r))
            tk_sgemm(
                pool, false, true, Int64(n), Int64(lin.rows), Int64(r), tr.scale, u, Int64(r), tr.params + s.b,
                Int64(r), 1, y, Int64(lin.rows))
        }
    }

    /// Given dY [n × out]: dX (+)= dY·W + Σ s·(dY·B)·A, and for the trainable adapter
    /// dB += s·dYᵀ·u and dA += s·(dY·B)ᵀ·X.
    func linearBackward(
        _ lin: Linear, layer: Int, target: LoRATarget, x: UnsafePointer<Float>, u: UnsafePointer<Float>,
        dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, n: Int, accumulate: Bool, trainable tr: TrainableLoRA
    ) {
        frozenTransposedProduct(lin, dy: dy, lddy: lin.rows, n: n, dx: dx, accumulate: accumulate)
        let key = LoRAAdapter.Key(layer: layer, target: target)
        for use in frozen {
            guard let w = use.adapter.weights[key] else { continue }
            w.a.withUnsafeBufferPointer { a in
                w.b.withUnsafeBufferPointer { b in
                    tk_sgemm(
                        pool, false, false, Int64(n), Int64(w.rank), Int64(lin.rows), 1, dy, Int64(lin.rows),
                        b.baseAddress, Int64(w.rank),
                        0, loraTmp, Int64(w.rank))
                    tk_sgemm(
                        pool, false, false, Int64(n), Int64(lin.cols), Int64(w.rank), use.adapter.scale * use.weight,
                        loraTmp, Int64(w.rank),
                        a.baseAddress, Int64(lin.cols), 1, dx, Int64(lin.cols))
                }
            }
        }
        guard let s = tr.slot(layer: layer, target: target) else { return }
        let r = tr.rank
        // t = dY·B  [n × r]
        tk_sgemm(
            pool, false, false, Int64(n), Int64(r), Int64(lin.rows), 1, dy, Int64(lin.rows), tr.params + s.b, Int64(r),
            0, loraTmp, Int64(r))
        // dB[out × r] += s · dYᵀ·u
        tk_sgemm(
            pool, true, false, Int64(lin.rows), Int64(r), Int64(n), tr.scale, dy, Int64(lin.rows), u, Int64(r), 1,
            tr.grads + s.b, Int64(r))
        // dA[r × in] += s · tᵀ·X
        tk_sgemm(
            pool, true, false, Int64(r), Int64(lin.cols), Int64(n), tr.scale, loraTmp, Int64(r), x, Int64(lin.cols), 1,
            tr.grads + s.a, Int64(lin.cols))
        // dX += s · t·A
        tk_sgemm(
            pool, false, false, Int64(n), Int64(lin.cols), Int64(r), tr.scale, loraTmp, Int64(r), tr.params + s.a,
            Int64(lin.cols), 1, dx, Int64(lin.cols))
    }
}
