import CTailorKernels
import Foundation
import TailorEngine

/// One transformer block, forward (recording what the backward pass needs) and backward.
extension TrainingGraph {
    private func input(_ l: Int) -> UnsafeMutablePointer<Float> { residual + l * maxTokens * config.embeddingLength }

    /// Block `l`: reads its input from `residual[l]`, writes its output to `residual[l + 1]`.
    func blockForward(_ l: Int, acts a: BlockActivations) {
        let c = config, d = c.embeddingLength, n = tokenCount, w = model.weights.blocks[l]
        let x = input(l), out = input(l + 1)
        let r = trainable?.rank ?? 1
        let local = c.isLocalLayer(l)
        let rope = local ? ropeLocal : ropeGlobal
        w.attnNorm.withUnsafeBufferPointer { nw in
            for i in 0..<n {
                a.rstd1[i] = VectorOps.rmsNorm(x + i * d, nw.baseAddress!, a.xn1 + i * d, n: d, eps: c.rmsEpsilon)
            }
        }
        linearForward(w.q, layer: l, target: .q, x: a.xn1, y: a.q, n: n, u: a.u(.q, tokens: maxTokens, rank: r))
        linearForward(w.k, layer: l, target: .k, x: a.xn1, y: a.k, n: n, u: a.u(.k, tokens: maxTokens, rank: r))
        linearForward(w.v, layer: l, target: .v, x: a.xn1, y: a.v, n: n, u: a.u(.v, tokens: maxTokens, rank: r))
        if let b = w.qBias { b.withUnsafeBufferPointer { VectorOps.addBias(a.q, $0.baseAddress!, rows: n, n: c.qDim) } }
        if let b = w.kBias {
            b.withUnsafeBufferPointer { VectorOps.addBias(a.k, $0.baseAddress!, rows: n, n: c.kvDim) }
        }
        if let b = w.vBias {
            b.withUnsafeBufferPointer { VectorOps.addBias(a.v, $0.baseAddress!, rows: n, n: c.kvDim) }
        }
        if let qn = w.qNorm, let kn = w.kNorm {
            a.qPre.update(from: a.q, count: n * c.qDim)
            a.kPre.update(from: a.k, count: n * c.kvDim)
            qn.withUnsafeBufferPointer { qw in
                for h in 0..<(n * c.headCount) {
                    a.rstdQ[h] = VectorOps.rmsNorm(
                        a.qPre + h * c.headDim, qw.baseAddress!, a.q + h * c.headDim, n: c.headDim, eps: c.rmsEpsilon)
                }
            }
            kn.withUnsafeBufferPointer { kw in
                for h in 0..<(n * c.kvHeadCount) {
                    a.rstdK[h] = VectorOps.rmsNorm(
                        a.kPre + h * c.headDim, kw.baseAddress!, a.k + h * c.headDim, n: c.headDim, eps: c.rmsEpsilon)
                }
            }
        }
        for i in 0..<n where c.usesRope(l) {
            let pos = position(i)
            rope.apply(a.q + i * c.qDim, heads: c.headCount, headDim: c.headDim, pos: pos, style: c.ropeStyle)
            rope.apply(a.k + i * c.kvDim, heads: c.kvHeadCount, headDim: c.headDim, pos: pos, style: c.ropeStyle)
        }
        attentionForward(a, n: n, window: local ? c.slidingWindow : 0)
        linearForward(w.o, layer: l, target: .o, x: a.att, y: a.oOut, n: n, u: a.u(.o, tokens: maxTokens, rank: r))
        if let pn = w.postAttnNorm {
            pn.withUnsafeBufferPointer { nw in
                for i in 0..<n {
                    a.rstdO[i] = VectorOps.rmsNorm(
                        a.oOut + i * d, nw.baseAddress!, a.xMid + i * d, n: d, eps: c.rmsEpsilon)
                }
            }
            VectorOps.add(a.xMid, x, count: n * d)
        } else {
            for i in 0..<(n * d) { a.xMid[i] = x[i] + a.oOut[i] }
        }
        w.ffnNorm.withUnsafeBufferPointer { nw in
            for i in 0..<n {
                a.rstd2[i] = VectorOps.rmsNorm(a.xMid + i * d, nw.baseAddress!, a.xn2 + i * d, n: d, eps: c.rmsEpsilon)
            }
        }
        switch w.feedForward {
        case let .dense(gate, up, down):
            linearForward(
                gate, layer: l, target: .gate, x: a.xn2, y: a.gate, n: n, u: a.u(.gate, tokens: maxTokens, rank: r))
            linearForward(up, layer: l, target: .up, x: a.xn2, y: a.up, n: n, u: a.u(.up, tokens: maxTokens, rank: r))
            VectorOps.gatedActivation(a.gate, a.up, into: a.hidden, count: n * c.feedForwardLength, gelu: c.usesGELU)
            linearForward(
                down, layer: l, target: .down, x: a.hidden, y: a.downOut, n: n,
                u: a.u(.down, tokens: maxTokens, rank: r))
        case let .experts(e):
            expertsForward(e, acts: a)
        }
        if let pn = w.postFFNNorm {
            pn.withUnsafeBufferPointer { nw in
                for i in 0..<n {
                    a.rstdD[i] = VectorOps.rmsNorm(
                        a.downOut + i * d, nw.baseAddress!, out + i * d, n: d, eps: c.rmsEpsilon)
                }
            }
            VectorOps.add(out, a.xMid, count: n * d)
        } else {
            for i in 0..<(n * d) { out[i] = a.xMid[i] + a.downOut[i] }
        }
    }

