import TailorClient
import XCTest

/// Clients find the socket by the daemon's own rule (`SocketLocation`).
final class SocketDiscoveryTests: XCTestCase {
    func testTheFlagThenTheEnvironmentThenTheUserDaemonThenTheSystems() {
        let env = ["XDG_RUNTIME_DIR": "/run/user/5", "TAILOR_SOCKET": "/tmp/t.sock"]
        XCTAssertEqual(TailorClient.socketPath(flag: "/x.sock", environment: env), "/x.sock")
        XCTAssertEqual(TailorClient.socketPath(flag: nil, environment: env), "/tmp/t.sock")
        XCTAssertEqual(
            TailorClient.socketPath(environment: ["XDG_RUNTIME_DIR": "/run/user/5"]), "/run/user/5/tailor/tailord.sock")
        XCTAssertEqual(TailorClient.socketPath(environment: [:]), "/run/tailor/tailord.sock")
    }
}
