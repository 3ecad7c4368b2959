import Foundation

/// Why a PEFT adapter could not be imported. Each case names the file part and the problem.
public enum PEFTError: Error, Equatable, Sendable, CustomStringConvertible {
    case badConfig(String)
    case unsupportedTarget(String)
    case unexpectedTensor(String)
    case missingTensor(String)
    case shapeMismatch(tensor: String, expected: [Int], found: [Int])
    case architectureMismatch(adapterFor: String, model: String)

    public var description: String {
        switch self {
        case let .badConfig(m): return "adapter_config.json: \(m)"
        case let .unsupportedTarget(t): return "adapter_config.json: target module '\(t)' is not supported (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)"
        case let .unexpectedTensor(t): return "adapter_model.safetensors: unexpected tensor '\(t)'"
        case let .missingTensor(t): return "adapter_model.safetensors: missing tensor '\(t)'"
        case let .shapeMismatch(t, e, f): return "adapter_model.safetensors: tensor '\(t)' has shape \(f), the base model needs \(e)"
        case let .architectureMismatch(a, m): return "adapter_config.json: the adapter was trained on a \(a); the base model is a \(m) model"
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
        case .gemma3: return ["Gemma3ForCausalLM", "Gemma3ForConditionalGeneration", "Gemma3TextModel"]
        }
    }

    /// Parses and checks `adapter_config.json`.
    public static func parseConfig(_ data: Data) throws -> Config {
        guard let j = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { throw PEFTError.badConfig("not a JSON object") }
        if let t = j["peft_type"] as? String, t != "LORA" { throw PEFTError.badConfig("peft_type is \(t), only LORA is supported") }
        guard let r = j["r"] as? Int, r > 0 else { throw PEFTError.badConfig("r must be a positive integer") }
        guard let alpha = (j["lora_alpha"] as? NSNumber)?.floatValue, alpha > 0 else { throw PEFTError.badConfig("lora_alpha must be a positive number") }
        let targets: [String]
        if let list = j["target_modules"] as? [String] { targets = list }
        else if let one = j["target_modules"] as? String { targets = [one] }
        else { throw PEFTError.badConfig("target_modules is missing") }
        if let rp = j["rank_pattern"] as? [String: Any], !rp.isEmpty { throw PEFTError.badConfig("rank_pattern is not supported") }
        if let ap = j["alpha_pattern"] as? [String: Any], !ap.isEmpty { throw PEFTError.badConfig("alpha_pattern is not supported") }
        if let m = j["modules_to_save"] as? [String], !m.isEmpty { throw PEFTError.badConfig("modules_to_save is not supported") }
        return Config(r: r, loraAlpha: alpha, targetModules: targets, fanInFanOut: j["fan_in_fan_out"] as? Bool ?? false,
                      useRSLoRA: j["use_rslora"] as? Bool ?? false, baseModel: j["base_model_name_or_path"] as? String,
                      baseModelClass: (j["auto_mapping"] as? [String: Any])?["base_model_class"] as? String)
    }

    /// Imports an adapter for a model of `config`: every declared target in every layer must be
    /// present with the base model's shapes, and nothing else may be.
    public static func load(name: String, configJSON: Data, safetensors: [UInt8], config: ModelConfig) throws -> LoRAAdapter {
        let cfg = try parseConfig(configJSON)
        // Same shapes do not make the same model: a recorded model class must match.
        if let cls = cfg.baseModelClass, !modelClasses(config.architecture).contains(cls) {
            throw PEFTError.architectureMismatch(adapterFor: cls, model: config.architecture.rawValue)
        }
        var targets: [LoRATarget] = []
        for t in cfg.targetModules {
            guard let target = LoRATarget.allCases.first(where: { $0.peftName == t }) else { throw PEFTError.unsupportedTarget(t) }
            targets.append(target)
        }
        let file = try Safetensors(bytes: safetensors)
        var found: [String: (layer: Int, target: LoRATarget, isA: Bool)] = [:]
        for key in file.tensors.keys {
            let parts = key.split(separator: ".").map(String.init)
            guard let li = parts.firstIndex(of: "layers"), li + 1 < parts.count, let layer = Int(parts[li + 1]),
                  let target = targets.first(where: { parts.contains($0.peftName) }),
                  let ab = parts.first(where: { $0 == "lora_A" || $0 == "lora_B" }), parts.last == "weight" else {
                throw PEFTError.unexpectedTensor(key)
            }
            found[key] = (layer, target, ab == "lora_A")
        }
        var hf: [LoRAAdapter.HFWeights] = []
        for layer in 0..<config.layerCount {
            for target in targets {
                let module = [LoRATarget.q, .k, .v, .o].contains(target) ? "self_attn" : "mlp"
                func tensor(_ isA: Bool) throws -> (key: String, t: Safetensors.Tensor) {
                    guard let key = found.first(where: { $0.value.layer == layer && $0.value.target == target && $0.value.isA == isA })?.key else {
                        throw PEFTError.missingTensor("base_model.model.model.layers.\(layer).\(module).\(target.peftName).lora_\(isA ? "A" : "B").weight")
                    }
                    return (key, file.tensors[key]!)
                }
                let (ka, a) = try tensor(true), (kb, b) = try tensor(false)
                let (inputs, outputs) = config.shape(of: target)
                let r = cfg.r
                // PEFT stores A [r, in] and B [out, r]; fan_in_fan_out stores them transposed.
                let wantA = cfg.fanInFanOut ? [inputs, r] : [r, inputs], wantB = cfg.fanInFanOut ? [r, outputs] : [outputs, r]
                guard a.shape == wantA else { throw PEFTError.shapeMismatch(tensor: ka, expected: wantA, found: a.shape) }
                guard b.shape == wantB else { throw PEFTError.shapeMismatch(tensor: kb, expected: wantB, found: b.shape) }
                let av = cfg.fanInFanOut ? transpose(a.values, rows: inputs, cols: r) : a.values
                let bv = cfg.fanInFanOut ? transpose(b.values, rows: r, cols: outputs) : b.values
                hf.append(.init(layer: layer, target: target, a: av, b: bv, rank: r))
            }
        }
        return try LoRAAdapter.fromHuggingFace(name: name, rank: cfg.r, alpha: cfg.loraAlpha, useRSLoRA: cfg.useRSLoRA,
                                               weights: hf, config: config)
    }

    /// Exports `adapter` as PEFT files: (adapter_config.json, adapter_model.safetensors) bytes.
    public static func export(_ adapter: LoRAAdapter, config: ModelConfig, baseModel: String?) throws -> (config: [UInt8], safetensors: [UInt8]) {
        var tensors: [String: Safetensors.Tensor] = [:]
        var targets = Set<String>()
        for w in adapter.huggingFaceWeights(config: config) {
            let module = [LoRATarget.q, .k, .v, .o].contains(w.target) ? "self_attn" : "mlp"
            let prefix = "base_model.model.model.layers.\(w.layer).\(module).\(w.target.peftName)"
            let (inputs, outputs) = config.shape(of: w.target)
            tensors[prefix + ".lora_A.weight"] = .init(shape: [w.rank, inputs], values: w.a)
            tensors[prefix + ".lora_B.weight"] = .init(shape: [outputs, w.rank], values: w.b)
            targets.insert(w.target.peftName)
        }
        var json: [String: Any] = [
            "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": adapter.rank, "lora_alpha": adapter.alpha,
            "target_modules": targets.sorted(), "fan_in_fan_out": false, "use_rslora": adapter.useRSLoRA,
            "lora_dropout": 0.0, "bias": "none", "inference_mode": true,
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
