import Logging
import NIOCore
import Synchronization
import TailorWire

/// Limits a connection enforces, announced to the client in the Hello response.
public struct ConnectionLimits: Sendable, Equatable {
    /// Streams that may be open at once on one connection.
    public var maxStreams: Int = 64
    /// The largest frame body accepted.
    public var maxFrameBytes: Int = FrameCodec.maxFrameBytes

    /// The defaults.
    public init() {}
}

/// One client connection: the protocol's state machine and the supervision of its streams.
///
/// Phases: awaitingHello → open → draining (daemon shutdown: no new streams; closes once the
/// open ones end) → closed. Frames arrive from the channel handler on the event loop; each call
/// runs as a *work* task under a *supervisor* task. A Cancel frame, the deadline or a closed
/// connection cancels only the work task; the supervisor then writes the one closing Status,
/// so a stream always ends with exactly one Status, and a cancelled task never has to write.
final class Connection: Sendable {
    /// Why a stream was stopped from outside its work.
    enum StopReason: Sendable {
        case cancelledByClient, deadline, connectionClosed, shutdown
    }

    private struct Stream {
        var work: Task<Void, any Error>?
        var stopReason: StopReason?
        var uploads: AsyncStream<RPCCall.DataChunk>.Continuation
    }

    private enum Phase { case awaitingHello, open, draining, closed }

    private struct State {
        var phase = Phase.awaitingHello
        var lastStreamID: UInt32 = 0
        var streams: [UInt32: Stream] = [:]   // one per running supervisor; removed when it ends
    }

    /// A number unique within the daemon, for logs.
    let id: UInt64
    /// Who connected.
    let peer: PeerCredentials
    private let channel: any Channel
    private let router: RPCRouter
    private let limits: ConnectionLimits
    private let serverName: String
    private let logger: Logger
    private let state = Mutex(State())
    private let onIdle: @Sendable (Connection) -> Void

    /// A connection from `peer` over `channel`. `onIdle` runs whenever its last stream ends and
    /// once it has closed with no stream left, for the server's bookkeeping.
    init(id: UInt64, peer: PeerCredentials, channel: any Channel, router: RPCRouter, limits: ConnectionLimits,
         serverName: String, logger: Logger, onIdle: @escaping @Sendable (Connection) -> Void) {
        self.id = id
        self.peer = peer
        self.channel = channel
        self.router = router
        self.limits = limits
        self.serverName = serverName
        var logger = logger
        logger[metadataKey: "conn"] = "\(id)"
        logger[metadataKey: "uid"] = "\(peer.uid)"
        self.logger = logger
        self.onIdle = onIdle
    }

    /// Streams open now (their supervisors still running).
    var openStreams: Int { state.withLock { $0.streams.count } }

    /// Whether the connection has closed and every stream has ended.
    var isFinished: Bool { state.withLock { $0.phase == .closed && $0.streams.isEmpty } }

    // MARK: Frames from the client (event loop)

    /// Handles one frame from the client.
    func receive(_ frame: Frame) {
        let phase = state.withLock { $0.phase }
        switch (phase, frame.kind) {
        case (.closed, _):
            return
        case let (.awaitingHello, .request(r)) where frame.streamID == 0 && r.service == "tailor.v1.Session" && r.method == "Hello":
            hello(r)
        case (.awaitingHello, _):
            fatal(Status(code: .failedPrecondition, message: "the first frame must be Session.Hello on stream 0"))
        case let (_, .request(r)):
            open(frame.streamID, r)
        case let (_, .cancel(reason)):
            stop(frame.streamID, reason: .cancelledByClient, note: reason)
        case let (_, .data(chunk, last)):
            let target = state.withLock { $0.streams[frame.streamID]?.uploads }
            target?.yield(RPCCall.DataChunk(bytes: chunk, last: last))
            if last { target?.finish() }
        case (_, .response), (_, .event), (_, .status):
            fatal(Status(code: .invalidArgument, message: "clients may send only request, data and cancel frames"))
        }
    }

    /// The byte stream could not be decoded: answer on stream 0, then close.
    func fail(_ error: WireError) {
        logger.notice("closing connection: \(error)")
        fatal(Status(error))
    }

