import CTailorKernels
import Foundation
import TailorEngine

/// Why a training step could not run.
public enum TrainingError: Error, Equatable, Sendable, CustomStringConvertible {
    case sequenceTooLong(tokens: Int, capacity: Int)
    case noTargets
    case invalidToken(Int32)
    case rankTooLarge(rank: Int, capacity: Int)
    case badHyperparameter(String)
    case emptyDataset(String)

    public var description: String {
        switch self {
        case let .sequenceTooLong(t, c): return "a training sequence has \(t) tokens; this graph holds \(c)"
        case .noTargets: return "a training sequence has no completion tokens to learn"
        case let .invalidToken(t): return "token id \(t) is outside the vocabulary"
        case let .rankTooLarge(r, c): return "LoRA rank \(r) exceeds the graph's \(c)"
        case let .badHyperparameter(m): return "hyperparameter: \(m)"
        case let .emptyDataset(m): return "no training data: \(m)"
        }
    }
}

/// The forward and backward pass of a frozen (possibly quantized) model with LoRA adapters,
/// giving the gradients of the trainable adapter's factors.
///
/// One sequence at a time: `forward` returns the log-probabilities of its completion tokens
/// (the tokens from `targetStart` on, each predicted from the ones before; the prompt is not
/// learned), and `backward(scale:)` adds scale · ∇(Σ log p) to the trainable adapter's
/// gradients. A batch is a sum of such calls. A DPO pair is one call too (`forward(pair:)`):
/// its shared prompt once, then both completions, the rejected one blind to the chosen one.
/// The base weights stay in their GGUF blocks and are dequantized a tile at a time
/// (dx = Wᵀ·dy uses the same tiles). Frozen adapters (the task adapter under a user's) apply
/// in both passes.
///
/// Memory is planned once for `maxTokens`: per block either the full activations, or — with
/// `checkpointing` — only the block inputs, recomputing each block's activations during the
/// backward pass (one extra forward of compute for memory independent of depth).
public final class TrainingGraph {
    public let model: Model
    public let config: ModelConfig
    /// Longest sequence.
    public let maxTokens: Int
    /// Largest trainable rank.
    public let maxRank: Int
    /// Keep only block inputs and recompute activations in the backward pass.
    public let checkpointing: Bool
    public let threads: Int
    /// How the frozen weights' forward products run, whatever the sequence's length, so that a
    /// row's result never depends on its neighbours (DPO's references, scored in other batches,
    /// must match the policy's first forward). The transposed products of the backward pass
    /// (dx = Wᵀ·dy) take the bf16 GEMM on the bf16 path and f32 sgemm on the others: their sums
    /// run down the weights' columns, across the blocks the integer kernels dot.
    public let forwardPath: PrefillPath

    let pool: OpaquePointer  // tk_pool; destroyed in deinit
    let arena = ScratchArena()
    let ropeGlobal: RopeTable
    let ropeLocal: RopeTable
    let tileRows = 256
    let acts: [BlockActivations]  // layerCount sets, or 1 with checkpointing
    let residual: UnsafeMutablePointer<Float>  // (layers + 1) × T × d   block inputs; the last is the final residual
    let xnF: UnsafeMutablePointer<Float>  // T × d      output-normed rows of the target positions
    let rstdF: UnsafeMutablePointer<Float>  // T
    let logits: UnsafeMutablePointer<Float>  // T × vocab  target rows' logits, then their gradients
    // Backward scratch.
    let dx: UnsafeMutablePointer<Float>  // T × d      gradient of the residual stream
    let dtmp: UnsafeMutablePointer<Float>  // T × d
    let dxn: UnsafeMutablePointer<Float>  // T × max(d, qDim)
    let dq: UnsafeMutablePointer<Float>  // T × qDim
    let dk: UnsafeMutablePointer<Float>  // T × kvDim
    let dv: UnsafeMutablePointer<Float>  // T × kvDim
    let datt: UnsafeMutablePointer<Float>  // T × qDim
    let dgate: UnsafeMutablePointer<Float>  // T × ffn
    let dup: UnsafeMutablePointer<Float>  // T × ffn
    let dhidden: UnsafeMutablePointer<Float>  // T × ffn
    let routerLogits: UnsafeMutablePointer<Float>  // T × experts  a mixture's router logits, then their gradients
    let expertRows: UnsafeMutablePointer<Float>  // T × d   one expert's input (or output-gradient) rows, gathered
    let expertOut: UnsafeMutablePointer<Float>  // T × d   its outputs (or input gradients)
    let routeGradient: UnsafeMutablePointer<Float>  // T × used   ∂L/∂(each slot's weight)
    let dP: UnsafeMutablePointer<Float>  // T × T      one head's probability gradient, then its score gradient
    let cappedScores: UnsafeMutablePointer<Float>  // T × T  one head's soft-capped scores (1 float without a cap)
    let cappedLogits: UnsafeMutablePointer<Float>  // vocab  one target row's soft-capped logits (1 without)
    let loraTmp: UnsafeMutablePointer<Float>  // T × maxAdapterRank   dy·B of an adapted projection
    let tiles: UnsafeMutablePointer<Float>  // threads × tileRows × maxCols
    let partial: UnsafeMutablePointer<Float>  // threads × T × maxCols   per-thread sums of Wᵀ·dy
    let attScratch: UnsafeMutablePointer<Float>  // threads × group heads × T
    let branchK: UnsafeMutablePointer<Float>  // T × kvDim  a packed pair's shared-prefix + rejected keys, gathered
    let branchV: UnsafeMutablePointer<Float>  // T × kvDim  and values
    /// The forward products' scratch: `tiles`, T × maxCols bf16 activations, and tk_matmul's
    /// int16 activations.
    let scratch: ProductScratch
    let loraScratchRank: Int

