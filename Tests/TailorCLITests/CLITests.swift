import Foundation
import TailorEngine
import TailorTestSupport
import TailorWire
import XCTest

/// Runs the built `tailor` executable the way a user does and checks its output against the
/// engine-level expectations.
final class CLITests: XCTestCase {
    /// The tiny qwen2 (whose logits the engine tests check against transformers).
    private static let tiny = TestPaths.tinyModel("qwen2")

    private func run(_ args: [String], environment: [String: String] = [:]) throws -> BuiltProducts.Output {
        try BuiltProducts.tailor(args, environment: environment)
    }

    override func setUpWithError() throws {
        try XCTSkipUnless(
            FileManager.default.isExecutableFile(atPath: BuiltProducts.tailor.path),
            "tailor binary not built at \(BuiltProducts.tailor.path)")
    }

    func testTokenizeJSONAndPlain() throws {
        let json = try run(["tokenize", "--model", Self.tiny, "--text", "the theme", "--json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let ids = try JSONDecoder().decode([Int].self, from: Data(json.stdout.utf8))
        // The tiny vocabulary merges "Ġ t" → 256 Ġt, "h e" → 257 he, "Ġt he" → 258 Ġthe, so
        // "the" → t·h·e → t·he = [116, 257]; " theme" → Ġ·t·h·e·m·e → Ġt·he·m·e → Ġthe·m·e = [258, 109, 101].
        XCTAssertEqual(ids, [116, 257, 258, 109, 101])
        let plain = try run(["tokenize", "--model", Self.tiny, "--text", "the theme"])
        XCTAssertEqual(plain.stdout, "116 257 258 109 101\n")
    }

    func testLogitsJSONMatchesFixture() throws {
        struct Row: Decodable { let position: Int; let top: [[Double]] }
        struct Expected: Decodable { let tokens: [Int]; let logits: [[Double]] }
        let exp = try JSONDecoder().decode(
            Expected.self, from: Data(contentsOf: TestPaths.fixtures.appendingPathComponent("tiny/qwen2.logits.json")))
        let out = try run([
            "logits", "--model", Self.tiny, "--tokens", exp.tokens.map(String.init).joined(separator: ","),
            "--top", "3", "--all", "--json",
        ])
        XCTAssertEqual(out.status, 0, out.stderr)
        let rows = try JSONDecoder().decode([Row].self, from: Data(out.stdout.utf8))
        XCTAssertEqual(rows.map(\.position), Array(0..<exp.tokens.count))
        for r in rows {
            let ref = exp.logits[r.position]
            let best = ref.indices.sorted { ref[$0] > ref[$1] }.prefix(3)
            XCTAssertEqual(r.top.map { Int($0[0]) }, Array(best))
            for pair in r.top { XCTAssertEqual(pair[1], ref[Int(pair[0])], accuracy: 1e-3) }
        }
    }

    func testRunIsDeterministicAndBounded() throws {
        let args = ["run", "--model", Self.tiny, "-n", "5", "--temperature", "0.8", "--seed", "3", "the"]
        let a = try run(args), b = try run(args)
        XCTAssertEqual(a.status, 0, a.stderr)
        XCTAssertEqual(a.stdout, b.stdout)
    }

    /// `--prefill-path` forces a path (bench says which ran); `auto` reports what the
    /// measurement saw and takes its choice; a bad spelling is refused with the accepted ones.
    func testBenchPrefillPathOverride() throws {
        struct Bench: Decodable {
            let pp48: Double
            let prefill_path: String
            let probe_float_ms: Double?
            let probe_integer_ms: Double?
            let probe_bf16_ms: Double?
        }
        for path in PrefillPath.available.map(\.rawValue) + ["auto"] {
            let out = try run([
                "bench", "--model", Self.tiny, "-t", "1", "-p", "48", "-n", "0", "-r", "1", "--prefill-path", path,
                "--json",
            ])
            XCTAssertEqual(out.status, 0, out.stderr)
            let b = try JSONDecoder().decode(Bench.self, from: Data(out.stdout.utf8))
            XCTAssertGreaterThan(b.pp48, 0)
            if path == "auto" {
                let measured = PrefillMeasurement(
                    rows: 256, floatSeconds: try XCTUnwrap(b.probe_float_ms),
                    integerSeconds: try XCTUnwrap(b.probe_integer_ms), bfloat16Seconds: b.probe_bf16_ms)
                XCTAssertEqual(b.probe_bf16_ms != nil, PrefillPath.bfloat16.isAvailable, "bf16 measured where it runs")
                XCTAssertEqual(b.prefill_path, measured.choice.rawValue, "auto takes the measured choice")
            } else {
                XCTAssertEqual(b.prefill_path, path)
                XCTAssertNil(b.probe_float_ms, "a forced path is not measured")
            }
        }
        let bad = try run(["bench", "--model", Self.tiny, "--prefill-path", "fastest"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--prefill-path must be one of auto, float, integer, bf16"), bad.stderr)
    }

    /// Where OpenBLAS falls back to its SSE3 kernels on a CPU with AVX2 or AVX-512 (Debian's
    /// 0.3.21 on an Emerald Rapids Xeon), `tailor` restarts itself with the kernels the CPU
    /// should have had; elsewhere it runs what OpenBLAS chose; a user's OPENBLAS_CORETYPE wins.
    /// This test process is not restarted, so it sees what OpenBLAS chooses by itself.
    func testBenchRunsTheOpenBLASKernelsTheCPUShouldHave() throws {
        try XCTSkipIf(
            ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] != nil,
            "OPENBLAS_CORETYPE is set for the tests, so OpenBLAS's own choice cannot be seen")
        struct Bench: Decodable { let openblas: String }
        let args = ["bench", "--model", Self.tiny, "-t", "1", "-p", "48", "-n", "0", "-r", "1", "--json"]
        let out = try run(args)
        XCTAssertEqual(out.status, 0, out.stderr)
        let core = try JSONDecoder().decode(Bench.self, from: Data(out.stdout.utf8)).openblas
        XCTAssertEqual(core.lowercased(), (BLASKernels.betterCoreType ?? BLASKernels.coreName).lowercased())
        let chosen = try run(args, environment: ["OPENBLAS_CORETYPE": "Nehalem"])
        XCTAssertEqual(chosen.status, 0, chosen.stderr)
        let forced = try JSONDecoder().decode(Bench.self, from: Data(chosen.stdout.utf8)).openblas
        XCTAssertEqual(forced.lowercased(), "nehalem", "the user's OPENBLAS_CORETYPE is kept")
    }

    /// `train-bench` trains every projection by default, and on a mixture of experts (whose
    /// experts take no LoRA) the attention projections.
    func testTrainBenchDefaultsToWhatTheModelCanTrain() throws {
        for arch in ["qwen2", "qwen3moe"] {
            let r = try run([
                "train-bench", "--model", TestPaths.tinyModel(arch), "-t", "1", "-n", "16", "--steps", "1",
            ])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.contains("r=8 all, 1×16 tokens"), r.stdout)
        }
        let experts = try run([
            "train-bench", "--model", TestPaths.tinyModel("qwen3moe"), "-t", "1", "-n", "16", "--steps", "1",
            "--targets", "q,up",
        ])
        XCTAssertNotEqual(experts.status, 0)
        XCTAssertTrue(experts.stderr.contains("LoRA target 'up' is a feed-forward projection"), experts.stderr)
    }

    func testErrorsNameTheProblem() throws {
        let missing = try run(["tokenize", "--model", "/nonexistent/x.gguf", "--text", "a"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("/nonexistent/x.gguf"), missing.stderr)
        let bad = try run(["run", "--model", Self.tiny, "--top-p", "0", "hi"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("top-p"), bad.stderr)
        let notGGUF = try run(["tokenize", "--model", TestPaths.repository("Package.swift").path, "--text", "a"])
        XCTAssertNotEqual(notGGUF.status, 0)
        XCTAssertTrue(notGGUF.stderr.contains("not a GGUF file"), notGGUF.stderr)
        let badToken = try run(["logits", "--model", Self.tiny, "--tokens", "1,99999", "--json"])
        XCTAssertNotEqual(badToken.status, 0)
        XCTAssertTrue(badToken.stderr.contains("99999"), badToken.stderr)
    }

    func testRunWithALoRAUnmergedAndMerged() throws {
        let llama = TestPaths.fixtures.appendingPathComponent("tiny/llama.gguf").path
        let lora = TestPaths.fixtures.appendingPathComponent("lora/llama-task-peft").path
        let args = ["run", "--model", llama, "-n", "12", "-t", "1", "the quick brown fox"]
        let plain = try run(args)
        let adapted = try run(args + ["--lora", lora])
        // an F32 base merges exactly whatever is asked
        let merged = try run(args + ["--lora", lora, "--merge", "q8_0"])
        XCTAssertEqual(adapted.status, 0, adapted.stderr)
        XCTAssertNotEqual(plain.stdout, adapted.stdout)
        XCTAssertEqual(merged.stdout, adapted.stdout)
        let bad = try run(args + ["--lora", TestPaths.fixtures.appendingPathComponent("lora/gemma3-task-peft").path])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("Gemma3ForCausalLM"), bad.stderr)
    }

    /// `tailor rouge` against rouge_score's numbers for two small files (computed with
    /// RougeScorer(["rouge1", "rouge2", "rougeL"]) and averaged).
    func testRougeCommand() throws {
        let dir = NSTemporaryDirectory() + "rouge-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(
            "{\"id\": \"a\", \"text\": \"Fix the parser for empty lines\"}\n{\"id\": 2, \"text\": \"Add a test\"}\n"
                .utf8
        )
        .write(to: URL(fileURLWithPath: dir + "/gold.jsonl"))
        try Data("{\"id\": 2, \"text\": \"Add tests\"}\n{\"id\": \"a\", \"text\": \"parser: fix empty lines\"}\n".utf8)
            .write(to: URL(fileURLWithPath: dir + "/pred.jsonl"))
        let out = try run(["rouge", "--pred", dir + "/pred.jsonl", "--gold", dir + "/gold.jsonl", "--json"])
        XCTAssertEqual(out.status, 0, out.stderr)
        let j = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any])
        // rouge_score: a: R1 F 0.8, R2 F 0.25, RL F 0.6; 2: R1 0.4, R2 0, RL 0.4.
        XCTAssertEqual(j["rouge1"] as! Double, (0.8 + 0.4) / 2, accuracy: 1e-9)
        XCTAssertEqual(j["rouge2"] as! Double, (0.25 + 0) / 2, accuracy: 1e-9)
        XCTAssertEqual(j["rougeL"] as! Double, (0.6 + 0.4) / 2, accuracy: 1e-9)
        let missing = try run(["rouge", "--pred", dir + "/gold.jsonl", "--gold", dir + "/pred.jsonl"])
        XCTAssertEqual(missing.status, 0)
        try Data("{\"id\": \"a\"}\n".utf8).write(to: URL(fileURLWithPath: dir + "/bad.jsonl"))
        let bad = try run(["rouge", "--pred", dir + "/bad.jsonl", "--gold", dir + "/gold.jsonl"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("bad.jsonl:1: field 'text'"), bad.stderr)
    }

    /// `tailor run --cope`: with α = 0 it prints what greedy decoding of task + user prints; with
    /// α = 1 it runs, and it refuses --cope without --user-lora.
    func testRunCoPe() throws {
        let lora = TestPaths.fixtures.appendingPathComponent("lora").path
        let common = [
            "run", "--model", Self.tiny, "--lora", lora + "/qwen2-task-peft", "--user-lora", lora + "/qwen2-user-peft",
            "-n", "10", "-t", "1",
        ]
        let plain = try run(common + ["the theme"])
        let cope0 = try run(common + ["--cope", "--alpha", "0", "the theme"])
        XCTAssertEqual(cope0.status, 0, cope0.stderr)
        XCTAssertEqual(cope0.stdout, plain.stdout)
        XCTAssertEqual(try run(common + ["--cope", "--alpha", "1", "the theme"]).status, 0)
        let bad = try run(["run", "--model", Self.tiny, "--cope", "the theme"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--cope needs --user-lora"), bad.stderr)
    }

    /// `tailor --version` prints the version tailord reports (it said "Unknown option").
    func testVersion() throws {
        let out = try run(["--version"])
        XCTAssertEqual(out.status, 0, out.stderr)
        XCTAssertEqual(out.stdout.trimmingCharacters(in: .whitespacesAndNewlines), tailorVersion)
    }

    /// `generate --help` describes every sampling option with the defaults the daemon applies
    /// (it showed top-p 0.0 and α, τ 0.0, and top-k had no description).
    func testGenerateHelpShowsTheRealDefaults() throws {
        let help = try run(["generate", "--help"]).stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        XCTAssertTrue(help.contains("--top-k <top-k> Top-k, 0 disables"), help)
        XCTAssertTrue(help.contains("--top-p <top-p> Top-p, 1 disables (default: 1; cope and cd-only: 0.95)."), help)
        XCTAssertTrue(help.contains("--alpha <alpha> CoPe's α (cope, cd-only). (default: 0.1)"), help)
        XCTAssertTrue(help.contains("--tau <tau> CoPe's τ (cope, cd-only). (default: 0.1)"), help)
    }
}
