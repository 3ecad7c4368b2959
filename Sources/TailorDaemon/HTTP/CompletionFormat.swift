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

        /// OpenAI's last chunk under `stream_options.include_usage`: no choices, the usage (and
        /// llama.cpp's timings).
        var usageChunk: [String: Any]? {
            guard var chunk = streamEnd, let usage = whole["usage"] else { return nil }
            chunk["choices"] = [Any]()
            chunk["usage"] = usage
            chunk["timings"] = whole["timings"]
            return chunk
        }
    }

    private static func created() -> Int { Int(Date().timeIntervalSince1970) }

    /// OpenAI's `system_fingerprint`: which build answered.
    static let fingerprint = "tailor-\(tailorVersion)"

    /// A streamed chat's first chunk, as OpenAI and llama.cpp send it: the role, no content.
    static func roleChunk(_ r: CompletionRequest, model: String) -> [String: Any] {
        [
            "id": r.id, "object": "chat.completion.chunk", "created": created(), "model": model,
            "system_fingerprint": fingerprint,
            "choices": [["index": 0, "delta": ["role": "assistant", "content": NSNull()], "finish_reason": NSNull()]],
        ]
    }

    /// One streamed token of answer `choice`.
    static func chunk(
        _ r: CompletionRequest, token: GeneratedToken, index: Int, choice: Int, promptTokens: Int, model: String,
        tokenizer: Tokenizer
    ) -> [String: Any] {
        let probabilities = reportsProbabilities(r) ? [probability(token, r, tokenizer)] : nil
        switch r.endpoint {
        case .completion, .infill:
            var o: [String: Any] = [
                "index": 0, "content": token.text, "tokens": [Int(token.id)], "stop": false, "id_slot": 0,
                "tokens_predicted": index + 1, "tokens_evaluated": promptTokens,
            ]
            if let probabilities { o["completion_probabilities"] = probabilities }
            return o
        case .openAICompletion:
            return [
                "id": r.id, "object": "text_completion", "created": created(), "model": model,
                "system_fingerprint": fingerprint,
                "choices": [
                    [
                        "text": token.text, "index": choice, "finish_reason": NSNull(),
                        "logprobs": logprobs(probabilities),
                    ]
                ],
            ]
        case .openAIChat:
            return [
                "id": r.id, "object": "chat.completion.chunk", "created": created(), "model": model,
                "system_fingerprint": fingerprint,
                "choices": [
                    [
                        "index": choice, "delta": ["content": token.text], "finish_reason": NSNull(),
                        "logprobs": logprobs(probabilities),
                    ]
                ],
            ]
        }
    }

    /// OpenAI's `logprobs` object, or null.
    private static func logprobs(_ content: [[String: Any]]?) -> Any {
        guard let content else { return NSNull() }
        return ["content": content]
    }

    /// A streamed report of the prompt's evaluation (`return_progress`), as llama.cpp sends it:
    /// the endpoint's chunk with no text (no choices, for OpenAI's) and `prompt_progress`.
    static func progressChunk(_ r: CompletionRequest, _ p: PromptProgress, choice: Int, model: String) -> [String: Any]
    {
        let progress: [String: Any] = [
            "total": p.total, "cache": p.cached, "processed": p.processed, "time_ms": p.elapsedMS,
        ]
        switch r.endpoint {
        case .completion, .infill:
            return ["index": choice, "content": "", "tokens": [Int](), "stop": false, "prompt_progress": progress]
        case .openAICompletion, .openAIChat:
            return [
                "id": r.id, "object": r.endpoint == .openAIChat ? "chat.completion.chunk" : "text_completion",
                "created": created(), "model": model, "system_fingerprint": fingerprint, "choices": [Any](),
                "prompt_progress": progress,
            ]
        }
    }

    /// Whether tokens carry their probabilities (`n_probs`, OpenAI's `logprobs`).
    static func reportsProbabilities(_ r: CompletionRequest) -> Bool {
        r.endpoint == .completion || r.endpoint == .infill ? r.probabilities > 0 : r.logprobs
    }

    /// A token's entry in `completion_probabilities` (llama.cpp) or `logprobs.content` (OpenAI):
    /// its piece, bytes and log-probability (post-sampling: probability), and its alternatives.
    static func probability(_ t: GeneratedToken, _ r: CompletionRequest, _ tokenizer: Tokenizer) -> [String: Any] {
        let post = r.postSampling && (r.endpoint == .completion || r.endpoint == .infill)
        func entry(_ id: Int32, _ logprob: Float) -> [String: Any] {
            let bytes = tokenizer.bytes(of: id)
            let value: Any = post ? Double(expf(logprob)) : Double(logprob)
            return [
                "id": Int(id), "token": String(decoding: bytes, as: UTF8.self), "bytes": bytes.map(Int.init),
                post ? "prob" : "logprob": value,
            ]
        }
        var o = entry(t.id, t.logprob)
        o[post ? "top_probs" : "top_logprobs"] = t.top.map { entry($0.id, $0.logprob) }
        return o
    }

    /// llama.cpp's `timings`.
    static func timings(_ s: GenerationStats?) -> [String: Any] {
        guard let s else { return [:] }
        let promptN = max(0, s.promptTokens - s.cachedTokens)
        let promptMS = s.timeToFirstTokenMS, predictedMS = max(0, s.totalMS - s.timeToFirstTokenMS)
        return [
            "cache_n": s.cachedTokens, "prompt_n": promptN, "prompt_ms": promptMS,
            "prompt_per_token_ms": promptN > 0 ? promptMS / Double(promptN) : 0,
            "prompt_per_second": promptMS > 0 ? Double(promptN) / promptMS * 1000 : 0,
            "predicted_n": s.predictedTokens, "predicted_ms": predictedMS,
            "predicted_per_token_ms": s.predictedTokens > 0 ? predictedMS / Double(s.predictedTokens) : 0,
            "predicted_per_second": predictedMS > 0 ? Double(s.predictedTokens) / predictedMS * 1000 : 0,
        ]
    }

    /// `timings_per_token`'s timings of a stream so far: `predicted` tokens since `start`.
    static func timings(predicted: Int, since start: ContinuousClock.Instant) -> [String: Any] {
        let elapsed = start.duration(to: .now)
        let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        return [
            "predicted_n": predicted, "predicted_ms": ms,
            "predicted_per_token_ms": ms / Double(predicted),
            "predicted_per_second": ms > 0 ? Double(predicted) / ms * 1000 : 0,
        ]
    }

    /// The end of a generation.
    static func final(
        _ r: CompletionRequest, text: String, tokens: [GeneratedToken], stats s: GenerationStats?, budgetHit: Bool,
        model: String, served: GenerationStarter.Served, choice: Int = 0, tokenizer: Tokenizer,
        logitBias: [Int32: Float] = [:], prompt: [Int32] = []
    ) -> Final {
        let probabilities = reportsProbabilities(r) ? tokens.map { probability($0, r, tokenizer) } : nil
        let logprobs = logprobs(probabilities)
        let reason = s?.finishReason
        let stopType =
            budgetHit
            ? "limit"
            : reason == .endOfGeneration ? "eos" : reason == .stopString ? "word" : reason == nil ? "none" : "limit"
        let usage: [String: Any] = [
            "prompt_tokens": s?.promptTokens ?? 0, "completion_tokens": s?.predictedTokens ?? 0,
            "total_tokens": (s?.promptTokens ?? 0) + (s?.predictedTokens ?? 0),
            "prompt_tokens_details": ["cached_tokens": s?.cachedTokens ?? 0],
        ]
        let finish = stopType == "limit" ? "length" : "stop"
        switch r.endpoint {
        case .completion, .infill:
            var o: [String: Any] = [
                "index": 0, "content": text, "tokens": r.returnTokens ? tokens.map { Int($0.id) } : [Int](),
                "id_slot": 0,
                "stop": true, "model": model,
                "tokens_predicted": s?.predictedTokens ?? 0, "tokens_evaluated": s?.promptTokens ?? 0,
                "generation_settings": [
                    "n_predict": r.maxTokens ?? -1, "temperature": r.temperature, "top_k": r.topK, "top_p": r.topP,
                    "min_p": r.minP, "repeat_penalty": r.repeatPenalty, "seed": r.seed,
                    "dry_multiplier": r.dry.multiplier, "dry_base": r.dry.base,
                    "dry_allowed_length": r.dry.allowedLength,
                    "dry_penalty_last_n": r.dry.window == 0 ? -1 : r.dry.window, "tailor_mode": served.mode,
                    // llama.cpp's adaptive-p sampler, which tailord does not have: disabled (-1).
                    "adaptive_target": -1, "adaptive_decay": 0.9,
                    "tailor_fallback": served.fallback, "tailor_adapters": served.adapters.map(\.spelled),
                    // As llama.cpp reports it: null stands for −∞ (a banned token).
                    "logit_bias": logitBias.keys.sorted().map { t -> [String: Any] in
                        let b = logitBias[t]!
                        return ["token": Int(t), "bias": b.isFinite ? Double(b) : NSNull()]
                    },
                ],
                // The prompt as the model read it, special tokens spelled out, as llama.cpp echoes it.
                "prompt": tokenizer.decode(prompt, renderSpecial: true), "has_new_line": text.contains("\n"),
                "truncated": reason == .contextFull,
                "stop_type": stopType,
                "stopping_word": reason == .stopString ? (r.stop.first { text.hasSuffix($0) } ?? "") : "",
                "tokens_cached": s?.cachedTokens ?? 0, "timings": timings(s),
            ]
            if let probabilities { o["completion_probabilities"] = probabilities }
            if let fields = r.responseFields, !fields.isEmpty { o = select(fields, from: o) }
            var end = o
            end["content"] = ""
            return Final(whole: o, streamEnd: end)
        case .openAICompletion:
            let o: [String: Any] = [
                "id": r.id, "object": "text_completion", "created": created(), "model": model,
                "system_fingerprint": fingerprint,
                "choices": [["text": text, "index": choice, "logprobs": logprobs, "finish_reason": finish]],
                "usage": usage, "timings": timings(s),
            ]
            let end: [String: Any] = [
                "id": r.id, "object": "text_completion", "created": created(), "model": model,
                "system_fingerprint": fingerprint,
                "choices": [["text": "", "index": choice, "logprobs": NSNull(), "finish_reason": finish]],
                "usage": usage,
            ]
            return Final(whole: o, streamEnd: end)
        case .openAIChat:
            let o: [String: Any] = [
                "id": r.id, "object": "chat.completion", "created": created(), "model": model,
                "system_fingerprint": fingerprint,
                "choices": [
                    [
                        "index": choice, "message": ["role": "assistant", "content": text, "refusal": NSNull()],
                        "finish_reason": finish,
                        "logprobs": logprobs,
                    ]
                ],
                "usage": usage, "timings": timings(s),
            ]
            let end: [String: Any] = [
                "id": r.id, "object": "chat.completion.chunk", "created": created(), "model": model,
                "system_fingerprint": fingerprint,
                "choices": [["index": choice, "delta": [String: Any](), "finish_reason": finish]], "usage": usage,
            ]
            return Final(whole: o, streamEnd: end)
        }
    }

    /// One response for several answers (OpenAI's `n`): their choices side by side, the prompt
    /// counted once and the completions summed.
    static func merge(_ finals: [Final]) -> Final {
        guard finals.count > 1 else { return finals[0] }
        func merged(_ objects: [[String: Any]]) -> [String: Any] {
            var o = objects[0]
            o["choices"] = objects.flatMap { $0["choices"] as? [Any] ?? [] }
            if var usage = o["usage"] as? [String: Any] {
                let completion = objects.reduce(0) {
                    $0 + (($1["usage"] as? [String: Any])?["completion_tokens"] as? Int ?? 0)
                }
                usage["completion_tokens"] = completion
                usage["total_tokens"] = (usage["prompt_tokens"] as? Int ?? 0) + completion
                o["usage"] = usage
            }
            return o
        }
        let ends = finals.compactMap(\.streamEnd)
        return Final(whole: merged(finals.map(\.whole)), streamEnd: ends.isEmpty ? nil : merged(ends))
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

    static func encode(_ o: Any) -> [UInt8] {
        (try? [UInt8](JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .withoutEscapingSlashes])))
            ?? Array("{}".utf8)
    }
}

extension GenerationStats {
    /// The generated tokens as llama.cpp's server counts them (`n_gen`: every token it sampled,
    /// the end token included), for `predicted_n`, `tokens_predicted` and `completion_tokens`.
    /// Tailor's stats leave the end token out, so a reply that ended on it counts one more.
    var predictedTokens: Int { generatedTokens + (finishReason == .endOfGeneration ? 1 : 0) }
}
