import Foundation
import TailorStore

/// An evaluation data set: the task adapter's items (other users') and the evaluated users, each
/// with a profile to train on and queries to score. Two layouts are read:
/// - the per-user format of ../shared/data (`user_others.json`, `users.json`);
/// - LaMP's own files (`*questions.json` + `*outputs.json`), where each question is a user with
///   its profile; the users beyond `--users N` serve as the "others" of the task adapter.
struct EvalDataSet {
    struct Query { var id: String; var input: String; var gold: String }
    struct User { var name: String; var profile: [HistoryItem]; var queries: [Query] }

    var others: [HistoryItem]
    var users: [User]

    /// Reads `directory`. `validate` > 0 replaces each user's queries by the last `validate`
    /// profile items (which leave the profile), for tuning without the golds; users with too
    /// short a profile are skipped.
    /// - Throws: `CLIError` naming the file and what is wrong with it.
    init(directory: String, users limit: Int, validate: Int = 0) throws {
        let fm = FileManager.default
        var users: [User]
        if fm.fileExists(atPath: directory + "/users.json") {
            let othersData = try Data(contentsOf: URL(fileURLWithPath: directory + "/user_others.json"))
            others = try PreferenceImport.parse(othersData, format: .perUser, task: "eval").history
            users = try Self.perUser(directory + "/users.json")
            if limit > 0 { users = Array(users.prefix(limit)) }
        } else {
            let names = (try? fm.contentsOfDirectory(atPath: directory)) ?? []
            guard let q = names.sorted().first(where: { $0.hasSuffix("questions.json") }),
                let o = names.sorted().first(where: { $0.hasSuffix("outputs.json") })
            else {
                throw CLIError(
                    """
                    \(directory) holds neither users.json + user_others.json nor LaMP's *questions.json + \
                    *outputs.json
                    """
                )
            }
            let all = try Self.lamp(questions: directory + "/" + q, outputs: directory + "/" + o)
            guard limit > 0, limit < all.count else {
                throw CLIError(
                    """
                    LaMP data: pass --users N below the \(all.count) questions; the remaining users' profiles \
                    train the task adapter
                    """
                )
            }
            users = Array(all.prefix(limit))
            others = all.dropFirst(limit).flatMap(\.profile)
        }
        if validate > 0 {
            users = users.compactMap { u in
                guard u.profile.count > validate * 2 else { return nil }
                return User(
                    name: u.name, profile: Array(u.profile.dropLast(validate)),
                    queries: u.profile.suffix(validate).map {
                        Query(id: "validate:" + $0.id, input: $0.input, gold: $0.output)
                    })
            }
        }
        self.users = users
    }

    private static func json(_ path: String) throws -> Any {
        do {
            return try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw CLIError("\(path) is not readable JSON: \(error.localizedDescription)")
        }
    }

    private static func perUser(_ path: String) throws -> [User] {
        guard let list = try json(path) as? [[String: Any]] else { throw CLIError("\(path) is not a list of users") }
        return try list.enumerated().map { i, u in
            guard let name = u["user_id"].map({ "\($0)" }), let profile = u["profile"] as? [[String: Any]],
                let query = u["query"] as? [[String: Any]]
            else {
                throw CLIError("\(path): user \(i) lacks user_id, profile or query")
            }
            let items = profile.compactMap { p -> HistoryItem? in
                guard let input = p["input"] as? String, let output = p["output"] as? String else { return nil }
                return HistoryItem(id: "\(p["id"] ?? "")", task: "eval", input: input, output: output)
            }
            let queries = query.compactMap { q -> Query? in
                guard let input = q["input"] as? String, let gold = q["gold"] as? String else { return nil }
                return Query(id: "\(q["id"] ?? "")", input: input, gold: gold)
            }
            return User(name: name, profile: items, queries: queries)
        }
    }

    /// LaMP profile items carry task fields, not input/output: each known pair becomes the
    /// prompt the OPPU reference code writes for that task.
    static let lampProfilePrompts: [(input: String, output: String, prompt: String)] = [
        ("abstract", "title", "Generate a title for the following abstract of a paper: "),  // LaMP-5
        ("text", "title", "Generate a headline for the following article: "),  // LaMP-4
        ("title", "abstract", "Generate an abstract for the title \""),  // LongLaMP abstracts
    ]

    /// One user per LaMP question: its profile (mapped as above, or items with input/output)
    /// and the question itself as the query, scored against the outputs file's gold.
    static func lamp(questions: String, outputs: String) throws -> [User] {
        guard let qs = try json(questions) as? [[String: Any]] else {
            throw CLIError("\(questions) is not a list of questions")
        }
        guard let o = try json(outputs) as? [String: Any], let golds = o["golds"] as? [[String: Any]] else {
            throw CLIError("\(outputs) is not {\"task\", \"golds\": [{\"id\", \"output\"}]}")
        }
        var gold: [String: String] = [:]
        for g in golds { if let id = g["id"].map({ "\($0)" }), let out = g["output"] as? String { gold[id] = out } }
        return try qs.enumerated().map { i, q in
            guard let id = q["id"].map({ "\($0)" }), let input = q["input"] as? String,
                let profile = q["profile"] as? [[String: Any]]
            else {
                throw CLIError("\(questions): question \(i) lacks id, input or profile")
            }
            guard let g = gold[id] else { throw CLIError("\(outputs) has no gold for question '\(id)'") }
            let items = profile.enumerated().compactMap { j, p -> HistoryItem? in
                let pid = p["id"].map { "\($0)" } ?? "\(id)-\(j)"
                if let input = p["input"] as? String, let output = p["output"] as? String {
                    return HistoryItem(id: pid, task: "eval", input: input, output: output)
                }
                for m in lampProfilePrompts {
                    if let a = p[m.input] as? String, let b = p[m.output] as? String, !a.isEmpty, !b.isEmpty {
                        let prompt = m.input == "title" ? m.prompt + a + "\":" : m.prompt + a
                        return HistoryItem(id: pid, task: "eval", input: prompt, output: b)
                    }
                }
                return nil
            }
            return User(name: id, profile: items, queries: [Query(id: id, input: input, gold: g)])
        }
    }
}
