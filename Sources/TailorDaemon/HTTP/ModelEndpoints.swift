import Foundation
import TailorEngine
import TailorWire

/// llama-server's endpoints about the model rather than a generation, which its clients and
/// test suite call: /tokenize, /detokenize, /apply-template, /props, /slots, /v1/models and
/// /v1/models/{id}. They act on the model the request names, else the only (or first) one.
struct ModelEndpoints: Sendable {
    let models: ModelManager
    let slots: Int
    /// `http_model_alias`: the default model's other names.
    var aliases: [String] = []
    /// `http_model_tags`.
    var tags: [String] = []
    /// `http_slots`: whether /slots answers.
    var slotsEndpoint = false
    /// `http_seed`, reported by /props.
    var seed: UInt64?

    /// The paths served here (besides /v1/models/{id}).
    static let paths: Set<String> = [
        "/tokenize", "/detokenize", "/apply-template", "/props", "/slots", "/models", "/v1/models",
    ]

    /// The largest token list /detokenize takes: a request body holds at most a few MB anyway.
    static let maxTokens = 1 << 20

    /// Answers `path`, or nil when it is not one of these endpoints.
    func answer(method: HTTPMethodName, path: String, body: [UInt8]) async throws -> Any? {
        switch (method, path) {
        case (.post, "/tokenize"): return try await tokenize(try Self.object(body))
        case (.post, "/detokenize"): return try await detokenize(try Self.object(body))
        case (.post, "/apply-template"): return try await applyTemplate(try Self.object(body))
        case (.get, "/props"): return try await props()
        case (.get, "/slots"): return try await slotList()
        case (.get, "/models"), (.get, "/v1/models"): return ["object": "list", "data": await list()]
        case (.get, _) where path.hasPrefix("/v1/models/"):
            let id = String(path.dropFirst("/v1/models/".count))
            guard let entry = await list().first(where: { $0["id"] as? String == id || aliasesOf($0).contains(id) })
            else {
                throw HTTPProblem(404, "no model '\(id.echoed)' is loaded")
            }
            return entry
        default: return nil
        }
    }

    /// The loaded models as OpenAI lists them; the default (first) one under its first alias.
    private func list() async -> [[String: Any]] {
        await models.list().enumerated().map { i, m in
            var entry: [String: Any] = ["id": m.id, "object": "model", "owned_by": "tailor", "created": 0]
            if i == 0, let first = aliases.min() {
                entry["id"] = first
                entry["aliases"] = aliases
                entry["tags"] = tags
            }
            return entry
        }
    }

    private func aliasesOf(_ entry: [String: Any]) -> [String] { entry["aliases"] as? [String] ?? [] }

    /// llama-server's /slots, read-only and without any generation's text: in system mode the
    /// slots serve other users.
    private func slotList() async throws -> [[String: Any]] {
        guard slotsEndpoint else { throw HTTPProblem(501, "the /slots endpoint is off (http_slots)") }
        let m = try await models.model("", field: "model")
        let busy = m.worker.busySlots
        return (0..<slots).map { i in
            ["id": i, "n_ctx": Int(m.info.contextLength), "is_processing": busy.contains(i)] as [String: Any]
        }
    }

    /// The methods these endpoints answer (HTTPEndpoint maps NIO's).
    enum HTTPMethodName { case get, post }

    private func loaded(_ json: [String: Any]) async throws -> LoadedModel {
        try await models.model(llamaServerName: json["model"] as? String ?? "")
    }

    private func tokenize(_ json: [String: Any]) async throws -> [String: Any] {
        let f = JSONFields(json)
        guard let content = try f.string("content") else { throw HTTPProblem(400, "field 'content' is missing") }
        let tok = try await loaded(json).model.tokenizer
        let ids = tok.encode(
            content, addSpecial: try f.bool("add_special") ?? false, parseSpecial: try f.bool("parse_special") ?? true)
        guard try f.bool("with_pieces") == true else { return ["tokens": ids.map(Int.init)] }
        return [
            "tokens": ids.map { id -> [String: Any] in
                let bytes = tok.decode([id], renderSpecial: true)
                return ["id": Int(id), "piece": bytes]
            }
        ]
    }

    private func detokenize(_ json: [String: Any]) async throws -> [String: Any] {
        guard let list = json["tokens"] as? [Any], list.count <= Self.maxTokens else {
            throw HTTPProblem(400, "field 'tokens' must be an array of at most \(Self.maxTokens) token ids")
        }
        let tok = try await loaded(json).model.tokenizer
        let ids = try list.enumerated().map { i, v -> Int32 in
            guard let n = v as? NSNumber, let id = Int32(exactly: n.doubleValue), id >= 0,
                Int(id) < tok.vocabularySize
            else {
                throw HTTPProblem(400, "tokens[\(i)] must be a token id below \(tok.vocabularySize)")
            }
            return id
        }
        return ["content": tok.decode(ids)]
    }

    private func applyTemplate(_ json: [String: Any]) async throws -> [String: Any] {
        guard let list = json["messages"] as? [Any], !list.isEmpty else {
            throw HTTPProblem(400, "field 'messages' must be a non-empty array")
        }
        let turns = try list.enumerated().map { i, m -> (role: String, content: String) in
            guard let m = m as? [String: Any], let role = m["role"] as? String, let content = m["content"] as? String
            else {
                throw HTTPProblem(400, "messages[\(i)] must be an object with string 'role' and 'content'")
            }
            return (role, content)
        }
        let model = try await loaded(json).model
        do {
            return ["prompt": try GenerationStarter.render(chat: turns, model: model)]
        } catch let e as RPCError {
            throw HTTPProblem(400, e.message)
        }
    }

    private func props() async throws -> [String: Any] {
        let m = try await models.model("", field: "model")
        return [
            "default_generation_settings": [
                "n_ctx": Int(m.info.contextLength), "model": m.info.id,
                "params": ["seed": seed.map { Int($0) } ?? -1, "n_predict": -1],
            ],
            "model_alias": aliases.min() ?? m.info.id,
            "total_slots": slots, "model_path": m.info.path,
            "chat_template": m.model.tokenizer.chatTemplate ?? "",
            "build_info": "tailor-\(tailorVersion)", "modalities": ["vision": false, "audio": false],
        ]
    }

    private static func object(_ body: [UInt8]) throws -> [String: Any] {
        guard let json = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else {
            throw HTTPProblem(400, "the request body is not a JSON object")
        }
        return json
    }
}
