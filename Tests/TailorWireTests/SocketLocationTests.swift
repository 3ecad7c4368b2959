import TailorWire
import XCTest

final class SocketLocationTests: XCTestCase {
    /// --socket, then $TAILOR_SOCKET, then the user daemon's (an absolute $XDG_RUNTIME_DIR),
    /// then the system daemon's.
    func testClientSocketPrecedence() {
        let env = ["XDG_RUNTIME_DIR": "/run/user/5", "TAILOR_SOCKET": "/tmp/t.sock"]
        XCTAssertEqual(SocketLocation.client(flag: "/x.sock", environment: env), "/x.sock")
        XCTAssertEqual(SocketLocation.client(flag: nil, environment: env), "/tmp/t.sock")
        XCTAssertEqual(
            SocketLocation.client(flag: "", environment: ["XDG_RUNTIME_DIR": "/run/user/5"]),
            "/run/user/5/tailor/tailord.sock")
        XCTAssertEqual(
            SocketLocation.client(flag: nil, environment: ["XDG_RUNTIME_DIR": "run/user/5"], exists: { _ in false }),
            "/run/tailor/tailord.sock")
        XCTAssertEqual(
            SocketLocation.client(flag: nil, environment: [:], exists: { _ in false }), "/run/tailor/tailord.sock")
        // Without XDG_RUNTIME_DIR, a user daemon listening in its /tmp directory is found.
        XCTAssertEqual(
            SocketLocation.client(
                flag: nil, environment: [:], exists: { $0 == "/tmp/tailor-\(getuid())/tailord.sock" }),
            "/tmp/tailor-\(getuid())/tailord.sock")
    }
}
