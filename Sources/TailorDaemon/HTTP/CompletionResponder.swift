import Foundation
import Synchronization
import TailorEngine
import TailorWire

/// Where a response goes: the HTTP connection (or a test's recorder). Writes suspend until the
/// bytes are handed to the socket, and throw once the client has gone.
protocol HTTPResponseWriter: Sendable {
    func head(status: Int, contentType: String) async throws
    func body(_ bytes: [UInt8]) async throws
    func end() async throws
}

/// Who a request is served for, and how: the caller's credentials (SO_PEERCRED on the Unix
/// socket, the daemon's own on token-checked TCP), the personalization user and task, the mode.
struct HTTPPersonalization: Sendable {
    var caller: PeerCredentials
    var user: String
    var task: String
    var mode: DecodingMode
}

/// Serves one parsed completion request in llama.cpp's (or OpenAI's) response shapes: a JSON
/// object, or server-sent events when `stream` is set. Budgets (`t_max_prompt_ms`,
/// `t_max_predict_ms`) cancel the generation and return what it has; the caller's task being
/// cancelled (the client disconnected) cancels it at once.
struct CompletionResponder: Sendable {
    let starter: GenerationStarter
    /// The name responses give the default (first loaded) model: its first alias
    /// (`http_model_alias`), as llama-server reports its `--alias`.
    var alias: String?

    /// What one generation produced.
    private struct Outcome {
        var text = ""
        var tokens: [GeneratedToken] = []
        var stats: GenerationStats?
        var budgetHit = false
    }

    func respond(
        _ request: CompletionRequest, for who: HTTPPersonalization, modelContext: Int, writer: any HTTPResponseWriter
    ) async throws {
        // Personalized in the configured mode; a user without the adapters that mode needs (a
        // fresh install) is served with what they have rather than refused, and the response
        // says what ran (`tailor_mode`, `tailor_fallback`).
        var generation = GenerationRequest(request, for: who, modelContext: modelContext)
        // llama-server serves its one model whatever /completion and /infill name.
        let loaded = try await starter.models.model(llamaServerName: generation.model)
        if request.endpoint == .completion || request.endpoint == .infill { generation.model = loaded.info.id }
        let tokenizer = loaded.model.tokenizer
        generation.sampling.logitBias = try request.resolvedLogitBias(tokenizer)
        // Each prompt of a batch, and OpenAI's n answers to each, decode side by side (one row
        // each), answers to one prompt with seeds one apart.
        let openAI = request.endpoint == .openAIChat || request.endpoint == .openAICompletion
        var started: [GenerationStarter.Started] = []
        do {
            for prompt in request.prompts {
                for i in 0..<(openAI ? request.choices : 1) {
                    var g = generation
                    g.input = GenerationRequest.input(prompt, of: request, modelContext: modelContext)
                    g.sampling.seed &+= UInt64(i)
                    started.append(try await starter.start(g, caller: who.caller))
                }
            }
        } catch {
            for s in started { s.cancel() }
            throw error
        }
        defer { for s in started { s.cancel() } }  // a client gone mid-way leaves nothing running
        var model = started[0].model.info.id
        if let alias, await starter.models.list().first?.id == model { model = alias }
        let sse = request.stream ? SSEWriter(writer: writer) : nil
        if let sse {
            try await sse.open()
            if request.endpoint == .openAIChat {
                try await sse.send(CompletionFormat.roleChunk(request, model: model))
            }
        }
        var finals: [CompletionFormat.Final] = []
        for (choice, job) in started.enumerated() {
            let clock = ContinuousClock.now
            var outcome = try await collect(
                job, request: request,
                onProgress: { progress in
                    guard let sse, request.returnProgress else { return }
                    try await sse.send(CompletionFormat.progressChunk(request, progress, choice: choice, model: model))
                }
            ) { token, index in
                guard let sse, !request.warmUp else { return }
                var chunk = CompletionFormat.chunk(
                    request, token: token, index: index, choice: choice, promptTokens: job.job.promptCount,
                    model: model, tokenizer: tokenizer)
                if request.timingsPerToken {
                    chunk["timings"] = CompletionFormat.timings(predicted: index + 1, since: clock)
                }
                try await sse.send(chunk)
            }
            if request.warmUp {
                // The prompt is evaluated and cached; the token that proved it is not an answer.
                outcome.text = ""
                outcome.tokens = []
                outcome.stats?.generatedTokens = 0
            }
            finals.append(
                CompletionFormat.final(
                    request, text: outcome.text, tokens: outcome.tokens, stats: outcome.stats,
                    budgetHit: outcome.budgetHit, model: model, served: job.served, choice: choice,
                    tokenizer: tokenizer, logitBias: generation.sampling.logitBias, prompt: job.job.job.prompt))
        }
        // A batch on /completion answers with one object per prompt; OpenAI's, with choices.
        let batch = !openAI && finals.count > 1
        let final = batch ? nil : CompletionFormat.merge(finals)
        if let sse {
            if batch {
                for (i, f) in finals.enumerated() {
                    if var end = f.streamEnd { end["index"] = i; try await sse.send(end) }
                }
            } else if let f = final?.streamEnd {
                try await sse.send(f)
            }
            if openAI, request.includeUsage, let usage = final?.usageChunk { try await sse.send(usage) }
            if openAI { try await sse.sendRaw("[DONE]") }
            try await writer.end()
        } else {
            try await writer.head(status: 200, contentType: "application/json")
            let body: Any =
                batch ? finals.enumerated().map { i, f in f.whole.merging(["index": i]) { $1 } } : final!.whole
            try await writer.body(CompletionFormat.encode(body))
            try await writer.end()
        }
    }

