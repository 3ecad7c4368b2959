import ArgumentParser
import Foundation
import TailorDaemon
import TailorStore

/// `tailor daemon …`: run the daemon in the foreground, or install its systemd units.
struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon", abstract: "Run tailord in the foreground, or install its systemd units.",
        subcommands: [Run.self, Install.self, Units.self, DaemonBenchCommand.self, TrainingLatencyBenchCommand.self])

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the daemon in the foreground (what tailord does).")
        @OptionGroup var options: DaemonOptions

        func run() async throws {
            try await options.runDaemon()
        }
    }

    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                """
                Write the user units (tailord.socket, tailord.service), name a model in tailord.conf, and enable \
                the socket.
                """
        )
        @Flag(help: "Install the user units (the only kind this command installs; system units are packaged).")
        var user = false
        @Option(help: "The tailord executable the service starts (default: tailord next to this tailor).")
        var executable: String?
        @Option(help: "Unit directory (default: $XDG_CONFIG_HOME/systemd/user).")
        var directory: String?
        @Flag(name: .customLong("no-enable"), help: "Write the files only; do not run systemctl.")
        var noEnable = false
        @Option(
            help:
                """
                The model the daemon loads (a file or a name, `tailor models available`; default: the model \
                Scripts/fetch-model.sh installs), written to the config file unless it already names one.
                """
        )
        var model: String?
        @Option(help: "The config file (default: $XDG_CONFIG_HOME/tailor/tailord.conf).")
        var config: String?

        func validate() throws {
            guard user else {
                throw ValidationError("pass --user: system units are installed by packages (see systemd/system)")
            }
        }

        func run() throws {
            let exe = try executable ?? siblingTailord()
            guard FileManager.default.isExecutableFile(atPath: exe) else {
                throw ValidationError("\(exe) is not an executable")
            }
            let env = ProcessInfo.processInfo.environment
            let dir = directory ?? ((env["XDG_CONFIG_HOME"] ?? NSHomeDirectory() + "/.config") + "/systemd/user")
            for unit in SystemdUnits.units(mode: .user, executable: exe) {
                let path = dir + "/" + unit.name
                try AtomicFile.write(Array(unit.text.utf8), to: path, mode: 0o644)
                print("wrote \(path)")
            }
            try nameModel(in: config ?? DaemonConfiguration.defaultFilePath(mode: .user))
            guard !noEnable else { return }
            try systemctl(["--user", "daemon-reload"])
            try systemctl(["--user", "enable", "--now", "tailord.socket"])
            print("enabled tailord.socket; the daemon starts on the first connection")
        }

        /// Makes the config file name a model, so the installed daemon can answer its first
        /// request: a `model = PATH` line is added unless the file already has one.
        private func nameModel(in file: String) throws {
            let existing = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
            let names = existing.split(separator: "\n").contains { line in
                let key = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
                return key.split(separator: "=", maxSplits: 1).first?.trimmingCharacters(in: .whitespaces) == "model"
            }
            if names {
                print("kept \(file): it already names a model")
                return
            }
            let path: String
            do { path = try ModelOptions.path(model) } catch  where model == nil {
                Console.error(
                    "warning: no model found at \(ModelOptions.defaultModelPath), so the daemon will start with none; "
                        + "run Scripts/fetch-model.sh and install again, or add `model = NAME` to \(file)")
                return
            }
            let text = existing + (existing.isEmpty || existing.hasSuffix("\n") ? "" : "\n") + "model = \(path)\n"
            try FileManager.default.createDirectory(
                atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try AtomicFile.write(Array(text.utf8), to: file, mode: 0o644)
            print("wrote model = \(path) to \(file)")
        }
    }

    struct Units: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print or write the systemd units, for packaging.")
        @Option(help: "user or system.") var mode: String = "user"
        @Option(help: "The tailord executable the service starts.") var executable: String = SystemdUnits
            .defaultExecutable
        @Option(help: "Write the units into this directory instead of printing them.") var output: String?

        func run() throws {
            guard let m = DaemonMode(rawValue: mode) else { throw ValidationError("--mode must be user or system") }
            for unit in SystemdUnits.units(mode: m, executable: executable) {
                if let output {
                    try AtomicFile.write(Array(unit.text.utf8), to: output + "/" + unit.name, mode: 0o644)
                } else {
                    print("# \(unit.name)\n\(unit.text)")
                }
            }
        }
    }
}

/// The tailord built or installed beside this tailor binary.
private func siblingTailord() throws -> String {
    let me = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    let candidate = me.deletingLastPathComponent().appendingPathComponent("tailord").path
    guard FileManager.default.isExecutableFile(atPath: candidate) else {
        throw ValidationError("no tailord next to \(me.path); pass --executable")
    }
    return candidate
}

private func systemctl(_ args: [String]) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["systemctl"] + args
    try p.run()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else {
        throw ValidationError("systemctl \(args.joined(separator: " ")) failed (exit \(p.terminationStatus))")
    }
}
