import Foundation

/// A one-line output (a commit subject, a title) out of generated text: the first non-empty
/// line. Small models often open with a newline after "subject:", which a plain "\n" stop
/// string would turn into an empty answer.
public enum SubjectLine {
    /// The first line holding anything but whitespace, trimmed ("" if there is none).
    public static func first(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).lazy.map { $0.trimmingCharacters(in: .whitespaces) }.first {
            !$0.isEmpty
        } ?? ""
    }

    /// True once `text` holds a non-empty line followed by a line break: nothing after it counts.
    public static func isComplete(_ text: String) -> Bool {
        guard let start = text.firstIndex(where: { !$0.isWhitespace }) else { return false }
        return text[start...].contains(where: \.isNewline)
    }
}
