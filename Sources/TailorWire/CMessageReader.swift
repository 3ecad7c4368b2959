import CProtobufC
import Foundation

/// Unpacks protobuf-c messages with an allocator that records the size of every allocation.
///
/// protobuf-c stores a string of n bytes in an allocation of n + 1 and NUL-terminates it, but
/// never tells the caller n; a string holding a NUL would silently read as cut short, and it
/// never checks UTF-8. Knowing each allocation's size, `string(_:field:)` recovers the true
/// length, refuses embedded NULs and validates UTF-8. Every unpacked message is freed with
/// free_unpacked before `read` returns, on success and on every error path.
///
/// The allocator also enforces a budget: a message may not unpack into more than
/// `budget(forInput:)` bytes. protobuf-c allocates a whole C struct for every sub-message, so
/// a payload of empty repeated entries (two bytes each) would otherwise unpack into some forty
/// times its size; a real message, whose entries carry text, stays under a tenth of that.
final class CMessageReader {
    private var sizes: [UnsafeMutableRawPointer: Int] = [:]
    private let allocator: UnsafeMutablePointer<ProtobufCAllocator>  // allocated in init, freed in deinit
    private var allocated = 0
    private var budget = Int.max
    private var overBudget = false

    /// The most bytes a message of `n` serialized bytes may unpack into.
    static func budget(forInput n: Int) -> Int { 16 * n + (1 << 20) }

    init() {
        allocator = .allocate(capacity: 1)
        allocator.initialize(
            to: ProtobufCAllocator(
                alloc: { data, size in
                    let me = Unmanaged<CMessageReader>.fromOpaque(data!).takeUnretainedValue()
                    guard me.allocated + size <= me.budget else {
                        me.overBudget = true
                        return nil
                    }
                    guard let p = malloc(max(size, 1)) else { return nil }
                    me.sizes[p] = size
                    me.allocated += size
                    return p
                },
                free: { data, p in
                    guard let p else { return }
                    let me = Unmanaged<CMessageReader>.fromOpaque(data!).takeUnretainedValue()
                    me.allocated -= me.sizes.removeValue(forKey: p) ?? 0
                    Foundation.free(p)
                },
                allocator_data: nil))
        allocator.pointee.allocator_data = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        allocator.deinitialize(count: 1)
        allocator.deallocate()
    }

    /// Unpacks `bytes` with a generated `..._unpack` function, hands the message to `body`,
    /// then frees it with the matching `..._free_unpacked`, whatever `body` does.
    /// - Throws: `WireError.malformedMessage(type:)` when the bytes are not such a message, or
    ///   whatever `body` throws.
    static func read<M, T>(
        _ bytes: UnsafeRawBufferPointer, type: String,
        unpack: (UnsafeMutablePointer<ProtobufCAllocator>, Int, UnsafePointer<UInt8>) -> UnsafeMutablePointer<M>?,
        free freeMessage: (UnsafeMutablePointer<M>, UnsafeMutablePointer<ProtobufCAllocator>) -> Void,
        _ body: (UnsafeMutablePointer<M>, CMessageReader) throws -> T
    ) throws -> T {
        let reader = CMessageReader()
        reader.budget = budget(forInput: bytes.count)
        var empty: UInt8 = 0
        let unpacked: UnsafeMutablePointer<M>? = withUnsafePointer(to: &empty) { e in
            unpack(reader.allocator, bytes.count, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? e)
        }
        guard let msg = unpacked else {
            if reader.overBudget { throw WireError.tooManyElements(type: type, bytes: bytes.count) }
            throw WireError.malformedMessage(type: type)
        }
        defer { freeMessage(msg, reader.allocator) }
        return try body(msg, reader)
    }

    /// Serializes a message with its generated `..._get_packed_size` and `..._pack`.
    static func pack<M>(
        _ msg: UnsafePointer<M>, size: (UnsafePointer<M>) -> Int,
        pack: (UnsafePointer<M>, UnsafeMutablePointer<UInt8>) -> Int
    ) -> [UInt8] {
        let n = size(msg)
        var out = [UInt8](repeating: 0, count: max(n, 1))
        let written = out.withUnsafeMutableBufferPointer { pack(msg, $0.baseAddress!) }
        precondition(written == n, "protobuf-c packed \(written) of \(n) bytes")
        return Array(out.prefix(n))
    }

    /// A string field of the message being read, checked for NUL bytes and UTF-8.
    func string(_ p: UnsafePointer<CChar>?, field: String) throws -> String {
        guard let p else { return "" }
        let visible = strlen(p)
        var length = visible
        if let size = sizes[UnsafeMutableRawPointer(mutating: p)] {
            length = size - 1
            if visible != length { throw WireError.embeddedNUL(field: field) }
        }
        let buffer = UnsafeRawBufferPointer(start: p, count: length).bindMemory(to: UInt8.self)
        guard let s = String(validating: buffer, as: UTF8.self) else { throw WireError.invalidUTF8(field: field) }
        return s
    }

    /// A bytes field as a Swift array.
    func bytes(_ b: ProtobufCBinaryData) -> [UInt8] {
        guard b.len > 0, let d = b.data else { return [] }
        return Array(UnsafeBufferPointer(start: d, count: b.len))
    }
}
