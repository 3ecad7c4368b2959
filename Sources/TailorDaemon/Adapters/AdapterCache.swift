import Synchronization
import TailorEngine
import TailorStore

/// Adapters loaded for decoding, by adapter, version and base model, so a request that names
/// an adapter already used costs a lookup: switching adapters between requests reloads
/// nothing (the base model is shared; LoRA is applied unmerged, per batch row).
///
/// A miss reads the version from the registry (which re-hashes the weights) and builds the
/// engine's adapter for the model's shapes. Least recently used entries go beyond `capacity`.
final class AdapterCache: Sendable {
    private struct Key: Hashable {
        var adapter: AdapterKey
        var version: UInt32
        var model: String  // base model sha256
    }

    private struct State {
        var entries: [Key: (LoRAAdapter, UInt64)] = [:]
        var tick: UInt64 = 0
    }

    private let registry: AdapterRegistry
    private let capacity: Int
    private let state = Mutex(State())

    /// A cache over `registry` holding up to `capacity` adapters.
    init(registry: AdapterRegistry, capacity: Int = 32) {
        self.registry = registry
        self.capacity = max(1, capacity)
    }

    /// The engine adapter for `key` at `version` (current when nil), for `model`.
    /// - Throws: `AdapterStoreError` (missing, corrupt), `RPCError` FAILED_PRECONDITION when the
    ///   version was made for another base model, or the engine's error when it does not fit.
    func adapter(_ key: AdapterKey, version: UInt32?, for model: LoadedModel) throws -> LoRAAdapter {
        let v = try version ?? registry.currentVersion(of: key)
        let k = Key(adapter: key, version: v, model: model.info.sha256)
        if let hit: LoRAAdapter = state.withLock({ s in
            guard let e = s.entries[k] else { return nil }
            s.tick += 1
            s.entries[k] = (e.0, s.tick)
            return e.0
        }) {
            return hit
        }
        let (record, config, weights) = try registry.read(key, version: v)
        guard record.baseModelSHA256 == model.info.sha256 else {
            throw RPCError(
                .failedPrecondition,
                """
                adapter \(key) v\(v) was made for base model \(record.baseModelSHA256.prefix(12)), not \
                \(model.info.id) (\(model.info.sha256.prefix(12)))
                """
            )
        }
        let adapter = try PEFTAdapter.load(
            name: "\(key) v\(v)", configJSON: .init(config), safetensors: weights, config: model.model.config)
        try adapter.validate(for: model.model.config)
        state.withLock { s in
            s.tick += 1
            s.entries[k] = (adapter, s.tick)
            if s.entries.count > capacity, let oldest = s.entries.min(by: { $0.value.1 < $1.value.1 })?.key {
                s.entries[oldest] = nil
            }
        }
        return adapter
    }

    /// Forgets every cached version of `key` (after a delete).
    func invalidate(_ key: AdapterKey) {
        state.withLock { s in s.entries = s.entries.filter { $0.key.adapter != key } }
    }
}
