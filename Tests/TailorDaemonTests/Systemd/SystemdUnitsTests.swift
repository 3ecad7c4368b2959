import Foundation
import TailorTestSupport
import XCTest

@testable import TailorDaemon

final class SystemdUnitsTests: XCTestCase {
    /// systemd/ in the repository is what SystemdUnits renders: packagers and `tailor daemon
    /// install` ship the same units.
    func testCommittedUnitsMatchTheRenderedOnes() throws {
        for mode in DaemonMode.allCases {
            for unit in SystemdUnits.units(mode: mode) {
                let path = TestPaths.packageRoot.appendingPathComponent("systemd/\(mode.rawValue)/\(unit.name)").path
                let committed = try String(contentsOfFile: path, encoding: .utf8)
                XCTAssertEqual(
                    committed, unit.text,
                    """
                    \(path) differs; regenerate with `tailor daemon units --mode \(mode.rawValue) --output \
                    systemd/\(mode.rawValue)`
                    """
                )
            }
        }
    }

    func testUnitsCarryWhatTheIssueAsksFor() {
        let user = Dictionary(uniqueKeysWithValues: SystemdUnits.units(mode: .user).map { ($0.name, $0.text) })
        XCTAssertTrue(user["tailord.socket"]!.contains("ListenStream=%t/tailor/tailord.sock"))
        XCTAssertTrue(user["tailord.socket"]!.contains("SocketMode=0600"))
        let service = user["tailord.service"]!
        for line in [
            "Type=notify", "ProtectSystem=strict", "PrivateTmp=yes", "NoNewPrivileges=yes",
            "RestrictAddressFamilies=AF_UNIX", "SystemCallFilter=@system-service", "WatchdogSec=",
        ] {
            XCTAssertTrue(service.contains(line), line)
        }
        let system = Dictionary(uniqueKeysWithValues: SystemdUnits.units(mode: .system).map { ($0.name, $0.text) })
        XCTAssertTrue(system["tailord.socket"]!.contains("ListenStream=/run/tailor/tailord.sock"))
        XCTAssertTrue(system["tailord.socket"]!.contains("SocketGroup=tailor"))
        XCTAssertTrue(system["tailord.socket"]!.contains("SocketMode=0660"))
        XCTAssertTrue(system["tailord.service"]!.contains("StateDirectory=tailor"))
        XCTAssertTrue(system["tailord.service"]!.contains("--mode system"))
        XCTAssertTrue(system["sysusers.d/tailor.conf"]!.contains("u tailor -:tailor"))
    }
}
