import Foundation
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

    /// A socket in the fallback directory is trusted only when the directory is a real one of
    /// this user's with no group or other access.
    func testThePrivateDirectoryCheck() throws {
        let dir = NSTemporaryDirectory() + "tailor-private-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chmod(dir, 0o700)
        XCTAssertTrue(SocketLocation.isPrivateDirectory(dir, uid: getuid()))
        XCTAssertFalse(SocketLocation.isPrivateDirectory(dir, uid: getuid() + 1), "another owner")
        chmod(dir, 0o755)
        XCTAssertFalse(SocketLocation.isPrivateDirectory(dir, uid: getuid()), "others may enter")
        chmod(dir, 0o700)
        let link = dir + "-link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: dir)
        defer { try? FileManager.default.removeItem(atPath: link) }
        XCTAssertFalse(SocketLocation.isPrivateDirectory(link, uid: getuid()), "a link is not the directory")
        XCTAssertFalse(SocketLocation.isPrivateDirectory(dir + "/missing", uid: getuid()))
    }
}
