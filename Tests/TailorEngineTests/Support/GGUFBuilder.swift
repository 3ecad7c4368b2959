import Foundation

/// Writes small GGUF files byte by byte, so tests can build valid files and then break exactly
/// one field of them.
struct GGUFBuilder {
    var magic: [UInt8] = Array("GGUF".utf8)
    var version: UInt32 = 3
    var metadata: [(String, UInt32, [UInt8])] = []
    var tensors: [(name: String, dims: [UInt64], type: UInt32, offset: UInt64)] = []
    var data: [UInt8] = []
    var alignment = 32
    /// Overrides the declared counts (to lie about them).
    var tensorCountOverride: UInt64?

    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    static func str(_ s: String) -> [UInt8] { le(UInt64(s.utf8.count)) + Array(s.utf8) }

    mutating func addString(_ key: String, _ value: String) { metadata.append((key, 8, Self.str(value))) }
    mutating func addUInt32(_ key: String, _ value: UInt32) { metadata.append((key, 4, Self.le(value))) }

    /// Adds an F32 tensor with the given values, aligned.
    mutating func addF32Tensor(_ name: String, dims: [UInt64], values: [Float]) {
        while data.count % alignment != 0 { data.append(0) }
        tensors.append((name, dims, 0, UInt64(data.count)))
        for v in values { data += Self.le(v.bitPattern) }
    }

    func bytes() -> [UInt8] {
        var out =
            magic + Self.le(version) + Self.le(tensorCountOverride ?? UInt64(tensors.count))
            + Self.le(UInt64(metadata.count))
        for (k, t, v) in metadata { out += Self.str(k) + Self.le(t) + v }
        for t in tensors {
            out += Self.str(t.name) + Self.le(UInt32(t.dims.count))
            for d in t.dims { out += Self.le(d) }
            out += Self.le(t.type) + Self.le(t.offset)
        }
        while out.count % alignment != 0 { out.append(0) }
        return out + data
    }

    /// Writes to a fresh temp file and returns its path.
    func write(name: String = "test") throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "tailor-\(name)-\(UUID().uuidString).gguf")
        try Data(bytes()).write(to: url)
        return url.path
    }
}
