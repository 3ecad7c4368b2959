import Foundation
import TailorEngine
import XCTest

@testable import TailorTraining

/// LoRA gradients of the causal-LM loss (prompt masked) against torch + PEFT, on the tiny random
/// llama, qwen2, qwen3, smollm3 and gemma3 models: all seven projections (the task adapter on the base) and q+v
/// (the user adapter over the frozen task adapter).
final class LoRAGradientTests: XCTestCase {
    private func check(_ arch: String, case name: String, checkpointing: Bool) throws {
        let model = try TrainingFixtures.model(arch)
        let ref = try TrainingFixtures.reference(arch)
        let tokens = (ref["tokens"] as! [NSNumber]).map { Int32($0.intValue) }
        let prompt = (ref["prompt"] as! NSNumber).intValue
        let expected = try XCTUnwrap((ref["cases"] as? [String: Any])?[name] as? [String: Any])
        let task = try TrainingFixtures.adapter(arch, "task", model: model)
        let trainable: TrainableLoRA, frozen: [AdapterUse]
        if name == "all7" {
            trainable = try TrainableLoRA(continuing: task, config: model.config)
            frozen = []
        } else {
            trainable = try TrainableLoRA(
                continuing: try TrainingFixtures.adapter(arch, "user", model: model), config: model.config)
            frozen = [AdapterUse(task)]
        }
        let graph = TrainingGraph(model: model, maxTokens: 32, maxRank: 8, checkpointing: checkpointing, threads: 2)
        let logps = try graph.forward(tokens: tokens, targetStart: prompt, frozen: frozen, trainable: trainable)
        XCTAssertEqual(logps.count, tokens.count - prompt)
        let loss = -logps.reduce(0, +) / Float(logps.count)
        let refLoss = (expected["loss"] as! NSNumber).floatValue
        XCTAssertEqual(loss, refLoss, accuracy: 1e-4 * max(1, abs(refLoss)), "\(arch) \(name) loss")
        graph.backward(scale: -1 / Float(logps.count))
        TrainingFixtures.assertGradients(
            trainable, config: model.config, reference: try TrainingFixtures.gradients(expected["grads"]),
            tolerance: 1e-3, "\(arch) \(name)\(checkpointing ? " (checkpointed)" : "")")
    }

    func testAllSevenProjectionsMatchPEFT() throws {
        for arch in TrainingFixtures.architectures { try check(arch, case: "all7", checkpointing: false) }
    }

    func testQueryValueAdapterOverAFrozenTaskAdapterMatchesPEFT() throws {
        for arch in TrainingFixtures.architectures { try check(arch, case: "qv", checkpointing: false) }
    }

    func testCheckpointingGivesTheSameGradients() throws {
        for arch in TrainingFixtures.architectures { try check(arch, case: "all7", checkpointing: true) }
    }
}
