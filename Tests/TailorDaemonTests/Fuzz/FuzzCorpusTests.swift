import Foundation
import TailorEngine
import TailorFuzz
import TailorTestSupport
import XCTest

/// The fuzz targets over their committed seed corpus (Tests/Fuzz/Corpus), and over byte-flip
/// mutations of it: what `tailor-fuzz` explores for minutes under libFuzzer and
/// AddressSanitizer (Scripts/fuzz.sh) is replayed here on every test run, so a crash the
/// fuzzer found and we committed as a seed stays fixed.
final class FuzzCorpusTests: XCTestCase {
    static let corpus = TestPaths.packageRoot.appendingPathComponent("Tests/Fuzz/Corpus")

    private func seeds(_ target: FuzzTarget) throws -> [[UInt8]] {
        let dir = Self.corpus.appendingPathComponent(target.rawValue)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        return try names.map { [UInt8](try Data(contentsOf: dir.appendingPathComponent($0))) }
    }

    func testEveryTargetHasSeedsAndSurvivesThemAndTheirMutations() throws {
        let harness = try FuzzHarness(loraModel: DaemonHarness.tinyModel)
        var rng = SystemRandomNumberGenerator()
        for target in FuzzTarget.allCases {
            let seeds = try seeds(target)
            XCTAssertFalse(seeds.isEmpty, "\(target.rawValue) has no seeds")
            for seed in seeds {
                harness.run(target, seed)
                for _ in 0..<200 where !seed.isEmpty {
                    var m = seed
                    for _ in 0..<Int.random(in: 1...8, using: &rng) {
                        m[Int.random(in: 0..<m.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                    }
                    if Bool.random(using: &rng) { m = Array(m.prefix(Int.random(in: 0...m.count, using: &rng))) }
                    harness.run(target, m)
                }
            }
        }
    }

    /// The seeds are real inputs, not noise: the LoRA seed imports for the tiny model.
    func testTheLoRASeedIsAValidAdapter() throws {
        let path = Self.corpus.appendingPathComponent("gguf-lora/llama-q-lora").path
        let config = try ModelConfig(file: GGUFFile(path: DaemonHarness.tinyModel))
        let adapter = try GGUFLoRA.load(path: path, name: "seed", config: config)
        XCTAssertEqual(adapter.rank, 2)
        XCTAssertEqual(adapter.weights.count, 2)
    }
}
