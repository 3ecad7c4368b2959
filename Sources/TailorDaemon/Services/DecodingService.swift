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

    /// A service queueing its generations through `starter` (shared with the HTTP endpoint).
    init(starter: GenerationStarter) {
        self.starter = starter
    }

    public func handle(_ call: RPCCall, _ writer: RPCWriter) async throws {
        guard call.method == "Generate" else {
            throw RPCError(.unimplemented, "\(name) has no method '\(call.method.echoed)'")
        }
        let request = try GenerationRequest(try GenerateRequest(serialized: call.payload))
        let started = try await starter.start(request, caller: call.caller)
        let job = started.job
        try await withTaskCancellationHandler {
            for await output in job.outputs {
                switch output {
                case let .token(t, choice):
                    let event: GenerateEvent
                    if let c = choice {
                        event = .contrastiveToken(
                            id: UInt32(bitPattern: t.id), tokenBytes: t.bytes, text: Self.wireText(t.text),
                            logprobUser: c.logProbUser, logprobBase: c.logProbBase, reward: c.reward)
                    } else {
                        event = .token(
                            id: UInt32(bitPattern: t.id), tokenBytes: t.bytes, text: Self.wireText(t.text),
                            logprob: t.logprob)
                    }
                    try await writer.event(try event.serialized())
                case let .finished(s):
                    if s.finishReason == .cancelled { throw CancellationError() }
                    try await writer.event(
                        try GenerateEvent.stats(
                            GenerateStats(
                                promptTokens: UInt32(s.promptTokens), cachedTokens: UInt32(s.cachedTokens),
                                generatedTokens: UInt32(s.generatedTokens),
                                timeToFirstTokenMS: UInt32(s.timeToFirstTokenMS.rounded()),
                                totalMS: UInt32(s.totalMS.rounded()),
                                finishReason: s.finishReason.rawValue, tailText: Self.wireText(s.tail),
                                mode: started.served.mode, adapters: started.served.adapters,
                                fallback: started.served.fallback)
                        ).serialized())
                    return
                case let .failed(e):
                    throw e
                case .progress:
                    break  // the wire protocol has no progress event
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
        text.replacingNULScalars
    }
}

extension GenerationRequest {
    /// The protobuf front end's request. Every zero means unset, as proto3 cannot tell them
    /// apart: a zero top_p, repetition_penalty, DRY base or allowed length takes the engine's
    /// default (`SamplingParameters`, `DRYParameters`); a zero cope_alpha, cope_tau, top_k or
    /// top_p takes `ContrastiveParameters`' for the contrast; max_tokens 0 takes the daemon's
    /// default. An empty mode decodes with whatever adapters exist.
    /// - Throws: INVALID_ARGUMENT for an unknown mode.
    init(_ wire: GenerateRequest) throws {
        guard let mode = DecodingMode(rawValue: wire.mode) else {
            throw RPCError.invalidArgument(
                "generate.mode", "mode must be \(DecodingMode.spelled), not '\(wire.mode.prefix(32))'")
        }
        let s = wire.sampling, plain = SamplingParameters()
        var dry = DRYParameters(
            multiplier: s.dryMultiplier, window: Int(s.dryPenaltyLastN),
            breakers: s.drySequenceBreakers.isEmpty ? nil : s.drySequenceBreakers)
        if s.dryBase != 0 { dry.base = s.dryBase }
        if s.dryAllowedLength != 0 { dry.allowedLength = Int(s.dryAllowedLength) }
        let sampling = SamplingParameters(
            temperature: s.temperature, topK: Int(s.topK), topP: s.topP == 0 ? plain.topP : s.topP, minP: s.minP,
            repetitionPenalty: s.repetitionPenalty == 0 ? plain.repetitionPenalty : s.repetitionPenalty,
            seed: s.seed, dry: dry)
        var contrast = ContrastiveParameters()
        if wire.copeAlpha != 0 { contrast.alpha = wire.copeAlpha }
        if wire.copeTau != 0 { contrast.tau = wire.copeTau }
        if s.topK != 0 { contrast.topK = Int(s.topK) }
        if s.topP != 0 { contrast.topP = s.topP }
        let input: Input
        switch wire.input {
        case let .prompt(p): input = .text(p)
        case let .chat(messages): input = .chat(messages.map { ($0.role, $0.content) })
        }
        let adapters: Adapters =
            !wire.adapters.isEmpty
            ? .explicit(wire.adapters)
            : wire.user.isEmpty && wire.task.isEmpty ? .none : .personalized(user: wire.user, task: wire.task)
        self.init(
            model: wire.model, input: input, sampling: sampling, contrast: contrast,
            maxTokens: wire.maxTokens == 0 ? nil : Int(wire.maxTokens),
            stop: wire.stop, adapters: adapters, mode: mode, fallback: wire.fallback)
    }
}
