import CTailorKernels
import Foundation

/// How activations meet quantized weights.
public enum ComputePrecision: Sendable {
    /// Decode quantizes activations to int16 for integer dot products with the weight blocks.
    case fast
    /// Every product uses f32 activations against dequantized weights: the reference path.
    case exact
}

/// One sequence's tokens in a forward call.
public struct BatchItem: Sendable {
    /// Which KV-cache row this item extends.
    public var sequence: Int
    /// The generated tokens (stop strings' tokens included, EOS excluded).
    public var tokens: [Int32]
    /// Return logits for every token of this item, not only the last.
    public var allLogits: Bool
    /// LoRA adapters applied to this sequence's rows only, e.g. CoPe's user row carries the task
    /// and user adapters while the base row carries the task adapter alone.
    public var adapters: [AdapterUse]

    /// An item appending `tokens` to `sequence`, adapted by `adapters`.
    public init(sequence: Int, tokens: [Int32], allLogits: Bool = false, adapters: [AdapterUse] = []) {
        self.sequence = sequence
        self.tokens = tokens
        self.allLogits = allLogits
        self.adapters = adapters
    }
}

/// Runs a `Model` over batches of sequences, each with its own KV cache row.
///
/// All scratch memory is planned at init for (maxBatchTokens, maxContext) and reused: a forward
/// call allocates nothing. One context serves one task at a time; make one per concurrent user.
/// CoPe decoding runs its user and base rows as two sequences of one batch, so every weight is
/// read once for both.
public final class InferenceContext {
    /// The shared, immutable model.
    public let model: Model
    /// Sequences (rows) with their own cache.
    public let maxSequences: Int
    /// Positions per sequence.
    public let maxContext: Int
    /// Tokens one forward call may carry (the prefill chunk).
    public let maxBatchTokens: Int
    /// Logit rows one forward call may return.
    public let maxLogitRows: Int
    /// Largest LoRA rank a batch item's adapters may have.
    public let maxLoRARank: Int
    /// Threads of this context's pool, the caller included.
    public let threads: Int
    /// Fast integer decode or the exact f32 path; may change between calls.
    public var precision: ComputePrecision
    /// The per-sequence keys and values.
    public let cache: KVCache

    /// Batches with at least this many tokens take the prefill path (`prefillPath`), smaller
    /// ones decode's integer dots, which win there on every host measured.
    /// Measured crossover on 2 threads (`tailor bench -p N -n 0 --gemm-threshold 8|1000`):
    /// integer dots win up to 32 tokens (SmolLM2 Q4_1 pp16: 205 vs 125 tok/s; Qwen-shape Q8_0
    /// pp16: 76 vs 44) and sgemm from 48 (SmolLM2 pp48: 261 vs 215). Short prompts, the
    /// editors' common case, were taking the slow side at 8.
    public var gemmThreshold = InferenceContext.defaultGemmThreshold
    /// `gemmThreshold`'s default.
    public static let defaultGemmThreshold = 40
    /// How batches of `gemmThreshold` rows or more multiply by quantized weights with `.fast`
    /// precision (`.exact` always takes the f32 path): measured on the model at init unless the
    /// setting forces it; may change between calls.
    public var prefillPath: PrefillPath

    private let config: ModelConfig
    private let pool: OpaquePointer  // tk_pool; destroyed in deinit
    private let ropeGlobal: RopeTable
    private let ropeLocal: RopeTable
    private let tileRows: Int

