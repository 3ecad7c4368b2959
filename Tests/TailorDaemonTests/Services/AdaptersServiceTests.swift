import Foundation
import TailorClient
import TailorEngine
import TailorStore
import TailorTestSupport
import TailorWire
import XCTest

@testable import TailorDaemon

/// Adapters through the daemon: import, personalization in Generate, export, rollback, and
/// bad adapters refused with the registry untouched.
final class AdaptersServiceTests: XCTestCase {
    static let lora = TestPaths.packageRoot.appendingPathComponent("Tests/TailorEngineTests/Fixtures/lora")

    private func peft(_ arch: String, _ name: String) throws -> (config: String, weights: [UInt8]) {
        let dir = Self.lora.appendingPathComponent("\(arch)-\(name)-peft")
        return (
            try String(contentsOf: dir.appendingPathComponent("adapter_config.json"), encoding: .utf8),
            [UInt8](try Data(contentsOf: dir.appendingPathComponent("adapter_model.safetensors")))
        )
    }

    /// Greedy tokens from the engine directly with `adapters` stacked: the reference.
    private func reference(_ prompt: String, adapters: [(String, String)], maxTokens: Int) throws -> [Int32] {
        let model = try Model(path: DaemonHarness.tinyModel)
        let uses = try adapters.map { arch, name -> AdapterUse in
            let (c, w) = try peft(arch, name)
            return AdapterUse(
                try PEFTAdapter.load(name: name, configJSON: Data(c.utf8), safetensors: w, config: model.config))
        }
        let ids = model.tokenizer.encode(prompt, addSpecial: true, parseSpecial: false)
        let ctx = InferenceContext(model: model, maxSequences: 1, maxContext: 256, maxBatchTokens: 256, threads: 1)
        let dec = BatchDecoder(context: ctx)
        let slot = try dec.admit(.init(prompt: ids, options: GenerationOptions(maxTokens: maxTokens), adapters: uses))
        var out: [Int32] = []
        while dec.activeSlots > 0 {
            for e in try dec.step() where e.slot == slot { if case let .token(t, _) = e.step { out.append(t.id) } }
        }
        return out
    }

    private func generate(_ c: TailorClient, _ r: GenerateRequest) async throws -> [Int32] {
        var ids: [Int32] = []
        for try await e in try c.generate(r) { if case let .token(id, _, _, _) = e { ids.append(Int32(id)) } }
        return ids
    }

