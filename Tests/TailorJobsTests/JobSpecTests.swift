import TailorTraining
import TailorWire
import XCTest

@testable import TailorJobs

/// A job submission's parameters come from any client: each is range-checked before a job
/// exists, since a value that overflows in the trainer would trap on the job thread and take
/// the daemon with it.
final class JobSpecTests: XCTestCase {
    private func spec(_ edit: (inout Jobs.Parameters) -> Void) throws -> JobSpec {
        var p = Jobs.Parameters()
        edit(&p)
        var request = Jobs.SubmitRequest(kind: "cope", user: "u", task: "t")
        request.parameters = p
        return try JobSpec(request)
    }

    private let smolLM2 = TrainingPreset.ModelShape(architecture: "llama", embeddingLength: 576, layerCount: 30)

    /// The user's stages take the rates tuned for the model where it has them; the reference's
    /// preset, an unknown model and a task adapter take the reference code's; a rate the
    /// request gives wins; an unknown preset is refused naming the field.
    func testPresetsFillTheUnsetRates() throws {
        func job(
            _ kind: String, preset: String = "", shape: TrainingPreset.ModelShape?, lr: Float = 0
        ) throws -> JobSpec {
            var request = Jobs.SubmitRequest(kind: kind, user: "u", task: "t")
            request.parameters.preset = preset
            request.parameters.learningRate = lr
            return try JobSpec(request, shape: shape)
        }
        let tuned = try job("cope", shape: smolLM2)
        XCTAssertEqual(tuned.sft.learningRate, 3e-3)
        XCTAssertEqual(tuned.dpo.learningRate, 1.5e-4)
        XCTAssertEqual(tuned.preset, "SmolLM2-135M, docs/results/tuning-commit_subject")
        XCTAssertEqual(try job("oppu", preset: "tuned", shape: smolLM2).sft.learningRate, 3e-3)
        let reference = try job("cope", preset: "reference", shape: smolLM2)
        XCTAssertEqual(reference.sft.learningRate, 1e-4)
        XCTAssertEqual(reference.dpo.learningRate, 5e-6)
        XCTAssertEqual(reference.preset, "the CoPe reference code")
        XCTAssertEqual(try job("cope", shape: nil).sft.learningRate, 1e-4, "unknown model")
        let other = TrainingPreset.ModelShape(architecture: "llama", embeddingLength: 4096, layerCount: 32)
        XCTAssertEqual(try job("cope", shape: other).sft.learningRate, 1e-4, "a model never tuned")
        XCTAssertEqual(try job("tam", shape: smolLM2).sft.learningRate, TrainingConfiguration.tam.learningRate)
        XCTAssertNil(try job("tam", shape: smolLM2).preset)
        let given = try job("cope", shape: smolLM2, lr: 1e-3)
        XCTAssertEqual(given.sft.learningRate, 1e-3)
        XCTAssertEqual(given.dpo.learningRate, 5e-5, accuracy: 1e-9, "DPO keeps the ratio to a given rate")
        XCTAssertThrowsError(try job("cope", preset: "fast", shape: smolLM2)) { error in
            XCTAssertEqual(
                error as? JobSpecError,
                .invalidArgument(field: "parameters.preset", message: "preset must be tuned or reference, not 'fast'"))
        }
    }