    /// Block `l` backward: `dx` holds the gradient of the block's output and leaves holding
    /// the gradient of its input; the trainable adapter's gradients accumulate.
    func blockBackward(_ l: Int, acts a: BlockActivations, trainable tr: TrainableLoRA) {
        feedForwardBackward(l, acts: a, trainable: tr)
        attentionBranchBackward(l, acts: a, trainable: tr)
    }

    /// out = xMid + post(down(act(gate) ⊙ up)) (or a mixture's experts): from the output's
    /// gradient in `dx` to xMid's (the residual's and the branch's, summed in `dx`).
    private func feedForwardBackward(_ l: Int, acts a: BlockActivations, trainable tr: TrainableLoRA) {
        let c = config, d = c.embeddingLength, n = tokenCount, w = model.weights.blocks[l], r = tr.rank
        let dDown = postNormBackward(w.postFFNNorm, x: a.downOut, rstd: a.rstdD, n: n)
        switch w.feedForward {
        case let .dense(gate, up, down):
            linearBackward(
                down, layer: l, target: .down, x: a.hidden, u: a.u(.down, tokens: maxTokens, rank: r), dy: dDown,
                dx: dhidden, n: n, accumulate: false, trainable: tr)
            BackpropOps.gatedActivationBackward(
                a.gate, a.up, dh: dhidden, dg: dgate, du: dup, count: n * c.feedForwardLength, gelu: c.usesGELU)
            linearBackward(
                gate, layer: l, target: .gate, x: a.xn2, u: a.u(.gate, tokens: maxTokens, rank: r), dy: dgate,
                dx: dxn, n: n, accumulate: false, trainable: tr)
            linearBackward(
                up, layer: l, target: .up, x: a.xn2, u: a.u(.up, tokens: maxTokens, rank: r), dy: dup, dx: dxn,
                n: n, accumulate: true, trainable: tr)
        case let .experts(e):
            expertsBackward(e, acts: a, dy: dDown)
        }
        normBackward(w.ffnNorm, x: a.xMid, rstd: a.rstd2, dy: dxn, dx: dx, rows: n, width: d, accumulate: true)
    }

    /// xMid = x + post(o(attention(q, k, v))): from xMid's gradient in `dx` to the block
    /// input's, through o, the attention, RoPE, QK-norm and the q, k, v projections.
    private func attentionBranchBackward(_ l: Int, acts a: BlockActivations, trainable tr: TrainableLoRA) {
        let c = config, d = c.embeddingLength, n = tokenCount, w = model.weights.blocks[l], r = tr.rank
        let dO = postNormBackward(w.postAttnNorm, x: a.oOut, rstd: a.rstdO, n: n)
        linearBackward(
            w.o, layer: l, target: .o, x: a.att, u: a.u(.o, tokens: maxTokens, rank: r), dy: dO, dx: datt,
            n: n, accumulate: false, trainable: tr)
        attentionBackward(a, n: n)
        ropeBackward(layer: l, n: n)
        if let qn = w.qNorm, let kn = w.kNorm { qkNormBackward(a, qNorm: qn, kNorm: kn, n: n) }
        linearBackward(
            w.q, layer: l, target: .q, x: a.xn1, u: a.u(.q, tokens: maxTokens, rank: r), dy: dq, dx: dxn,
            n: n, accumulate: false, trainable: tr)
        linearBackward(
            w.k, layer: l, target: .k, x: a.xn1, u: a.u(.k, tokens: maxTokens, rank: r), dy: dk, dx: dxn,
            n: n, accumulate: true, trainable: tr)
        linearBackward(
            w.v, layer: l, target: .v, x: a.xn1, u: a.u(.v, tokens: maxTokens, rank: r), dy: dv, dx: dxn,
            n: n, accumulate: true, trainable: tr)
        normBackward(w.attnNorm, x: input(l), rstd: a.rstd1, dy: dxn, dx: dx, rows: n, width: d, accumulate: true)
    }

