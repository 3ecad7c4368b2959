import Foundation
import TailorEngine
import TailorWire

/// The request's options beyond sampling: token probabilities, logit bias and grammars.
extension CompletionRequest {
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
    mutating func readProbabilities(_ f: JSONFields) throws {
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
    static func parseLogitBias(_ value: Any?) throws -> [(key: LogitBiasKey, bias: Float)] {
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
    static func parseGrammar(_ json: [String: Any]) throws -> Grammar? {
        let f = JSONFields(json)
        var source: (gbnf: String, field: String)?
        if let g = try f.string("grammar"), !g.isEmpty { source = (g, "grammar") }
        if let schema = json["json_schema"], !(schema is NSNull) {
            source = (try parseSchema(schema: schema, field: "json_schema"), "json_schema")
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
                        (try parseSchema(schema: $0, field: "response_format.schema"), "response_format")
                    }
                    ?? (JSONSchemaGrammar.anyObject, "response_format")
            case "json_schema":
                guard let inner = format["json_schema"] as? [String: Any], let schema = inner["schema"] else {
                    throw HTTPProblem(400, "response_format of type json_schema needs 'json_schema.schema'")
                }
                source = (
                    try parseSchema(schema: schema, field: "response_format.json_schema.schema"), "response_format"
                )
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

    static func parseSchema(schema: Any, field: String) throws -> String {
        do {
            return try JSONSchemaGrammar.gbnf(schema: schema)
        } catch let e as GrammarError {
            throw HTTPProblem(400, "field '\(field)': \(e)")
        }
    }
}
