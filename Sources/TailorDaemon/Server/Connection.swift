import Logging
import NIOCore
import Synchronization
import TailorWire

/// Limits the server enforces on its clients. `maxStreams` and `maxFrameBytes` are announced
/// in the Hello response; the others bound what one client can hold of the daemon's memory,
/// descriptors and time, so that in system mode no uid can starve another.
public struct ConnectionLimits: Sendable, Equatable {
    /// Streams that may be open at once on one connection.
    public var maxStreams: Int = 64
    /// The largest frame body accepted.
    public var maxFrameBytes: Int = FrameCodec.maxFrameBytes
    /// The largest frame accepted before Hello: a Hello is a few dozen bytes, so a peer that
    /// has not said who it is cannot make the daemon buffer megabytes.
    public var maxHelloFrameBytes: Int = 64 << 10
    /// Connections open at once, over all clients (`max_connections`).
    public var maxConnections: Int = 512
    /// Connections one uid may hold at once (`max_connections_per_uid`); the daemon's own uid
    /// and root count like any other. nil: no share below `maxConnections` (a user daemon
    /// serves one person); a system daemon sets 64 unless configured.
    public var maxConnectionsPerUID: Int?
    /// How long a new connection may take to send Hello (`hello_timeout_seconds`).
    public var helloTimeout: Duration = .seconds(5)
    /// How long a connection may stay open with no stream (`idle_timeout_seconds`); nil keeps
    /// idle connections open (editors hold one all day).
    public var idleTimeout: Duration?
    /// Upload bytes received on one connection and not yet taken by their service: past it the
    /// daemon stops reading the socket until the service catches up.
    public var maxBufferedUploadBytes: Int = 8 << 20
    /// Reply bytes queued for a client that is not reading (NIO's write-buffer high-water
    /// mark): past it the daemon stops reading that client's requests.
    public var maxPendingWriteBytes: Int = 1 << 20

    /// The defaults.
    public init() {}
}

/// The longest piece of client input a refusal message repeats.
let maxEchoedInputBytes = 128
/// The longest Status message a stream ends with.
let maxStatusMessageBytes = 1024

extension String {
    /// At most `maxEchoedInputBytes` of this client-supplied string, for an error message:
    /// a refusal must never cost the daemon more than the request that caused it.
    var echoed: String { truncated(toUTF8: maxEchoedInputBytes) }

