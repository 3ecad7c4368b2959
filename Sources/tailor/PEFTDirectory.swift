import Foundation
import TailorEngine
import TailorStore

/// An adapter as PEFT's `save_pretrained` lays it out: a directory holding
/// `adapter_config.json` and `adapter_model.safetensors`. Every command that takes or writes an
/// adapter file (`run --lora`, `logits --lora`, offline training, `eval`) goes through here, so
/// they accept and refuse the same directories with the same messages.
enum PEFTDirectory {
    /// The adapter in `dir`, named by its path (unique among the adapters a command loads).
    /// - Throws: `CLIError` naming the directory: a missing file, or what `PEFTAdapter` refused.
    static func load(_ dir: String, model: Model) throws -> LoRAAdapter {
        guard let config = FileManager.default.contents(atPath: dir + "/adapter_config.json"),
            let weights = FileManager.default.contents(atPath: dir + "/adapter_model.safetensors")
        else {
            throw CLIError("\(dir) is not a PEFT adapter directory (adapter_config.json + adapter_model.safetensors)")
        }
        do {
            return try PEFTAdapter.load(
                name: dir, configJSON: config, safetensors: Array(weights),
                config: model.config)
        } catch {
            throw CLIError("\(dir): \(error)")
        }
    }

    /// Writes `adapter` to `dir` (created when missing), each file atomically.
    static func save(_ adapter: LoRAAdapter, model: Model, to dir: String) throws {
        let (config, weights) = try PEFTAdapter.export(
            adapter, config: model.config, baseModel: (model.file.path as NSString).lastPathComponent)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try AtomicFile.write(config, to: dir + "/adapter_config.json", mode: 0o644)
        try AtomicFile.write(weights, to: dir + "/adapter_model.safetensors", mode: 0o644)
    }
}
