import Foundation

/// Reads JSONL preference data as it arrives, in chunks cut anywhere, and hands back batches of
/// `limits.importBatch` checked records, so an import of any size holds one batch in memory
/// and commits as it goes.
///
/// Each line is one object: a history item `{"id", "input", "output", "task"?, "source"?,
/// "metadata"?}`, a pair `{"id", "prompt", "chosen", "rejected", "task"?, "source"?}`, or a
/// feedback event `{"request_id", "prompt", "shown", "kept"?, "outcome", …}` (what
/// `PreferenceExport` writes). Blank lines are skipped; `\r\n` endings are accepted.
public struct JSONLReader: Sendable {
    /// Task for records that name none.
    public let task: String
    /// Limits every record is checked against; `importBatch` sizes the batches.
    public let limits: PreferenceLimits
    /// Lines consumed so far.
    public private(set) var line = 0
    /// The first line of the batch being filled (for "lines a-b were imported" messages).
    public private(set) var batchFirstLine = 1
    private var carry: [UInt8] = []  // the unfinished last line of the input so far
    private var batch = PreferenceBatch()

    /// A reader filling `task` into records without one.
    public init(task: String, limits: PreferenceLimits) {
        self.task = task
        self.limits = limits
    }

    /// A batch ready to write, with the lines it came from.
    public struct ReadyBatch: Sendable, Equatable {
        public var batch: PreferenceBatch
        public var lines: ClosedRange<Int>
    }

    /// Batches completed and not yet taken. They survive a later bad line, so an importer
    /// can write every complete batch before the failure.
    public private(set) var ready: [ReadyBatch] = []

    /// Consumes `bytes`; every `importBatch` records, a batch joins `ready`.
    /// - Throws: `PreferenceStoreError` naming the line and field of the first bad record; the
    ///   batch holding it is dropped, batches completed before it stay in `ready`.
    public mutating func feed(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBufferPointer { try feed($0) }
    }

    /// Consumes the bytes of `data` (see `feed(_:)`).
    public mutating func feed(_ data: Data) throws {
        try data.withUnsafeBytes { try feed($0.bindMemory(to: UInt8.self)) }
    }

    /// Consumes `buffer` (see `feed(_:)`). Lines are found with memchr and parsed in place;
    /// only a line cut across two chunks is copied.
    public mutating func feed(_ buffer: UnsafeBufferPointer<UInt8>) throws {
        guard let base = buffer.baseAddress else { return }
        var start = 0
        while start < buffer.count, let hit = memchr(base + start, 0x0A, buffer.count - start) {
            let nl = UnsafePointer(hit.assumingMemoryBound(to: UInt8.self)) - base
            let piece = UnsafeBufferPointer(rebasing: buffer[start..<nl])
            if carry.isEmpty {
                try parse(piece)
            } else {
                var whole = carry
                carry = []
                whole.append(contentsOf: piece)
                try whole.withUnsafeBufferPointer { try parse($0) }
            }
            start = nl + 1
            if batch.count >= limits.importBatch { ready.append(take()) }
        }
        carry.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[start...]))
        guard carry.count <= limits.maxFieldBytes * 4 + 4096 else {
            throw PreferenceStoreError.malformedImport(
                record: "line \(line + 1)", problem: "is longer than \(limits.maxFieldBytes * 4 + 4096) bytes")
        }
    }

    /// Hands over the completed batches.
    public mutating func takeReady() -> [ReadyBatch] {
        defer { ready = [] }
        return ready
    }

    /// Ends the input: a final line without a newline counts, and the last partial batch joins
    /// `ready`.
    public mutating func finish() throws {
        if !carry.isEmpty {
            let last = carry
            carry = []
            try last.withUnsafeBufferPointer { try parse($0) }
        }
        if !batch.isEmpty { ready.append(take()) }
    }

    private mutating func take() -> ReadyBatch {
        defer {
            batch = PreferenceBatch()
            batchFirstLine = line + 1
        }
        return ReadyBatch(batch: batch, lines: batchFirstLine...max(batchFirstLine, line))
    }

    private mutating func parse(_ raw: UnsafeBufferPointer<UInt8>) throws {
        line += 1
        let bytes = raw.last == UInt8(ascii: "\r") ? UnsafeBufferPointer(rebasing: raw.dropLast()) : raw
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }
        let record = "line \(line)"
        // Most lines are ASCII; only the others need the full UTF-8 check.
        guard bytes.allSatisfy({ $0 < 0x80 }) || String(validating: bytes, as: UTF8.self) != nil else {
            throw PreferenceStoreError.malformedImport(record: record, problem: "is not valid UTF-8")
        }
        let json = Data(
            bytesNoCopy: UnsafeMutableRawPointer(mutating: bytes.baseAddress!), count: bytes.count, deallocator: .none)
        guard let parsed = try? JSONSerialization.jsonObject(with: json) else {
            throw PreferenceStoreError.malformedImport(
                record: record, problem: "is not valid JSON (a line cut short, or two records on one line?)")
        }
        guard let obj = parsed as? [String: Any] else {
            throw PreferenceStoreError.malformedImport(record: record, problem: "is not a JSON object")
        }
        let f = PreferenceImport.Fields(obj, record: record)
        if obj["request_id"] != nil {
            let outcomeName = try f.string("outcome")
            guard let outcome = FeedbackEvent.Outcome(rawValue: outcomeName) else {
                throw PreferenceStoreError.invalidField(
                    record: record, field: "outcome",
                    problem: "must be accepted, edited or rejected, not '\(outcomeName.prefix(32))'")
            }
            let e = FeedbackEvent(
                requestID: try f.string("request_id"), task: try f.string("task", default: task),
                prompt: try f.string("prompt"),
                shown: try f.string("shown"), kept: try f.string("kept", default: ""), outcome: outcome,
                adapters: try f.string("adapters", default: ""), mode: try f.string("mode", default: ""))
            try limits.validate(e, record: record)
            batch.feedback.append(e)
        } else if obj["chosen"] != nil || obj["rejected"] != nil {
            let sourceName = try f.string("source", default: "explicit")
            guard let source = PreferencePair.Source(rawValue: sourceName) else {
                throw PreferenceStoreError.invalidField(
                    record: record, field: "source",
                    problem: "must be explicit, synthetic or feedback, not '\(sourceName.prefix(32))'")
            }
            let p = PreferencePair(
                id: try f.id(), task: try f.string("task", default: task), prompt: try f.string("prompt"),
                chosen: try f.string("chosen"), rejected: try f.string("rejected"), source: source)
            try limits.validate(p, record: record)
            batch.pairs.append(p)
        } else {
            let item = HistoryItem(
                id: try f.id(), task: try f.string("task", default: task), input: try f.string("input"),
                output: try f.string("output"), source: try f.string("source", default: "import"),
                metadata: try f.metadata())
            try limits.validate(item, record: record)
            batch.history.append(item)
        }
    }
}

