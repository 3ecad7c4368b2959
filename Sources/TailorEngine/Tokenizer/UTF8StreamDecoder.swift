/// Turns a stream of token bytes into text without ever emitting a partial UTF-8 sequence.
///
/// Byte-level tokens often end in the middle of a multi-byte character; a client must never see
/// half a character. Bytes are held back until the character they start is complete; a
/// sequence that can no longer become valid is replaced by U+FFFD, as a decoder would.
public struct UTF8StreamDecoder: Sendable {
    private var pending: [UInt8] = []

    /// An empty instance.
    public init() {}

    /// Length of the UTF-8 sequence a lead byte announces, or 0 for a byte that cannot lead.
    private static func sequenceLength(_ b: UInt8) -> Int {
        switch b {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: return 2
        case 0xE0...0xEF: return 3
        case 0xF0...0xF4: return 4
        default: return 0
        }
    }

    /// Adds `bytes` and returns the text that is now complete (possibly empty).
    public mutating func push<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        pending.append(contentsOf: bytes)
        return drain(final: false)
    }

    /// Returns whatever is held back, with an incomplete tail replaced by U+FFFD.
    public mutating func flush() -> String { drain(final: true) }

    /// True when bytes are held back waiting for the rest of a character.
    public var hasPending: Bool { !pending.isEmpty }

    private mutating func drain(final: Bool) -> String {
        var cut = 0, i = 0
        while i < pending.count {
            let n = Self.sequenceLength(pending[i])
            if n == 0 { i += 1; cut = i; continue }  // stray byte: decodes to U+FFFD
            if i + n > pending.count {
                // Incomplete: keep it only while the bytes so far can still be valid.
                var ok = true
                for k in (i + 1)..<pending.count where pending[k] & 0xC0 != 0x80 { ok = false }
                if ok && !final { break }
                i += 1; cut = i; continue
            }
            // Complete in length: a byte that cannot continue it ends the bad prefix there
            // (one U+FFFD) and may itself start a character, which must not be cut apart.
            if let bad = ((i + 1)..<(i + n)).first(where: { pending[$0] & 0xC0 != 0x80 }) {
                i = bad
            } else {
                i += n
            }
            cut = i
        }
        if final { cut = pending.count }
        let out = String(decoding: pending[0..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        return out
    }
}
