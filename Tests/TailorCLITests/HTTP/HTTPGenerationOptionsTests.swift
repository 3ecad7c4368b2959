import Foundation
import TailorTestSupport
import XCTest

/// The generation options llama.cpp's server and OpenAI's API offer beyond sampling, through a
/// real tailord: grammars and JSON schemas, token probabilities, logit bias, several answers
/// and batches, and the model's aliases and slots.
final class HTTPGenerationOptionsTests: XCTestCase {
    private var server: HTTPTestDaemon?
    override func tearDown() { server?.stop() }

    private func post(_ path: String, _ body: String, status: Int = 200) throws -> Any {
        let r = try HTTPTestClient.call(server!.http, "POST", path, body: body)
        XCTAssertEqual(r.status, status, r.body)
        return try JSONSerialization.jsonObject(with: Data(r.body.utf8))
    }

    private func content(_ o: Any) -> String {
        let d = o as? [String: Any] ?? [:]
        if let c = d["content"] as? String { return c }
        let choice = (d["choices"] as? [[String: Any]])?.first
        return (choice?["message"] as? [String: Any])?["content"] as? String ?? choice?["text"] as? String ?? ""
    }

    func testGrammarAndSchemaConstrainTheAnswer() throws {
        server = try HTTPTestDaemon()
        let free = content(try post("/completion", #"{"prompt": "the theme", "n_predict": 8, "temperature": 0}"#))
        let grammar = #"root ::= [a-m ]{2,20} \"e\""#
        let constrained = content(
            try post(
                "/completion",
                #"{"prompt": "the theme", "n_predict": 8, "temperature": 0, "grammar": ""# + grammar + #""}"#))
        XCTAssertNotNil(constrained.range(of: #"^[a-m ]{2,20}e?$"#, options: .regularExpression), constrained)
        XCTAssertNotEqual(free, constrained, "the grammar changed the answer")
        let schema = #"{"json_schema": {"const": "42"}, "n_predict": 6, "temperature": 0"#
        let answer = content(try post("/completion", #"{"prompt": "the theme", "# + schema.dropFirst() + "}"))
        // The schema's grammar, like llama.cpp's, lets whitespace follow the value.
        XCTAssertEqual(answer.trimmingCharacters(in: .whitespacesAndNewlines), #""42""#)
        let bad = try post("/completion", #"{"prompt": "x", "grammar": "root ::= (unclosed"}"#, status: 400)
        let message = ((bad as? [String: Any])?["error"] as? [String: Any])?["message"] as? String ?? ""
        XCTAssertTrue(message.contains("grammar syntax error"), message)
        _ = try post(
            "/v1/chat/completions",
            #"{"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "sound"}}"#, status: 400)
    }

    func testProbabilitiesBiasChoicesAndBatches() throws {
        server = try HTTPTestDaemon()
        let probs = try post("/completion", #"{"prompt": "the theme", "n_predict": 3, "temperature": 0, "n_probs": 5}"#)
        let list = try XCTUnwrap((probs as? [String: Any])?["completion_probabilities"] as? [[String: Any]])
        XCTAssertEqual(list.count, 3)
        for entry in list {
            let top = try XCTUnwrap(entry["top_logprobs"] as? [[String: Any]])
            let values = top.compactMap { $0["logprob"] as? Double }
            XCTAssertEqual(values.count, 5)
            XCTAssertEqual(values, values.sorted(by: >), "best first")
            XCTAssertTrue(values.allSatisfy { $0 <= 0 })
            // Greedy: the chosen token is the most likely one.
            XCTAssertEqual(entry["id"] as? Int, top[0]["id"] as? Int)
            XCTAssertEqual(entry["logprob"] as? Double ?? 1, values[0], accuracy: 1e-5)
        }
        // Banning the greedy first token changes it.
        let first = try XCTUnwrap(list[0]["id"] as? Int)
        let biased = try post(
            "/completion",
            #"{"prompt": "the theme", "n_predict": 1, "temperature": 0, "n_probs": 1, "logit_bias": [["# + "\(first)"
                + #", false]]}"#)
        let now = ((biased as? [String: Any])?["completion_probabilities"] as? [[String: Any]])?.first?["id"] as? Int
        XCTAssertNotNil(now)
        XCTAssertNotEqual(now, first)

        let two = try post(
            "/v1/chat/completions",
            #"{"messages": [{"role": "user", "content": "the theme"}], "max_tokens": 4, "n": 2}"#)
        let choices = try XCTUnwrap((two as? [String: Any])?["choices"] as? [[String: Any]])
        XCTAssertEqual(choices.compactMap { $0["index"] as? Int }, [0, 1])
        let batch = try XCTUnwrap(
            try post(
                "/completion",
                #"{"prompt": ["the theme", {"prompt_string": "the theme"}], "n_predict": 3, "temperature": 0}"#)
                as? [[String: Any]])
        XCTAssertEqual(batch.count, 2)
        XCTAssertEqual(batch[0]["content"] as? String, batch[1]["content"] as? String)
        let counted = try post(
            "/v1/chat/completions/input_tokens", #"{"messages": [{"role": "user", "content": "the theme"}]}"#)
        XCTAssertGreaterThan((counted as? [String: Any])?["input_tokens"] as? Int ?? 0, 2)
    }

    /// llama.cpp's server counts the end token among the predicted ones (its `n_gen` counts
    /// every sampled token), so a reply that ends at once reports one token, as OpenAI's usage
    /// does, and a reply cut by the budget exactly the budget.
    func testTheEndTokenCountsAsPredicted() throws {
        server = try HTTPTestDaemon()
        let tokens = try post("/tokenize", #"{"content": "<|im_end|>"}"#)
        let end = try XCTUnwrap(((tokens as? [String: Any])?["tokens"] as? [Int])?.first)
        let biased = #"{"prompt": "the theme", "temperature": 0, "logit_bias": [["# + "\(end)" + #", 100]], "#
        let r = try XCTUnwrap(try post("/completion", biased + #""n_predict": 8}"#) as? [String: Any])
        XCTAssertEqual(r["content"] as? String, "")
        XCTAssertEqual(r["stop_type"] as? String, "eos")
        XCTAssertEqual(r["tokens_predicted"] as? Int, 1)
        XCTAssertEqual((r["timings"] as? [String: Any])?["predicted_n"] as? Int, 1)
        let o = try XCTUnwrap(
            try post(
                "/v1/completions",
                #"{"prompt": "the theme", "temperature": 0, "max_tokens": 8, "logit_bias": {""# + "\(end)"
                    + #"": 100}}"#) as? [String: Any])
        XCTAssertEqual((o["usage"] as? [String: Any])?["completion_tokens"] as? Int, 1)
        let cut = try XCTUnwrap(
            try post("/completion", #"{"prompt": "the theme", "temperature": 0, "n_predict": 3, "ignore_eos": true}"#)
                as? [String: Any])
        XCTAssertEqual(cut["stop_type"] as? String, "limit")
        XCTAssertEqual(cut["tokens_predicted"] as? Int, 3)
    }

    func testAliasesSlotsAndDefaultSeed() throws {
        server = try HTTPTestDaemon(extra: "http_model_alias = coder,fim\nhttp_slots = on\nhttp_seed = 7\n")
        let models = try XCTUnwrap(
            try HTTPTestClient.call(server!.http, "GET", "/v1/models").json?["data"] as? [[String: Any]])
        XCTAssertEqual(models.first?["id"] as? String, "coder")
        XCTAssertEqual(try HTTPTestClient.call(server!.http, "GET", "/v1/models/fim").status, 200)
        let slots = try HTTPTestClient.call(server!.http, "GET", "/slots")
        let list = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(slots.body.utf8)) as? [[String: Any]])
        XCTAssertEqual(list.count, 2)
        XCTAssertEqual(list.compactMap { $0["is_processing"] as? Bool }, [false, false])
        // http_seed: requests without a seed repeat one another.
        let free = #"{"prompt": "the theme", "n_predict": 10, "temperature": 1, "top_k": 0, "top_p": 1, "min_p": 0}"#
        XCTAssertEqual(content(try post("/completion", free)), content(try post("/completion", free)))
    }

    /// return_progress: one report at admission (what the cache held), then one per prefill
    /// chunk of `batch_tokens`, the last with the whole prompt processed.
    func testPromptProgressIsStreamedPerChunk() throws {
        server = try HTTPTestDaemon(extra: "batch_tokens = 8\n")
        let prompt = String(repeating: "the theme of the sea ", count: 6)
        let body = #"{"prompt": ""# + prompt + #"", "n_predict": 2, "stream": true, "return_progress": true}"#
        for round in 0..<2 {
            let r = try HTTPTestClient.call(server!.http, "POST", "/completion", body: body)
            let reports = r.events.compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["prompt_progress"]
                    as? [String: Any]
            }
            let processed = reports.compactMap { $0["processed"] as? Int }
            let total = try XCTUnwrap(reports.first?["total"] as? Int)
            let cached = try XCTUnwrap(reports.first?["cache"] as? Int)
            XCTAssertEqual(processed.first, cached, "round \(round)")
            XCTAssertEqual(processed.last, total, "round \(round)")
            XCTAssertEqual(processed, processed.sorted(), "round \(round)")
            XCTAssertEqual(reports.count, 1 + (total - cached + 7) / 8, "round \(round): \(processed)")
            if round == 1 { XCTAssertGreaterThan(cached, total / 2, "the second round reuses the prompt") }
        }
    }

    func testSlotsAreOffByDefault() throws {
        server = try HTTPTestDaemon()
        XCTAssertEqual(try HTTPTestClient.call(server!.http, "GET", "/slots").status, 501)
    }
}