/// Writes preference data as JSONL that `JSONLReader` reads back: the format of exports.
public enum PreferenceExport {
    /// One history item's line (with its newline).
    public static func line(_ item: HistoryItem) -> [UInt8] {
        var obj: [String: Any] = [
            "id": item.id, "task": item.task, "input": item.input, "output": item.output, "source": item.source,
        ]
        if !item.metadata.isEmpty, let m = try? JSONSerialization.jsonObject(with: Data(item.metadata.utf8)) {
            obj["metadata"] = m
        }
        return encode(obj)
    }

    /// One pair's line.
    public static func line(_ p: PreferencePair) -> [UInt8] {
        encode([
            "id": p.id, "task": p.task, "prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected,
            "source": p.source.rawValue,
        ])
    }

    /// One feedback event's line.
    public static func line(_ e: FeedbackEvent) -> [UInt8] {
        encode([
            "request_id": e.requestID, "task": e.task, "prompt": e.prompt, "shown": e.shown, "kept": e.kept,
            "outcome": e.outcome.rawValue, "adapters": e.adapters, "mode": e.mode,
        ])
    }

    private static func encode(_ obj: [String: Any]) -> [UInt8] {
        // Stored text is valid UTF-8 without NUL, so serialization cannot fail.
        var bytes = [UInt8](
            (try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes]))
                ?? Data("{}".utf8))
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }
}

/// Walks one user's data (optionally one task's) as JSONL, a chunk at a time: history, then
/// pairs, then feedback, each in key order, paged by key so a long export holds one page in
/// memory and sees every record that exists throughout exactly once.
public struct PreferenceExportCursor: Sendable {
    public let store: PreferenceStore
    public let user: String
    public let owner: UInt32
    public let task: String?
    private var kind = 0  // 0 history, 1 pairs, 2 feedback, 3 done
    private var after: String?
    private static let pageSize = 1000

    /// A cursor at the start of `user`'s data.
    public init(store: PreferenceStore, user: String, owner: UInt32, task: String?) {
        self.store = store
        self.user = user
        self.owner = owner
        self.task = task
    }

    /// The next chunk of whole lines, about `maxBytes` long (more when one page is larger);
    /// nil when everything was returned.
    /// - Throws: `unknownUser` / `unknownTask` (on the first call, before anything is returned).
    public mutating func next(maxBytes: Int = 1 << 20) throws -> [UInt8]? {
        var out: [UInt8] = []
        while kind < 3, out.count < maxBytes {
            let lines: [[UInt8]], last: String?
            switch kind {
            case 0:
                let page = try store.historyPage(
                    user: user, owner: owner, task: task, after: after, limit: Self.pageSize)
                (lines, last) = (page.records.map(PreferenceExport.line), page.records.last?.id)
            case 1:
                let page = try store.pairsPage(user: user, owner: owner, task: task, after: after, limit: Self.pageSize)
                (lines, last) = (page.records.map(PreferenceExport.line), page.records.last?.id)
            default:
                let page = try store.feedbackPage(
                    user: user, owner: owner, task: task, after: after, limit: Self.pageSize)
                (lines, last) = (page.records.map(PreferenceExport.line), page.records.last?.requestID)
            }
            for l in lines { out += l }
            if lines.count < Self.pageSize {
                kind += 1
                after = nil
            } else {
                after = last
            }
        }
        return out.isEmpty && kind >= 3 ? nil : out
    }
}
