import CProtobufC

/// The generated functions of one protobuf-c message type, bundled so a Swift value type can
/// declare them once and serialize or parse in one line (`kind.pack { … }`, `kind.read(bytes) { … }`).
///
/// It holds the per-type functions rather than the type's descriptor: taking the address of an
/// imported C global from Swift may yield a temporary copy, and protobuf-c keeps that pointer.
struct CMessageKind<M>: Sendable {
    /// The full proto name, for errors ("tailor.v1.HistoryItem").
    let name: String
    let initialize: @Sendable (UnsafeMutablePointer<M>) -> Void
    let size: @Sendable (UnsafePointer<M>) -> Int
    let packInto: @Sendable (UnsafePointer<M>, UnsafeMutablePointer<UInt8>) -> Int
    let unpack:
        @Sendable (UnsafeMutablePointer<ProtobufCAllocator>, Int, UnsafePointer<UInt8>) -> UnsafeMutablePointer<M>?
    let free: @Sendable (UnsafeMutablePointer<M>, UnsafeMutablePointer<ProtobufCAllocator>) -> Void

    /// A new initialized message in `arena` (freed with it).
    func make(in arena: CMessageArena) -> UnsafeMutablePointer<M> {
        let m = arena.make(M.self)
        initialize(m)
        return m
    }

    /// Serializes the message `fill` builds.
    func pack(_ fill: (UnsafeMutablePointer<M>, CMessageArena) throws -> Void) throws -> [UInt8] {
        let arena = CMessageArena()
        let m = make(in: arena)
        try fill(m, arena)
        return CMessageReader.pack(UnsafePointer(m), size: size, pack: packInto)
    }

    /// Parses `bytes` and hands the message to `body`; the C message is freed afterwards.
    /// - Throws: `WireError.malformedMessage` for bytes that are not such a message, or what
    ///   `body` throws.
    func read<T>(_ bytes: [UInt8], _ body: (M, CMessageReader) throws -> T) throws -> T {
        try bytes.withUnsafeBytes { raw in
            try CMessageReader.read(raw, type: name, unpack: unpack, free: free) { m, r in try body(m.pointee, r) }
        }
    }
}

extension CMessageArena {
    /// A C array of sub-messages, one per element of `values`, each built by `fill`.
    func list<V, M>(
        _ values: [V], _ kind: CMessageKind<M>,
        _ fill: (V, UnsafeMutablePointer<M>) throws -> Void
    ) rethrows -> (Int, UnsafeMutablePointer<UnsafeMutablePointer<M>?>) {
        let list = array(UnsafeMutablePointer<M>?.self, count: values.count)
        for (i, v) in values.enumerated() {
            let m = kind.make(in: self)
            try fill(v, m)
            list[i] = m
        }
        return (values.count, list)
    }
}

extension CMessageReader {
    /// The elements of a repeated sub-message field, each converted by `body`.
    func list<M, T>(
        _ items: UnsafeMutablePointer<UnsafeMutablePointer<M>?>?, count: Int, field: String,
        _ body: (M) throws -> T
    ) throws -> [T] {
        guard count > 0 else { return [] }
        guard let items else { throw WireError.missingField(field: field) }
        return try (0..<count).map { i in
            guard let m = items[i] else { throw WireError.missingField(field: "\(field)[\(i)]") }
            return try body(m.pointee)
        }
    }
}
