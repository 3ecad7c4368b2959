import ArgumentParser
import Foundation
import TailorEngine
import TailorJobs
import TailorStore
import TailorTraining
import TailorWire

/// `tailor train --offline`: CoPe's stages on files, without the daemon — for scripts and
/// evaluation. Adapters are read and written as PEFT directories, negatives as JSONL pairs.
struct OfflineTraining {
    /// The files an offline run reads and writes.
    struct Files: ParsableArguments {
        @Option(
            name: .customLong("task-adapter"), help: "Offline: the task adapter (PEFT dir) applied under the user's.")
        var taskAdapter: String?
        @Option(
            name: .customLong("user-adapter"),
            help: "Offline: the user's adapter (PEFT dir) negatives score with and DPO continues.") var userAdapter:
            String?
        @Option(name: .customLong("file-user"), help: "Offline: the user_id to take from a per-user users.json.")
        var fileUser: String?
        @Option(help: "Offline: output — a PEFT dir (tam, oppu, dpo, cope) or a JSONL file of pairs (negatives).")
        var out: String?
        @Option(
            help:
                """
                Offline negatives: also write every sample as JSONL, one line per item (prompt tokens; each \
                sample's tokens, text and reward, lowest first; the one kept).
                """
        )
        var candidates: String?
        @Flag(
            name: .customLong("print-examples"),
            help:
                """
                Offline: print the token sequences the stage trains on as JSONL, in TRL's pre-tokenized columns \
                (tam, oppu: input_ids, completion_mask; dpo: prompt_ids, chosen_ids, rejected_ids), and exit.
                """
        )
        var printExamples = false
    }

    let kind: String
    let task: String
    let model: String?
    let data: String?
    let files: Files
    let parameters: Jobs.Parameters
    let threads: Int?
    /// `--prefill-path`: the setting of every context and graph the run creates (nil: the
    /// process default, `TAILOR_PREFILL_PATH` or measured).
    let prefillPath: PrefillPathSetting?

