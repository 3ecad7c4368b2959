import TailorEngine
import TailorWire

/// Which models a personalized generation decodes with: the methods of CoPe's evaluation,
/// spelled as on the wire (`GenerateRequest.mode`) and in the HTTP endpoint's `X-Tailor-Mode`.
enum DecodingMode: String, Sendable, CaseIterable {
    /// The task adapter and the user's current adapter, whichever exist.
    case automatic = ""
    /// No adapter.
    case base
    /// The task adapter only.
    case tam
    /// The user's newest OPPU version over the task adapter.
    case oppu
    /// The user's newest DPO version over the task adapter, decoded plainly.
    case dpoOnly = "dpo-only"
    /// The DPO version contrasted with the task adapter (CoPe).
    case cope
    /// The OPPU version contrasted with the task adapter (contrastive decoding without DPO).
    case cdOnly = "cd-only"

    /// Whether the user's model is contrasted with the task model.
    var isContrastive: Bool { self == .cope || self == .cdOnly }

    /// The training stage whose newest version of the user's adapter this mode decodes with
    /// (nil: the current version).
    var userStage: String? {
        switch self {
        case .dpoOnly, .cope: return "dpo"
        case .oppu, .cdOnly: return "oppu"
        case .automatic, .base, .tam: return nil
        }
    }

    /// The mode a user's version made by `stage` decodes in, with or without the contrast: what
    /// a request actually ran, whatever it asked for. An imported version (no stage) runs as
    /// `asked` when that is a user mode, as oppu otherwise.
    static func serving(stage: String?, contrastive: Bool, asked: DecodingMode) -> DecodingMode {
        switch stage {
        case "dpo"?: return contrastive ? .cope : .dpoOnly
        case "oppu"?: return contrastive ? .cdOnly : .oppu
        default:
            if asked.userStage != nil && asked.isContrastive == contrastive { return asked }
            return contrastive ? .cdOnly : .oppu
        }
    }

    /// The names a client may give, for error messages.
    static let spelled = "base, tam, oppu, dpo-only, cope or cd-only"
}

/// One generation, whatever front end asked for it: the daemon's own form of a protobuf
/// Generate request and of an HTTP completion. Each front end maps its encoding, and its
/// meaning of zero or absent fields, to this; `GenerationStarter` checks, tokenizes and plans
/// adapters from it alone, so both front ends personalize alike.
///
/// Unset values take the engine's defaults: `SamplingParameters()` for plain decoding and
/// `ContrastiveParameters()` for CoPe's α, τ, top-k and top-p. The wire's zeros mean unset
/// (`DecodingService`); the HTTP endpoint's absent fields take llama.cpp's defaults first
/// (`CompletionRequest`).
struct GenerationRequest: Sendable {
    /// What the model reads.
    enum Input: Sendable {
        /// Text, tokenized with the model's BOS rule; special tokens are not parsed.
        case text(String)
        /// Chat turns, rendered with the model's chat template.
        case chat([(role: String, content: String)])
        /// Tokens the front end builds once it sees the model (token prompts, infill).
        case tokens(@Sendable (Model) throws -> [Int32])
    }

    /// Whose adapters.
    enum Adapters: Sendable {
        /// The base model (a personalized mode then needs a task).
        case none
        /// These adapter references, applied in order; CoPe contrasts with all but the last.
        case explicit([AdapterRef])
        /// The caller's task adapter for `task`, then `user`'s adapter (a user may be empty).
        case personalized(user: String, task: String)
    }

    /// The loaded model's id; empty for the only loaded one.
    var model: String
    var input: Input
    var sampling: SamplingParameters
    /// The contrast's own parameters; its temperature, penalty, seed and DRY follow `sampling`.
    var contrast: ContrastiveParameters
    /// New tokens at most; nil takes the daemon's `default_max_tokens`.
    var maxTokens: Int?
    var stop: [String]
    /// Constrained decoding: the text must match this grammar.
    var grammar: Grammar?
    /// Most likely tokens reported with each generated one, and whether from the sampler's final
    /// distribution (`GenerationOptions.topLogprobs`, `postSampling`).
    var topLogprobs = 0
    var postSampling = false
    var adapters: Adapters
    var mode: DecodingMode
    /// Serve a mode that lacks its adapters with what exists instead of refusing it (the
    /// served mode is reported either way).
    var fallback: Bool

    init(
        model: String, input: Input, sampling: SamplingParameters = .init(), contrast: ContrastiveParameters = .init(),
        maxTokens: Int? = nil, stop: [String] = [], grammar: Grammar? = nil, adapters: Adapters = .none,
        mode: DecodingMode = .automatic, fallback: Bool = false
    ) {
        self.grammar = grammar
        self.fallback = fallback
        self.model = model
        self.input = input
        self.sampling = sampling
        self.contrast = contrast
        self.maxTokens = maxTokens
        self.stop = stop
        self.adapters = adapters
        self.mode = mode
    }

    /// The contrastive decoder's parameters: α, τ, top-k and top-p from `contrast`, the rest
    /// from `sampling`.
    var contrastiveParameters: ContrastiveParameters {
        var c = contrast
        c.temperature = sampling.temperature
        c.repetitionPenalty = sampling.repetitionPenalty
        c.seed = sampling.seed
        c.dry = sampling.dry
        c.logitBias = sampling.logitBias
        return c
    }
}
