import Foundation
import XCTest

@testable import TailorModels

/// Models by name: files in Tailor's directory, Ollama's manifests and blobs (laid out here as
/// Ollama writes them), paths as given, and the refusals that say where the catalog looked.
final class ModelCatalogTests: XCTestCase {
    private var root: URL!
    private var catalog: ModelCatalog!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("catalog-\(UUID().uuidString)")
        try FileManager.default.createDirectory(
            at: root.appendingPathComponent("tailor"), withIntermediateDirectories: true)
        catalog = ModelCatalog(
            directory: root.appendingPathComponent("tailor"), ollamaRoots: [root.appendingPathComponent("ollama")])
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    private func write(_ path: String, _ text: String = "GGUF") throws -> String {
        let url = root.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    /// Pulls `name` into the fake Ollama store: a manifest under `components` and its blob.
    @discardableResult
    private func pull(
        _ components: [String], digestByte: Character = "a", layer: String = OllamaStore.modelLayer
    )
        throws -> String
    {
        let hex = String(repeating: digestByte, count: 64)
        let manifest = """
            {"schemaVersion": 2, "config": {"digest": "sha256:\(String(repeating: "0", count: 64))"},
             "layers": [{"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:\
            \(String(repeating: "1", count: 64))"},
                        {"mediaType": "\(layer)", "digest": "sha256:\(hex)", "size": 4}]}
            """
        try write("ollama/manifests/" + components.joined(separator: "/"), manifest)
        return try write("ollama/blobs/sha256-" + hex)
    }

    func testNamesResolveToTailorFilesThenOllamaModels() throws {
        let gemma = try write("tailor/gemma-3-270m-q4_k_m.gguf", "GGUF-gemma")
        XCTAssertEqual(try catalog.resolve("gemma-3-270m-q4_k_m.gguf"), gemma)
        XCTAssertEqual(try catalog.resolve("gemma-3-270m-q4_k_m"), gemma, "without .gguf")
        XCTAssertEqual(try catalog.resolve("Gemma-3-270M-Q4_K_M"), gemma, "ignoring case")
        let blob = try pull(["registry.ollama.ai", "library", "gemma3", "270m"])
        XCTAssertEqual(try catalog.resolve("gemma3:270m"), blob)
        let latest = try pull(["registry.ollama.ai", "library", "qwen2.5", "latest"], digestByte: "b")
        XCTAssertEqual(try catalog.resolve("qwen2.5"), latest, "no tag: latest")
        let mine = try pull(["registry.ollama.ai", "me", "tuned", "v1"], digestByte: "c")
        XCTAssertEqual(try catalog.resolve("me/tuned:v1"), mine)
        let hf = try pull(["hf.co", "bartowski", "SmolLM2-GGUF", "Q4_K_M"], digestByte: "d")
        XCTAssertEqual(try catalog.resolve("hf.co/bartowski/SmolLM2-GGUF:Q4_K_M"), hf)
        // A path is taken as given.
        XCTAssertEqual(try catalog.resolve(gemma), gemma)
        XCTAssertEqual(
            catalog.available().map { "\($0.source) \($0.name) \($0.bytes)" },
            [
                "tailor gemma-3-270m-q4_k_m.gguf 10", "ollama gemma3:270m 4",
                "ollama hf.co/bartowski/SmolLM2-GGUF:Q4_K_M 4", "ollama me/tuned:v1 4", "ollama qwen2.5:latest 4",
            ])
    }

    func testUnknownNamesAndBadManifestsSayWhy() throws {
        XCTAssertThrowsError(try catalog.resolve("llama3:8b")) { e in
            let text = "\(e)"
            XCTAssertTrue(text.contains("no model named 'llama3:8b'"), text)
            XCTAssertTrue(text.contains(root.appendingPathComponent("tailor").path), text)
            XCTAssertTrue(text.contains("tailor models available"), text)
        }
        XCTAssertEqual(
            "\(try XCTUnwrapError { try catalog.resolve("./missing.gguf") })", "no model file at ./missing.gguf")
        try pull(["registry.ollama.ai", "library", "broken", "latest"], layer: "application/vnd.ollama.image.license")
        XCTAssertEqual(
            try XCTUnwrapError { try catalog.resolve("broken") } as? ModelCatalogError,
            .badOllamaModel(name: "broken", problem: "its manifest has no model layer"))
        // Names cannot climb out of the store.
        XCTAssertNil(OllamaStore.components("../../etc/passwd"))
        XCTAssertNil(OllamaStore.components("a/../b:c"))
        XCTAssertNil(OllamaStore.components("a/b/c/d:e"))
        XCTAssertEqual(OllamaStore.components("gemma3"), ["registry.ollama.ai", "library", "gemma3", "latest"])
        XCTAssertThrowsError(try catalog.resolve("../tailor/x"))
        XCTAssertEqual(catalog.available().map(\.name), [], "the broken model is not listed")
    }

    func testEnvironmentPicksTheDirectories() {
        let c = ModelCatalog(environment: ["HOME": "/home/u", "XDG_DATA_HOME": "/data", "OLLAMA_MODELS": "/srv/ollama"])
        XCTAssertEqual(c.directory.path, "/data/tailor/models")
        XCTAssertEqual(c.ollama.map(\.root.path), ["/srv/ollama"])
        let d = ModelCatalog(environment: ["HOME": "/home/u", "TAILOR_MODELS_DIR": "/m"])
        XCTAssertEqual(d.directory.path, "/m")
        XCTAssertEqual(d.ollama.map(\.root.path), ["/home/u/.ollama/models", "/usr/share/ollama/.ollama/models"])
    }

    private struct NoError: Error {}

    /// The error `body` throws; a test failure when it throws none.
    private func XCTUnwrapError(_ body: () throws -> Void) throws -> Error {
        do { try body() } catch { return error }
        XCTFail("expected an error")
        throw NoError()
    }
}
