import Foundation
import Logging
import TailorEngine
import TailorStore

/// Everything tailord is configured with: the config file first, then command-line flags
/// over it, then defaults for what neither set (XDG paths in user mode, FHS in system mode).
public struct DaemonConfiguration: Sendable, Equatable {
    /// User or system daemon.
    public var mode: DaemonMode = .user
    /// The socket path; nil for the mode's default.
    public var socket: String?
    /// The state directory; nil for the mode's default.
    public var stateDirectory: String?
    /// GGUF models to load at startup.
    public var models: [String] = []
    /// How generation is planned per model.
    public var generation = GenerationSettings()
    /// Per-connection limits.
    public var limits = ConnectionLimits()
    /// How long open streams may finish after SIGTERM.
    public var shutdownGrace: Duration = .seconds(10)
    /// Shut down when this process is no longer the parent (`--exit-with-parent`).
    public var parentProcess: pid_t?
    /// Messages below this level are dropped.
    public var logLevel: Logger.Level = .info
    /// Size limits and per-user quotas of preference data.
    public var preferences = PreferenceLimits()
    /// Threads of a training step; the rest of the cores stay free for decoding.
    public var trainingThreads = 1
    /// Training jobs queued or running at once, over all uids (`max_jobs`).
    public var maxJobs = 64
    /// Training jobs one uid may have queued or running (`max_jobs_per_uid`). nil: no share
    /// below `maxJobs` (a user daemon serves one person); a system daemon sets 4.
    public var maxJobsPerUID: Int?

    /// The per-uid shares a system daemon applies when the config sets none: there, every uid
    /// on the machine is a client, and none may starve another.
    public static let systemShares = (connections: 64, queued: 32, jobs: 4)

    /// This configuration with the mode's per-uid shares filled in where none was configured:
    /// a system daemon's defaults (`systemShares`); a user daemon keeps none.
    public func withModeShares() -> DaemonConfiguration {
        guard mode == .system else { return self }
        var c = self
        c.limits.maxConnectionsPerUID = c.limits.maxConnectionsPerUID ?? Self.systemShares.connections
        c.generation.maxQueuedPerUID = c.generation.maxQueuedPerUID ?? Self.systemShares.queued
        c.maxJobsPerUID = c.maxJobsPerUID ?? Self.systemShares.jobs
        return c
    }
    /// The llama.cpp-compatible HTTP endpoint (off by default).
    public var http = HTTPEndpointConfiguration()
    /// When the daemon trains users' adapters by itself (on by default).
    public var autopilot = AutopilotSettings()

    /// The defaults.
    public init() {}

