import CTailorKernels
import Foundation

/// Why safetensors bytes could not be read or written. Each case names the problem.
public enum SafetensorsError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated(String)
    case badHeader(String)
    case unsupportedDType(tensor: String, dtype: String)
    case badTensor(tensor: String, reason: String)

    public var description: String {
        switch self {
        case let .truncated(m): return "safetensors: truncated: \(m)"
        case let .badHeader(m): return "safetensors: bad header: \(m)"
        case let .unsupportedDType(t, d):
            return "safetensors: tensor '\(t)' has unsupported dtype \(d) (supported: F32, F16, BF16)"
        case let .badTensor(t, r): return "safetensors: tensor '\(t)': \(r)"
        }
    }
}

/// The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header
/// {name: {dtype, shape, data_offsets}, "__metadata__": {..}}, then the raw data. Tailor's own
/// reader and writer, for adapters; tensors are read as f32 (from F32, F16 or BF16).
public struct Safetensors: Sendable, Equatable {
    /// A tensor as f32 values with its shape.
    public struct Tensor: Sendable, Equatable {
        /// Dimensions, outermost first (row-major, as PyTorch).
        public var shape: [Int]
        /// Values, row-major.
        public var values: [Float]
        /// A tensor; `values.count` must equal the product of `shape`.
        public init(shape: [Int], values: [Float]) {
            self.shape = shape
            self.values = values
        }
    }

    /// Tensors by name.
    public var tensors: [String: Tensor]
    /// The free-form string metadata.
    public var metadata: [String: String]

