import CProtobufC
import Foundation

/// Owns the C memory of messages being packed: copies of strings and bytes, and sub-message
/// structs. Everything allocated here is freed together when the arena goes, after the pack.
final class CMessageArena {
    private var blocks: [UnsafeMutableRawPointer] = []  // malloc'd; freed in deinit

    deinit { for b in blocks { free(b) } }

    /// A zeroed C struct of type T, freed with the arena.
    func make<T>(_: T.Type) -> UnsafeMutablePointer<T> {
        let p = calloc(1, MemoryLayout<T>.stride)!
        blocks.append(p)
        return p.assumingMemoryBound(to: T.self)
    }

    /// A zeroed C array of `count` T, freed with the arena.
    func array<T>(_: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let p = calloc(max(count, 1), MemoryLayout<T>.stride)!
        blocks.append(p)
        return p.assumingMemoryBound(to: T.self)
    }

    /// A NUL-terminated copy of `s`. A string holding NUL cannot cross protobuf-c intact, so it
    /// is refused rather than cut short.
    func cString(_ s: String, field: String) throws -> UnsafeMutablePointer<CChar> {
        let utf8 = Array(s.utf8)
        if utf8.contains(0) { throw WireError.embeddedNUL(field: field) }
        let p = malloc(utf8.count + 1)!.assumingMemoryBound(to: CChar.self)
        blocks.append(UnsafeMutableRawPointer(p))
        utf8.withUnsafeBufferPointer { b in
            if let base = b.baseAddress { memcpy(p, base, b.count) }
        }
        p[utf8.count] = 0
        return p
    }

    /// A copy of `bytes` as protobuf-c binary data.
    func binary(_ bytes: [UInt8]) -> ProtobufCBinaryData {
        guard !bytes.isEmpty else { return ProtobufCBinaryData(len: 0, data: nil) }
        let p = malloc(bytes.count)!
        blocks.append(p)
        _ = bytes.withUnsafeBytes { memcpy(p, $0.baseAddress!, bytes.count) }
        return ProtobufCBinaryData(len: bytes.count, data: p.assumingMemoryBound(to: UInt8.self))
    }
}
