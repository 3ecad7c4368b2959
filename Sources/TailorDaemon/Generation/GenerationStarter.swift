import TailorEngine
import TailorWire

/// Starts generations for every front end: the protobuf Decoding service and the
/// llama.cpp-compatible HTTP endpoint, each of which maps its request to a `GenerationRequest`.
/// It checks and tokenizes the input, plans the caller's adapters for the request's mode, and
/// queues the job on the model's worker. One place, so both front ends personalize alike.
struct GenerationStarter: Sendable {
    let models: ModelManager
    let settings: GenerationSettings
    let adapters: AdapterResolver?

    /// Limits on a request, checked before any work.
    enum Limits {
        static let promptBytes = 1 << 20
        static let stopStrings = 64
        static let stopBytes = 256
        static let chatMessages = 1024
    }

    /// An input longer than the context: INVALID_ARGUMENT on the wire; the HTTP endpoint
    /// answers with llama.cpp's `exceed_context_size_error` and both numbers.
    struct ContextOverflow: Error, Equatable {
        var field: String
        var promptTokens: Int
        var contextLength: Int

        var message: String {
            "the input (\(promptTokens) tokens) exceeds the available context size (\(contextLength) tokens)"
        }
    }

    /// A queued generation: read `job.outputs`; `cancel()` frees its slot(s) at the next step.
    struct Started: Sendable {
        let job: GenerationJob
        let model: LoadedModel
        /// What decodes it, for the closing statistics.
        let served: Served
        func cancel() { model.worker.cancel(job) }
    }

    /// The mode and adapters a generation runs with, which a client shows its user.
    struct Served: Sendable, Equatable {
        /// A `DecodingMode`'s name, or "adapters" for explicit adapters decoded plainly.
        var mode: String
        var adapters: [AdapterRef]
        /// The mode asked for could not be served, and the request allowed a fallback.
        var fallback: Bool
    }

    /// Queues `request` for `caller`.
    /// - Throws: `RPCError` naming the field at fault, or UNAVAILABLE when the queue is full.
    func start(_ request: GenerationRequest, caller: PeerCredentials) async throws -> Started {
        let loaded = try await models.model(request.model, field: "generate.model")
        var engineJob = try Self.job(
            for: request, model: loaded.model, contextLength: Int(loaded.info.contextLength),
            defaultMaxTokens: settings.defaultMaxTokens)
        var served = Served(mode: DecodingMode.base.rawValue, adapters: [], fallback: false)
        if let adapters {
            let plan = try adapters.plan(for: request, caller: caller, model: loaded)
            served = Served(mode: plan.mode, adapters: plan.refs, fallback: plan.fallback)
            engineJob.adapters = plan.adapters
            if let base = plan.contrastBase {
                let parameters = request.contrastiveParameters
                do { try parameters.validate() } catch { throw RPCError.invalidArgument("generate.cope", "\(error)") }
                engineJob.contrast = BatchDecoder.Contrast(base: base, parameters: parameters)
            }
        } else if request.isPersonalized {
            throw RPCError(.unimplemented, "this daemon has no adapter registry")
        }
        let job = GenerationJob(engineJob, caller: caller)
        try loaded.worker.submit(job)
        return Started(job: job, model: loaded, served: served)
    }

