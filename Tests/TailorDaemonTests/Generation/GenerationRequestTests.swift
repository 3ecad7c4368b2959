import Foundation
import TailorEngine
import TailorWire
import XCTest

@testable import TailorDaemon

/// Both front ends map to one `GenerationRequest`: the wire's zeros and the HTTP endpoint's
/// absent fields take the engine's (or llama.cpp's) defaults, and the same explicit values
/// give the same decoding parameters whichever front end carried them.
final class GenerationRequestTests: XCTestCase {
    private func wire(_ edit: (inout GenerateRequest) -> Void = { _ in }) throws -> GenerationRequest {
        var r = GenerateRequest(model: "m", input: .prompt("hi"))
        edit(&r)
        return try GenerationRequest(r)
    }

    private func http(
        _ json: String, user: String = "", task: String = "", mode: DecodingMode = .automatic
    ) throws -> GenerationRequest {
        let who = HTTPPersonalization(caller: .current, user: user, task: task, mode: mode)
        return GenerationRequest(
            try CompletionRequest(endpoint: .completion, body: Array(json.utf8)), for: who, modelContext: 512)
    }

    func testWireZerosTakeTheEnginesDefaults() throws {
        let r = try wire()
        XCTAssertEqual(r.sampling, SamplingParameters())
        XCTAssertEqual(r.contrastiveParameters, ContrastiveParameters())
        XCTAssertNil(r.maxTokens)
        XCTAssertEqual(r.mode, .automatic)
        guard case .none = r.adapters else { return XCTFail("\(r.adapters)") }
    }

    func testWireValuesPassThrough() throws {
        let r = try wire {
            $0.sampling = .init(
                temperature: 0.7, topK: 12, topP: 0.9, minP: 0.02, repetitionPenalty: 1.2, seed: 9, dryMultiplier: 0.8)
            $0.maxTokens = 5
            $0.copeAlpha = 0.3
            $0.copeTau = 0.2
            $0.mode = "cope"
            $0.user = "alice"
            $0.task = "commit"
        }
        XCTAssertEqual(r.sampling.topK, 12)
        XCTAssertEqual(r.sampling.topP, 0.9)
        XCTAssertEqual(r.sampling.repetitionPenalty, 1.2)
        XCTAssertEqual(r.sampling.dry.multiplier, 0.8)
        XCTAssertEqual(r.maxTokens, 5)
        let c = r.contrastiveParameters
        XCTAssertEqual([c.alpha, c.tau, c.temperature, c.topP, c.repetitionPenalty], [0.3, 0.2, 0.7, 0.9, 1.2])
        XCTAssertEqual(c.topK, 12)
        XCTAssertEqual(c.seed, 9)
        XCTAssertEqual(c.dry, r.sampling.dry)
        XCTAssertEqual(r.mode, .cope)
        guard case .personalized("alice", "commit") = r.adapters else { return XCTFail("\(r.adapters)") }
    }

    func testUnknownModeNamesTheField() {
        XCTAssertThrowsError(try wire { $0.mode = "poetry" }) { e in
            XCTAssertEqual((e as? RPCError)?.field, "generate.mode")
            XCTAssertTrue("\(e)".contains("cd-only"), "\(e)")
        }
    }

    /// Absent HTTP fields hold llama.cpp's defaults, a random seed among them (its -1); CoPe's
    /// α and τ stay the engine's.
    func testHTTPDefaultsAreLlamaCpps() throws {
        let r = try http(#"{"prompt": "hi"}"#, user: "bob", task: "t", mode: .cdOnly)
        var want = SamplingParameters(temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05)
        want.seed = r.sampling.seed
        XCTAssertEqual(r.sampling, want)
        let seeds = try Set(
            (0..<4).map { _ in try http(#"{"prompt": "hi"}"#, user: "", task: "", mode: .base).sampling.seed })
        XCTAssertGreaterThan(seeds.count, 1, "each request draws its own seed")
        let c = r.contrastiveParameters
        XCTAssertEqual([c.alpha, c.tau], [ContrastiveParameters().alpha, ContrastiveParameters().tau])
        XCTAssertEqual(c.topK, 40)
        XCTAssertEqual(r.mode, .cdOnly)
        guard case .personalized("bob", "t") = r.adapters else { return XCTFail("\(r.adapters)") }
    }

    func testTheFrontEndsAgreeOnExplicitValues() throws {
        let h = try http(
            #"{"prompt": "hi", "temperature": 0.5, "top_k": 7, "top_p": 0.8, "min_p": 0.1, "repeat_penalty": 1.1,"#
                + #" "seed": 3, "dry_multiplier": 0.8, "dry_base": 2, "dry_allowed_length": 3,"#
                + #" "dry_penalty_last_n": 24,"#
                + #" "dry_sequence_breakers": ["\n"], "n_predict": 9, "stop": ["."]}"#)
        let w = try wire {
            $0.sampling = .init(
                temperature: 0.5, topK: 7, topP: 0.8, minP: 0.1, repetitionPenalty: 1.1, seed: 3, dryMultiplier: 0.8,
                dryBase: 2, dryAllowedLength: 3, dryPenaltyLastN: 24, drySequenceBreakers: ["\n"])
            $0.maxTokens = 9
            $0.stop = ["."]
        }
        XCTAssertEqual(h.sampling, w.sampling)
        XCTAssertEqual(h.contrastiveParameters, w.contrastiveParameters)
        XCTAssertEqual(h.maxTokens, w.maxTokens)
        XCTAssertEqual(h.stop, w.stop)
    }

    func testModesKnowTheirStageAndContrast() {
        XCTAssertEqual(
            DecodingMode.allCases.map(\.rawValue), ["", "base", "tam", "oppu", "dpo-only", "cope", "cd-only"])
        XCTAssertEqual(DecodingMode.allCases.filter(\.isContrastive), [.cope, .cdOnly])
        XCTAssertEqual(DecodingMode.allCases.map(\.userStage), [nil, nil, nil, "oppu", "dpo", "dpo", "oppu"])
    }
}
