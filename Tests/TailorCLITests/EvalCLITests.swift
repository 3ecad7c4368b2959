import Foundation
import TailorEval
import TailorTestSupport
import XCTest

/// `tailor eval` end to end on the tiny llama and a small per-user data set: every method is
/// scored, the report is written, and a second run reuses every cached step.
final class EvalCLITests: XCTestCase {
    /// A data set in ../shared/data's per-user layout.
    private func writeDataSet(_ dir: String, others: [[String: String]], users: [[String: Any]]) throws {
        try JSONSerialization.data(withJSONObject: others).write(to: URL(fileURLWithPath: dir + "/user_others.json"))
        try JSONSerialization.data(withJSONObject: users).write(to: URL(fileURLWithPath: dir + "/users.json"))
    }

    func testEvalRunsThePipelineAndResumesFromItsCaches() throws {
        let dir = NSTemporaryDirectory() + "tailor-eval-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir + "/data", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func item(_ i: Int) -> [String: String] {
            ["id": "o\(i)", "input": "the theme \(i)\ntitle:", "output": "he the \(i % 3)"]
        }
        let others = (0..<4).map(item)
        let users: [[String: Any]] = ["Ann Lee", "Bo"].map { name in
            [
                "user_id": name,
                "profile": (0..<3).map {
                    ["id": "\(name)-\($0)", "input": "the \($0) theme\ntitle:", "output": "the he"]
                },
                // One query id for both users, as for a co-authored PEP: each author's output counts.
                // Bo's gold loops, so the report's count of looping golds is 1.
                "query": [
                    ["id": "shared-q", "input": "the theme\ntitle:", "gold": name == "Bo" ? "the the the" : "the he"]
                ],
            ]
        }
        try writeDataSet(dir + "/data", others: others, users: users)
        let args = [
            "eval", "--data", dir + "/data", "--model", TestPaths.tinyModel(), "--out", dir + "/out", "--tam-epochs",
            "1",
            "--oppu-epochs", "1", "--max-new-tokens", "4", "--samples", "2", "--max-tokens", "48", "-t", "1",
            // Each run measures the prefill paths; on the tiny model float and bf16 tie, so two
            // runs could train on different paths and the resumed DPO would not be bit for bit.
            "--prefill-path", "float",
        ]
        let first = try BuiltProducts.tailor(args)
        XCTAssertEqual(first.status, 0, first.stderr)
        let results = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/out/results.json")))
                as? [String: Any])
        for m in ["base", "tam", "oppu", "cope", "cd-only", "dpo-only"] {
            let r = try XCTUnwrap(results[m] as? [String: Any], m)
            XCTAssertEqual(r["n"] as? Int, 2, m)
            let rl = try XCTUnwrap(r["rougeL"] as? [Double])
            XCTAssertTrue(rl[1] <= rl[0] && rl[0] <= rl[2], "\(m): the mean lies in its interval")
        }
        // Paired differences over the same queries, for each pair of methods compared.
        let paired = try XCTUnwrap(results["paired_rougeL"] as? [String: [String: Any]])
        XCTAssertEqual(
            Set(paired.keys), ["cope-oppu", "cope-tam", "oppu-tam", "cope-cd-only", "cope-dpo-only", "tam-base"])
        for (pair, p) in paired {
            XCTAssertEqual(p["n"] as? Int, 2, pair)
            XCTAssertEqual((p["wins"] as? Int ?? 0) + (p["ties"] as? Int ?? 0) + (p["losses"] as? Int ?? 0), 2, pair)
            let interval = try XCTUnwrap(p["interval"] as? [Double]), mean = try XCTUnwrap(p["mean"] as? Double)
            XCTAssertTrue(interval[0] <= mean && mean <= interval[1], "\(pair): \(p)")
        }
        XCTAssertTrue(
            try String(contentsOfFile: dir + "/out/results.md", encoding: .utf8).contains("| cope − oppu | 2 |"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/out/results.svg"))
        // Diagnostics: every contrastive token counted in |V_head|'s histogram, the cached steps
        // agreeing with the report, and per user the divergences and DPO's margins.
        let diagnostics = try XCTUnwrap(results["diagnostics"] as? [String: Any])
        let decoding = try XCTUnwrap(diagnostics["decoding"] as? [String: [String: Any]])
        XCTAssertEqual(Set(decoding.keys), ["cope", "cd-only"])
        var cachedTokens = 0, cachedChanged = 0, copeLoops = 0
        for user in ["Ann%20Lee", "Bo"] {
            let lines = try String(
                contentsOfFile: try EvalLine.file(dir + "/out/users/\(user)", "generations-cope-"), encoding: .utf8)
            for line in lines.split(separator: "\n") {
                let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                let heads = o["vhead"] as? [Int] ?? []
                XCTAssertTrue(heads.allSatisfy { $0 >= 1 }, "\(o)")
                cachedTokens += heads.count
                cachedChanged += o["changed"] as? Int ?? 0
                if Repetition.loops(o["text"] as? String ?? "") { copeLoops += 1 }
            }
        }
        // Outputs that loop, counted per method beside ROUGE, and the golds that do.
        XCTAssertEqual((results["cope"] as? [String: Any])?["loops"] as? Int, copeLoops)
        XCTAssertEqual(results["gold_loops"] as? Int, 1)
        let cope = try XCTUnwrap(decoding["cope"])
        XCTAssertEqual(cope["tokens"] as? Int, cachedTokens)
        XCTAssertEqual(cope["changed"] as? Int, cachedChanged)
        XCTAssertEqual((cope["vhead_histogram"] as? [String: Int])?.values.reduce(0, +), cachedTokens)
        let perUser = try XCTUnwrap(diagnostics["per_user"] as? [String: [String: Any]])
        XCTAssertEqual(Set(perUser.keys), ["Ann Lee", "Bo"])
        for (name, d) in perUser {
            for key in ["kl_tam_base", "kl_oppu_tam", "kl_dpo_tam"] {
                XCTAssertGreaterThanOrEqual(try XCTUnwrap(d[key] as? Double, "\(name) \(key)"), 0)
            }
            XCTAssertNotNil(d["margin_before_dpo"] as? Double, name)
            XCTAssertNotNil(d["margin_after_dpo"] as? Double, name)
        }
        XCTAssertNoThrow(try EvalLine.file(dir + "/out/users/Bo", "diagnostics-"))
        XCTAssertTrue(
            try String(contentsOfFile: dir + "/out/results.md", encoding: .utf8).contains("## Diagnostics"))
        XCTAssertTrue(try String(contentsOfFile: dir + "/out/results.md", encoding: .utf8).contains("| cope | 2 |"))
        let dpo = try EvalLine.file(dir + "/out/users/Ann%20Lee", "dpo-")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dpo + "/adapter_model.safetensors"))
        // Resumed: nothing is trained or generated again, and the results are the same.
        let second = try BuiltProducts.tailor(args)
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertFalse(second.stderr.contains("step"), second.stderr)
        let again =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/out/results.json")))
            as? [String: Any]
        XCTAssertEqual(
            (again?["cope"] as? [String: Any])?["rougeL"] as? [Double],
            (results["cope"] as? [String: Any])?["rougeL"] as? [Double])
        // DPO retrained from the cached negatives trains against the reference scores cached
        // beside them (the negatives stage's), so it writes the same adapter again.
        let weights = dpo + "/adapter_model.safetensors"
        let trained = try Data(contentsOf: URL(fileURLWithPath: weights))
        let cached = try FileManager.default.contentsOfDirectory(atPath: dir + "/out/users/Ann%20Lee")
        XCTAssertTrue(
            cached.contains { $0.hasPrefix("negatives-") && $0.hasSuffix(".jsonl.references.json") }, "\(cached)")
        try FileManager.default.removeItem(atPath: dpo)
        let retrained = try BuiltProducts.tailor(args)
        XCTAssertEqual(retrained.status, 0, retrained.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: weights)), trained)
        // A decoding variant reuses the adapters and writes its own generations and results.
        let variant = try BuiltProducts.tailor(args + ["--repeat-penalty", "1.5", "--methods", "base,cope"])
        XCTAssertEqual(variant.status, 0, variant.stderr)
        XCTAssertFalse(variant.stderr.contains("step"), variant.stderr)
        let rp = try XCTUnwrap(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: dir + "/out/results-rp1.5.json"))) as? [String: Any])
        XCTAssertEqual(
            Set(
                rp.keys.filter {
                    !$0.hasPrefix("per_user") && !$0.hasPrefix("paired")
                        && !["command", "diagnostics", "gold_loops"].contains($0)
                }),
            ["base", "cope"], "\(rp.keys)")
        XCTAssertTrue(try EvalLine.file(dir + "/out/users/Bo", "generations-cope-").hasSuffix("rp1.5.jsonl"))
        let unchanged =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/out/results.json")))
            as? [String: Any]
        XCTAssertNotNil(unchanged?["dpo-only"], "the default run's results stay")
        // DRY as the commit tool decodes with it: another decoding variant of its own.
        let dry = try BuiltProducts.tailor(args + ["--dry-multiplier", "0.8", "--methods", "oppu"])
        XCTAssertEqual(dry.status, 0, dry.stderr)
        XCTAssertFalse(dry.stderr.contains("step"), dry.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/out/results-dry0.8l2.json"))
        XCTAssertTrue(try EvalLine.file(dir + "/out/users/Bo", "generations-oppu-").hasSuffix("dry0.8l2.jsonl"))
        let badDRY = try BuiltProducts.tailor(args + ["--dry-allowed-length", "0"])
        XCTAssertNotEqual(badDRY.status, 0)
        XCTAssertTrue(badDRY.stderr.contains("--dry-allowed-length"), badDRY.stderr)
        // Other DPO settings train their own adapter in the same out dir, on the shared OPPU
        // adapter: nothing cached under the first run's rate is read as this one's.
        let rate = try BuiltProducts.tailor(args + ["--dpo-lr", "1e-3", "--methods", "cope"])
        XCTAssertEqual(rate.status, 0, rate.stderr)
        XCTAssertTrue(rate.stderr.contains("Ann Lee dpo step"), rate.stderr)
        XCTAssertFalse(rate.stderr.contains("oppu step"), rate.stderr)
        let adapters = try FileManager.default.contentsOfDirectory(atPath: dir + "/out/users/Ann%20Lee")
        XCTAssertEqual(adapters.filter { $0.hasPrefix("dpo-") }.count, 2, "\(adapters)")
        XCTAssertEqual(adapters.filter { $0.hasPrefix("generations-cope-") }.count, 3, "\(adapters)")
        // A setting the paths do not name is fixed per out dir.
        let tokens = try BuiltProducts.tailor(args.map { $0 == "4" ? "5" : $0 })
        XCTAssertNotEqual(tokens.status, 0)
        XCTAssertTrue(tokens.stderr.contains("max_new_tokens 4, not 5; its cached steps"), tokens.stderr)
        let bad = try BuiltProducts.tailor(args + ["--repeat-penalty", "0"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--repeat-penalty must be a positive number"), bad.stderr)
    }

    /// LaMP's own files: each question is a user with a task-field profile; users beyond
    /// --users N train the task adapter. --holdout scores profile items instead of the golds.
    func testLaMPFilesAndHoldoutTuning() throws {
        let dir = NSTemporaryDirectory() + "tailor-eval-lamp-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir + "/lamp", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let questions: [[String: Any]] = (0..<3).map { u in
            [
                "id": "q\(u)", "input": "Generate a title for the following abstract of a paper: the theme \(u)",
                "profile": (0..<5).map { ["id": "p\(u)-\($0)", "abstract": "the he theme \($0)", "title": "the he"] },
            ]
        }
        let outputs: [String: Any] = ["task": "LaMP_5", "golds": (0..<3).map { ["id": "q\($0)", "output": "the he"] }]
        try JSONSerialization.data(withJSONObject: questions).write(
            to: URL(fileURLWithPath: dir + "/lamp/dev_questions.json"))
        try JSONSerialization.data(withJSONObject: outputs).write(
            to: URL(fileURLWithPath: dir + "/lamp/dev_outputs.json"))
        let common = [
            "eval", "--data", dir + "/lamp", "--model", TestPaths.tinyModel(), "--tam-epochs", "1", "--oppu-epochs",
            "1",
            "--max-new-tokens", "4", "--max-tokens", "48", "-t", "1", "--methods", "base,tam,oppu",
        ]
        let all = try BuiltProducts.tailor(common + ["--out", dir + "/all"])
        XCTAssertNotEqual(all.status, 0)
        XCTAssertTrue(all.stderr.contains("pass --users N below the 3 questions"), all.stderr)
        let r = try BuiltProducts.tailor(common + ["--out", dir + "/out", "--users", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let results = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/out/results.json")))
                as? [String: Any])
        XCTAssertEqual((results["oppu"] as? [String: Any])?["n"] as? Int, 2)
        XCTAssertEqual(Set(((results["per_user_rougeL"] as? [String: Any]) ?? [:]).keys), ["q0", "q1"])
        // Methods without a user adapter: nothing else makes the users' folders.
        let plain = try BuiltProducts.tailor(
            common.map { $0 == "base,tam,oppu" ? "base,tam" : $0 } + ["--out", dir + "/plain", "--users", "2"])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertNoThrow(try EvalLine.file(dir + "/plain/users/q1", "generations-tam-"))
        // Holdout: the last 2 profile items of each user are the queries; the golds are unused.
        let h = try BuiltProducts.tailor(common + ["--out", dir + "/holdout", "--users", "2", "--holdout", "2"])
        XCTAssertEqual(h.status, 0, h.stderr)
        let gens = try String(
            contentsOfFile: try EvalLine.file(dir + "/holdout/users/q0", "generations-oppu-"), encoding: .utf8)
        XCTAssertEqual(
            gens.split(separator: "\n").compactMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])?["id"]
            }.sorted(), ["validate:p0-3", "validate:p0-4"])
    }

    /// --tune: a stage-by-stage search on held-back profile items; every stage's winner is its
    /// best point (the first on a tie), grid points share the steps they share, and a rerun
    /// trains and generates nothing again.
    func testTuneChoosesStageByStageOnHeldBackItems() throws {
        let dir = NSTemporaryDirectory() + "tailor-tune-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir + "/data", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let others = (0..<4).map { ["id": "o\($0)", "input": "the theme \($0)\ntitle:", "output": "he the"] }
        let users: [[String: Any]] = ["Ann", "Bo"].map { name in
            [
                "user_id": name,
                "profile": (0..<5).map {
                    ["id": "\(name)-\($0)", "input": "the \($0) theme\ntitle:", "output": "the he"]
                },
                "query": [["id": "q", "input": "the theme\ntitle:", "gold": "never read"]],
            ]
        }
        try writeDataSet(dir + "/data", others: others, users: users)
        let grid: [String: Any] = [
            "tam_epochs": [1], "oppu_learning_rate": [1e-3, 3e-2], "oppu_epochs": [1], "samples": [2],
            "negative_temperature": [1], "beta": [0.1], "dpo_learning_rate": [1e-3], "dpo_epochs": [1],
            "alpha": [0.1, 1], "tau": [0.1],
        ]
        try JSONSerialization.data(withJSONObject: grid).write(to: URL(fileURLWithPath: dir + "/grid.json"))
        let args = [
            "eval", "--data", dir + "/data", "--model", TestPaths.tinyModel(), "--out", dir + "/out", "--tune",
            "--tune-grid", dir + "/grid.json", "--holdout", "2", "--max-new-tokens", "4", "--max-tokens", "48",
            "-t", "1",
        ]
        let first = try BuiltProducts.tailor(args)
        XCTAssertEqual(first.status, 0, first.stderr)
        let tune = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/out/tune.json")))
                as? [String: Any])
        let stages = try XCTUnwrap(tune["stages"] as? [[String: Any]])
        XCTAssertEqual(stages.map { $0["name"] as? String }, ["tam", "oppu", "negatives", "dpo", "decoding"])
        for stage in stages {
            let scores = try XCTUnwrap(stage["points"] as? [[String: Any]]).map { $0["rougeL"] as! Double }
            let chosen = try XCTUnwrap(stage["chosen"] as? Int)
            XCTAssertEqual(chosen, scores.firstIndex(of: scores.max()!), "\(stage)")
        }
        let oppu = try XCTUnwrap(stages[1]["points"] as? [[String: Any]])
        XCTAssertEqual(oppu.count, 2)
        let chosenRate = (oppu[stages[1]["chosen"] as! Int]["settings"] as? [String: Double])?["oppu_learning_rate"]
        XCTAssertEqual(
            (tune["chosen"] as? [String: Double])?["oppu_learning_rate"] ?? 0, chosenRate ?? -1, accuracy: 1e-9)
        // Each OPPU setting has its own adapter; the held-back items are the only queries.
        for rate in ["0.001", "0.03"] {
            XCTAssertTrue(
                FileManager.default.fileExists(
                    atPath: dir + "/out/users/Ann/oppu-tam1-lr\(rate)x1/adapter_model.safetensors"), rate)
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/out/users/Bo")
        for f in files where f.hasPrefix("generations-") {
            let ids = try String(contentsOfFile: dir + "/out/users/Bo/" + f, encoding: .utf8).split(separator: "\n")
                .compactMap { EvalLine.id($0) }
            XCTAssertEqual(ids.sorted(), ["validate:Bo-3", "validate:Bo-4"], f)
        }
        XCTAssertTrue(try String(contentsOfFile: dir + "/out/tune.md", encoding: .utf8).contains("CoPe − OPPU"))
        // Rerun: everything cached, the same report.
        let second = try BuiltProducts.tailor(args)
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertFalse(second.stderr.contains("step"), second.stderr)
        let again =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: dir + "/out/tune.json"))) as? [String: Any]
        XCTAssertEqual(again?["flags"] as? String, tune["flags"] as? String)
        // A grid with an empty list is refused, naming the file.
        try Data(#"{"alpha": []}"#.utf8).write(to: URL(fileURLWithPath: dir + "/bad.json"))
        let bad = try BuiltProducts.tailor(args.map { $0 == dir + "/grid.json" ? dir + "/bad.json" : $0 })
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("bad.json: every list of the grid needs a value"), bad.stderr)
        // An out-of-range value is refused before any stage trains.
        try Data(#"{"tau": [0.1, 0]}"#.utf8).write(to: URL(fileURLWithPath: dir + "/bad.json"))
        let range = try BuiltProducts.tailor(
            args.map { $0 == dir + "/grid.json" ? dir + "/bad.json" : $0 }.map { $0 == dir + "/out" ? dir + "/o2" : $0 }
        )
        XCTAssertNotEqual(range.status, 0)
        XCTAssertTrue(range.stderr.contains("bad.json: tau 0.0 is out of range"), range.stderr)
        XCTAssertFalse(range.stderr.contains("step"), range.stderr)
        let noTune = try BuiltProducts.tailor(args.filter { $0 != "--tune" })
        XCTAssertTrue(noTune.stderr.contains("--tune-grid needs --tune"), noTune.stderr)
    }
}

/// The eval's cached files.
private enum EvalLine {
    /// The newest file in `folder` whose name starts with `prefix` (paths name their settings).
    static func file(_ folder: String, _ prefix: String) throws -> String {
        let fm = FileManager.default
        let names = try fm.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix(prefix) }
        let dated = try names.map {
            (folder + "/" + $0, try fm.attributesOfItem(atPath: folder + "/" + $0)[.modificationDate] as! Date)
        }
        guard let newest = dated.max(by: { $0.1 < $1.1 }) else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: folder + "/" + prefix + "*"])
        }
        return newest.0
    }

    /// The id of a cached generation line.
    static func id(_ line: Substring) -> String? {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["id"] as? String
    }
}
