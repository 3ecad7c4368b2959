import TailorEngine
import TailorTestSupport
import TailorTraining
import TailorWire
import XCTest

@testable import TailorJobs

/// `tailor train --print-config`: each kind's stages as PEFT's and TRL's arguments, holding the
/// values the job itself would train with.
final class HuggingFaceConfigTests: XCTestCase {
    private func configs(_ kind: String, _ edit: (inout Jobs.Parameters) -> Void = { _ in }) throws -> [String: Any] {
        var request = Jobs.SubmitRequest(kind: kind, user: "u", task: "t")
        edit(&request.parameters)
        return try JobSpec(request).huggingFaceConfigs()
    }

    func testCoPeHasEveryStageWithTheJobsValues() throws {
        let c = try configs("cope") {
            $0.learningRate = 1e-3; $0.rank = 16; $0.targets = ["q", "k", "v", "o"]
        }
        XCTAssertEqual(Set(c.keys), ["kind", "peft", "sft", "negatives", "dpo"])
        let peft = try XCTUnwrap(c["peft"] as? [String: Any])
        XCTAssertEqual(peft["r"] as? Int, 16)
        XCTAssertEqual(peft["target_modules"] as? [String], ["q_proj", "k_proj", "v_proj", "o_proj"])
        XCTAssertEqual(peft["lora_dropout"] as? Double, 0)
        let sft = try XCTUnwrap(c["sft"] as? [String: Any])
        XCTAssertEqual(sft["learning_rate"] as? Double, 1e-3)
        XCTAssertEqual(sft["num_train_epochs"] as? Int, TrainingConfiguration.oppu.epochs)
        XCTAssertEqual(sft["completion_only_loss"] as? Bool, true)
        XCTAssertEqual(sft["max_length"] as? Int, JobSpec.defaultMaxTokens)
        let dpo = try XCTUnwrap(c["dpo"] as? [String: Any])
        // DPO keeps the reference's ratio to OPPU's rate (5e-6 : 1e-4).
        XCTAssertEqual(dpo["learning_rate"] as? Double ?? 0, 5e-5, accuracy: 1e-9)
        XCTAssertEqual(dpo["beta"] as? Double, 0.01)
        XCTAssertEqual(dpo["loss_type"] as? String, "sigmoid")
        XCTAssertEqual((c["negatives"] as? [String: Any])?["num_samples"] as? Int, NegativeConfiguration().samples)
    }

    /// PEFT names a model's modules: Phi-3 fuses Q/K/V and gate/up, so adapting q and v is
    /// adapting qkv_proj there; and Phi-3's names are accepted as targets, standing for their parts.
    func testModuleNamesFollowTheModel() throws {
        func modules(_ arch: String, _ targets: [String]) throws -> [String]? {
            var request = Jobs.SubmitRequest(kind: "oppu", user: "u", task: "t")
            request.parameters.targets = targets
            let config = try Model(path: TestPaths.tinyModel(arch)).config
            let c = try JobSpec(request).huggingFaceConfigs(model: config)
            return (c["peft"] as? [String: Any])?["target_modules"] as? [String]
        }
        XCTAssertEqual(try modules("llama", ["q", "v"]), ["q_proj", "v_proj"])
        XCTAssertEqual(try modules("phi3", ["q", "v"]), ["qkv_proj"])
        XCTAssertEqual(
            try modules("phi3", ["v", "o", "up", "down"]), ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"])
        XCTAssertEqual(try modules("phi3", ["qkv_proj"]), ["qkv_proj"])
        var c = TrainingConfiguration.oppu
        c.targets = ["qkv_proj", "q", "gate_up_proj"]
        XCTAssertEqual(try c.loraTargets(), [.q, .k, .v, .gate, .up])
        c.targets = ["qk_proj"]
        XCTAssertThrowsError(try c.loraTargets())
    }

    func testEachKindHasOnlyItsStages() throws {
        XCTAssertEqual(Set(try configs("tam").keys), ["kind", "peft", "sft"])
        XCTAssertEqual((try configs("tam")["peft"] as? [String: Any])?["r"] as? Int, TrainingConfiguration.tam.rank)
        XCTAssertEqual(Set(try configs("oppu").keys), ["kind", "peft", "sft"])
        XCTAssertEqual(Set(try configs("negatives").keys), ["kind", "negatives"])
        XCTAssertEqual(Set(try configs("dpo").keys), ["kind", "peft", "dpo"])
        XCTAssertThrowsError(try configs("oppu") { $0.targets = ["lm_head"] })
    }
}
