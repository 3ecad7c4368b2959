import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// One HTTP/1.1 connection of the llama.cpp-compatible endpoint: checks the bearer token on TCP
/// at the request's head (before a byte of its body is kept), collects the body (capped), and
/// hands the request to `route` in a task of its own. When the client goes away the task is
/// cancelled, which cancels its generation at the worker's next step.
///
/// Two timers keep a silent client from holding a connection: the head of a request must
/// arrive within `headerTimeout` of the connection's start or of the previous response's end,
/// and its body within `bodyTimeout` of its head. While a response is being produced, no timer
/// runs (a long generation is not the client's fault).
final class HTTPConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// A whole request.
    struct Request: Sendable {
        var method: HTTPMethod
        var path: String
        var headers: HTTPHeaders
        var body: [UInt8]
    }

    private let maxBody: Int
    /// The token TCP requests must carry; nil on the Unix socket (SO_PEERCRED decided there).
    private let token: String?
    private let headerTimeout: TimeAmount
    private let bodyTimeout: TimeAmount
    private let route: @Sendable (Request, ChannelResponseWriter) async -> Void
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var refused = false
    private var running: Task<Void, Never>?
    private var timer: Scheduled<Void>?
    /// Whether the channel is still active, as a request's task sees it: the task writes its
    /// response and hands the next header timer to the event loop only while this holds, under
    /// its lock, so it never schedules on a loop that shutdown stopped after closing the channel.
    private let active = ChannelActivity()

    init(
        maxBody: Int, token: String?, headerTimeout: Duration, bodyTimeout: Duration,
        route: @escaping @Sendable (Request, ChannelResponseWriter) async -> Void
    ) {
        self.maxBody = maxBody
        self.token = token
        self.headerTimeout = Connection.timeAmount(headerTimeout)
        self.bodyTimeout = Connection.timeAmount(bodyTimeout)
        self.route = route
    }

    func handlerAdded(context: ChannelHandlerContext) {
        arm(context, headerTimeout)
    }

    /// Closes the connection after `amount` unless re-armed or disarmed first.
    private func arm(_ context: ChannelHandlerContext, _ amount: TimeAmount) {
        timer?.cancel()
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: amount) { channel.close(promise: nil) }
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(h):
            head = h
            body = []
            refused = false
            arm(context, bodyTimeout)
            let path = h.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? ""
            let isPublic = h.method == .GET && Self.publicPaths.contains(path)
            if let token, !isPublic, !Self.authorized(h.headers, token: token) {
                refuse(
                    context,
                    HTTPProblem(
                        401,
                        """
                        missing or wrong bearer token: send 'Authorization: Bearer <token>' (TCP has no peer \
                        credentials)
                        """
                    ))
                return
            }
            if let length = h.headers.first(name: "content-length").flatMap(Int.init), length > maxBody {
                refuse(context, HTTPProblem(413, "the request body is \(length) bytes; the limit is \(maxBody)"))
                return
            }
            // A client that asks first (curl, for bodies over 1 KiB) would wait a second for this.
            if h.version == .http1_1, h.headers.first(name: "expect")?.lowercased() == "100-continue" {
                context.writeAndFlush(
                    wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
            }
        case var .body(buffer):
            guard !refused else { return }
            if body.count + buffer.readableBytes > maxBody {
                refuse(context, HTTPProblem(413, "the request body exceeds the limit of \(maxBody) bytes"))
                return
            }
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            guard let h = head, !refused else { return }
            head = nil
            disarm()
            let writer = ChannelResponseWriter(
                channel: context.channel, activity: active, keepAlive: h.isKeepAlive, version: h.version)
            let request = Request(
                method: h.method, path: String(h.uri.split(separator: "?", maxSplits: 1).first ?? ""),
                headers: h.headers, body: body)
            body = []
            let route = self.route
            // When the response is done, the next request's head has `headerTimeout` to come.
            let me = NIOLoopBound(self, eventLoop: context.eventLoop)
            let loopContext = NIOLoopBound(context, eventLoop: context.eventLoop)
            let loop = context.eventLoop
            let active = self.active
            running = Task {
                await route(request, writer)
                active.ifActive {
                    loop.execute {
                        if me.value.head == nil && loopContext.value.channel.isActive {
                            me.value.arm(loopContext.value, me.value.headerTimeout)
                        }
                    }
                }
            }
        }
    }

    /// Answers 401, 413 (or another refusal) and closes: the rest of the body is not read.
    private func refuse(_ context: ChannelHandlerContext, _ problem: HTTPProblem) {
        refused = true
        body = []
        let writer = ChannelResponseWriter(channel: context.channel, activity: active, keepAlive: false)
        Task { await writer.fail(problem) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        active.end()
        disarm()
        running?.cancel()
        running = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        running?.cancel()
        context.close(promise: nil)
    }

    /// What a GET may reach without the token, as llama-server's health check: a load balancer
    /// or an editor probes it before it has a key. It says only whether the daemon is up.
    static let publicPaths: Set<String> = ["/health", "/v1/health"]

    /// A constant-time comparison of the bearer token.
    static func authorized(_ headers: HTTPHeaders, token: String) -> Bool {
        guard let value = headers.first(name: "authorization"), value.lowercased().hasPrefix("bearer ") else {
            return false
        }
        let given = Array(value.dropFirst(7).trimmingCharacters(in: .whitespaces).utf8), want = Array(token.utf8)
        guard given.count == want.count else { return false }
        var diff: UInt8 = 0
        for (a, b) in zip(given, want) { diff |= a ^ b }
        return diff == 0
    }
}