    func run() throws {
        guard let data else { throw ValidationError("--offline needs --data FILE") }
        let out = files.out ?? ""
        guard !out.isEmpty || files.printExamples else { throw ValidationError("--offline needs --out PATH") }
        if let prefillPath { PrefillPathSetting.processDefault = prefillPath }
        let model = try Model(path: try ModelOptions.path(model))
        var request = Jobs.SubmitRequest(kind: kind, user: "offline", task: task)
        request.parameters = parameters
        let spec: JobSpec
        do { spec = try JobSpec(request, shape: TrainingPreset.ModelShape(model.config)) } catch {
            throw ValidationError("\(error)")
        }
        let pipeline = PersonalizationPipeline(model: model, maxTokens: spec.maxTokens, threads: threads)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: data))
        let task = try files.taskAdapter.map { try PEFTDirectory.load($0, model: model) }.map { [AdapterUse($0)] } ?? []
        var user = try files.userAdapter.map { try PEFTDirectory.load($0, model: model) }
        let stages = spec.kind.stages
        let parsed = try PreferenceImport.parse(
            bytes, format: DataCommand.Import.guessFormat(data) == "jsonl" ? .jsonl : .perUser,
            task: self.task, user: files.fileUser)
        let history = Array(parsed.history.prefix(spec.maxItems > 0 ? spec.maxItems : .max))
        var pairs = parsed.pairs
        // DPO's reference scores of the pairs this run's negatives stage draws (a pairs file
        // read in carries none: DPO computes those).
        var references: [String: PairReference] = [:]
        if files.printExamples {
            try Self.printExamples(kind: spec.kind, history: history, pairs: pairs, pipeline: pipeline)
            return
        }
        for stage in stages {
            switch stage {
            case .tam, .oppu:
                let lora = try pipeline.supervised(
                    history.map(\.textExample), configuration: spec.sft, frozen: stage == .tam ? [] : task,
                    hooks: progress(stage))
                user = lora.adapter(name: stage.rawValue)
                if stages.count == 1 { try PEFTDirectory.save(user!, model: model, to: out) }
            case .negatives:
                guard let u = user else { throw ValidationError("negatives need --user-adapter (or run cope)") }
                let sampler = try pipeline.negatives(task: task, user: u, configuration: spec.negatives)
                pairs = []
                var lines: [UInt8] = []
                for (i, h) in history.enumerated() {
                    let draw = try sampler.draw(for: h.textExample, index: i)
                    if files.candidates != nil {
                        lines += try Self.candidatesLine(
                            index: i, prompt: draw.prompt, samples: draw.candidates, kept: draw.negative)
                    }
                    guard let worst = draw.negative,
                        let drawn = draw.stored(id: "negative:" + h.id, task: self.task, basis: "")
                    else { continue }
                    pairs.append(drawn.pair)
                    references[drawn.pair.id] = drawn.reference
                    Console.error("negatives \(i + 1)/\(history.count)  reward \(worst.reward)")
                }
                let file = stages.count == 1 ? out : out + ".negatives.jsonl"
                try AtomicFile.write(pairs.flatMap(PreferenceExport.line), to: file, mode: 0o644)
                if let path = files.candidates { try AtomicFile.write(lines, to: path, mode: 0o644) }
            case .dpo, .cope:
                guard let u = user else { throw ValidationError("dpo needs --user-adapter (or run cope)") }
                let lora = try pipeline.preference(
                    pairs.map { $0.textPreference(reference: references[$0.id]) }, continuing: u,
                    configuration: spec.dpo, frozen: task, hooks: progress(.dpo))
                try PEFTDirectory.save(lora.adapter(name: "dpo"), model: model, to: out)
            }
        }
        Console.error("wrote \(out)")
    }

    /// Each step's progress: one JSON object per line when stdout is not a terminal, else a
    /// line on stderr.
    private func progress(_ stage: JobSpec.Kind) -> PersonalizationPipeline.Hooks {
        let json = isatty(STDOUT_FILENO) == 0
        return PersonalizationPipeline.Hooks(didStep: { r, _ in
            if json {
                print(
                    """
                    {\"stage\":\"\(stage.rawValue)\",\"step\":\(r.step),\"total_steps\":\(r.totalSteps),\"loss\":\
                    \(r.loss),\"learning_rate\":\(r.learningRate)}
                    """
                )
            } else {
                Console.error(
                    String(
                        format: "%@ %d/%d  loss %.4f  lr %.2e  |g| %.3f", stage.rawValue, r.step, r.totalSteps, r.loss,
                        r.learningRate,
                        r.gradientNorm))
            }
        })
    }

    /// One `--candidates` line: history item `index`'s prompt tokens, its samples (tokens with
    /// the EOS when one ended there, text, reward), lowest reward first, and the kept sample's
    /// position among them (null when none differs from the real output).
    static func candidatesLine(
        index: Int, prompt: [Int32], samples: [ScoredCompletion], kept: ScoredCompletion?
    ) throws -> [UInt8] {
        let object: [String: Any] = [
            "index": index, "prompt_tokens": prompt.map(Int.init),
            "samples": samples.map {
                ["tokens": $0.tokens.map(Int.init), "text": $0.text, "reward": Double($0.reward)]
            },
            "kept": kept.flatMap { k in samples.firstIndex { $0.tokens == k.tokens } } ?? NSNull(),
        ]
        return Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) + [UInt8(ascii: "\n")]
    }

    /// `--print-examples`: the sequences `kind`'s training stage reads, one JSON object per
    /// line, as TRL's trainers take pre-tokenized data, so another trainer can be fed exactly
    /// Tailor's tokens. A DPO pair whose rejected side kept a shorter prompt (both sides are
    /// truncated to fit on their own) also carries `rejected_prompt_ids`.
    static func printExamples(
        kind: JobSpec.Kind, history: [HistoryItem], pairs: [PreferencePair], pipeline: PersonalizationPipeline
    ) throws {
        func ints(_ t: ArraySlice<Int32>) -> [Int] { t.map(Int.init) }
        var rows: [[String: Any]] = []
        switch kind {
        case .tam, .oppu:
            rows = pipeline.examples(history.map(\.textExample)).map { e in
                [
                    "input_ids": ints(e.tokens[...]),
                    "completion_mask": (0..<e.tokens.count).map { $0 < e.targetStart ? 0 : 1 },
                ]
            }
        case .dpo:
            rows = pipeline.examples(pairs.map(\.textPreference)).map { p in
                var row: [String: Any] = [
                    "prompt_ids": ints(p.chosen.tokens[..<p.chosen.targetStart]),
                    "chosen_ids": ints(p.chosen.tokens[p.chosen.targetStart...]),
                    "rejected_ids": ints(p.rejected.tokens[p.rejected.targetStart...]),
                ]
                let rejectedPrompt = p.rejected.tokens[..<p.rejected.targetStart]
                if rejectedPrompt != p.chosen.tokens[..<p.chosen.targetStart] {
                    row["rejected_prompt_ids"] = ints(rejectedPrompt)
                }
                return row
            }
        case .negatives, .cope:
            throw ValidationError("--print-examples prints one training stage: tam, oppu or dpo")
        }
        for row in rows {
            let data = try JSONSerialization.data(withJSONObject: row, options: [.sortedKeys])
            Console.write(String(decoding: data, as: UTF8.self) + "\n")
        }
    }
}
