import ArgumentParser
import Foundation
import TailorClient
import TailorStore
import TailorWire

/// `tailor adapters …`: the caller's LoRA adapters in the daemon's registry.
struct AdaptersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adapters", abstract: "List, inspect, import, export, delete and roll back LoRA adapters.",
        subcommands: [List.self, Show.self, Import.self, Export.self, Remove.self, Rollback.self])

    /// Names one adapter: --task, and --user for a user adapter.
    struct Selector: ParsableArguments {
        @Option(help: "Task name.") var task: String
        @Option(help: "User name (a user adapter); omit for the task adapter.") var user: String?
        @Option(help: "Version (default: the current one).") var version: UInt32 = 0

        var ref: AdapterRef {
            AdapterRef(user: user ?? "", task: task, kind: user == nil ? "task" : "user", version: version)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List adapters.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "Only this user's.") var user: String = ""
        @Option(help: "Only this task's.") var task: String = ""

        func run() async throws {
            let all = try await withClient(connection) { try await $0.adapters(user: user, task: task) }
            if all.isEmpty { print("no adapters"); return }
            print("KIND\tTASK\tUSER\tCURRENT\tRANK\tTARGETS\tSTAGE")
            for a in all {
                let cur = a.versions.first { $0.version == a.ref.version }
                print(
                    """
                    \(a.ref.kind)\t\(a.ref.task)\t\(a.ref.user.isEmpty ? "-" : a.ref.user)\tv\(a.ref.version) of \
                    \(a.versions.count)\tr=\(cur?.rank ?? 0)\t\(cur?.targets.joined(separator: ",") ?? "")\t\
                    \(cur.map { $0.stage.isEmpty ? "import" : $0.stage } ?? "")
                    """
                )
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an adapter's versions.")
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var selector: Selector

        func run() async throws {
            let a = try await withClient(connection) { try await $0.adapter(selector.ref) }
            print(
                """
                \(a.ref.kind) adapter \(a.ref.task)\(a.ref.user.isEmpty ? "" : " for \(a.ref.user)") (owner uid \
                \(a.ref.ownerUID)), current v\(a.ref.version)
                """
            )
            for v in a.versions {
                let when = Date(timeIntervalSince1970: Double(v.createdUnixMS) / 1000)
                let metrics = v.metrics.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(
                    separator: " ")
                print(
                    """
                    \(v.version == a.ref.version ? "*" : " ") v\(v.version)  \
                    \(v.stage.isEmpty ? "import" : v.stage)  \(ISO8601DateFormatter().string(from: when))  \
                    r=\(v.rank) alpha=\(v.alpha)\(v.useRSLoRA ? " rslora" : "")  \
                    \(v.targets.joined(separator: ","))  base \(v.baseArchitecture) \
                    \(v.baseModelSHA256.prefix(12))  sha256 \
                    \(v.sha256.prefix(12))\(v.jobID.isEmpty ? "" : "  job \(v.jobID)")  \(metrics)
                    """
                )
            }
            let judged = a.versions.compactMap { v in v.promotion.map { (v.version, $0) } }
            guard !judged.isEmpty else { return }
            print("\nautopilot verdicts (held-out ROUGE-L and log-likelihood per token, candidate vs baseline):")
            for (version, p) in judged {
                print("  " + AutopilotFormat.verdict(version: version, p))
            }
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Import a PEFT adapter directory (adapter_config.json + adapter_model.safetensors) or a GGUF LoRA file."
        )
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "Task name.") var task: String
        @Option(help: "User name (a user adapter); omit for the task adapter.") var user: String?
        @Option(help: "The base model's id in the daemon (default: the only loaded one).") var model: String = ""
        @Flag(name: .customLong("no-current"), help: "Store the version without making it current.") var noCurrent =
            false
        @Argument(help: "A PEFT directory or a .gguf file.") var path: String

        func run() async throws {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
                throw CLIError("no such file or directory: \(path)")
            }
            let ref = AdapterRef(user: user ?? "", task: task, kind: user == nil ? "task" : "user")
            let request: ImportAdapterRequest
            let weights: [UInt8]
            if isDir.boolValue {
                let config = try readTextFile(path + "/adapter_config.json", limit: 1 << 20)
                guard let w = FileManager.default.contents(atPath: path + "/adapter_model.safetensors") else {
                    throw CLIError("\(path) has no adapter_model.safetensors")
                }
                request = ImportAdapterRequest(
                    ref: ref, format: "peft", model: model, peftConfigJSON: config, makeCurrent: !noCurrent)
                weights = Array(w)
            } else {
                guard let w = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read \(path)") }
                request = ImportAdapterRequest(ref: ref, format: "gguf", model: model, makeCurrent: !noCurrent)
                weights = Array(w)
            }
            let info = try await withClient(connection) { try await $0.importAdapter(request, weights: weights) }
            let newest = info.versions.last?.version ?? 0
            print(
                """
                imported \(ref.kind) adapter \(task)\(user.map { " for \($0)" } ?? "") as \
                v\(newest)\(info.ref.version == newest ? " (current)" : "")
                """
            )
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Export an adapter as a PEFT directory or a GGUF LoRA file.")
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var selector: Selector
        @Option(help: "peft (a directory) or gguf (a file).") var format: String = "peft"
        @Option(help: "The base model's id (gguf needs its shapes; default: the only loaded one).") var model: String =
            ""
        @Argument(help: "Output directory (peft) or file (gguf).") var output: String

        func run() async throws {
            guard format == "peft" || format == "gguf" else { throw ValidationError("--format must be peft or gguf") }
            let (header, file) = try await withClient(connection) {
                try await $0.exportAdapter(ExportAdapterRequest(ref: selector.ref, format: format, model: model))
            }
            if format == "peft" {
                try AtomicFile.write(
                    Array(header.peftConfigJSON.utf8), to: output + "/adapter_config.json", mode: 0o644)
                try AtomicFile.write(file, to: output + "/" + header.fileName, mode: 0o644)
            } else {
                try AtomicFile.write(file, to: output, mode: 0o644)
            }
            print("exported v\(header.version.version) (\(file.count) bytes) to \(output)")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm", abstract: "Delete a version (--version) or the whole adapter.")
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var selector: Selector

        func run() async throws {
            try await withClient(connection) { try await $0.deleteAdapter(selector.ref) }
            print(selector.version == 0 ? "deleted the adapter and all its versions" : "deleted v\(selector.version)")
        }
    }

    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make an earlier version current (default: the one before the current).")
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var selector: Selector

        func run() async throws {
            let info = try await withClient(connection) { client -> AdapterInfo in
                var ref = selector.ref
                if ref.version == 0 {
                    let a = try await client.adapter(ref)
                    guard let previous = a.versions.map(\.version).filter({ $0 < a.ref.version }).max() else {
                        throw CLIError("v\(a.ref.version) is the oldest version; nothing to roll back to")
                    }
                    ref.version = previous
                }
                return try await client.setCurrentAdapter(ref)
            }
            print("current version is now v\(info.ref.version)")
        }
    }
}
