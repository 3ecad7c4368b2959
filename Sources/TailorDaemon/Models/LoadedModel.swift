import Crypto
import Foundation
import TailorEngine
import TailorWire

/// A base model the daemon serves: the engine's model, its description, and the worker that
/// runs its generations.
final class LoadedModel: Sendable {
    /// What clients see of it.
    let info: ModelInfo
    /// The mapped, shared weights and tokenizer.
    let model: Model
    /// Runs its generations.
    let worker: GenerationWorker

    /// Opens `path` (absolute) as `id`, hashing the file for its identity. Blocking: call off
    /// the cooperative pool.
    init(path: String, id: String, settings: GenerationSettings, activity: GenerationActivity? = nil) throws {
        let model = try Model(path: path)
        let digest = SHA256.hash(data: model.file.bytes)
        let context = InferenceContext(
            model: model, maxSequences: settings.slots,
            maxContext: min(settings.contextLength, model.config.contextLength),
            maxBatchTokens: settings.batchTokens, threads: settings.threads,
            prefill: settings.prefillPath ?? .processDefault)
        self.model = model
        info = ModelInfo(
            id: id, path: path, architecture: model.config.architecture.rawValue,
            parameters: UInt64(model.file.tensors.reduce(0) { $0 + $1.elementCount }),
            fileBytes: UInt64(model.file.fileSize), contextLength: UInt32(context.maxContext),
            sha256: digest.map { String(format: "%02x", $0) }.joined(),
            hasChatTemplate: model.tokenizer.chatTemplate != nil)
        worker = GenerationWorker(
            context: context, maxQueued: settings.maxQueued,
            maxQueuedPerUID: settings.maxQueuedPerUID, name: id, activity: activity)
    }
}

/// How each loaded model's worker is planned.
public struct GenerationSettings: Sendable, Equatable {
    /// Generations that run at once per model (KV-cache rows).
    public var slots: Int = 4
    /// Positions per generation.
    public var contextLength: Int = 4096
    /// Tokens per forward call (the prefill chunk).
    public var batchTokens: Int = 256
    /// Threads of the forward pass; nil for all cores.
    public var threads: Int?
    /// Requests that may wait per model.
    public var maxQueued: Int = 256
    /// Requests one uid may have waiting (`max_queued_per_uid`). nil: no share below
    /// `maxQueued` (a user daemon serves one person); a system daemon sets 32 unless configured.
    public var maxQueuedPerUID: Int?
    /// New tokens when a request asks for 0.
    public var defaultMaxTokens: Int = 256
    /// How prompts multiply by quantized weights (`prefill_path`); it also becomes the setting of
    /// the daemon's training and scoring contexts. nil: the process's default (measured at model
    /// load unless `TAILOR_PREFILL_PATH` says otherwise).
    public var prefillPath: PrefillPathSetting?

    /// The defaults.
    public init() {}
}
