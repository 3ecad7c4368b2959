import Foundation
import TailorTestSupport
import XCTest

/// The llama.cpp-compatible HTTP endpoint of a real `tailord`, driven the way editor plugins
/// drive llama.cpp's server: llama.vim's /infill body, an OpenAI client's /v1/completions,
/// streaming, cancel on disconnect, budgets, and bad requests (the daemon keeps serving).
final class HTTPEndpointTests: XCTestCase {
    private var server: HTTPTestDaemon?

    override func tearDown() { server?.stop() }

    private var http: HTTPTestClient.Target { server!.http }
    private var port: UInt16 { server!.port }
    private var token: String { server!.token }

    /// Starts tailord with the HTTP endpoint on a Unix socket and a loopback TCP port.
    private func start(model: String = TestPaths.tinyModel(), extra: String = "") throws {
        server = try HTTPTestDaemon(model: model, extra: extra)
    }

    func testLlamaVimInfillAndOpenAICompletionsStreamed() throws {
        try start()
        XCTAssertEqual(try HTTPTestClient.call(http, "GET", "/health").json?["status"] as? String, "ok")
        // llama.vim's request body: only the response_fields it asked for come back.
        let body = try String(
            contentsOf: TestPaths.repository("Tests/TailorCLITests/Fixtures/llama-vim-infill.json"), encoding: .utf8)
        let infill = try HTTPTestClient.call(http, "POST", "/infill", body: body)
        XCTAssertEqual(infill.status, 200, infill.body)
        let fields = try XCTUnwrap(infill.json)
        XCTAssertEqual(
            Set(fields.keys),
            [
                "content", "timings/prompt_n", "timings/prompt_ms", "timings/prompt_per_token_ms",
                "timings/prompt_per_second",
                "timings/predicted_n", "timings/predicted_ms", "timings/predicted_per_token_ms",
                "timings/predicted_per_second",
                "truncated", "tokens_cached",
            ])
        XCTAssertTrue(fields["content"] is String)
        XCTAssertGreaterThan(fields["timings/prompt_n"] as? Int ?? 0, 10)
        // llama.vim sends no seed, so the text is drawn at random: the tiny model sometimes
        // ends at once (no token, no text; a CI run saw it), else within n_predict 16.
        let predicted = fields["timings/predicted_n"] as? Int ?? -1
        XCTAssertTrue((0...16).contains(predicted), "n_predict 16: \(fields)")
        if predicted == 0 { XCTAssertEqual(fields["content"] as? String, "", "\(fields)") }
        // The same request again: its prompt comes from the prompt cache. (Its text is drawn
        // anew: llama.vim samples, with no seed, and no seed is a random one, as in llama.cpp.)
        let again = try XCTUnwrap(try HTTPTestClient.call(http, "POST", "/infill", body: body).json)
        XCTAssertGreaterThan(again["tokens_cached"] as? Int ?? 0, 10, "\(again)")

        // Personalized in the configured mode (cope) before any training: served with what
        // exists, and the response says what ran.
        let plain = try XCTUnwrap(
            try HTTPTestClient.call(http, "POST", "/completion", body: #"{"prompt": "The theme", "n_predict": 2}"#).json
        )
        let settings = try XCTUnwrap(plain["generation_settings"] as? [String: Any])
        XCTAssertEqual(settings["tailor_mode"] as? String, "base")
        XCTAssertEqual(settings["tailor_fallback"] as? Bool, true)
        XCTAssertEqual(settings["tailor_adapters"] as? [String], [])

        // An OpenAI client's completion, whole and streamed, greedy: the same text.
        let openAI =
            #"{"model": "gpt-3.5-turbo-instruct", "prompt": "The theme of the", "max_tokens": 12, "temperature": 0"#
        let whole = try HTTPTestClient.call(
            .tcp(port), "POST", "/v1/completions", body: openAI + "}", headers: ["Authorization": "Bearer \(token)"])
        XCTAssertEqual(whole.status, 200, whole.body)
        let choice = try XCTUnwrap((whole.json?["choices"] as? [[String: Any]])?.first)
        XCTAssertEqual(choice["finish_reason"] as? String, "length")
        XCTAssertEqual((whole.json?["usage"] as? [String: Any])?["completion_tokens"] as? Int, 12)
        let streamed = try HTTPTestClient.call(
            .tcp(port), "POST", "/v1/completions", body: openAI + #", "stream": true}"#,
            headers: ["Authorization": "Bearer \(token)"])
        XCTAssertEqual(streamed.headers["content-type"], "text/event-stream")
        let events = streamed.events
        XCTAssertEqual(events.last, "[DONE]")
        let chunks = events.dropLast().compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let text = chunks.compactMap { (($0["choices"] as? [[String: Any]])?.first?["text"] as? String) }.joined()
        XCTAssertEqual(text, choice["text"] as? String)
        XCTAssertGreaterThan(chunks.count, 2)

        // Chat, OpenAI-shaped, over the Unix socket.
        let chat = try HTTPTestClient.call(
            http, "POST", "/v1/chat/completions",
            body: #"{"messages": [{"role": "user", "content": "the theme"}], "max_tokens": 4, "temperature": 0}"#)
        XCTAssertEqual(
            ((chat.json?["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["role"] as? String,
            "assistant", chat.body)
    }

    /// What editors send and llama-server accepts (issue 20): a warm-up with n_predict 0, a
    /// sampler chain as letters, a model name /completion does not know, many stop strings, no
    /// seed (random, as llama.cpp's -1); and OpenAI's shapes: unique ids, system_fingerprint,
    /// the model's id in chunks, a streamed chat that opens with the role alone.
    func testEditorRequestsLlamaServerAccepts() throws {
        try start()
        func post(_ path: String, _ body: String) throws -> [String: Any] {
            let r = try HTTPTestClient.call(http, "POST", path, body: body)
            XCTAssertEqual(r.status, 200, r.body)
            return try XCTUnwrap(r.json, r.body)
        }
        let prefix = #""prompt": "the theme of the story is the sea and the theme of the story""#
        let warm = try post("/completion", "{\(prefix), \"n_predict\": 0}")
        XCTAssertEqual(warm["content"] as? String, "")
        XCTAssertEqual(warm["tokens_predicted"] as? Int, 0)
        let after = try post("/completion", "{\(prefix), \"n_predict\": 2, \"temperature\": 0}")
        XCTAssertGreaterThan(after["tokens_cached"] as? Int ?? 0, 10, "the warm-up cached the prompt")
        // A fixed seed: unseeded requests draw a random one, and the tiny model may then end
        // after one token, which is not what these requests test.
        let letters = try post(
            "/completion", #"{"prompt": "the theme", "n_predict": 2, "seed": 1, "samplers": "edkypmxt"}"#)
        XCTAssertEqual(letters["tokens_predicted"] as? Int, 2)
        let named = try post(
            "/completion", #"{"prompt": "the theme", "n_predict": 2, "seed": 1, "model": "qwen2.5-coder:1.5b"}"#)
        XCTAssertEqual(named["tokens_predicted"] as? Int, 2)
        let stops = (0..<17).map { "\"zz\($0)\"" }.joined(separator: ", ")
        XCTAssertEqual(
            try post("/completion", #"{"prompt": "the theme", "n_predict": 2, "seed": 1, "stop": ["# + stops + "]}")[
                "tokens_predicted"] as? Int, 2)
        // No seed at temperature 1: each answer is drawn anew; a seed repeats.
        let free = #"{"prompt": "the theme", "n_predict": 12, "temperature": 1, "top_k": 0, "top_p": 1, "min_p": 0"#
        let draws = try (0..<4).map { _ in try post("/completion", free + "}")["content"] as? String ?? "" }
        XCTAssertGreaterThan(Set(draws).count, 1, "\(draws)")
        let seeded = try (0..<2).map { _ in try post("/completion", free + #", "seed": 7}"#)["content"] as? String }
        XCTAssertEqual(seeded[0], seeded[1])

        let chat = #"{"messages": [{"role": "user", "content": "the theme"}], "max_tokens": 3, "temperature": 0"#
        let a = try post("/v1/chat/completions", chat + "}"), b = try post("/v1/chat/completions", chat + "}")
        XCTAssertNotEqual(a["id"] as? String, b["id"] as? String)
        XCTAssertTrue((a["id"] as? String ?? "").hasPrefix("chatcmpl-"))
        XCTAssertEqual(a["system_fingerprint"] as? String, "tailor-0.1.0")
        let streamed = try HTTPTestClient.call(http, "POST", "/v1/chat/completions", body: chat + #", "stream": true}"#)
        let chunks = streamed.events.dropLast().compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        func delta(_ c: [String: Any]) -> [String: Any] {
            ((c["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any]) ?? [:]
        }
        XCTAssertEqual(delta(chunks[0]) as NSDictionary, ["role": "assistant", "content": NSNull()] as NSDictionary)
        XCTAssertNil(delta(chunks[1])["role"], "content chunks carry no role")
        XCTAssertEqual(Set(chunks.compactMap { $0["id"] as? String }).count, 1, "one id per stream")
        XCTAssertEqual(chunks[1]["model"] as? String, "llama")
    }

    /// llama-server's model endpoints: /tokenize (and its pieces) agrees with `tailor tokenize`,
    /// /detokenize inverts it, /apply-template renders the chat template, /props and
    /// /v1/models/{id} describe the model.
    func testTokenizeDetokenizeTemplateAndProps() throws {
        try start()
        func post(_ path: String, _ body: String) throws -> HTTPTestClient.Response {
            try HTTPTestClient.call(http, "POST", path, body: body)
        }
        let offline = try BuiltProducts.tailor([
            "tokenize", "--model", TestPaths.tinyModel(), "--no-special", "--text", "the theme", "--json",
        ])
        let want = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(offline.stdout.utf8)) as? [Int])
        let ids = try XCTUnwrap(post("/tokenize", #"{"content": "the theme"}"#).json?["tokens"] as? [Int])
        XCTAssertEqual(ids, want)
        let pieces = try XCTUnwrap(
            post("/tokenize", #"{"content": "the theme", "with_pieces": true}"#).json?["tokens"] as? [[String: Any]])
        XCTAssertEqual(pieces.compactMap { $0["id"] as? Int }, want)
        XCTAssertEqual(pieces.compactMap { $0["piece"] as? String }.joined(), "the theme")
        let text = try post("/detokenize", #"{"tokens": "# + "\(ids)" + "}").json?["content"] as? String
        XCTAssertEqual(text, "the theme")
        XCTAssertEqual(try post("/detokenize", #"{"tokens": [99999999]}"#).status, 400)
        let rendered = try XCTUnwrap(
            post("/apply-template", #"{"messages": [{"role": "user", "content": "the theme"}]}"#).json?["prompt"]
                as? String)
        XCTAssertTrue(rendered.contains("the theme") && rendered.count > "the theme".count, rendered)
        XCTAssertEqual(try post("/apply-template", #"{"messages": [{"role": "wizard", "content": "x"}]}"#).status, 400)
        let props = try XCTUnwrap(try HTTPTestClient.call(http, "GET", "/props").json)
        XCTAssertEqual((props["default_generation_settings"] as? [String: Any])?["model"] as? String, "llama")
        XCTAssertNotNil(props["total_slots"] as? Int)
        XCTAssertEqual(try HTTPTestClient.call(http, "GET", "/v1/models/llama").json?["id"] as? String, "llama")
        XCTAssertEqual(try HTTPTestClient.call(http, "GET", "/v1/models/nope").status, 404)
        XCTAssertEqual(try HTTPTestClient.call(http, "GET", "/tokenize").status, 405)
    }

    func testBadRequestsGetJSONErrorsAndTheDaemonKeepsServing() throws {
        try start(extra: "http_max_body_bytes = 2048\n")
        func expect(
            _ r: HTTPTestClient.Response, _ status: Int, _ text: String, file: StaticString = #filePath,
            line: UInt = #line
        ) {
            XCTAssertEqual(r.status, status, r.body, file: file, line: line)
            let message = (r.json?["error"] as? [String: Any])?["message"] as? String ?? ""
            XCTAssertTrue(message.contains(text), "\(message) lacks \(text)", file: file, line: line)
        }
        expect(try HTTPTestClient.call(http, "POST", "/completion", body: "{not json"), 400, "not a JSON object")
        expect(
            try HTTPTestClient.call(http, "POST", "/completion", body: #"{"prompt": "x", "n_predict": "many"}"#), 400,
            "'n_predict' must be a number")
        expect(
            try HTTPTestClient.call(http, "POST", "/completion", body: #"{"prompt": "x", "stream": 1}"#), 400,
            "'stream' must be true or false")
        expect(
            try HTTPTestClient.call(http, "POST", "/completion", body: #"{"n_predict": 3}"#), 400, "'prompt' is missing"
        )
        expect(
            try HTTPTestClient.call(http, "POST", "/infill", body: #"{"input_extra": [{"filename": "a"}]}"#), 400,
            "input_extra[0]")
        expect(
            try HTTPTestClient.call(http, "POST", "/completion", body: #"{"prompt": [1, 99999999]}"#), 400,
            "beyond the vocabulary")
        // Longer than the context (128 tokens): llama.cpp's error type, with both numbers.
        let over = try HTTPTestClient.call(
            http, "POST", "/completion", body: #"{"prompt": ""# + String(repeating: "the theme ", count: 150) + #""}"#)
        expect(over, 400, "exceeds the available context size (128 tokens)")
        let error = try XCTUnwrap(over.json?["error"] as? [String: Any])
        XCTAssertEqual(error["type"] as? String, "exceed_context_size_error")
        XCTAssertEqual(error["n_ctx"] as? Int, 128)
        XCTAssertGreaterThan(error["n_prompt_tokens"] as? Int ?? 0, 128)
        let big = #"{"prompt": ""# + String(repeating: "a", count: 4000) + #""}"#
        expect(try HTTPTestClient.call(http, "POST", "/completion", body: big), 413, "limit is 2048")
        expect(try HTTPTestClient.call(http, "POST", "/nope", body: "{}"), 404, "no endpoint /nope")
        expect(try HTTPTestClient.call(http, "GET", "/completion"), 405, "GET is not allowed")
        expect(try HTTPTestClient.call(.tcp(port), "GET", "/v1/models"), 401, "bearer token")
        expect(
            try HTTPTestClient.call(
                .tcp(port), "GET", "/v1/models", headers: ["Authorization": "Bearer wrong-token-0123456789abc"]), 401,
            "bearer token")
        XCTAssertEqual(
            try HTTPTestClient.call(.tcp(port), "GET", "/v1/models", headers: ["Authorization": "Bearer \(token)"])
                .status, 200)
        // As llama-server: the health check answers without a key, and says nothing else.
        XCTAssertEqual(try HTTPTestClient.call(.tcp(port), "GET", "/health").status, 200)
        XCTAssertEqual(try HTTPTestClient.call(.tcp(port), "GET", "/v1/health?x=1").status, 200)
        expect(try HTTPTestClient.call(.tcp(port), "POST", "/health", body: "{}"), 401, "bearer token")
        XCTAssertEqual(try HTTPTestClient.call(http, "GET", "/health").status, 200)
        XCTAssertTrue(server?.process.isRunning ?? false)
    }

    /// With SmolLM2 (slow enough to tell): hanging up mid-stream frees the slot at once,
    /// t_max_predict_ms ends a long generation with what it has, and t_max_prompt_ms never
    /// cuts a prefill.
    func testDisconnectCancelsAndBudgetsStopGeneration() throws {
        let model =
            (ProcessInfo.processInfo.environment["TAILOR_MODELS_DIR"] ?? NSHomeDirectory()
                + "/.local/share/tailor/models")
            + "/SmolLM2-135M-Instruct.Q4_1.gguf"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: model), "SmolLM2 not fetched (Scripts/fetch-model.sh)")
        try start(model: model, extra: "slots = 1\n")
        // One slot: while the first generation runs, a second request would wait for it.
        let c = try HTTPTestClient(http)
        c.send(
            "POST", "/completion",
            body: #"{"prompt": "Once upon a time", "n_predict": 3000, "temperature": 0, "stream": true}"#)
        var seen = ""
        while !seen.contains("\"tokens_predicted\":3}") {
            let s = c.readSome(); XCTAssertFalse(s.isEmpty); if s.isEmpty { break }; seen += s
        }
        close(c.fd)
        let t0 = Date()
        let next = try HTTPTestClient.call(
            http, "POST", "/completion", body: #"{"prompt": "Hello", "n_predict": 2, "temperature": 0}"#)
        XCTAssertEqual(next.status, 200)
        // 3000 tokens at SmolLM2's speed take over a minute; a cancelled one frees the slot now.
        XCTAssertLessThan(Date().timeIntervalSince(t0), 20)

        let budget = try HTTPTestClient.call(
            http, "POST", "/completion",
            body: #"{"prompt": "Once upon a time", "n_predict": 3000, "temperature": 0, "t_max_predict_ms": 400}"#)
        let o = try XCTUnwrap(budget.json, budget.body)
        XCTAssertEqual(o["stop_type"] as? String, "limit")
        let n = (o["timings"] as? [String: Any])?["predicted_n"] as? Int ?? 0
        XCTAssertTrue(n > 0 && n < 3000, "\(n) tokens")
        XCTAssertFalse((o["content"] as? String ?? "").isEmpty)

        // t_max_prompt_ms does not cut the prefill (as in llama.cpp's server): a ~1,000-token
        // prefix far slower than 50 ms is evaluated whole, the suggestion is not empty, and
        // the next keystroke's request finds the prefix in the prompt cache.
        let long = "Alpha" + String(repeating: " The theme of the story is the sea.", count: 110)
        let first = try HTTPTestClient.call(
            http, "POST", "/completion",
            body: #"{"prompt": ""# + long + #"", "n_predict": 8, "temperature": 0, "t_max_prompt_ms": 50}"#)
        let firstJSON = try XCTUnwrap(first.json, first.body)
        XCTAssertEqual((firstJSON["timings"] as? [String: Any])?["predicted_n"] as? Int, 8)
        XCTAssertFalse((firstJSON["content"] as? String ?? "").isEmpty)
        let keystroke = try HTTPTestClient.call(
            http, "POST", "/completion",
            body: #"{"prompt": ""# + long + #" The", "n_predict": 1, "temperature": 0, "t_max_prompt_ms": 50}"#)
        XCTAssertGreaterThan(try XCTUnwrap(keystroke.json)["tokens_cached"] as? Int ?? 0, 900)
    }
}
