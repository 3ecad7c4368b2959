import TailorWire

/// Calls of `tailor.v1.Jobs`: training jobs.
extension TailorClient {
    private static let jobs = "tailor.v1.Jobs"

    /// Submits a job; returns it queued.
    public func submitJob(_ request: Jobs.SubmitRequest) async throws -> Jobs.Info {
        try Jobs.Info(serialized: try await call(Self.jobs, "Submit", payload: try request.serialized()))
    }

    /// The job `id` now.
    public func job(_ id: String) async throws -> Jobs.Info {
        try Jobs.Info(serialized: try await call(Self.jobs, "Get", payload: try Jobs.Query(id: id).serializedRef()))
    }

    /// The caller's jobs, newest first.
    public func jobs(user: String = "", task: String = "") async throws -> [Jobs.Info] {
        try Jobs.Info.parseList(
            try await call(Self.jobs, "List", payload: try Jobs.Query(user: user, task: task).serializedList()))
    }

    /// Cancels job `id`; returns its state after the request.
    public func cancelJob(_ id: String) async throws -> Jobs.Info {
        try Jobs.Info(serialized: try await call(Self.jobs, "Cancel", payload: try Jobs.Query(id: id).serializedRef()))
    }

    /// The job's state now, then at every step and state change, until it is final.
    public func watchJob(_ id: String) throws -> AsyncThrowingStream<Jobs.Info, any Error> {
        let frames = stream(Self.jobs, "Watch", payload: try Jobs.Query(id: id).serializedRef())
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await payload in frames { continuation.yield(try Jobs.Info(serialized: payload)) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
