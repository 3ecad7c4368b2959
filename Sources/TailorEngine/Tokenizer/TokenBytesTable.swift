/// The raw bytes of every token, in one flat buffer with offsets. One array per token would cost
/// about 50 bytes of headers each, 13 MB for Gemma's 262 144 tokens; this costs 4 bytes each.
struct TokenBytesTable: Sendable {
    private let bytes: [UInt8]
    private let offsets: [Int32]   // count + 1 entries; token i is bytes[offsets[i]..<offsets[i+1]]

    init<S: Sequence>(_ tokens: S) where S.Element == [UInt8] {
        var b: [UInt8] = []
        var o: [Int32] = [0]
        for t in tokens {
            b.append(contentsOf: t)
            o.append(Int32(b.count))
        }
        bytes = b
        offsets = o
    }

    var count: Int { offsets.count - 1 }

    subscript(id: Int) -> ArraySlice<UInt8> { bytes[Int(offsets[id])..<Int(offsets[id + 1])] }
}
