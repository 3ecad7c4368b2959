import CTailorKernels

/// llama.cpp's LoRA adapter format: a GGUF with `general.type = adapter`, `adapter.type = lora`
/// and `adapter.lora.alpha`, holding `blk.N.<proj>.weight.lora_a` ([rank × in], ne = [in, rank])
/// and `.lora_b` ([out × rank], ne = [rank, out]) in the base GGUF's row order (Llama's Q/K
/// already permuted), scaled by alpha / rank.
public enum GGUFLoRA {
    /// The adapter as GGUF bytes. rsLoRA's alpha/√r scale is stored as alpha' = alpha·√r, since
    /// llama.cpp scales by alpha/r (llama.cpp's own converter does the same); a fused module
    /// that needs a larger rank (Phi-3's, see `LoRAAdapter.join`) scales alpha with it.
    public static func export(_ adapter: LoRAAdapter, config: ModelConfig) -> [UInt8] {
        // The engine's own layout is the file's (B already in the GGUF's row order).
        let own = adapter.weights.map { key, w in
            LoRAAdapter.HFWeights(layer: key.layer, target: key.target, a: w.a, b: w.b, rank: w.rank)
        }
        let (rank, modules) = LoRAAdapter.join(own, config: config, minimumRank: adapter.rank)
        var w = GGUFWriter()
        w.set("general.architecture", .string(config.architecture.rawValue))
        w.set("general.type", .string("adapter"))
        w.set("general.name", .string(adapter.name))
        w.set("adapter.type", .string("lora"))
        w.set("adapter.lora.alpha", .float32(adapter.scale * Float(rank)))
        for m in modules {
            let base = "blk.\(m.layer).\(m.module.ggufName).weight"
            let (inputs, outputs) = config.shape(of: m.module)
            w.addTensor(base + ".lora_a", dims: [inputs, rank], values: m.a)
            w.addTensor(base + ".lora_b", dims: [rank, outputs], values: m.b)
        }
        return w.serialized()
    }

    /// Imports a llama.cpp LoRA GGUF for a model of `config`.
    /// - Throws: `GGUFError` for a damaged file; `EngineError.adapterMismatch` naming the problem
    ///   for a file that is not a LoRA adapter, is for another architecture, or has tensors
    ///   that do not fit the model.
    public static func load(path: String, name: String, config: ModelConfig) throws -> LoRAAdapter {
        let file = try GGUFFile(path: path)
        func fail(_ m: String) -> EngineError { .adapterMismatch("\(path): \(m)") }
        guard file.metadata["general.type"]?.stringValue == "adapter",
            file.metadata["adapter.type"]?.stringValue == "lora"
        else {
            throw fail("not a LoRA adapter (general.type must be 'adapter', adapter.type 'lora')")
        }
        let arch = file.metadata["general.architecture"]?.stringValue ?? "?"
        guard arch == config.architecture.rawValue else {
            throw fail("adapter for '\(arch)', the model is '\(config.architecture.rawValue)'")
        }
        guard let alpha = file.metadata["adapter.lora.alpha"]?.doubleValue, alpha > 0 else {
            throw fail("missing adapter.lora.alpha")
        }
        // Every name, layer, shape and rank is checked, and the tensors' data regions must not
        // overlap, before a single value is converted: a small hostile file cannot make the
        // daemon materialize more floats than its own bytes (and the model's shapes) justify.
        let modules = config.loraModules
        var planned: [(layer: Int, module: LoRAModule, a: GGUFTensorInfo, b: GGUFTensorInfo)] = []
        var seen = Set<String>()
        var rank = 0
        for t in file.tensors where t.name.hasSuffix(".lora_a") {
            let base = String(t.name.dropLast(".lora_a".count))
            let parts = base.split(separator: ".")
            guard parts.count == 4, parts[0] == "blk", let layer = Int(parts[1]), parts[3] == "weight",
                let module = modules.first(where: { $0.ggufName == parts[2] })
            else {
                throw fail("unexpected tensor '\(t.name)'")
            }
            guard (0..<config.layerCount).contains(layer) else {
                throw fail("tensor '\(t.name)' is for layer \(layer); the model has layers 0-\(config.layerCount - 1)")
            }
            guard let tb = file.tensor(base + ".lora_b") else { throw fail("missing tensor '\(base).lora_b'") }
            let (inputs, outputs) = config.shape(of: module)
            guard t.dims.count == 2, t.dims[0] == inputs, tb.dims.count == 2, tb.dims[1] == outputs,
                tb.dims[0] == t.dims[1]
            else {
                throw fail(
                    """
                    '\(base)' has lora_a \(t.dims) and lora_b \(tb.dims); the model needs [\(inputs), r] and [r, \
                    \(outputs)]
                    """
                )
            }
            let r = t.dims[1]
            guard r >= 1, r <= min(inputs, outputs) else {
                throw fail("'\(base)' has rank \(r); a rank above min(in, out) = \(min(inputs, outputs)) adds nothing")
            }
            guard rank == 0 || rank == r else { throw fail("mixed ranks (\(rank) and \(r)) are not supported") }
            rank = r
            guard seen.insert(base).inserted else { throw fail("two tensors for '\(base)'") }
            planned.append((layer, module, t, tb))
        }
        for t in file.tensors where t.name.hasSuffix(".lora_b") && file.tensor(String(t.name.dropLast(2)) + "_a") == nil
        {
            throw fail("missing tensor '\(t.name.dropLast(2))_a'")
        }
        guard rank > 0 else { throw fail("no LoRA tensors") }
        let regions = planned.flatMap { [$0.a, $0.b] }.map {
            (name: $0.name, start: $0.fileOffset, end: $0.fileOffset + $0.byteCount)
        }
        .sorted { $0.start < $1.start }
        for (x, y) in zip(regions, regions.dropFirst()) where y.start < x.end {
            throw fail("tensors '\(x.name)' and '\(y.name)' share data bytes")
        }
        var weights: [LoRAAdapter.Key: LoRAWeights] = [:]
        for p in planned {
            let module = LoRAAdapter.ModuleWeights(
                layer: p.layer, module: p.module, a: values(file, p.a), b: values(file, p.b))
            for w in LoRAAdapter.split(module, rank: rank, config: config) {
                let inputs = config.shape(of: w.target).inputs
                weights[LoRAAdapter.Key(layer: w.layer, target: w.target)] = try LoRAWeights(
                    a: w.a, b: w.b, rank: rank, inputs: inputs, outputs: w.b.count / rank)
            }
        }
        let adapter = LoRAAdapter(name: name, rank: rank, alpha: Float(alpha), weights: weights)
        try adapter.validate(for: config)
        return adapter
    }

    private static func values(_ file: GGUFFile, _ t: GGUFTensorInfo) -> [Float] {
        var out = [Float](repeating: 0, count: t.elementCount)
        out.withUnsafeMutableBufferPointer {
            tk_dequantize(Int32(t.type.rawValue), file.data(of: t), $0.baseAddress, Int64(t.elementCount))
        }
        return out
    }
}
