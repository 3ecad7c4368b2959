import Foundation
import TailorDaemon
import TailorEngine
import TailorStore
import TailorWire

/// The parsers that read bytes a client or a downloaded file controls, each as a fuzz target:
/// given any bytes, a target must return (after accepting or refusing them) without trapping,
/// hanging or reading out of bounds. `tailor-fuzz` runs them under libFuzzer and
/// AddressSanitizer; the test suite replays the committed corpus through them.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// The frame decoder, fed the bytes in two pieces (as a socket may deliver them).
    case frames
    /// The HTTP endpoint's request parser, on each of its four endpoints.
    case httpRequest = "http-request"
    /// Safetensors headers and data (adapter uploads).
    case safetensors
    /// GGUF headers (models and LoRA adapters).
    case gguf
    /// GGUF LoRA adapters against the tiny model's shapes.
    case ggufLoRA = "gguf-lora"
    /// The streamed JSONL importer, fed in small chunks.
    case jsonl

}

/// Runs fuzz targets. GGUF LoRA imports are checked against a real model's shapes, read once
/// from the model file named at creation.
public struct FuzzHarness: Sendable {
    private let loraConfig: ModelConfig?
    private let scratchFile = NSTemporaryDirectory() + "tailor-fuzz-\(getpid()).gguf"

    /// A harness; `loraModel` is a GGUF model whose shapes LoRA imports must fit (the
    /// committed tiny llama); without it the gguf-lora target does nothing.
    public init(loraModel: String?) throws {
        loraConfig = try loraModel.map { try ModelConfig(file: GGUFFile(path: $0)) }
    }

    /// Runs `target` on `bytes`. Errors are the expected answer to bad input; only a trap or
    /// a sanitizer report is a finding.
    public func run(_ target: FuzzTarget, _ bytes: [UInt8]) {
        switch target {
        case .frames:
            var decoder = FrameDecoder(maxFrameBytes: 1 << 16)
            let cut = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
            for part in [bytes[..<cut], bytes[cut...]] {
                decoder.append(part)
                while let frame = try? decoder.next() { _ = try? FrameCodec.encode(frame) }
            }
        case .httpRequest:
            HTTPRequestFuzzing.parse(bytes)
        case .safetensors:
            _ = try? Safetensors(bytes: bytes)
        case .gguf, .ggufLoRA:
            let path = scratchFile
            guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { return }
            defer { unlink(path) }
            if target == .gguf {
                _ = try? GGUFFile(path: path)
            } else if let loraConfig {
                _ = try? GGUFLoRA.load(path: path, name: "fuzz", config: loraConfig)
            }
        case .jsonl:
            var reader = JSONLReader(task: "t", limits: PreferenceLimits())
            var i = 0
            while i < bytes.count {
                let n = min(bytes.count - i, 1 + Int(bytes[i]) % 64)
                guard (try? reader.feed(Array(bytes[i..<(i + n)]))) != nil else { return }
                _ = reader.takeReady()
                i += n
            }
            _ = try? reader.finish()
        }
    }
}
