import ArgumentParser
import Foundation
import TailorClient
import TailorStore
import TailorWire

/// `tailor data …`: a person's history, pairs and feedback in the daemon's preference store.
struct DataCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data", abstract: "Import, list, count, export and delete personalization data.",
        subcommands: [Import.self, List.self, Stats.self, Export.self, Remove.self, DataBenchCommand.self])

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: """
                Import a user's data: JSONL (one {"id","input","output"} or {"id","prompt","chosen","rejected"} per \
                line), \
                the per-user format of ../shared/data (users.json with --file-user, or a flat list such as \
                user_others.json), \
                or LaMP (*_questions.json and its *_outputs.json).
                """)
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "Personalization user the data belongs to.") var user: String
        @Option(help: "Task of records that name none (required for per-user and lamp).") var task: String = ""
        @Option(help: "jsonl, per-user or lamp (default: from the file name).") var format: String?
        @Option(name: .customLong("file-user"), help: "per-user users.json: the user_id to take (default: --user).")
        var fileUser: String = ""
        @Argument(help: "The file (for LaMP, the questions file).") var file: String
        @Argument(help: "LaMP: the outputs file (default: the questions file's *_outputs.json sibling).") var outputs:
            String?

        func run() async throws {
            let format = self.format ?? Self.guessFormat(file)
            guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("cannot read \(file)") }
            var upload = [UInt8](data)
            var request = Preferences.ImportRequest(user: user, task: task, format: format, fileUser: fileUser)
            if format == "lamp" {
                let outputsPath = outputs ?? file.replacingOccurrences(of: "_questions.json", with: "_outputs.json")
                guard outputsPath != file, let o = FileManager.default.contents(atPath: outputsPath) else {
                    throw CLIError("a LaMP import needs the outputs file: cannot read \(outputsPath)")
                }
                request.firstFileBytes = UInt64(upload.count)
                upload += o
            }
            let started = ContinuousClock.now
            let r = try await withClient(connection) { client in
                do { return try await client.importData(request, data: upload) } catch let e as TailorClientError
                    where task.isEmpty && e.status?.field == "task"
                {
                    throw CLIError(CLIError.text(e) + "; pass --task TASK for the records that name none")
                }
            }
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let records = r.history + r.pairs + r.feedback + r.skipped
            print(
                """
                imported \(r.history) history items, \(r.pairs) pairs, \(r.feedback) feedback events; \
                \(r.skipped) already present
                """
                    + String(format: " (%.2f s, %.0f records/s)", seconds, Double(records) / max(seconds, 1e-9)))
        }

        static func guessFormat(_ path: String) -> String {
            if path.hasSuffix(".jsonl") || path == "-" { return "jsonl" }
            if path.hasSuffix("_questions.json") { return "lamp" }
            return path.hasSuffix(".json") ? "per-user" : "jsonl"
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ls", abstract: "List users, or one user's records.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "List this user's records (default: list the users).") var user: String?
        @Option(help: "Only this task's.") var task: String = ""
        @Option(help: "history, pairs or feedback.") var kind: String = "history"
        @Option(help: "Records to skip.") var offset: UInt64 = 0
        @Option(help: "Records to show (at most 1000).") var limit: UInt32 = 20

        func run() async throws {
            guard let user else {
                let counts = try await withClient(connection) { try await $0.countData(task: task) }
                if counts.isEmpty { print("no data"); return }
                var byUser: [String: (tasks: [String], history: UInt64, pairs: UInt64, feedback: UInt64)] = [:]
                for c in counts {
                    var e = byUser[c.user] ?? ([], 0, 0, 0)
                    e.tasks.append(c.task)
                    e.history += c.history
                    e.pairs += c.pairs
                    e.feedback += c.feedback
                    byUser[c.user] = e
                }
                for (name, e) in byUser.sorted(by: { $0.key < $1.key }) {
                    print(
                        """
                        \(name)\t\(e.history) history\t\(e.pairs) pairs\t\(e.feedback) feedback\ttasks: \
                        \(e.tasks.joined(separator: ","))
                        """
                    )
                }
                return
            }
            let page = try await withClient(connection) {
                try await $0.listData(
                    Preferences.ListRequest(user: user, task: task, kind: kind, offset: offset, limit: limit))
            }
            func short(_ s: String) -> String {
                let flat = s.replacingOccurrences(of: "\n", with: "⏎")
                return flat.count > 60 ? String(flat.prefix(59)) + "…" : flat
            }
            for h in page.history { print("\(h.id)\t\(h.task)\t\(short(h.input))\t→ \(short(h.output))") }
            for p in page.pairs {
                print(
                    "\(p.id)\t\(p.task)\t\(p.source)\t\(short(p.prompt))\t+ \(short(p.chosen))\t- \(short(p.rejected))")
            }
            for f in page.feedback {
                print("\(f.requestID)\t\(f.task)\t\(f.outcome)\t\(f.mode)\t\(short(f.shown))\t→ \(short(f.kept))")
            }
            let shown = page.history.count + page.pairs.count + page.feedback.count
            print("(\(shown) of \(page.total) \(kind) records from \(offset))")
        }
    }

    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Count records per user and task.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "Only this user.") var user: String = ""
        @Option(help: "Only this task.") var task: String = ""
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let counts = try await withClient(connection) { try await $0.countData(user: user, task: task) }
            if json {
                let rows = counts.map {
                    [
                        "user": $0.user, "owner_uid": Int($0.ownerUID), "task": $0.task, "history": Int($0.history),
                        "pairs": Int($0.pairs), "feedback": Int($0.feedback),
                    ] as [String: Any]
                }
                let data = try JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys, .prettyPrinted])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            print("user\ttask\thistory\tpairs\tfeedback")
            for c in counts { print("\(c.user)\t\(c.task)\t\(c.history)\t\(c.pairs)\t\(c.feedback)") }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Export a user's data as JSONL (what `data import` reads back), or as TRL's datasets.",
            discussion: """
                --format trl-sft writes {prompt, completion} per history item; trl-dpo writes
                {prompt, chosen, rejected} per pair the user gave or made by editing a suggestion
                (not the synthetic negatives). Prompts are the inputs as Tailor's trainer reads
                them: plain text, no chat template. `tailor train --print-config` gives the
                matching PEFT and TRL hyperparameters.
                """)
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "The user.") var user: String
        @Option(help: "Only this task's.") var task: String = ""
        @Option(help: "tailor, trl-sft or trl-dpo.") var format: String = ExportFormat.tailor.rawValue
        @Option(name: [.short, .customLong("output")], help: "Write to this file (default: standard output).")
        var output: String?

        func validate() throws {
            guard ExportFormat(rawValue: format) != nil else {
                throw ValidationError("format must be tailor, trl-sft or trl-dpo, not '\(format)'")
            }
        }

        func run() async throws {
            let exported = try await withClient(connection) { try await $0.exportData(user: user, task: task) }
            let (data, rows) = try ExportFormat(rawValue: format)!.convert(exported)
            if let output {
                try AtomicFile.write(data, to: output, mode: 0o600)
                FileHandle.standardError.write(
                    Data("exported \(rows) records (\(data.count) bytes) to \(output)\n".utf8))
            } else {
                FileHandle.standardOutput.write(Data(data))
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm", abstract: "Forget a user: delete their history, pairs, feedback and adapters.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "The user to forget.") var user: String
        @Flag(help: "Really delete (nothing is deleted without it).") var yes = false

        func run() async throws {
            guard yes else {
                let counts = try await withClient(connection) { try await $0.countData(user: user) }
                let n = counts.reduce(0) { $0 + $1.history + $1.pairs + $1.feedback }
                throw CLIError(
                    "this deletes \(n) records and every adapter of user '\(user)'; run again with --yes to do it")
            }
            let r = try await withClient(connection) { try await $0.deleteUser(user) }
            print(
                """
                forgot \(user): \(r.history) history items, \(r.pairs) pairs, \(r.feedback) feedback events, \
                \(r.adapters) adapters
                """
            )
        }
    }
}
