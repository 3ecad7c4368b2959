/// A bounds-checked cursor over the mapped header of a GGUF file. Every read checks the bytes
/// remain; every count is checked against what the rest of the file could hold.
struct GGUFReader {
    let base: UnsafeRawPointer
    let size: Int
    let path: String
    private(set) var offset = 0

    init(base: UnsafeRawPointer, size: Int, path: String) {
        self.base = base
        self.size = size
        self.path = path
    }

    struct Header {
        var version: UInt32
        var metadata: [String: GGUFValue]
        var keys: [String]
        var alignment: Int
        var tensors: [GGUFTensorInfo]
    }

    private var remaining: Int { size - offset }

    private mutating func need(_ n: Int, _ what: @autoclosure () -> String) throws {
        if n < 0 || n > remaining { throw GGUFError.truncated(path: path, what: what(), offset: offset) }
    }

    private mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        try need(MemoryLayout<T>.size, what())
        let v = base.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
        return T(littleEndian: v)
    }

    private mutating func readString(_ what: @autoclosure () -> String) throws -> String {
        let n = try read(UInt64.self, what())
        guard n <= UInt64(remaining) else { throw GGUFError.absurdLength(path: path, what: what(), length: n) }
        let s = String(decoding: UnsafeRawBufferPointer(start: base + offset, count: Int(n)), as: UTF8.self)
        offset += Int(n)
        return s
    }

    /// Minimum encoded size of a value of GGUF type `t`, used to reject absurd array counts early.
    private func minSize(_ t: UInt32) -> Int {
        switch t {
        case 0, 1, 7: return 1
        case 2, 3: return 2
        case 4, 5, 6: return 4
        case 8, 10, 11, 12: return 8
        case 9: return 12
        default: return 1
        }
    }

    private mutating func readScalar(_ t: UInt32, key: String) throws -> GGUFValue {
        switch t {
        case 0: return .uint(UInt64(try read(UInt8.self, key)))
        case 1: return .int(Int64(try read(Int8.self, key)))
        case 2: return .uint(UInt64(try read(UInt16.self, key)))
        case 3: return .int(Int64(try read(Int16.self, key)))
        case 4: return .uint(UInt64(try read(UInt32.self, key)))
        case 5: return .int(Int64(try read(Int32.self, key)))
        case 6: return .float(Double(Float(bitPattern: try read(UInt32.self, key))))
        case 7: return .bool(try read(UInt8.self, key) != 0)
        case 8: return .string(try readString(key))
        case 10: return .uint(try read(UInt64.self, key))
        case 11: return .int(try read(Int64.self, key))
        case 12: return .float(Double(bitPattern: try read(UInt64.self, key)))
        default: throw GGUFError.badValueType(path: path, key: key, type: t)
        }
    }

    private mutating func readValue(_ t: UInt32, key: String, depth: Int = 0) throws -> GGUFValue {
        guard t == 9 else { return try readScalar(t, key: key) }
        guard depth < 4 else { throw GGUFError.badValueType(path: path, key: key, type: t) }
        let et = try read(UInt32.self, key)
        let n = try read(UInt64.self, key)
        guard n <= UInt64(remaining / minSize(et)) else {
            throw GGUFError.absurdLength(path: path, what: "array '\(key)'", length: n)
        }
        let count = Int(n)
        switch et {
        case 8:
            var out = PackedStrings()
            out.reserve(count: count, bytes: 0)
            for _ in 0..<count {
                let n = try read(UInt64.self, key)
                guard n <= UInt64(remaining) else { throw GGUFError.absurdLength(path: path, what: key, length: n) }
                out.append(UnsafeRawBufferPointer(start: base + offset, count: Int(n)))
                offset += Int(n)
            }
            return .strings(out)
        case 6:
            try need(count * 4, key)
            var out = [Float](repeating: 0, count: count)
            for i in 0..<count {
                out[i] = Float(
                    bitPattern: UInt32(
                        littleEndian: base.loadUnaligned(fromByteOffset: offset + 4 * i, as: UInt32.self)))
            }
            offset += count * 4
            return .floats(out)
        case 0, 1, 2, 3, 4, 5, 10, 11:
            var out = [Int64](); out.reserveCapacity(count)
            for _ in 0..<count {
                switch try readScalar(et, key: key) {
                case let .int(v): out.append(v)
                case let .uint(v): out.append(Int64(bitPattern: v))
                default: break
                }
            }
            return .ints(out)
        default:
            var out = [GGUFValue](); out.reserveCapacity(count)
            for _ in 0..<count { out.append(try readValue(et, key: key, depth: depth + 1)) }
            return .array(out)
        }
    }

    mutating func parseHeader() throws -> Header {
        try need(4, "magic")
        let magic = [UInt8](UnsafeRawBufferPointer(start: base, count: 4))
        guard magic == [0x47, 0x47, 0x55, 0x46] else { throw GGUFError.badMagic(path: path, found: magic) }
        offset = 4
        let version = try read(UInt32.self, "version")
        guard version == 2 || version == 3 else { throw GGUFError.unsupportedVersion(path: path, version: version) }
        let nTensors = try read(UInt64.self, "tensor count")
        let nKV = try read(UInt64.self, "metadata count")
        guard nKV <= UInt64(remaining / 13) else {
            throw GGUFError.absurdLength(path: path, what: "metadata count", length: nKV)
        }
        guard nTensors <= UInt64(remaining / 24) else {
            throw GGUFError.absurdLength(path: path, what: "tensor count", length: nTensors)
        }

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        for _ in 0..<Int(nKV) {
            let key = try readString("metadata key")
            let t = try read(UInt32.self, "type of '\(key)'")
            let v = try readValue(t, key: key)
            if metadata[key] != nil { throw GGUFError.duplicateName(path: path, name: key) }
            metadata[key] = v
            keys.append(key)
        }
        var alignment = 32
        if let a = metadata["general.alignment"] {
            guard let v = a.intValue, v > 0, v <= 1 << 20, v & (v - 1) == 0 else {
                throw GGUFError.missingMetadata(path: path, key: "general.alignment")
            }
            alignment = v
        }

        struct Raw { var name: String; var dims: [UInt64]; var type: UInt32; var offset: UInt64 }
        var raws: [Raw] = []
        raws.reserveCapacity(Int(nTensors))
        for _ in 0..<Int(nTensors) {
            let name = try readString("tensor name")
            let nd = try read(UInt32.self, "dimension count of '\(name)'")
            guard nd >= 1, nd <= 4 else { throw GGUFError.absurdDimension(path: path, tensor: name, dims: []) }
            var dims: [UInt64] = []
            for _ in 0..<nd { dims.append(try read(UInt64.self, "dimensions of '\(name)'")) }
            let t = try read(UInt32.self, "type of '\(name)'")
            let off = try read(UInt64.self, "offset of '\(name)'")
            raws.append(Raw(name: name, dims: dims, type: t, offset: off))
        }
        let dataStart = (offset + alignment - 1) / alignment * alignment
        var tensors: [GGUFTensorInfo] = []
        var seen = Set<String>()
        for r in raws {
            guard seen.insert(r.name).inserted else { throw GGUFError.duplicateName(path: path, name: r.name) }
            guard let type = GGMLType(rawValue: r.type), type.isSupported else {
                throw GGUFError.unknownTensorType(path: path, tensor: r.name, type: r.type)
            }
            // Each dimension at least 1 and the total below 2^40 elements: real models are far smaller.
            var count: UInt64 = 1
            for d in r.dims {
                guard d >= 1, d <= 1 << 40 else {
                    throw GGUFError.absurdDimension(path: path, tensor: r.name, dims: r.dims)
                }
                let (p, o) = count.multipliedReportingOverflow(by: d)
                guard !o, p <= 1 << 40 else {
                    throw GGUFError.absurdDimension(path: path, tensor: r.name, dims: r.dims)
                }
                count = p
            }
            guard r.dims[0] % UInt64(type.blockSize) == 0 else {
                throw GGUFError.absurdDimension(path: path, tensor: r.name, dims: r.dims)
            }
            let bytes = count / UInt64(type.blockSize) * UInt64(type.blockBytes)
            guard r.offset % UInt64(alignment) == 0 else {
                throw GGUFError.misalignedTensor(
                    path: path, tensor: r.name, offset: r.offset, alignment: UInt64(alignment))
            }
            let (abs, o1) = UInt64(dataStart).addingReportingOverflow(r.offset)
            let (end, o2) = abs.addingReportingOverflow(bytes)
            guard !o1, !o2, end <= UInt64(size) else {
                throw GGUFError.tensorOutOfBounds(
                    path: path, tensor: r.name, offset: abs, bytes: bytes, fileSize: UInt64(size))
            }
            tensors.append(
                GGUFTensorInfo(
                    name: r.name, dims: r.dims.map { Int($0) }, type: type,
                    fileOffset: Int(abs), byteCount: Int(bytes)))
        }
        return Header(version: version, metadata: metadata, keys: keys, alignment: alignment, tensors: tensors)
    }
}