/// Whether a connection's channel is still active, shared with its requests' tasks. Shutdown
/// closes every channel (each goes inactive on its event loop) before it stops the loop, so
/// anything handed to the loop under `ifActive` reaches a loop that still runs; SwiftNIO
/// refuses a task scheduled on a stopped loop ("Cannot schedule tasks on an EventLoop that has
/// already shut down", a crash in later versions).
final class ChannelActivity: Sendable {
    private let active = Mutex(true)

    /// Runs `body` if the channel is still active, holding the lock, so `end()` waits for it.
    func ifActive(_ body: () -> Void) {
        active.withLock { if $0 { body() } }
    }

    /// The channel went inactive (on its event loop, before shutdown stops the loop).
    func end() { active.withLock { $0 = false } }
}

/// Writes a response on a channel from any thread; each write waits until the socket took it
/// (so a slow reader slows generation, and a gone reader raises, as does a closed channel).
struct ChannelResponseWriter: HTTPResponseWriter {
    let channel: any Channel
    let activity: ChannelActivity
    let keepAlive: Bool
    /// The request's version, which the answer keeps: an HTTP/1.0 client gets no chunked
    /// encoding (it cannot read it), its body ending where the connection closes.
    var version: HTTPVersion = .http1_1

    func head(status: Int, contentType: String) async throws {
        var h = HTTPHeaders()
        h.add(name: "Content-Type", value: contentType)
        if contentType == "text/event-stream" { h.add(name: "Cache-Control", value: "no-cache") }
        h.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        try await send(.head(HTTPResponseHead(version: version, status: .init(statusCode: status), headers: h)))
    }

    func body(_ bytes: [UInt8]) async throws {
        try await send(.body(.byteBuffer(ByteBuffer(bytes: bytes))))
    }

    func end() async throws {
        try await send(.end(nil))
        if !keepAlive {
            let channel = self.channel
            activity.ifActive { channel.close(promise: nil) }
        }
    }

    /// Writes and flushes `part` and waits for the socket to take it. The write and the wait's
    /// callback are both handed to the event loop under `activity`'s lock, or not at all.
    private func send(_ part: HTTPServerResponsePart) async throws {
        let channel = self.channel, activity = self.activity
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
            var handed = false
            activity.ifActive {
                handed = true
                channel.writeAndFlush(part).whenComplete { done.resume(with: $0) }
            }
            if !handed { done.resume(throwing: ChannelError.ioOnClosedChannel) }
        }
    }

    /// A JSON error with `problem`'s status.
    func fail(_ problem: HTTPProblem) async {
        try? await head(status: problem.status, contentType: "application/json")
        try? await body(CompletionFormat.encode(problem.json))
        try? await end()
    }

    /// A JSON object (or array) with status 200.
    func json(_ object: Any, status: Int = 200) async throws {
        try await head(status: status, contentType: "application/json")
        try await body(CompletionFormat.encode(object))
        try await end()
    }
}
