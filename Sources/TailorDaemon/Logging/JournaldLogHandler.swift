import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// A swift-log handler writing one line per message to standard error, in the form journald
/// reads best when stderr *is* the journal: a `<N>` syslog-priority prefix and no timestamp
/// (journald stamps each line itself). On a terminal or a file, lines carry an ISO 8601 time
/// and the level's name instead.
///
/// Whether stderr is the journal is decided as sd_journal_stream_fd(3) documents: systemd sets
/// `$JOURNAL_STREAM` to "device:inode" of the stream it connected, and stderr must still be
/// that same file (a shell redirect inherits the variable, but not the file).
public struct JournaldLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String
    private let journal: Bool

    /// A handler for `label`, at `level`.
    public init(
        label: String, level: Logger.Level = .info, environment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        self.label = label
        logLevel = level
        journal = Self.stderrIsJournal(environment: environment)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let line = format(level: event.level, message: event.message, metadata: event.metadata)
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        bytes.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = write(STDERR_FILENO, raw.baseAddress! + off, raw.count - off)
                if n <= 0 { return }
                off += n
            }
        }
    }

    /// The line written for a message (without the newline).
    func format(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?) -> String {
        var all = metadata
        if let explicit { all.merge(explicit) { $1 } }
        let fields = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        // Newlines would split one message into several journal entries.
        let text = "\(message)".replacingOccurrences(of: "\n", with: "\\n")
        let body = fields.isEmpty ? "\(label): \(text)" : "\(label): \(text) \(fields)"
        if journal { return "<\(Self.priority(level))>\(body)" }
        return "\(ISO8601DateFormatter().string(from: Date())) \(level.rawValue.uppercased()) \(body)"
    }

    /// syslog priority of a level (sd-daemon(3)).
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// Whether `$JOURNAL_STREAM` names the file stderr is now.
    static func stderrIsJournal(environment: [String: String], fd: Int32 = STDERR_FILENO) -> Bool {
        guard let value = environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let dev = UInt64(parts[0]), let ino = UInt64(parts[1]) else { return false }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return false }
        return UInt64(st.st_dev) == dev && UInt64(st.st_ino) == ino
    }
}