    /// Called before every block of the forward and backward passes: where a daemon pauses
    /// training while interactive decoding runs, so the two contend for at most one block.
    public var pausePoint: (() -> Void)?

    // The last forward call.
    var tokenCount = 0
    /// Each target's row: the position whose output predicts it.
    var targetRows: [Int] = []
    var targets: [Int32] = []
    /// Targets before this index take the chosen scale in `backward`, the rest the rejected one.
    var chosenTargetCount = 0
    /// A packed pair's rejected branch: rows from `hiddenEnd` on do not see keys
    /// `hiddenStart..<hiddenEnd` (the chosen completion) and sit at positions shifted back by
    /// that gap. Nil for one sequence.
    var branch: (hiddenStart: Int, hiddenEnd: Int)?
    var frozen: [AdapterUse] = []
    var trainable: TrainableLoRA?

    /// Plans a graph for sequences of up to `maxTokens` tokens.
    /// - Parameters:
    ///   - maxRank: largest rank of the trainable adapter (frozen adapters may be up to 64).
    ///   - threads: the pool's threads, the caller included.
    ///   - prefill: the forward products' path (`forwardPath`): measured on the model unless
    ///     forced.
    public init(
        model: Model, maxTokens: Int, maxRank: Int = 64, checkpointing: Bool = false, threads: Int? = nil,
        prefill: PrefillPathSetting = .processDefault
    ) {
        self.model = model
        config = model.config
        let c = config
        self.maxTokens = max(2, min(maxTokens, c.contextLength))
        self.maxRank = max(1, maxRank)
        self.checkpointing = checkpointing
        self.threads = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        forwardPath = prefill.path(for: model, threads: self.threads)
        pool = tk_pool_create(Int32(self.threads))
        (ropeGlobal, ropeLocal) = RopeTable.tables(for: model, maxContext: self.maxTokens)
        let t = self.maxTokens, d = c.embeddingLength, f = c.feedForwardLength
        let maxCols = max(d, c.qDim, f)
        let arena = self.arena, rank = self.maxRank
        acts = (0..<(checkpointing ? 1 : c.layerCount)).map { _ in
            BlockActivations(arena: arena, config: c, tokens: t, rank: rank)
        }
        residual = arena.floats((c.layerCount + 1) * t * d)
        xnF = arena.floats(t * d); rstdF = arena.floats(t)
        logits = arena.floats(t * c.vocabSize)
        dx = arena.floats(t * d); dtmp = arena.floats(t * d); dxn = arena.floats(t * max(d, c.qDim))
        dq = arena.floats(t * c.qDim); dk = arena.floats(t * c.kvDim); dv = arena.floats(t * c.kvDim)
        datt = arena.floats(t * c.qDim)
        dgate = arena.floats(t * f); dup = arena.floats(t * f); dhidden = arena.floats(t * f)
        let moe = c.isMixtureOfExperts
        routerLogits = arena.floats(moe ? t * c.expertCount : 1)
        expertRows = arena.floats(moe ? t * d : 1); expertOut = arena.floats(moe ? t * d : 1)
        routeGradient = arena.floats(moe ? t * c.expertsUsed : 1)
        dP = arena.floats(t * t)
        cappedScores = arena.floats(c.attentionSoftcap > 0 ? t * t : 1)
        cappedLogits = arena.floats(c.finalLogitSoftcap > 0 ? c.vocabSize : 1)
        loraScratchRank = 64
        loraTmp = arena.floats(t * loraScratchRank)
        tiles = arena.floats(self.threads * tileRows * maxCols)
        partial = arena.floats(self.threads * t * maxCols)
        attScratch = arena.floats(
            self.threads * Int(tk_attention_scratch_rows(Int32(c.headCount), Int32(c.kvHeadCount))) * t)
        branchK = arena.floats(t * c.kvDim); branchV = arena.floats(t * c.kvDim)
        let quantized = arena.bytes(
            model.weights.allLinears.map {
                tk_matmul_scratch_size(Int32($0.type.rawValue), Int64($0.cols), Int64(t))
            }.max() ?? 0)
        let halves = arena.bytes(t * maxCols * 2).bindMemory(to: UInt16.self, capacity: t * maxCols)
        scratch = ProductScratch(pool: pool, tiles: tiles, tileRows: tileRows, quantized: quantized, halves: halves)
    }

