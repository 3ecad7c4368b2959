import Foundation
import TailorTestSupport
import XCTest

/// `tailor run` with no prompt on a terminal (a pseudo-terminal from script(1)): an
/// interactive chat whose lines can be edited and recalled with the arrows, kept in a history
/// file, ended by /bye.
final class ChatCLITests: DaemonTestCase {
    func testInteractiveChatEditsRecallsAndRemembers() throws {
        let script = "/usr/bin/script"
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: script), "script(1) is not installed")
        let state = dir + "/state"
        let keys = dir + "/keys.sh"
        // Typed with pauses, as a person types: a line with a typo fixed by backspace, a
        // reply, then the up arrow to recall it, then /bye.
        try """
        sleep 0.5; printf 'the themx\\177e\\r'; sleep 2; printf '\\033[A\\r'; sleep 2; printf '/bye\\r'
        """.write(toFile: keys, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        let run = "\(BuiltProducts.tailor.path) run --model \(TestPaths.tinyModel()) -n 4 -t 1"
        p.arguments = ["-c", "sh \(keys) | \(script) -qfec '\(run)' /dev/null"]
        p.environment = ProcessInfo.processInfo.environment.merging(["XDG_STATE_HOME": state]) { $1 }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("chat with llama"), text)
        // The line as edited, twice (typed, then recalled), each followed by a reply.
        XCTAssertEqual(text.components(separatedBy: ">>> the theme\r\n").count - 1, 2, text)
        XCTAssertEqual(
            try String(contentsOfFile: state + "/tailor/chat_history", encoding: .utf8), "the theme\n/bye\n")
    }
}
