import ArgumentParser
import Foundation
import TailorClient
import TailorWire

/// `tailor autopilot status|pause|resume`: the daemon's own training rounds.
struct AutopilotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autopilot",
        abstract:
            "See and control the daemon's own training: it retrains a user's adapter once enough new data arrived.",
        discussion: """
            A round starts when autopilot_min_new_items new items arrived, the machine was idle for \
            autopilot_idle_seconds and runs on mains power. It holds the newest autopilot_holdout items back, \
            trains, and makes the new version current only if it does not score worse on them than the version \
            serving now (autopilot_margin). Keys are set in tailord.conf.
            """,
        subcommands: [Status.self, Pause.self, Resume.self],
        defaultSubcommand: Status.self)

    /// --user and --task: which keys.
    struct Scope: ParsableArguments {
        @Option(help: "Only this user (default: every user).") var user: String = ""
        @Option(help: "Only this task (default: every task).") var task: String = ""

        var wire: Autopilot.Scope { Autopilot.Scope(user: user, task: task) }
        var words: String {
            switch (user.isEmpty, task.isEmpty) {
            case (true, true): return "every user and task"
            case (false, true): return "\(user), every task"
            case (true, false): return "every user of task \(task)"
            case (false, false): return "\(user)/\(task)"
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per user and task: pending items, when the next round may start, the last round's verdict.")
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var scope: Scope

        func run() async throws {
            let s = try await withClient(connection) { try await $0.autopilotStatus(scope.wire) }
            AutopilotFormat.print(s)
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop starting rounds (a running one finishes); survives daemon restarts.")
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var scope: Scope

        func run() async throws {
            let s = try await withClient(connection) { try await $0.pauseAutopilot(scope.wire) }
            print("paused the autopilot for \(scope.words)")
            AutopilotFormat.print(s)
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Let these users and tasks train again: lifts the pauses inside them and those covering them.")
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var scope: Scope

        func run() async throws {
            let s = try await withClient(connection) { try await $0.resumeAutopilot(scope.wire) }
            print("resumed the autopilot for \(scope.words)")
            AutopilotFormat.print(s)
        }
    }
}

/// How autopilot states and verdicts read in a terminal.
enum AutopilotFormat {
    static func print(_ s: Autopilot.Status) {
        Swift.print("autopilot \(s.enabled ? "on" : "off"), power: \(s.power)")
        if s.entries.isEmpty {
            Swift.print("no users with data yet")
            return
        }
        Swift.print("USER\tTASK\tSTATE\tPENDING\tNEXT\tPI_BASE\tLAST ROUND")
        for e in s.entries {
            let next = e.nextEligibleUnixMS == 0 ? "-" : time(e.nextEligibleUnixMS)
            Swift.print(
                """
                \(e.user)\t\(e.task)\t\(e.state)\t\(e.pendingItems)/\(e.neededItems)\t\(next)\t\(e.piBase)\t\
                \(lastRun(e.lastRun))
                """
            )
            Swift.print("  \(e.detail)")
        }
    }

    static func lastRun(_ run: Autopilot.Run?) -> String {
        guard let run else { return "none yet" }
        var out = "\(run.jobID) \(run.state) \(time(run.updatedUnixMS))"
        if let p = run.promotion { out += ": " + verdict(version: run.candidateVersion, p) }
        if !run.error.isEmpty { out += ": " + run.error }
        return out
    }

    static func verdict(version: UInt32, _ p: Promotion) -> String {
        func f(_ x: Double) -> String { String(format: "%.3f", x) }
        return
            """
            v\(version) \(p.promoted ? "promoted" : "not promoted") over \(p.baseline) on \(p.heldOut) held-out \
            items: ROUGE-L \(f(p.candidateRougeL)) vs \(f(p.baselineRougeL)), log-lik \
            \(f(p.candidateLogLikelihood)) vs \(f(p.baselineLogLikelihood))
            """
    }

    static func time(_ ms: UInt64) -> String {
        ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }
}