    func testImportPersonalizeExportAndRollBack() async throws {
        let d = try await DaemonHarness()
        let c = try await d.client()
        let (tc, tw) = try peft("llama", "task"), (uc, uw) = try peft("llama", "user")
        let task = AdapterRef(task: "email", kind: "task"),
            alice = AdapterRef(user: "alice", task: "email", kind: "user")
        let ti = try await c.importAdapter(
            ImportAdapterRequest(ref: task, format: "peft", peftConfigJSON: tc), weights: tw)
        XCTAssertEqual(ti.ref.version, 1)
        XCTAssertEqual(ti.versions.first?.rank, 4)
        XCTAssertEqual(ti.versions.first?.targets, ["q", "k", "v", "o", "gate", "up", "down"])
        let models = try await c.models()
        XCTAssertEqual(ti.versions.first?.baseModelSHA256, models[0].sha256)
        let ai = try await c.importAdapter(
            ImportAdapterRequest(
                ref: alice, format: "peft", peftConfigJSON: uc, jobID: "job-1",
                metrics: ["rougeL": 0.25]), weights: uw)
        XCTAssertEqual(ai.versions.first?.useRSLoRA, true)
        XCTAssertEqual(ai.versions.first?.metrics, ["rougeL": 0.25])
        let listed = try await c.adapters()
        XCTAssertEqual(listed.map(\.ref.task), ["email", "email"])

        // Personalized generation equals the engine with the task and user adapters stacked.
        let prompt = "the quick brown fox"
        let base = try reference(prompt, adapters: [], maxTokens: 10)
        let personal = try reference(prompt, adapters: [("llama", "task"), ("llama", "user")], maxTokens: 10)
        XCTAssertNotEqual(base, personal, "the fixture adapters should change greedy output")
        let viaUser = try await generate(
            c, GenerateRequest(model: "tiny", input: .prompt(prompt), maxTokens: 10, user: "alice", task: "email"))
        XCTAssertEqual(viaUser, personal)
        let viaRefs = try await generate(
            c, GenerateRequest(model: "tiny", input: .prompt(prompt), maxTokens: 10, adapters: [task, alice]))
        XCTAssertEqual(viaRefs, personal)
        // A user without an adapter is refused, or with a fallback gets the task adapter alone;
        // no personalization is the base.
        let taskOnly = try reference(prompt, adapters: [("llama", "task")], maxTokens: 10)
        var bob = GenerateRequest(model: "tiny", input: .prompt(prompt), maxTokens: 10, user: "bob", task: "email")
        do {
            _ = try await generate(c, bob)
            XCTFail("bob has no adapter")
        } catch let TailorClientError.status(s) { XCTAssertEqual(s.code, .failedPrecondition) }
        bob.fallback = true
        let viaBob = try await generate(c, bob)
        XCTAssertEqual(viaBob, taskOnly)
        let plain = try await generate(c, GenerateRequest(model: "tiny", input: .prompt(prompt), maxTokens: 10))
        XCTAssertEqual(plain, base)

        // PEFT export returns the stored bytes; GGUF export imports back as a new version that
        // generates the same.
        let (h, file) = try await c.exportAdapter(ExportAdapterRequest(ref: alice, format: "peft"))
        XCTAssertEqual(file, uw)
        XCTAssertEqual(h.fileName, "adapter_model.safetensors")
        XCTAssertEqual(h.peftConfigJSON, uc)
        let (gh, gguf) = try await c.exportAdapter(ExportAdapterRequest(ref: alice, format: "gguf"))
        XCTAssertTrue(gh.fileName.hasSuffix(".gguf"))
        XCTAssertEqual(Array(gguf.prefix(4)), Array("GGUF".utf8))
        let v2 = try await c.importAdapter(
            ImportAdapterRequest(ref: alice, format: "gguf", makeCurrent: true), weights: gguf)
        XCTAssertEqual(v2.ref.version, 2)
        let viaV2 = try await generate(
            c, GenerateRequest(model: "tiny", input: .prompt(prompt), maxTokens: 10, user: "alice", task: "email"))
        XCTAssertEqual(viaV2, personal)

        // Rollback is one call; deleting the current version is refused; others go.
        var rolled = try await c.setCurrentAdapter(AdapterRef(user: "alice", task: "email", kind: "user", version: 1))
        XCTAssertEqual(rolled.ref.version, 1)
        do {
            try await c.deleteAdapter(AdapterRef(user: "alice", task: "email", kind: "user", version: 1))
            XCTFail("deleted the current version")
        } catch let e as TailorClientError { XCTAssertEqual(e.code, .failedPrecondition) }
        try await c.deleteAdapter(AdapterRef(user: "alice", task: "email", kind: "user", version: 2))
        rolled = try await c.adapter(alice)
        XCTAssertEqual(rolled.versions.map(\.version), [1])
        try await c.deleteAdapter(task)
        let afterDelete = try await generate(
            c, GenerateRequest(model: "tiny", input: .prompt(prompt), maxTokens: 10, user: "alice", task: "email"))
        XCTAssertEqual(afterDelete, try reference(prompt, adapters: [("llama", "user")], maxTokens: 10))
        await c.close()
        await d.stop()
    }

