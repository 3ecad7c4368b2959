import Foundation
import TailorEngine
import TailorTestSupport
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

    /// The integer forward path changes only how the frozen weights' forward products round
    /// (int16 activations; the backward pass's transposed products stay f32), so on SmolLM2's
    /// Q4_1 weights the loss and the gradients stay within a percent of the float path's.
    func testIntegerForwardPathKeepsSmolLM2sGradients() throws {
        let model = try Model(path: try TestPaths.requireModel(TestPaths.smolLM2))
        let tokens = model.tokenizer.encode(
            "Subject: Fix the tokenizer's handling of empty lines in docstrings", addSpecial: true,
            parseSpecial: false)
        var losses: [Float] = [], grads: [[Float]] = []
        for path in PrefillPath.allCases {
            let graph = TrainingGraph(
                model: model, maxTokens: tokens.count, maxRank: 4, threads: 2, prefill: .forced(path))
            XCTAssertEqual(graph.forwardPath, path)
            let tr = TrainableLoRA(config: model.config, rank: 4, alpha: 8, targets: [.q, .v, .down], seed: 7)
            let logps = try graph.forward(tokens: tokens, targetStart: 4, trainable: tr)
            losses.append(-logps.reduce(0, +) / Float(logps.count))
            graph.backward(scale: -1 / Float(logps.count))
            grads.append(Array(UnsafeBufferPointer(start: tr.grads, count: tr.count)))
        }
        XCTAssertEqual(losses[0], losses[1], accuracy: 1e-3 * abs(losses[0]), "loss, float vs integer")
        let scale = grads[0].map(abs).max() ?? 0
        XCTAssertGreaterThan(scale, 0)
        let worst = zip(grads[0], grads[1]).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThanOrEqual(worst, 1e-2 * scale, "max |Δgrad| against the largest gradient \(scale)")
        XCTAssertNotEqual(grads[0], grads[1], "the integer path was not taken")
    }

    func testCheckpointingGivesTheSameGradients() throws {
        for arch in TrainingFixtures.architectures { try check(arch, case: "all7", checkpointing: true) }
    }
}
