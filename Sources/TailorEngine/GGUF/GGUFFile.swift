import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A GGUF file (v2 or v3) mapped read-only into memory.
///
/// Weights are used in place, straight from the mapping, so loading a model costs almost no
/// memory beyond the pages the forward pass touches. Every length, count, type and offset in
/// the header is checked against the file before use: a damaged or hostile file gets a
/// `GGUFError` naming it, never a crash or an out-of-bounds read.
public final class GGUFFile: @unchecked Sendable {
    /// Path the file was opened from, used in every error.
    public let path: String
    /// GGUF version (2 or 3).
    public let version: UInt32
    /// Metadata key/value pairs.
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order (for `tailor` inspection and export round trips).
    public let metadataKeys: [String]
    /// Tensor descriptions in file order.
    public let tensors: [GGUFTensorInfo]
    /// Alignment of the tensor data section (`general.alignment`, default 32).
    public let alignment: Int
    /// Byte size of the file.
    public let fileSize: Int

    private let base: UnsafeMutableRawPointer?  // mmap of fileSize bytes; unmapped in deinit
    private let tensorIndex: [String: Int]

    /// Maps and parses the file at `path`.
    /// - Throws: `GGUFError` describing the first problem found.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw GGUFError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw GGUFError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw GGUFError.cannotOpen(path: path, reason: "not a regular file")
        }
        let size = Int(st.st_size)
        fileSize = size
        if size == 0 {
            throw GGUFError.truncated(path: path, what: "magic", offset: 0)
        }
        guard let map = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else {
            throw GGUFError.cannotOpen(path: path, reason: "mmap: " + String(cString: strerror(errno)))
        }
        base = map
        do {
            var r = GGUFReader(base: UnsafeRawPointer(map), size: size, path: path)
            let header = try r.parseHeader()
            version = header.version
            metadata = header.metadata
            metadataKeys = header.keys
            alignment = header.alignment
            tensors = header.tensors
            var index: [String: Int] = [:]
            for (i, t) in tensors.enumerated() { index[t.name] = i }
            tensorIndex = index
        } catch {
            munmap(map, size)
            throw error
        }
    }

    deinit {
        if let base { munmap(base, fileSize) }
    }

    /// The tensor named `name`, if present.
    public func tensor(_ name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// Pointer to a tensor's data inside the mapping. Valid while this object lives.
    public func data(of tensor: GGUFTensorInfo) -> UnsafeRawPointer {
        UnsafeRawPointer(base!).advanced(by: tensor.fileOffset)
    }

    /// Raw bytes of the whole file (e.g. for hashing). Valid while this object lives.
    public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base, count: fileSize)
    }

    // Typed metadata accessors that throw `missingMetadata` naming the key.

    /// An integer metadata value; throws `missingMetadata` naming `key`.
    public func int(_ key: String) throws -> Int {
        guard let v = metadata[key]?.intValue else { throw GGUFError.missingMetadata(path: path, key: key) }
        return v
    }
    /// A numeric metadata value; throws `missingMetadata` naming `key`.
    public func double(_ key: String) throws -> Double {
        guard let v = metadata[key]?.doubleValue else { throw GGUFError.missingMetadata(path: path, key: key) }
        return v
    }
    /// A string metadata value; throws `missingMetadata` naming `key`.
    public func string(_ key: String) throws -> String {
        guard let v = metadata[key]?.stringValue else { throw GGUFError.missingMetadata(path: path, key: key) }
        return v
    }
}
