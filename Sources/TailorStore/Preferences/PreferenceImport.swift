import Foundation

/// Parses the data formats users bring, into history items and pairs, naming the record and
/// field of every problem. Parsing is separate from storing, so a file is checked whole before
/// one transaction writes it.
public enum PreferenceImport {
    /// The formats understood.
    public enum Format: String, Sendable, CaseIterable {
        /// One JSON object per line: {"id", "input", "output", "task"?, "metadata"?} for history,
        /// or {"id", "prompt", "chosen", "rejected", "task"?} for a pair.
        case jsonl
        /// The per-user format of the CoPe reference code (../shared/data/README.md):
        /// `users.json` = [{"user_id", "profile": [{"id", "input", "output"}], "query": [...]}]
        /// (the named user's profile is imported), or a flat [{"id", "input", "output"}] list
        /// such as `user_others.json`.
        case perUser = "per-user"
        /// LaMP: `*_questions.json` = [{"id", "input", ...}] with `*_outputs.json` =
        /// {"golds": [{"id", "output"}]}; each question with its gold output is one item.
        case lamp
    }

    /// Parses `data` in `format`, checking every record against `limits`. `task` fills records
    /// that name none; `user` picks the user of a per-user `users.json`; `outputs` is LaMP's
    /// outputs file.
    /// - Throws: `PreferenceStoreError` naming the record (line, or array path) and what is
    ///   wrong.
    public static func parse(
        _ data: Data, format: Format, task: String, user: String? = nil, outputs: Data? = nil,
        limits: PreferenceLimits = PreferenceLimits()
    ) throws -> PreferenceBatch {
        let batch: PreferenceBatch
        switch format {
        case .jsonl:
            var unbounded = limits
            unbounded.importBatch = .max
            var reader = JSONLReader(task: task, limits: unbounded)
            try reader.feed(data)
            try reader.finish()
            return reader.takeReady().first?.batch ?? PreferenceBatch()
        case .perUser: batch = try perUser(data, task: task, user: user)
        case .lamp: batch = try lamp(data, outputs: outputs, task: task)
        }
        for item in batch.history { try limits.validate(item, record: "id '\(item.id.prefix(64))'") }
        return batch
    }

    static func perUser(_ data: Data, task: String, user: String?) throws -> PreferenceBatch {
        guard let list = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] else {
            throw PreferenceStoreError.malformedImport(
                record: "file", problem: "is not a JSON array of objects (or not valid UTF-8)")
        }
        var out = PreferenceBatch()
        if list.first?["profile"] != nil {
            guard let user else {
                throw PreferenceStoreError.malformedImport(
                    record: "file", problem: "holds several users: name one with --user")
            }
            guard let (i, entry) = list.enumerated().first(where: { "\($0.element["user_id"] ?? "")" == user }) else {
                throw PreferenceStoreError.malformedImport(record: "file", problem: "has no user_id '\(user)'")
            }
            guard let profile = entry["profile"] as? [[String: Any]] else {
                throw PreferenceStoreError.malformedImport(
                    record: "[\(i)]", problem: "field 'profile' is not an array of objects")
            }
            for (j, item) in profile.enumerated() {
                let f = Fields(item, record: "[\(i)].profile[\(j)]")
                out.history.append(
                    HistoryItem(
                        id: try f.id(), task: task, input: try f.string("input"), output: try f.string("output"),
                        source: "import"))
            }
        } else {
            for (i, item) in list.enumerated() {
                let f = Fields(item, record: "[\(i)]")
                out.history.append(
                    HistoryItem(
                        id: try f.id(), task: task, input: try f.string("input"), output: try f.string("output"),
                        source: "import"))
            }
        }
        return out
    }

    static func lamp(_ questions: Data, outputs: Data?, task: String) throws -> PreferenceBatch {
        guard let outputs else {
            throw PreferenceStoreError.malformedImport(record: "file", problem: "LaMP needs its *_outputs.json as well")
        }
        guard let qs = (try? JSONSerialization.jsonObject(with: questions)) as? [[String: Any]] else {
            throw PreferenceStoreError.malformedImport(
                record: "questions", problem: "is not a JSON array of objects (or not valid UTF-8)")
        }
        guard let o = (try? JSONSerialization.jsonObject(with: outputs)) as? [String: Any],
            let golds = o["golds"] as? [[String: Any]]
        else {
            throw PreferenceStoreError.malformedImport(
                record: "outputs", problem: "is not {\"golds\": [{\"id\", \"output\"}]}")
        }
        var byID: [String: String] = [:]
        for (i, g) in golds.enumerated() {
            let f = Fields(g, record: "golds[\(i)]")
            byID[try f.id()] = try f.string("output")
        }
        var out = PreferenceBatch()
        for (i, q) in qs.enumerated() {
            let f = Fields(q, record: "[\(i)]")
            let id = try f.id()
            guard let output = byID[id] else {
                throw PreferenceStoreError.malformedImport(
                    record: "[\(i)] (id '\(id)')", problem: "has no gold output in the outputs file")
            }
            out.history.append(
                HistoryItem(id: id, task: task, input: try f.string("input"), output: output, source: "import"))
        }
        return out
    }

    /// Typed access to one JSON object's fields, with errors naming the record and field.
    struct Fields {
        let obj: [String: Any]
        let record: String
        init(_ obj: [String: Any], record: String) { self.obj = obj; self.record = record }

        func string(_ key: String, default fallback: String? = nil) throws -> String {
            guard let v = obj[key] else {
                if let fallback { return fallback }
                throw PreferenceStoreError.malformedImport(record: record, problem: "field '\(key)' is missing")
            }
            guard let s = v as? String else {
                throw PreferenceStoreError.malformedImport(record: record, problem: "field '\(key)' is not a string")
            }
            return s
        }

        /// Ids may be strings or integers in the wild.
        func id() throws -> String {
            switch obj["id"] {
            case let s as String: return s
            case let n as NSNumber: return n.stringValue
            case nil: throw PreferenceStoreError.malformedImport(record: record, problem: "field 'id' is missing")
            default:
                throw PreferenceStoreError.malformedImport(
                    record: record, problem: "field 'id' is not a string or number")
            }
        }

        func metadata() throws -> String {
            guard let m = obj["metadata"] else { return "" }
            guard JSONSerialization.isValidJSONObject(m), m is [String: Any],
                let d = try? JSONSerialization.data(withJSONObject: m, options: [.sortedKeys])
            else {
                throw PreferenceStoreError.malformedImport(
                    record: record, problem: "field 'metadata' is not a JSON object")
            }
            return String(decoding: d, as: UTF8.self)
        }
    }
}