    /// The channel has closed: every stream is cancelled.
    func closed() {
        let (works, idle): ([Task<Void, any Error>], Bool) = state.withLock { s in
            s.phase = .closed
            var works: [Task<Void, any Error>] = []
            for (id, var st) in s.streams {
                if st.stopReason == nil { st.stopReason = .connectionClosed }
                st.uploads.finish()
                if let w = st.work { works.append(w) }
                s.streams[id] = st
            }
            return (works, s.streams.isEmpty)
        }
        for w in works { w.cancel() }
        if idle { onIdle(self) }
    }

    // MARK: Shutdown

    /// Stops taking new streams; closes the connection once the open ones end (now if none).
    func drain() {
        state.withLock { s in
            if s.phase == .open || s.phase == .awaitingHello { s.phase = .draining }
            // Decided and enqueued under the lock, so a stream's closing Status (enqueued under
            // the same lock in `end`) can never be overtaken by this close.
            if s.streams.isEmpty { enqueueClose() }
        }
    }

    /// Closes the channel, whatever is open (the server's last resort at shutdown).
    func forceClose() { enqueueClose() }

    /// Cancels every open stream (the shutdown grace period is over); they end UNAVAILABLE.
    func cancelAll() {
        let ids = state.withLock { Array($0.streams.keys) }
        for id in ids { stop(id, reason: .shutdown, note: "shutdown") }
    }

    // MARK: Streams

    private func hello(_ r: Request) {
        let req: HelloRequest
        do { req = try HelloRequest(serialized: r.payload) } catch {
            fatal(RPCError(error).status)
            return
        }
        guard let version = req.negotiate() else {
            fatal(Status(code: .failedPrecondition,
                         message: "client speaks protocol versions \(req.minVersion)-\(req.maxVersion); this daemon speaks \(tailorProtocolVersion)"))
            return
        }
        let response = HelloResponse(version: version, server: serverName, maxFrameBytes: UInt32(limits.maxFrameBytes),
                                     maxStreams: UInt32(limits.maxStreams))
        state.withLock { if $0.phase == .awaitingHello { $0.phase = .open } }
        logger.debug("hello", metadata: ["client": "\(req.client)", "version": "\(version)"])
        write(Frame(streamID: 0, kind: .response(payload: (try? response.serialized()) ?? [])))
        write(Frame(streamID: 0, kind: .status(Status(code: .ok))))
    }

    private func open(_ id: UInt32, _ r: Request) {
        enum Decision { case refuse(Status), run(any RPCService, AsyncStream<RPCCall.DataChunk>) }
        let service = router.service(named: r.service)
        let decision: Decision = state.withLock { s in
            if id == 0 { return .refuse(Status(code: .invalidArgument, message: "stream 0 is the session's; Hello was already negotiated")) }
            guard id % 2 == 1, id > s.lastStreamID else {
                return .refuse(Status(code: .invalidArgument, message: "stream id \(id) must be odd and greater than \(s.lastStreamID)"))
            }
            s.lastStreamID = id
            guard s.phase == .open else { return .refuse(Status(code: .unavailable, message: "the daemon is shutting down")) }
            guard s.streams.count < limits.maxStreams else {
                return .refuse(Status(code: .resourceExhausted, message: "\(s.streams.count) streams are open; the limit is \(limits.maxStreams)"))
            }
            guard let service else { return .refuse(Status(code: .unimplemented, message: "unknown service '\(r.service)'")) }
            let (uploads, continuation) = AsyncStream.makeStream(of: RPCCall.DataChunk.self)
            s.streams[id] = Stream(work: nil, stopReason: nil, uploads: continuation)
            return .run(service, uploads)
        }
        switch decision {
        case let .refuse(status):
            write(Frame(streamID: id, kind: .status(status)))
        case let .run(service, uploads):
            var log = logger
            log[metadataKey: "stream"] = "\(id)"
            let call = RPCCall(method: r.method, payload: r.payload, caller: peer, uploads: uploads, logger: log)
            let writer = StreamWriter(connection: self, streamID: id)
            let work = Task { try await service.handle(call, writer) }
            let stoppedEarly = state.withLock { s -> Bool in
                s.streams[id]?.work = work
                return s.streams[id]?.stopReason != nil
            }
            if stoppedEarly { work.cancel() }
            supervise(id, work: work, timeoutMS: r.timeoutMS, label: "\(r.service)/\(r.method)")
        }
    }

