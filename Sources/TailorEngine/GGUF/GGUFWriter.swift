/// Builds GGUF v3 files (little-endian, 32-byte alignment) from metadata and f32 tensors.
/// Used to export adapters in llama.cpp's format; the bytes are returned for the caller to
/// write atomically wherever its storage policy says.
public struct GGUFWriter: Sendable {
    /// A metadata value the writer can encode.
    public enum Value: Sendable {
        case string(String)
        case uint32(UInt32)
        case float32(Float)
        case bool(Bool)
    }

    private var metadata: [(String, Value)] = []
    private var tensors: [(name: String, dims: [Int], values: [Float])] = []
    private let alignment = 32

    /// An empty file.
    public init() {}

    /// Adds a metadata key, in order.
    public mutating func set(_ key: String, _ value: Value) { metadata.append((key, value)) }

    /// Adds an F32 tensor; `dims` in GGUF order (dims[0] is the contiguous one).
    public mutating func addTensor(_ name: String, dims: [Int], values: [Float]) {
        precondition(dims.reduce(1, *) == values.count, "tensor \(name): \(values.count) values for dims \(dims)")
        tensors.append((name, dims, values))
    }

    /// The file's bytes.
    public func serialized() -> [UInt8] {
        var out: [UInt8] = Array("GGUF".utf8)
        func u32(_ v: UInt32) { out += withUnsafeBytes(of: v.littleEndian, Array.init) }
        func u64(_ v: UInt64) { out += withUnsafeBytes(of: v.littleEndian, Array.init) }
        func str(_ s: String) { u64(UInt64(s.utf8.count)); out += Array(s.utf8) }
        u32(3)
        u64(UInt64(tensors.count))
        u64(UInt64(metadata.count))
        for (k, v) in metadata {
            str(k)
            switch v {
            case let .string(s): u32(8); str(s)
            case let .uint32(x): u32(4); u32(x)
            case let .float32(f): u32(6); u32(f.bitPattern)
            case let .bool(b): u32(7); out.append(b ? 1 : 0)
            }
        }
        var offset = 0
        var offsets: [Int] = []
        for t in tensors {
            offsets.append(offset)
            offset += (t.values.count * 4 + alignment - 1) / alignment * alignment
        }
        for (t, off) in zip(tensors, offsets) {
            str(t.name)
            u32(UInt32(t.dims.count))
            for d in t.dims { u64(UInt64(d)) }
            u32(GGMLType.f32.rawValue)
            u64(UInt64(off))
        }
        while out.count % alignment != 0 { out.append(0) }
        for t in tensors {
            for v in t.values { u32(v.bitPattern) }
            while out.count % alignment != 0 { out.append(0) }
        }
        return out
    }
}
