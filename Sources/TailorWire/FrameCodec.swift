/// The framing of the socket: a 4-byte big-endian length, then one serialized Frame.
public enum FrameCodec {
    /// The largest frame body the protocol allows: 4 MiB.
    public static let maxFrameBytes = 4 << 20

    /// `frame` with its length prefix, ready to write.
    /// - Throws: `WireError.frameTooLarge` when the body would exceed `maxFrameBytes`, or the
    ///   errors of `Frame.serialized()`.
    public static func encode(_ frame: Frame, maxFrameBytes: Int = maxFrameBytes) throws -> [UInt8] {
        let body = try frame.serialized()
        guard body.count <= maxFrameBytes else {
            throw WireError.frameTooLarge(length: UInt32(clamping: body.count), limit: maxFrameBytes)
        }
        let n = UInt32(body.count)
        return [UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)] + body
    }
}

/// Reassembles frames from a byte stream that arrives in arbitrary pieces.
///
/// The length prefix is checked as soon as its 4 bytes arrive, so an oversize frame is refused
/// before any of its body is buffered: a peer cannot make the daemon hold 4 GiB by announcing it.
/// After an error the decoder is poisoned: the connection's remaining bytes cannot be trusted.
public struct FrameDecoder: Sendable {
    /// The largest body accepted; a server may raise it once the peer has introduced itself.
    public var maxFrameBytes: Int
    private var buffer: [UInt8] = []
    private var start = 0
    private var failed: WireError?

    /// A decoder refusing bodies over `maxFrameBytes`.
    public init(maxFrameBytes: Int = FrameCodec.maxFrameBytes) {
        self.maxFrameBytes = maxFrameBytes
    }

    /// Bytes received and not yet consumed by a frame.
    public var bufferedBytes: Int { buffer.count - start }

    /// Adds bytes read from the socket.
    public mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        buffer.append(contentsOf: bytes)
    }

    /// The next complete frame, or nil when more bytes are needed.
    /// - Throws: `WireError` for an oversize length or a body that is not a valid Frame, and
    ///   the same error on every later call.
    public mutating func next() throws -> Frame? {
        if let failed { throw failed }
        guard bufferedBytes >= 4 else { return nil }
        let n =
            Int(buffer[start]) << 24 | Int(buffer[start + 1]) << 16 | Int(buffer[start + 2]) << 8
            | Int(buffer[start + 3])
        guard n <= maxFrameBytes else {
            let e = WireError.frameTooLarge(length: UInt32(n), limit: maxFrameBytes)
            failed = e
            buffer = []
            start = 0
            throw e
        }
        guard bufferedBytes >= 4 + n else { return nil }
        let bodyStart = start + 4
        start = bodyStart + n
        defer { compact() }
        do {
            return try buffer.withUnsafeBytes {
                try Frame(serialized: UnsafeRawBufferPointer(rebasing: $0[bodyStart..<(bodyStart + n)]))
            }
        } catch let e as WireError {
            failed = e
            throw e
        }
    }

    /// Drops consumed bytes once they dominate the buffer, keeping appends amortized O(1).
    private mutating func compact() {
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
    }
}
