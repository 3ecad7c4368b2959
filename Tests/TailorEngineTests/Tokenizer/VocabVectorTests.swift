import Foundation
import TailorTestSupport
import XCTest

@testable import TailorEngine

/// llama.cpp's tokenizer test vectors (shared/fixtures/vocab): every case must match exactly.
final class VocabVectorTests: XCTestCase {
    private func run(_ name: String) throws {
        let dir = try TestPaths.requireShared().appendingPathComponent("fixtures/vocab")
        let gguf = try GGUFFile(path: dir.appendingPathComponent("ggml-vocab-\(name).gguf").path)
        let tok = try Tokenizer(file: gguf)
        let inp = try String(contentsOf: dir.appendingPathComponent("ggml-vocab-\(name).gguf.inp"), encoding: .utf8)
        let out = try String(contentsOf: dir.appendingPathComponent("ggml-vocab-\(name).gguf.out"), encoding: .utf8)
        var cases = inp.components(separatedBy: "\n__ggml_vocab_test__\n")
        if cases.last == "" { cases.removeLast() }
        var expected = out.components(separatedBy: "\n")
        if expected.last == "" { expected.removeLast() }
        XCTAssertEqual(cases.count, expected.count, "\(name): case count")
        var failures = 0
        for (text, exp) in zip(cases, expected) {
            let want = exp.split(separator: " ").compactMap { Int32($0) }
            let got = tok.encode(text, addSpecial: false, parseSpecial: false)
            if got != want {
                failures += 1
                XCTFail("\(name): \(text.debugDescription)\n  want \(want)\n  got  \(got)")
            }
        }
        XCTAssertEqual(failures, 0, "\(name): \(failures) of \(cases.count) cases differ")
        XCTAssertGreaterThan(cases.count, 10)
    }

    func testGPT2() throws { try run("gpt-2") }
    func testLlamaBPE() throws { try run("llama-bpe") }
    func testQwen2() throws { try run("qwen2") }
    func testLlamaSPM() throws { try run("llama-spm") }
    func testPhi3() throws { try run("phi-3") }

    /// Phi-3's special tokens swallow the whitespace after them, as its Hugging Face tokenizer's
    /// `rstrip` says; <s> and the text's own newline before <|end|> are kept. The ids are
    /// llama-tokenize's (llama.cpp 11434) for this prompt on the same vocabulary.
    func testPhi3ChatPromptStripsWhitespaceAfterSpecialTokens() throws {
        let dir = try TestPaths.requireShared().appendingPathComponent("fixtures/vocab")
        let tok = try Tokenizer(file: try GGUFFile(path: dir.appendingPathComponent("ggml-vocab-phi-3.gguf").path))
        let prompt = "<|system|>\nBe brief.<|end|>\n<|user|>\n  Hi there\n<|end|>\n<|assistant|>\n"
        XCTAssertEqual(
            tok.encode(prompt, addSpecial: true, parseSpecial: true),
            [1, 32006, 1522, 11473, 29889, 32007, 32010, 6324, 727, 13, 32007, 32001])
    }
}
