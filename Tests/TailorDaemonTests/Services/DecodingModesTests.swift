import Foundation
import TailorClient
import TailorEngine
import TailorStore
import TailorWire
import XCTest

@testable import TailorDaemon

/// Decoding modes through the daemon: base, tam, oppu, dpo-only, cope and cd-only pick their
/// adapter versions by the stage that made them, and CoPe streams why each token won.
final class DecodingModesTests: XCTestCase {
    private func peft(_ name: String) throws -> (config: String, weights: [UInt8]) {
        let dir = AdaptersServiceTests.lora.appendingPathComponent("llama-\(name)-peft")
        return (
            try String(contentsOf: dir.appendingPathComponent("adapter_config.json"), encoding: .utf8),
            [UInt8](try Data(contentsOf: dir.appendingPathComponent("adapter_model.safetensors")))
        )
    }

    private func run(
        _ c: TailorClient, mode: String, adapters: [AdapterRef] = [], alpha: Float = 0,
        personalized: Bool = true
    ) async throws -> (ids: [Int32], events: [GenerateEvent]) {
        let named = adapters.isEmpty && personalized
        var r = GenerateRequest(
            model: "tiny", input: .prompt("the theme"), maxTokens: 8, user: named ? "alice" : "",
            task: named ? "email" : "", adapters: adapters)
        r.mode = mode
        r.copeAlpha = alpha
        var ids: [Int32] = [], events: [GenerateEvent] = []
        for try await e in try c.generate(r) {
            events.append(e)
            switch e {
            case let .token(id, _, _, _), let .contrastiveToken(id, _, _, _, _, _): ids.append(Int32(id))
            case .stats: break
            }
        }
        return (ids, events)
    }

    func testModesPickVersionsByStageAndCoPeExplainsItsTokens() async throws {
        let d = try await DaemonHarness()
        let c = try await d.client()
        let models = try await c.models()
        let (tc, tw) = try peft("task"), (uc, uw) = try peft("user")
        _ = try await c.importAdapter(
            ImportAdapterRequest(ref: AdapterRef(task: "email", kind: "task"), format: "peft", peftConfigJSON: tc),
            weights: tw)
        // Two user versions as training jobs publish them: OPPU (v1), then DPO (v2).
        let key = AdapterKey(owner: geteuid(), kind: .user, task: "email", user: "alice")
        let model = try Model(path: DaemonHarness.tinyModel)
        for (stage, cfg, w) in [("oppu", uc, uw), ("dpo", tc, tw)] {
            let a = try PEFTAdapter.load(name: stage, configJSON: Data(cfg.utf8), safetensors: w, config: model.config)
            let record = AdapterVersionRecord(
                baseModelSHA256: models[0].sha256, baseArchitecture: "llama", rank: a.rank, alpha: a.alpha,
                useRSLoRA: a.useRSLoRA, targets: [], jobID: "job-x", stage: stage)
            _ = try d.registry.add(key, record: record, configJSON: Array(cfg.utf8), weights: w, makeCurrent: true)
        }
        let task = AdapterRef(task: "email", kind: "task")
        let v1 = AdapterRef(user: "alice", task: "email", kind: "user", version: 1),
            v2 = AdapterRef(user: "alice", task: "email", kind: "user", version: 2)
        let oppu = try await run(c, mode: "oppu"), viaV1 = try await run(c, mode: "", adapters: [task, v1])
        XCTAssertEqual(oppu.ids, viaV1.ids, "oppu uses the OPPU version")
        let dpo = try await run(c, mode: "dpo-only"), viaV2 = try await run(c, mode: "", adapters: [task, v2])
        XCTAssertEqual(dpo.ids, viaV2.ids, "dpo-only uses the DPO version")
        XCTAssertNotEqual(oppu.ids, dpo.ids)
        let base = try await run(c, mode: "base"), none = try await run(c, mode: "", personalized: false)
        XCTAssertEqual(base.ids, none.ids, "base ignores the user's adapters")
        let tam = try await run(c, mode: "tam"), taskOnly = try await run(c, mode: "", adapters: [task])
        XCTAssertEqual(tam.ids, taskOnly.ids)

        // CoPe: the DPO version contrasted with the task adapter, as the engine decodes it.
        let cope = try await run(c, mode: "cope", alpha: 0.5)
        let ctx = InferenceContext(model: model, maxSequences: 2, maxContext: 256, maxBatchTokens: 256, threads: 1)
        let taskA = try PEFTAdapter.load(name: "t", configJSON: Data(tc.utf8), safetensors: tw, config: model.config)
        let (expected, _) = try ContrastiveGenerator(
            context: ctx, user: [AdapterUse(taskA), AdapterUse(taskA)], base: [AdapterUse(taskA)]
        )
        .generate(
            prompt: model.tokenizer.encode("the theme", addSpecial: true, parseSpecial: false),
            parameters: ContrastiveParameters(alpha: 0.5, tau: 0.1), options: GenerationOptions(maxTokens: 8))
        XCTAssertEqual(cope.ids, expected.tokens)
        var explained = 0
        for e in cope.events {
            if case let .contrastiveToken(_, _, _, lu, lb, reward) = e {
                XCTAssertEqual(reward, lu - 0.5 * lb, accuracy: 1e-5)
                explained += 1
            }
        }
        XCTAssertEqual(explained, cope.ids.count)
        let cd = try await run(c, mode: "cd-only", alpha: 0.5)
        XCTAssertEqual(cd.ids.count, 8)

        func status(_ mode: String, user: String = "alice") async -> Status? {
            var r = GenerateRequest(model: "tiny", input: .prompt("x"), maxTokens: 2, user: user, task: "email")
            r.mode = mode
            do { for try await _ in try c.generate(r) {}; return nil } catch let TailorClientError.status(s) {
                return s
            } catch { return nil }
        }
        let badMode = await status("creative")
        XCTAssertEqual(badMode?.field, "generate.mode")
        let noAdapter = await status("cope", user: "bob")
        XCTAssertEqual(noAdapter?.code, .failedPrecondition)
        XCTAssertTrue(noAdapter?.message.contains("tailor train cope --user bob --task email") ?? false)

        // The closing statistics say what ran; with a fallback, that it was not what was asked.
        func stats(_ events: [GenerateEvent]) -> GenerateStats? {
            if case let .stats(s)? = events.last { return s }
            return nil
        }
        XCTAssertEqual(stats(oppu.events)?.mode, "oppu")
        XCTAssertEqual(stats(oppu.events)?.adapters.map(\.spelled), ["task email v1", "user alice/email v1"])
        XCTAssertEqual(stats(cope.events)?.adapters.map(\.spelled), ["task email v1", "user alice/email v2"])
        XCTAssertEqual(stats(cope.events).map { [$0.mode, "\($0.fallback)"] }, ["cope", "false"])
        XCTAssertEqual(stats(base.events)?.adapters, [])
        var bob = GenerateRequest(model: "tiny", input: .prompt("x"), maxTokens: 2, user: "bob", task: "email")
        bob.mode = "cope"
        bob.fallback = true
        var last: GenerateEvent?
        for try await e in try c.generate(bob) { last = e }
        XCTAssertEqual(stats([last].compactMap { $0 }).map { [$0.mode, "\($0.fallback)"] }, ["tam", "true"])
        await d.stop()
    }
}