    /// At most `n` bytes of this string's UTF-8, cut at a character boundary, with "…" when cut.
    func truncated(toUTF8 n: Int) -> String {
        guard utf8.count > n else { return self }
        var cut = utf8.prefix(n)
        while !cut.isEmpty && String(cut) == nil { cut = cut.dropLast() }
        return (String(cut) ?? "") + "…"
    }
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
        /// The client broke the protocol on this stream (Data frames for a method without
        /// uploads): the stream ends with this status.
        case rejected(Status)
    }

    private struct Stream {
        var work: Task<Void, any Error>?
        var stopReason: StopReason?
        var uploads: AsyncStream<RPCCall.DataChunk>.Continuation
        /// Whether the stream's method reads Data frames.
        var takesUploads: Bool
        /// Upload bytes yielded to the service and not yet taken.
        var bufferedBytes = 0
    }

    private enum Phase { case awaitingHello, open, draining, closed }

    private struct State {
        var phase = Phase.awaitingHello
        var lastStreamID: UInt32 = 0
        var streams: [UInt32: Stream] = [:]  // one per running supervisor; removed when it ends
        /// Upload bytes received over all streams and not yet taken by their services.
        var bufferedUploadBytes = 0
        /// Whether the socket's replies drain (NIO's writability, under the high-water mark).
        var writable = true
        /// Whether the socket is being read (autoRead), as last set.
        var reading = true
        /// When the connection last became idle (no stream), for the idle timeout.
        var idleSince: ContinuousClock.Instant? = .now
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
    init(
        id: UInt64, peer: PeerCredentials, channel: any Channel, router: RPCRouter, limits: ConnectionLimits,
        serverName: String, logger: Logger, onIdle: @escaping @Sendable (Connection) -> Void
    ) {
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
        channel.eventLoop.scheduleTask(in: Self.timeAmount(limits.helloTimeout)) { [self] in
            guard state.withLock({ $0.phase == .awaitingHello }) else { return }
            fatal(Status(code: .deadlineExceeded, message: "no Session.Hello within \(limits.helloTimeout)"))
        }
    }

    /// A Duration as NIO's TimeAmount (nanoseconds, saturating).
    static func timeAmount(_ d: Duration) -> TimeAmount {
        let (s, atto) = d.components
        let (ns, overflow) = s.multipliedReportingOverflow(by: 1_000_000_000)
        return .nanoseconds(overflow ? .max : ns &+ atto / 1_000_000_000)
    }

    /// Whether Hello has been negotiated (frames past the Hello size limit are allowed).
    var isPastHello: Bool { state.withLock { $0.phase != .awaitingHello } }

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
        case let (.awaitingHello, .request(r))
        where frame.streamID == 0 && r.service == "tailor.v1.Session" && r.method == "Hello":
            hello(r)
        case (.awaitingHello, _):
            fatal(Status(code: .failedPrecondition, message: "the first frame must be Session.Hello on stream 0"))
        case let (_, .request(r)):
            open(frame.streamID, r)
        case let (_, .cancel(reason)):
            stop(frame.streamID, reason: .cancelledByClient, note: reason)
        case let (_, .data(chunk, last)):
            upload(frame.streamID, chunk: chunk, last: last)
        case (_, .response), (_, .event), (_, .status):
            fatal(Status(code: .invalidArgument, message: "clients may send only request, data and cancel frames"))
        }
    }

    /// Hands an upload chunk to its stream's service, counting it against the connection's
    /// buffered-upload budget; a stream whose method takes no upload is ended instead, and
    /// chunks for streams that have ended are dropped.
    private func upload(_ id: UInt32, chunk: [UInt8], last: Bool) {
        enum Route { case deliver(AsyncStream<RPCCall.DataChunk>.Continuation), reject, drop }
        let route: Route = state.withLock { s in
            guard var st = s.streams[id], st.stopReason == nil else { return .drop }
            guard st.takesUploads else { return .reject }
            st.bufferedBytes += chunk.count
            s.streams[id] = st
            s.bufferedUploadBytes += chunk.count
            return .deliver(st.uploads)
        }
        switch route {
        case let .deliver(uploads):
            if case .terminated = uploads.yield(RPCCall.DataChunk(bytes: chunk, last: last)) {
                taken(id, bytes: chunk.count)
            }
            if last { uploads.finish() }
            updateReading()
        case .reject:
            stop(
                id,
                reason: .rejected(
                    Status(code: .invalidArgument, message: "stream \(id)'s method takes no Data frames")),
                note: "unexpected data")
        case .drop:
            break
        }
    }

    /// A service took `bytes` of stream `id`'s upload (or they were dropped).
    private func taken(_ id: UInt32, bytes: Int) {
        state.withLock { s in
            guard var st = s.streams[id] else { return }
            let n = min(bytes, st.bufferedBytes)
            st.bufferedBytes -= n
            s.streams[id] = st
            s.bufferedUploadBytes -= n
        }
        updateReading()
    }

    /// The socket's writability changed (replies queue past the high-water mark, or drained).
    func writabilityChanged(_ writable: Bool) {
        state.withLock { $0.writable = writable }
        updateReading()
    }

    /// Reads the socket only while uploads are within budget and replies drain: a client that
    /// floods requests without reading the refusals, or uploads faster than the service takes
    /// them, is held by its own socket buffer instead of the daemon's memory. Decided on the
    /// event loop from the latest state, so concurrent calls settle on the right setting.
    private func updateReading() {
        let channel = self.channel
        channel.eventLoop.execute { [self] in
            let want: Bool? = state.withLock { s in
                let read = s.writable && s.bufferedUploadBytes <= limits.maxBufferedUploadBytes
                guard read != s.reading, s.phase != .closed else { return nil }
                s.reading = read
                return read
            }
            if let want { channel.setOption(ChannelOptions.autoRead, value: want).whenFailure { _ in } }
        }
    }

    /// Arms the idle timeout: when the connection is still idle, and has been for the whole
    /// timeout, it closes.
    private func armIdleTimeout() {
        guard let timeout = limits.idleTimeout else { return }
        channel.eventLoop.scheduleTask(in: Self.timeAmount(timeout)) { [self] in
            let expired = state.withLock { s -> Bool in
                guard s.phase == .open, s.streams.isEmpty, let since = s.idleSince else { return false }
                return ContinuousClock.now - since >= timeout
            }
            guard expired else { return }
            logger.debug("closing an idle connection")
            fatal(
                Status(
                    code: .unavailable, message: "closed after \(timeout) with no open stream; reconnect to continue"))
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
            fatal(
                Status(
                    code: .failedPrecondition,
                    message:
                        """
                        client speaks protocol versions \(req.minVersion)-\(req.maxVersion); this daemon speaks \
                        \(tailorProtocolVersion)
                        """
                ))
            return
        }
        let response = HelloResponse(
            version: version, server: serverName, maxFrameBytes: UInt32(limits.maxFrameBytes),
            maxStreams: UInt32(limits.maxStreams))
        state.withLock { if $0.phase == .awaitingHello { $0.phase = .open; $0.idleSince = .now } }
        armIdleTimeout()
        logger.debug("hello", metadata: ["client": "\(req.client)", "version": "\(version)"])
        write(Frame(streamID: 0, kind: .response(payload: (try? response.serialized()) ?? [])))
        write(Frame(streamID: 0, kind: .status(Status(code: .ok))))
    }

    private func open(_ id: UInt32, _ r: Request) {
        enum Decision { case refuse(Status), run(any RPCService, AsyncStream<RPCCall.DataChunk>) }
        let service = router.service(named: r.service)
        let decision: Decision = state.withLock { s in
            if id == 0 {
                return .refuse(
                    Status(code: .invalidArgument, message: "stream 0 is the session's; Hello was already negotiated"))
            }
            guard id % 2 == 1, id > s.lastStreamID else {
                return .refuse(
                    Status(
                        code: .invalidArgument,
                        message: "stream id \(id) must be odd and greater than \(s.lastStreamID)"))
            }
            s.lastStreamID = id
            guard s.phase == .open else {
                return .refuse(Status(code: .unavailable, message: "the daemon is shutting down"))
            }
            guard s.streams.count < limits.maxStreams else {
                return .refuse(
                    Status(
                        code: .resourceExhausted,
                        message: "\(s.streams.count) streams are open; the limit is \(limits.maxStreams)"))
            }
            guard let service else {
                return .refuse(Status(code: .unimplemented, message: "unknown service '\(r.service.echoed)'"))
            }
            let (uploads, continuation) = AsyncStream.makeStream(of: RPCCall.DataChunk.self)
            s.streams[id] = Stream(
                work: nil, stopReason: nil, uploads: continuation, takesUploads: service.takesUploads(r.method))
            s.idleSince = nil
            return .run(service, uploads)
        }
        switch decision {
        case let .refuse(status):
            write(Frame(streamID: id, kind: .status(status)))
        case let .run(service, uploads):
            var log = logger
            log[metadataKey: "stream"] = "\(id)"
            let call = RPCCall(
                method: r.method, payload: r.payload, caller: peer,
                uploads: RPCUploads(uploads) { [self] n in taken(id, bytes: n) }, logger: log)
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
            let deadline: Task<Void, Never>? =
                timeoutMS == 0
                ? nil
                : Task {
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
        var status: Status
        switch (result, reason) {
        case (.success, _): status = Status(code: .ok)
        case (.failure, .cancelledByClient?): status = Status(code: .cancelled, message: "cancelled by the client")
        case (.failure, .deadline?): status = Status(code: .deadlineExceeded, message: "the request's deadline passed")
        case (.failure, .shutdown?): status = Status(code: .unavailable, message: "the daemon is shutting down")
        case let (.failure, .rejected(s)?): status = s
        case let (.failure(e), _): status = RPCError(e).status
        }
        // No message the daemon writes is long; one that is has quoted a client at length.
        status.message = status.message.truncated(toUTF8: maxStatusMessageBytes)
        if status.code != .ok && status.code != .cancelled {
            logger.debug(
                "stream ended",
                metadata: [
                    "stream": "\(id)", "call": "\(label)", "status": "\(status.code)", "message": "\(status.message)",
                ])
        }
        // Forgetting the stream, writing its Status and (when draining) closing happen under
        // one lock, so `drain` cannot slip a close in between.
        let idle = state.withLock { s -> Bool in
            let st = s.streams.removeValue(forKey: id)
            st?.uploads.finish()
            s.bufferedUploadBytes -= st?.bufferedBytes ?? 0
            if s.streams.isEmpty { s.idleSince = .now }
            if s.phase != .closed {
                enqueue(Frame(streamID: id, kind: .status(status)))
                if s.phase == .draining && s.streams.isEmpty { enqueueClose() }
            }
            return s.streams.isEmpty
        }
        if idle {
            armIdleTimeout()
            onIdle(self)
        }
        updateReading()
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
            let fallback = Frame(
                streamID: frame.streamID,
                kind: .status(Status(code: .internalError, message: "reply could not be encoded: \(error)")))
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
