import ArgumentParser
import Foundation
import TailorClient
import TailorEngine
import TailorModels
import TailorWire

/// How client commands find the daemon.
struct ConnectionOptions: ParsableArguments {
    @Option(
        help:
            """
            tailord's socket (default: $TAILOR_SOCKET, then $XDG_RUNTIME_DIR/tailor/tailord.sock, else \
            /tmp/tailor-UID/tailord.sock if a user daemon listens there, then /run/tailor/tailord.sock).
            """
    )
    var socket: String?

    /// Connects, turning "nothing listens there" into a message that says what to do.
    func connect() async throws -> TailorClient {
        let path = TailorClient.socketPath(flag: socket)
        do {
            return try await TailorClient.connect(to: path, clientName: "tailor-cli/\(tailorVersion)")
        } catch let e as TailorClientError {
            guard case .unreachable = e else { throw CLIError("tailord at \(path): " + CLIError.text(e)) }
            throw CLIError(
                CLIError.text(e)
                    + "; start it with `systemctl --user start tailord.socket` or `tailor daemon run`, or pass --socket"
            )
        }
    }
}

/// Runs `body` with a connected client, closing it afterwards and turning call failures into
/// messages.
func withClient<T>(_ options: ConnectionOptions, _ body: (TailorClient) async throws -> T) async throws -> T {
    let client = try await options.connect()
    do {
        let r = try await body(client)
        await client.close()
        return r
    } catch let e as TailorClientError {
        await client.close()
        throw CLIError(CLIError.text(e))
    } catch {
        await client.close()
        throw error
    }
}

/// A failure at run time (not a usage mistake): printed as "Error: …" without the usage text.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }

    /// A daemon's error as a person reads it: its message, without the status code and the
    /// protocol's field path, which `TAILOR_DEBUG=1` adds back for developers.
    static func text(_ e: TailorClientError) -> String {
        ProcessInfo.processInfo.environment["TAILOR_DEBUG"].map { !$0.isEmpty && $0 != "0" } == true
            ? e.description : e.message
    }
}

/// `tailor status`: is the daemon up, and what does it serve.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show the daemon's health: version, models, uptime, queue.")
    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "Print one JSON object: version, uptime_seconds, queue_depth, models, socket.") var json = false

    func run() async throws {
        let h = try await withClient(connection) { try await $0.health() }
        if json {
            let object: [String: Any] = [
                "version": h.version, "uptime_seconds": h.uptimeMS / 1000, "queue_depth": h.queueDepth,
                "models": h.models, "socket": TailorClient.socketPath(flag: connection.socket),
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("tailord \(h.version), up \(h.uptimeMS / 1000) s, \(h.queueDepth) request(s) waiting")
        print(h.models.isEmpty ? "no models loaded" : "models: \(h.models.joined(separator: ", "))")
    }
}

/// `tailor models ls|load|unload`.
struct ModelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models", abstract: "List, load and unload the daemon's base models; list the local ones.",
        subcommands: [List.self, Load.self, Unload.self, Available.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List loaded models.")
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let models = try await withClient(connection) { try await $0.models() }
            if models.isEmpty { print("no models loaded"); return }
            print("ID\tARCH\tPARAMS\tCONTEXT\tSHA256\tPATH")
            for m in models {
                print(
                    """
                    \(m.id)\t\(m.architecture)\t\(m.parameters / 1_000_000)M params\tctx \
                    \(m.contextLength)\t\(m.sha256.prefix(12))\t\(m.path)
                    """
                )
            }
        }
    }

    struct Load: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Load a GGUF model into the daemon.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "Id to serve it under (default: the file name without .gguf).") var id: String = ""
        @Argument(
            help:
                """
                The GGUF file, or a model's name in Tailor's models directory or Ollama's store (`tailor models \
                available`).
                """
        ) var path: String

        func run() async throws {
            let file = try ModelOptions.path(path)
            let m = try await withClient(connection) { try await $0.loadModel(path: file, id: id) }
            print("loaded \(m.id) (\(m.architecture), sha256 \(m.sha256))")
        }
    }

    struct Available: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the GGUF models on this machine that --model and `models load` take by name.",
            discussion:
                """
                Tailor's models directory ($TAILOR_MODELS_DIR, else $XDG_DATA_HOME/tailor/models or \
                ~/.local/share/tailor/models; Scripts/fetch-model.sh puts models there) and the models Ollama has \
                pulled ($OLLAMA_MODELS, else ~/.ollama/models and /usr/share/ollama/.ollama/models).
                """
        )

        func run() throws {
            let catalog = ModelCatalog()
            let models = catalog.available()
            if models.isEmpty {
                print("no models in \(catalog.directory.path) or Ollama's store; Scripts/fetch-model.sh fetches one")
                return
            }
            let width = max(4, models.map(\.name.count).max() ?? 0)
            func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
            print(pad("NAME", width) + "  SOURCE  " + pad("SIZE", 9) + "  PATH")
            for m in models {
                let size = String(format: "%.1f MB", Double(m.bytes) / 1e6)
                print(pad(m.name, width) + "  " + pad(m.source, 6) + "  " + pad(size, 9) + "  " + m.path)
            }
        }
    }

    struct Unload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Unload a model; its running requests end UNAVAILABLE.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The model id.") var id: String

        func run() async throws {
            try await withClient(connection) { try await $0.unloadModel(id: id) }
            print("unloaded \(id)")
        }
    }
}

