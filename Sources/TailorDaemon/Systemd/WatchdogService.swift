import ServiceLifecycle

/// Sends WATCHDOG=1 at half of systemd's watchdog timeout while the daemon runs, so a hung
/// daemon is restarted. Does nothing when the watchdog is off for this process.
struct WatchdogService: Service {
    let notifier: SystemdNotifier

    func run() async throws {
        guard let interval = notifier.watchdogInterval else {
            try? await gracefulShutdown()
            return
        }
        while !Task.isCancelledOrShuttingDown {
            try? notifier.notify(["WATCHDOG": "1"])
            try? await Task.sleep(for: interval)
        }
    }
}

extension Task where Success == Never, Failure == Never {
    /// Whether the current task was cancelled or its service group is shutting down.
    static var isCancelledOrShuttingDown: Bool { Task.isCancelled || Task.isShuttingDownGracefully }
}
