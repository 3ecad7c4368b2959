import Foundation
import TailorTestSupport
import XCTest

/// Models by name through the binaries, as an Ollama or llama.cpp user types them: a file in
/// Tailor's models directory or a model Ollama pulled, for offline commands, `models load`,
/// tailord's --model and `model =`; `models available` lists them; an unknown name says where
/// it looked, without a usage banner.
final class ModelsByNameCLITests: DaemonTestCase {
    private var env: [String: String] = [:]

    override func setUpWithError() throws {
        try super.setUpWithError()
        let tiny = TestPaths.tinyModel()
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/models", withIntermediateDirectories: true)
        try fm.copyItem(atPath: tiny, toPath: dir + "/models/tiny-llama.gguf")
        // Ollama's layout: a manifest naming the blob of the model layer.
        let hex = String(repeating: "e", count: 64)
        try fm.createDirectory(
            atPath: dir + "/ollama/manifests/registry.ollama.ai/library/tiny", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: dir + "/ollama/blobs", withIntermediateDirectories: true)
        try fm.copyItem(atPath: tiny, toPath: dir + "/ollama/blobs/sha256-" + hex)
        try Data(
            (#"{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.ollama.image.model","#
                + #""digest":"sha256:\#(hex)"}]}"#).utf8
        ).write(to: URL(fileURLWithPath: dir + "/ollama/manifests/registry.ollama.ai/library/tiny/2m"))
        env = ["TAILOR_MODELS_DIR": dir + "/models", "OLLAMA_MODELS": dir + "/ollama"]
    }

    private func cli(_ args: [String]) throws -> BuiltProducts.Output {
        try BuiltProducts.tailor(args, environment: env)
    }

    func testOfflineCommandsAndTheListTakeNames() throws {
        let list = try cli(["models", "available"])
        XCTAssertEqual(list.status, 0, list.stderr)
        let lines = list.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        XCTAssertEqual(lines.map { $0.first }, ["NAME", "tiny-llama.gguf", "tiny:2m"])
        XCTAssertEqual(lines.map { $0[1] }, ["SOURCE", "tailor", "ollama"])
        let byPath = try cli(["tokenize", "--model", TestPaths.tinyModel(), "--text", "the theme"])
        for name in ["tiny-llama", "tiny-llama.gguf", "tiny:2m"] {
            let byName = try cli(["tokenize", "--model", name, "--text", "the theme"])
            XCTAssertEqual(byName.status, 0, "\(name): \(byName.stderr)")
            XCTAssertEqual(byName.stdout, byPath.stdout, name)
        }
        let unknown = try cli(["run", "--model", "llama3:70b", "-n", "2", "hi"])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("no model named 'llama3:70b'"), unknown.stderr)
        XCTAssertTrue(unknown.stderr.contains("tailor models available"), unknown.stderr)
        XCTAssertFalse(unknown.stderr.contains("USAGE"), "a missing model is not a usage mistake: \(unknown.stderr)")
    }

    func testTheDaemonLoadsModelsByName() throws {
        let socket = dir + "/n.sock", config = dir + "/tailord.conf"
        try "model = tiny:2m\n".write(toFile: config, atomically: true, encoding: .utf8)
        try startDaemon(
            ["--socket", socket, "--state-dir", dir + "/state", "--threads", "1", "--config", config],
            socket: socket, environment: env)
        let load = try cli(["models", "load", "--socket", socket, "--id", "second", "tiny-llama"])
        XCTAssertEqual(load.status, 0, load.stderr)
        let ls = try cli(["models", "ls", "--socket", socket]).stdout
        XCTAssertTrue(ls.contains(dir + "/ollama/blobs/sha256-"), ls)
        XCTAssertTrue(ls.contains("second\tllama"), ls)
        XCTAssertTrue(ls.contains(dir + "/models/tiny-llama.gguf"), ls)
        daemon?.terminate()
        daemon?.waitUntilExit()
        // An unknown name stops tailord at start, saying which.
        let bad = Process()
        bad.executableURL = BuiltProducts.tailord
        bad.arguments = ["--socket", dir + "/b.sock", "--state-dir", dir + "/state2", "--model", "nope:1b"]
        bad.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        let err = Pipe()
        bad.standardError = err
        try bad.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        bad.waitUntilExit()
        XCTAssertNotEqual(bad.terminationStatus, 0)
        XCTAssertTrue(text.contains("no model named 'nope:1b'"), text)
    }

    /// A base model without a chat template (Gemma 3 270M's GGUF, the tiny gemma3) gets a
    /// warning on --chat, offline and through the daemon; a chat model does not.
    func testChatOnAModelWithoutATemplateWarns() throws {
        let gemma = TestPaths.fixtures.appendingPathComponent("tiny/gemma3.gguf").path
        let warned = try cli(["run", "--model", gemma, "--chat", "-n", "2", "hi"])
        XCTAssertEqual(warned.status, 0, warned.stderr)
        XCTAssertTrue(warned.stderr.contains("gemma3.gguf has no chat template"), warned.stderr)
        let chatModel = try cli(["run", "--model", TestPaths.tinyModel(), "--chat", "-n", "2", "hi"])
        XCTAssertFalse(chatModel.stderr.contains("no chat template"), chatModel.stderr)
        let socket = dir + "/c.sock"
        try startDaemon(
            [
                "--socket", socket, "--state-dir", dir + "/state", "--threads", "1", "--config", emptyConfig(),
                "--model", gemma, "--model", TestPaths.tinyModel(),
            ], socket: socket, environment: env)
        let viaDaemon = try cli(["generate", "--socket", socket, "--model", "gemma3", "--chat", "-n", "2", "hi"])
        XCTAssertEqual(viaDaemon.status, 0, viaDaemon.stderr)
        XCTAssertTrue(viaDaemon.stderr.contains("gemma3 has no chat template"), viaDaemon.stderr)
        let llama = try cli(["generate", "--socket", socket, "--model", "llama", "--chat", "-n", "2", "hi"])
        XCTAssertFalse(llama.stderr.contains("no chat template"), llama.stderr)
    }
}