    // Scratch, planned once. Shapes in rows × columns; N = maxBatchTokens.
    private let x: UnsafeMutablePointer<Float>  // N × d      residual stream
    private let xn: UnsafeMutablePointer<Float>  // N × d      normed input of a sub-layer
    private let q: UnsafeMutablePointer<Float>  // N × qDim
    private let k: UnsafeMutablePointer<Float>  // N × kvDim
    private let v: UnsafeMutablePointer<Float>  // N × kvDim
    private let att: UnsafeMutablePointer<Float>  // N × qDim   attention output
    private let tmp: UnsafeMutablePointer<Float>  // N × d      projection output
    private let gate: UnsafeMutablePointer<Float>  // N × ffn    (a mixture's: one expert's rows)
    private let up: UnsafeMutablePointer<Float>  // N × ffn
    private let routerLogits: UnsafeMutablePointer<Float>  // N × experts   (1 float in a dense model)
    private let expertRows: UnsafeMutablePointer<Float>  // N × d   an expert's input rows, gathered
    private let expertOut: UnsafeMutablePointer<Float>  // N × d   its outputs, before their weights
    private let routing: ExpertRouting  // N × used slots; (1 slot in a dense model)
    private let logitBuf: UnsafeMutablePointer<Float>  // maxLogitRows × vocab
    private let attScratch: UnsafeMutablePointer<Float>  // threads × group heads × maxContext
    private let positions: UnsafeMutablePointer<Int>  // N   position of each batch token
    private let logitSource: UnsafeMutablePointer<Int>  // maxLogitRows   batch row of each logit row
    private let loraT: UnsafeMutablePointer<Float>  // N × maxLoRARank   A·x of the rows being adapted
    private let attSeqs: UnsafeMutablePointer<tk_attention_seq>  // N   one per batch item (an item has ≥ 1 token)
    /// Every product's scratch: threads × tileRows × maxCols weight tiles, tk_matmul's int16
    /// activations, and max(N, maxLogitRows) × maxCols bf16 activations.
    private let scratch: ProductScratch
    private var allocations: [UnsafeMutableRawPointer] = []  // every calloc above; freed in deinit
    /// The LoRA spans of the projection being computed, kept between calls so that `project`
    /// does not allocate inside the forward pass (its capacity grows once, to the largest batch).
    private var spans: [(use: AdapterUse, start: Int, rows: Int)] = []

    /// Number of logit rows the last `forward` produced.
    public private(set) var logitRowCount = 0

