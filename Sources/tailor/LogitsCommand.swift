import ArgumentParser
import Foundation
import TailorEngine

struct LogitsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logits",
        abstract: "Print the top-N logits of the last position (or of every position) as JSON.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: .customLong("prompt-file"), help: "File holding the prompt text.") var promptFile: String?
    @Option(name: .customLong("tokens"), help: "Comma-separated token ids instead of a prompt file.") var tokens:
        String?
    @Option(help: "How many logits per position.") var top: Int = 10
    @Flag(help: "Every position, not only the last.") var all = false
    @Flag(help: "Print JSON (the only format).") var json = false
    @Flag(help: "Use f32 activations for every product.") var exact = false
    @Option(help: "A PEFT adapter directory to apply (repeatable; applied in order, as `run --lora`).")
    var lora: [String] = []

    func validate() throws {
        guard (promptFile == nil) != (tokens == nil) else {
            throw ValidationError("give exactly one of --prompt-file or --tokens")
        }
        guard top >= 1 else { throw ValidationError("--top must be ≥ 1") }
    }

    func run() throws {
        let model = try modelOptions.load()
        let ids: [Int32]
        if let tokens {
            ids = try tokens.split(separator: ",").map {
                guard let v = Int32($0.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("bad token id '\($0)'")
                }
                return v
            }
        } else {
            ids = model.tokenizer.encode(try readTextFile(promptFile!), addSpecial: true, parseSpecial: true)
        }
        guard !ids.isEmpty else { throw ValidationError("the prompt encodes to no tokens") }
        let adapters = try lora.map { AdapterUse(try PEFTDirectory.load($0, model: model)) }
        let n = ids.count
        let ctx = InferenceContext(
            model: model, maxContext: max(n, 16), maxBatchTokens: n,
            maxLogitRows: all ? n : 1, threads: modelOptions.threads,
            precision: exact ? .exact : .fast)
        let rows: Int
        do {
            rows = try ctx.forward([BatchItem(sequence: 0, tokens: ids, allLogits: all, adapters: adapters)])
        } catch {
            throw ValidationError("\(error)")
        }
        var out: [String] = []
        for r in 0..<rows {
            let l = ctx.logits(row: r)
            let k = min(top, l.count)
            let best = (0..<l.count).sorted { l[$0] > l[$1] }.prefix(k)
            let pairs = best.map { "[\($0),\(l[$0])]" }.joined(separator: ",")
            let position = all ? r : n - 1
            out.append("{\"position\":\(position),\"top\":[\(pairs)]}")
        }
        Console.write("[" + out.joined(separator: ",\n") + "]\n")
    }
}
