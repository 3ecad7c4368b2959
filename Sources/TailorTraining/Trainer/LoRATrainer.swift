import Foundation
import TailorEngine

/// Hyperparameters of one training run. The defaults are CoPe's OPPU settings; `tam`, `oppu`
/// and `dpo` give the reference code's for each stage.
public struct TrainingConfiguration: Sendable, Equatable, Codable {
    public var rank = 8
    public var alpha: Float = 8
    public var targets: [String] = ["q", "v"]
    public var learningRate: Float = 1e-4
    public var epochs = 2
    /// Sequences (or pairs) per optimizer step, before accumulation.
    public var batchSize = 4
    /// Batches summed into one optimizer step.
    public var gradientAccumulation = 1
    public var warmupRatio = 0.0
    public var weightDecay: Float = 0.01
    /// Gradient-norm clip; 0 disables.
    public var maxGradNorm: Float = 1
    /// DPO's β.
    public var beta: Float = 0.01
    /// Seeds the adapter's initialization and the data order.
    public var seed: UInt64 = 42

    /// The defaults (OPPU).
    public init() {}

    /// TAM: r=16, alpha=16 on q, k, v, o; lr 1e-4; 3 epochs; batch 8; warmup 0.1; clip 0.3.
    public static var tam: TrainingConfiguration {
        var c = TrainingConfiguration()
        c.rank = 16; c.alpha = 16; c.targets = ["q", "k", "v", "o"]
        c.epochs = 3; c.batchSize = 8; c.warmupRatio = 0.1; c.maxGradNorm = 0.3
        return c
    }

    /// OPPU: r=8, alpha=8 on q, v; lr 1e-4; 2 epochs; batch 4.
    public static var oppu: TrainingConfiguration { TrainingConfiguration() }

    /// DPO: β=0.01, lr 5e-6, 1 epoch, batch 8 (continuing the user's adapter).
    public static var dpo: TrainingConfiguration {
        var c = TrainingConfiguration()
        c.learningRate = 5e-6; c.epochs = 1; c.batchSize = 8
        return c
    }

    /// The targets as engine values. PEFT's fused names (Phi-3's qkv_proj, gate_up_proj) stand
    /// for their parts.
    public func loraTargets() throws -> [LoRATarget] {
        var out: [LoRATarget] = []
        for name in targets {
            guard
                let ts = LoRATarget(rawValue: name).map({ [$0] })
                    ?? ([LoRAModule.qkv, .gateUp] + LoRATarget.allCases.map(LoRAModule.init))
                    .first(where: { $0.peftName == name })?.parts
            else {
                throw TrainingError.badHyperparameter(
                    "unknown LoRA target '\(name)' (q, k, v, o, gate, up, down, or qkv_proj, gate_up_proj)")
            }
            for t in ts where !out.contains(t) { out.append(t) }
        }
        return out
    }

    /// Checks ranges, naming the first bad value.
    public func validate() throws {
        if rank < 1 || rank > 256 { throw TrainingError.badHyperparameter("rank must be 1...256, not \(rank)") }
        if !(alpha > 0 && alpha.isFinite) { throw TrainingError.badHyperparameter("alpha must be positive") }
        if !(learningRate > 0 && learningRate < 1) {
            throw TrainingError.badHyperparameter("learning rate must be in (0, 1), not \(learningRate)")
        }
        if epochs < 1 || epochs > 1000 {
            throw TrainingError.badHyperparameter("epochs must be 1...1000, not \(epochs)")
        }
        if !(1...4096).contains(batchSize) || !(1...4096).contains(gradientAccumulation) {
            throw TrainingError.badHyperparameter("batch size and accumulation must be 1...4096")
        }
        if !(0...0.9).contains(warmupRatio) { throw TrainingError.badHyperparameter("warmup ratio must be in 0...0.9") }
        if !(weightDecay >= 0 && weightDecay.isFinite && maxGradNorm >= 0 && maxGradNorm.isFinite && beta > 0
            && beta.isFinite)
        {
            throw TrainingError.badHyperparameter("weight decay and clip must be finite and ≥ 0, beta finite and > 0")
        }
        _ = try loraTargets()
    }
}

/// What one optimizer step did.
public struct StepReport: Sendable, Equatable {
    /// 1-based step just taken, of `totalSteps`.
    public var step: Int
    public var totalSteps: Int
    public var epoch: Int
    /// Mean loss of the step's batch (SFT: NLL per completion token; DPO: per pair).
    public var loss: Float
    public var learningRate: Float
    /// Gradient norm before clipping.
    public var gradientNorm: Float
    /// Tokens through the forward pass.
    public var tokens: Int
    /// DPO only: the fraction of pairs whose implicit reward favours the chosen completion.
    public var accuracy: Float?
}

