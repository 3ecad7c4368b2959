import NIOCore
import Synchronization
import TailorWire

/// The client's open streams: who is waiting for the frames of which stream id.
final class StreamTable: Sendable {
    private struct State {
        var next: UInt32 = 1
        var open: [UInt32: AsyncThrowingStream<Frame.Kind, any Error>.Continuation] = [:]
        var closed: TailorClientError?
    }
    private let state = Mutex(State())

    /// A new odd stream id, greater than every one used before.
    func nextID() -> UInt32 {
        state.withLock { s in
            defer { s.next += 2 }
            return s.next
        }
    }

    /// Routes frames of `id` to `continuation` (failing it at once if the connection is gone).
    func register(_ id: UInt32, _ continuation: AsyncThrowingStream<Frame.Kind, any Error>.Continuation) {
        let closed: TailorClientError? = state.withLock { s in
            if s.closed == nil { s.open[id] = continuation }
            return s.closed
        }
        if let closed { continuation.finish(throwing: closed) }
    }

    /// Forgets `id`; true if it was open.
    func remove(_ id: UInt32) -> Bool {
        state.withLock { $0.open.removeValue(forKey: id) != nil }
    }

    /// Delivers a frame from the daemon. A Status ends its stream; a Status on stream 0 after
    /// Hello is the daemon closing the connection, and fails every stream with it.
    func dispatch(_ frame: Frame) {
        if frame.streamID == 0, case let .status(s) = frame.kind, s.code != .ok, !isOpen(0) {
            fail(.status(s))
            return
        }
        let target = state.withLock { s -> AsyncThrowingStream<Frame.Kind, any Error>.Continuation? in
            if case .status = frame.kind { return s.open.removeValue(forKey: frame.streamID) }
            return s.open[frame.streamID]
        }
        guard let target else { return }
        target.yield(frame.kind)
        if case .status = frame.kind { target.finish() }
    }

    /// Fails every open stream, and every later one, with `error`.
    func fail(_ error: TailorClientError) {
        let all = state.withLock { s -> [AsyncThrowingStream<Frame.Kind, any Error>.Continuation] in
            if s.closed == nil { s.closed = error }
            defer { s.open = [:] }
            return Array(s.open.values)
        }
        for c in all { c.finish(throwing: error) }
    }

    private func isOpen(_ id: UInt32) -> Bool { state.withLock { $0.open[id] != nil } }
}

/// Decodes the daemon's bytes into frames for the stream table.
final class ClientChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let streams: StreamTable
    private var decoder = FrameDecoder()

    init(streams: StreamTable) { self.streams = streams }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        decoder.append(unwrapInboundIn(data).readableBytesView)
        do {
            while let frame = try decoder.next() { streams.dispatch(frame) }
        } catch {
            streams.fail(.protocolViolation("undecodable bytes from the daemon: \(error)"))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        streams.fail(.connectionClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
