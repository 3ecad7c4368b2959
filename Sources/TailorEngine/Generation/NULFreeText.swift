extension String {
    /// This text with every NUL scalar replaced by U+FFFD: what generated text becomes before it
    /// goes where NUL cannot (a protocol string, which C readers cut at NUL; a stored pair).
    /// Scalar by scalar, since a NUL joined with a combining mark is one Character, which a
    /// Character-level replacement leaves in place.
    public var replacingNULScalars: String {
        guard utf8.contains(0) else { return self }
        return String(String.UnicodeScalarView(unicodeScalars.map { $0 == "\u{0}" ? "\u{FFFD}" : $0 }))
    }
}