    private func supervise(_ id: UInt32, work: Task<Void, any Error>, timeoutMS: UInt32, label: String) {
        Task {
            let deadline: Task<Void, Never>? = timeoutMS == 0 ? nil : Task {
                try? await Task.sleep(for: .milliseconds(Int(timeoutMS)))
                if !Task.isCancelled { self.stop(id, reason: .deadline, note: "deadline") }
            }
            let result = await work.result
            deadline?.cancel()
            self.end(id, result: result, label: label)
        }
    }

    /// Cancels stream `id`'s work for `reason`; ignored for unknown or already stopped streams.
    private func stop(_ id: UInt32, reason: StopReason, note: String) {
        let work: Task<Void, any Error>? = state.withLock { s in
            guard var st = s.streams[id], st.stopReason == nil else { return nil }
            st.stopReason = reason
            s.streams[id] = st
            return st.work
        }
        work?.cancel()
    }

    /// Writes stream `id`'s one Status and forgets the stream.
    private func end(_ id: UInt32, result: Result<Void, any Error>, label: String) {
        let reason = state.withLock { $0.streams[id]?.stopReason }
        let status: Status
        switch (result, reason) {
        case (.success, _): status = Status(code: .ok)
        case (.failure, .cancelledByClient?): status = Status(code: .cancelled, message: "cancelled by the client")
        case (.failure, .deadline?): status = Status(code: .deadlineExceeded, message: "the request's deadline passed")
        case (.failure, .shutdown?): status = Status(code: .unavailable, message: "the daemon is shutting down")
        case let (.failure(e), _): status = RPCError(e).status
        }
        if status.code != .ok && status.code != .cancelled {
            logger.debug("stream ended", metadata: ["stream": "\(id)", "call": "\(label)", "status": "\(status.code)", "message": "\(status.message)"])
        }
        // Forgetting the stream, writing its Status and (when draining) closing happen under
        // one lock, so `drain` cannot slip a close in between.
        let idle = state.withLock { s -> Bool in
            let st = s.streams.removeValue(forKey: id)
            st?.uploads.finish()
            if s.phase != .closed {
                enqueue(Frame(streamID: id, kind: .status(status)))
                if s.phase == .draining && s.streams.isEmpty { enqueueClose() }
            }
            return s.streams.isEmpty
        }
        if idle { onIdle(self) }
    }

    // MARK: Writing

    /// Writes `frame` and flushes it. A frame that cannot be encoded (a reply over the frame
    /// limit) is replaced by an INTERNAL status on its stream, so the client is never left
    /// waiting.
    @discardableResult
    func write(_ frame: Frame) -> EventLoopFuture<Void> {
        let bytes: [UInt8]
        do {
            bytes = try FrameCodec.encode(frame, maxFrameBytes: limits.maxFrameBytes)
        } catch {
            logger.error("cannot encode a reply: \(error)")
            let fallback = Frame(streamID: frame.streamID, kind: .status(Status(code: .internalError, message: "reply could not be encoded: \(error)")))
            bytes = (try? FrameCodec.encode(fallback)) ?? []
        }
        return channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    /// Writes `frame` from the event loop's queue: never synchronously, even when called on
    /// the loop, so that calls made under the state lock cannot re-enter it, and frames and
    /// closes enqueued in lock order reach the socket in that order.
    private func enqueue(_ frame: Frame) {
        channel.eventLoop.execute { self.write(frame) }
    }

    /// Closes the channel from the event loop's queue, after everything enqueued before.
    private func enqueueClose() {
        let channel = self.channel
        channel.eventLoop.execute { channel.close(promise: nil) }
    }

    /// Sends a stream-0 Status and closes: the connection cannot continue.
    private func fatal(_ status: Status) {
        let first = state.withLock { s -> Bool in
            guard s.phase != .closed else { return false }
            s.phase = .closed
            return true
        }
        guard first else { return }
        let channel = self.channel
        write(Frame(streamID: 0, kind: .status(status))).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// Writes one stream's replies through its connection.
struct StreamWriter: RPCWriter {
    let connection: Connection
    let streamID: UInt32

    func send(_ kind: Frame.Kind) async throws {
        try await connection.write(Frame(streamID: streamID, kind: kind)).get()
    }
}
