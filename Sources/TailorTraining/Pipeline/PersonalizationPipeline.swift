import TailorEngine

/// One item of a history as text: a prompt and what was written for it.
public struct TextExample: Sendable, Equatable {
    public var input: String
    public var output: String

    public init(input: String, output: String) {
        self.input = input
        self.output = output
    }
}

/// A preference as text: one prompt, the output preferred and the other one.
public struct TextPreference: Sendable, Equatable {
    public var prompt: String
    public var chosen: String
    public var rejected: String
    /// The reference scores the negatives stage kept with the pair, if any (nil: DPO computes
    /// them).
    public var reference: ReferenceScores?

    public init(prompt: String, chosen: String, rejected: String, reference: ReferenceScores? = nil) {
        self.prompt = prompt
        self.chosen = chosen
        self.rejected = rejected
        self.reference = reference
    }
}

/// CoPe's stages over text: the task adapter (TAM) and the user's adapter (OPPU) by supervised
/// training, synthetic negatives, and DPO, each with one example format, one graph plan and
/// one step loop. The daemon's jobs, `tailor train --offline` and `tailor eval` all train
/// through it and differ only in where the data comes from and where adapters go, so an
/// evaluation measures what the daemon ships (a test holds the job and the offline run to
/// bit-identical adapters).
public struct PersonalizationPipeline: Sendable {
    public let model: Model
    /// Longest training sequence, never past the model's context.
    public let maxTokens: Int
    /// Threads of each stage's pool (nil: every core).
    public let threads: Int?
    /// How text becomes training sequences, for every stage.
    public let formatter: ExampleFormatter

    public init(model: Model, maxTokens: Int, threads: Int?) {
        self.model = model
        self.maxTokens = min(maxTokens, model.config.contextLength)
        self.threads = threads
        formatter = ExampleFormatter(tokenizer: model.tokenizer, maxTokens: self.maxTokens)
    }

    /// What a caller does around a training stage's steps.
    public struct Hooks {
        /// Before every block of every pass: where a daemon pauses while decoding runs.
        public var pausePoint: (() -> Void)?
        /// Before every sequence: where cancellation throws and a daemon yields.
        public var beforeSequence: (() throws -> Void)?
        /// A checkpoint of this stage to continue from.
        public var resume: TrainingCheckpoint?
        /// Once the trainer is ready, before its first step (its total and resumed steps known).
        public var willStart: ((LoRATrainer) throws -> Void)?
        /// After every optimizer step: progress, checkpoints.
        public var didStep: ((StepReport, LoRATrainer) throws -> Void)?

        public init(
            pausePoint: (() -> Void)? = nil, beforeSequence: (() throws -> Void)? = nil,
            resume: TrainingCheckpoint? = nil,
            willStart: ((LoRATrainer) throws -> Void)? = nil, didStep: ((StepReport, LoRATrainer) throws -> Void)? = nil
        ) {
            self.pausePoint = pausePoint
            self.beforeSequence = beforeSequence
            self.resume = resume
            self.willStart = willStart
            self.didStep = didStep
        }
    }

    /// The training sequences of `items`; an item with an empty output has none.
    public func examples(_ items: [TextExample]) -> [TrainingExample] {
        items.compactMap { formatter.example(input: $0.input, output: $0.output) }
    }

    /// The preference sequences of `pairs`; a pair with an empty side has none.
    public func examples(_ pairs: [TextPreference]) -> [PreferenceExample] {
        pairs.compactMap { p in
            guard let c = formatter.example(input: p.prompt, output: p.chosen),
                let r = formatter.example(input: p.prompt, output: p.rejected)
            else { return nil }
            return PreferenceExample(chosen: c, rejected: r, reference: p.reference)
        }
    }

    /// A fresh adapter trained on `items` by cross-entropy on their outputs: the task adapter
    /// (nothing frozen), or a user's over the frozen task adapter.
    /// - Throws: `TrainingError.emptyDataset` when no item gives a sequence; a hook's error.
    public func supervised(
        _ items: [TextExample], configuration: TrainingConfiguration, frozen: [AdapterUse] = [],
        hooks: Hooks = Hooks()
    ) throws -> TrainableLoRA {
        let c = configuration
        let lora = TrainableLoRA(
            config: model.config, rank: c.rank, alpha: c.alpha, targets: try c.loraTargets(), seed: c.seed)
        try train(lora, frozen: frozen, .sft(examples(items)), c, hooks)
        return lora
    }

