import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import TailorWire

#if canImport(Glibc)
import Glibc
#endif

/// Where the server listens.
public enum ListenTarget: Sendable, Equatable {
    /// Bind a new socket at this path (created 0600 in user mode, 0660 group `tailor` in
    /// system mode) and remove it on exit.
    case path(String)
    /// A listening socket systemd passed (socket activation); never unlinked by us.
    case activated(Int32)
}

/// The Unix-socket server: accepts connections, checks who connects, and runs each connection's
/// protocol. As a swift-service-lifecycle `Service` it shuts down gracefully: stop accepting,
/// let open streams finish within `shutdownGrace`, then cancel what remains.
public final class TailorServer: Service, Sendable {
    /// How the server runs.
    public struct Configuration: Sendable {
        /// Where to listen.
        public var listen: ListenTarget
        /// Who may connect.
        public var policy: AccessPolicy
        /// Per-connection limits.
        public var limits = ConnectionLimits()
        /// How long open streams may run on after shutdown begins.
        public var shutdownGrace: Duration = .seconds(10)
        /// Name and version sent in Hello.
        public var serverName = "tailord/\(tailorVersion)"

        /// A configuration listening on `listen` under `policy`.
        public init(listen: ListenTarget, policy: AccessPolicy) {
            self.listen = listen
            self.policy = policy
        }
    }

    private struct State {
        var connections: [UInt64: Connection] = [:]
        var nextID: UInt64 = 1
        var listener: (any Channel)?
        var shuttingDown = false
    }

    private let configuration: Configuration
    private let router: RPCRouter
    private let logger: Logger
    private let onReady: @Sendable () -> Void
    private let onStopping: @Sendable () -> Void
    private let state = Mutex(State())
    private let group: MultiThreadedEventLoopGroup

