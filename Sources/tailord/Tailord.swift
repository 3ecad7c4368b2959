import ArgumentParser
import Logging
import TailorDaemon

/// `tailord`: Tailor's daemon. Everything it does lives in TailorDaemon; this is the entry point
/// systemd starts.
@main
struct Tailord: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tailord",
        abstract: "Serve personalized LLM decoding over a Unix socket.",
        version: tailorVersion)

    @OptionGroup var options: DaemonOptions

    func run() async throws {
        let config = try options.resolve()
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
