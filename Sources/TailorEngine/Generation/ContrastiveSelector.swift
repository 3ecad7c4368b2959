import Foundation

/// CoPe's decoding rule and its knobs.
///
/// At each step, with p_u the user's model (task + user adapters) and p_b the task model:
/// V_head = {v : p_u(v) ≥ τ · max p_u}; the score of v ∈ V_head is log p̃_u(v) − α·log p_b(v),
/// p̃_u being p_u renormalized over V_head; greedy decoding takes the best score, the sampling
/// variant draws from softmax(score / temperature) after top-k and top-p.
public struct ContrastiveParameters: Sendable, Equatable, Codable {
    /// α, the weight of the task model's log-probability (0.1 in the reference code).
    public var alpha: Float = 0.1
    /// τ, the plausibility threshold relative to the user model's best token.
    public var tau: Float = 0.1
    /// 0 decodes greedily; above 0 samples (the reference code's variant uses 0.3).
    public var temperature: Float = 0
    /// Candidates kept when sampling (0: all of V_head).
    public var topK: Int = 50
    /// Nucleus mass kept when sampling.
    public var topP: Float = 0.95
    /// > 1 divides positive (multiplies negative) user logits of tokens already seen.
    public var repetitionPenalty: Float = 1
    /// Tokens the repetition penalty looks back over.
    public var repetitionWindow: Int = 64
    public var seed: UInt64 = 0
    /// DRY on the user row, before V_head is drawn (off by default).
    public var dry = DRYParameters()
    /// Added to the user row's logits before V_head is drawn (`logit_bias`).
    public var logitBias: [Int32: Float] = [:]

    /// The reference code's greedy defaults.
    public init(
        alpha: Float = 0.1, tau: Float = 0.1, temperature: Float = 0, topK: Int = 50, topP: Float = 0.95,
        repetitionPenalty: Float = 1, seed: UInt64 = 0, dry: DRYParameters = .init()
    ) {
        self.alpha = alpha
        self.tau = tau
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.repetitionPenalty = repetitionPenalty
        self.seed = seed
        self.dry = dry
    }

    /// Checks ranges, naming the bad one.
    public func validate() throws {
        func bad(_ name: String, _ value: Any) -> SamplingError { .invalidParameter(name: name, value: "\(value)") }
        if !(alpha >= 0 && alpha.isFinite) { throw bad("alpha", alpha) }
        if !(tau > 0 && tau <= 1) { throw bad("tau", tau) }
        if !(temperature >= 0 && temperature.isFinite) { throw bad("temperature", temperature) }
        if topK < 0 { throw bad("top_k", topK) }
        if !(topP > 0 && topP <= 1) { throw bad("top_p", topP) }
        if !(repetitionPenalty > 0 && repetitionPenalty.isFinite) { throw bad("repetition_penalty", repetitionPenalty) }
        try dry.validate()
    }
}

/// Why a token was chosen: what CoPe's streaming events carry.
public struct ContrastiveChoice: Sendable, Equatable {
    public var token: Int32
    /// log π_user(token) (after the repetition penalty and DRY, before renormalization).
    public var logProbUser: Float
    /// log π_base(token).
    public var logProbBase: Float
    /// The implicit reward log π_user − α·log π_base.
    public var reward: Float
    /// |V_head|.
    public var candidates: Int
    /// The token π_user alone would take greedily (its most probable allowed token): where it
    /// differs from `token`, the contrast with π_base changed the output.
    public var userChoice: Int32
}

/// Applies CoPe's rule to one step's pair of logit rows.
public struct ContrastiveSelector {
    public let parameters: ContrastiveParameters
    private var rng: SeededGenerator
    private let dry: DRYPenalty?
    private var lu: [Float] = []
    private var head: [(token: Int32, score: Float)] = []
    private var order: [Int32] = []

    /// A selector; `parameters` must be valid.
    /// - Parameter tokenizer: the vocabulary, which DRY needs for its sequence breakers.
    public init(_ parameters: ContrastiveParameters, tokenizer: Tokenizer? = nil) throws {
        try parameters.validate()
        self.parameters = parameters
        rng = SeededGenerator(seed: parameters.seed)
        dry = try DRYPenalty.make(parameters.dry, tokenizer: tokenizer)
    }

