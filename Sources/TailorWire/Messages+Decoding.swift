import CProtobufC
import TailorWireC

/// Decoding.Generate's request (Proto/tailor/v1/decoding.proto).
public struct GenerateRequest: Sendable, Equatable {
    /// What to generate from.
    public enum Input: Sendable, Equatable {
        /// A raw prompt, tokenized as is.
        case prompt(String)
        /// Messages rendered with the model's chat template.
        case chat([ChatMessage])
    }

    /// One chat turn.
    public struct ChatMessage: Sendable, Equatable {
        /// system, user or assistant.
        public var role: String
        /// The turn's text.
        public var content: String
        /// A turn of `role`.
        public init(role: String, content: String) {
            self.role = role
            self.content = content
        }
    }

    /// Sampling settings; zeros mean each setting's "off" (greedy, no top-k, ...).
    public struct Sampling: Sendable, Equatable {
        /// 0: greedy.
        public var temperature: Float = 0
        /// 0: off.
        public var topK: UInt32 = 0
        /// 0 or 1: off.
        public var topP: Float = 0
        /// 0: off.
        public var minP: Float = 0
        /// 0 or 1: off.
        public var repetitionPenalty: Float = 0
        /// Random seed.
        public var seed: UInt64 = 0
        /// DRY's multiplier; 0: off.
        public var dryMultiplier: Float = 0
        /// DRY's base; 0: 1.75.
        public var dryBase: Float = 0
        /// DRY's longest unpenalized repeat; 0: 2.
        public var dryAllowedLength: UInt32 = 0
        /// Tokens DRY searches; 0: the whole context.
        public var dryPenaltyLastN: UInt32 = 0
        /// Strings that end a DRY match; empty: llama.cpp's defaults.
        public var drySequenceBreakers: [String] = []
        /// Settings as given.
        public init(
            temperature: Float = 0, topK: UInt32 = 0, topP: Float = 0, minP: Float = 0,
            repetitionPenalty: Float = 0, seed: UInt64 = 0, dryMultiplier: Float = 0, dryBase: Float = 0,
            dryAllowedLength: UInt32 = 0, dryPenaltyLastN: UInt32 = 0, drySequenceBreakers: [String] = []
        ) {
            self.temperature = temperature
            self.topK = topK
            self.topP = topP
            self.minP = minP
            self.repetitionPenalty = repetitionPenalty
            self.seed = seed
            self.dryMultiplier = dryMultiplier
            self.dryBase = dryBase
            self.dryAllowedLength = dryAllowedLength
            self.dryPenaltyLastN = dryPenaltyLastN
            self.drySequenceBreakers = drySequenceBreakers
        }
    }

    /// A loaded model's id.
    public var model: String
    /// The prompt or the chat.
    public var input: Input
    /// Sampling settings.
    public var sampling: Sampling
    /// Stop strings.
    public var stop: [String]
    /// 0: the daemon's default.
    public var maxTokens: UInt32
    /// Personalization user: with `task`, selects the current task and user adapters.
    public var user: String
    /// Task name.
    public var task: String
    /// Adapters named explicitly, applied in order (instead of user/task).
    public var adapters: [AdapterRef]
    /// Decoding mode: base, tam, oppu, dpo-only, cope, cd-only; empty: from user and task.
    public var mode: String = ""
    /// CoPe's α and τ; 0: 0.1 each.
    public var copeAlpha: Float = 0
    public var copeTau: Float = 0
    /// Serve a mode that lacks its adapters with whatever adapters exist instead of failing
    /// with FAILED_PRECONDITION; `GenerateStats.mode` then says what ran.
    public var fallback = false

    /// A request for `model` on `input`.
    public init(
        model: String, input: Input, sampling: Sampling = Sampling(), stop: [String] = [], maxTokens: UInt32 = 0,
        user: String = "", task: String = "", adapters: [AdapterRef] = []
    ) {
        self.model = model
        self.input = input
        self.sampling = sampling
        self.stop = stop
        self.maxTokens = maxTokens
        self.user = user
        self.task = task
        self.adapters = adapters
    }

