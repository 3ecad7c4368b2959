/// Watches generated text for stop strings. Text that might be the start of a stop string is
/// held back until it is known not to be, so a client never sees part of a stop string.
public struct StopStringMatcher: Sendable {
    /// The stop strings watched for (empty ones dropped).
    public let stops: [String]
    private var held = ""

    /// A matcher for `stops`.
    public init(_ stops: [String]) { self.stops = stops.filter { !$0.isEmpty } }

    /// Adds `text`; returns what may be shown now, and whether a stop string was reached
    /// (in which case the text before it is returned and the rest dropped).
    public mutating func feed(_ text: String) -> (emit: String, stopped: Bool) {
        held += text
        guard !stops.isEmpty else { let out = held; held = ""; return (out, false) }
        var first: String.Index?
        for s in stops {
            if let r = held.range(of: s), first == nil || r.lowerBound < first! { first = r.lowerBound }
        }
        if let cut = first {
            let out = String(held[..<cut])
            held = ""
            return (out, true)
        }
        // Hold back the longest suffix that is a proper prefix of some stop string.
        var keep = 0
        for s in stops {
            var n = min(s.count - 1, held.count)
            while n > keep {
                if held.hasSuffix(s.prefix(n)) { keep = n; break }
                n -= 1
            }
        }
        let cutIndex = held.index(held.endIndex, offsetBy: -keep)
        let out = String(held[..<cutIndex])
        held = String(held[cutIndex...])
        return (out, false)
    }

    /// Text still held back, released when generation ends for another reason.
    public mutating func flush() -> String {
        let out = held
        held = ""
        return out
    }
}
