import Foundation
import XCTest

/// Where tests find data that lives outside the repository.
enum TestPaths {
    /// The package root (three levels above this file).
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// ../shared beside the repository, or $TAILOR_SHARED.
    static var shared: URL? {
        let url = ProcessInfo.processInfo.environment["TAILOR_SHARED"].map { URL(fileURLWithPath: $0) }
            ?? packageRoot.deletingLastPathComponent().appendingPathComponent("shared")
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }

    /// Committed fixtures of this test target.
    static let fixtures = packageRoot.appendingPathComponent("Tests/TailorEngineTests/Fixtures")

    /// The models directory the fetch script writes to.
    static var modelsDir: URL {
        let env = ProcessInfo.processInfo.environment
        if let d = env["TAILOR_MODELS_DIR"] { return URL(fileURLWithPath: d) }
        let data = env["XDG_DATA_HOME"] ?? (NSHomeDirectory() + "/.local/share")
        return URL(fileURLWithPath: data).appendingPathComponent("tailor/models")
    }

    static var smolLM2: URL { modelsDir.appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf") }
    static var gemma3: URL { modelsDir.appendingPathComponent("gemma-3-270m-q4_k_m.gguf") }

    /// Skips the test, with a message saying what is missing and how to get it.
    static func requireShared(file: StaticString = #filePath, line: UInt = #line) throws -> URL {
        guard let s = shared else {
            throw XCTSkip("../shared is absent (set TAILOR_SHARED): skipping a test that needs its fixtures")
        }
        return s
    }

    static func requireModel(_ url: URL) throws -> String {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("\(url.lastPathComponent) is absent: run Scripts/fetch-model.sh (--gemma for Gemma 3)")
        }
        return url.path
    }
}