    /// The engine job for `request`: checked, rendered and tokenized.
    /// - Throws: `RPCError` INVALID_ARGUMENT naming the field at fault.
    static func job(
        for request: GenerationRequest, model: Model, contextLength: Int, defaultMaxTokens: Int
    ) throws -> BatchDecoder.Job {
        let field: String, ids: [Int32]
        switch request.input {
        case let .tokens(build):
            (field, ids) = ("generate.prompt", try build(model))
        case let .text(text):
            (field, ids) = ("generate.prompt", try tokens(text: text, model: model))
        case let .chat(turns):
            (field, ids) = ("generate.chat", try tokens(chat: turns, model: model))
        }
        guard request.stop.count <= Limits.stopStrings else {
            throw RPCError.invalidArgument(
                "generate.stop", "\(request.stop.count) stop strings; the limit is \(Limits.stopStrings)")
        }
        if let long = request.stop.first(where: { $0.utf8.count > Limits.stopBytes }) {
            throw RPCError.invalidArgument(
                "generate.stop", "a stop string of \(long.utf8.count) bytes; the limit is \(Limits.stopBytes)")
        }
        do { try request.sampling.validate() } catch { throw RPCError.invalidArgument("generate.sampling", "\(error)") }
        guard !ids.isEmpty else { throw RPCError.invalidArgument(field, "the input encodes to no tokens") }
        guard ids.count < contextLength else {
            throw ContextOverflow(field: field, promptTokens: ids.count, contextLength: contextLength)
        }
        var options = GenerationOptions(
            maxTokens: request.maxTokens ?? defaultMaxTokens, stopStrings: request.stop, grammar: request.grammar)
        options.topLogprobs = request.topLogprobs
        options.postSampling = request.postSampling
        return BatchDecoder.Job(prompt: ids, sampling: request.sampling, options: options)
    }

    /// A user's text: with the model's BOS rule, special tokens spelled out as text.
    private static func tokens(text: String, model: Model) throws -> [Int32] {
        guard !text.isEmpty else { throw RPCError.invalidArgument("generate.prompt", "the prompt is empty") }
        guard text.utf8.count <= Limits.promptBytes else {
            throw RPCError.invalidArgument(
                "generate.prompt", "the prompt is \(text.utf8.count) bytes; the limit is \(Limits.promptBytes)")
        }
        return model.tokenizer.encode(text, addSpecial: true, parseSpecial: false)
    }

    /// Chat turns as tokens: `render(chat:model:)`, special tokens parsed.
    private static func tokens(chat turns: [(role: String, content: String)], model: Model) throws -> [Int32] {
        model.tokenizer.encode(try render(chat: turns, model: model), addSpecial: true, parseSpecial: true)
    }

    /// Chat turns rendered with the model's template (which may spell special tokens); a
    /// ChatML model gets its default system prompt when the chat has none. The HTTP
    /// endpoint's /apply-template shows the same text.
    /// - Throws: `RPCError` INVALID_ARGUMENT for no turns, too many or too long, an unknown role.
    static func render(chat turns: [(role: String, content: String)], model: Model) throws -> String {
        guard !turns.isEmpty else {
            throw RPCError.invalidArgument("generate.chat.messages", "the chat has no messages")
        }
        guard turns.count <= Limits.chatMessages else {
            throw RPCError.invalidArgument(
                "generate.chat.messages", "\(turns.count) messages; the limit is \(Limits.chatMessages)")
        }
        let total = turns.reduce(0) { $0 + $1.content.utf8.count }
        guard total <= Limits.promptBytes else {
            throw RPCError.invalidArgument(
                "generate.chat.messages.content", "the chat is \(total) bytes; the limit is \(Limits.promptBytes)")
        }
        var messages = try turns.map { t -> ChatMessage in
            guard let role = ChatMessage.Role(rawValue: t.role) else {
                throw RPCError.invalidArgument(
                    "generate.chat.messages.role", "unknown role '\(t.role.prefix(32))'; use system, user or assistant")
            }
            return ChatMessage(role: role, content: t.content)
        }
        let tok = model.tokenizer
        let template = ChatTemplate.detect(jinja: tok.chatTemplate, architecture: model.config.architecture)
        if messages.first?.role != .system, template == .chatML,
            let s = ChatTemplate.defaultSystemPrompt(jinja: tok.chatTemplate)
        {
            messages.insert(ChatMessage(role: .system, content: s), at: 0)
        }
        return template.render(messages)
    }
}

extension GenerationRequest {
    /// Whether the request asks for any adapter or mode.
    var isPersonalized: Bool {
        if case .none = adapters { return mode != .automatic }
        return true
    }
}
