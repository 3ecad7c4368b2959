import TailorWire
import XCTest

@testable import TailorClient

/// The client's stream table: odd ids in order, frames routed to their stream, a Status ending
/// it, and a closed connection failing every stream, open or later.
final class StreamTableTests: XCTestCase {
    private typealias Stream = AsyncThrowingStream<Frame.Kind, any Error>

    /// Collects a stream to its end: the frames, and the error it ended with.
    private func drain(_ stream: Stream) async -> (frames: [Frame.Kind], error: (any Error)?) {
        var frames: [Frame.Kind] = []
        do {
            for try await f in stream { frames.append(f) }
            return (frames, nil)
        } catch {
            return (frames, error)
        }
    }

    func testIdsAreOddAndFramesReachTheirStreamUntilItsStatus() async {
        let table = StreamTable()
        let (a, ca) = Stream.makeStream(), (b, cb) = Stream.makeStream()
        var sent: [UInt32] = []
        let ida = table.open(ca) {
            sent.append($0); return nil
        }
        let idb = table.open(cb) {
            sent.append($0); return nil
        }
        XCTAssertEqual([ida, idb], [1, 3])
        XCTAssertEqual(sent, [1, 3])
        table.dispatch(Frame(streamID: 3, kind: .event(payload: [2])))
        table.dispatch(Frame(streamID: 1, kind: .event(payload: [1])))
        table.dispatch(Frame(streamID: 1, kind: .status(Status(code: .ok))))
        table.dispatch(Frame(streamID: 1, kind: .event(payload: [9])))  // after its end: dropped
        table.dispatch(Frame(streamID: 5, kind: .event(payload: [9])))  // never opened: dropped
        table.dispatch(Frame(streamID: 3, kind: .status(Status(code: .notFound, message: "no"))))
        let ra = await drain(a), rb = await drain(b)
        XCTAssertEqual(ra.frames, [.event(payload: [1]), .status(Status(code: .ok))])
        XCTAssertNil(ra.error)
        XCTAssertEqual(rb.frames, [.event(payload: [2]), .status(Status(code: .notFound, message: "no"))])
        XCTAssertFalse(table.remove(1), "a finished stream is forgotten")
    }

    /// The daemon closing the connection (a Status on stream 0) fails every open stream and
    /// every stream opened afterwards, without sending its request.
    func testAClosedConnectionFailsOpenAndLaterStreams() async {
        let table = StreamTable()
        let (a, ca) = Stream.makeStream()
        table.open(ca) { _ in nil }
        table.dispatch(Frame(streamID: 0, kind: .status(Status(code: .unavailable, message: "stopping"))))
        let ra = await drain(a)
        XCTAssertEqual((ra.error as? TailorClientError)?.code, .unavailable)
        let (b, cb) = Stream.makeStream()
        var sent = false
        table.open(cb) { _ in
            sent = true; return nil
        }
        XCTAssertFalse(sent)
        let rb = await drain(b)
        XCTAssertEqual((rb.error as? TailorClientError)?.code, .unavailable)
    }

    /// A request the protocol cannot carry fails its own stream only.
    func testARequestThatCannotBeSentFailsItsStream() async {
        struct TooLarge: Error {}
        let table = StreamTable()
        let (a, ca) = Stream.makeStream(), (b, cb) = Stream.makeStream()
        table.open(ca) { _ in TooLarge() }
        let idb = table.open(cb) { _ in nil }
        let ra = await drain(a)
        XCTAssertTrue(ra.error is TooLarge)
        table.dispatch(Frame(streamID: idb, kind: .status(Status(code: .ok))))
        let rb = await drain(b)
        XCTAssertNil(rb.error)
    }
}
