import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization
import TailorWire

#if canImport(Glibc)
import Glibc
#endif

/// The llama.cpp-compatible HTTP endpoint: `/health`, `/infill`, `/completion`,
/// `/v1/completions`, `/v1/chat/completions` (and `/v1/models`) on a Unix socket and/or
/// loopback TCP, so editor plugins written for llama.cpp's server get personalized completions
/// unchanged. On the Unix socket the caller is whoever SO_PEERCRED says; TCP needs the bearer
/// token. A swift-service-lifecycle `Service`: it stops listening on graceful shutdown.
public final class HTTPEndpoint: Service, Sendable {
    private let configuration: HTTPEndpointConfiguration
    private let token: String?
    private let policy: AccessPolicy
    private let responder: CompletionResponder
    private let modelEndpoints: ModelEndpoints
    private let models: ModelManager
    private let contextLength: Int
    private let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    private let limits: ConnectionLimits
    /// Open connections and their callers' uids (TCP callers count as the daemon's own uid):
    /// for the connection limits, and so that shutdown can close them before their event loop
    /// goes away.
    private let clients = Mutex<[ObjectIdentifier: (uid: UInt32, channel: any Channel)]>([:])

    /// An endpoint serving `configuration` with generations from `starter`.
    /// - Throws: when TCP is configured without a readable, non-empty token file.
    init(
        configuration: HTTPEndpointConfiguration, policy: AccessPolicy, starter: GenerationStarter,
        models: ModelManager,
        contextLength: Int, limits: ConnectionLimits = ConnectionLimits(), logger: Logger
    ) throws {
        self.limits = limits
        self.configuration = configuration
        if configuration.listenHost != nil {
            guard let file = configuration.tokenFile else {
                throw HTTPEndpointError.noToken(
                    "http_listen needs http_token_file: TCP callers cannot be identified otherwise")
            }
            guard let data = FileManager.default.contents(atPath: file),
                let t = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines),
                t.count >= 16
            else {
                throw HTTPEndpointError.noToken("http_token_file \(file) must hold a token of at least 16 characters")
            }
            token = t
        } else {
            token = nil
        }
        self.policy = policy
        responder = CompletionResponder(starter: starter, alias: configuration.aliases.min())
        modelEndpoints = ModelEndpoints(
            models: models, slots: starter.settings.slots, aliases: configuration.aliases, tags: configuration.tags,
            slotsEndpoint: configuration.slotsEndpoint, seed: configuration.seed)
        self.models = models
        self.contextLength = contextLength
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    /// Listens until graceful shutdown or cancellation.
    public func run() async throws {
        var listeners: [any Channel] = []
        do {
            if let path = configuration.socket { listeners.append(try await bindUnix(path)) }
            if let host = configuration.listenHost {
                listeners.append(try await bootstrap(tcp: true).bind(host: host, port: configuration.listenPort).get())
            }
        } catch {
            for l in listeners { try? await l.close() }
            try? await group.shutdownGracefully()
            throw HTTPEndpointError.bind("\(error)")
        }
        let bound = listeners
        logger.info(
            "HTTP endpoint listening",
            metadata: [
                "socket": "\(configuration.socket ?? "-")",
                "tcp": "\(configuration.listenHost.map { "\($0):\(configuration.listenPort)" } ?? "-")",
            ])
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                for l in bound { try? await l.closeFuture.get() }
            } onCancel: {
                for l in bound { l.close(promise: nil) }
            }
        } onGracefulShutdown: {
            for l in bound { l.close(promise: nil) }
        }
        if let path = configuration.socket { unlink(path) }
        // Keep-alive connections (and their timers) are closed while their event loop still
        // runs, not by the loop's own shutdown under them: a response ending afterwards would
        // schedule on a loop that is gone.
        let open = clients.withLock { Array($0.values.map(\.channel)) }
        for c in open { try? await c.close() }
        try? await group.shutdownGracefully()
    }

    private func bindUnix(_ path: String) async throws -> any Channel {
        try UnixSocket.prepareListeningPath(path, mode: policy.mode)
        let channel = try await bootstrap(tcp: false).bind(unixDomainSocketPath: path).get()
        try UnixSocket.restrictListeningPath(path, mode: policy.mode, logger: logger)
        return channel
    }

    private func bootstrap(tcp: Bool) -> ServerBootstrap {
        ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] channel in
                let caller: EventLoopFuture<PeerCredentials>
                if tcp {
                    caller = channel.eventLoop.makeSucceededFuture(
                        PeerCredentials(pid: 0, uid: geteuid(), gid: getegid()))
                } else if let provider = channel as? any SocketOptionProvider {
                    caller = provider.unsafeGetSocketOption(
                        level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(PeerCredentials.socketOption))
                } else {
                    return channel.close()
                }
                return caller.flatMap { peer in
                    guard self.policy.admits(peer) else { return channel.close() }
                    guard self.admit(channel, uid: peer.uid) else {
                        self.logger.warning(
                            "refused an HTTP connection: over the connection limits", metadata: ["uid": "\(peer.uid)"])
                        return channel.close()
                    }
                    channel.closeFuture.whenComplete { _ in self.release(channel) }
                    return channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMap {
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(
                                HTTPConnectionHandler(
                                    maxBody: self.configuration.maxBodyBytes, token: tcp ? self.token : nil,
                                    headerTimeout: self.configuration.headerTimeout,
                                    bodyTimeout: self.configuration.bodyTimeout,
                                    route: { [self] request, writer in
                                        await self.route(request, caller: peer, writer: writer)
                                    }))
                        }
                    }
                }
            }
    }

    /// Counts a new connection of `uid`; false when it would pass `max_connections` or the
    /// per-uid share (the same limits as the protocol socket's).
    private func admit(_ channel: any Channel, uid: UInt32) -> Bool {
        clients.withLock { clients in
            let mine = clients.values.reduce(0) { $0 + ($1.uid == uid ? 1 : 0) }
            guard clients.count < limits.maxConnections, mine < limits.maxConnectionsPerUID ?? .max else {
                return false
            }
            clients[ObjectIdentifier(channel)] = (uid, channel)
            return true
        }
    }

    private func release(_ channel: any Channel) {
        _ = clients.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Connections open now.
    var connectionCount: Int { clients.withLock { $0.count } }

    /// Dispatches one request; every failure becomes a JSON error with a 4xx/5xx status.
    private func route(
        _ request: HTTPConnectionHandler.Request, caller: PeerCredentials, writer: ChannelResponseWriter
    ) async {
        do {
            switch (request.method, request.path) {
            case (.GET, "/health"), (.GET, "/v1/health"):
                try await writer.json(["status": "ok"])
            case (.GET, _),
                (.POST, _)
            where ModelEndpoints.paths.contains(request.path) || request.path.hasPrefix("/v1/models/"):
                let method: ModelEndpoints.HTTPMethodName = request.method == .GET ? .get : .post
                guard
                    let answer = try await modelEndpoints.answer(method: method, path: request.path, body: request.body)
                else {
                    throw HTTPProblem(405, "\(request.method.rawValue.echoed) is not allowed on \(request.path.echoed)")
                }
                try await writer.json(answer)
            case (.POST, "/chat/completions/input_tokens"), (.POST, "/v1/chat/completions/input_tokens"):
                let parsed = try CompletionRequest(endpoint: .openAIChat, body: request.body)
                let generation = GenerationRequest(
                    parsed, for: try personalization(request.headers, caller: caller), modelContext: contextLength)
                let loaded = try await models.model(llamaServerName: "")
                let job = try GenerationStarter.job(
                    for: generation, model: loaded.model, contextLength: Int(loaded.info.contextLength),
                    defaultMaxTokens: 1)
                try await writer.json(["input_tokens": job.prompt.count])
            case (.POST, _):
                guard let endpoint = Self.endpoints[request.path] else {
                    throw HTTPProblem(404, "no endpoint \(request.path.echoed)")
                }
                let parsed = try CompletionRequest(
                    endpoint: endpoint, body: request.body, defaultSeed: configuration.seed)
                try await responder.respond(
                    parsed, for: personalization(request.headers, caller: caller), modelContext: contextLength,
                    writer: writer)
            case (_, let path) where Self.endpoints[path] != nil || path == "/health":
                throw HTTPProblem(405, "\(request.method.rawValue.echoed) is not allowed on \(path.echoed)")
            default:
                throw HTTPProblem(404, "no endpoint \(request.path.echoed)")
            }
        } catch let p as HTTPProblem {
            await writer.fail(p)
        } catch let e as GenerationStarter.ContextOverflow {
            await writer.fail(
                HTTPProblem(
                    400, e.message, type: "exceed_context_size_error",
                    details: ["n_prompt_tokens": e.promptTokens, "n_ctx": e.contextLength]))
        } catch let e as RPCError {
            await writer.fail(HTTPProblem(Self.status(e.code), e.message))
        } catch is CancellationError {
            // The client went away: nothing to answer.
        } catch {
            logger.warning("HTTP request failed", metadata: ["path": "\(request.path)", "error": "\(error)"])
            await writer.fail(HTTPProblem(500, "\(error)"))
        }
    }

    static let endpoints: [String: CompletionRequest.Endpoint] = [
        "/completion": .completion, "/completions": .completion, "/infill": .infill,
        "/v1/completions": .openAICompletion, "/v1/chat/completions": .openAIChat, "/chat/completions": .openAIChat,
    ]

    /// The user, task and mode a request is served with: the config's, unless the request names
    /// others in X-Tailor-User / X-Tailor-Task / X-Tailor-Mode (plugins that can set headers).
    private func personalization(_ headers: HTTPHeaders, caller: PeerCredentials) throws -> HTTPPersonalization {
        let user = headers.first(name: "x-tailor-user") ?? configuration.user ?? Self.loginName(caller.uid)
        let task = headers.first(name: "x-tailor-task") ?? configuration.task
        guard let mode = DecodingMode(rawValue: headers.first(name: "x-tailor-mode") ?? configuration.mode) else {
            throw HTTPProblem(400, "X-Tailor-Mode must be \(DecodingMode.spelled)")
        }
        return HTTPPersonalization(caller: caller, user: user, task: task, mode: mode)
    }

    static func loginName(_ uid: UInt32) -> String {
        guard let pw = getpwuid(uid), let name = pw.pointee.pw_name else { return "uid\(uid)" }
        return String(cString: name)
    }

    static func status(_ code: StatusCode) -> Int {
        switch code {
        case .invalidArgument, .outOfRange: return 400
        case .notFound: return 404
        case .permissionDenied: return 403
        case .resourceExhausted: return 429
        case .failedPrecondition: return 409
        case .unavailable: return 503
        case .unimplemented: return 501
        default: return 500
        }
    }
}

/// Why the HTTP endpoint could not start.
public enum HTTPEndpointError: Error, CustomStringConvertible {
    case noToken(String)
    case bind(String)

    public var description: String {
        switch self {
        case let .noToken(m): return m
        case let .bind(m): return "cannot start the HTTP endpoint: \(m)"
        }
    }
}
