/// The Data frames a client uploads on one stream, as an async sequence for the service.
///
/// Chunks wait in an unbounded `AsyncStream`, but never many: each chunk taken is reported to
/// `onTaken`, and the connection stops reading the socket while the bytes received and not
/// yet taken exceed its budget (`ConnectionLimits.maxBufferedUploadBytes`). The client's own
/// socket buffer then fills and it waits, which is how a slow import slows its uploader
/// instead of growing the daemon.
public struct RPCUploads: AsyncSequence, Sendable {
    public typealias Element = RPCCall.DataChunk
    public typealias Failure = Never

    private let stream: AsyncStream<RPCCall.DataChunk>
    private let onTaken: @Sendable (Int) -> Void

    /// Uploads read from `stream`, reporting each chunk's size to `onTaken` as it is taken.
    public init(_ stream: AsyncStream<RPCCall.DataChunk>, onTaken: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.stream = stream
        self.onTaken = onTaken
    }

    /// No uploads: for calls that take none, and for tests.
    public static var none: RPCUploads {
        let (stream, continuation) = AsyncStream.makeStream(of: RPCCall.DataChunk.self)
        continuation.finish()
        return RPCUploads(stream)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncStream<RPCCall.DataChunk>.AsyncIterator
        let onTaken: @Sendable (Int) -> Void

        public mutating func next() async -> RPCCall.DataChunk? {
            let chunk = await base.next()
            if let chunk { onTaken(chunk.bytes.count) }
            return chunk
        }

        public mutating func next(isolation actor: isolated (any Actor)?) async -> RPCCall.DataChunk? {
            let chunk = await base.next(isolation: actor)
            if let chunk { onTaken(chunk.bytes.count) }
            return chunk
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: stream.makeAsyncIterator(), onTaken: onTaken)
    }
}
