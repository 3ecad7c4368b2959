import TailorEngine
import TailorWire

/// `tailor.v1.Decoding`: streaming generation on a loaded base model.
///
/// The request is checked and tokenized here, then queued on the model's `GenerationWorker`;
/// tokens stream back as events as the worker produces them. When the call is cancelled (a
/// Cancel frame, its deadline, a closed connection) the job leaves the queue or its slot at the
/// worker's next step.
public struct DecodingService: RPCService {
    public let name = "tailor.v1.Decoding"
    private let starter: GenerationStarter

    /// Limits on a request, checked before any work.
    enum Limits {
        static let promptBytes = 1 << 20
        static let stopStrings = 16
        static let stopBytes = 256
        static let chatMessages = 1024
    }

    /// A service generating on `models`' models, personalized with adapters found by `adapters`.
    init(models: ModelManager, settings: GenerationSettings, adapters: AdapterResolver?) {
        starter = GenerationStarter(models: models, settings: settings, adapters: adapters)
    }

    public func handle(_ call: RPCCall, _ writer: RPCWriter) async throws {
        guard call.method == "Generate" else { throw RPCError(.unimplemented, "\(name) has no method '\(call.method.echoed)'") }
        let request = try GenerateRequest(serialized: call.payload)
        let started = try await starter.start(request, caller: call.caller)
        let job = started.job
        try await withTaskCancellationHandler {
            for await output in job.outputs {
                switch output {
                case let .token(t, choice):
                    let event: GenerateEvent
                    if let c = choice {
                        event = .contrastiveToken(id: UInt32(bitPattern: t.id), tokenBytes: t.bytes, text: Self.wireText(t.text),
                                                  logprobUser: c.logProbUser, logprobBase: c.logProbBase, reward: c.reward)
                    } else {
                        event = .token(id: UInt32(bitPattern: t.id), tokenBytes: t.bytes, text: Self.wireText(t.text), logprob: t.logprob)
                    }
                    try await writer.event(try event.serialized())
                case let .finished(s):
                    if s.finishReason == .cancelled { throw CancellationError() }
                    try await writer.event(try GenerateEvent.stats(GenerateStats(
                        promptTokens: UInt32(s.promptTokens), cachedTokens: UInt32(s.cachedTokens), generatedTokens: UInt32(s.generatedTokens),
                        timeToFirstTokenMS: UInt32(s.timeToFirstTokenMS.rounded()), totalMS: UInt32(s.totalMS.rounded()),
                        finishReason: s.finishReason.rawValue, tailText: Self.wireText(s.tail))).serialized())
                    return
                case let .failed(e):
                    throw e
                }
            }
            // The stream ended without a result: the task was cancelled.
            throw CancellationError()
        } onCancel: {
            started.cancel()
        }
    }

    /// Generated text as a wire `string`: protocol strings never hold NUL (C readers would cut
    /// them there), so a generated NUL is sent as U+FFFD in `text`; `token_bytes` keeps the byte.
    static func wireText(_ text: String) -> String {
        text.utf8.contains(0) ? text.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") : text
    }