    /// The config file read when none is named: `$XDG_CONFIG_HOME/tailor/tailord.conf` in user
    /// mode, /etc/tailor/tailord.conf in system mode.
    public static func defaultFilePath(
        mode: DaemonMode, environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String {
        switch mode {
        case .system: return "/etc/tailor/tailord.conf"
        case .user:
            let home = environment["HOME"] ?? NSHomeDirectory()
            let config = environment["XDG_CONFIG_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? home + "/.config"
            return config + "/tailor/tailord.conf"
        }
    }

    /// The socket and state paths, filling in the mode's defaults.
    public func paths(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> DaemonPaths {
        if let socket, let stateDirectory { return DaemonPaths(socket: socket, stateDirectory: stateDirectory) }
        let d = try DaemonPaths.defaults(mode: mode, environment: environment)
        return DaemonPaths(socket: socket ?? d.socket, stateDirectory: stateDirectory ?? d.stateDirectory)
    }

    /// Applies a config file's settings over self.
    ///
    /// The format is one `key = value` per line; `#` starts a comment; `model` may repeat and
    /// takes an absolute path or a name (`gemma3:270m`, a file in Tailor's models directory).
    /// Keys: mode, socket, state_dir, model, threads, slots, context, batch_tokens, max_queued,
    /// max_queued_per_uid, max_tokens, prefill_path, max_streams, max_connections, max_connections_per_uid,
    /// hello_timeout_seconds, idle_timeout_seconds, max_buffered_upload_bytes,
    /// max_pending_write_bytes, shutdown_grace_seconds, log_level, and the
    /// preference data's limits: max_field_bytes, max_items_per_user, max_bytes_per_user,
    /// max_users_per_uid, max_bytes_per_uid, max_import_bytes, import_batch; training_threads,
    /// max_jobs, max_jobs_per_uid; the HTTP endpoint's http_socket, http_listen,
    /// http_token_file, http_mode, http_user, http_task, http_max_body_bytes,
    /// http_header_timeout_seconds, http_body_timeout_seconds; and the autopilot's keys
    /// (`AutopilotSettings`).
    /// - Throws: `ConfigError` naming the file, the line and the problem: an unknown key, a
    ///   value of the wrong kind, a line without "=".
    public mutating func apply(configFile text: String, path: String) throws {
        var modelsFromFile: [String] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line =
                raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { continue }
            guard let eq = trimmed.firstIndex(of: "=") else {
                throw ConfigError(path: path, line: n + 1, problem: "expected 'key = value'")
            }
            let key = trimmed[..<eq].trimmingCharacters(in: .whitespaces)
            var value = trimmed[trimmed.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
                value = String(value.dropFirst().dropLast())
            }
            func fail(_ problem: String) -> ConfigError { ConfigError(path: path, line: n + 1, problem: problem) }
            func int(_ range: ClosedRange<Int>) throws -> Int {
                do { return try ConfigValue(key: key, text: value).int(range) } catch let p as ConfigProblem {
                    throw fail(p.message)
                }
            }
            switch key {
            case "mode":
                guard let m = DaemonMode(rawValue: value) else {
                    throw fail("mode must be 'user' or 'system', not '\(value)'")
                }
                mode = m
            case "socket":
                guard value.hasPrefix("/") else { throw fail("socket must be an absolute path") }
                socket = value
            case "state_dir":
                guard value.hasPrefix("/") else { throw fail("state_dir must be an absolute path") }
                stateDirectory = value
            case "model":
                // An absolute path, or a name the daemon's `ModelCatalog` resolves at start.
                guard !value.isEmpty, value.hasPrefix("/") || !value.hasPrefix(".") else {
                    throw fail("model must be an absolute path or a model's name (`tailor models available`)")
                }
                modelsFromFile.append(value)
            case "threads": generation.threads = try int(1...1024)
            case "slots": generation.slots = try int(1...64)
            case "context": generation.contextLength = try int(16...1 << 20)
            case "batch_tokens": generation.batchTokens = try int(8...8192)
            case "max_queued": generation.maxQueued = try int(1...1 << 16)
            case "max_queued_per_uid": generation.maxQueuedPerUID = try int(1...1 << 16)
            case "max_tokens": generation.defaultMaxTokens = try int(1...1 << 20)
            case "prefill_path":
                guard let setting = PrefillPathSetting(value) else {
                    throw fail("prefill_path must be one of \(PrefillPathSetting.spellings), not '\(value)'")
                }
                generation.prefillPath = setting
            case "max_streams": limits.maxStreams = try int(1...1 << 16)
            case "max_connections": limits.maxConnections = try int(1...1 << 20)
            case "max_connections_per_uid": limits.maxConnectionsPerUID = try int(1...1 << 20)
            case "hello_timeout_seconds": limits.helloTimeout = .seconds(try int(1...3600))
            case "max_buffered_upload_bytes": limits.maxBufferedUploadBytes = try int(64 << 10...1 << 30)
            case "max_pending_write_bytes": limits.maxPendingWriteBytes = try int(64 << 10...1 << 30)
            case "idle_timeout_seconds":
                let v = try int(0...1 << 24)
                limits.idleTimeout = v == 0 ? nil : .seconds(v)
            case "shutdown_grace_seconds": shutdownGrace = .seconds(try int(0...3600))
            case "max_field_bytes": preferences.maxFieldBytes = try int(16...1 << 30)
            case "max_items_per_user": preferences.maxItemsPerUser = try int(1...1 << 40)
            case "max_bytes_per_user": preferences.maxBytesPerUser = try int(1...1 << 50)
            case "max_users_per_uid": preferences.maxUsersPerUID = try int(1...1 << 30)
            case "max_bytes_per_uid": preferences.maxBytesPerUID = try int(1...1 << 50)
            case "max_import_bytes": preferences.maxImportBytes = try int(1...1 << 40)
            case "import_batch": preferences.importBatch = try int(1...1 << 20)
            case "training_threads": trainingThreads = try int(1...1024)
            case "max_jobs": maxJobs = try int(1...1 << 16)
            case "max_jobs_per_uid": maxJobsPerUID = try int(1...1 << 16)
            case "log_level":
                guard let l = Logger.Level(rawValue: value) else {
                    throw fail("log_level must be one of trace, debug, info, notice, warning, error, critical")
                }
                logLevel = l
            default:
                do {
                    guard try http.apply(key: key, value: value) || autopilot.apply(key: key, value: value) else {
                        throw fail("unknown key '\(key)'")
                    }
                } catch let p as ConfigProblem {
                    throw fail(p.message)
                }
            }
        }
        if !modelsFromFile.isEmpty { models = modelsFromFile }
    }
}

/// A config file that cannot be used, with where and why.
public struct ConfigError: Error, Equatable, CustomStringConvertible {
    public var path: String
    public var line: Int
    public var problem: String

    public var description: String { "\(path):\(line): \(problem)" }
}
