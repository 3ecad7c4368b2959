import Foundation
import TailorStore
import TailorWire

/// `tailor.v1.Autopilot`: where the daemon's own training stands, and pausing it.
///
/// Every call is scoped to the caller's uid; root and the daemon's user see every uid's keys
/// in Status and may name another uid's in Pause and Resume.
struct AutopilotService: RPCService {
    let name = "tailor.v1.Autopilot"
    let scheduler: AutopilotScheduler
    let policy: AccessPolicy

    func handle(_ call: RPCCall, _ writer: RPCWriter) async throws {
        let scope = try Autopilot.Scope(serialized: call.payload)
        for (field, value) in [("user", scope.user), ("task", scope.task)] where !value.isEmpty {
            let valid = field == "user" ? AdapterKey.isValidUserName(value) : AdapterKey.isValidName(value)
            guard valid else { throw RPCError.invalidArgument(field, "'\(value.echoed)' is not a valid \(field) name") }
        }
        let user = scope.user.isEmpty ? nil : scope.user
        let task = scope.task.isEmpty ? nil : scope.task
        switch call.method {
        case "Status":
            let owner: UInt32? =
                scope.ownerUID == 0 && policy.seesAll(call.caller)
                ? nil : try policy.owner(scope.ownerUID, caller: call.caller, of: "the autopilot")
            try await writer.respond(
                try await scheduler.status(owner: owner, user: user, task: task).serialized())
        case "Pause", "Resume":
            let owner = try policy.owner(scope.ownerUID, caller: call.caller, of: "the autopilot")
            let pause = AutopilotPauses.Scope(owner: owner, user: scope.user, task: scope.task)
            if call.method == "Pause" { try scheduler.pauses.pause(pause) } else { try scheduler.pauses.resume(pause) }
            call.logger.info(
                "autopilot \(call.method == "Pause" ? "paused" : "resumed")",
                metadata: ["owner": "\(owner)", "user": "\(scope.user)", "task": "\(scope.task)"])
            try await writer.respond(
                try await scheduler.status(owner: owner, user: user, task: task).serialized())
        default:
            throw RPCError(.unimplemented, "\(name) has no method '\(call.method.echoed)'")
        }
    }
}