    /// Plans a context for `model`.
    /// - Parameters:
    ///   - maxSequences: KV cache rows (1 for plain decoding, 2 for CoPe, more for batching users).
    ///   - maxContext: positions per sequence; capped at the model's trained context.
    ///   - maxBatchTokens: tokens per forward call (the prefill chunk).
    ///   - maxLogitRows: logit rows per call; defaults to maxSequences.
    ///   - threads: worker threads including the caller; defaults to the core count.
    public init(
        model: Model, maxSequences: Int = 1, maxContext: Int = 2048, maxBatchTokens: Int = 512,
        maxLogitRows: Int? = nil, threads: Int? = nil, precision: ComputePrecision = .fast,
        maxLoRARank: Int = 64, prefill: PrefillPathSetting = .processDefault
    ) {
        self.model = model
        let c = model.config
        config = c
        self.maxSequences = max(1, maxSequences)
        self.maxContext = max(1, min(maxContext, c.contextLength))
        self.maxBatchTokens = max(1, maxBatchTokens)
        self.maxLogitRows = max(1, maxLogitRows ?? maxSequences)
        self.maxLoRARank = max(1, maxLoRARank)
        self.threads = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        self.precision = precision
        // A context that never sees a prefill-sized batch, or computes exactly, never measures.
        let prefills = precision == .fast && self.maxBatchTokens >= Self.defaultGemmThreshold
        prefillPath = prefills || prefill != .measured ? prefill.path(for: model, threads: self.threads) : .float
        cache = KVCache(
            layers: c.layerCount, maxSequences: self.maxSequences, maxContext: self.maxContext,
            kvHeads: c.kvHeadCount, headDim: c.headDim)
        pool = tk_pool_create(Int32(self.threads))
        (ropeGlobal, ropeLocal) = RopeTable.tables(for: model, maxContext: self.maxContext)

        let n = self.maxBatchTokens, d = c.embeddingLength
        let maxCols = max(d, c.qDim, c.feedForwardLength)
        // Prefill tiles: enough weight rows per sgemm call that packing the activations (which
        // OpenBLAS repeats per call) is amortized: 128 rows, or fewer for small matrices.
        tileRows = 128
        var allocs: [UnsafeMutableRawPointer] = []
        // Zeroed with calloc, so large buffers sized for the worst case (logits of many rows,
        // prefill batches) stay unmapped until a call actually uses them.
        func floats(_ count: Int) -> UnsafeMutablePointer<Float> {
            guard let raw = calloc(max(1, count), MemoryLayout<Float>.size) else {
                fatalError("scratch: out of memory")
            }
            allocs.append(raw)
            return raw.assumingMemoryBound(to: Float.self)
        }
        x = floats(n * d); xn = floats(n * d); tmp = floats(n * d)
        q = floats(n * c.qDim); att = floats(n * c.qDim)
        k = floats(n * c.kvDim); v = floats(n * c.kvDim)
        gate = floats(n * c.feedForwardLength); up = floats(n * c.feedForwardLength)
        let moe = c.isMixtureOfExperts
        routerLogits = floats(moe ? n * c.expertCount : 1)
        expertRows = floats(moe ? n * d : 1); expertOut = floats(moe ? n * d : 1)
        logitBuf = floats(self.maxLogitRows * c.vocabSize)
        loraT = floats(n * self.maxLoRARank)
        let tiles = floats(self.threads * tileRows * maxCols)
        let scoreRows = Int(tk_attention_scratch_rows(Int32(c.headCount), Int32(c.kvHeadCount)))
        attScratch = floats(self.threads * scoreRows * self.maxContext)
        let quantRows = max(n, self.maxLogitRows)  // tk_matmul quantizes 64 of them at a time
        let qbytes =
            model.weights.allLinears.map {
                tk_matmul_scratch_size(Int32($0.type.rawValue), Int64($0.cols), Int64(quantRows))
            }.max() ?? 0
        func raw(_ bytes: Int) -> UnsafeMutableRawPointer {
            guard let p = calloc(1, max(64, bytes)) else { fatalError("scratch: out of memory") }
            allocs.append(p)
            return p
        }
        let quantScratch = raw(qbytes)
        let halves = raw(quantRows * maxCols * MemoryLayout<UInt16>.size).bindMemory(
            to: UInt16.self, capacity: quantRows * maxCols)
        positions = raw(n * MemoryLayout<Int>.size).assumingMemoryBound(to: Int.self)
        logitSource = raw(self.maxLogitRows * MemoryLayout<Int>.size).assumingMemoryBound(to: Int.self)
        attSeqs = raw(n * MemoryLayout<tk_attention_seq>.stride).assumingMemoryBound(to: tk_attention_seq.self)
        routing = ExpertRouting(config: c, rows: n, bytes: raw)
        scratch = ProductScratch(
            pool: pool, tiles: tiles, tileRows: tileRows, quantized: quantScratch, halves: halves)
        allocations = allocs
    }

    deinit {
        for p in allocations { free(p) }
        tk_pool_destroy(pool)
    }

    /// Logits of row `i` (0..<logitRowCount) of the last forward call. Valid until the next call.
    public func logits(row i: Int) -> UnsafeBufferPointer<Float> {
        precondition(i >= 0 && i < logitRowCount)
        return UnsafeBufferPointer(start: logitBuf + i * config.vocabSize, count: config.vocabSize)
    }

    /// Current length of sequence `seq`.
    public func length(of seq: Int) -> Int { cache.lengths[seq] }

    /// Forgets everything in sequence `seq`.
    public func reset(sequence seq: Int) { cache.truncate(sequence: seq, to: 0) }

