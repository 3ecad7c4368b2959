import Foundation
import ServiceLifecycle

/// Ends the daemon when the process that started it is gone: a command's private daemon
/// (`tailor demo`) must not outlive a Ctrl-C or a kill of that command. It watches for the
/// parent changing (the orphan is re-parented to init or a subreaper), once a second, and then
/// returns, which shuts the service group down gracefully.
struct ParentWatch: Service {
    /// The parent at start.
    let parent: pid_t
    var interval: Duration = .seconds(1)

    func run() async throws {
        while !Task.isCancelledOrShuttingDown, getppid() == parent {
            try? await Task.sleep(for: interval)
        }
    }
}