/// `tailor generate`: stream a generation through the daemon.
struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "Generate text through the daemon, streamed.")
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Model id (default: the only loaded model).") var model: String = ""
    @Flag(help: "Send the prompt as a chat message, rendered with the model's template.") var chat = false
    @Option(help: "System message (with --chat).") var system: String?
    @Option(
        name: [.customShort("n"), .customLong("max-tokens")], help: "Maximum new tokens (0: the daemon's default).")
    var maxTokens: UInt32 = 0
    @Option(name: .customLong("stop"), help: "Stop string (repeatable).") var stops: [String] = []
    @Option(parsing: .unconditional, help: "Temperature; 0 or less is greedy (as in llama.cpp).")
    var temperature: Float = 0
    @Option(
        name: .customLong("top-k"),
        help: "Top-k, 0 disables (cope and cd-only: 0 keeps their cut of \(ContrastiveParameters().topK)).")
    var topK: UInt32 = 0
    @Option(
        name: .customLong("top-p"),
        help: "Top-p, 1 disables (default: 1; cope and cd-only: \(ContrastiveParameters().topP)).")
    var topP: Float?
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(name: .customLong("timeout-ms"), help: "Deadline for the whole generation (0: none).") var timeoutMS:
        UInt32 = 0
    @Option(help: "Personalize for this user (with --task): their current task and user adapters.") var user: String =
        ""
    @Option(help: "Task whose adapters to apply.") var task: String = ""
    @Option(help: "Decoding mode: base, tam, oppu, dpo-only, cope or cd-only (default: from --user/--task).") var mode:
        String = ""
    @Option(help: "CoPe's α (cope, cd-only).") var alpha: Float = ContrastiveParameters().alpha
    @Option(help: "CoPe's τ (cope, cd-only).") var tau: Float = ContrastiveParameters().tau
    @Flag(
        help:
            """
            When the mode's adapters are missing, decode with what exists instead of failing (a note on standard \
            error says what ran).
            """
    ) var fallback = false
    @Flag(help: "Print statistics, the mode that ran and its adapters to standard error.") var verbose = false
    @Argument(help: "The prompt; - reads it from standard input.") var prompt: String

    func run() async throws {
        let prompt = try StandardInput.prompt(prompt)
        var messages: [GenerateRequest.ChatMessage] = []
        if let system { messages.append(.init(role: "system", content: system)) }
        messages.append(.init(role: "user", content: prompt))
        let request = GenerateRequest(
            model: model, input: chat ? .chat(messages) : .prompt(prompt),
            // 0: the daemon's default
            sampling: .init(temperature: max(0, temperature), topK: topK, topP: topP ?? 0, seed: seed),
            stop: stops, maxTokens: maxTokens, user: user, task: task)
        var personalized = request
        personalized.mode = mode
        personalized.copeAlpha = alpha
        personalized.copeTau = tau
        personalized.fallback = fallback
        try await withClient(connection) { client in
            if chat, let m = try await client.models().first(where: { model.isEmpty || $0.id == model }),
                !m.hasChatTemplate
            {
                Console.error(ChatWarning.text(model: m.id))
            }
            for try await event in try client.generate(personalized, timeoutMS: timeoutMS) {
                switch event {
                case let .token(_, _, text, _):
                    Console.write(text)
                case let .contrastiveToken(_, _, text, lu, lb, reward):
                    Console.write(text)
                    if verbose {
                        Console.error(
                            String(format: "  [log π_user %.3f, log π_base %.3f, reward %.3f]", lu, lb, reward))
                    }
                case let .stats(s):
                    Console.write(s.tailText + "\n")
                    if s.fallback {
                        Console.error(
                            "note: mode \(mode.isEmpty ? "(default)" : mode) could not be served; ran \(s.mode)")
                    }
                    if verbose {
                        let adapters =
                            s.adapters.isEmpty ? "no adapters" : s.adapters.map(\.spelled).joined(separator: ", ")
                        Console.error("mode \(s.mode) with \(adapters)")
                        Console.error(
                            """
                            prompt \(s.promptTokens) tok (\(s.cachedTokens) from the prompt cache), generated \
                            \(s.generatedTokens) tok, 
                            """
                                + """
                                first token \(s.timeToFirstTokenMS) ms, total \(s.totalMS) ms, finish: \
                                \(s.finishReason)
                                """
                        )
                    }
                }
            }
        }
    }
}

/// The warning before chat input reaches a model without a chat template (most base models,
/// such as Gemma 3 270M): it gets a generic layout it was never trained on.
enum ChatWarning {
    static func text(model: String) -> String {
        "warning: \((model as NSString).lastPathComponent) has no chat template (likely a base model, not an "
            + "instruction-tuned one); --chat uses a generic layout it was not trained on, so expect poor answers"
    }
}