    /// Y = X·Wᵀ over the batch's rows, then each item's LoRA deltas on its own rows:
    /// Y[item rows] += s · (X·Aᵀ)·Bᵀ, two small sgemms per adapted projection. Adjacent items
    /// using the same adapter at the same weight share one pair of products over all their
    /// rows: CoPe's user and base rows both carry the task adapter, which then costs one call.
    func project(
        _ lin: Linear, _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, rows n: Int,
        layer: Int, target: LoRATarget, items: [BatchItem]
    ) {
        project(lin, input, output, rows: n)
        spans.removeAll(keepingCapacity: true)
        var r0 = 0
        for it in items {
            let rows = it.tokens.count
            defer { r0 += rows }
            for use in it.adapters {
                if let i = spans.lastIndex(where: {
                    $0.use.adapter === use.adapter && $0.use.weight == use.weight && $0.start + $0.rows == r0
                }) {
                    spans[i].rows += rows
                } else {
                    spans.append((use, r0, rows))
                }
            }
        }
        for span in spans {
            let use = span.use
            guard let w = use.adapter.weights[LoRAAdapter.Key(layer: layer, target: target)] else { continue }
            w.a.withUnsafeBufferPointer { a in
                w.b.withUnsafeBufferPointer { b in
                    tk_sgemm(
                        pool, false, true, Int64(span.rows), Int64(w.rank), Int64(lin.cols), 1,
                        input + span.start * lin.cols, Int64(lin.cols), a.baseAddress, Int64(lin.cols), 0, loraT,
                        Int64(w.rank))
                    tk_sgemm(
                        pool, false, true, Int64(span.rows), Int64(lin.rows), Int64(w.rank),
                        use.adapter.scale * use.weight,
                        loraT, Int64(w.rank), b.baseAddress, Int64(w.rank), 1, output + span.start * lin.rows,
                        Int64(lin.rows))
                }
            }
        }
    }

    /// Y = X·Wᵀ over `n` rows of `input` (row length lin.cols) into `output` (row length lin.rows).
    /// Batches of `gemmThreshold` rows or more take `prefillPath` (the float one with `.exact`
    /// precision), smaller ones the integer dots (f32 activations with `.exact`).
    func project(_ lin: Linear, _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, rows n: Int) {
        let exact = precision == .exact
        let path: PrefillPath = n < gemmThreshold ? .integer : exact ? .float : prefillPath
        scratch.multiply(lin, by: path, x: input, n: n, y: output, exact: exact)
    }

    /// Evaluates `items` (one entry per sequence) and appends their tokens to the KV cache.
    /// Logit rows come out item by item: every token of an item with `allLogits`, else its last.
    /// - Returns: the number of logit rows, readable with `logits(row:)`.
    @discardableResult
    public func forward(_ items: [BatchItem]) throws -> Int {
        let (total, nLogits) = try check(items)
        embed(items)
        for l in model.weights.blocks.indices {
            attention(layer: l, items: items, rows: total)
            feedForward(layer: l, items: items, rows: total)
        }
        for it in items { cache.lengths[it.sequence] += it.tokens.count }
        outputLogits(rows: nLogits)
        logitRowCount = nLogits
        return nLogits
    }

    /// Checks a batch before anything changes: distinct sequences, tokens in the vocabulary,
    /// room in each row's cache, adapters that fit, and the batch within the context's
    /// planned sizes. Returns its token and logit-row counts.
    private func check(_ items: [BatchItem]) throws -> (tokens: Int, logitRows: Int) {
        let c = config
        var total = 0, nLogits = 0
        var seen = 0 as UInt64
        for it in items {
            guard it.sequence >= 0, it.sequence < maxSequences else { throw EngineError.invalidSequence(it.sequence) }
            if it.sequence < 64 {
                guard seen & (1 << UInt64(it.sequence)) == 0 else { throw EngineError.invalidSequence(it.sequence) }
                seen |= 1 << UInt64(it.sequence)
            }
            guard !it.tokens.isEmpty else { throw EngineError.emptyInput }
            let need = cache.lengths[it.sequence] + it.tokens.count
            guard need <= maxContext else {
                throw EngineError.contextFull(sequence: it.sequence, needed: need, capacity: maxContext)
            }
            for t in it.tokens where t < 0 || Int(t) >= c.vocabSize {
                throw EngineError.invalidToken(id: t, vocabSize: c.vocabSize)
            }
            for use in it.adapters {
                guard use.adapter.maxRank <= maxLoRARank else {
                    throw EngineError.adapterMismatch(
                        """
                        adapter '\(use.adapter.name)' has rank \(use.adapter.maxRank); this context allows \
                        \(maxLoRARank)
                        """
                    )
                }
                try use.adapter.validate(for: c)
            }
            total += it.tokens.count
            nLogits += it.allLogits ? it.tokens.count : 1
        }
        guard total > 0 else { throw EngineError.emptyInput }
        guard total <= maxBatchTokens else { throw EngineError.batchTooLarge(tokens: total, capacity: maxBatchTokens) }
        guard nLogits <= maxLogitRows else { throw EngineError.batchTooLarge(tokens: nLogits, capacity: maxLogitRows) }
        return (total, nLogits)
    }

