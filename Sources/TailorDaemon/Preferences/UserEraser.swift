import Foundation
import TailorStore

/// "Forget me": removes a personalization user's adapters and their data.
///
/// Its training jobs, the autopilot's included, are cancelled (and awaited) first, then adapters
/// go, then the data in one transaction, so a crash in between leaves data that
/// a repeated call removes (the call succeeds while either remains). The call answers only once
/// both are gone; the adapter cache drops every version of the removed adapters.
struct UserEraser: Sendable {
    let store: PreferenceStore
    let registry: AdapterRegistry
    let cache: AdapterCache
    /// Its jobs are cancelled and forgotten too.
    let runner: JobRunner?

    /// What was removed.
    struct Erased: Sendable, Equatable {
        var data: PreferenceStore.Counts
        var adapters: Int
    }

    /// Removes everything of `user` owned by `owner`.
    /// - Throws: `PreferenceStoreError.unknownUser` when there is neither data nor an adapter.
    func erase(user: String, owner: UInt32) throws -> Erased {
        if let runner {
            // Stop training first, so no job publishes an adapter after the adapters are gone.
            for job in try runner.jobs.list(owner: owner, user: user) where !job.state.isFinal { runner.cancel(job.id) }
            runner.waitUntilNotRunning { $0.owner == owner && $0.user == user }
            let jobs = try runner.jobs.list(owner: owner, user: user).map(\.id)
            try runner.jobs.deleteJobs(owner: owner, user: user)
            removeCheckpoints(of: jobs, in: runner.environment.checkpointDirectory)
        }
        // Pending autopilot work went with the jobs; the user's own pauses go too.
        try AutopilotPauses(store).forget(owner: owner, user: user)
        let adapters = registry.list(owner: owner, user: user).filter { $0.key.kind == .user && $0.key.user == user }
        for entry in adapters {
            try registry.delete(entry.key)
            cache.invalidate(entry.key)
        }
        if try store.hasUser(user, owner: owner) {
            return Erased(data: try store.deleteUser(user, owner: owner), adapters: adapters.count)
        }
        try store.forgetDeletedPages()  // the jobs' rows
        guard !adapters.isEmpty else { throw PreferenceStoreError.unknownUser(user) }
        return Erased(data: PreferenceStore.Counts(history: 0, pairs: 0, feedback: 0), adapters: adapters.count)
    }

    /// Unlinks the training checkpoints of `jobs` (named `<job>-<stage>.ckpt`): a cancelled
    /// job leaves its last one behind, and it holds weights trained on the user's text.
    private func removeCheckpoints(of jobs: [String], in directory: String) {
        guard !jobs.isEmpty, let files = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for file in files where jobs.contains(where: { file.hasPrefix($0 + "-") }) {
            unlink(directory + "/" + file)
        }
    }
}