    /// Serialized `tailor.v1.GenerateRequest`.
    public func serialized() throws -> [UInt8] {
        let arena = CMessageArena()
        let m = arena.make(Tailor__V1__GenerateRequest.self)
        tailor__v1__generate_request__init(m)
        m.pointee.model = try arena.cString(model, field: "generate.model")
        switch input {
        case let .prompt(p):
            m.pointee.input_case = TAILOR__V1__GENERATE_REQUEST__INPUT_PROMPT
            m.pointee.prompt = try arena.cString(p, field: "generate.prompt")
        case let .chat(messages):
            let chat = arena.make(Tailor__V1__ChatInput.self)
            tailor__v1__chat_input__init(chat)
            let list = arena.array(UnsafeMutablePointer<Tailor__V1__ChatMessage>?.self, count: messages.count)
            for (i, msg) in messages.enumerated() {
                let c = arena.make(Tailor__V1__ChatMessage.self)
                tailor__v1__chat_message__init(c)
                c.pointee.role = try arena.cString(msg.role, field: "generate.chat.messages.role")
                c.pointee.content = try arena.cString(msg.content, field: "generate.chat.messages.content")
                list[i] = c
            }
            chat.pointee.n_messages = messages.count
            chat.pointee.messages = list
            m.pointee.input_case = TAILOR__V1__GENERATE_REQUEST__INPUT_CHAT
            m.pointee.chat = chat
        }
        let s = arena.make(Tailor__V1__Sampling.self)
        tailor__v1__sampling__init(s)
        s.pointee.temperature = sampling.temperature
        s.pointee.top_k = sampling.topK
        s.pointee.top_p = sampling.topP
        s.pointee.min_p = sampling.minP
        s.pointee.repetition_penalty = sampling.repetitionPenalty
        s.pointee.seed = sampling.seed
        s.pointee.dry_multiplier = sampling.dryMultiplier
        s.pointee.dry_base = sampling.dryBase
        s.pointee.dry_allowed_length = sampling.dryAllowedLength
        s.pointee.dry_penalty_last_n = sampling.dryPenaltyLastN
        let breakers = arena.array(UnsafeMutablePointer<CChar>?.self, count: sampling.drySequenceBreakers.count)
        for (i, b) in sampling.drySequenceBreakers.enumerated() {
            breakers[i] = try arena.cString(b, field: "generate.sampling.dry_sequence_breakers")
        }
        s.pointee.n_dry_sequence_breakers = sampling.drySequenceBreakers.count
        s.pointee.dry_sequence_breakers = breakers
        m.pointee.sampling = s
        let stops = arena.array(UnsafeMutablePointer<CChar>?.self, count: stop.count)
        for (i, st) in stop.enumerated() { stops[i] = try arena.cString(st, field: "generate.stop") }
        m.pointee.n_stop = stop.count
        m.pointee.stop = stops
        m.pointee.max_tokens = maxTokens
        m.pointee.user = try arena.cString(user, field: "generate.user")
        m.pointee.task = try arena.cString(task, field: "generate.task")
        let refs = arena.array(UnsafeMutablePointer<Tailor__V1__AdapterRef>?.self, count: adapters.count)
        for (i, a) in adapters.enumerated() {
            let e = arena.make(Tailor__V1__AdapterRef.self)
            try a.fill(e, arena: arena, field: "generate.adapters")
            refs[i] = e
        }
        m.pointee.n_adapters = adapters.count
        m.pointee.adapters = refs
        m.pointee.mode = try arena.cString(mode, field: "generate.mode")
        m.pointee.cope_alpha = copeAlpha
        m.pointee.cope_tau = copeTau
        m.pointee.fallback = fallback ? 1 : 0
        return CMessageReader.pack(
            UnsafePointer(m), size: tailor__v1__generate_request__get_packed_size,
            pack: tailor__v1__generate_request__pack)
    }

    /// Parses a serialized `tailor.v1.GenerateRequest`.
    /// - Throws: `WireError` naming the field: no input, a NUL or bad UTF-8 in any string.
    public init(serialized bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { raw in
            try CMessageReader.read(
                raw, type: "tailor.v1.GenerateRequest", unpack: tailor__v1__generate_request__unpack,
                free: tailor__v1__generate_request__free_unpacked
            ) { m, r in
                let input: Input
                switch m.pointee.input_case {
                case TAILOR__V1__GENERATE_REQUEST__INPUT_PROMPT:
                    input = .prompt(try r.string(m.pointee.prompt, field: "generate.prompt"))
                case TAILOR__V1__GENERATE_REQUEST__INPUT_CHAT:
                    let chat = m.pointee.chat.pointee
                    input = .chat(
                        try (0..<chat.n_messages).map { i in
                            let c = chat.messages[i]!.pointee
                            return ChatMessage(
                                role: try r.string(c.role, field: "generate.chat.messages.role"),
                                content: try r.string(c.content, field: "generate.chat.messages.content"))
                        })
                default:
                    throw WireError.missingField(field: "generate.input")
                }
                var sampling = Sampling()
                if let s = m.pointee.sampling?.pointee {
                    let breakers = try (0..<s.n_dry_sequence_breakers).map {
                        try r.string(s.dry_sequence_breakers[$0], field: "generate.sampling.dry_sequence_breakers")
                    }
                    sampling = Sampling(
                        temperature: s.temperature, topK: s.top_k, topP: s.top_p, minP: s.min_p,
                        repetitionPenalty: s.repetition_penalty, seed: s.seed, dryMultiplier: s.dry_multiplier,
                        dryBase: s.dry_base, dryAllowedLength: s.dry_allowed_length,
                        dryPenaltyLastN: s.dry_penalty_last_n,
                        drySequenceBreakers: breakers)
                }
                let stop = try (0..<m.pointee.n_stop).map { try r.string(m.pointee.stop[$0], field: "generate.stop") }
                let refs = try (0..<m.pointee.n_adapters).map {
                    try AdapterRef(m.pointee.adapters[$0]!.pointee, reader: r, field: "generate.adapters")
                }
                var req = GenerateRequest(
                    model: try r.string(m.pointee.model, field: "generate.model"), input: input,
                    sampling: sampling, stop: stop, maxTokens: m.pointee.max_tokens,
                    user: try r.string(m.pointee.user, field: "generate.user"),
                    task: try r.string(m.pointee.task, field: "generate.task"), adapters: refs)
                req.mode = try r.string(m.pointee.mode, field: "generate.mode")
                req.copeAlpha = m.pointee.cope_alpha
                req.copeTau = m.pointee.cope_tau
                req.fallback = m.pointee.fallback != 0
                return req
            }
        }
    }
}

