import Foundation
import TailorEngine
import TailorWire

/// The prompt's shapes: text, token ids, both mixed, `{prompt_string}`, batches, chat content.
extension CompletionRequest {
    /// The most prompts one batch request may hold.
    static let maxPrompts = 16

    /// One prompt, or a batch: an array whose elements are prompts themselves (token arrays,
    /// strings, `{"prompt_string": …}` objects), as llama.cpp's server takes them.
    static func parsePrompts(_ value: Any?, field: String) throws -> [Prompt] {
        // A batch holds arrays or objects, or is all strings; numbers among strings are one
        // mixed prompt.
        guard let list = value as? [Any], list.count > 1,
            list.contains(where: { $0 is [Any] || $0 is [String: Any] }) || list.allSatisfy({ $0 is String })
        else {
            return [try parsePrompt(value, field: field)]
        }
        guard list.count <= maxPrompts else {
            throw HTTPProblem(400, "field '\(field)' holds \(list.count) prompts; the limit is \(maxPrompts)")
        }
        return try list.enumerated().map { i, p in
            guard !(p is NSNumber) else {
                throw HTTPProblem(400, "field '\(field)[\(i)]': a batch's prompts are strings, arrays or objects")
            }
            return try parsePrompt(p, field: "\(field)[\(i)]")
        }
    }

    /// A prompt: a string, an array of token ids, `{"prompt_string": …}`, or (OpenAI) an
    /// array holding one string.
    static func parsePrompt(_ value: Any?, field: String) throws -> Prompt {
        switch value {
        case let object as [String: Any]:
            guard object["multimodal_data"] == nil else {
                throw HTTPProblem(400, "field '\(field)': multimodal input is not supported by this model")
            }
            guard let text = object["prompt_string"] as? String else {
                throw HTTPProblem(400, "field '\(field)' as an object needs a string 'prompt_string'")
            }
            return try parsePrompt(text, field: field)
        case let s as String:
            guard !s.isEmpty else { throw HTTPProblem(400, "field '\(field)' is empty") }
            return .text(s)
        case let list as [Any] where list.count == 1 && list[0] is String:
            return try parsePrompt(list[0], field: field)
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
    static func parseContent(_ value: Any?, field: String) throws -> String {
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
