import ArgumentParser
import Foundation
import Logging
import TailorEngine

/// The daemon's command-line flags, shared by `tailord` and `tailor daemon run`. Each flag
/// overrides the config file's setting of the same name.
public struct DaemonOptions: ParsableArguments {
    @Option(
        help:
            """
            Config file (default: $XDG_CONFIG_HOME/tailor/tailord.conf, or /etc/tailor/tailord.conf with --mode \
            system).
            """
    )
    public var config: String?

    @Option(
        help: "user: one user's daemon (XDG paths, socket 0600); system: the machine's (/run/tailor, /var/lib/tailor).")
    public var mode: String?

    @Option(help: "Socket path (default: $XDG_RUNTIME_DIR/tailor/tailord.sock, or /run/tailor/tailord.sock).")
    public var socket: String?

    @Option(
        name: .customLong("state-dir"), help: "State directory (default: $XDG_STATE_HOME/tailor, or /var/lib/tailor).")
    public var stateDir: String?

    @Option(
        help:
            """
            GGUF model to load at start: a file, or a name in Tailor's models directory or Ollama's store \
            (repeatable; replaces the config file's list).
            """
    )
    public var model: [String] = []

    @Option(name: [.customShort("t"), .long], help: "Threads for the forward pass (default: all cores).")
    public var threads: Int?

    @Option(
        name: .customLong("prefill-path"),
        help: "How prompts multiply by quantized weights: auto (measured at load), float (sgemm), integer or bf16.")
    public var prefillPath: String?

    @Option(help: "Generations that run at once per model.")
    public var slots: Int?

    @Option(help: "Positions per generation.")
    public var context: Int?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    public var logLevel: String?

    @Flag(
        name: .customLong("exit-with-parent"),
        help: "Shut down when the process that started the daemon ends (a command's private daemon).")
    public var exitWithParent = false

    public init() {}

    /// The configuration: defaults, then the config file, then these flags.
    /// - Throws: `ValidationError` naming a bad flag, or the config file's `ConfigError`.
    public func resolve(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> DaemonConfiguration {
        var c = DaemonConfiguration()
        if let mode {
            guard let m = DaemonMode(rawValue: mode) else { throw ValidationError("--mode must be 'user' or 'system'") }
            c.mode = m
        }
        let file = config ?? DaemonConfiguration.defaultFilePath(mode: c.mode, environment: environment)
        if FileManager.default.fileExists(atPath: file) {
            guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8)
            else {
                throw ValidationError("cannot read config file \(file) as UTF-8 text")
            }
            try c.apply(configFile: text, path: file)
            if let mode { c.mode = DaemonMode(rawValue: mode)! }
        } else if config != nil {
            throw ValidationError("config file \(file) does not exist")
        }
        let cwd = FileManager.default.currentDirectoryPath
        func absolute(_ p: String) -> String { p.hasPrefix("/") ? p : cwd + "/" + p }
        if let socket { c.socket = absolute(socket) }
        if let stateDir { c.stateDirectory = absolute(stateDir) }
        if !model.isEmpty { c.models = model.map { FileManager.default.fileExists(atPath: $0) ? absolute($0) : $0 } }
        if let threads {
            guard (1...1024).contains(threads) else { throw ValidationError("--threads must be between 1 and 1024") }
            c.generation.threads = threads
        }
        if let prefillPath {
            guard let setting = PrefillPathSetting(prefillPath) else {
                throw ValidationError("--prefill-path must be one of \(PrefillPathSetting.spellings)")
            }
            c.generation.prefillPath = setting
        }
        if let slots {
            guard (1...64).contains(slots) else { throw ValidationError("--slots must be between 1 and 64") }
            c.generation.slots = slots
        }
        if let context {
            guard context >= 16 else { throw ValidationError("--context must be at least 16") }
            c.generation.contextLength = context
        }
        if let logLevel {
            guard let l = Logger.Level(rawValue: logLevel) else {
                throw ValidationError("unknown --log-level '\(logLevel)'")
            }
            c.logLevel = l
        }
        if exitWithParent { c.parentProcess = getppid() }
        return c
    }

    /// Resolves the configuration, sets up journald-aware logging and runs the daemon until
    /// SIGTERM/SIGINT: what `tailord` and `tailor daemon run` do.
    /// - Throws: `ExitCode.failure` after logging why the daemon could not run.
    public func runDaemon() async throws {
        let config = try resolve()
        let level = config.logLevel
        LoggingSystem.bootstrap { JournaldLogHandler(label: $0, level: level) }
        let logger = Logger(label: "tailord")
        do {
            try await Daemon(configuration: config, logger: logger).run()
        } catch {
            logger.critical("\(error)")
            throw ExitCode.failure
        }
    }
}
