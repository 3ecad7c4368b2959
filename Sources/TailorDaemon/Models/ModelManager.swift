import Foundation
import TailorEngine
import TailorStore
import TailorWire

/// The set of loaded base models, by id.
///
/// Loading maps and hashes a file and plans a context, which blocks, so it runs on a detached
/// task; the id is reserved meanwhile so two loads of one id cannot race. Unloading stops the
/// model's worker (its requests end UNAVAILABLE) before the weights are released.
public actor ModelManager {
    private var models: [String: LoadedModel] = [:]
    private var loading: Set<String> = []
    private let settings: GenerationSettings
    /// Busy while any model generates; training jobs yield to it.
    public nonisolated let activity: GenerationActivity

    /// A manager planning each model's worker with `settings`.
    public init(settings: GenerationSettings, activity: GenerationActivity = GenerationActivity()) {
        self.settings = settings
        self.activity = activity
    }

    /// Loads the GGUF file at `path` as `id` (default: the file name without .gguf).
    /// - Throws: `RPCError` INVALID_ARGUMENT for a relative path, a bad id or a file that is not
    ///   a usable GGUF model (naming the problem); NOT_FOUND for a missing file; ALREADY_EXISTS
    ///   for an id in use.
    public func load(path: String, id requested: String = "") async throws -> ModelInfo {
        guard path.hasPrefix("/") else {
            throw RPCError.invalidArgument("load.path", "the model path must be absolute: '\(path)'")
        }
        let id = requested.isEmpty ? Self.defaultID(for: path) : requested
        guard Self.isValidID(id) else {
            throw RPCError.invalidArgument(
                "load.id", "model ids are 1-128 characters of letters, digits, '.', '_' and '-': '\(id)'")
        }
        guard models[id] == nil, !loading.contains(id) else {
            throw RPCError(.alreadyExists, "a model with id '\(id)' is already loaded")
        }
        guard FileManager.default.fileExists(atPath: path) else { throw RPCError(.notFound, "no such file: \(path)") }
        loading.insert(id)
        defer { loading.remove(id) }
        let settings = self.settings, activity = self.activity
        let loaded: LoadedModel
        do {
            loaded = try await Task.detached {
                try LoadedModel(path: path, id: id, settings: settings, activity: activity)
            }.value
        } catch let e as GGUFError {
            throw RPCError.invalidArgument("load.path", e.description)
        } catch {
            throw RPCError.invalidArgument("load.path", "cannot load \(path): \(error)")
        }
        models[id] = loaded
        return loaded.info
    }

    /// Every loaded model, sorted by id.
    public func list() -> [ModelInfo] { models.values.map(\.info).sorted { $0.id < $1.id } }

    /// Unloads `id`: its running and queued generations end UNAVAILABLE.
    /// - Throws: NOT_FOUND for an unknown id.
    public func unload(id: String) async throws {
        guard let m = models.removeValue(forKey: id) else {
            throw RPCError(.notFound, "no model with id '\(id)' is loaded")
        }
        await Task.detached { m.worker.stop() }.value
    }

    /// The model a request names: `id`, or the only loaded model when `id` is empty.
    /// - Throws: NOT_FOUND for an unknown id; INVALID_ARGUMENT for an empty id when not exactly
    ///   one model is loaded.
    func model(_ id: String, field: String) throws -> LoadedModel {
        if id.isEmpty {
            guard models.count == 1, let only = models.values.first else {
                throw RPCError.invalidArgument(
                    field,
                    models.isEmpty
                        ? "no model is loaded"
                        : "name one of the loaded models: \(models.keys.sorted().joined(separator: ", "))")
            }
            return only
        }
        guard let m = models[id] else { throw RPCError(.notFound, "no model with id '\(id)' is loaded") }
        return m
    }

    /// The model a llama-server client names: `id` when it is loaded, else the only loaded model,
    /// as llama-server serves its one model whatever a request names.
    /// - Throws: INVALID_ARGUMENT (field `model`) when `id` is unknown and not exactly one model
    ///   is loaded.
    func model(llamaServerName id: String) throws -> LoadedModel {
        if let m = models[id] { return m }
        return try model("", field: "model")
    }

    /// Generation requests waiting, over all models.
    public func queueDepth() -> Int { models.values.reduce(0) { $0 + $1.worker.queueDepth } }

    /// Stops every worker (daemon shutdown).
    public func unloadAll() async {
        let all = models.values
        models = [:]
        await Task.detached { for m in all { m.worker.stop() } }.value
    }

    /// The file name without its directory and ".gguf".
    static func defaultID(for path: String) -> String {
        var name = (path as NSString).lastPathComponent
        if name.lowercased().hasSuffix(".gguf") { name.removeLast(5) }
        return name
    }

    static func isValidID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 128 && id.utf8.allSatisfy(AdapterKey.isNameByte)
    }
}
