import Foundation
import Synchronization
import TailorEngine
import TailorWire

/// What a generation job reports back to the call streaming it.
public enum GenerationOutput: Sendable, Equatable {
    /// A generated token.
    case token(GeneratedToken, ContrastiveChoice?)
    /// The end: why, and the timings. `tail` is text released at the end that no token carried
    /// (a held-back prefix of a stop string that never completed).
    case finished(GenerationStats)
    /// The job could not run or was stopped (the model was unloaded, the daemon is stopping).
    case failed(RPCError)
    /// How far the prompt's evaluation is: once at admission (what the prompt cache held), then
    /// after each chunk the worker evaluates.
    case progress(PromptProgress)
}

/// How far a prompt's evaluation is, as llama.cpp's `prompt_progress` reports it.
public struct PromptProgress: Sendable, Equatable {
    /// Tokens in the prompt.
    public var total: Int
    /// Tokens taken from the prompt cache.
    public var cached: Int
    /// Tokens evaluated or taken from the cache so far.
    public var processed: Int
    /// Milliseconds since the job was submitted.
    public var elapsedMS: Double
}

/// Timings and counts of a finished generation.
public struct GenerationStats: Sendable, Equatable {
    /// Tokens in the prompt.
    public var promptTokens: Int
    /// Tokens generated.
    public var generatedTokens: Int
    /// From submission (queueing included) to the first token, in milliseconds.
    public var timeToFirstTokenMS: Double
    /// From submission to the end, in milliseconds.
    public var totalMS: Double
    /// Prompt tokens whose KV cache a previous request left (the prompt cache): not recomputed.
    public var cachedTokens: Int = 0
    /// Why it ended.
    public var finishReason: FinishReason
    /// Text released at the end that no token carried.
    public var tail: String
}

/// One queued or running generation: the engine job plus the stream its results go to.
/// Created by the Decoding service, run by a `GenerationWorker` thread, cancelled by either.
public final class GenerationJob: Sendable {
    /// The engine's description of the work.
    let job: BatchDecoder.Job
    /// Fairness key: who submitted it (uid/pid).
    let owner: String
    /// The submitter's uid: queue shares are per uid.
    let ownerUID: UInt32
    /// Results, in order; finished after `.finished` or `.failed`.
    public let outputs: AsyncStream<GenerationOutput>
    private let continuation: AsyncStream<GenerationOutput>.Continuation
    private let state = Mutex(State())
    private let submitted = DispatchTime.now().uptimeNanoseconds

    private struct State {
        var cancelled = false
        var done = false
        var firstToken: UInt64?
        var generated = 0
        var cached = 0
        /// The lock of the worker it was queued on (events must not be sent under it).
        var workerLock: WorkerLock?
    }

    /// A job for `job`, queued for `caller` (round-robin per process, shares per uid).
    public init(_ job: BatchDecoder.Job, caller: PeerCredentials) {
        self.job = job
        owner = "\(caller.uid)/\(caller.pid)"
        ownerUID = caller.uid
        (outputs, continuation) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
    }

    /// Tokens in the prompt.
    var promptCount: Int { job.prompt.count }

    /// Whether the caller gave up on it.
    public var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Marks the job cancelled; the worker drops it at its next step.
    func markCancelled() { state.withLock { $0.cancelled = true } }

    /// Records the worker it waits on (at submission, under that worker's lock).
    func queued(on lock: WorkerLock) { state.withLock { $0.workerLock = lock } }

    /// Debug builds trap when an event is about to be sent while the sending thread holds the
    /// worker's lock: an event resumes the caller's task, and a cancellation of that task holds
    /// its status lock while it takes the worker's, so the two can deadlock.
    private func assertWorkerUnlocked() {
        assert(
            !(state.withLock { $0.workerLock }?.isHeldByCurrentThread ?? false),
            "a generation event was sent under the worker's lock")
    }

    /// Records how much of the prompt came from the prompt cache (worker thread, at admission).
    func admitted(cachedTokens: Int) {
        state.withLock { $0.cached = cachedTokens }
        prefilled(remaining: job.prompt.count - cachedTokens)
    }

    /// Reports that `remaining` prompt tokens are left to evaluate (worker thread).
    func prefilled(remaining: Int) {
        let cached = state.withLock { $0.cached }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - submitted) / 1e6
        assertWorkerUnlocked()
        continuation.yield(
            .progress(
                PromptProgress(
                    total: job.prompt.count, cached: cached, processed: job.prompt.count - remaining,
                    elapsedMS: elapsed)))
    }

    /// Delivers a token (worker thread).
    func deliver(_ token: GeneratedToken, choice: ContrastiveChoice? = nil) {
        state.withLock {
            if $0.firstToken == nil { $0.firstToken = DispatchTime.now().uptimeNanoseconds }
            $0.generated += 1
        }
        assertWorkerUnlocked()
        continuation.yield(.token(token, choice))
    }

    /// Ends the job with `reason` (worker thread); later calls are ignored.
    func finish(_ reason: FinishReason, tail: String = "") {
        let now = DispatchTime.now().uptimeNanoseconds
        let stats: GenerationStats? = state.withLock {
            guard !$0.done else { return nil }
            $0.done = true
            let first = $0.firstToken ?? now
            return GenerationStats(
                promptTokens: job.prompt.count, generatedTokens: $0.generated,
                timeToFirstTokenMS: Double(first - submitted) / 1e6, totalMS: Double(now - submitted) / 1e6,
                cachedTokens: $0.cached, finishReason: reason, tail: tail)
        }
        guard let stats else { return }
        assertWorkerUnlocked()
        continuation.yield(.finished(stats))
        continuation.finish()
    }

    /// Ends the job with an error; later calls are ignored.
    func fail(_ error: RPCError) {
        let first = state.withLock { s -> Bool in
            defer { s.done = true }
            return !s.done
        }
        guard first else { return }
        assertWorkerUnlocked()
        continuation.yield(.failed(error))
        continuation.finish()
    }
}