    /// Each token's embedding into `x`, its position into `positions`, and which rows give
    /// logits into `logitSource`.
    private func embed(_ items: [BatchItem]) {
        let c = config, d = c.embeddingLength
        var row = 0, lrow = 0
        let emb = model.weights.tokenEmbedding
        for it in items {
            let start = cache.lengths[it.sequence]
            for (j, t) in it.tokens.enumerated() {
                emb.dequantize(rows: Int(t)..<(Int(t) + 1), into: x + row * d)
                if c.embeddingScale != 1 { VectorOps.scale(x + row * d, by: c.embeddingScale, count: d) }
                positions[row] = start + j
                if it.allLogits || j == it.tokens.count - 1 { logitSource[lrow] = row; lrow += 1 }
                row += 1
            }
        }
    }

    /// Block `l`'s attention branch, added into `x`: norm, q/k/v (biases, QK-norm, RoPE unless
    /// the layer is NoPE), every
    /// item's keys and values into its cache row, all items attending in one pool handoff,
    /// then o (and Gemma's post-norm).
    private func attention(layer l: Int, items: [BatchItem], rows total: Int) {
        let c = config, d = c.embeddingLength, w = model.weights.blocks[l]
        let local = c.isLocalLayer(l)
        let rope = local ? ropeLocal : ropeGlobal
        w.attnNorm.withUnsafeBufferPointer { nw in
            for r in 0..<total { VectorOps.rmsNorm(x + r * d, nw.baseAddress!, xn + r * d, n: d, eps: c.rmsEpsilon) }
        }
        project(w.q, xn, q, rows: total, layer: l, target: .q, items: items)
        project(w.k, xn, k, rows: total, layer: l, target: .k, items: items)
        project(w.v, xn, v, rows: total, layer: l, target: .v, items: items)
        if let b = w.qBias {
            b.withUnsafeBufferPointer { VectorOps.addBias(q, $0.baseAddress!, rows: total, n: c.qDim) }
        }
        if let b = w.kBias {
            b.withUnsafeBufferPointer { VectorOps.addBias(k, $0.baseAddress!, rows: total, n: c.kvDim) }
        }
        if let b = w.vBias {
            b.withUnsafeBufferPointer { VectorOps.addBias(v, $0.baseAddress!, rows: total, n: c.kvDim) }
        }
        if let qn = w.qNorm, let kn = w.kNorm {
            qn.withUnsafeBufferPointer { qw in
                for h in 0..<(total * c.headCount) {
                    VectorOps.rmsNorm(
                        q + h * c.headDim, qw.baseAddress!, q + h * c.headDim, n: c.headDim, eps: c.rmsEpsilon)
                }
            }
            kn.withUnsafeBufferPointer { kw in
                for h in 0..<(total * c.kvHeadCount) {
                    VectorOps.rmsNorm(
                        k + h * c.headDim, kw.baseAddress!, k + h * c.headDim, n: c.headDim, eps: c.rmsEpsilon)
                }
            }
        }
        for r in 0..<total where c.usesRope(l) {
            rope.apply(q + r * c.qDim, heads: c.headCount, headDim: c.headDim, pos: positions[r], style: c.ropeStyle)
            rope.apply(k + r * c.kvDim, heads: c.kvHeadCount, headDim: c.headDim, pos: positions[r], style: c.ropeStyle)
        }
        var r0 = 0
        for (i, it) in items.enumerated() {
            let n = it.tokens.count, start = cache.lengths[it.sequence]
            cache.store(
                layer: l, sequence: it.sequence, position: start, count: n, keys: k + r0 * c.kvDim,
                values: v + r0 * c.kvDim)
            attSeqs[i] = tk_attention_seq(
                q: q + r0 * c.qDim, nq: Int32(n), pos0: Int64(start),
                k: cache.base(layer: l, value: false, sequence: it.sequence),
                v: cache.base(layer: l, value: true, sequence: it.sequence), out: att + r0 * c.qDim)
            r0 += n
        }
        tk_attention_seqs(
            pool, attSeqs, Int32(items.count), Int64(c.qDim), Int64(c.headDim), Int64(cache.headStride),
            Int32(c.headCount), Int32(c.kvHeadCount), Int32(c.headDim), c.attentionScale, c.attentionSoftcap,
            Int32(local ? c.slidingWindow : 0), Int64(c.qDim), Int64(maxContext), attScratch)
        project(w.o, att, tmp, rows: total, layer: l, target: .o, items: items)
        addResidual(tmp, postNorm: w.postAttnNorm, rows: total)
    }

