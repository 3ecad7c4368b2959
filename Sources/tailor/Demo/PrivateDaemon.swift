import Foundation
import TailorClient

/// A `tailord` started for one command on a private socket and state directory, so a demo never
/// touches the user's own daemon, data or adapters. `stop()` ends it; the directory is removed
/// unless kept. The daemon also ends by itself when this command does (Ctrl-C, kill).
final class PrivateDaemon {
    let directory: String
    let process: Process
    var socket: String { directory + "/tailord.sock" }

    /// Starts the tailord beside this tailor binary with `model` and waits (up to `timeout`
    /// seconds) until it answers.
    /// - Throws: `CLIError` with the daemon's log when it does not come up.
    init(model: String, threads: Int?, timeout: Double = 120) async throws {
        let me = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let tailord = me.deletingLastPathComponent().appendingPathComponent("tailord").path
        guard FileManager.default.isExecutableFile(atPath: tailord) else {
            throw CLIError(
                "no tailord next to \(me.path): build it (swift build -c release) or pass --socket of a running daemon")
        }
        directory = NSTemporaryDirectory() + "tailor-demo-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Training may use every core: a generation, when one comes, still preempts it. The
        // demo trains each stage itself and measures it, so the autopilot stays out.
        let training = threads ?? ProcessInfo.processInfo.activeProcessorCount
        FileManager.default.createFile(
            atPath: directory + "/tailord.conf",
            contents: Data("training_threads = \(training)\nautopilot = off\n".utf8))
        FileManager.default.createFile(atPath: directory + "/tailord.log", contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: tailord)
        process.arguments =
            [
                "--socket", directory + "/tailord.sock", "--state-dir", directory + "/state", "--config",
                directory + "/tailord.conf",
                "--model", model, "--log-level", "warning", "--exit-with-parent",
            ] + (threads.map { ["-t", "\($0)"] } ?? [])
        process.standardOutput = FileHandle(forWritingAtPath: directory + "/tailord.log")
        process.standardError = FileHandle(forWritingAtPath: directory + "/tailord.log")
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if !process.isRunning { break }
            if let c = try? await TailorClient.connect(to: socket, clientName: "tailor-demo") {
                await c.close()
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let log = (try? String(contentsOfFile: directory + "/tailord.log", encoding: .utf8)) ?? ""
        stop(keep: true)
        throw CLIError("the private tailord did not start (log in \(directory)/tailord.log):\n\(log.suffix(2000))")
    }

    /// Ends the daemon and removes its directory unless `keep`.
    func stop(keep: Bool = false) {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        if !keep { try? FileManager.default.removeItem(atPath: directory) }
    }
}