    /// A mixture of experts trains attention only: a job naming a feed-forward target for one is
    /// refused at submission, naming the target; the default targets and a dense model pass.
    func testExpertTargetsAreRefusedForAMixture() throws {
        let moe = TrainingPreset.ModelShape(
            architecture: "qwen3moe", embeddingLength: 64, layerCount: 2, expertCount: 8)
        let dense = TrainingPreset.ModelShape(architecture: "qwen3", embeddingLength: 64, layerCount: 2)
        func job(_ targets: [String], shape: TrainingPreset.ModelShape) throws -> JobSpec {
            var request = Jobs.SubmitRequest(kind: "oppu", user: "u", task: "t")
            request.parameters.targets = targets
            return try JobSpec(request, shape: shape)
        }
        XCTAssertEqual(try job([], shape: moe).sft.targets, ["q", "v"])
        XCTAssertEqual(try job(["q", "k", "v", "o"], shape: moe).sft.targets, ["q", "k", "v", "o"])
        XCTAssertEqual(try job(["q", "down"], shape: dense).sft.targets, ["q", "down"])
        XCTAssertThrowsError(try job(["q", "gate_up_proj"], shape: moe)) { error in
            XCTAssertEqual(
                error as? JobSpecError,
                .invalidArgument(
                    field: "parameters.targets",
                    message:
                        """
                        LoRA target 'gate' is a feed-forward projection, which is routed experts in this \
                        qwen3moe model; use attention targets (q, k, v, o)
                        """))
        }
    }

    func testDefaultsAndOverrides() throws {
        let s = try spec {
            $0.rank = 16; $0.epochs = 2; $0.samples = 4; $0.maxTokens = 512
        }
        XCTAssertEqual(s.sft.rank, 16)
        XCTAssertEqual(s.sft.epochs, 2)
        XCTAssertEqual(s.negatives.samples, 4)
        XCTAssertEqual(s.maxTokens, 512)
        XCTAssertEqual(try JobSpec.decode(s.json()), s)
    }

    /// A cope job's learning_rate is OPPU's. DPO took the reference's 5e-6 whatever it was,
    /// so a demo at OPPU 1e-3 ran a DPO stage that moved the adapter by nothing; it now keeps
    /// the reference's ratio, or takes its own rate.
    func testCopeJobsDPORateFollowsOPPUsUnlessGiven() throws {
        XCTAssertEqual(try spec { _ in }.dpo.learningRate, 5e-6)
        let scaled = try spec { $0.learningRate = 1e-3 }
        XCTAssertEqual(scaled.sft.learningRate, 1e-3)
        XCTAssertEqual(scaled.dpo.learningRate, 5e-5, accuracy: 1e-9)
        XCTAssertEqual(
            try spec {
                $0.learningRate = 1e-3; $0.dpoLearningRate = 2e-4
            }.dpo.learningRate, 2e-4)
        XCTAssertThrowsError(try spec { $0.dpoLearningRate = 3 }) {
            XCTAssertTrue("\($0)".contains("learning rate"), "\($0)")
        }
    }

    func testOutOfRangeParametersAreInvalidArgument() {
        let bad: [(String, (inout Jobs.Parameters) -> Void)] = [
            ("batch size", { $0.batchSize = .max }),  // batch × accumulation overflowed Int
            ("batch size", { $0.gradientAccumulation = .max }),
            ("max new tokens", { $0.maxNewTokens = .max }),
            ("rank", { $0.rank = 100_000 }),
            ("epochs", { $0.epochs = .max }),
            ("alpha", { $0.alpha = .infinity }),
            ("beta", { $0.beta = .infinity }),
            ("clip", { $0.maxGradNorm = .infinity }),
            ("alpha", { $0.rewardAlpha = .infinity }),
            ("max_tokens", { $0.maxTokens = .max }),
            ("negative samples", { $0.samples = 1000 }),
        ]
        for (word, edit) in bad {
            XCTAssertThrowsError(try spec(edit), word) { e in
                guard case .invalidArgument(let field, _) = e as? JobSpecError else { return XCTFail("\(e)") }
                XCTAssertTrue(field.hasPrefix("parameters"), field)
                XCTAssertTrue("\(e)".contains(word), "\(e) lacks \(word)")
            }
        }
        XCTAssertThrowsError(
            try JobSpec(Jobs.SubmitRequest(kind: String(repeating: "k", count: 10_000), user: "u", task: "t"))
        ) {
            XCTAssertLessThan("\($0)".utf8.count, 200)
        }
    }
}
