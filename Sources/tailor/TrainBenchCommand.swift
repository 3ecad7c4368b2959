import ArgumentParser
import Foundation
import TailorEngine
import TailorTraining

/// `tailor train-bench`: LoRA training throughput — forward, backward and AdamW over one
/// sequence of N tokens, all of them learned — the shape of the torch + PEFT peer
/// (Benchmarks/torch_lora_train.py).
struct TrainBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-bench", abstract: "Measure LoRA training tokens/s.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: .customShort("n"), help: "Tokens per sequence.") var tokens: Int = 256
    @Option(help: "LoRA rank.") var rank: Int = 8
    @Option(help: "Targets: all (a mixture of experts: its attention's), or a list such as q,v.")
    var targets: String = "all"
    @Option(help: "Timed steps (after one warm-up step); the median is reported.") var steps: Int = 3
    @Flag(help: "Recompute activations in the backward pass.") var checkpointing = false

    func run() throws {
        let model = try modelOptions.load()
        let list =
            targets == "all"
            ? (model.config.isMixtureOfExperts ? LoRATarget.attention : LoRATarget.allCases)
            : try targets.split(separator: ",").map {
                guard let t = LoRATarget(rawValue: String($0)) else { throw ValidationError("unknown target '\($0)'") }
                return t
            }
        let graph = TrainingGraph(
            model: model, maxTokens: tokens, maxRank: rank, checkpointing: checkpointing, threads: modelOptions.threads)
        let lora = TrainableLoRA(config: model.config, rank: rank, alpha: Float(2 * rank), targets: list, seed: 1)
        let opt = AdamW(count: lora.count, weightDecay: 0.01)
        var rng = SeededGenerator(seed: 3)
        let seq = (0..<tokens).map { _ in Int32(rng.next() % UInt64(model.config.vocabSize)) }
        var times: [Double] = []
        for i in 0...steps {
            let t0 = DispatchTime.now().uptimeNanoseconds
            lora.zeroGradients()
            let lp = try graph.forward(tokens: seq, targetStart: 1, trainable: lora)
            graph.backward(scale: -1 / Float(lp.count))
            opt.step(params: lora.params, grads: lora.grads, lr: 1e-4)
            if i > 0 { times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9) }
        }
        times.sort()
        let median = times[times.count / 2]
        print(
            String(
                format: "%@: r=%d %@, 1×%d tokens, %d threads, %@ path%@: %.2f s/step, %.1f tok/s (median of %d)",
                (modelOptions.modelPath as NSString).lastPathComponent, rank, targets, tokens, graph.threads,
                graph.forwardPath.rawValue, checkpointing ? ", checkpointing" : "", median, Double(tokens) / median,
                steps))
    }
}
