import Foundation
import TailorWire

@testable import TailorDaemon

#if canImport(Glibc)
import Glibc
#endif

/// A blocking Unix-socket connection speaking raw frames, for tests that must send what no
/// well-behaved client would: bad ids, garbage, oversize lengths.
final class RawConnection {
    let fd: Int32
    private var decoder = FrameDecoder()
    private var pending: [Frame] = []  // frames read while looking for another stream's

    struct Closed: Error {}
    struct TimedOut: Error {}

    init(path: String, timeout: TimeInterval = 10) throws {
        fd = try UnixSocket.connect(path)
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// Writes raw bytes; false if the peer is gone (or the send timed out).
    @discardableResult
    func send(bytes: [UInt8]) -> Bool { sent(bytes) == bytes.count }

    /// Writes raw bytes until they are all sent, the peer is gone or the send times out, and
    /// returns how many the socket took.
    func sent(_ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Glibc.send(fd, raw.baseAddress! + off, raw.count - off, Int32(MSG_NOSIGNAL))
                if n <= 0 { return off }
                off += n
            }
            return off
        }
    }

    /// Writes a frame.
    func send(_ frame: Frame) throws { send(bytes: try FrameCodec.encode(frame)) }

    /// Reads the next frame; throws `Closed` at EOF, `TimedOut` after the receive timeout.
    func read() throws -> Frame {
        while true {
            if let f = try decoder.next() { return f }
            var buf = [UInt8](repeating: 0, count: 65536)
            let n = recv(fd, &buf, buf.count, 0)
            if n == 0 { throw Closed() }
            if n < 0 {
                if errno == EINTR { continue }; if errno == EAGAIN || errno == EWOULDBLOCK { throw TimedOut() };
                throw Closed()
            }
            decoder.append(buf[0..<n])
        }
    }

    /// Reads until the peer closes, returning the frames seen; throws `TimedOut` if it never does.
    func readUntilClosed() throws -> [Frame] {
        var frames: [Frame] = []
        while true {
            do { frames.append(try read()) } catch is Closed { return frames }
        }
    }

    /// Session.Hello, checking the answer.
    func hello(min: UInt32 = 1, max: UInt32 = 1) throws {
        try send(
            Frame(
                streamID: 0,
                kind: .request(
                    Request(
                        service: "tailor.v1.Session", method: "Hello",
                        payload: try HelloRequest(minVersion: min, maxVersion: max, client: "raw").serialized()))))
        guard case .response = try read().kind, case let .status(s) = try read().kind, s.code == .ok else {
            throw Closed()
        }
    }

    /// Sends a request on `id` and returns the frames of that stream up to its Status.
    func call(
        _ id: UInt32, _ service: String, _ method: String, payload: [UInt8] = [], timeoutMS: UInt32 = 0
    ) throws -> [Frame] {
        try send(
            Frame(
                streamID: id,
                kind: .request(Request(service: service, method: method, payload: payload, timeoutMS: timeoutMS))))
        return try readStream(id)
    }

    /// Frames of stream `id` up to and including its Status; other streams' frames are kept
    /// for their own `readStream`.
    func readStream(_ id: UInt32) throws -> [Frame] {
        var out: [Frame] = []
        while true {
            let f: Frame
            if let i = pending.firstIndex(where: { $0.streamID == id }) {
                f = pending.remove(at: i)
            } else {
                f = try read()
            }
            guard f.streamID == id else { pending.append(f); continue }
            out.append(f)
            if case .status = f.kind { return out }
        }
    }
}

extension Array where Element == Frame {
    /// The Status ending a stream's frames.
    var status: Status? {
        for f in reversed() { if case let .status(s) = f.kind { return s } }
        return nil
    }
}
