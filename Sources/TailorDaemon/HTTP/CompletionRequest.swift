import Foundation
import TailorEngine

/// What an editor asked for, whichever llama.cpp-compatible endpoint it used: the prompt in one
/// of four shapes and the generation settings those endpoints share. Parsed from JSON with
/// errors that name the field, so a plugin author sees what to fix.
struct CompletionRequest: Sendable {
    /// The endpoints.
    enum Endpoint: String, Sendable {
        case completion = "/completion", infill = "/infill", openAICompletion = "/v1/completions", openAIChat =
            "/v1/chat/completions"
    }

    /// A piece of a mixed prompt.
    enum MixedPiece: Sendable, Equatable { case token(Int32), text(String) }

    /// One extra context chunk of /infill (`input_extra`): another file or a snippet near the cursor.
    struct ExtraChunk: Sendable, Equatable { var filename: String; var text: String }

    /// The prompt.
    enum Prompt: Sendable, Equatable {
        case text(String)
        case tokens([Int32])
        /// Token ids and text in one sequence (`[1, 2, "text", 3]`), the text tokenized in place.
        case mixed([MixedPiece])
        case chat([(role: String, content: String)])
        case infill(prefix: String, suffix: String, extra: [ExtraChunk], prompt: String)

        static func == (a: Prompt, b: Prompt) -> Bool {
            switch (a, b) {
            case let (.text(x), .text(y)): return x == y
            case let (.tokens(x), .tokens(y)): return x == y
            case let (.mixed(x), .mixed(y)): return x == y
            case let (.chat(x), .chat(y)): return x.map(\.role) == y.map(\.role) && x.map(\.content) == y.map(\.content)
            case let (.infill(a1, a2, a3, a4), .infill(b1, b2, b3, b4)):
                return a1 == b1 && a2 == b2 && a3 == b3 && a4 == b4
            default: return false
            }
        }
    }

    var endpoint: Endpoint
    /// The prompt; several for a batch (`"prompt": [[ids], "text", …]`), each answered alone.
    var prompts: [Prompt]
    var prompt: Prompt { prompts[0] }
    /// This response's id (`cmpl-…`, `chatcmpl-…`): unique, as clients key streams by it.
    var id = ""
    var model = ""
    /// n_predict 0: a warm-up (llama.vim, llama.vscode) that evaluates and caches the prompt
    /// and returns no text.
    var warmUp = false
    /// New tokens; nil for the daemon's default.
    var maxTokens: Int?
    /// n_predict -1: generate until the end of generation or of the context, as llama.cpp does.
    var untilContextEnds = false
    var temperature: Float = 0.8
    var topK = 40
    var topP: Float = 0.95
    var minP: Float = 0.05
    var repeatPenalty: Float = 1
    /// llama.cpp's default is a random seed (-1); a given seed stays reproducible.
    var seed = UInt64.random(in: 0...UInt64(UInt32.max))
    /// DRY, with llama.cpp's defaults (off until dry_multiplier is set; a window of 0 is
    /// llama.cpp's -1, the whole context; nil breakers are llama.cpp's).
    var dry = DRYParameters()
    var stop: [String] = []
    var stream = false
    /// Budgets in ms, nil when unset or ≤ 0. `maxPromptMS` (t_max_prompt_ms) is checked and
    /// kept but, as in llama.cpp's server, never cuts the prefill; `maxPredictMS` bounds the
    /// generation after its first token.
    var maxPromptMS: Int?
    var maxPredictMS: Int?
    var cachePrompt = true
    /// /completion and /infill: return only these fields (paths like "timings/prompt_n").
    var responseFields: [String]?
    /// Constrained decoding, from `grammar` (GBNF), `json_schema` or OpenAI's `response_format`.
    var grammar: Grammar?
    /// How many most likely tokens to report with each generated one: llama.cpp's `n_probs`,
    /// OpenAI chat's `top_logprobs`, OpenAI completions' `logprobs`.
    var probabilities = 0
    /// OpenAI's `logprobs`: report log-probabilities (chat: `logprobs: true`).
    var logprobs = false
    /// llama.cpp's `post_sampling_probs`: report the sampler's final distribution instead.
    var postSampling = false
    /// llama.cpp's `return_progress`: a stream reports the prompt's evaluation as it goes.
    var returnProgress = false
    /// llama.cpp's `return_tokens`: the final answer lists the generated token ids.
    var returnTokens = false
    /// llama.cpp's `ignore_eos`: the end-of-generation tokens are banned (a −∞ logit bias).
    var ignoreEOS = false
    /// `logit_bias`, keyed by token id or by text (each of its tokens); nil bias bans.
    var logitBias: [(key: LogitBiasKey, bias: Float)] = []
    /// OpenAI's `n`: this many answers to the same prompt.
    var choices = 1
    /// OpenAI's `stream_options.include_usage`: a last chunk with the usage and no choices.
    var includeUsage = false
    /// llama.cpp's `timings_per_token`: each streamed chunk carries the timings so far.
    var timingsPerToken = false

