/// Why a GGUF file could not be used. Every case names the file and the problem, so a user who
/// pointed Tailor at the wrong or a damaged file learns which file and what is wrong with it.
public enum GGUFError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file could not be opened or mapped (`errno` text in `reason`).
    case cannotOpen(path: String, reason: String)
    /// The file ends before a structure that the header promises.
    case truncated(path: String, what: String, offset: Int)
    /// The first four bytes are not "GGUF". The bytes found are kept for callers, never
    /// printed: a daemon asked to load a file its caller cannot read must not reveal its start.
    case badMagic(path: String, found: [UInt8])
    /// A GGUF version other than 2 or 3.
    case unsupportedVersion(path: String, version: UInt32)
    /// A metadata value has a type number that GGUF does not define.
    case badValueType(path: String, key: String, type: UInt32)
    /// A string or array is longer than the file could possibly hold.
    case absurdLength(path: String, what: String, length: UInt64)
    /// A tensor type number that ggml does not define, or that Tailor cannot compute with.
    case unknownTensorType(path: String, tensor: String, type: UInt32)
    /// A tensor whose dimensions are zero, too many, too large, or not a whole number of blocks.
    case absurdDimension(path: String, tensor: String, dims: [UInt64])
    /// A tensor whose data would lie past the end of the file, or overlap the header.
    case tensorOutOfBounds(path: String, tensor: String, offset: UInt64, bytes: UInt64, fileSize: UInt64)
    /// A tensor offset that is not a multiple of the file's alignment.
    case misalignedTensor(path: String, tensor: String, offset: UInt64, alignment: UInt64)
    /// Two tensors, or two metadata keys, share a name.
    case duplicateName(path: String, name: String)
    /// A metadata key the model needs is missing or has the wrong type.
    case missingMetadata(path: String, key: String)
    /// A tensor the architecture needs is missing or has the wrong shape.
    case missingTensor(path: String, tensor: String)
    /// A tensor exists but its shape does not fit the architecture.
    case tensorShapeMismatch(path: String, tensor: String, expected: [Int], found: [Int])
    /// `general.architecture` names an architecture Tailor does not implement.
    case unsupportedArchitecture(path: String, architecture: String)

    /// A message naming the problem, for logs and CLI output.
    public var description: String {
        switch self {
        case let .cannotOpen(path, reason): return "\(path): cannot open: \(reason)"
        case let .truncated(path, what, offset):
            return "\(path): truncated: file ends while reading \(what) at byte \(offset)"
        case let .badMagic(path, _): return "\(path): not a GGUF file"
        case let .unsupportedVersion(path, v): return "\(path): unsupported GGUF version \(v) (supported: 2, 3)"
        case let .badValueType(path, key, t): return "\(path): metadata key '\(key)' has unknown value type \(t)"
        case let .absurdLength(path, what, n): return "\(path): \(what) claims length \(n), more than the file holds"
        case let .unknownTensorType(path, tensor, t):
            return "\(path): tensor '\(tensor)' has unsupported type \(t) (\(GGMLType(rawValue: t)?.name ?? "unknown"))"
        case let .absurdDimension(path, tensor, dims):
            return "\(path): tensor '\(tensor)' has invalid dimensions \(dims)"
        case let .tensorOutOfBounds(path, tensor, off, bytes, size):
            return "\(path): tensor '\(tensor)' data [\(off), \(off &+ bytes)) lies outside the file (\(size) bytes)"
        case let .misalignedTensor(path, tensor, off, a):
            return "\(path): tensor '\(tensor)' offset \(off) is not a multiple of the alignment \(a)"
        case let .duplicateName(path, name): return "\(path): duplicate name '\(name)'"
        case let .missingMetadata(path, key): return "\(path): missing or mistyped metadata key '\(key)'"
        case let .missingTensor(path, tensor): return "\(path): missing tensor '\(tensor)'"
        case let .tensorShapeMismatch(path, tensor, e, f):
            return "\(path): tensor '\(tensor)' has shape \(f), expected \(e)"
        case let .unsupportedArchitecture(path, a):
            let supported = Architecture.allCases.map(\.rawValue).joined(separator: ", ")
            return "\(path): unsupported architecture '\(a)' (supported: \(supported))"
        }
    }
}
