import Foundation
import XCTest

/// Where every test target finds the repository's fixtures, the fetched models and ../shared:
/// one definition of each path, for all of them.
public enum TestPaths {
    /// The package root (two levels above this file's folder).
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// ../shared beside the repository, or $TAILOR_SHARED; nil when absent.
    public static var shared: URL? {
        let url =
            ProcessInfo.processInfo.environment["TAILOR_SHARED"].map { URL(fileURLWithPath: $0) }
            ?? packageRoot.deletingLastPathComponent().appendingPathComponent("shared")
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }

    /// A path inside the repository.
    public static func repository(_ relative: String) -> URL { packageRoot.appendingPathComponent(relative) }

    /// The engine's committed fixtures (tiny models, adapters, dequantization vectors).
    public static let fixtures = repository("Tests/TailorEngineTests/Fixtures")

    /// A committed tiny random model: llama (BPE tokenizer), qwen2 or gemma3.
    public static func tinyModel(_ architecture: String = "llama") -> String {
        fixtures.appendingPathComponent("tiny/\(architecture).gguf").path
    }

    /// The models directory the fetch script writes to.
    public static var modelsDir: URL {
        let env = ProcessInfo.processInfo.environment
        if let d = env["TAILOR_MODELS_DIR"] { return URL(fileURLWithPath: d) }
        let data = env["XDG_DATA_HOME"] ?? (NSHomeDirectory() + "/.local/share")
        return URL(fileURLWithPath: data).appendingPathComponent("tailor/models")
    }

    public static var smolLM2: URL { modelsDir.appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf") }
    public static var gemma3: URL { modelsDir.appendingPathComponent("gemma-3-270m-q4_k_m.gguf") }

    /// ../shared, or a skip saying it is absent and how to point at it.
    public static func requireShared() throws -> URL {
        guard let s = shared else {
            throw XCTSkip("../shared is absent (set TAILOR_SHARED): skipping a test that needs its fixtures")
        }
        return s
    }

    /// A file of ../shared, or a skip naming it.
    public static func requireShared(_ relative: String) throws -> URL {
        let url = try requireShared().appendingPathComponent(relative)
        guard FileManager.default.fileExists(atPath: url.path) else { throw XCTSkip("../shared/\(relative) is absent") }
        return url
    }

    /// A fetched model's path, or a skip saying how to fetch it.
    public static func requireModel(_ url: URL) throws -> String {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("\(url.lastPathComponent) is absent: run Scripts/fetch-model.sh (--gemma for Gemma 3)")
        }
        return url.path
    }
}
