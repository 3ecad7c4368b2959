import Foundation

/// Why a PEFT adapter could not be imported. Each case names the file part and the problem.
public enum PEFTError: Error, Equatable, Sendable, CustomStringConvertible {
    case badConfig(String)
    case unsupportedTarget(String, supported: [String])
    case unexpectedTensor(String)
    case missingTensor(String)
    case shapeMismatch(tensor: String, expected: [Int], found: [Int])
    case architectureMismatch(adapterFor: String, model: String)

    public var description: String {
        switch self {
        case let .badConfig(m): return "adapter_config.json: \(m)"
        case let .unsupportedTarget(t, supported):
            return
                """
                adapter_config.json: target module '\(t)' is not supported (this model's are \
                \(supported.joined(separator: ", ")))
                """
        case let .unexpectedTensor(t): return "adapter_model.safetensors: unexpected tensor '\(t)'"
        case let .missingTensor(t): return "adapter_model.safetensors: missing tensor '\(t)'"
        case let .shapeMismatch(t, e, f):
            return "adapter_model.safetensors: tensor '\(t)' has shape \(f), the base model needs \(e)"
        case let .architectureMismatch(a, m):
            return "adapter_config.json: the adapter was trained on a \(a); the base model is a \(m) model"
        }
    }
}

/// Hugging Face PEFT LoRA adapters: `adapter_config.json` + `adapter_model.safetensors`.
public enum PEFTAdapter {
    /// The parts of `adapter_config.json` Tailor honours.
    public struct Config: Sendable, Equatable {
        /// LoRA rank.
        public var r: Int
        /// LoRA alpha.
        public var loraAlpha: Float
        /// Module names adapted.
        public var targetModules: [String]
        /// Weights stored transposed (GPT-2's Conv1D layout).
        public var fanInFanOut: Bool
        /// Scale alpha/√r instead of alpha/r.
        public var useRSLoRA: Bool
        /// The base model the adapter was trained on, if recorded.
        public var baseModel: String?
        /// The transformers class it was trained on (`auto_mapping.base_model_class`), if recorded.
        public var baseModelClass: String?
    }

    /// transformers model classes of each architecture, for `auto_mapping.base_model_class`.
    static func modelClasses(_ arch: Architecture) -> [String] {
        switch arch {
        case .llama: return ["LlamaForCausalLM", "LlamaModel"]
        case .qwen2: return ["Qwen2ForCausalLM", "Qwen2Model"]
        case .qwen3: return ["Qwen3ForCausalLM", "Qwen3Model"]
        case .qwen3moe: return ["Qwen3MoeForCausalLM", "Qwen3MoeModel"]
        case .smollm3: return ["SmolLM3ForCausalLM", "SmolLM3Model"]
        case .gemma2: return ["Gemma2ForCausalLM", "Gemma2Model"]
        case .gemma3: return ["Gemma3ForCausalLM", "Gemma3ForConditionalGeneration", "Gemma3TextModel"]
        case .phi3: return ["Phi3ForCausalLM", "Phi3Model"]
        }
    }

