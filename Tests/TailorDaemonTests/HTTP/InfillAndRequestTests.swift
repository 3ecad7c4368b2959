import Foundation
import TailorEngine
import XCTest

@testable import TailorDaemon

/// The HTTP endpoint's pure parts: llama.cpp's FIM layout and its truncation, the fallback
/// prompt, request parsing (types, defaults, llama.vim's sampler rule) and response_fields.
final class InfillAndRequestTests: XCTestCase {
    /// One token per character (its scalar value), so lengths and order are easy to check.
    private func chars(_ s: String) -> [Int32] { s.unicodeScalars.map { Int32($0.value) } }
    private let fim = FIMTokens(prefix: -1, suffix: -2, middle: -3, fileSeparator: -4)

    func testFIMLayoutExtraChunksThenPrefixSuffixMiddle() {
        let t = InfillPrompt.tokens(
            prefix: "ab", suffix: "cd", extra: [.init(filename: "f", text: "x")], prompt: "p",
            fim: fim, bos: [1], encode: chars, budget: 100)
        XCTAssertEqual(t, [1, -4] + chars("f\nx") + [-1] + chars("ab") + [-2] + chars("cd") + [-3] + chars("p"))
    }

    func testTooLongInputKeepsTheEndOfThePrefixAndTheStartOfTheSuffix() {
        let prefix = String(repeating: "a", count: 50) + "XYZ", suffix = "UVW" + String(repeating: "b", count: 50)
        let t = InfillPrompt.tokens(
            prefix: prefix, suffix: suffix, extra: [.init(filename: "", text: "zzzz")], prompt: "",
            fim: fim, bos: [], encode: chars, budget: 43)
        XCTAssertEqual(t.count, 43)
        let pre = Array(t[(t.firstIndex(of: -1)! + 1)..<t.firstIndex(of: -2)!])
        let suf = Array(t[(t.firstIndex(of: -2)! + 1)..<t.firstIndex(of: -3)!])
        XCTAssertEqual(pre.count, 30)  // 3/4 of the 40 left after the three FIM tokens
        XCTAssertEqual(Array(pre.suffix(3)), chars("XYZ"))  // the code right before the cursor survives
        XCTAssertEqual(suf.count, 10)
        XCTAssertEqual(Array(suf.prefix(3)), chars("UVW"))  // and the code right after it
        XCTAssertEqual(t.first, -1, "no room was left for the extra chunk")
    }

    func testWithoutFIMTokensThePrefixIsAPlainContinuation() {
        let t = InfillPrompt.tokens(
            prefix: "ab", suffix: "ignored", extra: [.init(filename: "f", text: "x")], prompt: "p",
            fim: nil, bos: [1], encode: chars, budget: 100)
        XCTAssertEqual(t, [1] + chars("f\nx\n") + chars("abp"))
    }

