import ArgumentParser
import Foundation
import TailorEngine
import TailorStore

/// Measures prefill and decode speed like llama-bench's pp512 and tg128.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure prefill and decode tokens/s.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: .customShort("p"), help: "Prompt tokens for the prefill test (0 skips).") var prompt: Int = 512
    @Option(name: .customShort("n"), help: "Tokens for the decode test (0 skips).") var generate: Int = 128
    @Option(name: .customShort("r"), help: "Repetitions; the median is reported.") var repetitions: Int = 3
    @Option(name: .customLong("rows"), help: "Sequences decoded together (2 = a CoPe step's user and base rows).")
    var rows: Int = 1
    @Flag(help: "Use f32 activations for every product.") var exact = false
    @Option(name: .customLong("random-lora"), help: "Decode with a random LoRA, e.g. 8:q,v or 16:all.") var randomLoRA:
        String?
    @Option(help: "Merge the --random-lora into a private copy of the weights: q8_0 or f16.") var merge: String?
    @Option(
        name: .customLong("gemm-threshold"),
        help: "Batches of at least this many tokens take the prefill path (default: the engine's).") var gemmThreshold:
        Int?
    @Flag(
        name: .customLong("switch-adapters"), help: "Measure switching adapters between requests (needs --random-lora)."
    ) var switchAdapters = false
    @Flag(help: "Print JSON.") var json = false

    /// The rank and targets of --random-lora.
    func parseRandomLoRA() throws -> (rank: Int, targets: [LoRATarget])? {
        guard let spec = randomLoRA else { return nil }
        let parts = spec.split(separator: ":")
        guard parts.count == 2, let rank = Int(parts[0]), rank > 0, rank <= 256 else {
            throw ValidationError("--random-lora wants RANK:targets, e.g. 8:q,v or 16:all")
        }
        if parts[1] == "all" { return (rank, LoRATarget.allCases) }
        let targets = try parts[1].split(separator: ",").map { t -> LoRATarget in
            guard let target = LoRATarget(rawValue: String(t)) else {
                throw ValidationError("unknown LoRA target '\(t)' (q, k, v, o, gate, up, down)")
            }
            return target
        }
        return (rank, targets)
    }

    func validate() throws {
        _ = try parseRandomLoRA()
        if let merge {
            guard merge == "q8_0" || merge == "f16" else { throw ValidationError("--merge must be q8_0 or f16") }
            guard randomLoRA != nil else { throw ValidationError("--merge needs --random-lora") }
        }
        guard prompt >= 0, generate >= 0, prompt + generate > 0 else {
            throw ValidationError("-p and -n must be ≥ 0, not both 0")
        }
        guard repetitions >= 1 else { throw ValidationError("-r must be ≥ 1") }
        guard rows >= 1, rows <= 16 else { throw ValidationError("--rows must be 1...16") }
    }

    func run() throws {
        var model = try modelOptions.load()
        let vocab = Int32(model.config.vocabSize)
        var rng = SeededGenerator(seed: 42)
        let ctxSize = max(prompt, generate + 1) + 8
        var adapters: [AdapterUse] = []
        if let (rank, targets) = try parseRandomLoRA() {
            adapters = [
                AdapterUse(
                    try Self.randomAdapter(model: model, rank: rank, targets: targets, name: "random", rng: &rng))
            ]
            if switchAdapters {
                try benchSwitch(model: model, first: adapters[0], rank: rank, targets: targets, rng: &rng)
                return
            }
            if let merge {
                model = try model.merging(adapters, precision: merge == "f16" ? .f16 : .q8_0)
                adapters = []
            }
        }
        let ctx = InferenceContext(
            model: model, maxSequences: rows, maxContext: ctxSize,
            maxBatchTokens: max(prompt, rows), maxLogitRows: rows,
            threads: modelOptions.threads, precision: exact ? .exact : .fast, maxLoRARank: 256)
        if let gemmThreshold { ctx.gemmThreshold = gemmThreshold }
        func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

        var ppRates: [Double] = [], tgRates: [Double] = []
        if prompt > 0 {
            let toks = (0..<prompt).map { _ in Int32(rng.next() % UInt64(vocab)) }
            ctx.reset(sequence: 0)
            try ctx.forward([BatchItem(sequence: 0, tokens: toks)])  // warm-up
            for _ in 0..<repetitions {
                ctx.reset(sequence: 0)
                let t0 = now()
                try ctx.forward([BatchItem(sequence: 0, tokens: toks)])
                ppRates.append(Double(prompt) / (now() - t0))
            }
        }
        if generate > 0 {
            for rep in 0...repetitions {
                for s in 0..<rows { ctx.reset(sequence: s) }
                var next = [Int32](repeating: 1, count: rows)
                let t0 = now()
                for _ in 0..<generate {
                    try ctx.forward((0..<rows).map { BatchItem(sequence: $0, tokens: [next[$0]], adapters: adapters) })
                    for s in 0..<rows { next[s] = Sampler.argmax(ctx.logits(row: s)) }
                }
                if rep > 0 { tgRates.append(Double(generate) / (now() - t0)) }  // rep 0 warms up
            }
        }
        let name = URL(fileURLWithPath: modelOptions.modelPath).lastPathComponent
        // What the measured choice saw (kept by the model, so this does not measure again).
        let probe =
            PrefillPathSetting.processDefault == .measured && !exact
            ? model.prefillMeasurement(threads: ctx.threads) : nil
        let threads = ctx.threads
        if json {
            var fields = [
                "\"model\":\"\(name)\"", "\"threads\":\(threads)", "\"rows\":\(rows)",
                "\"kernels\":\"\(IntegerKernels.name)\"",
            ]
            if !ppRates.isEmpty {
                fields.append("\"pp\(prompt)\":\(ppRates.median)")
                fields.append("\"prefill_path\":\"\(ctx.prefillPath.rawValue)\"")
                fields.append("\"openblas\":\"\(BLASKernels.coreName)\"")
                if let m = probe {
                    for path in PrefillPath.allCases {
                        if let t = m.seconds(path) { fields.append("\"probe_\(path.rawValue)_ms\":\(t * 1000)") }
                    }
                }
            }
            if !tgRates.isEmpty { fields.append("\"tg\(generate)\":\(tgRates.median)") }
            Console.write("{" + fields.joined(separator: ",") + "}\n")
        } else {
            Console.write("| model | threads | rows | test | t/s |\n|---|---|---|---|---|\n")
            if !ppRates.isEmpty {
                Console.write(
                    String(
                        format: "| %@ | %d | %d | pp%d (%@) | %.2f |\n", name, threads, rows, prompt,
                        ctx.prefillPath.rawValue, ppRates.median))
                if let m = probe {
                    let times = PrefillPath.allCases.compactMap { path in
                        m.seconds(path).map { String(format: "%@ %.1f ms", path.rawValue, $0 * 1000) }
                    }
                    Console.write(
                        "\nprefill path measured on one layer, \(m.rows) rows: \(times.joined(separator: ", "))\n")
                }
                Console.write("OpenBLAS kernels (the float path's sgemm): \(BLASKernels.coreName)\n")
            }
            if !tgRates.isEmpty {
                Console.write(
                    String(format: "| %@ | %d | %d | tg%d | %.2f |\n", name, threads, rows, generate, tgRates.median))
                Console.write("Integer kernels (quantized rows): \(IntegerKernels.name)\n")
            }
        }
    }

    /// Requests of 4 prompt tokens and one generated token, alternating two adapters, against
    /// the same requests all on one adapter: the difference is what switching costs. Plus the
    /// daemon's per-request registry lookup (reading the `current` pointer).
    private func benchSwitch(
        model: Model, first: AdapterUse, rank: Int, targets: [LoRATarget], rng: inout SeededGenerator
    ) throws {
        let second = AdapterUse(
            try Self.randomAdapter(model: model, rank: rank, targets: targets, name: "random-2", rng: &rng))
        let ctx = InferenceContext(
            model: model, maxSequences: 1, maxContext: 64, maxBatchTokens: 16, threads: modelOptions.threads)
        let dec = BatchDecoder(context: ctx)
        let prompt = (0..<4).map { _ in Int32(rng.next() % UInt64(model.config.vocabSize)) }
        func request(_ use: AdapterUse) throws -> Double {
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = try dec.admit(
                .init(
                    prompt: prompt, options: GenerationOptions(maxTokens: 1, stopAtEndOfGeneration: false),
                    adapters: [use]))
            while dec.activeSlots > 0 { _ = try dec.step() }
            return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
        }
        for _ in 0..<5 { _ = try request(first); _ = try request(second) }
        var same: [Double] = [], alternating: [Double] = []
        for i in 0..<(2 * repetitions * 20) {
            // Interleaved pairs, so machine noise falls on both series alike.
            same.append(try request(first))
            alternating.append(try request(i % 2 == 0 ? second : first))
        }
        same.sort(); alternating.sort()
        let ms = same[same.count / 2], ma = alternating[alternating.count / 2]
        // The daemon's per-request lookup: the adapter's `current` pointer.
        let root = NSTemporaryDirectory() + "tailor-switch-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let registry = AdapterRegistry(root: root)
        let key = AdapterKey(owner: 0, kind: .user, task: "bench", user: "u")
        try registry.add(
            key,
            record: AdapterVersionRecord(
                baseModelSHA256: "", baseArchitecture: "", rank: rank, alpha: 1,
                useRSLoRA: false, targets: []), configJSON: [], weights: [0], makeCurrent: true)
        var lookups: [Double] = []
        for _ in 0..<1000 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = try registry.currentVersion(of: key)
            lookups.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e3)
        }
        lookups.sort()
        print(
            String(
                format:
                    "request, same adapter: p50 %.3f ms; alternating two adapters: p50 %.3f ms; switch cost %.3f ms",
                ms, ma, ma - ms))
        print(String(format: "registry current-pointer lookup: p50 %.1f us, p99 %.1f us", lookups[500], lookups[990]))
    }

    /// A random adapter of `rank` on `targets` in every layer, entries uniform in ±0.01.
    static func randomAdapter(
        model: Model, rank: Int, targets: [LoRATarget], name: String, rng: inout SeededGenerator
    ) throws -> LoRAAdapter {
        var weights: [LoRAAdapter.Key: LoRAWeights] = [:]
        for layer in 0..<model.config.layerCount {
            for t in targets {
                let (inputs, outputs) = model.config.shape(of: t)
                weights[.init(layer: layer, target: t)] = try LoRAWeights(
                    a: (0..<(rank * inputs)).map { _ in rng.nextUnit() * 0.02 - 0.01 },
                    b: (0..<(outputs * rank)).map { _ in rng.nextUnit() * 0.02 - 0.01 },
                    rank: rank, inputs: inputs, outputs: outputs)
            }
        }
        return LoRAAdapter(name: name, rank: rank, alpha: Float(rank), weights: weights)
    }
}
