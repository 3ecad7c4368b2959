/// One config line's value, read as the type its key wants: every section of tailord.conf
/// (the daemon's keys, `http_*`, `autopilot_*`) reads its values through this, so a wrong
/// value gets the same message whatever the key.
struct ConfigValue {
    let key: String
    let text: String

    /// An integer in `range`.
    func int(_ range: ClosedRange<Int>) throws -> Int {
        guard let v = Int(text), range.contains(v) else {
            throw ConfigProblem("\(key) must be an integer in \(range.lowerBound)...\(range.upperBound), not '\(text)'")
        }
        return v
    }

    /// A number in `range`.
    func number(_ range: ClosedRange<Double>) throws -> Double {
        guard let v = Double(text), range.contains(v) else {
            throw ConfigProblem("\(key) must be a number in \(range.lowerBound)...\(range.upperBound), not '\(text)'")
        }
        return v
    }

    /// on/off (also true/false, yes/no, 1/0).
    func flag() throws -> Bool {
        switch text.lowercased() {
        case "on", "true", "yes", "1": return true
        case "off", "false", "no", "0": return false
        default: throw ConfigProblem("\(key) must be on or off, not '\(text)'")
        }
    }

    /// An absolute path.
    func absolutePath() throws -> String {
        guard text.hasPrefix("/") else { throw ConfigProblem("\(key) must be an absolute path") }
        return text
    }

    /// A comma-separated list, blanks dropped.
    var list: [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

/// A bad value of a config key; the file's reader adds where it is.
struct ConfigProblem: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