    /// The gradient entering a branch's last projection: `dx` itself, or (Gemma's post-norm)
    /// its gradient through the norm, in `dtmp`.
    private func postNormBackward(
        _ norm: [Float]?, x: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>, n: Int
    )
        -> UnsafePointer<Float>
    {
        guard let norm else { return UnsafePointer(dx) }
        normBackward(
            norm, x: x, rstd: rstd, dy: dx, dx: dtmp, rows: n, width: config.embeddingLength, accumulate: false)
        return UnsafePointer(dtmp)
    }

    /// dq and dk back through RoPE (the inverse rotation at each row's position; nothing in a
    /// NoPE layer).
    private func ropeBackward(layer l: Int, n: Int) {
        let c = config, rope = c.isLocalLayer(l) ? ropeLocal : ropeGlobal
        for i in 0..<n where c.usesRope(l) {
            let pos = position(i)
            rope.apply(
                dq + i * c.qDim, heads: c.headCount, headDim: c.headDim, pos: pos, style: c.ropeStyle, inverse: true)
            rope.apply(
                dk + i * c.kvDim, heads: c.kvHeadCount, headDim: c.headDim, pos: pos, style: c.ropeStyle, inverse: true)
        }
    }

    /// dq and dk back through the per-head QK-norm (Gemma 3); the norm's gradient goes through
    /// `dxn`, which is free here.
    private func qkNormBackward(_ a: BlockActivations, qNorm: [Float], kNorm: [Float], n: Int) {
        let c = config
        normBackward(
            qNorm, x: a.qPre, rstd: a.rstdQ, dy: dq, dx: dxn, rows: n * c.headCount, width: c.headDim, accumulate: false
        )
        dq.update(from: dxn, count: n * c.qDim)
        normBackward(
            kNorm, x: a.kPre, rstd: a.rstdK, dy: dk, dx: dxn, rows: n * c.kvHeadCount, width: c.headDim,
            accumulate: false)
        dk.update(from: dxn, count: n * c.kvDim)
    }

    /// `rows` rows of `width` values, each normed with weight `norm` in the forward pass: dx
    /// (+)= the gradient of that norm at `x` given `dy`, row by row (`rstd` per row).
    private func normBackward(
        _ norm: [Float], x: UnsafePointer<Float>, rstd: UnsafePointer<Float>, dy: UnsafePointer<Float>,
        dx: UnsafeMutablePointer<Float>, rows: Int, width: Int, accumulate: Bool
    ) {
        norm.withUnsafeBufferPointer { w in
            for i in 0..<rows {
                BackpropOps.rmsNormBackward(
                    x: x + i * width, w: w.baseAddress!, rstd: rstd[i], dy: dy + i * width, dx: dx + i * width,
                    n: width,
                    accumulate: accumulate)
            }
        }
    }

    /// Row `i`'s position: its index, less the hidden gap for a packed pair's rejected rows.
    @inline(__always)
    func position(_ i: Int) -> Int {
        guard let b = branch, i >= b.hiddenEnd else { return i }
        return i - (b.hiddenEnd - b.hiddenStart)
    }

