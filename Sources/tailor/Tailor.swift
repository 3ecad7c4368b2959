import ArgumentParser
import Foundation
import TailorEngine
import TailorModels
import TailorWire

/// `tailor`: the command line of Tailor. Offline commands run straight on the engine; the others
/// are thin calls through TailorClient to the daemon.
@main
struct Tailor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tailor",
        abstract: "Personalized LLM runtime: run, inspect and benchmark GGUF models on the CPU, and talk to tailord.",
        discussion:
            """
            run, tokenize, logits and bench work offline on the engine; status, models and generate go through \
            the daemon.
            """,
        version: tailorVersion,
        subcommands: [
            RunCommand.self, TokenizeCommand.self, LogitsCommand.self, BenchCommand.self,
            DaemonCommand.self, StatusCommand.self, ModelsCommand.self, GenerateCommand.self, AdaptersCommand.self,
            DataCommand.self, TrainCommand.self, JobsCommand.self, TrainBenchCommand.self, RougeCommand.self,
            CopeBenchCommand.self, EvalCommand.self, DemoCommand.self, GitCommand.self, BridgeCommand.self,
            AutopilotCommand.self,
        ]
    )

    /// Parses and runs as ArgumentParser does, but a mistyped subcommand gets "did you mean"
    /// instead of "Unexpected argument". First, a host whose OpenBLAS fell back to its slow
    /// kernels restarts with the right ones (`BLASKernels`).
    static func main() async {
        BLASKernels.restartIfFallback()
        let arguments = Array(CommandLine.arguments.dropFirst())
        var command: any ParsableCommand
        do {
            command = try parseAsRoot(arguments)
        } catch {
            if let message = CommandSuggestion.message(for: arguments, root: Tailor.self) {
                Console.error("Error: " + message)
                Foundation.exit(64)  // EX_USAGE
            }
            exit(withError: error)
        }
        do {
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

/// Options shared by commands that load a model.
struct ModelOptions: ParsableArguments {
    @Option(
        name: .long,
        help:
            """
            GGUF model: a file, a name in Tailor's models directory or an Ollama model such as gemma3:270m \
            (`tailor models available`; default: the model Scripts/fetch-model.sh installs).
            """
    )
    var model: String?

    @Option(name: [.customShort("t"), .long], help: "Threads (default: all cores).")
    var threads: Int?

    @Option(
        name: .customLong("prefill-path"),
        help: "How prompts multiply by quantized weights: auto (measured), float (sgemm), integer or bf16 (oneDNN).")
    var prefillPath: String?

    /// The model file: --model (a path or a name), else $TAILOR_MODEL, else the fetched default.
    /// An unknown name stays as given, so opening it reports the file name.
    var modelPath: String { Self.resolve(model) ?? (model ?? Self.defaultModelPath) }

    /// The file `argument` (nil: the default model) names, or nil when none is found.
    static func resolve(_ argument: String?) -> String? {
        try? ModelCatalog().resolve(argument ?? defaultModelPath)
    }

    /// The file `argument` (nil: the default model) names.
    /// - Throws: `CLIError` saying where the catalog looked.
    static func path(_ argument: String?) throws -> String {
        do { return try ModelCatalog().resolve(argument ?? defaultModelPath) } catch {
            if argument == nil {
                throw CLIError("no model at \(defaultModelPath): run Scripts/fetch-model.sh, or pass --model")
            }
            throw CLIError("\(error)")
        }
    }

    /// $TAILOR_MODEL, else the model Scripts/fetch-model.sh installs.
    static var defaultModelPath: String {
        let env = ProcessInfo.processInfo.environment
        if let m = env["TAILOR_MODEL"] { return m }
        let dir =
            env["TAILOR_MODELS_DIR"]
            ?? ((env["XDG_DATA_HOME"] ?? NSHomeDirectory() + "/.local/share") + "/tailor/models")
        return dir + "/SmolLM2-135M-Instruct.Q4_1.gguf"
    }

    /// Loads the model, first making --prefill-path the setting of every context this process
    /// creates (the engine's contexts and the trainer's scorers alike).
    func load() throws -> Model {
        if let prefillPath, let setting = PrefillPathSetting(prefillPath) {
            PrefillPathSetting.processDefault = setting
        }
        let path = try Self.path(model)
        do {
            return try Model(path: path)
        } catch {
            throw CLIError("cannot use \(path) as a model: \(error)")
        }
    }

    func validate() throws {
        if let threads, threads < 1 || threads > 1024 { throw ValidationError("--threads must be between 1 and 1024") }
        _ = try Self.prefillSetting(prefillPath)
    }

    /// The setting `--prefill-path` spells (nil when absent), for every command that takes it.
    /// - Throws: `ValidationError` listing the spellings.
    static func prefillSetting(_ text: String?) throws -> PrefillPathSetting? {
        guard let text else { return nil }
        guard let setting = PrefillPathSetting(text) else {
            throw ValidationError("--prefill-path must be one of \(PrefillPathSetting.spellings), not '\(text)'")
        }
        return setting
    }
}

/// Writes to standard output immediately (streamed text must not wait for a newline).
enum Console {
    static func write(_ s: String, to fd: Int32 = STDOUT_FILENO) {
        var s = s
        s.withUTF8 { buf in
            var off = 0
            while off < buf.count {
                let n = Foundation.write(fd, buf.baseAddress! + off, buf.count - off)
                if n <= 0 { return }
                off += n
            }
        }
    }

    static func error(_ s: String) {
        var s = s + "\n"
        s.withUTF8 { buf in _ = Foundation.write(STDERR_FILENO, buf.baseAddress!, buf.count) }
    }
}

/// Reads a text file the user named, with an error naming it.
func readTextFile(_ path: String, limit: Int = 64 << 20) throws -> String {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ValidationError("cannot read file '\(path)'")
    }
    guard data.count <= limit else {
        throw ValidationError("file '\(path)' is \(data.count) bytes; the limit is \(limit)")
    }
    guard let s = String(data: data, encoding: .utf8) else {
        throw ValidationError("file '\(path)' is not valid UTF-8")
    }
    return s
}
