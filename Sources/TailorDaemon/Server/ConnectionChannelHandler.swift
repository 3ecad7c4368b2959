import NIOCore
import TailorWire

/// The NIO end of a `Connection`: reassembles frames from the socket's bytes with our own
/// `FrameDecoder` (which refuses an oversize length before buffering the body) and hands them
/// to the connection; tells it when the socket closes. Replies bypass the pipeline: the
/// connection writes encoded frames straight to the channel.
final class ConnectionChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let connection: Connection
    private var decoder: FrameDecoder

    init(connection: Connection, maxFrameBytes: Int) {
        self.connection = connection
        decoder = FrameDecoder(maxFrameBytes: maxFrameBytes)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        decoder.append(buffer.readableBytesView)
        do {
            while let frame = try decoder.next() { connection.receive(frame) }
        } catch let e as WireError {
            connection.fail(e)
        } catch {
            connection.fail(.malformedMessage(type: "tailor.v1.Frame"))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.closed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A socket error (reset by peer, ...): nothing more can be said on this connection.
        context.close(promise: nil)
    }
}
