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

    /// Opens a stream: takes the next odd id, routes its frames to `continuation`, and runs
    /// `send` (which must only enqueue the Request) under the table's lock, so Requests leave
    /// in id order even when many tasks open streams at once, as the protocol requires.
    /// Fails the continuation at once if the connection is gone.
    /// `send` returns the error that kept it from enqueuing (a request the protocol cannot
    /// carry), which then fails the continuation.
    @discardableResult
    func open(
        _ continuation: AsyncThrowingStream<Frame.Kind, any Error>.Continuation, fixedID: UInt32? = nil,
        send: (UInt32) -> (any Error)?
    ) -> UInt32 {
        let (id, failure): (UInt32, (any Error)?) = state.withLock { s in
            let id: UInt32
            if let fixedID { id = fixedID } else { id = s.next; s.next += 2 }
            if let closed = s.closed { return (id, closed) }
            if let e = send(id) { return (id, e) }
            s.open[id] = continuation
            return (id, nil)
        }
        if let failure { continuation.finish(throwing: failure) }
        return id
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
