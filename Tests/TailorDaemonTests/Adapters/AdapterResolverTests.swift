import Foundation
import TailorEngine
import TailorStore
import TailorTestSupport
import TailorWire
import XCTest

@testable import TailorDaemon

/// What each request decodes with, planned without decoding: the task adapter, the user's
/// version made by the mode's stage, the contrast's base, and the refusals naming their field.
final class AdapterResolverTests: XCTestCase {
    private var harness: DaemonHarness!
    private var resolver: AdapterResolver!
    private var model: LoadedModel!
    private let taskKey = AdapterKey(owner: geteuid(), kind: .task, task: "email", user: "")
    private let userKey = AdapterKey(owner: geteuid(), kind: .user, task: "email", user: "alice")

    override func setUp() async throws {
        harness = try await DaemonHarness()
        model = try await harness.models.model("tiny", field: "model")
        resolver = AdapterResolver(
            registry: harness.registry, cache: harness.components.cache,
            policy: AccessPolicy(mode: .user, daemonUID: geteuid()))
    }

    override func tearDown() async throws { await harness.stop() }

    /// Publishes the committed llama `peft` adapter as the next version of `key`, made by `stage`.
    private func publish(_ key: AdapterKey, _ peft: String, stage: String) throws {
        let dir = TestPaths.fixtures.appendingPathComponent("lora/llama-\(peft)-peft")
        let config = try Data(contentsOf: dir.appendingPathComponent("adapter_config.json"))
        let weights = [UInt8](try Data(contentsOf: dir.appendingPathComponent("adapter_model.safetensors")))
        let a = try PEFTAdapter.load(name: peft, configJSON: config, safetensors: weights, config: model.model.config)
        let record = AdapterVersionRecord(
            baseModelSHA256: model.info.sha256, baseArchitecture: "llama", rank: a.rank, alpha: a.alpha,
            useRSLoRA: a.useRSLoRA, targets: [], jobID: "job-x", stage: stage)
        _ = try harness.registry.add(
            key, record: record, configJSON: Array(config), weights: weights, makeCurrent: true)
    }

    private func plan(
        _ mode: DecodingMode, _ adapters: GenerationRequest.Adapters = .personalized(user: "alice", task: "email")
    )
        throws -> AdapterResolver.Plan
    {
        try resolver.plan(
            for: GenerationRequest(model: "tiny", input: .text("hi"), adapters: adapters, mode: mode), caller: .current,
            model: model)
    }

    private func ids(_ uses: [AdapterUse]?) -> [ObjectIdentifier]? { uses?.map { ObjectIdentifier($0.adapter) } }

    private func adapter(_ key: AdapterKey, _ version: UInt32?) throws -> ObjectIdentifier {
        ObjectIdentifier(try harness.components.cache.adapter(key, version: version, for: model))
    }

    func testEachModePicksItsStagesVersion() throws {
        try publish(taskKey, "task", stage: "tam")
        try publish(userKey, "user", stage: "oppu")  // v1
        try publish(userKey, "task", stage: "dpo")  // v2, current
        let task = try adapter(taskKey, nil), oppu = try adapter(userKey, 1), dpo = try adapter(userKey, 2)
        XCTAssertEqual(ids(try plan(.base).adapters), [])
        XCTAssertEqual(ids(try plan(.tam).adapters), [task])
        XCTAssertEqual(ids(try plan(.automatic).adapters), [task, dpo], "the current version")
        XCTAssertEqual(ids(try plan(.oppu).adapters), [task, oppu])
        XCTAssertEqual(ids(try plan(.dpoOnly).adapters), [task, dpo])
        XCTAssertNil(try plan(.dpoOnly).contrastBase)
        let cope = try plan(.cope), cd = try plan(.cdOnly)
        XCTAssertEqual(ids(cope.adapters), [task, dpo])
        XCTAssertEqual(ids(cope.contrastBase), [task])
        XCTAssertEqual(ids(cd.adapters), [task, oppu])
        XCTAssertEqual(ids(cd.contrastBase), [task])
        // Explicit references: applied in order; CoPe contrasts with all but the last.
        let refs = [
            AdapterRef(task: "email", kind: "task"), AdapterRef(user: "alice", task: "email", kind: "user", version: 1),
        ]
        let explicit = try plan(.cope, .explicit(refs))
        XCTAssertEqual(ids(explicit.adapters), [task, oppu])
        XCTAssertEqual(ids(explicit.contrastBase), [task])
    }

    /// A user with no adapter yet decodes with what exists, except in a contrastive mode,
    /// which has nothing to contrast and says what to do.
    func testAUserWithoutAdaptersIsServedOrToldWhy() throws {
        try publish(taskKey, "task", stage: "tam")
        let task = try adapter(taskKey, nil)
        XCTAssertEqual(ids(try plan(.oppu).adapters), [task])
        XCTAssertThrowsError(try plan(.cope)) { e in
            XCTAssertEqual((e as? RPCError)?.code, .failedPrecondition)
            XCTAssertTrue("\(e)".contains("train one first"), "\(e)")
        }
    }

    func testRefusalsNameTheirField() throws {
        func field(_ mode: DecodingMode, _ adapters: GenerationRequest.Adapters) -> String? {
            do { _ = try plan(mode, adapters); return nil } catch { return (error as? RPCError)?.field }
        }
        XCTAssertEqual(field(.cope, .none), "generate.task", "a personalized mode needs a task")
        XCTAssertEqual(
            field(.automatic, .personalized(user: "alice", task: "")), "generate.task", "a user needs a task")
        XCTAssertEqual(field(.oppu, .personalized(user: "", task: "email")), "generate.user")
        XCTAssertEqual(field(.tam, .explicit([AdapterRef(task: "email", kind: "task")])), "generate.mode")
        XCTAssertEqual(
            field(.automatic, .explicit([AdapterRef(task: "email", kind: "nope")])), "generate.adapters.kind")
        XCTAssertNil(field(.base, .none))
    }
}
