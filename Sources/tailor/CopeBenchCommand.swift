import ArgumentParser
import Foundation
import TailorEngine

/// `tailor cope-bench`: the cost of a CoPe token (user and base rows in one batch, plus the
/// contrastive choice) against a plain token of the user's model, same model and adapters.
/// Repetitions interleave the two sides; the ratio reported is the median of each repetition's
/// own ratio, so a slow stretch of a shared machine hits both sides of a pair alike.
struct CopeBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cope-bench", abstract: "Measure a CoPe decoding token against a plain one.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: .customShort("n"), help: "Tokens generated per run.") var tokens: Int = 64
    @Option(name: .customShort("r"), help: "Repetitions per side.") var repetitions: Int = 5
    @Option(help: "Run only one side, plain or cope (for a profiler).") var only: Side?
    @Option(
        help: "Prompt length in tokens (an editor's prefix runs to hundreds; each CoPe row attends to its own copy).")
    var promptTokens: Int?

    enum Side: String, ExpressibleByArgument { case plain, cope }

    func validate() throws {
        guard tokens >= 1 else { throw ValidationError("-n must be ≥ 1") }
        guard repetitions >= 1 else { throw ValidationError("-r must be ≥ 1") }
        if let n = promptTokens, n < 1 || n + tokens > 4096 {
            throw ValidationError("--prompt-tokens must be at least 1, and prompt + generated tokens at most 4096")
        }
    }

    func run() throws {
        let model = try modelOptions.load()
        var rng = SeededGenerator(seed: 7)
        // CoPe's shapes: a task adapter r=16 on q,k,v,o; a user adapter r=8 on q,v.
        let task = AdapterUse(
            try BenchCommand.randomAdapter(model: model, rank: 16, targets: [.q, .k, .v, .o], name: "task", rng: &rng))
        let user = AdapterUse(
            try BenchCommand.randomAdapter(model: model, rank: 8, targets: [.q, .v], name: "user", rng: &rng))
        let sentence = "Write a short commit subject for a change to the tokenizer."
        var prompt = model.tokenizer.encode(sentence, addSpecial: true, parseSpecial: false)
        if let n = promptTokens {  // the sentence repeated, cut to n tokens
            let more = model.tokenizer.encode(" " + sentence, addSpecial: false, parseSpecial: false)
            while prompt.count < n { prompt += more }
            prompt = Array(prompt.prefix(n))
        }
        let ctx = InferenceContext(
            model: model, maxSequences: 2, maxContext: max(512, prompt.count + tokens), maxBatchTokens: 64,
            threads: modelOptions.threads)
        let options = GenerationOptions(maxTokens: tokens, stopAtEndOfGeneration: false)
        let plain = Generator(context: ctx, sequence: 0, adapters: [task, user])
        let cope = try ContrastiveGenerator(context: ctx, user: [task, user], base: [task])
        func perToken(_ r: GenerationResult) -> Double { r.decodeSeconds / Double(max(1, r.tokens.count - 1)) }
        var p: [Double] = [], c: [Double] = [], ratios: [Double] = []
        for i in 0...repetitions {  // repetition 0 warms caches and is dropped
            let a =
                only == .cope
                ? nil : try plain.generate(prompt: prompt, sampling: SamplingParameters(), options: options)
            let b =
                only == .plain
                ? nil : try cope.generate(prompt: prompt, parameters: ContrastiveParameters(), options: options).0
            guard i > 0 else { continue }
            if let a { p.append(perToken(a)) }
            if let b { c.append(perToken(b)) }
            if let a, let b { ratios.append(perToken(b) / perToken(a)) }
        }
        let mp = p.median * 1000, mc = c.median * 1000
        print(
            String(
                format:
                    """
                    %@, %d threads, %d-token prompt: plain token %.2f ms (%.1f tok/s), CoPe token %.2f ms (%.1f \
                    tok/s): %.2f× (median of %d paired ratios)
                    """,
                (modelOptions.modelPath as NSString).lastPathComponent, ctx.threads, prompt.count, mp, 1000 / mp, mc,
                1000 / mc, ratios.median, repetitions))
    }
}
