import Foundation
import TailorEngine
import TailorTestSupport
import XCTest

@testable import TailorTraining

/// The committed references of Scripts/fixtures/make_training_fixtures.py and the tiny models
/// and adapters they were made with.
enum TrainingFixtures {
    static let architectures = ["llama", "qwen2", "qwen3", "smollm3", "gemma2", "gemma3", "phi3", "qwen3moe"]

    static func model(_ arch: String) throws -> Model {
        try Model(path: TestPaths.tinyModel(arch))
    }

    /// The "task" (r=4, all seven projections) or "user" (r=2, rsLoRA, q and v) adapter.
    static func adapter(_ arch: String, _ name: String, model: Model) throws -> LoRAAdapter {
        let dir = TestPaths.fixtures.appendingPathComponent("lora/\(arch)-\(name)-peft")
        return try PEFTAdapter.load(
            name: name, configJSON: Data(contentsOf: dir.appendingPathComponent("adapter_config.json")),
            safetensors: [UInt8](Data(contentsOf: dir.appendingPathComponent("adapter_model.safetensors"))),
            config: model.config)
    }

    static func reference(_ arch: String) throws -> [String: Any] {
        let url = TestPaths.repository("Tests/TailorTrainingTests/Fixtures/\(arch).json")
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    /// Reference gradients by (layer, PEFT target name): (dA, dB) in PEFT layout.
    static func gradients(_ list: Any?) throws -> [String: (da: [Float], db: [Float])] {
        let items = try XCTUnwrap(list as? [[String: Any]])
        var out: [String: (da: [Float], db: [Float])] = [:]
        for g in items {
            let key = "\(g["layer"]!)/\(g["target"]!)"
            out[key] = ((g["da"] as! [NSNumber]).map(\.floatValue), (g["db"] as! [NSNumber]).map(\.floatValue))
        }
        return out
    }

    /// ‖a − b‖ / ‖b‖.
    static func relativeError(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count)
        var num = 0.0, den = 0.0
        for i in a.indices {
            num += Double(a[i] - b[i]) * Double(a[i] - b[i])
            den += Double(b[i]) * Double(b[i])
        }
        return (num / max(den, 1e-300)).squareRoot()
    }

    /// Checks `trainable`'s gradients against the reference, projection by projection.
    static func assertGradients(
        _ trainable: TrainableLoRA, config: ModelConfig, reference: [String: (da: [Float], db: [Float])],
        tolerance: Double, _ label: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        var ours: [LoRAAdapter.Key: LoRAAdapter.HFWeights] = [:]
        for w in trainable.gradientsAsAdapter().huggingFaceWeights(config: config) {
            ours[.init(layer: w.layer, target: w.target)] = w
        }
        // A fused module (Phi-3's qkv_proj, gate_up_proj) shares one A among its parts, trained
        // here as copies: its dA is the sum of theirs, its dB theirs stacked.
        var modules: [String: (da: [Float], db: [Float])] = [:]
        for layer in 0..<config.layerCount {
            for module in config.loraModules {
                let parts = module.parts.compactMap { ours[.init(layer: layer, target: $0)] }
                guard let first = parts.first else { continue }
                var da = [Float](repeating: 0, count: first.a.count)
                for p in parts { for i in da.indices { da[i] += p.a[i] } }
                modules["\(layer)/\(module.peftName)"] = (da, parts.flatMap(\.b))
            }
        }
        XCTAssertEqual(modules.count, reference.count, "\(label): projections", file: file, line: line)
        for (key, w) in modules.sorted(by: { $0.key < $1.key }) {
            guard let ref = reference[key] else {
                XCTFail("\(label): no reference for \(key)", file: file, line: line); continue
            }
            let ea = relativeError(w.da, ref.da), eb = relativeError(w.db, ref.db)
            XCTAssertLessThanOrEqual(ea, tolerance, "\(label) \(key) dA", file: file, line: line)
            XCTAssertLessThanOrEqual(eb, tolerance, "\(label) \(key) dB", file: file, line: line)
        }
    }
}
