/// A GGUF metadata value. Numeric arrays are kept typed, because tokenizer vocabularies hold
/// hundreds of thousands of entries and boxing each one would cost time and memory.
public enum GGUFValue: Sendable, Equatable {
    case int(Int64)
    case uint(UInt64)
    case float(Double)
    case bool(Bool)
    case string(String)
    /// An array of strings, packed (vocabularies hold hundreds of thousands).
    case strings(PackedStrings)
    case ints([Int64])
    case floats([Float])
    case array([GGUFValue])

    /// The value as an integer, when it is one (of any width or signedness).
    public var intValue: Int? {
        switch self {
        case let .int(v): return Int(exactly: v)
        case let .uint(v): return Int(exactly: v)
        default: return nil
        }
    }

    /// The value as a floating-point number, converting integers.
    public var doubleValue: Double? {
        switch self {
        case let .float(v): return v
        case let .int(v): return Double(v)
        case let .uint(v): return Double(v)
        default: return nil
        }
    }

    /// The value as a Bool, when it is one.
    public var boolValue: Bool? { if case let .bool(v) = self { return v }; return nil }
    /// The value as a String, when it is one.
    public var stringValue: String? { if case let .string(v) = self { return v }; return nil }
    /// A string array, unpacked into Strings.
    public var stringArray: [String]? { if case let .strings(v) = self { return v.strings }; return nil }
    /// A string array without unpacking it.
    public var packedStrings: PackedStrings? { if case let .strings(v) = self { return v }; return nil }
    /// A numeric array as floats.
    public var floatArray: [Float]? {
        switch self {
        case let .floats(v): return v
        case let .ints(v): return v.map(Float.init)
        default: return nil
        }
    }
    /// An integer array as Ints.
    public var intArray: [Int]? {
        if case let .ints(v) = self { return v.map { Int(truncatingIfNeeded: $0) } }
        return nil
    }
}

/// One tensor's description from the GGUF header, with its data located in the mapped file.
public struct GGUFTensorInfo: Sendable {
    /// The tensor's name, e.g. `blk.0.attn_q.weight`.
    public let name: String
    /// ggml dimensions: `dims[0]` is the contiguous (input) dimension.
    public let dims: [Int]
    /// The ggml type of the data.
    public let type: GGMLType
    /// Absolute byte offset of the data in the file.
    public let fileOffset: Int
    /// Byte size of the data.
    public let byteCount: Int

    /// Number of elements.
    public var elementCount: Int { dims.reduce(1, *) }
}
