import Foundation
import TailorWire
import XCTest

@testable import TailorDaemon

#if canImport(Glibc)
import Glibc
#endif

final class SystemdNotifierTests: XCTestCase {
    /// A datagram socket bound at `name` ("@..." for the abstract namespace), as systemd binds it.
    private func listen(_ name: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(name.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        let len = MemoryLayout.offset(of: \sockaddr_un.sun_path)! + bytes.count + (abstract ? 0 : 1)
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(len)) }
        }
        XCTAssertEqual(r, 0, String(cString: strerror(errno)))
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    private func receive(_ fd: Int32) -> String {
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buf, buf.count, 0)
        return n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : "<nothing: \(String(cString: strerror(errno)))>"
    }

    func testNotifiesAFilesystemSocket() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "tailor-notify-\(getpid())-\(UUID().uuidString.prefix(8))"
        ).path
        let fd = try listen(path)
        defer { close(fd); unlink(path) }
        let n = SystemdNotifier(environment: ["NOTIFY_SOCKET": path])
        try n.notify(["READY": "1", "STATUS": "serving 1 model"])
        XCTAssertEqual(receive(fd), "READY=1\nSTATUS=serving 1 model")
        try n.notify(["STOPPING": "1"])
        XCTAssertEqual(receive(fd), "STOPPING=1")
    }

    func testNotifiesAnAbstractSocket() throws {
        let name = "@tailor-notify-\(getpid())-\(UUID().uuidString.prefix(8))"
        let fd = try listen(name)
        defer { close(fd) }
        try SystemdNotifier(environment: ["NOTIFY_SOCKET": name]).notify(["WATCHDOG": "1"])
        XCTAssertEqual(receive(fd), "WATCHDOG=1")
    }

    func testWithoutSystemdNothingIsSentAndNothingFails() throws {
        let n = SystemdNotifier(environment: [:])
        XCTAssertNil(n.socketPath)
        try n.notify(["READY": "1"])
        XCTAssertNil(n.watchdogInterval)
    }

    func testWatchdogIntervalIsHalfAndOnlyForUs() {
        XCTAssertEqual(
            SystemdNotifier(environment: ["WATCHDOG_USEC": "30000000"], pid: 42).watchdogInterval, .seconds(15))
        XCTAssertEqual(
            SystemdNotifier(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"], pid: 42).watchdogInterval,
            .seconds(15))
        XCTAssertNil(
            SystemdNotifier(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "7"], pid: 42).watchdogInterval)
        XCTAssertNil(SystemdNotifier(environment: ["WATCHDOG_USEC": "nonsense"], pid: 42).watchdogInterval)
    }

    func testSendFailureIsReportedNotIgnored() {
        let n = SystemdNotifier(environment: ["NOTIFY_SOCKET": "/nonexistent/dir/notify.sock"])
        XCTAssertThrowsError(try n.notify(["READY": "1"])) {
            XCTAssertEqual($0 as? SystemdNotifier.NotifyError, .system(call: "sendto", errno: ENOENT))
        }
    }
}

final class DaemonPathsTests: XCTestCase {
    func testUserModeFollowsXDG() throws {
        let p = try DaemonPaths.defaults(
            mode: .user, environment: ["XDG_RUNTIME_DIR": "/run/user/1000", "HOME": "/home/ada"])
        XCTAssertEqual(
            p,
            DaemonPaths(socket: "/run/user/1000/tailor/tailord.sock", stateDirectory: "/home/ada/.local/state/tailor"))
        let q = try DaemonPaths.defaults(
            mode: .user, environment: ["XDG_RUNTIME_DIR": "/run/user/1000", "XDG_STATE_HOME": "/data/state"])
        XCTAssertEqual(q.stateDirectory, "/data/state/tailor")
        // A relative XDG_STATE_HOME is invalid per the XDG spec and ignored.
        let r = try DaemonPaths.defaults(
            mode: .user, environment: ["XDG_RUNTIME_DIR": "/run/user/1000", "XDG_STATE_HOME": "rel", "HOME": "/h"])
        XCTAssertEqual(r.stateDirectory, "/h/.local/state/tailor")
        // No XDG_RUNTIME_DIR (no systemd session): a directory of the user's own under /tmp.
        XCTAssertEqual(
            try DaemonPaths.defaults(mode: .user, environment: ["HOME": "/h"]).socket,
            "/tmp/tailor-\(getuid())/tailord.sock")
    }

    func testSystemMode() throws {
        XCTAssertEqual(
            try DaemonPaths.defaults(mode: .system, environment: [:]),
            DaemonPaths(socket: "/run/tailor/tailord.sock", stateDirectory: "/var/lib/tailor"))
    }

    /// A client with no --socket and no $TAILOR_SOCKET finds the socket each mode's daemon makes.
    func testClientsFindTheSocketTheDaemonMakes() throws {
        let env = ["XDG_RUNTIME_DIR": "/run/user/5", "HOME": "/home/a"]
        XCTAssertEqual(
            SocketLocation.client(flag: nil, environment: env),
            try DaemonPaths.defaults(mode: .user, environment: env).socket)
        XCTAssertEqual(
            SocketLocation.client(flag: nil, environment: [:]),
            try DaemonPaths.defaults(mode: .system, environment: [:]).socket)
    }
}
