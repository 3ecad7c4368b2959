import Foundation
import TailorWire
import XCTest

final class PeerCredentialsTests: XCTestCase {
    /// Both ends of a socket pair are this process; a pipe is no socket and has no peer.
    func testCredentialsOfASocketsOtherEnd() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds), 0)
        defer { close(fds[0]); close(fds[1]) }
        XCTAssertEqual(PeerCredentials.of(socket: fds[0]), .current)

        var pipeFDs: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&pipeFDs), 0)
        defer { close(pipeFDs[0]); close(pipeFDs[1]) }
        XCTAssertNil(PeerCredentials.of(socket: pipeFDs[0]))
    }
}
