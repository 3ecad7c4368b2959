import ArgumentParser

/// "Did you mean …?" for a mistyped subcommand, as git and cargo offer it: walks the command
/// tree along the arguments and, at the first word that names no subcommand where one is
/// expected, suggests the closest names.
enum CommandSuggestion {
    /// The message for `arguments` (without the executable) under `root`, or nil when every
    /// subcommand word is known or nothing is close.
    static func message(for arguments: [String], root: any ParsableCommand.Type) -> String? {
        var command = root
        var path = [root._commandName]
        for word in arguments {
            let subcommands = command.configuration.subcommands
            if word.hasPrefix("-") || subcommands.isEmpty { return nil }
            let names = subcommands.flatMap { [$0._commandName] + $0.configuration.aliases }
            if let next = subcommands.first(where: {
                $0._commandName == word || $0.configuration.aliases.contains(word)
            }) {
                command = next
                path.append(word)
                continue
            }
            let close = names.filter { !$0.isEmpty && (distance($0, word) <= 2 || $0.hasPrefix(word)) }
            let list = close.isEmpty ? "" : " Did you mean " + close.map { "'\($0)'" }.joined(separator: " or ") + "?"
            return "'\(word)' is not a \(path.joined(separator: " ")) command.\(list) "
                + "See '\(path.joined(separator: " ")) --help'."
        }
        return nil
    }

    /// Levenshtein distance between `a` and `b`.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(1, a.count) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in 1...max(1, b.count) where !b.isEmpty {
                let substitution = previous + (a[i - 1] == b[j - 1] ? 0 : 1)
                previous = row[j]
                row[j] = min(substitution, row[j] + 1, row[j - 1] + 1)
            }
        }
        return a.isEmpty ? b.count : row[b.count]
    }
}