    /// Parses and checks `adapter_config.json`.
    public static func parseConfig(_ data: Data) throws -> Config {
        guard let j = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw PEFTError.badConfig("not a JSON object")
        }
        if let t = j["peft_type"] as? String, t != "LORA" {
            throw PEFTError.badConfig("peft_type is \(t), only LORA is supported")
        }
        guard let r = j["r"] as? Int, r > 0 else { throw PEFTError.badConfig("r must be a positive integer") }
        guard let alpha = (j["lora_alpha"] as? NSNumber)?.floatValue, alpha > 0 else {
            throw PEFTError.badConfig("lora_alpha must be a positive number")
        }
        let targets: [String]
        if let list = j["target_modules"] as? [String] {
            targets = list
        } else if let one = j["target_modules"] as? String {
            targets = [one]
        } else {
            throw PEFTError.badConfig("target_modules is missing")
        }
        if let rp = j["rank_pattern"] as? [String: Any], !rp.isEmpty {
            throw PEFTError.badConfig("rank_pattern is not supported")
        }
        if let ap = j["alpha_pattern"] as? [String: Any], !ap.isEmpty {
            throw PEFTError.badConfig("alpha_pattern is not supported")
        }
        if let m = j["modules_to_save"] as? [String], !m.isEmpty {
            throw PEFTError.badConfig("modules_to_save is not supported")
        }
        return Config(
            r: r, loraAlpha: alpha, targetModules: targets, fanInFanOut: j["fan_in_fan_out"] as? Bool ?? false,
            useRSLoRA: j["use_rslora"] as? Bool ?? false, baseModel: j["base_model_name_or_path"] as? String,
            baseModelClass: (j["auto_mapping"] as? [String: Any])?["base_model_class"] as? String)
    }

    /// Imports an adapter for a model of `config`: every declared target in every layer must be
    /// present with the base model's shapes, and nothing else may be.
    public static func load(
        name: String, configJSON: Data, safetensors: [UInt8], config: ModelConfig
    ) throws -> LoRAAdapter {
        let cfg = try parseConfig(configJSON)
        // Same shapes do not make the same model: a recorded model class must match.
        if let cls = cfg.baseModelClass, !modelClasses(config.architecture).contains(cls) {
            throw PEFTError.architectureMismatch(adapterFor: cls, model: config.architecture.rawValue)
        }
        let known = config.loraModules
        var modules: [LoRAModule] = []
        for t in cfg.targetModules {
            guard let module = known.first(where: { $0.peftName == t }) else {
                throw PEFTError.unsupportedTarget(t, supported: known.map(\.peftName))
            }
            modules.append(module)
        }
        // The header is checked whole (names, layers, shapes, rank) before any value is
        // converted, so a hostile file cannot make the importer materialize floats it would
        // then refuse; and safetensors' own rule (regions in order, not overlapping, covering
        // the data) means the values converted are never more than the upload's bytes.
        let file = try Safetensors.Header(bytes: safetensors)
        let r = cfg.r
        var found: [String: Safetensors.Header.Entry] = [:]  // "layer.module.A|B" -> entry
        for entry in file.entries {
            let parts = entry.name.split(separator: ".").map(String.init)
            guard let li = parts.firstIndex(of: "layers"), li + 1 < parts.count, let layer = Int(parts[li + 1]),
                let module = modules.first(where: { parts.contains($0.peftName) }),
                let ab = parts.first(where: { $0 == "lora_A" || $0 == "lora_B" }), parts.last == "weight"
            else {
                throw PEFTError.unexpectedTensor(entry.name)
            }
            guard (0..<config.layerCount).contains(layer) else { throw PEFTError.unexpectedTensor(entry.name) }
            let slot = "\(layer).\(module.peftName).\(ab)"
            guard found[slot] == nil else { throw PEFTError.unexpectedTensor(entry.name) }
            found[slot] = entry
        }
        var planned: [(layer: Int, module: LoRAModule, a: Safetensors.Header.Entry, b: Safetensors.Header.Entry)] = []
        for layer in 0..<config.layerCount {
            for module in modules {
                func entry(_ isA: Bool) throws -> Safetensors.Header.Entry {
                    guard let e = found["\(layer).\(module.peftName).lora_\(isA ? "A" : "B")"] else {
                        throw PEFTError.missingTensor(
                            """
                            base_model.model.model.layers.\(layer).\(module.isAttention ? "self_attn" : "mlp").\
                            \(module.peftName).lora_\(isA ? "A" : "B").weight
                            """
                        )
                    }
                    return e
                }
                let a = try entry(true), b = try entry(false)
                let (inputs, outputs) = config.shape(of: module)
                // PEFT stores A [r, in] and B [out, r]; fan_in_fan_out stores them transposed.
                let wantA = cfg.fanInFanOut ? [inputs, r] : [r, inputs],
                    wantB = cfg.fanInFanOut ? [r, outputs] : [outputs, r]
                guard a.shape == wantA else {
                    throw PEFTError.shapeMismatch(tensor: a.name, expected: wantA, found: a.shape)
                }
                guard b.shape == wantB else {
                    throw PEFTError.shapeMismatch(tensor: b.name, expected: wantB, found: b.shape)
                }
                planned.append((layer, module, a, b))
            }
        }
        var hf: [LoRAAdapter.HFWeights] = []
        for p in planned {
            let (inputs, outputs) = config.shape(of: p.module)
            let a = file.values(of: p.a, in: safetensors), b = file.values(of: p.b, in: safetensors)
            let av = cfg.fanInFanOut ? transpose(a, rows: inputs, cols: r) : a
            let bv = cfg.fanInFanOut ? transpose(b, rows: r, cols: outputs) : b
            hf += LoRAAdapter.split(.init(layer: p.layer, module: p.module, a: av, b: bv), rank: r, config: config)
        }
        return try LoRAAdapter.fromHuggingFace(
            name: name, rank: cfg.r, alpha: cfg.loraAlpha, useRSLoRA: cfg.useRSLoRA,
            weights: hf, config: config)
    }

    /// Exports `adapter` as PEFT files: (adapter_config.json, adapter_model.safetensors) bytes.
    public static func export(
        _ adapter: LoRAAdapter, config: ModelConfig, baseModel: String?
    ) throws -> (config: [UInt8], safetensors: [UInt8]) {
        // Fused modules (Phi-3) may need a larger rank than the adapter's; alpha then follows
        // so that the scale, and so every delta, stays exactly the adapter's.
        let (rank, modules) = LoRAAdapter.join(
            adapter.huggingFaceWeights(config: config), config: config, minimumRank: adapter.rank)
        var tensors: [String: Safetensors.Tensor] = [:]
        for m in modules {
            let prefix =
                "base_model.model.model.layers.\(m.layer).\(m.module.isAttention ? "self_attn" : "mlp").\(m.module.peftName)"
            let (inputs, outputs) = config.shape(of: m.module)
            tensors[prefix + ".lora_A.weight"] = .init(shape: [rank, inputs], values: m.a)
            tensors[prefix + ".lora_B.weight"] = .init(shape: [outputs, rank], values: m.b)
        }
        let same = rank == adapter.rank
        var json: [String: Any] = [
            "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": rank,
            "lora_alpha": same ? adapter.alpha : adapter.scale * Float(rank),
            "target_modules": Set(modules.map(\.module.peftName)).sorted(), "fan_in_fan_out": false,
            "use_rslora": same && adapter.useRSLoRA, "lora_dropout": 0.0, "bias": "none", "inference_mode": true,
        ]
        json["base_model_name_or_path"] = baseModel ?? NSNull()
        let configBytes = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
        return (Array(configBytes), try Safetensors(tensors: tensors, metadata: ["format": "pt"]).serialized())
    }

    static func transpose(_ m: [Float], rows: Int, cols: Int) -> [Float] {
        var out = [Float](repeating: 0, count: m.count)
        for r in 0..<rows { for c in 0..<cols { out[c * rows + r] = m[r * cols + c] } }
        return out
    }
}
