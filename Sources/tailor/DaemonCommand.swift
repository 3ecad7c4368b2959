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
            abstract: "Write the user units (tailord.socket, tailord.service) and enable the socket.")
        @Flag(help: "Install the user units (the only kind this command installs; system units are packaged).")
        var user = false
        @Option(help: "The tailord executable the service starts (default: tailord next to this tailor).")
        var executable: String?
        @Option(help: "Unit directory (default: $XDG_CONFIG_HOME/systemd/user).")
        var directory: String?
        @Flag(name: .customLong("no-enable"), help: "Write the files only; do not run systemctl.")
        var noEnable = false

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
            guard !noEnable else { return }
            try systemctl(["--user", "daemon-reload"])
            try systemctl(["--user", "enable", "--now", "tailord.socket"])
            print("enabled tailord.socket; the daemon starts on the first connection")
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
