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
    private let maxFrameBytes: Int

    /// A handler for `connection`, accepting frames up to `maxHelloFrameBytes` until Hello,
    /// then up to `maxFrameBytes`.
    init(connection: Connection, maxFrameBytes: Int, maxHelloFrameBytes: Int) {
        self.connection = connection
        self.maxFrameBytes = maxFrameBytes
        decoder = FrameDecoder(maxFrameBytes: min(maxFrameBytes, maxHelloFrameBytes))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        decoder.append(buffer.readableBytesView)
        do {
            while let frame = try decoder.next() {
                connection.receive(frame)
                if decoder.maxFrameBytes != maxFrameBytes && connection.isPastHello {
                    decoder.maxFrameBytes = maxFrameBytes
                }
            }
        } catch let e as WireError {
            connection.fail(e)
        } catch {
            connection.fail(.malformedMessage(type: "tailor.v1.Frame"))
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        connection.writabilityChanged(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
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
