import Foundation
import TailorEngine

/// Runs one adapter stack over a user's held-back items: the text it writes for each prompt
/// (greedy, or CoPe-decoded against a contrast stack, as `cope` mode serves it) and the
/// per-token log-likelihood it gives what the user really wrote. The autopilot's gate runs
/// the candidate and the version it would replace through the same scorer.
public struct HoldoutScorer {
    public let model: Model
    public let formatter: ExampleFormatter
    public let threads: Int?
    /// Longest generated answer.
    public let maxNewTokens: Int
    /// CoPe's α and τ, the daemon's defaults.
    public var contrast = ContrastiveParameters()

    /// A scorer formatting prompts like `pipeline`'s training data.
    public init(pipeline: PersonalizationPipeline, maxNewTokens: Int) {
        model = pipeline.model
        formatter = pipeline.formatter
        threads = pipeline.threads
        self.maxNewTokens = max(1, maxNewTokens)
    }

    /// What one stack did on the items, in their order.
    public struct Outcome: Sendable, Equatable {
        /// The generated answer to each prompt (its first line when the real one is one line).
        public var texts: [String]
        /// Mean log p per token of each real output; nil for an output with no tokens.
        public var logLikelihoods: [Double?]

        public init(texts: [String], logLikelihoods: [Double?]) {
            self.texts = texts
            self.logLikelihoods = logLikelihoods
        }
    }

    /// Generates and scores every item under `stack`, CoPe-decoding against `contrast` when it
    /// is given (else greedy). `pause` runs before every forward pass: where a daemon yields to
    /// interactive decoding.
    public func run(
        _ items: [TextExample], stack: [AdapterUse], contrastWith base: [AdapterUse]?, pause: () -> Void = {}
    ) throws -> Outcome {
        let context = InferenceContext(
            model: model, maxSequences: 2, maxContext: min(2048, model.config.contextLength), maxBatchTokens: 256,
            threads: threads)
        let scorer = ReferenceScorer(
            model: model, maxTokens: formatter.maxTokens, threads: threads, adapters: stack,
            path: PrefillPathSetting.processDefault.path(for: model, threads: context.threads))
        let options = GenerationOptions(maxTokens: maxNewTokens)
        var outcome = Outcome(texts: [], logLikelihoods: [])
        for item in items {
            let prompt = Array(formatter.prompt(item.input).suffix(context.maxContext - maxNewTokens - 1))
            let text: String
            if let base {
                text = try ContrastiveGenerator(context: context, user: stack, base: base)
                    .generate(prompt: prompt, parameters: contrast, options: options, beforeForward: pause).0.text
            } else {
                text = try Generator(context: context, adapters: stack)
                    .generate(prompt: prompt, sampling: SamplingParameters(), options: options, beforeForward: pause)
                    .text
            }
            outcome.texts.append(Self.answer(text, like: item.output))
            if let e = formatter.example(input: item.input, output: item.output), e.targetCount > 0 {
                let s = try scorer.score(e, pause: pause)
                outcome.logLikelihoods.append(Double(s.logProbability) / Double(s.tokens))
            } else {
                outcome.logLikelihoods.append(nil)
            }
        }
        return outcome
    }

    /// `text` trimmed, cut to its first non-empty line (`SubjectLine`, as `tailor eval` scores)
    /// when `reference` is one line: a small model often runs on past a subject line.
    static func answer(_ text: String, like reference: String) -> String {
        guard !reference.trimmingCharacters(in: .whitespacesAndNewlines).contains("\n") else {
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return SubjectLine.first(text)
    }
}