/// Trains a LoRA adapter on a frozen model: SFT (TAM, OPPU) or DPO, one optimizer step at a
/// time, so the caller can yield between steps, report progress, and checkpoint.
///
/// Deterministic under the configuration's seed: the data order of epoch e is a seeded shuffle,
/// and a run resumed from `checkpoint()` continues with exactly the parameters an uninterrupted
/// run would have.
public final class LoRATrainer {
    /// What is learned.
    public enum Objective: Sendable {
        /// Cross-entropy on the completion tokens.
        case sft([TrainingExample])
        /// DPO against the same weights with the trained adapter off.
        case dpo([PreferenceExample])
    }

    public let graph: TrainingGraph
    public let trainable: TrainableLoRA
    public let frozen: [AdapterUse]
    public let objective: Objective
    public let configuration: TrainingConfiguration
    public let schedule: LinearSchedule
    public let optimizer: AdamW
    /// Optimizer steps taken.
    public private(set) var step = 0
    /// Steps per epoch and in all.
    public let stepsPerEpoch: Int
    public var totalSteps: Int { schedule.totalSteps }
    public var isFinished: Bool { step >= totalSteps }
    /// Called before every sequence's forward pass: where a daemon yields the CPU to
    /// interactive decoding, or a cancellation throws.
    public var beforeSequence: (() throws -> Void)?
    /// DPO's reference log-probabilities per pair (chosen, rejected), computed on first use.
    private var referenceLogps: [Int: (Float, Float)] = [:]
    /// Made on the first reference score (SFT never needs one).
    private var referenceScorer: ReferenceScorer?

    /// A trainer. `trainable` is updated in place.
    /// - Throws: `TrainingError` for an empty data set, a sequence longer than the graph, or bad
    ///   hyperparameters.
    public init(
        graph: TrainingGraph, trainable: TrainableLoRA, frozen: [AdapterUse] = [], objective: Objective,
        configuration: TrainingConfiguration
    ) throws {
        try configuration.validate()
        let count: Int
        switch objective {
        case let .sft(examples):
            count = examples.count
            for e in examples { try Self.check(e, graph) }
        case let .dpo(pairs):
            count = pairs.count
            for p in pairs { try Self.check(p.chosen, graph); try Self.check(p.rejected, graph) }
        }
        guard count > 0 else { throw TrainingError.emptyDataset("the data set is empty") }
        self.graph = graph
        self.trainable = trainable
        self.frozen = frozen
        self.objective = objective
        self.configuration = configuration
        let perStep = configuration.batchSize * configuration.gradientAccumulation
        stepsPerEpoch = (count + perStep - 1) / perStep
        schedule = LinearSchedule(
            peak: configuration.learningRate, warmupRatio: configuration.warmupRatio,
            totalSteps: stepsPerEpoch * configuration.epochs)
        optimizer = AdamW(count: trainable.count, weightDecay: configuration.weightDecay)
    }

    private static func check(_ e: TrainingExample, _ g: TrainingGraph) throws {
        guard e.tokens.count <= g.maxTokens else {
            throw TrainingError.sequenceTooLong(tokens: e.tokens.count, capacity: g.maxTokens)
        }
        guard e.targetStart >= 1, e.targetStart < e.tokens.count else { throw TrainingError.noTargets }
    }

    func setStep(_ s: Int) { step = s }

    /// Sequences (SFT) or pairs (DPO) in the data set.
    public var dataCount: Int {
        switch objective {
        case let .sft(e): return e.count
        case let .dpo(p): return p.count
        }
    }

    /// The data order of `epoch`: a Fisher–Yates shuffle seeded by (seed, epoch).
    func order(epoch: Int) -> [Int] {
        var idx = Array(0..<dataCount)
        var rng = SeededGenerator(seed: configuration.seed &+ 0x5EED &* UInt64(epoch + 1))
        for i in stride(from: idx.count - 1, to: 0, by: -1) {
            let j = Int(rng.next() % UInt64(i + 1))
            idx.swapAt(i, j)
        }
        return idx
    }

    /// Takes one optimizer step.
    /// - Throws: when the run is finished, or the graph refuses a sequence.
    @discardableResult
    public func runStep() throws -> StepReport {
        guard !isFinished else { throw TrainingError.badHyperparameter("the run is finished (\(totalSteps) steps)") }
        let epoch = step / stepsPerEpoch, within = step % stepsPerEpoch
        let perStep = configuration.batchSize * configuration.gradientAccumulation
        let order = order(epoch: epoch)
        let batch = Array(order[(within * perStep)..<min(order.count, (within + 1) * perStep)])
        let report = try gradients(for: batch)
        let norm = trainable.gradientNorm()
        if configuration.maxGradNorm > 0, norm > configuration.maxGradNorm {
            let k = configuration.maxGradNorm / (norm + 1e-6)
            for i in 0..<trainable.count { trainable.grads[i] *= k }
        }
        let lr = schedule.rate(at: step)
        optimizer.step(params: trainable.params, grads: trainable.grads, lr: lr)
        step += 1
        return StepReport(
            step: step, totalSteps: totalSteps, epoch: epoch, loss: report.loss, learningRate: lr, gradientNorm: norm,
            tokens: report.tokens, accuracy: report.accuracy)
    }

