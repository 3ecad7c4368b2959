import Foundation
import TailorTestSupport
import XCTest

@testable import TailorDaemon

/// The loaded models by id: what loads, what is refused and why (each with its status code and
/// field), which model an empty id names, and unloading.
final class ModelManagerTests: XCTestCase {
    private func settings() -> GenerationSettings {
        var s = GenerationSettings()
        s.slots = 1
        s.contextLength = 64
        s.threads = 1
        return s
    }

    private func refusal(_ body: () async throws -> Void) async -> RPCError? {
        do {
            try await body()
            return nil
        } catch {
            return error as? RPCError
        }
    }

    func testLoadListNameAndUnload() async throws {
        let models = ModelManager(settings: settings())
        let path = TestPaths.tinyModel()
        let info = try await models.load(path: path)
        XCTAssertEqual(info.id, "llama", "the file name without .gguf")
        _ = try await models.load(path: path, id: "second")
        let ids = await models.list().map(\.id)
        XCTAssertEqual(ids, ["llama", "second"])

        let twice = await refusal { _ = try await models.load(path: path, id: "second") }
        XCTAssertEqual(twice?.code, .alreadyExists)
        let ambiguous = await refusal { _ = try await models.model("", field: "generate.model") }
        XCTAssertEqual(ambiguous?.field, "generate.model")
        XCTAssertTrue(ambiguous?.message.contains("llama, second") ?? false, "\(String(describing: ambiguous))")

        try await models.unload(id: "second")
        let only = try await models.model("", field: "generate.model")
        XCTAssertEqual(only.info.id, "llama", "an empty id names the only model")
        let gone = await refusal { try await models.unload(id: "second") }
        XCTAssertEqual(gone?.code, .notFound)
        await models.unloadAll()
        let none = await refusal { _ = try await models.model("", field: "generate.model") }
        XCTAssertEqual(none?.message, "no model is loaded")
    }

    func testBadPathsAndIdsAreRefusedByName() async throws {
        let models = ModelManager(settings: settings())
        let relative = await refusal { _ = try await models.load(path: "tiny/llama.gguf") }
        XCTAssertEqual(relative?.field, "load.path")
        let missing = await refusal { _ = try await models.load(path: "/nonexistent/model.gguf") }
        XCTAssertEqual(missing?.code, .notFound)
        let badID = await refusal { _ = try await models.load(path: TestPaths.tinyModel(), id: "a/b") }
        XCTAssertEqual(badID?.field, "load.id")
        let notGGUF = await refusal { _ = try await models.load(path: TestPaths.repository("Package.swift").path) }
        XCTAssertEqual(notGGUF?.code, .invalidArgument)
        XCTAssertEqual(notGGUF?.field, "load.path")
        let ids = await models.list().map(\.id)
        XCTAssertEqual(ids, [], "nothing half-loaded stays")
    }
}
