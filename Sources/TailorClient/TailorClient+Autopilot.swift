import TailorWire

extension TailorClient {
    static let autopilot = "tailor.v1.Autopilot"

    /// Where the daemon's own training stands for the caller's keys (`scope` narrows it).
    public func autopilotStatus(_ scope: Autopilot.Scope = Autopilot.Scope()) async throws -> Autopilot.Status {
        try Autopilot.Status(serialized: try await call(Self.autopilot, "Status", payload: try scope.serialized()))
    }

    /// Pauses the autopilot for `scope` (every user and task of the caller by default); a
    /// running round finishes. Returns the status after it.
    public func pauseAutopilot(_ scope: Autopilot.Scope = Autopilot.Scope()) async throws -> Autopilot.Status {
        try Autopilot.Status(serialized: try await call(Self.autopilot, "Pause", payload: try scope.serialized()))
    }

    /// Removes every pause inside `scope` or covering it. Returns the status after it.
    public func resumeAutopilot(_ scope: Autopilot.Scope = Autopilot.Scope()) async throws -> Autopilot.Status {
        try Autopilot.Status(serialized: try await call(Self.autopilot, "Resume", payload: try scope.serialized()))
    }
}
