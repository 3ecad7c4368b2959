import Foundation
import TailorTestSupport
import XCTest

@testable import TailorEngine

final class PEFTAdapterTests: XCTestCase {
    private func peftDir(_ arch: String, _ name: String) -> URL {
        TestPaths.fixtures.appendingPathComponent("lora/\(arch)-\(name)-peft")
    }

    private func importAdapter(_ arch: String, _ name: String, config: ModelConfig) throws -> LoRAAdapter {
        let dir = peftDir(arch, name)
        return try PEFTAdapter.load(
            name: name, configJSON: Data(contentsOf: dir.appendingPathComponent("adapter_config.json")),
            safetensors: [UInt8](try Data(contentsOf: dir.appendingPathComponent("adapter_model.safetensors"))),
            config: config)
    }

    /// Logits of the task and task+0.5·user stacks, as LoRATests computes them.
    private func run(_ model: Model, tokens: [Int32], task: LoRAAdapter, user: LoRAAdapter) throws -> [[[Float]]] {
        let n = tokens.count
        let ctx = InferenceContext(
            model: model, maxSequences: 2, maxContext: 64, maxBatchTokens: 2 * n, maxLogitRows: 2 * n, threads: 2)
        try ctx.forward([
            BatchItem(sequence: 0, tokens: tokens, allLogits: true, adapters: [AdapterUse(task)]),
            BatchItem(
                sequence: 1, tokens: tokens, allLogits: true,
                adapters: [AdapterUse(task), AdapterUse(user, weight: 0.5)]),
        ])
        return (0..<2).map { s in (0..<n).map { Array(ctx.logits(row: s * n + $0)) } }
    }

    /// Adapters saved by PEFT's save_pretrained give transformers' logits, on every architecture.
    func testImportedPEFTAdaptersMatchTransformers() throws {
        for arch in ["llama", "qwen2", "qwen3", "smollm3", "gemma2", "gemma3", "phi3", "qwen3moe"] {
            let (model, _) = try TinyModelLogitTests.load(arch)
            let fx = try JSONDecoder().decode(
                LoRATests.Fixture.self,
                from: Data(contentsOf: TestPaths.fixtures.appendingPathComponent("lora/\(arch).json")))
            let task = try importAdapter(arch, "task", config: model.config)
            let user = try importAdapter(arch, "user", config: model.config)
            XCTAssertTrue(user.useRSLoRA)
            XCTAssertEqual(user.scale, 4 / Float(2).squareRoot(), accuracy: 1e-6)
            let got = try run(model, tokens: fx.tokens, task: task, user: user)
            for (s, key) in ["task", "task+0.5user"].enumerated() {
                let want = try XCTUnwrap(fx.expected[key])
                var worst: Float = 0
                for p in 0..<want.count {
                    for v in 0..<want[p].count { worst = max(worst, abs(got[s][p][v] - want[p][v])) }
                }
                XCTAssertLessThanOrEqual(worst, 1e-3, "\(arch) \(key)")
            }
        }
    }

    func testExportThenImportIsExact() throws {
        for arch in ["llama", "gemma3", "phi3"] {
            let (model, _) = try TinyModelLogitTests.load(arch)
            let task = try importAdapter(arch, "task", config: model.config)
            let (cfg, st) = try PEFTAdapter.export(task, config: model.config, baseModel: "tiny-\(arch)")
            let back = try PEFTAdapter.load(name: "again", configJSON: Data(cfg), safetensors: st, config: model.config)
            XCTAssertEqual(back.scale, task.scale)
            XCTAssertEqual(back.rank, task.rank)
            XCTAssertEqual(Set(back.weights.keys), Set(task.weights.keys))
            for (k, w) in task.weights {
                XCTAssertEqual(back.weights[k]!.a, w.a, "\(arch) \(k)")
                XCTAssertEqual(back.weights[k]!.b, w.b, "\(arch) \(k)")
            }
            // The export is in Hugging Face layout: it equals the PEFT file's own tensors.
            let original = try Safetensors(
                bytes: [UInt8](
                    Data(contentsOf: peftDir(arch, "task").appendingPathComponent("adapter_model.safetensors"))))
            let exported = try Safetensors(bytes: st)
            XCTAssertEqual(Set(exported.tensors.keys), Set(original.tensors.keys))
            for (k, t) in original.tensors { XCTAssertEqual(exported.tensors[k], t, k) }
        }
    }