    func testBadAdaptersAreRefusedAndTheRegistryIsUnchanged() async throws {
        let d = try await DaemonHarness()
        let c = try await d.client()
        let ref = AdapterRef(user: "alice", task: "email", kind: "user")
        func refused(_ r: ImportAdapterRequest, _ w: [UInt8]) async -> Status? {
            do { _ = try await c.importAdapter(r, weights: w); return nil } catch let TailorClientError.status(s) {
                return s
            } catch { return nil }
        }
        // An adapter for another base model (gemma3's shapes).
        let (qc, qw) = try peft("gemma3", "task")
        let other = await refused(ImportAdapterRequest(ref: ref, format: "peft", peftConfigJSON: qc), qw)
        XCTAssertEqual(other?.code, .invalidArgument)
        XCTAssertTrue(other?.message.contains("Gemma3ForCausalLM") ?? false, other?.message ?? "")
        // A truncated weights file; a missing tensor; no config; an unknown format; a bad name.
        let (lc, lw) = try peft("llama", "task")
        let truncated = await refused(
            ImportAdapterRequest(ref: ref, format: "peft", peftConfigJSON: lc), Array(lw.prefix(lw.count / 2)))
        XCTAssertEqual(truncated?.code, .invalidArgument)
        var st = try Safetensors(bytes: lw)
        st = Safetensors(
            tensors: st.tensors.filter { !$0.key.contains("layers.1.mlp.down_proj.lora_B") }, metadata: [:])
        let missing = await refused(
            ImportAdapterRequest(ref: ref, format: "peft", peftConfigJSON: lc), try st.serialized())
        XCTAssertTrue(missing?.message.contains("down_proj") ?? false, missing?.message ?? "")
        let noConfig = await refused(ImportAdapterRequest(ref: ref, format: "peft"), lw)
        XCTAssertEqual(noConfig?.field, "import.peft_config_json")
        let format = await refused(ImportAdapterRequest(ref: ref, format: "onnx", peftConfigJSON: lc), lw)
        XCTAssertEqual(format?.field, "import.format")
        let name = await refused(
            ImportAdapterRequest(
                ref: AdapterRef(user: "../x", task: "email", kind: "user"), format: "peft", peftConfigJSON: lc), lw)
        XCTAssertEqual(name?.field, "import.ref.user")
        let kind = await refused(
            ImportAdapterRequest(ref: AdapterRef(task: "email", kind: "team"), format: "peft", peftConfigJSON: lc), lw)
        XCTAssertEqual(kind?.field, "import.ref.kind")
        let all = try await c.adapters()
        XCTAssertEqual(all, [])
        XCTAssertEqual(d.registry.list().count, 0)
        // Unknown adapters in Generate are NOT_FOUND.
        do {
            _ = try await generate(c, GenerateRequest(model: "tiny", input: .prompt("x"), adapters: [ref]))
            XCTFail("expected NOT_FOUND")
        } catch let e as TailorClientError { XCTAssertEqual(e.code, .notFound) }
        await c.close()
        await d.stop()
    }

    func testTamperedAdapterIsDataLossNotGarbage() async throws {
        let d = try await DaemonHarness()
        let c = try await d.client()
        let (lc, lw) = try peft("llama", "task")
        let ref = AdapterRef(task: "email", kind: "task")
        _ = try await c.importAdapter(ImportAdapterRequest(ref: ref, format: "peft", peftConfigJSON: lc), weights: lw)
        let path = d.registry.root + "/\(geteuid())/task/email/_/v000001/adapter_model.safetensors"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count - 3] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: path))
        do {
            _ = try await generate(c, GenerateRequest(model: "tiny", input: .prompt("x"), task: "email"))
            XCTFail("a tampered adapter was used")
        } catch let e as TailorClientError { XCTAssertEqual(e.code, .dataLoss) }
        await c.close()
        await d.stop()
    }

    func testAdapterKeysAreScopedToTheCaller() throws {
        let system = AccessPolicy(mode: .system, daemonUID: 999)
        let alice = PeerCredentials(pid: 1, uid: 1000, gid: 1000)
        let key = try system.adapterKey(
            for: AdapterRef(user: "a", task: "t", kind: "user"), caller: alice, field: "ref")
        XCTAssertEqual(key.owner, 1000)
        XCTAssertThrowsError(
            try system.adapterKey(
                for: AdapterRef(user: "a", task: "t", kind: "user", ownerUID: 1001), caller: alice, field: "ref")
        ) {
            XCTAssertEqual(($0 as? RPCError)?.code, .permissionDenied)
        }
        let root = PeerCredentials(pid: 1, uid: 0, gid: 0)
        XCTAssertEqual(
            try system.adapterKey(
                for: AdapterRef(user: "a", task: "t", kind: "user", ownerUID: 1001), caller: root, field: "ref"
            ).owner, 1001)
        XCTAssertFalse(system.seesAll(alice))
        XCTAssertTrue(system.seesAll(root))
    }
}