    /// The user's adapter continued by DPO on `pairs`, the reference being the same weights
    /// without it (the frozen task adapter only).
    /// - Throws: `TrainingError.emptyDataset` when no pair gives sequences; a hook's error.
    public func preference(
        _ pairs: [TextPreference], continuing user: LoRAAdapter, configuration: TrainingConfiguration,
        frozen: [AdapterUse] = [], hooks: Hooks = Hooks()
    ) throws -> TrainableLoRA {
        let lora = try TrainableLoRA(continuing: user, config: model.config)
        try train(lora, frozen: frozen, .dpo(examples(pairs)), configuration, hooks)
        return lora
    }

    /// The negatives stage: samples from π_base = base + `task`, scored against
    /// π_user = π_base + `user`.
    public func negatives(
        task: [AdapterUse], user: LoRAAdapter, configuration: NegativeConfiguration,
        pausePoint: (() -> Void)? = nil
    ) throws -> NegativeStage {
        let graph = TrainingGraph(model: model, maxTokens: maxTokens, maxRank: 1, threads: threads)
        graph.pausePoint = pausePoint
        let sampler = try NegativeSampler(
            graph: graph, base: task, user: task + [AdapterUse(user)], configuration: configuration)
        return NegativeStage(sampler: sampler, formatter: formatter)
    }

    /// Draws one history item's synthetic negative at a time.
    public struct NegativeStage {
        let sampler: NegativeSampler
        let formatter: ExampleFormatter

        /// What the stage drew for one history item.
        public struct Draw {
            /// The prompt sampled from, and all K scored samples, lowest reward first: for
            /// diagnostics and for checking another implementation's scoring on the same samples.
            public var prompt: [Int32]
            public var candidates: [ScoredCompletion]
            /// The negative: the lowest-reward sample that differs from the real output; nil
            /// when every sample equals it (see `NegativeSampler.choose`).
            public var negative: ScoredCompletion?
            /// DPO's pair, the real output over the negative, with its reference scores when
            /// DPO's prompt is the one sampled from (`NegativeSampler.reference`).
            public var pair: TextPreference?
        }

        /// History item `index`'s samples, its negative and its DPO pair.
        public func draw(for item: TextExample, index: Int) throws -> Draw {
            let (prompt, candidates) = try sampler.samples(input: item.input, index: index, formatter: formatter)
            var draw = Draw(prompt: prompt, candidates: candidates)
            guard let worst = NegativeSampler.choose(candidates, real: item.output) else { return draw }
            draw.negative = worst
            var pair = TextPreference(prompt: item.input, chosen: item.output, rejected: worst.text)
            if let c = formatter.example(input: pair.prompt, output: pair.chosen),
                let r = formatter.example(input: pair.prompt, output: pair.rejected)
            {
                pair.reference = try sampler.reference(
                    for: PreferenceExample(chosen: c, rejected: r), prompt: prompt, sample: worst)
            }
            draw.pair = pair
            return draw
        }
    }

    /// The step loop every training stage shares.
    private func train(
        _ lora: TrainableLoRA, frozen: [AdapterUse], _ objective: LoRATrainer.Objective,
        _ configuration: TrainingConfiguration,
        _ hooks: Hooks
    ) throws {
        let graph = TrainingGraph(model: model, maxTokens: maxTokens, maxRank: lora.rank, threads: threads)
        graph.pausePoint = hooks.pausePoint
        let trainer = try LoRATrainer(
            graph: graph, trainable: lora, frozen: frozen, objective: objective, configuration: configuration)
        trainer.beforeSequence = hooks.beforeSequence
        if let checkpoint = hooks.resume { try trainer.resume(from: checkpoint) }
        try hooks.willStart?(trainer)
        while !trainer.isFinished {
            let report = try trainer.runStep()
            try hooks.didStep?(report, trainer)
        }
    }
}