    /// Causal attention of the block's n rows into `a.att`, keeping the probabilities
    /// ([row][head][key], n keys per row) for the backward pass. A packed pair's rejected rows
    /// attend to the shared prefix and themselves only: their keys and values are gathered
    /// into one contiguous history (the kernel attends to a range of cache rows), and their
    /// probabilities moved back to the packed key columns, zero over the hidden chosen rows.
    func attentionForward(_ a: BlockActivations, n: Int, window: Int) {
        let c = config, heads = c.headCount
        let front = branch?.hiddenEnd ?? n
        tk_attention(
            pool, a.q, Int64(c.qDim), Int32(front), 0, a.k, a.v, Int64(c.kvDim), Int32(heads), Int32(c.kvHeadCount),
            Int32(c.headDim), c.attentionScale, c.attentionSoftcap, Int32(window), a.att, Int64(c.qDim), a.probs,
            Int64(n), attScratch)
        guard let b = branch, front < n else { return }
        let shared = b.hiddenStart, gap = b.hiddenEnd - b.hiddenStart, tail = n - front
        branchK.update(from: a.k, count: shared * c.kvDim)
        branchV.update(from: a.v, count: shared * c.kvDim)
        (branchK + shared * c.kvDim).update(from: a.k + front * c.kvDim, count: tail * c.kvDim)
        (branchV + shared * c.kvDim).update(from: a.v + front * c.kvDim, count: tail * c.kvDim)
        let probs = a.probs + front * heads * n
        tk_attention(
            pool, a.q + front * c.qDim, Int64(c.qDim), Int32(tail), Int64(shared), branchK, branchV, Int64(c.kvDim),
            Int32(heads), Int32(c.kvHeadCount), Int32(c.headDim), c.attentionScale, c.attentionSoftcap, Int32(window),
            a.att + front * c.qDim, Int64(c.qDim), probs, Int64(n), attScratch)
        // Gathered key column shared + j is packed column front + j.
        for r in 0..<tail {
            for h in 0..<heads {
                let row = probs + (r * heads + h) * n
                memmove(row + front, row + shared, (r + 1) * MemoryLayout<Float>.size)  // may overlap
                (row + shared).update(repeating: 0, count: gap)
            }
        }
    }

    /// From `datt` (the attention output's gradient) to dq, dk, dv, head by head with sgemm:
    /// dP = dO·Vᵀ, dV += Pᵀ·dO, dS = P ⊙ (dP − rowsum(dP ⊙ P)), dQ = s·dS·K, dK += s·dSᵀ·Q.
    /// Under Gemma 2's soft-cap the scores are recomputed (S = s·Q·Kᵀ, capped) and dS takes
    /// the cap's derivative, 1 − (capped/c)²; the probabilities of a packed pair's hidden
    /// columns are 0, so their recomputed scores never count.
    func attentionBackward(_ a: BlockActivations, n: Int) {
        let c = config, hd = c.headDim, heads = c.headCount, group = c.headCount / c.kvHeadCount
        let s = c.attentionScale, cap = c.attentionSoftcap
        dk.update(repeating: 0, count: n * c.kvDim)
        dv.update(repeating: 0, count: n * c.kvDim)
        let ldP = Int64(heads * n)
        for h in 0..<heads {
            let g = h / group
            let qh = a.q + h * hd, kg = a.k + g * hd, vg = a.v + g * hd
            let doh = datt + h * hd
            let ph = a.probs + h * n  // row i at ph + i·heads·n
            // dP[n × n] = dO_h · V_gᵀ
            tk_sgemm(
                pool, false, true, Int64(n), Int64(n), Int64(hd), 1, doh, Int64(c.qDim), vg, Int64(c.kvDim), 0, dP,
                Int64(n))
            // dV_g += P_hᵀ · dO_h
            tk_sgemm(
                pool, true, false, Int64(n), Int64(hd), Int64(n), 1, ph, ldP, doh, Int64(c.qDim), 1, dv + g * hd,
                Int64(c.kvDim))
            if cap > 0 {
                // S[n × n] = s · Q_h · K_gᵀ, capped: the scores the forward pass softmaxed
                tk_sgemm(
                    pool, false, true, Int64(n), Int64(n), Int64(hd), s, qh, Int64(c.qDim), kg, Int64(c.kvDim), 0,
                    cappedScores, Int64(n))
                VectorOps.softcap(cappedScores, cap: cap, count: n * n)
            }
            // dS = P ⊙ (dP − Σ_j dP⊙P), in place in dP (masked entries have P = 0)
            for i in 0..<n {
                let prow = ph + i * heads * n, drow = dP + i * n
                var dot: Float = 0
                for j in 0...i { dot += prow[j] * drow[j] }
                for j in 0...i { drow[j] = prow[j] * (drow[j] - dot) }
                for j in (i + 1)..<max(i + 1, n) { drow[j] = 0 }
                if cap > 0 { VectorOps.softcapBackward(drow, capped: cappedScores + i * n, cap: cap, count: i + 1) }
            }
            // dQ_h = s · dS · K_g
            tk_sgemm(
                pool, false, false, Int64(n), Int64(hd), Int64(n), s, dP, Int64(n), kg, Int64(c.kvDim), 0, dq + h * hd,
                Int64(c.qDim))
            // dK_g += s · dSᵀ · Q_h
            tk_sgemm(
                pool, true, false, Int64(n), Int64(hd), Int64(n), s, dP, Int64(n), qh, Int64(c.qDim), 1, dk + g * hd,
                Int64(c.kvDim))
        }
    }
}