    /// Y[n × rows] = X·Wᵀ over the frozen weights, by `forwardPath` (see there).
    func frozenProduct(_ lin: Linear, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int) {
        scratch.multiply(lin, by: forwardPath, x: x, n: n, y: y)
    }

    /// dX[n × cols] (+)= dY·W over the frozen weights (dY's rows `lddy` apart), by the path
    /// `forwardPath` gives the backward pass (see there).
    func frozenTransposedProduct(
        _ lin: Linear, dy: UnsafePointer<Float>, lddy: Int, n: Int, dx: UnsafeMutablePointer<Float>,
        accumulate: Bool
    ) {
        let type = Int32(lin.type.rawValue), rows = Int64(lin.rows), cols = Int64(lin.cols)
        if forwardPath == .bfloat16 {
            tk_matmul_transposed_bf16(
                pool, type, lin.data, rows, cols, dy, Int64(lddy), Int64(n), dx, cols, tiles, Int64(tileRows),
                partial, accumulate)
        } else {
            tk_matmul_transposed(
                pool, type, lin.data, rows, cols, dy, Int64(lddy), Int64(n), dx, cols, tiles, Int64(tileRows),
                partial, accumulate)
        }
    }

    deinit { tk_pool_destroy(pool) }

    /// Runs the forward pass of `tokens` and returns the log-probability of each completion
    /// token (`tokens[targetStart...]`, each given the tokens before it).
    /// - Parameters:
    ///   - frozen: adapters applied and not trained (e.g. the task adapter under a user's).
    ///   - trainable: the adapter whose gradients `backward` computes; nil for scoring only.
    public func forward(
        tokens: [Int32], targetStart: Int, frozen: [AdapterUse] = [], trainable: TrainableLoRA?
    ) throws -> [Float] {
        guard targetStart >= 1, targetStart < tokens.count else { throw TrainingError.noTargets }
        return try run(
            tokens: tokens, targetRows: Array((targetStart - 1)..<(tokens.count - 1)),
            targets: Array(tokens[targetStart...]),
            frozen: frozen, trainable: trainable)
    }

    /// The forward pass of `tokens` with the given targets: checks, records the call, runs
    /// every block and returns each target's log-probability.
    func run(
        tokens: [Int32], targetRows: [Int], targets: [Int32], chosenTargets: Int? = nil,
        branch: (hiddenStart: Int, hiddenEnd: Int)? = nil, frozen: [AdapterUse], trainable: TrainableLoRA?
    ) throws -> [Float] {
        let c = config, d = c.embeddingLength, n = tokens.count
        guard n <= maxTokens, targets.count <= maxTokens else {
            throw TrainingError.sequenceTooLong(tokens: max(n, targets.count), capacity: maxTokens)
        }
        guard !targets.isEmpty else { throw TrainingError.noTargets }
        for t in tokens where t < 0 || Int(t) >= c.vocabSize { throw TrainingError.invalidToken(t) }
        if let tr = trainable, tr.rank > maxRank { throw TrainingError.rankTooLarge(rank: tr.rank, capacity: maxRank) }
        for use in frozen where use.adapter.maxRank > loraScratchRank {
            throw TrainingError.rankTooLarge(rank: use.adapter.maxRank, capacity: loraScratchRank)
        }
        if c.isMixtureOfExperts {
            for use in frozen { try use.adapter.validate(for: c) }
            let refusal = trainable?.slots.lazy.compactMap {
                $0.key.target.expertRefusal(architecture: c.architecture.rawValue, expertCount: c.expertCount)
            }.first
            if let refusal { throw TrainingError.badHyperparameter(refusal) }
        }
        tokenCount = n
        self.targetRows = targetRows
        self.targets = targets
        chosenTargetCount = chosenTargets ?? targets.count
        self.branch = branch
        self.frozen = frozen
        self.trainable = trainable

        let emb = model.weights.tokenEmbedding
        for (i, t) in tokens.enumerated() {
            emb.dequantize(rows: Int(t)..<(Int(t) + 1), into: residual + i * d)
            if c.embeddingScale != 1 { VectorOps.scale(residual + i * d, by: c.embeddingScale, count: d) }
        }
        for l in 0..<c.layerCount {
            pausePoint?()
            blockForward(l, acts: acts[checkpointing ? 0 : l])
        }
        return outputForward()
    }