    /// Tailor's export loads in peft (onto the same tiny transformers model) and gives the
    /// logits the imported adapter gives. Needs torch and peft, so it skips in CI.
    func testExportLoadsInPEFT() throws {
        try PythonTool.require("torch, peft, transformers")
        for arch in ["llama", "gemma3", "phi3"] {
            let (model, _) = try TinyModelLogitTests.load(arch)
            let task = try importAdapter(arch, "task", config: model.config)
            let (cfg, st) = try PEFTAdapter.export(task, config: model.config, baseModel: nil)
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tailor-peft-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            try Data(cfg).write(to: dir.appendingPathComponent("adapter_config.json"))
            try Data(st).write(to: dir.appendingPathComponent("adapter_model.safetensors"))
            let (status, data) = try PythonTool.run([
                TestPaths.packageRoot.appendingPathComponent("Scripts/fixtures/peft_logits.py").path, arch, dir.path,
            ])
            XCTAssertEqual(status, 0, "\(arch): peft could not load the export")
            let peftLogits = try JSONDecoder().decode([[Float]].self, from: data)
            let fx = try JSONDecoder().decode(
                LoRATests.Fixture.self,
                from: Data(contentsOf: TestPaths.fixtures.appendingPathComponent("lora/\(arch).json")))
            let want = try XCTUnwrap(fx.expected["task"])
            var worst: Float = 0
            for (p, row) in peftLogits.enumerated() {
                for v in 0..<row.count { worst = max(worst, abs(row[v] - want[p][v])) }
            }
            XCTAssertLessThanOrEqual(worst, 1e-3, "\(arch): peft logits with Tailor's export")
        }
    }

    func testFanInFanOutIsTransposed() throws {
        let (model, _) = try TinyModelLogitTests.load("qwen2")
        let dir = peftDir("qwen2", "task")
        var json =
            try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("adapter_config.json")))
            as! [String: Any]
        json["fan_in_fan_out"] = true
        var st = try Safetensors(
            bytes: [UInt8](Data(contentsOf: dir.appendingPathComponent("adapter_model.safetensors"))))
        for (k, t) in st.tensors {
            st.tensors[k] = .init(
                shape: [t.shape[1], t.shape[0]],
                values: PEFTAdapter.transpose(t.values, rows: t.shape[0], cols: t.shape[1]))
        }
        let transposed = try PEFTAdapter.load(
            name: "t", configJSON: JSONSerialization.data(withJSONObject: json),
            safetensors: try st.serialized(), config: model.config)
        let plain = try importAdapter("qwen2", "task", config: model.config)
        for (k, w) in plain.weights {
            XCTAssertEqual(transposed.weights[k]!.a, w.a); XCTAssertEqual(transposed.weights[k]!.b, w.b)
        }
    }

    func testMismatchedOrMalformedAdaptersAreRefusedByName() throws {
        let (gemma, _) = try TinyModelLogitTests.load("gemma3")
        XCTAssertThrowsError(try importAdapter("llama", "user", config: gemma.config), "a Llama adapter on Gemma") {
            XCTAssertEqual($0 as? PEFTError, .architectureMismatch(adapterFor: "LlamaForCausalLM", model: "gemma3"))
        }
        let (llama, _) = try TinyModelLogitTests.load("llama")
        let dir = peftDir("llama", "task")
        let cfg = try Data(contentsOf: dir.appendingPathComponent("adapter_config.json"))
        var st = try Safetensors(
            bytes: [UInt8](Data(contentsOf: dir.appendingPathComponent("adapter_model.safetensors"))))
        let gone = "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight"
        st.tensors[gone] = nil
        XCTAssertThrowsError(
            try PEFTAdapter.load(name: "x", configJSON: cfg, safetensors: try st.serialized(), config: llama.config)
        ) {
            XCTAssertEqual($0 as? PEFTError, .missingTensor(gone))
        }
        var json = try JSONSerialization.jsonObject(with: cfg) as! [String: Any]
        json["target_modules"] = ["q_proj", "lm_head"]
        XCTAssertThrowsError(
            try PEFTAdapter.load(
                name: "x", configJSON: JSONSerialization.data(withJSONObject: json),
                safetensors: [UInt8](Data(contentsOf: dir.appendingPathComponent("adapter_model.safetensors"))),
                config: llama.config)
        ) {
            XCTAssertEqual(
                $0 as? PEFTError,
                .unsupportedTarget("lm_head", supported: LoRATarget.allCases.map(\.peftName)))
        }
        json["target_modules"] = ["q_proj"]
        json["r"] = 0
        XCTAssertThrowsError(try PEFTAdapter.parseConfig(JSONSerialization.data(withJSONObject: json))) {
            XCTAssertEqual($0 as? PEFTError, .badConfig("r must be a positive integer"))
        }
        XCTAssertThrowsError(try PEFTAdapter.parseConfig(Data("[1]".utf8)))
    }

    /// Tensors the model has no place for are refused, not silently dropped: a layer past the
    /// model's last, or a second copy of one projection's A.
    func testTensorsBeyondTheModelAreRefused() throws {
        let (llama, _) = try TinyModelLogitTests.load("llama")
        let dir = peftDir("llama", "task")
        let cfg = try Data(contentsOf: dir.appendingPathComponent("adapter_config.json"))
        let original = try Safetensors(
            bytes: [UInt8](Data(contentsOf: dir.appendingPathComponent("adapter_model.safetensors"))))
        let name = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
        var extra = original
        extra.tensors[name.replacingOccurrences(of: "layers.0", with: "layers.99")] = original.tensors[name]
        XCTAssertThrowsError(
            try PEFTAdapter.load(name: "x", configJSON: cfg, safetensors: try extra.serialized(), config: llama.config)
        ) {
            XCTAssertEqual(
                $0 as? PEFTError, .unexpectedTensor(name.replacingOccurrences(of: "layers.0", with: "layers.99")))
        }
        var twice = original
        twice.tensors[name.replacingOccurrences(of: ".weight", with: ".default.weight")] = original.tensors[name]
        XCTAssertThrowsError(
            try PEFTAdapter.load(name: "x", configJSON: cfg, safetensors: try twice.serialized(), config: llama.config)
        ) {
            guard case .unexpectedTensor? = $0 as? PEFTError else { return XCTFail("\($0)") }
        }
    }
}

