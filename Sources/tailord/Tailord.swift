import ArgumentParser
import TailorDaemon
import TailorWire

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
        try await options.runDaemon()
    }
}
