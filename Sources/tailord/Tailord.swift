import ArgumentParser
import TailorDaemon
import TailorEngine
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
        BLASKernels.restartIfFallback()  // before any thread: the restart replaces the process
        try await options.runDaemon()
    }
}