    /// A set of tensors and metadata.
    public init(tensors: [String: Tensor], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    /// The largest header Tailor reads: real adapters' headers are kilobytes.
    public static let maxHeaderBytes = 16 << 20

    /// Parses safetensors bytes, checking every offset, shape and dtype, and converts every
    /// tensor to f32.
    public init(bytes: [UInt8]) throws {
        let header = try Header(bytes: bytes)
        var tensors: [String: Tensor] = [:]
        for entry in header.entries {
            tensors[entry.name] = Tensor(shape: entry.shape, values: header.values(of: entry, in: bytes))
        }
        self.tensors = tensors
        self.metadata = header.metadata
    }

    /// A file's header: what each tensor is and where its bytes lie, checked, with nothing
    /// converted yet. A reader checks names and shapes against what it expects here, before
    /// materializing any values.
    public struct Header: Sendable {
        /// One tensor's description.
        public struct Entry: Sendable, Equatable {
            public var name: String
            public var dtype: String
            public var shape: [Int]
            /// Values (the product of `shape`).
            public var count: Int
            /// The tensor's bytes, relative to the start of the data section.
            public var begin: Int
            public var end: Int
        }

        /// The tensors, in data order.
        public var entries: [Entry]
        /// The free-form string metadata.
        public var metadata: [String: String]
        /// Where the data section starts in the file.
        public var dataStart: Int

        /// Parses and checks the header of `bytes`. The format's own rule holds: the tensors'
        /// data regions are in order, do not overlap, and cover the data section exactly, so
        /// the values a file describes are never more than its bytes.
        public init(bytes: [UInt8]) throws {
            guard bytes.count >= 8 else { throw SafetensorsError.truncated("\(bytes.count) bytes, no header length") }
            var n: UInt64 = 0
            for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
            guard n <= UInt64(Safetensors.maxHeaderBytes) else {
                throw SafetensorsError.badHeader("header length \(n) exceeds \(Safetensors.maxHeaderBytes)")
            }
            guard 8 + Int(n) <= bytes.count else {
                throw SafetensorsError.truncated("header of \(n) bytes, file of \(bytes.count)")
            }
            let headerData = Data(bytes[8..<(8 + Int(n))])
            guard let header = (try? JSONSerialization.jsonObject(with: headerData)) as? [String: Any] else {
                throw SafetensorsError.badHeader("not a JSON object")
            }
            dataStart = 8 + Int(n)
            let dataLength = bytes.count - dataStart
            var entries: [Entry] = []
            var metadata: [String: String] = [:]
            for (name, value) in header {
                if name == "__metadata__" {
                    guard let m = value as? [String: String] else {
                        throw SafetensorsError.badHeader("__metadata__ is not a map of strings")
                    }
                    metadata = m
                    continue
                }
                entries.append(try Self.entry(name, value, dataLength: dataLength))
            }
            entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
            var covered = 0
            for e in entries {
                guard e.begin == covered else {
                    throw SafetensorsError.badTensor(
                        tensor: e.name,
                        reason: e.begin < covered
                            ? "data_offsets [\(e.begin), \(e.end)) overlap another tensor's bytes"
                            : "data_offsets [\(e.begin), \(e.end)) leave bytes \(covered)-\(e.begin) unused")
                }
                covered = e.end
            }
            guard covered == dataLength else {
                throw SafetensorsError.badHeader("the tensors cover \(covered) of the \(dataLength) data bytes")
            }
            self.entries = entries
            self.metadata = metadata
        }

        /// One tensor's entry, its dtype, shape and offsets checked.
        private static func entry(_ name: String, _ value: Any, dataLength: Int) throws -> Entry {
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2
            else {
                throw SafetensorsError.badTensor(tensor: name, reason: "needs dtype, shape and two data_offsets")
            }
            let width: Int
            switch dtype {
            case "F32": width = 4
            case "F16", "BF16": width = 2
            default: throw SafetensorsError.unsupportedDType(tensor: name, dtype: dtype)
            }
            guard shape.allSatisfy({ $0 >= 0 && $0 < 1 << 31 }) else {
                throw SafetensorsError.badTensor(tensor: name, reason: "invalid shape \(shape)")
            }
            let (count, overflow) = shape.reduce((1, false)) { acc, d in
                let (p, o) = acc.0.multipliedReportingOverflow(by: d)
                return (p, acc.1 || o || p > 1 << 34)
            }
            guard !overflow else {
                throw SafetensorsError.badTensor(tensor: name, reason: "shape \(shape) is too large")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, end >= begin, end <= dataLength else {
                throw SafetensorsError.badTensor(
                    tensor: name, reason: "data_offsets [\(begin), \(end)) outside the \(dataLength) data bytes")
            }
            guard end - begin == count * width else {
                throw SafetensorsError.badTensor(
                    tensor: name, reason: "\(end - begin) bytes for \(count) values of \(dtype)")
            }
            return Entry(name: name, dtype: dtype, shape: shape, count: count, begin: begin, end: end)
        }

        /// The entry named `name`, if any.
        public func entry(named name: String) -> Entry? { entries.first { $0.name == name } }

        /// `entry`'s values as f32, read from `bytes` (the file this header was parsed from).
        public func values(of entry: Entry, in bytes: [UInt8]) -> [Float] {
            var values = [Float](repeating: 0, count: entry.count)
            let base = dataStart + entry.begin
            let width = entry.dtype == "F32" ? 4 : 2
            for i in 0..<entry.count {
                let o = base + i * width
                switch entry.dtype {
                case "F32":
                    values[i] = Float(
                        bitPattern: UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(
                            bytes[o + 3]) << 24)
                case "F16":
                    values[i] = tk_f16_to_f32(UInt16(bytes[o]) | UInt16(bytes[o + 1]) << 8)
                default:
                    values[i] = Float(bitPattern: (UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8) << 16)
                }
            }
            return values
        }
    }

    /// The bytes of a safetensors file holding every tensor as F32, names sorted, the header
    /// padded with spaces to a multiple of 8 bytes (as the reference writer does).
    public func serialized() throws -> [UInt8] {
        var entries: [String] = []
        var data: [UInt8] = []
        for name in tensors.keys.sorted() {
            let t = tensors[name]!
            guard t.values.count == t.shape.reduce(1, *) else {
                throw SafetensorsError.badTensor(tensor: name, reason: "\(t.values.count) values for shape \(t.shape)")
            }
            let begin = data.count
            for v in t.values {
                let u = v.bitPattern
                data += [UInt8(u & 0xFF), UInt8((u >> 8) & 0xFF), UInt8((u >> 16) & 0xFF), UInt8(u >> 24)]
            }
            entries.append(
                """
                \(Self.jsonString(name)):{\"dtype\":\"F32\",\"shape\":[\
                \(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(begin),\(data.count)]}
                """
            )
        }
        if !metadata.isEmpty {
            let m = metadata.keys.sorted().map { "\(Self.jsonString($0)):\(Self.jsonString(metadata[$0]!))" }.joined(
                separator: ",")
            entries.insert("\"__metadata__\":{\(m)}", at: 0)
        }
        var header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        let n = UInt64(header.count)
        return (0..<8).map { UInt8((n >> (8 * UInt64($0))) & 0xFF) } + header + data
    }

    /// A JSON string literal.
    static func jsonString(_ s: String) -> String {
        let data = try! JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])
        let array = String(decoding: data, as: UTF8.self)
        return String(array.dropFirst().dropLast())
    }
}
