import TailorEngine
import TailorWire

/// Starts generations for every front end: the protobuf Decoding service and the
/// llama.cpp-compatible HTTP endpoint. It checks and tokenizes the request (or takes the front
/// end's own tokens, as infill does), plans the caller's adapters for the request's mode, and
/// queues the job on the model's worker. One place, so both front ends personalize alike.
struct GenerationStarter: Sendable {
    let models: ModelManager
    let settings: GenerationSettings
    let adapters: AdapterResolver?

    /// A queued generation: read `job.outputs`; `cancel()` frees its slot(s) at the next step.
    struct Started: Sendable {
        let job: GenerationJob
        let model: LoadedModel
        func cancel() { model.worker.cancel(job) }
    }

    /// Queues `request` for `caller`. `prompt`, when given, replaces the request's input with
    /// tokens the front end built (it sees the loaded model, e.g. for FIM tokens).
    /// - Throws: `RPCError` naming the field at fault, or UNAVAILABLE when the queue is full.
    func start(_ request: GenerateRequest, caller: PeerCredentials,
               prompt: (@Sendable (Model) throws -> [Int32])? = nil) async throws -> Started {
        let loaded = try await models.model(request.model, field: "generate.model")
        var engineJob = try DecodingService.job(for: request, model: loaded.model, contextLength: Int(loaded.info.contextLength),
                                                defaultMaxTokens: settings.defaultMaxTokens, prompt: prompt)
        if let adapters {
            let plan = try adapters.plan(for: request, caller: caller, model: loaded)
            engineJob.adapters = plan.adapters
            if let base = plan.contrastBase {
                let s = engineJob.sampling
                let parameters = ContrastiveParameters(alpha: request.copeAlpha == 0 ? 0.1 : request.copeAlpha,
                                                       tau: request.copeTau == 0 ? 0.1 : request.copeTau, temperature: s.temperature,
                                                       topK: s.topK == 0 ? 50 : s.topK, topP: s.topP, repetitionPenalty: s.repetitionPenalty,
                                                       seed: s.seed, dry: s.dry)
                do { try parameters.validate() } catch { throw RPCError.invalidArgument("generate.cope", "\(error)") }
                engineJob.contrast = BatchDecoder.Contrast(base: base, parameters: parameters)
            }
        } else if !request.adapters.isEmpty || !request.task.isEmpty || !request.mode.isEmpty {
            throw RPCError(.unimplemented, "this daemon has no adapter registry")
        }
        let job = GenerationJob(engineJob, caller: caller)
        try loaded.worker.submit(job)
        return Started(job: job, model: loaded)
    }
}
