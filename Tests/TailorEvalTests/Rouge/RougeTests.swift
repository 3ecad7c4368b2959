import Foundation
import TailorTestSupport
import XCTest

@testable import TailorEval

/// ROUGE against Google's rouge_score on 1,200 generated pairs (Unicode, punctuation, empty
/// strings), with and without the Porter stemmer, and the stemmer against NLTK's word by word.
final class RougeTests: XCTestCase {
    private static func fixture() throws -> [String: Any] {
        let url = TestPaths.repository("Tests/TailorEvalTests/Fixtures/rouge.json")
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    func testScoresMatchRougeScore() throws {
        let pairs = try XCTUnwrap(try Self.fixture()["pairs"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(pairs.count, 1000)
        var checked = 0
        for p in pairs {
            let prediction = p["prediction"] as! String, reference = p["reference"] as! String
            for (key, stem) in [("plain", false), ("stemmed", true)] {
                let ref = p[key] as! [String: [Double]]
                let ours = Rouge.score(prediction: prediction, reference: reference, stem: stem)
                for (name, s) in [("rouge1", ours.rouge1), ("rouge2", ours.rouge2), ("rougeL", ours.rougeL)] {
                    let r = ref[name]!
                    XCTAssertEqual(
                        s.precision, r[0], accuracy: 1e-12, "\(name) \(key) P: '\(prediction)' vs '\(reference)'")
                    XCTAssertEqual(s.recall, r[1], accuracy: 1e-12, "\(name) \(key) R")
                    XCTAssertEqual(s.fmeasure, r[2], accuracy: 1e-12, "\(name) \(key) F")
                    checked += 1
                }
            }
        }
        XCTAssertEqual(checked, pairs.count * 6)
    }

    func testPorterStemsMatchNLTK() throws {
        let stems = try XCTUnwrap(try Self.fixture()["stems"] as? [[String]])
        var wrong: [String] = []
        for s in stems where PorterStemmer.stem(s[0]) != s[1] {
            wrong.append("\(s[0]) → \(PorterStemmer.stem(s[0])), NLTK \(s[1])")
        }
        XCTAssertEqual(wrong, [], "\(wrong.count) of \(stems.count) stems differ")
    }

    func testTokenizerAndEdgeCases() {
        XCTAssertEqual(
            Rouge.tokenize("Hello, World! It's 2025 — café x²"), ["hello", "world", "it", "s", "2025", "caf", "x"])
        XCTAssertEqual(Rouge.tokenize("\u{212A}elvin İ"), ["kelvin", "i"])  // lowercase to ASCII, as Python's str.lower
        XCTAssertEqual(Rouge.score(prediction: "", reference: "a b").rougeL, Rouge.Score(precision: 0, recall: 0))
        XCTAssertEqual(Rouge.score(prediction: "the cat sat", reference: "the cat sat").rouge2.fmeasure, 1)
        XCTAssertEqual(Rouge.tokenize("running connections", stem: true), ["run", "connect"])
    }
}
