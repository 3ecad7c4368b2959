import Foundation
import TailorEngine

/// A LoRA adapter being trained: its factors, their gradients and the optimizer's moments, each
/// in one flat f32 buffer, so the optimizer, gradient clipping and checkpoints see one vector.
///
/// Per adapted (layer, projection), in key order: A [rank × inputs] then B [outputs × rank],
/// row-major, in the engine's layout (for Llama GGUFs, the rows of B for q and k are permuted
/// like the base weights; `adapter()` and `huggingFace…` convert).
public final class TrainableLoRA: @unchecked Sendable {
    /// Where one projection's factors sit in the flat buffers.
    public struct Slot: Sendable, Equatable {
        public let key: LoRAAdapter.Key
        public let inputs: Int
        public let outputs: Int
        /// Offset of A; B follows at `b`.
        public let a: Int
        public let b: Int
    }

    public let rank: Int
    public let alpha: Float
    public let useRSLoRA: Bool
    /// y += scale · B·A·x.
    public let scale: Float
    /// The adapted projections, in (layer, target) order.
    public let slots: [Slot]
    /// Total parameters.
    public let count: Int
    /// The parameters (count floats); allocated in init, freed in deinit.
    public let params: UnsafeMutablePointer<Float>
    /// Their gradients, accumulated by backward passes until `zeroGradients()`.
    public let grads: UnsafeMutablePointer<Float>
    private let slotIndex: [LoRAAdapter.Key: Int]

    /// A fresh adapter as PEFT initializes one: A ~ U(−1/√in, 1/√in) (kaiming-uniform with
    /// a = √5), B = 0, so training starts from the unadapted model. Deterministic in `seed`.
    public convenience init(
        config: ModelConfig, rank: Int, alpha: Float, useRSLoRA: Bool = false,
        targets: [LoRATarget], layers: Range<Int>? = nil, seed: UInt64
    ) {
        let keys = (layers ?? 0..<config.layerCount).flatMap { l in
            LoRATarget.allCases.filter(targets.contains).map { LoRAAdapter.Key(layer: l, target: $0) }
        }
        self.init(config: config, rank: rank, alpha: alpha, useRSLoRA: useRSLoRA, keys: keys)
        var rng = SeededGenerator(seed: seed)
        for s in slots {
            let bound = 1 / Float(s.inputs).squareRoot()
            for i in 0..<(rank * s.inputs) { params[s.a + i] = (rng.nextUnit() * 2 - 1) * bound }
        }
    }

    /// An adapter continuing from `adapter`'s weights (e.g. DPO after OPPU). Every projection
    /// must have the adapter's rank.
    public convenience init(continuing adapter: LoRAAdapter, config: ModelConfig) throws {
        let keys = adapter.weights.keys.sorted { ($0.layer, Self.order($0.target)) < ($1.layer, Self.order($1.target)) }
        guard adapter.weights.values.allSatisfy({ $0.rank == adapter.rank }) else {
            throw EngineError.adapterMismatch("adapter '\(adapter.name)' mixes ranks; training needs one rank")
        }
        self.init(config: config, rank: adapter.rank, alpha: adapter.alpha, useRSLoRA: adapter.useRSLoRA, keys: keys)
        for s in slots {
            let w = adapter.weights[s.key]!
            w.a.withUnsafeBufferPointer { (params + s.a).update(from: $0.baseAddress!, count: $0.count) }
            w.b.withUnsafeBufferPointer { (params + s.b).update(from: $0.baseAddress!, count: $0.count) }
        }
    }

    private init(config: ModelConfig, rank: Int, alpha: Float, useRSLoRA: Bool, keys: [LoRAAdapter.Key]) {
        self.rank = rank
        self.alpha = alpha
        self.useRSLoRA = useRSLoRA
        scale = useRSLoRA ? alpha / Float(rank).squareRoot() : alpha / Float(rank)
        var slots: [Slot] = []
        var offset = 0
        for key in keys {
            let (inputs, outputs) = config.shape(of: key.target)
            slots.append(Slot(key: key, inputs: inputs, outputs: outputs, a: offset, b: offset + rank * inputs))
            offset += rank * (inputs + outputs)
        }
        self.slots = slots
        count = offset
        params = .allocate(capacity: max(1, offset))
        params.initialize(repeating: 0, count: max(1, offset))
        grads = .allocate(capacity: max(1, offset))
        grads.initialize(repeating: 0, count: max(1, offset))
        slotIndex = Dictionary(uniqueKeysWithValues: slots.enumerated().map { ($1.key, $0) })
    }

    deinit {
        params.deallocate()
        grads.deallocate()
    }

    static func order(_ t: LoRATarget) -> Int { LoRATarget.allCases.firstIndex(of: t)! }

    /// The slot of (layer, target), if adapted.
    public func slot(layer: Int, target: LoRATarget) -> Slot? {
        slotIndex[LoRAAdapter.Key(layer: layer, target: target)].map { slots[$0] }
    }

    /// Clears the gradients.
    public func zeroGradients() { grads.update(repeating: 0, count: count) }

    /// The L2 norm of the gradients.
    public func gradientNorm() -> Float {
        var s: Double = 0
        for i in 0..<count { s += Double(grads[i]) * Double(grads[i]) }
        return Float(s.squareRoot())
    }

    /// A frozen snapshot usable for inference and export.
    public func adapter(name: String) -> LoRAAdapter {
        var weights: [LoRAAdapter.Key: LoRAWeights] = [:]
        for s in slots {
            let a = Array(UnsafeBufferPointer(start: params + s.a, count: rank * s.inputs))
            let b = Array(UnsafeBufferPointer(start: params + s.b, count: s.outputs * rank))
            weights[s.key] = try! LoRAWeights(a: a, b: b, rank: rank, inputs: s.inputs, outputs: s.outputs)
        }
        return LoRAAdapter(name: name, rank: rank, alpha: alpha, useRSLoRA: useRSLoRA, weights: weights)
    }

    /// The gradients shaped as an adapter (A's gradient in `a`, B's in `b`), so they convert to
    /// Hugging Face layout the way weights do (`huggingFaceWeights(config:)`).
    public func gradientsAsAdapter() -> LoRAAdapter {
        var weights: [LoRAAdapter.Key: LoRAWeights] = [:]
        for s in slots {
            let a = Array(UnsafeBufferPointer(start: grads + s.a, count: rank * s.inputs))
            let b = Array(UnsafeBufferPointer(start: grads + s.b, count: s.outputs * rank))
            weights[s.key] = try! LoRAWeights(a: a, b: b, rank: rank, inputs: s.inputs, outputs: s.outputs)
        }
        return LoRAAdapter(name: "gradients", rank: rank, alpha: alpha, useRSLoRA: useRSLoRA, weights: weights)
    }
}