    /// A server routing calls with `router`. `onReady` runs once the socket listens (the daemon
    /// sends READY=1 there); `onStopping` once shutdown begins (STOPPING=1).
    public init(
        configuration: Configuration, router: RPCRouter, logger: Logger,
        onReady: @escaping @Sendable () -> Void = {}, onStopping: @escaping @Sendable () -> Void = {}
    ) {
        self.configuration = configuration
        self.router = router
        self.logger = logger
        self.onReady = onReady
        self.onStopping = onStopping
        // One event loop is plenty: the loop only moves frames; generation has its own threads.
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    /// Connections open now.
    public var connectionCount: Int { state.withLock { $0.connections.count } }
    /// Streams open now, over all connections.
    public var streamCount: Int { state.withLock { $0.connections.values.reduce(0) { $0 + $1.openStreams } } }

    /// Listens and serves until graceful shutdown or cancellation.
    public func run() async throws {
        let listener = try await bind()
        state.withLock { $0.listener = listener }
        logger.info(
            "listening",
            metadata: ["socket": "\(describe(configuration.listen))", "mode": "\(configuration.policy.mode.rawValue)"])
        onReady()
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                try? await listener.closeFuture.get()
            } onCancel: {
                self.beginShutdown()
            }
        } onGracefulShutdown: {
            self.beginShutdown()
        }
        // Drained in a task of its own: when shutdown came as cancellation, this task's sleeps
        // would return at once and the grace period would become a busy loop.
        await Task { await self.drain() }.value
        if case let .path(p) = configuration.listen { unlink(p) }
        try? await group.shutdownGracefully()
        logger.info("stopped")
    }

    /// Stops accepting and asks every connection to drain.
    private func beginShutdown() {
        let (listener, conns, first): ((any Channel)?, [Connection], Bool) = state.withLock { s in
            defer { s.shuttingDown = true }
            return (s.listener, Array(s.connections.values), !s.shuttingDown)
        }
        if first {
            logger.info("shutting down: no new connections; open streams may finish")
            onStopping()
        }
        listener?.close(promise: nil)
        for c in conns { c.drain() }
    }

    /// Waits for open streams to end, up to the grace period; then cancels them and waits for
    /// the connections to close.
    private func drain() async {
        beginShutdown()
        let clock = ContinuousClock()
        let graceEnd = clock.now + configuration.shutdownGrace
        logger.debug("draining", metadata: ["streams": "\(streamCount)", "connections": "\(connectionCount)"])
        while streamCount > 0 && clock.now < graceEnd { try? await Task.sleep(for: .milliseconds(20)) }
        let conns = state.withLock { Array($0.connections.values) }
        if streamCount > 0 {
            logger.notice("cancelling \(streamCount) streams still open after the shutdown grace period")
            for c in conns { c.cancelAll() }
        }
        let hardEnd = clock.now + .seconds(5)
        while connectionCount > 0 && clock.now < hardEnd {
            for c in state.withLock({ Array($0.connections.values) }) { c.drain() }
            try? await Task.sleep(for: .milliseconds(20))
        }
        // Whatever still holds on (a stream ignoring cancellation) is closed outright, so the
        // event loop can stop with nothing pending on it.
        for c in state.withLock({ Array($0.connections.values) }) { c.forceClose() }
        try? await Task.sleep(for: .milliseconds(50))
    }

    private func bind() async throws -> any Channel {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(
                .writeBufferWaterMark,
                value: .init(
                    low: configuration.limits.maxPendingWriteBytes / 2,
                    high: configuration.limits.maxPendingWriteBytes)
            )
            .childChannelInitializer { [self] channel in self.accept(channel) }
        switch configuration.listen {
        case let .activated(fd):
            return try await bootstrap.withBoundSocket(fd).get()
        case let .path(path):
            try UnixSocket.prepareListeningPath(path, mode: configuration.policy.mode)
            let channel = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: false).get()
            try UnixSocket.restrictListeningPath(path, mode: configuration.policy.mode, logger: logger)
            return channel
        }
    }

    /// Reads the peer's credentials, refuses a peer the policy does not admit, and installs
    /// the connection's handler.
    private func accept(_ channel: any Channel) -> EventLoopFuture<Void> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(ServerError.noPeerCredentials)
        }
        let future: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET),
            name: SocketOptionName(PeerCredentials.socketOption))
        return future.flatMap { [self] peer in
            guard configuration.policy.admits(peer) else {
                logger.warning("refused a connection", metadata: ["uid": "\(peer.uid)", "pid": "\(peer.pid)"])
                let refusal = Status(code: .permissionDenied, message: "uid \(peer.uid) may not use this user's daemon")
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RefusalHandler(status: refusal))
                }
            }
            let limits = configuration.limits
            enum Admission { case admitted(Connection), refused(String), shuttingDown }
            let admission: Admission = state.withLock { s in
                guard !s.shuttingDown else { return .shuttingDown }
                guard s.connections.count < limits.maxConnections else {
                    return .refused(
                        "the daemon holds \(s.connections.count) connections; the limit is \(limits.maxConnections)")
                }
                let mine = s.connections.values.reduce(0) { $0 + ($1.peer.uid == peer.uid ? 1 : 0) }
                if let share = limits.maxConnectionsPerUID, mine >= share {
                    return .refused("uid \(peer.uid) holds \(mine) connections; the limit per uid is \(share)")
                }
                let id = s.nextID
                s.nextID += 1
                let c = Connection(
                    id: id, peer: peer, channel: channel, router: router, limits: configuration.limits,
                    serverName: configuration.serverName, logger: logger
                ) { [weak self] c in
                    guard c.isFinished else { return }
                    _ = self?.state.withLock { $0.connections.removeValue(forKey: c.id) }
                }
                s.connections[id] = c
                return .admitted(c)
            }
            let connection: Connection
            switch admission {
            case .shuttingDown:
                return channel.close()
            case let .refused(reason):
                logger.warning(
                    "refused a connection: \(reason)", metadata: ["uid": "\(peer.uid)", "pid": "\(peer.pid)"])
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        RefusalHandler(status: Status(code: .resourceExhausted, message: reason)))
                }
            case let .admitted(c):
                connection = c
            }
            do {
                try channel.pipeline.syncOperations.addHandler(
                    ConnectionChannelHandler(
                        connection: connection, maxFrameBytes: limits.maxFrameBytes,
                        maxHelloFrameBytes: limits.maxHelloFrameBytes))
            } catch {
                return channel.close()
            }
            return channel.eventLoop.makeSucceededVoidFuture()
        }.flatMapErrorThrowing { error in
            channel.close(promise: nil)
            throw error
        }
    }

    private func describe(_ target: ListenTarget) -> String {
        switch target {
        case let .path(p): return p
        case let .activated(fd): return "fd \(fd) (socket activation)"
        }
    }
}

/// Answers a refused peer with a stream-0 Status once the socket is active, then closes.
/// (The child initializer runs before the channel is active, when it cannot write yet.)
private final class RefusalHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let status: Status
    init(status: Status) { self.status = status }

    func channelActive(context: ChannelHandlerContext) {
        let bytes = (try? FrameCodec.encode(Frame(streamID: 0, kind: .status(status)))) ?? []
        let ctx = context
        context.writeAndFlush(NIOAny(ByteBuffer(bytes: bytes))).whenComplete { _ in ctx.close(promise: nil) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

/// Why the server could not start.
public enum ServerError: Error, Equatable, CustomStringConvertible {
    case alreadyListening(String)
    case notASocket(String)
    /// The socket's directory in a shared place is not this user's alone.
    case notPrivate(String)
    case noPeerCredentials
    case system(String, Int32)

    public var description: String {
        switch self {
        case let .alreadyListening(p): return "another daemon is already listening on \(p)"
        case let .notASocket(p): return "\(p) exists and is not a socket; refusing to replace it"
        case let .notPrivate(p):
            return "\(p) is not a directory of this user's alone (another owner, or others may enter it); "
                + "remove it, set XDG_RUNTIME_DIR, or pass --socket"
        case .noPeerCredentials: return "the connection does not provide peer credentials"
        case let .system(what, e): return "\(what): \(String(cString: strerror(e)))"
        }
    }
}
