import Foundation
import TailorStore

/// What every cached step of one `tailor eval` out directory shares and its paths do not say:
/// the data, the items held back, the token limits and the task adapter's training set. The
/// first run writes it as `run.json`; a later run that differs is refused, so no step cached
/// under one of these settings is read as another's.
struct EvalRunStamp: Codable, Equatable {
    /// The data set's folder, as an absolute path.
    var data: String
    var holdout: Int
    var maxTokens: Int
    var maxNewTokens: Int
    var multiline: Bool
    /// How many items trained the task adapter (`--tam-items`; for LaMP files, `--users` moves it).
    var taskItems: Int

    enum CodingKeys: String, CodingKey {
        case data, holdout, maxTokens = "max_tokens", maxNewTokens = "max_new_tokens", multiline
        case taskItems = "task_items"
    }

    init(_ c: EvalCommand, taskItems: Int) {
        data = URL(fileURLWithPath: c.data).standardizedFileURL.path
        holdout = c.heldOut
        maxTokens = c.maxTokens
        maxNewTokens = c.maxNewTokens
        multiline = c.multiline
        self.taskItems = taskItems
    }

    /// Writes the stamp into `out`, or checks it against the one there.
    /// - Throws: `CLIError` naming each setting that differs from the run that made `out`.
    func claim(_ out: String) throws {
        let path = out + "/run.json"
        if let data = FileManager.default.contents(atPath: path) {
            let made: EvalRunStamp
            do { made = try JSONDecoder().decode(EvalRunStamp.self, from: data) } catch {
                throw CLIError("\(path) is not a tailor eval stamp: \(error)")
            }
            let differences = differences(from: made)
            guard differences.isEmpty else {
                throw CLIError(
                    "\(out) holds a run with \(differences.joined(separator: ", ")); "
                        + "its cached steps do not fit this one: pass another --out")
            }
            return
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try AtomicFile.write([UInt8](try encoder.encode(self)), to: path, mode: 0o644)
    }

    /// "max_new_tokens 32, not 64" for each setting `made` has otherwise.
    private func differences(from made: EvalRunStamp) -> [String] {
        var d: [String] = []
        func compare<T: Equatable>(_ name: String, _ a: T, _ b: T) { if a != b { d.append("\(name) \(a), not \(b)") } }
        compare("data", made.data, data)
        compare("holdout", made.holdout, holdout)
        compare("max_tokens", made.maxTokens, maxTokens)
        compare("max_new_tokens", made.maxNewTokens, maxNewTokens)
        compare("multiline", made.multiline, multiline)
        compare("task_items", made.taskItems, taskItems)
        return d
    }
}
