import ArgumentParser
import Foundation
import TailorClient
import TailorStore
import TailorWire

/// `tailor data bench`: JSONL import throughput through a running tailord, against the same
/// parse-and-write done in-process on a private database (the peer that shows what the socket,
/// framing and service add). Each round imports into a fresh user that is forgotten afterwards.
struct DataBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure JSONL import throughput through the daemon.")

    @OptionGroup var connection: ConnectionOptions
    @Option(help: "History items per import.") var items: Int = 100_000
    @Option(help: "Rounds per side (the median is reported).") var rounds: Int = 3
    @Option(help: "Records per transaction on the in-process side (match the daemon's import_batch).") var batch: Int =
        5_000

    func run() async throws {
        let file = Self.synthetic(items)
        let mib = Double(file.count) / 1_048_576
        print(String(format: "%d history items, %.1f MiB of JSONL", items, mib))
        var daemon: [Double] = [], local: [Double] = []
        let client = try await connection.connect()
        for round in 0..<rounds {
            let user = "bench-\(getpid())-\(round)"
            let t0 = ContinuousClock.now
            let r = try await client.importData(
                Preferences.ImportRequest(user: user, task: "bench", format: "jsonl"), data: file)
            daemon.append(Self.seconds(ContinuousClock.now - t0))
            _ = try await client.deleteUser(user)
            guard r.history == UInt64(items) else {
                throw CLIError("the daemon imported \(r.history) of \(items) items")
            }

            let dir = NSTemporaryDirectory() + "tailor-data-bench-\(getpid())"
            defer { try? FileManager.default.removeItem(atPath: dir) }
            var limits = PreferenceLimits()
            limits.importBatch = batch
            let store = try PreferenceStore(path: dir + "/bench.sqlite", limits: limits)
            let t1 = ContinuousClock.now
            var reader = JSONLReader(task: "bench", limits: limits)
            var offset = 0
            while offset < file.count {  // the same 1 MiB chunks the client sends
                let end = min(file.count, offset + (1 << 20))
                try reader.feed(Array(file[offset..<end]))
                if end == file.count { try reader.finish() }
                for ready in reader.takeReady() {
                    try store.write(ready.batch, user: user, owner: getuid(), checked: true)
                }
                offset = end
            }
            local.append(Self.seconds(ContinuousClock.now - t1))
        }
        await client.close()
        let d = daemon.median, l = local.median
        print(
            String(
                format: "through the daemon: %.0f items/s (median of %d: %.2f s; %.1f MiB/s)", Double(items) / d,
                rounds, d, mib / d))
        print(String(format: "in-process store:   %.0f items/s (median of %d: %.2f s)", Double(items) / l, rounds, l))
        print(String(format: "daemon / in-process throughput: %.2f", l / d))
    }

    /// JSONL shaped like the shared commit_subject data: a prompt with a file list and a
    /// description, and a one-line subject.
    static func synthetic(_ n: Int) -> [UInt8] {
        let words = [
            "parser", "daemon", "cache", "adapter", "token", "socket", "store", "fix", "add", "remove", "test", "docs",
        ]
        var out: [UInt8] = []
        out.reserveCapacity(n * 220)
        var state: UInt64 = 0x9E3779B97F4A7C15
        func word() -> String {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return words[Int(state >> 33) % words.count]
        }
        for i in 0..<n {
            let files = (0..<3).map { _ in "Sources/\(word())/\(word()).swift" }.joined(separator: ", ")
            let body = (0..<16).map { _ in word() }.joined(separator: " ")
            let line =
                """
                {\"id\": \"c\(i)\", \"input\": \"Files: \(files)\\nDescription: \(body)\\nsubject:\", \"output\": \
                \"\(word()) \(word()) in \(word())\"}\n
                """
            out += line.utf8
        }
        return out
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}
