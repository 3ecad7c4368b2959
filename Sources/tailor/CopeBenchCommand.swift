import ArgumentParser
import Foundation
import TailorEngine

/// `tailor cope-bench`: the cost of a CoPe token (user and base rows in one batch, plus the
/// contrastive choice) against a plain token of the user's model, same model and adapters,
/// interleaved repetitions, medians.
struct CopeBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cope-bench", abstract: "Measure a CoPe decoding token against a plain one.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: .customShort("n"), help: "Tokens generated per run.") var tokens: Int = 64
    @Option(name: .customShort("r"), help: "Repetitions per side.") var repetitions: Int = 5

    func run() throws {
        let model = try modelOptions.load()
        var rng = SeededGenerator(seed: 7)
        // CoPe's shapes: a task adapter r=16 on q,k,v,o; a user adapter r=8 on q,v.
        let task = AdapterUse(try BenchCommand.randomAdapter(model: model, rank: 16, targets: [.q, .k, .v, .o], name: "task", rng: &rng))
        let user = AdapterUse(try BenchCommand.randomAdapter(model: model, rank: 8, targets: [.q, .v], name: "user", rng: &rng))
        let ctx = InferenceContext(model: model, maxSequences: 2, maxContext: 512, maxBatchTokens: 64, threads: modelOptions.threads)
        let prompt = model.tokenizer.encode("Write a short commit subject for a change to the tokenizer.", addSpecial: true, parseSpecial: false)
        let options = GenerationOptions(maxTokens: tokens, stopAtEndOfGeneration: false)
        let plain = Generator(context: ctx, sequence: 0, adapters: [task, user])
        let cope = try ContrastiveGenerator(context: ctx, user: [task, user], base: [task])
        var p: [Double] = [], c: [Double] = []
        for i in 0...repetitions {
            let a = try plain.generate(prompt: prompt, sampling: SamplingParameters(), options: options)
            let (b, _) = try cope.generate(prompt: prompt, parameters: ContrastiveParameters(), options: options)
            if i > 0 {
                p.append(a.decodeSeconds / Double(max(1, a.tokens.count - 1)))
                c.append(b.decodeSeconds / Double(max(1, b.tokens.count - 1)))
            }
        }
        p.sort(); c.sort()
        let mp = p[p.count / 2] * 1000, mc = c[c.count / 2] * 1000
        print(String(format: "%@, %d threads: plain token %.2f ms (%.1f tok/s), CoPe token %.2f ms (%.1f tok/s): %.2f× (median of %d)",
                     (modelOptions.modelPath as NSString).lastPathComponent, ctx.threads, mp, 1000 / mp, mc, 1000 / mc, mc / mp, repetitions))
    }
}
