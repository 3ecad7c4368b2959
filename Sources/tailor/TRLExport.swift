import Foundation

/// The formats `tailor data export` writes: Tailor's own JSONL (what `data import` reads back),
/// or TRL's datasets for training the same user elsewhere (`tailor train --print-config` gives
/// the hyperparameters). TRL's prompts are Tailor's trainer's: the item's input as plain text
/// (no chat template; the tokenizer adds its BOS, as `ExampleFormatter` does) and the output
/// as the completion (TRL appends the EOS, as Tailor does).
enum ExportFormat: String, CaseIterable {
    case tailor
    /// TRL's prompt-completion format, from the user's history.
    case trlSFT = "trl-sft"
    /// TRL's preference format, from the user's own pairs and edited suggestions (not the
    /// synthetic negatives: a cluster samples its own with its adapter).
    case trlDPO = "trl-dpo"

    /// `jsonl` (a `data export` in Tailor's format) in this format, and how many rows it holds.
    func convert(_ jsonl: [UInt8]) throws -> (bytes: [UInt8], rows: Int) {
        guard self != .tailor else { return (jsonl, jsonl.filter { $0 == UInt8(ascii: "\n") }.count) }
        var out: [UInt8] = []
        var rows = 0
        for (n, line) in jsonl.split(separator: UInt8(ascii: "\n")).enumerated() {
            guard let record = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                throw CLIError("export line \(n + 1) is not a JSON object")
            }
            let row: [String: Any]?
            switch self {
            case .tailor: row = nil
            case .trlSFT:
                row = (record["input"] as? String).flatMap { input in
                    (record["output"] as? String).map { ["prompt": input, "completion": $0] }
                }
            case .trlDPO:
                let source = record["source"] as? String
                row =
                    source == "explicit" || source == "feedback"
                    ? [
                        "prompt": record["prompt"] ?? "", "chosen": record["chosen"] ?? "",
                        "rejected": record["rejected"] ?? "",
                    ] : nil
            }
            guard let row else { continue }
            out += try JSONSerialization.data(withJSONObject: row, options: [.sortedKeys, .withoutEscapingSlashes])
            out.append(UInt8(ascii: "\n"))
            rows += 1
        }
        return (out, rows)
    }
}
