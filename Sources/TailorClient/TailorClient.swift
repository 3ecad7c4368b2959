import NIOCore
import NIOPosix
import Synchronization
import TailorWire

/// A connection to tailord with async/await calls.
///
/// One connection carries many calls at once, each on its own stream. Unary calls return
/// their response; streaming calls return an `AsyncThrowingStream` that ends when the daemon's
/// Status arrives (throwing `TailorClientError.status` unless it is OK). Cancelling the task
/// that awaits a call, or that iterates a stream, sends Cancel for that stream.
public final class TailorClient: Sendable {
    /// What the daemon answered to Hello: version and limits.
    public let hello: HelloResponse
    private let channel: any Channel
    private let streams: StreamTable

    private init(channel: any Channel, streams: StreamTable, hello: HelloResponse) {
        self.channel = channel
        self.streams = streams
        self.hello = hello
    }

    /// Connects to the daemon's socket and negotiates the protocol version.
    /// - Parameter path: the socket; nil for `--socket`-less discovery ($TAILOR_SOCKET, then the
    ///   user daemon's, then the system daemon's).
    /// - Throws: NIO's error when nothing listens there; `TailorClientError` when Hello fails.
    public static func connect(
        to path: String, clientName: String = "tailor-swift/\(clientVersion)"
    ) async throws -> TailorClient {
        let streams = StreamTable()
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ClientChannelHandler(streams: streams))
                    }
                }
                .connect(unixDomainSocketPath: path).get()
        } catch {
            throw TailorClientError.unreachable(path: path, reason: Self.reason(error))
        }
        do {
            let payload = try HelloRequest(client: clientName).serialized()
            let reply = try await unary(
                channel: channel, streams: streams, fixedID: 0,
                request: Request(service: "tailor.v1.Session", method: "Hello", payload: payload))
            return TailorClient(channel: channel, streams: streams, hello: try HelloResponse(serialized: reply))
        } catch {
            try? await channel.close()
            throw error
        }
    }

    /// Why connecting to a socket failed, in words: the errno behind NIO's error.
    static func reason(_ error: any Error) -> String {
        let code = (error as? IOError)?.errnoCode
        switch code {
        case ENOENT?: return "no socket there (is tailord running?)"
        case ECONNREFUSED?: return "the socket exists but nothing accepts on it (tailord stopped?)"
        case EACCES?, EPERM?: return "permission denied (the socket belongs to another user)"
        case ENOTSOCK?: return "the path is not a socket"
        case let c?: return String(cString: strerror(c))
        case nil: return "\(error)"
        }
    }

    /// Closes the connection; calls still open end with `connectionClosed`.
    public func close() async {
        try? await channel.close()
    }

    /// A unary call: sends `payload` to `service`/`method` and returns the response payload.
    /// - Parameter timeoutMS: the daemon's deadline for the call; 0 for none.
    public func call(
        _ service: String, _ method: String, payload: [UInt8], timeoutMS: UInt32 = 0
    ) async throws -> [UInt8] {
        try await Self.unary(
            channel: channel, streams: streams, fixedID: nil,
            request: Request(service: service, method: method, payload: payload, timeoutMS: timeoutMS))
    }

    /// A server-streaming call: the payloads of its Events (and Data chunks), ending at its
    /// Status (throwing `TailorClientError.status` unless OK). Stopping the iteration early, or
    /// cancelling the iterating task, sends Cancel.
    public func stream(
        _ service: String, _ method: String, payload: [UInt8], timeoutMS: UInt32 = 0
    ) -> AsyncThrowingStream<[UInt8], any Error> {
        let frames = streamFrames(service, method, payload: payload, timeoutMS: timeoutMS)
        let reader = FrameReader(frames.makeAsyncIterator())
        return AsyncThrowingStream {
            switch try await reader.next() {
            case let .event(payload)?, let .data(payload, _)?: return payload
            default: return nil
            }
        }
    }

    /// A streaming call's replies as frames: Events and Data, in order, ending at an OK Status.
    public func streamFrames(
        _ service: String, _ method: String, payload: [UInt8], timeoutMS: UInt32 = 0,
        upload: [UInt8]? = nil
    ) -> AsyncThrowingStream<Frame.Kind, any Error> {
        let (frames, continuation) = AsyncThrowingStream.makeStream(of: Frame.Kind.self)
        let channel = self.channel, table = streams
        let request = Request(service: service, method: method, payload: payload, timeoutMS: timeoutMS)
        let id = streams.open(continuation) { id in
            if let e = Self.trySend(channel, Frame(streamID: id, kind: .request(request))) { return e }
            if let upload { return Self.sendUpload(channel, id, upload) }
            return nil
        }
        continuation.onTermination = { termination in
            if case .cancelled = termination, table.remove(id) {
                Self.send(channel, Frame(streamID: id, kind: .cancel(reason: "client task cancelled")))
            }
        }
        let reader = FrameReader(frames.makeAsyncIterator())
        return AsyncThrowingStream {
            guard let kind = try await reader.next() else { throw CancellationError() }
            switch kind {
            case .event, .data: return kind
            case let .status(s):
                guard s.code == .ok else { throw TailorClientError.status(s) }
                return nil
            default:
                throw TailorClientError.protocolViolation("unexpected frame on streaming call \(id)")
            }
        }
    }

    /// A unary call that uploads `data` in Data frames after its request (Adapters.Import).
    public func upload(
        _ service: String, _ method: String, payload: [UInt8], data: [UInt8], timeoutMS: UInt32 = 0
    ) async throws -> [UInt8] {
        try await Self.unary(
            channel: channel, streams: streams, fixedID: nil,
            request: Request(service: service, method: method, payload: payload, timeoutMS: timeoutMS), upload: data)
    }

    /// Enqueues `data` as Data frames of at most 1 MiB, the last marked.
    static func sendUpload(_ channel: any Channel, _ id: UInt32, _ data: [UInt8]) -> (any Error)? {
        let chunk = 1 << 20
        var offset = 0
        repeat {
            let end = min(data.count, offset + chunk)
            if let e = trySend(
                channel, Frame(streamID: id, kind: .data(chunk: Array(data[offset..<end]), last: end == data.count)))
            {
                return e
            }
            offset = end
        } while offset < data.count
        return nil
    }

    private static func unary(
        channel: any Channel, streams: StreamTable, fixedID: UInt32?, request: Request,
        upload: [UInt8]? = nil
    ) async throws -> [UInt8] {
        let (frames, continuation) = AsyncThrowingStream.makeStream(of: Frame.Kind.self)
        let id = streams.open(continuation, fixedID: fixedID) { id in
            if let e = trySend(channel, Frame(streamID: id, kind: .request(request))) { return e }
            if let upload { return sendUpload(channel, id, upload) }
            return nil
        }
        return try await withTaskCancellationHandler {
            var response: [UInt8]?
            for try await kind in frames {
                switch kind {
                case let .response(payload): response = payload
                case let .status(s):
                    guard s.code == .ok else { throw TailorClientError.status(s) }
                    return response ?? []
                default:
                    throw TailorClientError.protocolViolation("unexpected frame on unary stream \(id)")
                }
            }
            throw CancellationError()
        } onCancel: {
            if streams.remove(id) {
                continuation.finish(throwing: CancellationError())
                send(channel, Frame(streamID: id, kind: .cancel(reason: "client task cancelled")))
            }
        }
    }

    /// Enqueues `frame` on the channel's event loop (never written synchronously, so frames
    /// enqueued in order leave in order, whichever thread enqueues them).
    static func send(_ channel: any Channel, _ frame: Frame) {
        _ = trySend(channel, frame)
    }

    /// `send`, returning the encoding error (a frame over 4 MiB, a NUL in a name) instead of
    /// dropping the frame.
    static func trySend(_ channel: any Channel, _ frame: Frame) -> (any Error)? {
        do {
            let bytes = try FrameCodec.encode(frame)
            channel.eventLoop.execute { channel.writeAndFlush(ByteBuffer(bytes: bytes), promise: nil) }
            return nil
        } catch {
            return error
        }
    }
}

/// The client library's version.
public let clientVersion = "0.1.0"

/// Holds the frame iterator of one streaming call. Only the one task iterating the call's
/// stream touches it, one `next()` at a time, which AsyncThrowingStream(unfolding:) guarantees.
private final class FrameReader: @unchecked Sendable {
    private var iterator: AsyncThrowingStream<Frame.Kind, any Error>.AsyncIterator
    init(_ iterator: AsyncThrowingStream<Frame.Kind, any Error>.AsyncIterator) { self.iterator = iterator }
    func next() async throws -> Frame.Kind? { try await iterator.next() }
}