    /// Block `l`'s feed-forward branch, added into `x`: norm, gate and up, the gated
    /// activation, down (and Gemma's post-norm); or a mixture's routed experts.
    private func feedForward(layer l: Int, items: [BatchItem], rows total: Int) {
        let c = config, d = c.embeddingLength, w = model.weights.blocks[l]
        w.ffnNorm.withUnsafeBufferPointer { nw in
            for r in 0..<total { VectorOps.rmsNorm(x + r * d, nw.baseAddress!, xn + r * d, n: d, eps: c.rmsEpsilon) }
        }
        switch w.feedForward {
        case let .dense(wGate, wUp, wDown):
            project(wGate, xn, gate, rows: total, layer: l, target: .gate, items: items)
            project(wUp, xn, up, rows: total, layer: l, target: .up, items: items)
            VectorOps.gatedActivation(gate, up, count: total * c.feedForwardLength, gelu: c.usesGELU)
            project(wDown, gate, tmp, rows: total, layer: l, target: .down, items: items)
        case let .experts(e):
            experts(e, rows: total)
        }
        addResidual(tmp, postNorm: w.postFFNNorm, rows: total)
    }

    /// tmp = Σ wₑ·expertₑ(xn) per row over its routed experts. Expert by expert (ascending, as
    /// transformers sums them): gather the rows that chose it, run its MLP on them together,
    /// add each output at its row's weight.
    private func experts(_ e: ExpertWeights, rows total: Int) {
        let c = config, d = c.embeddingLength
        // Exact f32 router products on every path: a rounded product could flip a near tie.
        scratch.multiply(e.router, by: .integer, x: xn, n: total, y: routerLogits, exact: true)
        routing.route(logits: routerLogits, rows: total)
        tmp.update(repeating: 0, count: total * d)
        for ex in 0..<c.expertCount {
            let slots = routing.slots(of: ex)
            guard !slots.isEmpty else { continue }
            routing.gather(xn, width: d, expert: ex, into: expertRows)
            project(e.gate[ex], expertRows, gate, rows: slots.count)
            project(e.up[ex], expertRows, up, rows: slots.count)
            VectorOps.gatedActivation(gate, up, count: slots.count * c.feedForwardLength, gelu: false)
            project(e.down[ex], gate, expertOut, rows: slots.count)
            routing.addBack(expertOut, width: d, expert: ex, into: tmp, weighted: true)
        }
    }

    /// x += branch (normed in place first when the block has a post-norm).
    private func addResidual(_ branch: UnsafeMutablePointer<Float>, postNorm: [Float]?, rows total: Int) {
        let c = config, d = c.embeddingLength
        if let pn = postNorm {
            pn.withUnsafeBufferPointer { nw in
                for r in 0..<total {
                    VectorOps.rmsNorm(branch + r * d, nw.baseAddress!, branch + r * d, n: d, eps: c.rmsEpsilon)
                }
            }
        }
        VectorOps.add(x, branch, count: total * d)
    }

    /// The output norm and the logits of the rows `embed` selected, into `logitBuf`.
    private func outputLogits(rows nLogits: Int) {
        let d = config.embeddingLength
        model.weights.outputNorm.withUnsafeBufferPointer { nw in
            for i in 0..<nLogits {
                VectorOps.rmsNorm(x + logitSource[i] * d, nw.baseAddress!, xn + i * d, n: d, eps: config.rmsEpsilon)
            }
        }
        project(model.weights.output, xn, logitBuf, rows: nLogits)
        if config.finalLogitSoftcap > 0 {
            VectorOps.softcap(logitBuf, cap: config.finalLogitSoftcap, count: nLogits * config.vocabSize)
        }
    }
}