    /// Adds `scale` · ∇(Σ log p of the completion tokens) of the last forward call to the
    /// trainable adapter's gradients. For a mean cross-entropy over N tokens, scale = −1/N.
    public func backward(scale: Float) {
        backward(chosenScale: scale, rejectedScale: scale)
    }

    /// Adds ∇(chosenScale · Σ log p⁺ + rejectedScale · Σ log p⁻) of the last
    /// `forward(pair:)` to the trainable adapter's gradients: one backward pass for both
    /// completions of a DPO pair. After a one-sequence forward both scales apply to it alike.
    public func backward(chosenScale: Float, rejectedScale: Float) {
        guard let tr = trainable else { return }
        let c = config
        outputBackward(chosenScale: chosenScale, rejectedScale: rejectedScale)
        for l in stride(from: c.layerCount - 1, through: 0, by: -1) {
            let a = acts[checkpointing ? 0 : l]
            pausePoint?()
            if checkpointing { blockForward(l, acts: a) }
            blockBackward(l, acts: a, trainable: tr)
        }
    }

    // MARK: Output layer

    /// Log-softmax of the target rows' logits, picking each target token's.
    func outputForward() -> [Float] {
        let c = config, d = c.embeddingLength, v = c.vocabSize
        let xL = residual + c.layerCount * maxTokens * d
        let nT = targets.count
        model.weights.outputNorm.withUnsafeBufferPointer { w in
            for i in 0..<nT {
                let p = targetRows[i]
                rstdF[i] = VectorOps.rmsNorm(xL + p * d, w.baseAddress!, xnF + i * d, n: d, eps: c.rmsEpsilon)
            }
        }
        let out = model.weights.output
        frozenProduct(out, x: xnF, y: logits, n: nT)
        if c.finalLogitSoftcap > 0 { VectorOps.softcap(logits, cap: c.finalLogitSoftcap, count: nT * v) }
        var logps = [Float](repeating: 0, count: nT)
        for i in 0..<nT {
            let row = logits + i * v
            logps[i] = row[Int(targets[i])] - tk_logsumexp(row, Int64(v), nil)
        }
        return logps
    }

    /// dlogits = scale·(onehot − softmax), through the soft-cap where the model has one, then
    /// back through the output projection and norm into `dx` (zero at non-target positions; a
    /// row two targets read gets both gradients).
    func outputBackward(chosenScale: Float, rejectedScale: Float) {
        let c = config, d = c.embeddingLength, v = c.vocabSize
        let nT = targets.count
        for i in 0..<nT {
            let scale = i < chosenTargetCount ? chosenScale : rejectedScale
            let row = logits + i * v
            if c.finalLogitSoftcap > 0 { cappedLogits.update(from: row, count: v) }
            tk_exp_shift_scale(row, Int64(v), tk_logsumexp(row, Int64(v), nil), -scale)
            row[Int(targets[i])] += scale
            if c.finalLogitSoftcap > 0 {
                VectorOps.softcapBackward(row, capped: cappedLogits, cap: c.finalLogitSoftcap, count: v)
            }
        }
        let out = model.weights.output
        frozenTransposedProduct(out, dy: logits, lddy: v, n: nT, dx: dxn, accumulate: false)
        dx.update(repeating: 0, count: tokenCount * d)
        let xL = residual + c.layerCount * maxTokens * d
        model.weights.outputNorm.withUnsafeBufferPointer { w in
            for i in 0..<nT {
                let p = targetRows[i]
                BackpropOps.rmsNormBackward(
                    x: xL + p * d, w: w.baseAddress!, rstd: rstdF[i], dy: dxn + i * d, dx: dx + p * d,
                    n: d, accumulate: true)
            }
        }
    }
}
