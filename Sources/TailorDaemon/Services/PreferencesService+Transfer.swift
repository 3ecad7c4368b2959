import Foundation
import TailorStore
import TailorWire

/// Import and Export: preference data moving as files in Data frames.
extension PreferencesService {
    /// Data frame size of exports.
    static let exportChunkBytes = 1 << 20

    /// Import: JSONL is parsed as it arrives and committed in batches of `import_batch`
    /// records, one transaction each; the JSON formats are held whole (up to
    /// `max_import_bytes`), checked, and written in one transaction.
    func importData(_ call: RPCCall, _ writer: RPCWriter) async throws {
        let req = try Preferences.ImportRequest(serialized: call.payload)
        let owner = try policy.owner(req.ownerUID, caller: call.caller, of: "data")
        let limits = store.limits
        try limits.validateUser(req.user)
        guard let format = PreferenceImport.Format(rawValue: req.format) else {
            throw RPCError.invalidArgument(
                "format", "format must be jsonl, per-user or lamp, not '\(req.format.prefix(32))'")
        }
        if !req.task.isEmpty || format != .jsonl {
            guard AdapterKey.isValidName(req.task) else {
                throw RPCError.invalidArgument(
                    "task", "'\(req.task.prefix(64))' is not a task name: use 1-64 letters, digits, '.', '_' or '-'")
            }
        }
        var received = 0
        var complete = false
        var total = WriteCounts()
        let started = ContinuousClock.now
        switch format {
        case .jsonl:
            var reader = JSONLReader(task: req.task, limits: limits)
            var committed = 0
            do {
                for await chunk in call.uploads {
                    received += chunk.bytes.count
                    guard received <= limits.maxImportBytes else {
                        throw RPCError(
                            .resourceExhausted, "the upload exceeds max_import_bytes (\(limits.maxImportBytes) bytes)")
                    }
                    var failure: (any Error)?
                    do { try reader.feed(chunk.bytes) } catch { failure = error }
                    if chunk.last && failure == nil {
                        complete = true
                        do { try reader.finish() } catch { failure = error }
                    }
                    for ready in reader.takeReady() {
                        total = total + (try await write(ready.batch, user: req.user, owner: owner, checked: true))
                        committed = ready.lines.upperBound
                    }
                    if let failure { throw failure }
                    if complete { break }
                }
            } catch let e as PreferenceStoreError {
                var status = RPCError(preference: e)
                if committed > 0 {
                    status.message +=
                        "; lines 1-\(committed) were imported before it (re-importing the fixed file skips them)"
                }
                throw status
            }
        case .perUser, .lamp:
            var upload: [UInt8] = []
            for await chunk in call.uploads {
                upload += chunk.bytes
                guard upload.count <= limits.maxImportBytes else {
                    throw RPCError(
                        .resourceExhausted, "the upload exceeds max_import_bytes (\(limits.maxImportBytes) bytes)")
                }
                if chunk.last { complete = true; break }
            }
            received = upload.count
            var questions = Data(upload), outputs: Data?
            if format == .lamp {
                guard req.firstFileBytes > 0, req.firstFileBytes < UInt64(upload.count) else {
                    throw RPCError.invalidArgument(
                        "first_file_bytes",
                        """
                        a LaMP import sends the questions file then the outputs file; first_file_bytes \
                        (\(req.firstFileBytes)) must be the questions file's size, less than the upload's \
                        \(upload.count) bytes
                        """
                    )
                }
                questions = Data(upload[..<Int(req.firstFileBytes)])
                outputs = Data(upload[Int(req.firstFileBytes)...])
            }
            guard complete else { throw RPCError(.cancelled, "the upload ended before its last chunk") }
            let fileUser = req.fileUser.isEmpty ? req.user : req.fileUser
            let batch = try PreferenceImport.parse(
                questions, format: format, task: req.task, user: fileUser, outputs: outputs, limits: limits)
            total = try await write(batch, user: req.user, owner: owner, checked: true)
        }
        guard complete else { throw RPCError(.cancelled, "the upload ended before its last chunk") }
        call.logger.info(
            "imported preference data",
            metadata: [
                "format": "\(format.rawValue)", "bytes": "\(received)", "history": "\(total.history)",
                "pairs": "\(total.pairs)",
                "feedback": "\(total.feedback)", "skipped": "\(total.skipped)",
                "elapsed": "\(ContinuousClock.now - started)",
            ])
        try await writer.respond(try total.wire.serialized())
    }

    /// Export: the user's data as JSONL in Data frames (the last one marked), read page by page.
    func exportData(_ call: RPCCall, _ writer: RPCWriter) async throws {
        let req = try Preferences.UserScope(export: call.payload)
        let owner = try policy.owner(req.ownerUID, caller: call.caller, of: "data")
        let box = CursorBox(
            PreferenceExportCursor(store: store, user: req.user, owner: owner, task: req.task.isEmpty ? nil : req.task))
        var pending = try await BlockingIO.run { try box.next() }
        repeat {
            let next = pending == nil ? nil : try await BlockingIO.run { try box.next() }
            try await writer.send(.data(chunk: pending ?? [], last: next == nil))
            pending = next
        } while pending != nil
    }
}

/// Lets the blocking-I/O queue advance a cursor that lives across awaits (one call at a time).
private final class CursorBox: @unchecked Sendable {
    private var cursor: PreferenceExportCursor
    init(_ cursor: PreferenceExportCursor) { self.cursor = cursor }
    func next() throws -> [UInt8]? { try cursor.next(maxBytes: PreferencesService.exportChunkBytes) }
}
