import Foundation
import TailorEngine
import TailorEval

/// One query's output under one method; for the contrastive methods (CoPe, CD-only) also what
/// the selector saw at each generated token.
struct EvalGeneration: Equatable {
    var text: String
    /// |V_head| at each generated token; empty for greedy methods.
    var headSizes: [Int] = []
    /// Tokens where the contrast took another token than π_user alone would have.
    var changed = 0

    init(text: String, headSizes: [Int] = [], changed: Int = 0) {
        self.text = text
        self.headSizes = headSizes
        self.changed = changed
    }

    init(text: String, choices: [ContrastiveChoice]?) {
        self.text = text
        headSizes = choices?.map(\.candidates) ?? []
        changed = choices?.count { $0.token != $0.userChoice } ?? 0
    }

    /// A cached JSONL line: {"id", "text"}, plus "vhead" and "changed" for a contrastive method.
    func line(id: String) throws -> Data {
        var o: [String: Any] = ["id": id, "text": text]
        if !headSizes.isEmpty {
            o["vhead"] = headSizes
            o["changed"] = changed
        }
        return try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])
    }

    /// The id and generation of a cached line; nil for a line that is not one.
    static func parse(_ line: Data) -> (id: String, generation: EvalGeneration)? {
        guard let o = try? JSONSerialization.jsonObject(with: line) as? [String: Any], let id = o["id"] as? String,
            let text = o["text"] as? String
        else { return nil }
        return (
            id, EvalGeneration(text: text, headSizes: o["vhead"] as? [Int] ?? [], changed: o["changed"] as? Int ?? 0)
        )
    }
}

/// A scored query: whose it is, the gold and what a method wrote.
struct EvalOutput {
    var user: String
    var gold: String
    var generation: EvalGeneration
    var text: String { generation.text }
}

/// What the adapters do to one user's distributions: the numbers that say whether CoPe's
/// contrast has anything to choose from and whether DPO moved the user's model.
struct UserDiagnostics: Codable, Equatable {
    /// Profile items (the last ones) the divergences are measured on.
    static let profileItems = 16

    /// Mean per-token KL(π_TAM ‖ π_0): the task adapter's effect on the base model.
    var klTaskBase: Double?
    /// KL(π_OPPU ‖ π_TAM): how far the user's adapter moves from the contrast CoPe decodes against.
    var klUserTask: Double?
    /// KL(π_DPO ‖ π_TAM), the same after DPO.
    var klDPOTask: Double?
    /// DPO's implicit reward margin of each (real, negative) pair with π_TAM as reference,
    /// the policy being OPPU (before DPO) and OPPU + DPO (after).
    var marginsBefore: [Double]?
    var marginsAfter: [Double]?

    enum CodingKeys: String, CodingKey {
        case klTaskBase = "kl_tam_base", klUserTask = "kl_oppu_tam", klDPOTask = "kl_dpo_tam"
        case marginsBefore = "margins_before_dpo", marginsAfter = "margins_after_dpo"
    }
}

/// The diagnostics section of an eval report: where CoPe decodes (|V_head|, how often the
/// contrast changes the token) and, per user, the divergences and DPO's margins.
struct DiagnosticsReport {
    let users: [String: UserDiagnostics]
    /// method → query key → output, as the report holds them.
    let generations: [String: [String: EvalOutput]]

    /// |V_head| buckets of the histogram.
    static let buckets: [(label: String, range: ClosedRange<Int>)] = [
        ("1", 1...1), ("2", 2...2), ("3-4", 3...4), ("5-8", 5...8), ("9+", 9...Int.max),
    ]

    /// Token-level statistics of a contrastive method's steps.
    struct Steps {
        var tokens = 0, changed = 0, headTotal = 0
        var histogram = [Int](repeating: 0, count: DiagnosticsReport.buckets.count)

        mutating func add(_ g: EvalGeneration) {
            tokens += g.headSizes.count
            changed += g.changed
            headTotal += g.headSizes.reduce(0, +)
            for h in g.headSizes {
                if let b = DiagnosticsReport.buckets.firstIndex(where: { $0.range.contains(h) }) { histogram[b] += 1 }
            }
        }
        var meanHead: Double { tokens == 0 ? 0 : Double(headTotal) / Double(tokens) }
    }

    func steps(_ method: String, user: String? = nil) -> Steps {
        var s = Steps()
        for o in (generations[method] ?? [:]).values where user == nil || o.user == user { s.add(o.generation) }
        return s
    }