    /// The engine job for `request`: checked, rendered and tokenized.
    /// - Throws: `RPCError` INVALID_ARGUMENT naming the field at fault.
    static func job(for request: GenerateRequest, model: Model, contextLength: Int, defaultMaxTokens: Int,
                    prompt tokens: ((Model) throws -> [Int32])? = nil) throws -> BatchDecoder.Job {
        let tok = model.tokenizer
        let ids: [Int32]
        if let tokens {
            ids = try tokens(model)
        } else {
            let (text, parseSpecial) = try inputText(request.input, model: model)
            ids = tok.encode(text, addSpecial: true, parseSpecial: parseSpecial)
        }
        guard request.stop.count <= Limits.stopStrings else {
            throw RPCError.invalidArgument("generate.stop", "\(request.stop.count) stop strings; the limit is \(Limits.stopStrings)")
        }
        if let long = request.stop.first(where: { $0.utf8.count > Limits.stopBytes }) {
            throw RPCError.invalidArgument("generate.stop", "a stop string of \(long.utf8.count) bytes; the limit is \(Limits.stopBytes)")
        }
        let s = request.sampling
        // Zero (unset) wire values keep DRYParameters' own defaults.
        var dry = DRYParameters(multiplier: s.dryMultiplier, window: Int(s.dryPenaltyLastN),
                                breakers: s.drySequenceBreakers.isEmpty ? nil : s.drySequenceBreakers)
        if s.dryBase != 0 { dry.base = s.dryBase }
        if s.dryAllowedLength != 0 { dry.allowedLength = Int(s.dryAllowedLength) }
        let sampling = SamplingParameters(temperature: s.temperature, topK: Int(s.topK), topP: s.topP == 0 ? 1 : s.topP,
                                          minP: s.minP, repetitionPenalty: s.repetitionPenalty == 0 ? 1 : s.repetitionPenalty,
                                          seed: s.seed, dry: dry)
        do { try sampling.validate() } catch { throw RPCError.invalidArgument("generate.sampling", "\(error)") }

        let field = request.input.isChat ? "generate.chat" : "generate.prompt"
        guard !ids.isEmpty else { throw RPCError.invalidArgument(field, "the input encodes to no tokens") }
        guard ids.count < contextLength else {
            throw RPCError.invalidArgument(field, "the input is \(ids.count) tokens; the context holds \(contextLength)")
        }
        let maxTokens = request.maxTokens == 0 ? defaultMaxTokens : Int(request.maxTokens)
        return BatchDecoder.Job(prompt: ids, sampling: sampling,
                                options: GenerationOptions(maxTokens: maxTokens, stopStrings: request.stop))
    }

    /// The text of a request's input and whether it may spell special tokens (a rendered chat
    /// template does; a user's prompt does not).
    static func inputText(_ input: GenerateRequest.Input, model: Model) throws -> (String, Bool) {
        switch input {
        case let .prompt(p):
            guard !p.isEmpty else { throw RPCError.invalidArgument("generate.prompt", "the prompt is empty") }
            guard p.utf8.count <= Limits.promptBytes else {
                throw RPCError.invalidArgument("generate.prompt", "the prompt is \(p.utf8.count) bytes; the limit is \(Limits.promptBytes)")
            }
            return (p, false)
        case let .chat(messages):
            guard !messages.isEmpty else { throw RPCError.invalidArgument("generate.chat.messages", "the chat has no messages") }
            guard messages.count <= Limits.chatMessages else {
                throw RPCError.invalidArgument("generate.chat.messages", "\(messages.count) messages; the limit is \(Limits.chatMessages)")
            }
            let total = messages.reduce(0) { $0 + $1.content.utf8.count }
            guard total <= Limits.promptBytes else {
                throw RPCError.invalidArgument("generate.chat.messages.content", "the chat is \(total) bytes; the limit is \(Limits.promptBytes)")
            }
            let turns = try messages.map { m -> ChatMessage in
                guard let role = ChatMessage.Role(rawValue: m.role) else {
                    throw RPCError.invalidArgument("generate.chat.messages.role", "unknown role '\(m.role)'; use system, user or assistant")
                }
                return ChatMessage(role: role, content: m.content)
            }
            let tok = model.tokenizer
            let template = ChatTemplate.detect(jinja: tok.chatTemplate, architecture: model.config.architecture)
            var all = turns
            if turns.first?.role != .system, template == .chatML, let s = ChatTemplate.defaultSystemPrompt(jinja: tok.chatTemplate) {
                all.insert(ChatMessage(role: .system, content: s), at: 0)
            }
            return (template.render(all), true)
        }
    }
}

extension GenerateRequest.Input {
    var isChat: Bool { if case .chat = self { return true } else { return false } }
}