    /// What a `logit_bias` entry names.
    enum LogitBiasKey: Sendable, Equatable { case token(Int32), text(String) }

    /// The most `n_probs` reported; each is a scan of the vocabulary per token.
    static let maxProbabilities = 100
    /// The most answers one request may ask for (prompts of a batch × OpenAI's n): each is a
    /// job in the queue, which a single request must not fill.
    static let maxChoices = 16

    /// The accepted ranges of integer fields. Every integer from a client is checked against
    /// one before any conversion, so no value can trap a conversion further in: n_predict fits
    /// the wire's 32 bits (-1 is llama.cpp's "until the context ends"), top_k likewise, and a
    /// budget fits `Task.sleep`'s nanoseconds (at most 24 days).
    static let tokenRange = -1...(1 << 24)
    static let maxTopK = Int(Int32.max)
    static let budgetRange = -1...Int(Int32.max)

    /// Parses `body` for `endpoint`.
    /// - Throws: `HTTPProblem` 400 naming the field: malformed JSON, a wrong type, a missing prompt.
    /// - Parameter defaultSeed: the seed of a request that gives none (`http_seed`); nil draws one.
    init(endpoint: Endpoint, body: [UInt8], defaultSeed: UInt64? = nil) throws {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)), let json = object as? [String: Any]
        else {
            throw HTTPProblem(400, "the request body is not a JSON object")
        }
        let f = JSONFields(json)
        self.endpoint = endpoint
        if let defaultSeed { seed = defaultSeed }
        id = (endpoint == .openAIChat ? "chatcmpl-" : "cmpl-") + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        switch endpoint {
        case .completion, .openAICompletion:
            prompts = try Self.parsePrompts(json["prompt"], field: "prompt")
            // OpenAI's `suffix`: the text after the insertion point, so the prompt is a fill-in-
            // the-middle (as /infill lays it out).
            if endpoint == .openAICompletion, let suffix = try f.string("suffix"), !suffix.isEmpty {
                prompts = try prompts.map { p in
                    guard case let .text(prefix) = p else {
                        throw HTTPProblem(400, "field 'suffix' needs a text prompt")
                    }
                    return .infill(prefix: prefix, suffix: suffix, extra: [], prompt: "")
                }
            }
        case .openAIChat:
            guard let list = json["messages"] as? [Any], !list.isEmpty else {
                throw HTTPProblem(400, "field 'messages' must be a non-empty array")
            }
            let turns = try list.enumerated().map { i, m in
                guard let m = m as? [String: Any], let role = m["role"] as? String else {
                    throw HTTPProblem(400, "messages[\(i)] must be an object with a string 'role'")
                }
                return (role: role, content: try Self.parseContent(m["content"], field: "messages[\(i)].content"))
            }
            // As llama.cpp's templates require: no two assistant turns in a row, and a final
            // assistant turn either continued or followed by a new one, not both.
            for i in turns.indices.dropFirst() where turns[i].role == "assistant" && turns[i - 1].role == "assistant" {
                throw HTTPProblem(400, "messages[\(i)]: two assistant messages in a row")
            }
            if try f.bool("add_generation_prompt") == true, try f.bool("continue_final_message") == true {
                throw HTTPProblem(400, "'add_generation_prompt' and 'continue_final_message' cannot both be true")
            }
            prompts = [.chat(turns)]
        case .infill:
            var extra: [ExtraChunk] = []
            if let e = json["input_extra"] {
                guard let list = e as? [Any] else {
                    throw HTTPProblem(400, "field 'input_extra' must be an array of {filename, text}")
                }
                extra = try list.enumerated().map { i, c in
                    guard let c = c as? [String: Any], let text = c["text"] as? String else {
                        throw HTTPProblem(400, "input_extra[\(i)] must be an object with a string 'text'")
                    }
                    guard c["filename"] == nil || c["filename"] is String else {
                        throw HTTPProblem(400, "input_extra[\(i)].filename must be a string")
                    }
                    return ExtraChunk(filename: c["filename"] as? String ?? "", text: text)
                }
            }
            prompts = [
                .infill(
                    prefix: try f.string("input_prefix") ?? "", suffix: try f.string("input_suffix") ?? "",
                    extra: extra,
                    prompt: try f.string("prompt") ?? "")
            ]
        }
        model = try f.string("model") ?? ""
        // OpenAI clients send names we do not know
        if endpoint == .openAIChat || endpoint == .openAICompletion { model = "" }
        let n =
            try f.int("n_predict", in: Self.tokenRange) ?? f.int("max_tokens", in: Self.tokenRange)
            ?? f.int("max_completion_tokens", in: Self.tokenRange)
        maxTokens = n.flatMap { $0 < 0 ? nil : $0 }
        untilContextEnds = n == -1
        if maxTokens == 0 {
            warmUp = true
            maxTokens = 1  // the one token is evaluated for the prompt's logits, never returned
        }
        // llama.cpp applies temperature only when its sampler chain has it: llama.vim sends
        // samplers without "temperature" and samples from top-k/top-p at temperature 1. The
        // chain is names, or one letter per sampler as llama.vscode sends it ("edkypmxt", t:
        // temperature).
        let hasTemperature: Bool?
        switch json["samplers"] {
        case nil, is NSNull: hasTemperature = nil
        case let letters as String: hasTemperature = letters.contains("t")
        default: hasTemperature = try f.strings("samplers")?.contains("temperature")
        }
        if let t = try f.float("temperature") {
            temperature = t
        } else if hasTemperature == false {
            temperature = 1
        }
        if let v = try f.int("top_k", in: -1...Self.maxTopK) { topK = max(0, v) }
        if let v = try f.float("top_p") { topP = v }
        if let v = try f.float("min_p") { minP = v }
        if let v = try f.float("repeat_penalty") ?? f.float("frequency_penalty").map({ 1 + max(0, $0) }) {
            repeatPenalty = v
        }
        if let v = try f.int("seed", in: -1...Int(UInt32.max)), v >= 0 { seed = UInt64(v) }  // -1: random
        if let v = try f.float("dry_multiplier") { dry.multiplier = v }
        if let v = try f.float("dry_base") { dry.base = v }
        if let v = try f.int("dry_allowed_length", in: 0...1024) { dry.allowedLength = max(1, v) }
        if let v = try f.int("dry_penalty_last_n", in: -1...Self.tokenRange.upperBound) { dry.window = max(0, v) }
        if let b = try f.strings("dry_sequence_breakers") { dry.breakers = b }
        if let s = json["stop"] {
            if let one = s as? String {
                stop = [one]
            } else if let many = s as? [String] {
                stop = many
            } else {
                throw HTTPProblem(400, "field 'stop' must be a string or an array of strings")
            }
        }
        stream = try f.bool("stream") ?? false
        maxPromptMS = try f.int("t_max_prompt_ms", in: Self.budgetRange).flatMap { $0 > 0 ? $0 : nil }
        maxPredictMS = try f.int("t_max_predict_ms", in: Self.budgetRange).flatMap { $0 > 0 ? $0 : nil }
        cachePrompt = try f.bool("cache_prompt") ?? true
        responseFields = try f.strings("response_fields")
        grammar = try Self.parseGrammar(json)
        try readProbabilities(f)
        logitBias = try Self.parseLogitBias(json["logit_bias"])
        ignoreEOS = try f.bool("ignore_eos") ?? false
        returnTokens = try f.bool("return_tokens") ?? false
        returnProgress = try f.bool("return_progress") ?? false
        choices = try f.int("n", in: 1...Self.maxChoices) ?? 1
        guard prompts.count * choices <= Self.maxChoices else {
            throw HTTPProblem(
                400,
                """
                \(prompts.count) prompts × n \(choices) is \(prompts.count * choices) answers; the limit is \
                \(Self.maxChoices)
                """
            )
        }
        if let options = json["stream_options"], !(options is NSNull) {
            guard let options = options as? [String: Any] else {
                throw HTTPProblem(400, "field 'stream_options' must be an object")
            }
            includeUsage = try JSONFields(options).bool("include_usage") ?? false
        }
        timingsPerToken = try f.bool("timings_per_token") ?? false
        guard temperature >= 0, temperature.isFinite else { throw HTTPProblem(400, "field 'temperature' must be ≥ 0") }
        guard topP > 0, topP <= 1 else { throw HTTPProblem(400, "field 'top_p' must be in (0, 1]") }
        guard minP >= 0, minP < 1 else { throw HTTPProblem(400, "field 'min_p' must be in [0, 1)") }
        guard repeatPenalty > 0, repeatPenalty.isFinite else {
            throw HTTPProblem(400, "field 'repeat_penalty' must be > 0")
        }
        do { try dry.validate() } catch let SamplingError.invalidParameter(name, value) {
            throw HTTPProblem(400, "field '\(name)' is out of range: \(value)")
        }
    }
}