/// The closing statistics of one Decoding.Generate stream (`tailor.v1.GenerateStats`).
public struct GenerateStats: Sendable, Equatable {
    /// Tokens in the prompt as the model saw it, special tokens included.
    public var promptTokens: UInt32
    /// Prompt tokens served from the prompt cache (a prefix shared with an earlier request of the
    /// same user and adapters) instead of being prefilled again: why a repeated editor request is fast.
    public var cachedTokens: UInt32
    /// Tokens generated, stop sequences included.
    public var generatedTokens: UInt32
    /// From the request's arrival to its first token, queueing and prefill included.
    public var timeToFirstTokenMS: UInt32
    /// From the request's arrival to its last token.
    public var totalMS: UInt32
    /// Why generation ended: `length`, `stop`, `eos` or `context`.
    public var finishReason: String
    /// Text released at the end that no token carried (a held-back prefix of a stop string that
    /// never completed).
    public var tailText: String
    /// The mode that ran: base, tam, oppu, dpo-only, cope, cd-only, or "adapters" for explicit
    /// adapters decoded plainly. A client shows it so a personalized mode never silently
    /// becomes something else.
    public var mode: String
    /// The adapters that ran, versions resolved, in the order applied (the user's last).
    public var adapters: [AdapterRef]
    /// Whether `mode` differs from the mode asked for (the request allowed a fallback).
    public var fallback: Bool

    /// Statistics as the daemon reports them; the optional parts default to none.
    public init(
        promptTokens: UInt32, cachedTokens: UInt32 = 0, generatedTokens: UInt32, timeToFirstTokenMS: UInt32,
        totalMS: UInt32, finishReason: String, tailText: String = "", mode: String = "",
        adapters: [AdapterRef] = [], fallback: Bool = false
    ) {
        self.mode = mode
        self.adapters = adapters
        self.fallback = fallback
        self.promptTokens = promptTokens
        self.cachedTokens = cachedTokens
        self.generatedTokens = generatedTokens
        self.timeToFirstTokenMS = timeToFirstTokenMS
        self.totalMS = totalMS
        self.finishReason = finishReason
        self.tailText = tailText
    }
}

/// One event of Decoding.Generate: a token, or the closing statistics.
public enum GenerateEvent: Sendable, Equatable {
    /// A generated token. `text` holds only complete UTF-8; `tokenBytes` may be part of a character.
    case token(id: UInt32, tokenBytes: [UInt8], text: String, logprob: Float)
    /// A token CoPe decoding chose, with why: log π_user, log π_base and the reward
    /// log π_user − α·log π_base.
    case contrastiveToken(
        id: UInt32, tokenBytes: [UInt8], text: String, logprobUser: Float, logprobBase: Float, reward: Float)
    /// The last event before Status OK: how the request went.
    case stats(GenerateStats)

    /// A token event's text (plain or contrastive); nil for the statistics.
    public var tokenText: String? {
        switch self {
        case let .token(_, _, text, _), let .contrastiveToken(_, _, text, _, _, _): return text
        case .stats: return nil
        }
    }