    /// Clears the gradients and fills them with those of the mean loss over `batch` (indices into
    /// the data set). Returns the loss, the tokens processed and (DPO) the reward accuracy.
    public func gradients(for batch: [Int]) throws -> (loss: Float, tokens: Int, accuracy: Float?) {
        trainable.zeroGradients()
        switch objective {
        case let .sft(examples): return try sftStep(batch.map { examples[$0] })
        case let .dpo(pairs): return try dpoStep(batch, pairs)
        }
    }

    /// Mean NLL over every completion token of the batch (accumulation included).
    private func sftStep(_ examples: [TrainingExample]) throws -> (Float, Int, Float?) {
        let total = examples.reduce(0) { $0 + $1.targetCount }
        var nll: Double = 0, tokens = 0
        for e in examples {
            try beforeSequence?()
            let lp = try graph.forward(
                tokens: e.tokens, targetStart: e.targetStart, frozen: frozen, trainable: trainable)
            nll -= lp.reduce(0) { $0 + Double($1) }
            tokens += e.tokens.count
            graph.backward(scale: -1 / Float(total))
        }
        return (Float(nll / Double(total)), tokens, nil)
    }

    /// Mean DPO loss over the batch's pairs: for each, L = −log σ(β·Δ) with
    /// Δ = (S⁺ − R⁺) − (S⁻ − R⁻), S the policy's and R the reference's summed completion
    /// log-probabilities; ∂L/∂S⁺ = −β·σ(−βΔ) = −∂L/∂S⁻.
    private func dpoStep(_ batch: [Int], _ pairs: [PreferenceExample]) throws -> (Float, Int, Float?) {
        let beta = configuration.beta, n = Float(batch.count)
        var loss: Double = 0, tokens = 0, correct = 0
        for i in batch {
            let p = pairs[i]
            try beforeSequence?()
            let ref = try reference(i, p)
            // One pass over the packed pair when it fits; else each sequence on its own, the
            // chosen one evaluated twice (one graph holds one sequence's activations).
            let layout = try PackedPair(p)
            let packed = graph.fits(layout)
            let sPlus: Float, sMinus: Float
            if packed {
                let lp = try graph.forward(layout, frozen: frozen, trainable: trainable)
                (sPlus, sMinus) = (sum(lp.chosen), sum(lp.rejected))
                tokens += graph.tokenCount
            } else {
                sPlus = try sum(
                    graph.forward(
                        tokens: p.chosen.tokens, targetStart: p.chosen.targetStart, frozen: frozen, trainable: trainable
                    ))
                sMinus = try sum(
                    graph.forward(
                        tokens: p.rejected.tokens, targetStart: p.rejected.targetStart, frozen: frozen,
                        trainable: trainable))
                tokens += 2 * p.chosen.tokens.count + p.rejected.tokens.count
            }
            let delta = (sPlus - ref.0) - (sMinus - ref.1)
            loss += Double(Self.softplus(-beta * delta))
            if delta > 0 { correct += 1 }
            let g = beta * Self.sigmoid(-beta * delta) / n
            if packed {
                graph.backward(chosenScale: -g, rejectedScale: g)
            } else {
                graph.backward(scale: g)  // the rejected pass is the one in the graph
                _ = try graph.forward(
                    tokens: p.chosen.tokens, targetStart: p.chosen.targetStart, frozen: frozen, trainable: trainable)
                graph.backward(scale: -g)
            }
        }
        return (Float(loss / Double(batch.count)), tokens, Float(correct) / n)
    }

    /// Reference log-probabilities of pair `i`: the same weights with the trained adapter off,
    /// the pair's own `reference` when it has one, else scored by the inference engine with the
    /// pair's shared prompt evaluated once.
    public func reference(_ i: Int, _ p: PreferenceExample) throws -> (Float, Float) {
        if let r = p.reference { return (r.chosen, r.rejected) }
        if let r = referenceLogps[i] { return r }
        let scorer = referenceScorer ?? ReferenceScorer(graph: graph, adapters: frozen)
        referenceScorer = scorer
        let s = try scorer.score(p) { graph.pausePoint?() }
        referenceLogps[i] = (s.chosen, s.rejected)
        return (s.chosen, s.rejected)
    }

    private func sum(_ x: [Float]) -> Float { Float(x.reduce(0) { $0 + Double($1) }) }
    static func sigmoid(_ x: Float) -> Float { x >= 0 ? 1 / (1 + expf(-x)) : expf(x) / (1 + expf(x)) }
    /// log(1 + eˣ) without overflow.
    static func softplus(_ x: Float) -> Float { x > 20 ? x : log1pf(expf(x)) }
}
