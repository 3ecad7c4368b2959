/// How the next token is chosen from logits. The defaults are greedy decoding.
public struct SamplingParameters: Sendable, Equatable {
    /// 0 means greedy (argmax).
    public var temperature: Float = 0
    /// Keep only the k most likely tokens; 0 disables.
    public var topK: Int = 0
    /// Keep the smallest set whose probability reaches p; 1 disables.
    public var topP: Float = 1
    /// Drop tokens below minP × the top probability; 0 disables.
    public var minP: Float = 0
    /// Divide positive logits (multiply negative ones) of recently seen tokens by this; 1 disables.
    public var repetitionPenalty: Float = 1
    /// How many recent tokens the repetition penalty looks at.
    public var repetitionWindow: Int = 64
    /// Seed of the random generator; the same seed gives the same output again.
    public var seed: UInt64 = 0
    /// DRY, the guard against copying and loops (off by default).
    public var dry = DRYParameters()
    /// Added to a token's logit before anything else (−∞ bans it): OpenAI's and llama.cpp's
    /// `logit_bias`.
    public var logitBias: [Int32: Float] = [:]

    /// Parameters; the defaults mean greedy decoding.
    public init(
        temperature: Float = 0, topK: Int = 0, topP: Float = 1, minP: Float = 0,
        repetitionPenalty: Float = 1, repetitionWindow: Int = 64, seed: UInt64 = 0, dry: DRYParameters = .init(),
        logitBias: [Int32: Float] = [:]
    ) {
        self.logitBias = logitBias
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.repetitionWindow = repetitionWindow
        self.seed = seed
        self.dry = dry
    }

    /// Checks the values, naming the first one out of range.
    public func validate() throws {
        func bad(_ name: String, _ v: CustomStringConvertible) -> SamplingError {
            .invalidParameter(name: name, value: v.description)
        }
        guard temperature >= 0, temperature.isFinite else { throw bad("temperature", temperature) }
        guard topK >= 0 else { throw bad("top-k", topK) }
        guard topP > 0, topP <= 1 else { throw bad("top-p", topP) }
        guard minP >= 0, minP < 1 else { throw bad("min-p", minP) }
        guard repetitionPenalty > 0, repetitionPenalty.isFinite else {
            throw bad("repetition-penalty", repetitionPenalty)
        }
        guard repetitionWindow >= 0 else { throw bad("repetition-window", repetitionWindow) }
        for (t, b) in logitBias where t < 0 || b.isNaN || b == .infinity { throw bad("logit-bias", "\(t): \(b)") }
        try dry.validate()
    }
}

/// A sampling parameter out of range.
public enum SamplingError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidParameter(name: String, value: String)
    /// A message naming the problem, for logs and CLI output.
    public var description: String {
        switch self {
        case let .invalidParameter(n, v): return "invalid sampling parameter \(n) = \(v)"
        }
    }
}
