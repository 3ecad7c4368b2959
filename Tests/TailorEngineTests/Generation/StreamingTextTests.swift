import XCTest

@testable import TailorEngine

final class StreamingTextTests: XCTestCase {
    func testUTF8DecoderNeverEmitsPartialCharacters() {
        let text = "aé€😀中"
        let bytes = Array(text.utf8)
        // Every split of the byte stream into two pushes gives complete characters only.
        for cut in 0...bytes.count {
            var d = UTF8StreamDecoder()
            let a = d.push(bytes[0..<cut]), b = d.push(bytes[cut...])
            XCTAssertEqual(a + b + d.flush(), text)
            XCTAssertFalse(a.unicodeScalars.contains("\u{FFFD}"), "cut \(cut)")
            XCTAssertTrue(text.hasPrefix(a))
        }
        // Byte by byte.
        var d = UTF8StreamDecoder()
        var out = ""
        for b in bytes { out += d.push([b]) }
        XCTAssertEqual(out, text)
        XCTAssertFalse(d.hasPending)
    }

    func testUTF8DecoderReplacesInvalidBytes() {
        var d = UTF8StreamDecoder()
        XCTAssertEqual(d.push([0x61, 0xFF, 0x62]), "a\u{FFFD}b")
        XCTAssertEqual(d.push([0xE2, 0x82]), "")  // may still complete
        XCTAssertEqual(d.push([0x41]), "\u{FFFD}A")  // could not
        XCTAssertEqual(d.push([0xF0, 0x9F]), "")
        XCTAssertEqual(d.flush(), "\u{FFFD}")  // ended mid-character
    }

    func testStopStringsCutAndHoldBack() {
        var m = StopStringMatcher(["</end>", "STOP"])
        var r = m.feed("hello </")
        XCTAssertEqual(r.emit, "hello ")  // "</" may begin "</end>": held back
        XCTAssertFalse(r.stopped)
        r = m.feed("en")
        XCTAssertEqual(r.emit, "")
        r = m.feed("d> never shown")
        XCTAssertEqual(r.emit, "")
        XCTAssertTrue(r.stopped)

        var n = StopStringMatcher(["STOP"])
        XCTAssertEqual(n.feed("ST").emit, "")
        XCTAssertEqual(n.feed("ART").emit, "START")  // a near miss is released
        XCTAssertEqual(n.feed("a ST").emit, "a ")
        XCTAssertEqual(n.flush(), "ST")  // released when generation ends otherwise

        var none = StopStringMatcher([])
        XCTAssertEqual(none.feed("</end>").emit, "</end>")
    }
}
