/// Many byte strings in one buffer with offsets: how Tailor holds GGUF string arrays and token
/// tables. A Swift String or Array per entry would cost ~50 bytes of headers each (13 MB for
/// Gemma's 262 144 tokens); this costs 4 bytes each beyond the bytes themselves.
public struct PackedStrings: Sendable, Equatable {
    private var bytes: [UInt8] = []
    private var offsets: [Int32] = [0]  // count + 1 entries; entry i is bytes[offsets[i]..<offsets[i+1]]

    /// An empty instance.
    public init() {}

    /// Packs `items` in order.
    public init<S: Sequence>(_ items: S) where S.Element == [UInt8] {
        for i in items { append(i) }
    }

    /// Packs the UTF-8 of `strings` in order.
    public init(strings: [String]) {
        for s in strings { append(Array(s.utf8)) }
    }

    /// Appends one entry.
    public mutating func append<C: Collection>(_ item: C) where C.Element == UInt8 {
        bytes.append(contentsOf: item)
        offsets.append(Int32(bytes.count))
    }

    /// Reserves room for `count` entries and `n` bytes.
    public mutating func reserve(count: Int, bytes n: Int) {
        offsets.reserveCapacity(count + 1)
        bytes.reserveCapacity(n)
    }

    /// Number of entries.
    public var count: Int { offsets.count - 1 }

    /// The bytes of entry `i`.
    public subscript(i: Int) -> ArraySlice<UInt8> { bytes[Int(offsets[i])..<Int(offsets[i + 1])] }

    /// Entry `i` as a String (invalid UTF-8 repaired).
    public func string(at i: Int) -> String { String(decoding: self[i], as: UTF8.self) }

    /// Every entry as a String.
    public var strings: [String] { (0..<count).map(string(at:)) }

    /// Calls `body` with entry `i`'s bytes without copying them.
    public func withBytes<R>(at i: Int, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        bytes.withUnsafeBufferPointer { all in
            body(UnsafeBufferPointer(rebasing: all[Int(offsets[i])..<Int(offsets[i + 1])]))
        }
    }
}
