import Foundation
import TailorEngine
import TailorTestSupport
import XCTest

@testable import TailorTraining

/// LoRA gradients of the causal-LM loss (prompt masked) against torch + PEFT, on the tiny random
/// llama, qwen2, qwen3, smollm3 and gemma3 models: all seven projections (the task adapter on the base) and q+v
/// (the user adapter over the frozen task adapter).
final class LoRAGradientTests: ExactPathTestCase {
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

    /// SmolLM2's loss and LoRA gradients on `path`'s forward products, and on the float path's.
    private func lossAndGradients(
        on path: PrefillPath
    ) throws -> (float: (loss: Float, grads: [Float]), path: (loss: Float, grads: [Float])) {
        let model = try Model(path: try TestPaths.requireModel(TestPaths.smolLM2))
        let tokens = model.tokenizer.encode(
            "Subject: Fix the tokenizer's handling of empty lines in docstrings", addSpecial: true,
            parseSpecial: false)
        func run(_ path: PrefillPath) throws -> (loss: Float, grads: [Float]) {
            let graph = TrainingGraph(
                model: model, maxTokens: tokens.count, maxRank: 4, threads: 2, prefill: .forced(path))
            XCTAssertEqual(graph.forwardPath, path)
            let tr = TrainableLoRA(config: model.config, rank: 4, alpha: 8, targets: [.q, .v, .down], seed: 7)
            let logps = try graph.forward(tokens: tokens, targetStart: 4, trainable: tr)
            graph.backward(scale: -1 / Float(logps.count))
            return (
                -logps.reduce(0, +) / Float(logps.count), Array(UnsafeBufferPointer(start: tr.grads, count: tr.count))
            )
        }
        return (try run(.float), try run(path))
    }

    /// Checks `path`'s loss and gradients against the float path's within the given fractions
    /// of the loss and of the largest gradient.
    private func checkForwardPath(_ path: PrefillPath, loss lossTolerance: Float, grads gradTolerance: Float) throws {
        let (float, other) = try lossAndGradients(on: path)
        XCTAssertEqual(float.loss, other.loss, accuracy: lossTolerance * abs(float.loss), "loss, float vs \(path)")
        let scale = float.grads.map(abs).max() ?? 0
        XCTAssertGreaterThan(scale, 0)
        let worst = zip(float.grads, other.grads).map { abs($0 - $1) }.max() ?? .infinity
        print("\(path) forward: loss \(other.loss) vs \(float.loss); max |Δgrad| \(worst) of \(scale)")
        XCTAssertLessThanOrEqual(worst, gradTolerance * scale, "max |Δgrad| against the largest gradient \(scale)")
        XCTAssertNotEqual(float.grads, other.grads, "the \(path) path was not taken")
    }

    /// The integer forward path changes only how the frozen weights' forward products round
    /// (int16 activations; the backward pass's transposed products stay f32), so on SmolLM2's
    /// Q4_1 weights the loss and the gradients stay within a percent of the float path's.
    func testIntegerForwardPathKeepsSmolLM2sGradients() throws {
        try checkForwardPath(.integer, loss: 1e-3, grads: 1e-2)
    }

    /// The bf16 forward path rounds the frozen products' activations and weights to 8 bits of
    /// mantissa (the transposed products stay f32): the loss stays within 0.5% and the gradients
    /// within 2.5% of the largest (measured 0.17% and 0.9%), the noise of bf16 mixed-precision
    /// training.
    func testBFloat16ForwardPathKeepsSmolLM2sGradients() throws {
        try XCTSkipUnless(PrefillPath.bfloat16.isAvailable, "the bf16 path cannot run on this host (oneDNN)")
        try checkForwardPath(.bfloat16, loss: 5e-3, grads: 2.5e-2)
    }

    func testCheckpointingGivesTheSameGradients() throws {
        for arch in TrainingFixtures.architectures { try check(arch, case: "all7", checkpointing: true) }
    }
}