    /// The next token given the user and base rows' logits and the tokens so far.
    ///
    /// Only V_head needs per-token work: the threshold τ·max p_u is max logit + log τ in logit
    /// space, and each row's normalizer is one vectorized log-sum-exp, so no log-softmax row is
    /// materialized (the user row is copied only when a repetition penalty or DRY edits it).
    ///
    /// - Parameter allowed: under a grammar, the tokens that may come next. V_head is then
    ///   drawn from the allowed tokens only, relative to the best allowed one.
    public mutating func choose(
        user: UnsafeBufferPointer<Float>, base: UnsafeBufferPointer<Float>, history: [Int32],
        allowed: ((Int32) -> Bool)? = nil
    ) -> ContrastiveChoice {
        let p = parameters
        if p.repetitionPenalty != 1 || dry != nil || !p.logitBias.isEmpty {
            lu.removeAll(keepingCapacity: true)
            lu.append(contentsOf: user)
            lu.withUnsafeMutableBufferPointer { row in
                Sampler.bias(row, p.logitBias)
                Sampler.penalize(row, recent: history.suffix(p.repetitionWindow), penalty: p.repetitionPenalty)
                dry?.apply(to: row, history: history)
            }
            return lu.withUnsafeBufferPointer { choose(penalized: $0, base: base, allowed: allowed) }
        }
        return choose(penalized: user, base: base, allowed: allowed)
    }

    private mutating func choose(
        penalized user: UnsafeBufferPointer<Float>, base: UnsafeBufferPointer<Float>, allowed: ((Int32) -> Bool)?
    ) -> ContrastiveChoice {
        let p = parameters
        let (lseU, best) = VectorOps.logSumExp(user)
        let lseB = VectorOps.logSumExp(base).logSumExp
        // The plausibility bar hangs from the best token the grammar allows.
        let top = allowed.map { bestAllowed(user, $0) } ?? best
        let threshold = top + logf(p.tau)
        // V_head, and log Σ_{V_head} p_u for the renormalized p̃_u.
        head.removeAll(keepingCapacity: true)
        var headMass: Double = 0
        for v in 0..<user.count where user[v] >= threshold && allowed?(Int32(v)) != false {
            headMass += Double(expf(user[v] - top))
            head.append((Int32(v), 0))
        }
        // Nothing allowed: the best token, which the decoding state ends the generation on.
        if head.isEmpty {
            let t = Sampler.argmax(user)
            return choice(t, user, lseU, base, lseB, candidates: 0, userChoice: t)
        }
        let logZ = top + Float(log(headMass))
        var userChoice = head[0].token
        for i in head.indices {
            let v = Int(head[i].token)
            head[i].score = (user[v] - logZ) - p.alpha * (base[v] - lseB)
            if user[v] > user[Int(userChoice)] { userChoice = head[i].token }
        }
        let token: Int32
        if p.temperature == 0 {
            var best = head[0]
            for h in head.dropFirst() where h.score > best.score { best = h }
            token = best.token
        } else {
            token = sample()
        }
        return choice(token, user, lseU, base, lseB, candidates: head.count, userChoice: userChoice)
    }

    private func choice(
        _ token: Int32, _ user: UnsafeBufferPointer<Float>, _ lseU: Float, _ base: UnsafeBufferPointer<Float>,
        _ lseB: Float, candidates: Int, userChoice: Int32
    ) -> ContrastiveChoice {
        let logU = user[Int(token)] - lseU, logB = base[Int(token)] - lseB
        return ContrastiveChoice(
            token: token, logProbUser: logU, logProbBase: logB, reward: logU - parameters.alpha * logB,
            candidates: candidates, userChoice: userChoice)
    }

    /// The largest logit among allowed tokens (−∞ when none is): the best token first, since it
    /// usually is allowed, then the rest in descending order until one is.
    private mutating func bestAllowed(_ user: UnsafeBufferPointer<Float>, _ allowed: (Int32) -> Bool) -> Float {
        let first = Sampler.argmax(user)
        if allowed(first) { return user[Int(first)] }
        order.removeAll(keepingCapacity: true)
        order.append(contentsOf: 0..<Int32(user.count))
        order.sort { user[Int($0)] > user[Int($1)] }
        return order.first(where: allowed).map { user[Int($0)] } ?? -.infinity
    }

    /// Draws from softmax(score / T) over the best top-k of V_head, cut to the top-p mass.
    private mutating func sample() -> Int32 {
        let p = parameters
        head.sort { $0.score > $1.score || ($0.score == $1.score && $0.token < $1.token) }
        if p.topK > 0 && head.count > p.topK { head.removeLast(head.count - p.topK) }
        let m = head[0].score
        var w = head.map { Double(expf(($0.score - m) / p.temperature)) }
        let total = w.reduce(0, +)
        var kept = 0, mass = 0.0
        while kept < w.count {
            mass += w[kept] / total
            kept += 1
            if mass >= Double(p.topP) { break }
        }
        w.removeLast(w.count - kept)
        var r = Double(rng.nextUnit()) * w.reduce(0, +)
        for (i, x) in w.enumerated() {
            r -= x
            if r < 0 { return head[i].token }
        }
        return head[kept - 1].token
    }
}
