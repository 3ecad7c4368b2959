import ArgumentParser
import Foundation
import TailorEngine

/// Sampling flags shared by commands that generate.
struct SamplingOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Temperature; 0 or less is greedy (as in llama.cpp).")
    var temperature: Float = 0
    @Option(name: .customLong("top-k"), help: "Top-k (0 disables).") var topK: Int = 0
    @Option(name: .customLong("top-p"), help: "Top-p (1 disables).") var topP: Float = 1
    @Option(name: .customLong("min-p"), help: "Min-p (0 disables).") var minP: Float = 0
    @Option(name: .customLong("repeat-penalty"), help: "Repetition penalty (1 disables).") var repeatPenalty: Float = 1
    @Option(name: .customLong("repeat-last-n"), help: "Tokens the repetition penalty looks back over.") var repeatLastN:
        Int = 64
    @Option(help: "Random seed; the same seed gives the same output.") var seed: UInt64 = 0
    @Option(
        name: .customLong("dry-multiplier"),
        help: "DRY: penalty on tokens that extend a repeat of the context (0 disables; 0.8 is usual).")
    var dryMultiplier: Float = 0
    @Option(name: .customLong("dry-base"), help: "DRY: growth of the penalty per repeated token.") var dryBase: Float =
        1.75
    @Option(name: .customLong("dry-allowed-length"), help: "DRY: longest repeat left unpenalized.")
    var dryAllowedLength: Int = 2
    @Option(name: .customLong("dry-penalty-last-n"), help: "DRY: tokens searched for repeats (0: all).") var dryLastN:
        Int = 0
    @Option(
        name: .customLong("dry-sequence-breaker"),
        help: "DRY: a string that ends a match (repeatable; default: newline, ':', '\"', '*').")
    var dryBreakers: [String] = []

    var dry: DRYParameters {
        DRYParameters(
            multiplier: dryMultiplier, base: dryBase, allowedLength: dryAllowedLength, window: dryLastN,
            breakers: dryBreakers.isEmpty ? nil : dryBreakers)
    }

    var parameters: SamplingParameters {
        SamplingParameters(
            temperature: max(0, temperature), topK: topK, topP: topP, minP: minP,
            repetitionPenalty: repeatPenalty, repetitionWindow: repeatLastN, seed: seed, dry: dry)
    }

    func validate() throws {
        do { try parameters.validate() } catch { throw ValidationError("\(error)") }
    }
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Generate text from a prompt, streamed to the terminal.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var sampling: SamplingOptions

    @Flag(help: "Wrap the prompt in the model's chat template.") var chat = false
    @Option(help: "System message (with --chat).") var system: String?
    @Option(name: [.customShort("n"), .customLong("max-tokens")], help: "Maximum new tokens.") var maxTokens: Int = 256
    @Option(name: .customLong("stop"), help: "Stop string (repeatable).") var stops: [String] = []
    @Option(name: .customLong("ctx"), help: "Context size.") var contextSize: Int = 4096
    @Flag(help: "Use f32 activations for every product (slower, reference-exact).") var exact = false
    @Flag(help: "Print timings to standard error.") var verbose = false
    @Flag(
        help:
            "Print one JSON object instead of streaming: text, token ids (EOS excluded), finish reason, prompt tokens."
    )
    var json = false
    @Option(help: "A PEFT adapter directory to apply (repeatable; applied in order).") var lora: [String] = []
    @Option(help: "Merge the --lora adapters into a private copy of the weights: q8_0 or f16.") var merge: String?
    @Option(name: .customLong("user-lora"), help: "The user's adapter (PEFT dir), applied over the --lora adapters.")
    var userLoRA: String?
    @Flag(help: "CoPe decoding: contrast --lora + --user-lora (the user's model) with --lora alone (the task model).")
    var cope = false
    @Option(help: "CoPe's α.") var alpha: Float = ContrastiveParameters().alpha
    @Option(help: "CoPe's plausibility threshold τ.") var tau: Float = ContrastiveParameters().tau
    @Argument(
        help:
            """
            The prompt; - reads it from standard input. None: an interactive chat on a terminal (/bye or Ctrl-D \
            ends it, /clear forgets), else standard input.
            """
    ) var prompt: String?

    func validate() throws {
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be ≥ 0") }
        guard contextSize >= 16 else { throw ValidationError("--ctx must be ≥ 16") }
        guard (prompt?.utf8.count ?? 0) <= StandardInput.maxPromptBytes else {
            throw ValidationError("the prompt exceeds 16 MiB")
        }
        if prompt == nil && isatty(STDIN_FILENO) != 0 && cope {
            throw ValidationError("the interactive chat decodes plainly: give a prompt to use --cope")
        }
        if prompt == nil && isatty(STDIN_FILENO) != 0 && json {
            throw ValidationError("the interactive chat has no JSON form: give a prompt to use --json")
        }
        if let merge {
            guard merge == "q8_0" || merge == "f16" else { throw ValidationError("--merge must be q8_0 or f16") }
            guard !lora.isEmpty else { throw ValidationError("--merge needs --lora") }
            guard !cope else { throw ValidationError("--cope keeps adapters unmerged: drop --merge") }
        }
        if cope && userLoRA == nil { throw ValidationError("--cope needs --user-lora") }
    }

    func run() throws {
        var model = try modelOptions.load()
        func load(_ dir: String) throws -> AdapterUse { AdapterUse(try PEFTDirectory.load(dir, model: model)) }
        var adapters = try lora.map(load)
        let userAdapter = try userLoRA.map(load)
        if let merge, !adapters.isEmpty {
            model = try model.merging(adapters, precision: merge == "f16" ? .f16 : .q8_0)
            adapters = []
        }
        let tok = model.tokenizer
        if prompt == nil && isatty(STDIN_FILENO) != 0 {
            if tok.chatTemplate == nil { Console.error(ChatWarning.text(model: modelOptions.modelPath)) }
            let ctx = InferenceContext(
                model: model, maxSequences: 1, maxContext: min(contextSize, model.config.contextLength),
                maxBatchTokens: 256, threads: modelOptions.threads, precision: exact ? .exact : .fast)
            try ChatLoop(
                generator: Generator(context: ctx, adapters: adapters + (userAdapter.map { [$0] } ?? [])),
                system: system, sampling: sampling.parameters,
                options: GenerationOptions(maxTokens: maxTokens, stopStrings: stops)
            ).run()
            return
        }
        let prompt = try StandardInput.prompt(prompt ?? "-")
        var text = prompt
        if chat {
            if tok.chatTemplate == nil { Console.error(ChatWarning.text(model: modelOptions.modelPath)) }
            let template = ChatTemplate.detect(jinja: tok.chatTemplate, architecture: model.config.architecture)
            var messages: [ChatMessage] = []
            if let s = system ?? (template == .chatML ? ChatTemplate.defaultSystemPrompt(jinja: tok.chatTemplate) : nil)
            {
                messages.append(ChatMessage(role: .system, content: s))
            }
            messages.append(ChatMessage(role: .user, content: prompt))
            text = template.render(messages)
        }
        let ids = tok.encode(text, addSpecial: true, parseSpecial: chat)
        guard !ids.isEmpty else { throw CLIError("the prompt encodes to no tokens") }
        let ctx = InferenceContext(
            model: model, maxSequences: cope ? 2 : 1, maxContext: min(contextSize, model.config.contextLength),
            maxBatchTokens: 256, threads: modelOptions.threads,
            precision: exact ? .exact : .fast)
        guard ids.count < ctx.maxContext else {
            throw CLIError("the prompt is \(ids.count) tokens; the context holds \(ctx.maxContext)")
        }
        let options = GenerationOptions(maxTokens: maxTokens, stopStrings: stops)
        let result: GenerationResult
        if cope, let userAdapter {
            // The sampling flags apply to the contrast too; top-k 0 ("off" for plain sampling)
            // keeps the contrast's own default cut.
            let p = sampling.parameters
            let parameters = ContrastiveParameters(
                alpha: alpha, tau: tau, temperature: p.temperature,
                topK: p.topK == 0 ? ContrastiveParameters().topK : p.topK,
                topP: p.topP, repetitionPenalty: p.repetitionPenalty, seed: p.seed, dry: p.dry)
            do { try parameters.validate() } catch { throw ValidationError("\(error)") }
            (result, _) = try ContrastiveGenerator(context: ctx, user: adapters + [userAdapter], base: adapters)
                .generate(
                    prompt: ids, parameters: parameters, options: options,
                    onToken: { token, _ in
                        if !json { Console.write(token.text) }
                        return true
                    }, onTail: { if !json { Console.write($0) } })
        } else {
            let gen = Generator(context: ctx, adapters: adapters + (userAdapter.map { [$0] } ?? []))
            result = try gen.generate(prompt: ids, sampling: sampling.parameters, options: options) { piece in
                if !json { Console.write(piece) }
                return true
            }
        }
        if json {
            let object: [String: Any] = [
                "text": result.text, "tokens": result.tokens.map(Int.init),
                "finish_reason": result.finishReason.rawValue,
                "prompt_tokens": result.promptTokens,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            Console.write(String(decoding: data, as: UTF8.self) + "\n")
        } else {
            Console.write("\n")
        }
        if verbose {
            let pp = Double(result.promptTokens) / max(result.prefillSeconds, 1e-9)
            let tg = Double(result.tokens.count) / max(result.decodeSeconds, 1e-9)
            Console.error(
                String(
                    format: "prompt %d tok, %.1f tok/s; generated %d tok, %.1f tok/s; finish: %@",
                    result.promptTokens, pp, result.tokens.count, tg, result.finishReason.rawValue))
        }
    }
}

/// A prompt given as "-": standard input, read to its end (at most 16 MiB), the way llama.cpp
/// and Ollama users pipe text in.
enum StandardInput {
    static let maxPromptBytes = 16 << 20

    /// `argument`, or standard input's text when it is "-".
    /// - Throws: `CLIError` when standard input is longer than the limit or not UTF-8.
    static func prompt(_ argument: String) throws -> String {
        guard argument == "-" else { return argument }
        var data = Data()
        while data.count <= maxPromptBytes {
            let chunk = FileHandle.standardInput.readData(ofLength: 1 << 16)
            if chunk.isEmpty { break }
            data += chunk
        }
        guard data.count <= maxPromptBytes else { throw CLIError("the prompt on standard input exceeds 16 MiB") }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CLIError("the prompt on standard input is not UTF-8 text")
        }
        return text
    }
}
