import Foundation
import NIOCore
import NIOHTTP1

/// One HTTP/1.1 connection of the llama.cpp-compatible endpoint: collects each request (body
/// capped), checks the bearer token on TCP, and hands the request to `route` in a task of its
/// own. When the client goes away the task is cancelled, which cancels its generation at the
/// worker's next step.
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
    private let route: @Sendable (Request, ChannelResponseWriter) async -> Void
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var refused = false
    private var running: Task<Void, Never>?

    init(maxBody: Int, token: String?, route: @escaping @Sendable (Request, ChannelResponseWriter) async -> Void) {
        self.maxBody = maxBody
        self.token = token
        self.route = route
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(h):
            head = h
            body = []
            refused = false
            if let length = h.headers.first(name: "content-length").flatMap(Int.init), length > maxBody {
                refuse(context, HTTPProblem(413, "the request body is \(length) bytes; the limit is \(maxBody)"))
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
            let writer = ChannelResponseWriter(channel: context.channel, keepAlive: h.isKeepAlive)
            if let token, !Self.authorized(h.headers, token: token) {
                let problem = HTTPProblem(401, "missing or wrong bearer token: send 'Authorization: Bearer <token>' (TCP has no peer credentials)")
                running = Task { await writer.fail(problem) }
                return
            }
            let request = Request(method: h.method, path: String(h.uri.split(separator: "?", maxSplits: 1).first ?? ""), headers: h.headers, body: body)
            body = []
            let route = self.route
            running = Task { await route(request, writer) }
        }
    }

    /// Answers 413 (or another refusal) and closes: the rest of the body is not read.
    private func refuse(_ context: ChannelHandlerContext, _ problem: HTTPProblem) {
        refused = true
        let writer = ChannelResponseWriter(channel: context.channel, keepAlive: false)
        let channel = context.channel
        Task {
            await writer.fail(problem)
            try? await channel.close()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        running?.cancel()
        running = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        running?.cancel()
        context.close(promise: nil)
    }

    /// A constant-time comparison of the bearer token.
    static func authorized(_ headers: HTTPHeaders, token: String) -> Bool {
        guard let value = headers.first(name: "authorization"), value.lowercased().hasPrefix("bearer ") else { return false }
        let given = Array(value.dropFirst(7).trimmingCharacters(in: .whitespaces).utf8), want = Array(token.utf8)
        guard given.count == want.count else { return false }
        var diff: UInt8 = 0
        for (a, b) in zip(given, want) { diff |= a ^ b }
        return diff == 0
    }
}

/// Writes a response on a channel from any thread; each write waits until the socket took it
/// (so a slow reader slows generation, and a gone reader raises).
struct ChannelResponseWriter: HTTPResponseWriter {
    let channel: any Channel
    let keepAlive: Bool

    func head(status: Int, contentType: String) async throws {
        var h = HTTPHeaders()
        h.add(name: "Content-Type", value: contentType)
        if contentType == "text/event-stream" { h.add(name: "Cache-Control", value: "no-cache") }
        h.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        try await channel.writeAndFlush(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: h))).get()
    }

    func body(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: bytes)))).get()
    }

    func end() async throws {
        try await channel.writeAndFlush(HTTPServerResponsePart.end(nil)).get()
        if !keepAlive { try? await channel.close() }
    }

    /// A JSON error with `problem`'s status.
    func fail(_ problem: HTTPProblem) async {
        try? await head(status: problem.status, contentType: "application/json")
        try? await body(CompletionFormat.encode(problem.json))
        try? await end()
    }

    /// A JSON object with status 200.
    func json(_ object: [String: Any], status: Int = 200) async throws {
        try await head(status: status, contentType: "application/json")
        try await body(CompletionFormat.encode(object))
        try await end()
    }
}