    /// Serialized `tailor.v1.GenerateEvent`.
    public func serialized() throws -> [UInt8] {
        let arena = CMessageArena()
        let m = arena.make(Tailor__V1__GenerateEvent.self)
        tailor__v1__generate_event__init(m)
        switch self {
        case let .token(id, tokenBytes, text, logprob):
            let t = arena.make(Tailor__V1__TokenEvent.self)
            tailor__v1__token_event__init(t)
            t.pointee.token_id = id
            t.pointee.token_bytes = arena.binary(tokenBytes)
            t.pointee.text = try arena.cString(text, field: "event.token.text")
            t.pointee.logprob = logprob
            m.pointee.kind_case = TAILOR__V1__GENERATE_EVENT__KIND_TOKEN
            m.pointee.token = t
        case let .contrastiveToken(id, tokenBytes, text, lu, lb, reward):
            let t = arena.make(Tailor__V1__TokenEvent.self)
            tailor__v1__token_event__init(t)
            t.pointee.token_id = id
            t.pointee.token_bytes = arena.binary(tokenBytes)
            t.pointee.text = try arena.cString(text, field: "event.token.text")
            t.pointee.logprob = lu
            t.pointee.contrastive = 1
            t.pointee.logprob_base = lb
            t.pointee.reward = reward
            m.pointee.kind_case = TAILOR__V1__GENERATE_EVENT__KIND_TOKEN
            m.pointee.token = t
        case let .stats(stats):
            let s = arena.make(Tailor__V1__GenerateStats.self)
            tailor__v1__generate_stats__init(s)
            s.pointee.prompt_tokens = stats.promptTokens
            s.pointee.cached_tokens = stats.cachedTokens
            s.pointee.generated_tokens = stats.generatedTokens
            s.pointee.time_to_first_token_ms = stats.timeToFirstTokenMS
            s.pointee.total_ms = stats.totalMS
            s.pointee.finish_reason = try arena.cString(stats.finishReason, field: "event.stats.finish_reason")
            s.pointee.tail_text = try arena.cString(stats.tailText, field: "event.stats.tail_text")
            s.pointee.mode = try arena.cString(stats.mode, field: "event.stats.mode")
            let refs = arena.array(UnsafeMutablePointer<Tailor__V1__AdapterRef>?.self, count: stats.adapters.count)
            for (i, a) in stats.adapters.enumerated() {
                let e = arena.make(Tailor__V1__AdapterRef.self)
                try a.fill(e, arena: arena, field: "event.stats.adapters")
                refs[i] = e
            }
            s.pointee.n_adapters = stats.adapters.count
            s.pointee.adapters = refs
            s.pointee.fallback = stats.fallback ? 1 : 0
            m.pointee.kind_case = TAILOR__V1__GENERATE_EVENT__KIND_STATS
            m.pointee.stats = s
        }
        return CMessageReader.pack(
            UnsafePointer(m), size: tailor__v1__generate_event__get_packed_size,
            pack: tailor__v1__generate_event__pack)
    }

    /// Parses a serialized `tailor.v1.GenerateEvent`.
    public init(serialized bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { raw in
            try CMessageReader.read(
                raw, type: "tailor.v1.GenerateEvent", unpack: tailor__v1__generate_event__unpack,
                free: tailor__v1__generate_event__free_unpacked
            ) { m, r in
                switch m.pointee.kind_case {
                case TAILOR__V1__GENERATE_EVENT__KIND_TOKEN:
                    let t = m.pointee.token.pointee
                    let text = try r.string(t.text, field: "event.token.text")
                    if t.contrastive != 0 {
                        return .contrastiveToken(
                            id: t.token_id, tokenBytes: r.bytes(t.token_bytes), text: text, logprobUser: t.logprob,
                            logprobBase: t.logprob_base, reward: t.reward)
                    }
                    return .token(id: t.token_id, tokenBytes: r.bytes(t.token_bytes), text: text, logprob: t.logprob)
                case TAILOR__V1__GENERATE_EVENT__KIND_STATS:
                    let s = m.pointee.stats.pointee
                    let refs = try (0..<s.n_adapters).map {
                        try AdapterRef(s.adapters[$0]!.pointee, reader: r, field: "event.stats.adapters")
                    }
                    return .stats(
                        GenerateStats(
                            promptTokens: s.prompt_tokens, cachedTokens: s.cached_tokens,
                            generatedTokens: s.generated_tokens,
                            timeToFirstTokenMS: s.time_to_first_token_ms, totalMS: s.total_ms,
                            finishReason: try r.string(s.finish_reason, field: "event.stats.finish_reason"),
                            tailText: try r.string(s.tail_text, field: "event.stats.tail_text"),
                            mode: try r.string(s.mode, field: "event.stats.mode"), adapters: refs,
                            fallback: s.fallback != 0))
                default:
                    throw WireError.missingField(field: "event.kind")
                }
            }
        }
    }
}