    func render() -> (markdown: String, json: [String: Any]) {
        var md = "\n## Diagnostics\n\nWhere CoPe decodes: |V_head| = {v : π_user(v) ≥ τ·max π_user} at each generated "
        md +=
            """
            token, and the share of tokens where the contrast with π_TAM took another token than π_user alone \
            would.\n\n
            """
        md += "| method | tokens | mean \\|V_head\\| | "
        md += Self.buckets.map { "\\|V_head\\| \($0.label)" }.joined(separator: " | ")
        md += " | contrast changed the token |\n|---|---|---|" + String(repeating: "---|", count: Self.buckets.count)
        md += "---|\n"
        var json: [String: Any] = [:]
        var decoding: [String: Any] = [:]
        for m in ["cope", "cd-only"] where generations[m] != nil {
            let s = steps(m)
            md += "| \(m) | \(s.tokens) | " + String(format: "%.2f", s.meanHead) + " | "
            md += s.histogram.map { share($0, of: s.tokens) }.joined(separator: " | ")
            md += " | " + share(s.changed, of: s.tokens) + " |\n"
            decoding[m] = [
                "tokens": s.tokens, "mean_vhead": s.meanHead, "changed": s.changed,
                "vhead_histogram": Dictionary(uniqueKeysWithValues: zip(Self.buckets.map(\.label), s.histogram)),
            ]
        }
        json["decoding"] = decoding
        guard !users.isEmpty else { return (md, json) }
        md += "\nPer user: mean per-token KL divergences on the user's last \(UserDiagnostics.profileItems) "
        md += "profile outputs (teacher-forced; π_0 is the model without adapters), and DPO's implicit reward "
        md += "margin β·[(log π(y⁺) − log π_TAM(y⁺)) − (log π(y⁻) − log π_TAM(y⁻))] on the user's (real, negative) "
        md += "pairs, π being OPPU before DPO and CoPe's adapter after, with the share of pairs it prefers.\n\n"
        md += "| user | KL(TAM‖π_0) | KL(OPPU‖TAM) | KL(CoPe‖TAM) | margin before → after DPO "
        md += "| pairs preferred before → after | CoPe tokens with \\|V_head\\| = 1 | CoPe tokens changed |\n"
        md += "|---|---|---|---|---|---|---|---|\n"
        var perUser: [String: Any] = [:]
        for (name, d) in users.sorted(by: { $0.key < $1.key }) {
            let s = steps("cope", user: name)
            md += "| \(name) | \(Self.number(d.klTaskBase)) | \(Self.number(d.klUserTask)) | "
            md += "\(Self.number(d.klDPOTask)) | \(Self.number(Self.mean(d.marginsBefore))) → "
            md += "\(Self.number(Self.mean(d.marginsAfter))) | \(Self.preferred(d.marginsBefore)) → "
            md += "\(Self.preferred(d.marginsAfter)) | \(share(s.histogram[0], of: s.tokens)) | "
            md += "\(share(s.changed, of: s.tokens)) |\n"
            var o: [String: Any] = [:]
            o["kl_tam_base"] = d.klTaskBase
            o["kl_oppu_tam"] = d.klUserTask
            o["kl_dpo_tam"] = d.klDPOTask
            o["margin_before_dpo"] = Self.mean(d.marginsBefore)
            o["margin_after_dpo"] = Self.mean(d.marginsAfter)
            o["pairs"] = d.marginsAfter?.count
            o["preferred_before_dpo"] = d.marginsBefore.map { m in m.count { $0 > 0 } }
            o["preferred_after_dpo"] = d.marginsAfter.map { m in m.count { $0 > 0 } }
            o["cope_tokens"] = s.tokens
            o["cope_vhead_1"] = s.histogram[0]
            o["cope_changed"] = s.changed
            perUser[name] = o
        }
        json["per_user"] = perUser
        return (md, json)
    }

    private func share(_ n: Int, of total: Int) -> String {
        total == 0 ? "-" : String(format: "%d (%.0f%%)", n, 100 * Double(n) / Double(total))
    }

    static func mean(_ xs: [Double]?) -> Double? {
        guard let xs, !xs.isEmpty else { return nil }
        return xs.reduce(0, +) / Double(xs.count)
    }

    static func number(_ x: Double?) -> String { x.map { String(format: "%.4f", $0) } ?? "-" }

    static func preferred(_ margins: [Double]?) -> String {
        guard let m = margins, !m.isEmpty else { return "-" }
        return "\(m.count { $0 > 0 })/\(m.count)"
    }
}
