import Foundation
import TailorEngine
import TailorStore
import TailorTestSupport
import TailorWire
import XCTest

@testable import TailorDaemon

/// What each request decodes with, planned without decoding: the task adapter, the user's
/// version made by the mode's stage, the contrast's base, what the plan calls itself, and the
/// refusals naming their field or the command that would make the missing adapter.
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

    /// Publishes the committed llama `peft` adapter as the next version of `key`, made by `stage`
    /// (nil: imported).
    private func publish(_ key: AdapterKey, _ peft: String, stage: String?) throws {
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
        _ mode: DecodingMode, _ adapters: GenerationRequest.Adapters = .personalized(user: "alice", task: "email"),
        fallback: Bool = false
    )
        throws -> AdapterResolver.Plan
    {
        try resolver.plan(
            for: GenerationRequest(
                model: "tiny", input: .text("hi"), adapters: adapters, mode: mode, fallback: fallback),
            caller: .current, model: model)
    }

    /// The plan's name and adapters as a client reads them from GenerateStats.
    private func served(_ p: AdapterResolver.Plan) -> String {
        "\(p.mode)\(p.fallback ? " (fallback)" : ""): " + p.refs.map(\.spelled).joined(separator: ", ")
    }

    /// The FAILED_PRECONDITION message of a refused plan; nil when it is served.
    private func refusal(_ mode: DecodingMode, user: String = "alice", task: String = "email") -> String? {
        do { _ = try plan(mode, .personalized(user: user, task: task)); return nil } catch let e as RPCError {
            XCTAssertEqual(e.code, .failedPrecondition, "\(e)")
            return e.message
        } catch { return "\(error)" }
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
        // Each plan names what runs, the versions resolved.
        XCTAssertEqual(served(try plan(.base)), "base: ")
        XCTAssertEqual(served(try plan(.tam)), "tam: task email v1")
        XCTAssertEqual(served(try plan(.automatic)), "dpo-only: task email v1, user alice/email v2")
        XCTAssertEqual(served(try plan(.oppu)), "oppu: task email v1, user alice/email v1")
        XCTAssertEqual(served(cope), "cope: task email v1, user alice/email v2")
        XCTAssertEqual(served(cd), "cd-only: task email v1, user alice/email v1")
        XCTAssertEqual(served(explicit), "cope: task email v1, user alice/email v1")
        XCTAssertEqual(served(try plan(.automatic, .explicit(refs))), "adapters: task email v1, user alice/email v1")
    }

    /// Versions after the current one are not served: a rollback's leftovers and the
    /// autopilot's rejected candidates. A user whose only versions are candidates has none.
    func testVersionsAfterTheCurrentOneAreNotServed() throws {
        try publish(taskKey, "task", stage: "tam")
        try publish(userKey, "user", stage: "oppu")  // v1
        try publish(userKey, "task", stage: "dpo")  // v2
        try publish(userKey, "user", stage: "oppu")  // v3
        try publish(userKey, "task", stage: "dpo")  // v4
        try harness.registry.setCurrent(userKey, version: 2)  // a rollback
        XCTAssertEqual(served(try plan(.cope)), "cope: task email v1, user alice/email v2")
        XCTAssertEqual(served(try plan(.oppu)), "oppu: task email v1, user alice/email v1")
        XCTAssertEqual(served(try plan(.automatic)), "dpo-only: task email v1, user alice/email v2")

        let bob = AdapterKey(owner: geteuid(), kind: .user, task: "email", user: "bob")
        let dir = TestPaths.fixtures.appendingPathComponent("lora/llama-user-peft")
        let record = AdapterVersionRecord(
            baseModelSHA256: model.info.sha256, baseArchitecture: "llama", rank: 8, alpha: 16, useRSLoRA: false,
            targets: [], jobID: "job-y", stage: "dpo")
        _ = try harness.registry.add(
            bob, record: record,
            configJSON: [UInt8](try Data(contentsOf: dir.appendingPathComponent("adapter_config.json"))),
            weights: [UInt8](try Data(contentsOf: dir.appendingPathComponent("adapter_model.safetensors"))),
            makeCurrent: false, candidate: true)
        XCTAssertEqual(try harness.registry.entry(bob).current, 0)
        XCTAssertThrowsError(try harness.registry.currentVersion(of: bob))
        let bobs = GenerationRequest.Adapters.personalized(user: "bob", task: "email")
        XCTAssertThrowsError(try plan(.cope, bobs)) { error in
            XCTAssertTrue((error as? RPCError)?.message.contains("has no current version") ?? false, "\(error)")
        }
        XCTAssertEqual(served(try plan(.cope, bobs, fallback: true)), "tam (fallback): task email v1")
    }

    /// A mode is served as asked or refused with the command that makes what it lacks: never
    /// silently decoded with something else (issue 21).
    func testAModeMissingItsVersionIsRefusedWithTheNextStep() throws {
        XCTAssertEqual(
            refusal(.tam), "there is no task adapter for task 'email': train one with `tailor train tam --task email`")
        try publish(taskKey, "task", stage: "tam")
        try publish(userKey, "user", stage: "oppu")
        XCTAssertNil(refusal(.oppu))
        XCTAssertNil(refusal(.cdOnly))
        XCTAssertNil(refusal(.automatic))
        let train = "train it with `tailor train cope --user alice --task email`"
        XCTAssertEqual(
            refusal(.cope), "user 'alice' has no DPO version (mode cope decodes with one) for task 'email': \(train)")
        XCTAssertEqual(
            refusal(.dpoOnly),
            "user 'alice' has no DPO version (mode dpo-only decodes with one) for task 'email': \(train)")
        XCTAssertEqual(
            refusal(.automatic, user: "bob"),
            "user 'bob' has no adapter for task 'email': train it with `tailor train cope --user bob --task email`")
        XCTAssertEqual(
            refusal(.oppu, user: "bob"),
            "user 'bob' has no adapter for task 'email': train it with `tailor train oppu --user bob --task email`")
        // A task alone, in the default mode, needs its task adapter too.
        XCTAssertNotNil(refusal(.automatic, user: "", task: "other"))
    }

    /// With a fallback the request runs with what exists, and the plan says so.
    func testFallbackServesWhatExistsAndSaysSo() throws {
        XCTAssertEqual(served(try plan(.tam, fallback: true)), "base (fallback): ")
        XCTAssertEqual(served(try plan(.cope, fallback: true)), "base (fallback): ")
        try publish(taskKey, "task", stage: "tam")
        XCTAssertEqual(served(try plan(.cope, fallback: true)), "tam (fallback): task email v1")
        XCTAssertNil(try plan(.cope, fallback: true).contrastBase, "nothing to contrast")
        try publish(userKey, "user", stage: "oppu")
        let cope = try plan(.cope, fallback: true)
        XCTAssertEqual(served(cope), "cd-only (fallback): task email v1, user alice/email v1")
        XCTAssertNotNil(cope.contrastBase)
        XCTAssertEqual(
            served(try plan(.dpoOnly, fallback: true)), "oppu (fallback): task email v1, user alice/email v1")
        XCTAssertEqual(served(try plan(.oppu, fallback: true)), "oppu: task email v1, user alice/email v1")
        XCTAssertEqual(
            served(try plan(.automatic, .personalized(user: "bob", task: "email"), fallback: true)),
            "tam (fallback): task email v1")
    }

    /// Where the autopilot's holdout verdict dropped CoPe's contrast for a version, cope mode
    /// decodes that version plainly and says so; other versions, and explicit references,
    /// keep the contrast.
    func testCopeDecodesPlainlyWhereTheHoldoutVerdictDroppedTheContrast() throws {
        try publish(taskKey, "task", stage: "tam")
        try publish(userKey, "user", stage: "oppu")  // v1
        try publish(userKey, "task", stage: "dpo")  // v2
        func verdict(contrast: Bool?) -> PromotionRecord {
            PromotionRecord(
                promoted: true, reason: "r", baseline: "base model", candidate: .init(rougeL: 0.2, logLikelihood: -2),
                current: .init(rougeL: 0.1, logLikelihood: -3), heldOut: 4, decidedUnixMS: 1,
                withoutContrast: contrast == nil ? nil : .init(rougeL: 0.3, logLikelihood: -2), contrast: contrast)
        }
        try harness.registry.recordPromotion(userKey, version: 2, verdict(contrast: nil))
        XCTAssertEqual(served(try plan(.cope)), "cope: task email v1, user alice/email v2", "an older verdict")
        try harness.registry.recordPromotion(userKey, version: 2, verdict(contrast: false))
        let cope = try plan(.cope)
        XCTAssertEqual(served(cope), "dpo-only (fallback): task email v1, user alice/email v2")
        XCTAssertNil(cope.contrastBase)
        XCTAssertEqual(served(try plan(.cdOnly)), "cd-only: task email v1, user alice/email v1")
        let refs = [
            AdapterRef(task: "email", kind: "task"), AdapterRef(user: "alice", task: "email", kind: "user", version: 2),
        ]
        XCTAssertEqual(served(try plan(.cope, .explicit(refs))), "cope: task email v1, user alice/email v2")
        try harness.registry.recordPromotion(userKey, version: 2, verdict(contrast: true))
        XCTAssertEqual(served(try plan(.cope)), "cope: task email v1, user alice/email v2")
    }

    /// A version made elsewhere (imported, no stage) serves any user mode as asked.
    func testAnImportedVersionServesTheModeAsked() throws {
        try publish(taskKey, "task", stage: "tam")
        try publish(userKey, "user", stage: nil)
        XCTAssertEqual(served(try plan(.cope)), "cope: task email v1, user alice/email v1")
        XCTAssertEqual(served(try plan(.dpoOnly)), "dpo-only: task email v1, user alice/email v1")
        XCTAssertEqual(served(try plan(.automatic)), "oppu: task email v1, user alice/email v1")
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
