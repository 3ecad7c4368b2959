import Foundation

/// Reads lines from a terminal with the editing people expect from readline: arrows move and
/// recall history, backspace, Ctrl-A/E (start, end), Ctrl-U (clear), Ctrl-C (drop the line),
/// Ctrl-D (end of input on an empty line). The terminal is raw only while a line is read.
/// History persists in a file, the last `historyLimit` lines.
final class LineEditor {
    private let historyFile: String?
    private(set) var history: [String] = []
    static let historyLimit = 500

    /// What reading a line gave.
    enum Input: Equatable {
        case line(String)
        /// Ctrl-C: the line was dropped.
        case interrupted
        /// Ctrl-D on an empty line, or standard input closed.
        case end
    }

    init(historyFile: String?) {
        self.historyFile = historyFile
        if let historyFile, let text = try? String(contentsOfFile: historyFile, encoding: .utf8) {
            history = text.split(separator: "\n").map(String.init).suffix(Self.historyLimit)
        }
    }

    /// Reads one line after showing `prompt`.
    func read(prompt: String) -> Input {
        var saved = termios()
        guard tcgetattr(STDIN_FILENO, &saved) == 0 else { return .end }
        var raw = saved
        raw.c_lflag &= ~tcflag_t(ECHO | ICANON | ISIG | IEXTEN)
        raw.c_iflag &= ~tcflag_t(IXON | ICRNL)
        withUnsafeMutableBytes(of: &raw.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        tcsetattr(STDIN_FILENO, TCSANOW, &raw)
        defer { tcsetattr(STDIN_FILENO, TCSANOW, &saved) }

        var line: [Character] = [], cursor = 0
        var recalled = history.count  // history.count: the line being typed
        var draft: [Character] = []
        var pending: [UInt8] = []
        func redraw() {
            var out = "\r\u{1B}[K" + prompt + String(line)
            if cursor < line.count { out += "\u{1B}[\(line.count - cursor)D" }
            Console.write(out)
        }
        func recall(_ index: Int) {
            if recalled == history.count { draft = line }
            recalled = index
            line = index == history.count ? draft : Array(history[index])
            cursor = line.count
            redraw()
        }
        redraw()
        while true {
            guard let byte = Self.readByte() else { return .end }
            switch byte {
            case 0x0D, 0x0A:  // Enter
                Console.write("\n")
                let text = String(line)
                remember(text)
                return .line(text)
            case 0x03:  // Ctrl-C
                Console.write("^C\n")
                return .interrupted
            case 0x04:  // Ctrl-D
                if line.isEmpty {
                    Console.write("\n")
                    return .end
                }
            case 0x7F, 0x08:  // backspace
                if cursor > 0 {
                    line.remove(at: cursor - 1)
                    cursor -= 1
                    redraw()
                }
            case 0x01: cursor = 0; redraw()  // Ctrl-A
            case 0x05: cursor = line.count; redraw()  // Ctrl-E
            case 0x15: line = []; cursor = 0; redraw()  // Ctrl-U
            case 0x1B:  // an escape sequence: arrows, Home, End, Delete
                guard Self.readByte() == UInt8(ascii: "["), let code = Self.readByte() else { continue }
                switch code {
                case UInt8(ascii: "A"): if recalled > 0 { recall(recalled - 1) }
                case UInt8(ascii: "B"): if recalled < history.count { recall(recalled + 1) }
                case UInt8(ascii: "C"): if cursor < line.count { cursor += 1; redraw() }
                case UInt8(ascii: "D"): if cursor > 0 { cursor -= 1; redraw() }
                case UInt8(ascii: "H"): cursor = 0; redraw()
                case UInt8(ascii: "F"): cursor = line.count; redraw()
                case UInt8(ascii: "3"):
                    if Self.readByte() == UInt8(ascii: "~"), cursor < line.count { line.remove(at: cursor); redraw() }
                default: break
                }
            default:
                guard byte >= 0x20 else { continue }
                // UTF-8: gather a character's bytes before inserting it.
                pending.append(byte)
                guard let s = String(validating: pending, as: UTF8.self) else {
                    if pending.count >= 4 { pending = [] }
                    continue
                }
                pending = []
                for c in s {
                    line.insert(c, at: cursor)
                    cursor += 1
                }
                redraw()
            }
        }
    }

    /// Adds `text` to the history (not blank lines, not a repeat of the last) and saves it.
    private func remember(_ text: String) {
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty, history.last != text else { return }
        history.append(text)
        if history.count > Self.historyLimit { history.removeFirst(history.count - Self.historyLimit) }
        guard let historyFile else { return }
        try? FileManager.default.createDirectory(
            atPath: (historyFile as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try? Data((history.joined(separator: "\n") + "\n").utf8).write(
            to: URL(fileURLWithPath: historyFile), options: .atomic)
    }

    private static func readByte() -> UInt8? {
        var b: UInt8 = 0
        while true {
            let n = Foundation.read(STDIN_FILENO, &b, 1)
            if n == 1 { return b }
            if n < 0 && errno == EINTR { continue }
            return nil
        }
    }

    /// Where chat history lives: `$XDG_STATE_HOME/tailor/chat_history`.
    static var defaultHistoryFile: String {
        let env = ProcessInfo.processInfo.environment
        let state = env["XDG_STATE_HOME"] ?? NSHomeDirectory() + "/.local/state"
        return state + "/tailor/chat_history"
    }
}