    func testRequestParsingDefaultsAndTypes() throws {
        let vim = try CompletionRequest(
            endpoint: .infill,
            body: Array(
                (#"{"input_prefix": "a", "samplers": ["top_k", "top_p", "infill"], "top_k": 40, "n_predict": -1,"#
                    + #" "t_max_predict_ms": 250, "response_fields": ["content"]}"#).utf8))
        XCTAssertEqual(vim.temperature, 1, "llama.vim's sampler chain has no temperature: sampled at 1")
        XCTAssertNil(vim.maxTokens)
        XCTAssertEqual(vim.maxPredictMS, 250)
        XCTAssertEqual(vim.prompt, .infill(prefix: "a", suffix: "", extra: [], prompt: ""))
        let plain = try CompletionRequest(
            endpoint: .completion,
            body: Array(#"{"prompt": [5, 6], "temperature": 0, "stop": "\n", "stream": true}"#.utf8))
        XCTAssertEqual(plain.prompt, .tokens([5, 6]))
        func prompts(_ json: String) throws -> [CompletionRequest.Prompt] {
            try CompletionRequest(endpoint: .completion, body: Array((#"{"prompt": "# + json + "}").utf8)).prompts
        }
        // Batches (arrays of prompts, or of strings) and one prompt of ids and text mixed.
        XCTAssertEqual(
            try prompts(#"[[1, 2], "ab", {"prompt_string": "c"}]"#), [.tokens([1, 2]), .text("ab"), .text("c")])
        XCTAssertEqual(try prompts(#"["a", "b"]"#), [.text("a"), .text("b")])
        XCTAssertEqual(try prompts(#"[1, "a", 2]"#), [.mixed([.token(1), .text("a"), .token(2)])])
        XCTAssertThrowsError(try prompts(#"{"prompt_string": "x", "multimodal_data": "AAAA"}"#))
        XCTAssertThrowsError(try prompts(#"[[1], 2]"#), "a number among a batch's prompts")
        XCTAssertThrowsError(
            try CompletionRequest(
                endpoint: .openAICompletion, body: Array(#"{"prompt": ["a", "b", "c"], "n": 6}"#.utf8)),
            "18 answers")
        let inserted = try CompletionRequest(
            endpoint: .openAICompletion, body: Array(#"{"prompt": "def f(", "suffix": "):\n"}"#.utf8))
        XCTAssertEqual(inserted.prompt, .infill(prefix: "def f(", suffix: "):\n", extra: [], prompt: ""))
        XCTAssertEqual(plain.temperature, 0)
        XCTAssertEqual(plain.stop, ["\n"])
        XCTAssertTrue(plain.stream)
        let chat = try CompletionRequest(
            endpoint: .openAIChat,
            body: Array(
                (#"{"model": "gpt-4", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],"#
                    + #" "max_tokens": 3}"#).utf8))
        XCTAssertEqual(chat.model, "", "OpenAI model names are not tailord's model ids")
        XCTAssertEqual(chat.maxTokens, 3)
        // n_predict 0 is a warm-up; "samplers" may be letters (llama.vscode's Edit).
        let warm = try CompletionRequest(endpoint: .completion, body: Array(#"{"prompt": "x", "n_predict": 0}"#.utf8))
        XCTAssertTrue(warm.warmUp)
        let letters = try CompletionRequest(
            endpoint: .completion, body: Array(#"{"prompt": "x", "samplers": "edkypmx"}"#.utf8))
        XCTAssertEqual(letters.temperature, 1, "a chain without t samples at temperature 1")
        XCTAssertEqual(
            try CompletionRequest(endpoint: .completion, body: Array(#"{"prompt": "x", "samplers": "kt"}"#.utf8))
                .temperature, 0.8)
        for (body, message) in [
            (#"{"prompt": "x", "top_p": 0}"#, "'top_p' must be in (0, 1]"),
            (#"{"prompt": "x", "seed": true}"#, "'seed' must be a number"),
            (#"[1]"#, "not a JSON object"),
        ] {
            XCTAssertThrowsError(try CompletionRequest(endpoint: .completion, body: Array(body.utf8))) { e in
                XCTAssertTrue((e as? HTTPProblem)?.message.contains(message) ?? false, "\(e)")
            }
        }
        // The checks llama-server makes and tailord skipped (issue 20, item 7).
        for (endpoint, body, message) in [
            (
                CompletionRequest.Endpoint.infill, #"{"input_extra": [{"filename": 5, "text": "x"}]}"#,
                "input_extra[0].filename must be a string"
            ),
            (
                .openAIChat,
                #"{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},"#
                    + #" {"role": "assistant", "content": "c"}]}"#,
                "messages[2]: two assistant messages in a row"
            ),
            (
                .openAIChat,
                #"{"messages": [{"role": "user", "content": "a"}], "add_generation_prompt": true,"#
                    + #" "continue_final_message": true}"#,
                "cannot both be true"
            ),
        ] {
            XCTAssertThrowsError(try CompletionRequest(endpoint: endpoint, body: Array(body.utf8))) { e in
                XCTAssertTrue((e as? HTTPProblem)?.message.contains(message) ?? false, "\(e)")
            }
        }
    }

    /// llama.cpp's DRY fields: defaults, values, its -1 for "the whole context", custom
    /// sequence breakers, and refusals that name the field.
    func testDRYFieldsParseLikeLlamaCpps() throws {
        let off = try CompletionRequest(endpoint: .completion, body: Array(#"{"prompt": "x"}"#.utf8))
        XCTAssertEqual(off.dry.multiplier, 0)
        XCTAssertEqual(off.dry.base, 1.75)
        XCTAssertEqual(off.dry.allowedLength, 2)
        let on = try CompletionRequest(
            endpoint: .completion,
            body: Array(
                (#"{"prompt": "x", "dry_multiplier": 0.8, "dry_base": 2, "dry_allowed_length": 3,"#
                    + #" "dry_penalty_last_n": -1, "dry_sequence_breakers": ["\n", ":", "\"", "*"]}"#).utf8))
        XCTAssertEqual(on.dry.multiplier, 0.8)
        XCTAssertEqual(on.dry.base, 2)
        XCTAssertEqual(on.dry.allowedLength, 3)
        XCTAssertEqual(on.dry.window, 0)
        XCTAssertNil(off.dry.breakers, "unset: the defaults")
        XCTAssertEqual(on.dry.breakers, ["\n", ":", "\"", "*"])
        let custom = try CompletionRequest(
            endpoint: .completion, body: Array(#"{"prompt": "x", "dry_sequence_breakers": ["\n", "PEP"]}"#.utf8))
        XCTAssertEqual(custom.dry.breakers, ["\n", "PEP"])
        let many = "[" + Array(repeating: #"".""#, count: 17).joined(separator: ",") + "]"
        for (body, field) in [
            (#"{"prompt": "x", "dry_multiplier": -1}"#, "'dry_multiplier'"),
            (#"{"prompt": "x", "dry_base": 0.5}"#, "'dry_base'"),
            (#"{"prompt": "x", "dry_sequence_breakers": "# + many + "}", "'dry_sequence_breakers'"),
            (#"{"prompt": "x", "dry_sequence_breakers": [""]}"#, "'dry_sequence_breakers'"),
            (#"{"prompt": "x", "dry_allowed_length": 1e12}"#, "dry_allowed_length"),
        ] {
            XCTAssertThrowsError(try CompletionRequest(endpoint: .completion, body: Array(body.utf8)), body) { e in
                XCTAssertEqual((e as? HTTPProblem)?.status, 400, "\(e)")
                XCTAssertTrue((e as? HTTPProblem)?.message.contains(field) ?? false, "\(e)")
            }
        }
    }

    /// Every integer a client sends is range-checked before conversion: n_predict or top_k of
    /// 5e9 passed the parser and trapped `UInt32(...)`, killing the daemon.
    func testIntegersOutOfRangeAreRefusedNamingTheField() {
        for (field, value) in [
            ("n_predict", "5000000000"), ("max_tokens", "5000000000"), ("top_k", "5000000000"), ("top_k", "-5"),
            ("seed", "99999999999"), ("t_max_prompt_ms", "1e15"), ("t_max_predict_ms", "3000000000"),
            ("n_predict", "1.5"), ("top_k", "1e300"),
        ] {
            let body = #"{"prompt": "x", ""# + field + #"": "# + value + "}"
            XCTAssertThrowsError(try CompletionRequest(endpoint: .completion, body: Array(body.utf8)), body) { e in
                XCTAssertEqual((e as? HTTPProblem)?.status, 400)
                XCTAssertTrue(
                    (e as? HTTPProblem)?.message.contains("field '\(field)' must be an integer in") ?? false, "\(e)")
            }
        }
        let edge = try? CompletionRequest(
            endpoint: .completion,
            body: Array(#"{"prompt": "x", "top_k": 2147483647, "n_predict": -1, "seed": -1}"#.utf8))
        XCTAssertEqual(edge?.topK, Int(Int32.max))
        XCTAssertNil(edge?.maxTokens)
    }

    func testResponseFieldsSelectNestedPaths() {
        let o: [String: Any] = ["content": "x", "timings": ["prompt_n": 3, "predicted_n": 2], "stop": true]
        let s = CompletionFormat.select(["content", "timings/prompt_n", "missing/path"], from: o)
        XCTAssertEqual(Set(s.keys), ["content", "timings/prompt_n"])
        XCTAssertEqual(s["timings/prompt_n"] as? Int, 3)
    }
}
