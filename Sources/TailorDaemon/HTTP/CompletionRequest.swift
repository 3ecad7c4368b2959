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
            prompts = try Self.prompts(json["prompt"], field: "prompt")
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
                return (role: role, content: try Self.content(m["content"], field: "messages[\(i)].content"))
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
        if endpoint == .openAIChat || endpoint == .openAICompletion { model = "" }  // OpenAI clients send names we do not know
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
        grammar = try Self.grammar(json)
        try readProbabilities(f)
        logitBias = try Self.logitBias(json["logit_bias"])
        ignoreEOS = try f.bool("ignore_eos") ?? false
        returnTokens = try f.bool("return_tokens") ?? false
        returnProgress = try f.bool("return_progress") ?? false
        choices = try f.int("n", in: 1...Self.maxChoices) ?? 1
        guard prompts.count * choices <= Self.maxChoices else {
            throw HTTPProblem(
                400,
                "\(prompts.count) prompts × n \(choices) is \(prompts.count * choices) answers; the limit is \(Self.maxChoices)"
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

    /// `logit_bias` on `tokenizer`'s ids: a text entry biases each of its tokens; `ignore_eos`
    /// bans the end-of-generation tokens.
    /// - Throws: `HTTPProblem` 400 for a token id beyond the vocabulary.
    func resolvedLogitBias(_ tokenizer: Tokenizer) throws -> [Int32: Float] {
        var out: [Int32: Float] = [:]
        for (key, bias) in logitBias {
            switch key {
            case let .token(id):
                guard Int(id) < tokenizer.vocabularySize else {
                    throw HTTPProblem(
                        400, "logit_bias names token \(id), beyond the vocabulary (\(tokenizer.vocabularySize))")
                }
                out[id] = bias
            case let .text(text):
                for id in tokenizer.encode(text, addSpecial: false, parseSpecial: false) { out[id] = bias }
            }
        }
        if ignoreEOS { for id in tokenizer.endOfGenerationIDs { out[id] = -.infinity } }
        return out
    }

    /// `n_probs`, `post_sampling_probs`, and OpenAI's `logprobs` and `top_logprobs`.
    private mutating func readProbabilities(_ f: JSONFields) throws {
        let range = 0...Self.maxProbabilities
        probabilities = try f.int("n_probs", in: range) ?? 0
        postSampling = try f.bool("post_sampling_probs") ?? false
        switch endpoint {
        case .openAIChat:
            logprobs = try f.bool("logprobs") ?? false
            if logprobs { probabilities = try f.int("top_logprobs", in: range) ?? probabilities }
        case .openAICompletion:
            if let n = try? f.bool("logprobs") {
                logprobs = n
            } else if let n = try f.int("logprobs", in: range) {
                logprobs = true
                probabilities = n
            }
        case .completion, .infill:
            break
        }
    }

    /// `logit_bias` as llama.cpp reads it: `[[token or text, bias or false], …]` or OpenAI's
    /// `{"token id": bias}` (a key that is not a number is text). `false` bans the token.
    private static func logitBias(_ value: Any?) throws -> [(key: LogitBiasKey, bias: Float)] {
        func bias(_ v: Any, _ at: String) throws -> Float {
            guard let n = v as? NSNumber else { throw HTTPProblem(400, "\(at) must be a number or false") }
            if n.isJSONBoolean {
                guard !n.boolValue else { throw HTTPProblem(400, "\(at) must be a number or false") }
                return -.infinity
            }
            guard n.doubleValue.isFinite else { throw HTTPProblem(400, "\(at) must be finite") }
            return Float(n.doubleValue)
        }
        func key(_ v: Any, _ at: String) throws -> LogitBiasKey {
            if let s = v as? String { return Int32(s).map { .token($0) } ?? .text(s) }
            guard let n = v as? NSNumber, !n.isJSONBoolean, let id = Int32(exactly: n.doubleValue), id >= 0 else {
                throw HTTPProblem(400, "\(at) must be a token id or a string")
            }
            return .token(id)
        }
        switch value {
        case nil, is NSNull:
            return []
        case let pairs as [Any]:
            return try pairs.enumerated().map { i, p in
                guard let p = p as? [Any], p.count == 2 else {
                    throw HTTPProblem(400, "logit_bias[\(i)] must be [token or text, bias]")
                }
                return (try key(p[0], "logit_bias[\(i)][0]"), try bias(p[1], "logit_bias[\(i)][1]"))
            }
        case let map as [String: Any]:
            return try map.keys.sorted().map { k in
                (try key(k, "logit_bias key"), try bias(map[k]!, "logit_bias[\(k.echoed)]"))
            }
        default:
            throw HTTPProblem(400, "field 'logit_bias' must be an array of pairs or an object")
        }
    }

    /// The grammar a request constrains its output with, as llama.cpp's server reads it: a
    /// GBNF `grammar`, a `json_schema`, or `response_format` of type `json_object` (any object,
    /// or its `schema`) or `json_schema` (its `json_schema.schema`). `text` is no constraint.
    private static func grammar(_ json: [String: Any]) throws -> Grammar? {
        let f = JSONFields(json)
        var source: (gbnf: String, field: String)?
        if let g = try f.string("grammar"), !g.isEmpty { source = (g, "grammar") }
        if let schema = json["json_schema"], !(schema is NSNull) {
            source = (try gbnf(schema: schema, field: "json_schema"), "json_schema")
        }
        if let format = json["response_format"], !(format is NSNull) {
            guard let format = format as? [String: Any], let type = format["type"] as? String else {
                throw HTTPProblem(400, "field 'response_format' must be an object with a string 'type'")
            }
            switch type {
            case "text": break
            case "json_object":
                source =
                    try format["schema"].map {
                        (try gbnf(schema: $0, field: "response_format.schema"), "response_format")
                    }
                    ?? (JSONSchemaGrammar.anyObject, "response_format")
            case "json_schema":
                guard let inner = format["json_schema"] as? [String: Any], let schema = inner["schema"] else {
                    throw HTTPProblem(400, "response_format of type json_schema needs 'json_schema.schema'")
                }
                source = (try gbnf(schema: schema, field: "response_format.json_schema.schema"), "response_format")
            default:
                throw HTTPProblem(400, "response_format type '\(type.echoed)' is not text, json_object or json_schema")
            }
        }
        guard let source else { return nil }
        do {
            return try Grammar(gbnf: source.gbnf)
        } catch let e as GrammarError {
            throw HTTPProblem(400, "field '\(source.field)': \(e)")
        }
    }

    private static func gbnf(schema: Any, field: String) throws -> String {
        do {
            return try JSONSchemaGrammar.gbnf(schema: schema)
        } catch let e as GrammarError {
            throw HTTPProblem(400, "field '\(field)': \(e)")
        }
    }

    /// The most prompts one batch request may hold.
    static let maxPrompts = 16

    /// One prompt, or a batch: an array whose elements are prompts themselves (token arrays,
    /// strings, `{"prompt_string": …}` objects), as llama.cpp's server takes them.
    private static func prompts(_ value: Any?, field: String) throws -> [Prompt] {
        // A batch holds arrays or objects, or is all strings; numbers among strings are one
        // mixed prompt.
        guard let list = value as? [Any], list.count > 1,
            list.contains(where: { $0 is [Any] || $0 is [String: Any] }) || list.allSatisfy({ $0 is String })
        else {
            return [try prompt(value, field: field)]
        }
        guard list.count <= maxPrompts else {
            throw HTTPProblem(400, "field '\(field)' holds \(list.count) prompts; the limit is \(maxPrompts)")
        }
        return try list.enumerated().map { i, p in
            guard !(p is NSNumber) else {
                throw HTTPProblem(400, "field '\(field)[\(i)]': a batch's prompts are strings, arrays or objects")
            }
            return try prompt(p, field: "\(field)[\(i)]")
        }
    }

    /// A prompt: a string, an array of token ids, `{"prompt_string": …}`, or (OpenAI) an
    /// array holding one string.
    private static func prompt(_ value: Any?, field: String) throws -> Prompt {
        switch value {
        case let object as [String: Any]:
            guard object["multimodal_data"] == nil else {
                throw HTTPProblem(400, "field '\(field)': multimodal input is not supported by this model")
            }
            guard let text = object["prompt_string"] as? String else {
                throw HTTPProblem(400, "field '\(field)' as an object needs a string 'prompt_string'")
            }
            return try prompt(text, field: field)
        case let s as String:
            guard !s.isEmpty else { throw HTTPProblem(400, "field '\(field)' is empty") }
            return .text(s)
        case let list as [Any] where list.count == 1 && list[0] is String:
            return try prompt(list[0], field: field)
        case let list as [Any]
        where list.contains(where: { $0 is String }) && list.contains(where: { !($0 is String) }):
            return .mixed(
                try list.enumerated().map { i, v in
                    if let text = v as? String { return .text(text) }
                    guard let n = v as? NSNumber, !n.isJSONBoolean, let id = Int32(exactly: n.doubleValue), id >= 0
                    else {
                        throw HTTPProblem(400, "field '\(field)[\(i)]' must be a token id or a string")
                    }
                    return .token(id)
                })
        case let list as [Any] where !list.isEmpty:
            return .tokens(
                try list.enumerated().map { i, v in
                    guard let n = v as? NSNumber, let id = Int32(exactly: n.doubleValue), id >= 0 else {
                        throw HTTPProblem(400, "field '\(field)[\(i)]' must be a token id")
                    }
                    return id
                })
        case nil:
            throw HTTPProblem(400, "field '\(field)' is missing")
        default:
            throw HTTPProblem(400, "field '\(field)' must be a string or an array of token ids")
        }
    }

    /// A chat message's content: a string, or OpenAI's array of {type: "text", text} parts.
    private static func content(_ value: Any?, field: String) throws -> String {
        if let s = value as? String { return s }
        if let parts = value as? [[String: Any]] {
            return try parts.enumerated().map { i, p in
                guard let t = p["text"] as? String else {
                    throw HTTPProblem(400, "\(field)[\(i)] must carry a string 'text'")
                }
                return t
            }.joined()
        }
        throw HTTPProblem(400, "\(field) must be a string or an array of text parts")
    }
}

/// Typed optional fields of a JSON object; a present value of the wrong type is a 400 naming it.
struct JSONFields {
    let json: [String: Any]
    init(_ json: [String: Any]) { self.json = json }

    private func present(_ key: String) -> Any? {
        guard let v = json[key], !(v is NSNull) else { return nil }
        return v
    }

    func string(_ key: String) throws -> String? {
        guard let v = present(key) else { return nil }
        guard let s = v as? String else { throw HTTPProblem(400, "field '\(key)' must be a string") }
        return s
    }

    func strings(_ key: String) throws -> [String]? {
        guard let v = present(key) else { return nil }
        guard let s = v as? [String] else { throw HTTPProblem(400, "field '\(key)' must be an array of strings") }
        return s
    }

    func number(_ key: String) throws -> NSNumber? {
        guard let v = present(key) else { return nil }
        guard let n = v as? NSNumber, !n.isJSONBoolean, n.doubleValue.isFinite else {
            throw HTTPProblem(400, "field '\(key)' must be a number")
        }
        return n
    }

    /// An integer in `range`; anything else (a fraction, a value out of range) is a 400 naming
    /// the field and the range.
    func int(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let n = try number(key) else { return nil }
        let d = n.doubleValue
        guard d.rounded(.towardZero) == d, d >= Double(range.lowerBound), d <= Double(range.upperBound),
            let i = Int(exactly: d), range.contains(i)
        else {
            throw HTTPProblem(400, "field '\(key)' must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return i
    }

    func float(_ key: String) throws -> Float? { try number(key).map { Float($0.doubleValue) } }

    func bool(_ key: String) throws -> Bool? {
        guard let v = present(key) else { return nil }
        guard let n = v as? NSNumber, n.isJSONBoolean else {
            throw HTTPProblem(400, "field '\(key)' must be true or false")
        }
        return n.boolValue
    }
}

/// An HTTP error answer: a status and a message, sent as llama.cpp's JSON error shape.
struct HTTPProblem: Error, Equatable {
    var status: Int
    var message: String
    /// The error type when it is not the status's usual one (llama.cpp's
    /// `exceed_context_size_error`), and the numbers that go with it.
    var type: String?
    var details: [String: Int] = [:]
    init(_ status: Int, _ message: String, type: String? = nil, details: [String: Int] = [:]) {
        self.status = status
        self.message = message
        self.type = type
        self.details = details
    }

    /// llama.cpp's and OpenAI's error object.
    var json: [String: Any] {
        let type =
            status == 401
            ? "authentication_error"
            : status == 404
                ? "not_found_error"
                : status == 413
                    ? "request_too_large"
                    : status >= 500 ? "server_error" : "invalid_request_error"
        var error: [String: Any] = ["code": status, "message": message, "type": self.type ?? type]
        for (k, v) in details { error[k] = v }
        return ["error": error]
    }
}

/// The HTTP request parser as a fuzz target (`tailor-fuzz http-request`): the first byte picks
/// the endpoint, the rest is the body. Public only so that the fuzzer can reach it.
public enum HTTPRequestFuzzing {
    /// Parses `bytes` as a request body; refusals are the expected outcome.
    public static func parse(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let endpoints: [CompletionRequest.Endpoint] = [.completion, .infill, .openAICompletion, .openAIChat]
        _ = try? CompletionRequest(endpoint: endpoints[Int(first) % endpoints.count], body: Array(bytes.dropFirst()))
    }
}
