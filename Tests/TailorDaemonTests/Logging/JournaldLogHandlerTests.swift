import Foundation
import Logging
import XCTest

@testable import TailorDaemon

final class JournaldLogHandlerTests: XCTestCase {
    func testPriorityPrefixOnlyWhenStderrIsTheJournalStream() throws {
        let path = NSTemporaryDirectory() + "journal-\(UUID().uuidString.prefix(8))"
        FileManager.default.createFile(atPath: path, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fd = open(path, O_RDWR)
        defer { close(fd) }
        var st = stat()
        XCTAssertEqual(fstat(fd, &st), 0)
        let matching = ["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino)"]
        XCTAssertTrue(JournaldLogHandler.stderrIsJournal(environment: matching, fd: fd))
        XCTAssertFalse(
            JournaldLogHandler.stderrIsJournal(environment: ["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino + 1)"], fd: fd)
        )
        XCTAssertFalse(JournaldLogHandler.stderrIsJournal(environment: ["JOURNAL_STREAM": "garbage"], fd: fd))
        XCTAssertFalse(JournaldLogHandler.stderrIsJournal(environment: [:], fd: fd))

        XCTAssertEqual(JournaldLogHandler.priority(.error), 3)
        XCTAssertEqual(JournaldLogHandler.priority(.warning), 4)
        XCTAssertEqual(JournaldLogHandler.priority(.info), 6)
        XCTAssertEqual(JournaldLogHandler.priority(.debug), 7)
        var h = JournaldLogHandler(label: "tailord", environment: [:])
        h[metadataKey: "conn"] = "7"
        let plain = h.format(level: .warning, message: "two\nlines", metadata: ["uid": "1000"])
        XCTAssertTrue(plain.hasSuffix("WARNING tailord: two\\nlines conn=7 uid=1000"), plain)
        XCTAssertFalse(plain.hasPrefix("<"))
    }
}
