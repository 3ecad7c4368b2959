/// A projection as adapter files name it. Usually one of Tailor's targets; Phi-3 fuses Q/K/V into
/// one matrix and gate/up into another, and PEFT and llama.cpp adapt each fused matrix with one
/// LoRA whose A is shared and whose B stacks the parts' rows. Tailor keeps the parts separate
/// (row slices of the fused weight), so files are split on import and joined on export.
public struct LoRAModule: Sendable, Equatable {
    /// PEFT's module name (`q_proj`, `qkv_proj`, ...).
    public let peftName: String
    /// llama.cpp's tensor name (`attn_q`, `attn_qkv`, ...).
    public let ggufName: String
    /// The targets whose output rows the module stacks, in order.
    public let parts: [LoRATarget]
    /// True for the attention modules (PEFT's `self_attn`), false for the MLP's (`mlp`).
    public var isAttention: Bool { parts.allSatisfy { [.q, .k, .v, .o].contains($0) } }

    static let ggufNames: [LoRATarget: String] = [
        .q: "attn_q", .k: "attn_k", .v: "attn_v", .o: "attn_output", .gate: "ffn_gate", .up: "ffn_up",
        .down: "ffn_down",
    ]

    /// The module of one target, named as PEFT and llama.cpp name it.
    public init(_ target: LoRATarget) {
        peftName = target.peftName
        ggufName = Self.ggufNames[target]!
        parts = [target]
    }

    init(peftName: String, ggufName: String, parts: [LoRATarget]) {
        self.peftName = peftName
        self.ggufName = ggufName
        self.parts = parts
    }

    /// Phi-3's fused Q/K/V.
    public static let qkv = LoRAModule(peftName: "qkv_proj", ggufName: "attn_qkv", parts: [.q, .k, .v])
    /// Phi-3's fused gate/up, gate first.
    public static let gateUp = LoRAModule(peftName: "gate_up_proj", ggufName: "ffn_up", parts: [.gate, .up])
}

extension ModelConfig {
    /// The modules adapter files for this architecture name.
    public var loraModules: [LoRAModule] {
        guard architecture == .phi3 else { return LoRATarget.allCases.map(LoRAModule.init) }
        return [.qkv, LoRAModule(.o), .gateUp, LoRAModule(.down)]
    }

    /// The modules that adapting `targets` touches, in the model's order: for Phi-3, q and v
    /// make qkv_proj, which PEFT then adapts whole (k too).
    public func loraModules(covering targets: [LoRATarget]) -> [LoRAModule] {
        loraModules.filter { !Set($0.parts).isDisjoint(with: targets) }
    }

    /// (inputs, outputs) of a module: its parts' common input and their stacked outputs.
    public func shape(of module: LoRAModule) -> (inputs: Int, outputs: Int) {
        (shape(of: module.parts[0]).inputs, module.parts.map { shape(of: $0).outputs }.reduce(0, +))
    }
}

extension LoRAAdapter {
    /// One module's weights as a file stores them: A [rank × in], B [out × rank].
    struct ModuleWeights {
        let layer: Int
        let module: LoRAModule
        let a: [Float]
        let b: [Float]
    }

    /// Splits a module's A and B into its parts' weights: each part shares A and takes its own
    /// rows of B. The delta of each part is then exactly its rows of the module's B·A.
    static func split(_ m: ModuleWeights, rank: Int, config: ModelConfig) -> [HFWeights] {
        var row = 0
        return m.module.parts.map { target in
            let rows = config.shape(of: target).outputs
            defer { row += rows }
            return HFWeights(
                layer: m.layer, target: target, a: m.a, b: Array(m.b[(row * rank)..<((row + rows) * rank)]),
                rank: rank)
        }
    }

    /// Joins per-target weights into the modules of `config`, at one rank for the whole file.
    ///
    /// A module whose parts share one A (as imported) keeps it, with B stacked. Otherwise its
    /// parts' ranks add up: A stacks the parts' A's and B is block-diagonal, so each part's rows
    /// of B·A are its own delta; a part the adapter leaves out gets zero rows. Every module is
    /// then padded with zero rank to the largest, since a file has one rank: the deltas are
    /// exactly the adapter's, at the returned rank (callers rescale alpha to keep the scale),
    /// which is never below `minimumRank` (the adapter's own, so an empty adapter keeps it).
    static func join(
        _ weights: [HFWeights], config: ModelConfig, minimumRank: Int
    ) -> (rank: Int, modules: [ModuleWeights]) {
        var byKey: [Key: HFWeights] = [:]
        for w in weights { byKey[Key(layer: w.layer, target: w.target)] = w }
        var joined: [(layer: Int, module: LoRAModule, rank: Int, a: [Float], b: [Float])] = []
        for layer in 0..<config.layerCount {
            for module in config.loraModules {
                let present = module.parts.compactMap { byKey[Key(layer: layer, target: $0)] }
                guard let first = present.first else { continue }
                let outputs = config.shape(of: module).outputs
                let shared = present.count == module.parts.count && present.allSatisfy { $0.a == first.a }
                let rank = shared ? first.rank : present.map(\.rank).reduce(0, +)
                let a = shared ? first.a : present.flatMap(\.a)
                var b = [Float](repeating: 0, count: outputs * rank)
                var row = 0, col = 0
                for target in module.parts {
                    let rows = config.shape(of: target).outputs
                    if let w = byKey[Key(layer: layer, target: target)] {
                        for r in 0..<rows {
                            for c in 0..<w.rank { b[(row + r) * rank + col + c] = w.b[r * w.rank + c] }
                        }
                        if !shared { col += w.rank }
                    }
                    row += rows
                }
                joined.append((layer, module, rank, a, b))
            }
        }
        let rank = max(minimumRank, joined.map(\.rank).max() ?? 0)
        let modules = joined.map { j -> ModuleWeights in
            let (inputs, outputs) = config.shape(of: j.module)
            guard j.rank < rank else { return ModuleWeights(layer: j.layer, module: j.module, a: j.a, b: j.b) }
            let a = j.a + [Float](repeating: 0, count: (rank - j.rank) * inputs)
            var b = [Float](repeating: 0, count: outputs * rank)
            for r in 0..<outputs { for c in 0..<j.rank { b[r * rank + c] = j.b[r * j.rank + c] } }
            return ModuleWeights(layer: j.layer, module: j.module, a: a, b: b)
        }
        return (rank, modules)
    }
}
