import Foundation
import TailorEngine
import TailorWire

/// The JSON shapes llama.cpp's server and OpenAI's API answer with, as the editor plugins read
/// them: `content`, `stop`, `stop_type`, `tokens_cached`, `truncated` and the `timings` object
/// (llama.vim, llama.vscode), or `choices` and `usage` (Continue, Tabby, OpenAI clients).
enum CompletionFormat {
    /// A response's two forms: the whole object, and the last event of a stream.
    struct Final {
        var whole: [String: Any]
        var streamEnd: [String: Any]?
    }

    private static func created() -> Int { Int(Date().timeIntervalSince1970) }

    /// OpenAI's `system_fingerprint`: which build answered.
    static let fingerprint = "tailor-\(tailorVersion)"

    /// A streamed chat's first chunk, as OpenAI and llama.cpp send it: the role, no content.
    static func roleChunk(_ r: CompletionRequest, model: String) -> [String: Any] {
        [
            "id": r.id, "object": "chat.completion.chunk", "created": created(), "model": model,
            "system_fingerprint": fingerprint,
            "choices": [["index": 0, "delta": ["role": "assistant", "content": ""], "finish_reason": NSNull()]],
        ]
    }

    /// One streamed token.
    static func chunk(
        _ r: CompletionRequest, text: String, token: Int32, index: Int, promptTokens: Int, model: String
    ) -> [String: Any] {
        switch r.endpoint {
        case .completion, .infill:
            return [
                "index": 0, "content": text, "tokens": [Int(token)], "stop": false, "id_slot": 0,
                "tokens_predicted": index + 1, "tokens_evaluated": promptTokens,
            ]
        case .openAICompletion:
            return [
                "id": r.id, "object": "text_completion", "created": created(), "model": model,
                "system_fingerprint": fingerprint,
                "choices": [["text": text, "index": 0, "logprobs": NSNull(), "finish_reason": NSNull()]],
            ]
        case .openAIChat:
            return [
                "id": r.id, "object": "chat.completion.chunk", "created": created(), "model": model,
                "system_fingerprint": fingerprint,
                "choices": [["index": 0, "delta": ["content": text], "finish_reason": NSNull()]],
            ]
        }
    }

    /// llama.cpp's `timings`.
    static func timings(_ s: GenerationStats?) -> [String: Any] {
        guard let s else { return [:] }
        let promptN = max(0, s.promptTokens - s.cachedTokens)
        let promptMS = s.timeToFirstTokenMS, predictedMS = max(0, s.totalMS - s.timeToFirstTokenMS)
        return [
            "prompt_n": promptN, "prompt_ms": promptMS,
            "prompt_per_token_ms": promptN > 0 ? promptMS / Double(promptN) : 0,
            "prompt_per_second": promptMS > 0 ? Double(promptN) / promptMS * 1000 : 0,
            "predicted_n": s.generatedTokens, "predicted_ms": predictedMS,
            "predicted_per_token_ms": s.generatedTokens > 0 ? predictedMS / Double(s.generatedTokens) : 0,
            "predicted_per_second": predictedMS > 0 ? Double(s.generatedTokens) / predictedMS * 1000 : 0,
        ]
    }

    /// The end of a generation.
    static func final(
        _ r: CompletionRequest, text: String, stats s: GenerationStats?, budgetHit: Bool, model: String,
        served: GenerationStarter.Served
    ) -> Final {
        let reason = s?.finishReason
        let stopType =
            budgetHit
            ? "limit"
            : reason == .endOfGeneration ? "eos" : reason == .stopString ? "word" : reason == nil ? "none" : "limit"
        let usage: [String: Any] = [
            "prompt_tokens": s?.promptTokens ?? 0, "completion_tokens": s?.generatedTokens ?? 0,
            "total_tokens": (s?.promptTokens ?? 0) + (s?.generatedTokens ?? 0),
        ]
        let finish = stopType == "limit" ? "length" : "stop"
        switch r.endpoint {
        case .completion, .infill:
            var o: [String: Any] = [
                "index": 0, "content": text, "tokens": [Int](), "id_slot": 0, "stop": true, "model": model,
                "tokens_predicted": s?.generatedTokens ?? 0, "tokens_evaluated": s?.promptTokens ?? 0,
                "generation_settings": [
                    "n_predict": r.maxTokens ?? -1, "temperature": r.temperature, "top_k": r.topK, "top_p": r.topP,
                    "min_p": r.minP, "repeat_penalty": r.repeatPenalty, "seed": r.seed,
                    "dry_multiplier": r.dry.multiplier, "dry_base": r.dry.base,
                    "dry_allowed_length": r.dry.allowedLength,
                    "dry_penalty_last_n": r.dry.window == 0 ? -1 : r.dry.window, "tailor_mode": served.mode,
                    "tailor_fallback": served.fallback, "tailor_adapters": served.adapters.map(\.spelled),
                ],
                "prompt": "", "has_new_line": text.contains("\n"), "truncated": false, "stop_type": stopType,
                "stopping_word": reason == .stopString ? (r.stop.first { text.hasSuffix($0) } ?? "") : "",
                "tokens_cached": s?.cachedTokens ?? 0, "timings": timings(s),
            ]
            if let fields = r.responseFields { o = select(fields, from: o) }
            var end = o
            end["content"] = ""
            return Final(whole: o, streamEnd: end)
        case .openAICompletion:
            let o: [String: Any] = [
                "id": r.id, "object": "text_completion", "created": created(), "model": model,
                "system_fingerprint": fingerprint,
                "choices": [["text": text, "index": 0, "logprobs": NSNull(), "finish_reason": finish]],
                "usage": usage, "timings": timings(s),
            ]
            let end: [String: Any] = [
                "id": r.id, "object": "text_completion", "created": created(), "model": model,
                "system_fingerprint": fingerprint,
                "choices": [["text": "", "index": 0, "logprobs": NSNull(), "finish_reason": finish]], "usage": usage,
            ]
            return Final(whole: o, streamEnd: end)
        case .openAIChat:
            let o: [String: Any] = [
                "id": r.id, "object": "chat.completion", "created": created(), "model": model,
                "system_fingerprint": fingerprint,
                "choices": [["index": 0, "message": ["role": "assistant", "content": text], "finish_reason": finish]],
                "usage": usage, "timings": timings(s),
            ]
            let end: [String: Any] = [
                "id": r.id, "object": "chat.completion.chunk", "created": created(), "model": model,
                "system_fingerprint": fingerprint,
                "choices": [["index": 0, "delta": [String: Any](), "finish_reason": finish]], "usage": usage,
            ]
            return Final(whole: o, streamEnd: end)
        }
    }

    /// llama.cpp's `response_fields`: only the named fields, keyed by their path ("timings/prompt_n").
    static func select(_ fields: [String], from o: [String: Any]) -> [String: Any] {
        var out: [String: Any] = [:]
        for path in fields {
            var v: Any? = o
            for part in path.split(separator: "/") { v = (v as? [String: Any])?[String(part)] }
            if let v { out[path] = v }
        }
        return out
    }

    static func encode(_ o: [String: Any]) -> [UInt8] {
        (try? [UInt8](JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .withoutEscapingSlashes])))
            ?? Array("{}".utf8)
    }
}