    /// Runs the job to its end (or its budget), calling `onToken` for each token.
    private func collect(
        _ started: GenerationStarter.Started, request: CompletionRequest,
        onProgress: (PromptProgress) async throws -> Void = { _ in },
        onToken: (GeneratedToken, Int) async throws -> Void
    ) async throws -> Outcome {
        // t_max_prompt_ms is not a limit on the prefill, as in llama.cpp's server: a long prefix
        // is always evaluated (and cached), so a suggestion is never empty because of it.
        let budget = Budget(started: started, predict: request.maxPredictMS)
        defer { budget.disarm() }
        return try await withTaskCancellationHandler {
            var out = Outcome()
            for await output in started.job.outputs {
                switch output {
                case let .token(t, _):
                    if out.tokens.isEmpty { budget.armPredict() }
                    out.tokens.append(t)
                    out.text += t.text
                    try await onToken(t, out.tokens.count - 1)
                case let .finished(s):
                    if s.finishReason == .cancelled && !budget.fired { throw CancellationError() }
                    out.stats = s
                    out.text += s.tail
                    out.budgetHit = budget.fired
                    return out
                case let .failed(e):
                    throw e
                case let .progress(p):
                    try await onProgress(p)
                }
            }
            throw CancellationError()
        } onCancel: {
            started.cancel()
        }
    }
}

/// The time budget of one request's generation (t_max_predict_ms): a timer from the first
/// token that cancels the job when it runs out.
private final class Budget: Sendable {
    private let started: GenerationStarter.Started
    private let predict: Int?
    private let state = Mutex<(fired: Bool, timers: [Task<Void, Never>])>((false, []))

    init(started: GenerationStarter.Started, predict: Int?) {
        self.started = started
        self.predict = predict
    }

    var fired: Bool { state.withLock { $0.fired } }

    func armPredict() {
        state.withLock { for t in $0.timers { t.cancel() } }
        arm(predict)
    }

    private func arm(_ ms: Int?) {
        guard let ms else { return }
        let t = Task { [self] in
            try? await Task.sleep(for: .milliseconds(ms))
            guard !Task.isCancelled else { return }
            state.withLock { $0.fired = true }
            started.cancel()
        }
        state.withLock { $0.timers.append(t) }
    }

    func disarm() { state.withLock { for t in $0.timers { t.cancel() } } }
}

/// Server-sent events over a response writer: `data: <json>\n\n` per event.
struct SSEWriter: Sendable {
    let writer: any HTTPResponseWriter
    func open() async throws { try await writer.head(status: 200, contentType: "text/event-stream") }
    func send(_ object: [String: Any]) async throws {
        try await sendRaw(String(decoding: CompletionFormat.encode(object), as: UTF8.self))
    }
    func sendRaw(_ data: String) async throws { try await writer.body(Array("data: \(data)\n\n".utf8)) }
}

extension GenerationRequest {
    /// A prompt given as token ids: checked against the vocabulary, after the model's BOS.
    private static func tokenPrompt(_ ids: [Int32], _ model: Model) throws -> [Int32] {
        guard ids.allSatisfy({ Int($0) < model.tokenizer.vocabularySize }) else {
            throw HTTPProblem(
                400, "field 'prompt' holds a token id beyond the vocabulary (\(model.tokenizer.vocabularySize))")
        }
        return model.tokenizer.promptStart + ids
    }

    /// What the model reads for one of `request`'s prompts (a batch has several).
    static func input(_ prompt: CompletionRequest.Prompt, of request: CompletionRequest, modelContext: Int) -> Input {
        switch prompt {
        case let .text(t): return .text(t)
        case let .chat(m): return .chat(m)
        case let .mixed(pieces):
            return .tokens { model in
                try Self.tokenPrompt(
                    pieces.flatMap { piece -> [Int32] in
                        switch piece {
                        case let .token(id): return [id]
                        case let .text(text):
                            return model.tokenizer.encode(text, addSpecial: false, parseSpecial: false)
                        }
                    }, model)
            }
        case let .tokens(ids):
            return .tokens { model in try Self.tokenPrompt(ids, model) }
        case let .infill(prefix, suffix, extra, typed):
            let budget = max(16, modelContext - (request.maxTokens ?? 256) - 1)
            return .tokens { model in
                InfillPrompt.tokens(
                    prefix: prefix, suffix: suffix, extra: extra, prompt: typed, tokenizer: model.tokenizer,
                    budget: budget)
            }
        }
    }

    /// The HTTP endpoint's request (for its first prompt): its fields already hold llama.cpp's
    /// defaults where the client left them out (`CompletionRequest`), so each maps as it is;
    /// top_k 0 keeps llama.cpp's meaning (no cut) in the contrast too. CoPe's α and τ are the
    /// engine's.
    init(_ request: CompletionRequest, for who: HTTPPersonalization, modelContext: Int) {
        let input = Self.input(request.prompt, of: request, modelContext: modelContext)
        let sampling = SamplingParameters(
            temperature: request.temperature, topK: request.topK, topP: request.topP, minP: request.minP,
            repetitionPenalty: request.repeatPenalty, seed: request.seed, dry: request.dry)
        var contrast = ContrastiveParameters()
        contrast.topK = request.topK
        contrast.topP = request.topP
        self.init(
            model: request.model, input: input, sampling: sampling, contrast: contrast,
            maxTokens: request.untilContextEnds ? modelContext : request.maxTokens,
            stop: request.stop, grammar: request.grammar,
            adapters: who.user.isEmpty && who.task.isEmpty ? .none : .personalized(user: who.user, task: who.task),
            mode: who.mode, fallback: true)
        topLogprobs = request.probabilities
        postSampling = request.postSampling
    }
}