final class SafetensorsTests: XCTestCase {
    func testRoundTripWithMetadata() throws {
        let s = Safetensors(
            tensors: [
                "a.weight": .init(shape: [2, 3], values: [1, -2, 3.5, 0, 1e-8, -7]),
                "b": .init(shape: [0], values: []), "é \"quoted\"": .init(shape: [1], values: [42]),
            ],
            metadata: ["format": "pt", "note": "ünïcode"])
        let bytes = try s.serialized()
        XCTAssertEqual(Int(bytes[0]) % 8, 0, "header padded to 8 bytes")
        XCTAssertEqual(try Safetensors(bytes: bytes), s)
    }

    /// Hand-built files exercise what our writer never produces: F16/BF16 data, bad offsets.
    private func file(_ header: String, data: [UInt8]) -> [UInt8] {
        let h = Array(header.utf8)
        return (0..<8).map { UInt8((UInt64(h.count) >> (8 * UInt64($0))) & 0xFF) } + h + data
    }

    func testReadsHalfPrecisionAndRefusesBadFiles() throws {
        let half = try Safetensors(
            bytes: file(
                #"{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"#
                    + #""b":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]}}"#,
                data: [0x00, 0x3C, 0x00, 0xC0, 0x80, 0x3F]))
        XCTAssertEqual(half.tensors["h"]?.values, [1, -2])
        XCTAssertEqual(half.tensors["b"]?.values, [1])
        XCTAssertThrowsError(try Safetensors(bytes: [1, 2, 3])) {
            XCTAssertEqual($0 as? SafetensorsError, .truncated("3 bytes, no header length"))
        }
        XCTAssertThrowsError(try Safetensors(bytes: [255, 255, 255, 255, 255, 255, 255, 255])) {
            guard case .badHeader? = $0 as? SafetensorsError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(
            try Safetensors(
                bytes: file(#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: [0, 0, 0, 0]))
        ) {
            guard case .badTensor("x", _)? = $0 as? SafetensorsError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(
            try Safetensors(
                bytes: file(
                    #"{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8)))
        ) {
            guard case .badTensor("x", _)? = $0 as? SafetensorsError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(
            try Safetensors(
                bytes: file(
                    #"{"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8)))
        ) {
            XCTAssertEqual($0 as? SafetensorsError, .unsupportedDType(tensor: "x", dtype: "I64"))
        }
        XCTAssertThrowsError(try Safetensors(bytes: file("not json", data: [])))
    }

    /// The format's own rule: data regions in order, not overlapping, covering the data
    /// section. A 1.1 MB upload of 1,000 tensors aliasing one region once became 2 GiB of
    /// floats before any name was checked.
    func testRegionsMustNotOverlapNorLeaveGaps() throws {
        let data = [UInt8](repeating: 0, count: 1024)
        let aliases = (0..<1000).map { #""t\#($0)":{"dtype":"F32","shape":[256],"data_offsets":[0,1024]}"# }.joined(
            separator: ",")
        XCTAssertThrowsError(try Safetensors.Header(bytes: file("{" + aliases + "}", data: data))) {
            guard case let .badTensor(_, reason)? = $0 as? SafetensorsError else { return XCTFail("\($0)") }
            XCTAssertTrue(reason.contains("overlap"), reason)
        }
        XCTAssertThrowsError(
            try Safetensors(
                bytes: file(
                    #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"#
                        + #""b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#,
                    data: Array(repeating: 0, count: 12)))
        ) {
            guard case let .badTensor("b", reason)? = $0 as? SafetensorsError else { return XCTFail("\($0)") }
            XCTAssertTrue(reason.contains("unused"), reason)
        }
        XCTAssertThrowsError(
            try Safetensors(
                bytes: file(
                    #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: Array(repeating: 0, count: 8)))
        ) {
            XCTAssertEqual($0 as? SafetensorsError, .badHeader("the tensors cover 4 of the 8 data bytes"))
        }
    }
}
