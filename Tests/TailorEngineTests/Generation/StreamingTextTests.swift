import TailorRandom
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

    /// However the bytes arrive, the stream decodes to what one decode of all of them gives
    /// (U+FFFD per maximal invalid subpart, as Python's and transformers' decoders): a lead
    /// byte followed too soon by another lead must not swallow the character that one starts.
    func testUTF8DecoderStreamsLikeOneWholeDecode() {
        XCTAssertEqual(streamed([0xE3, 0x80, 0xC4, 0xBF], pushes: [4]), "\u{FFFD}\u{013F}")
        var rng = SeededGenerator(seed: 5)
        let alphabet: [UInt8] = [0x41, 0x80, 0x9F, 0xBF, 0xC4, 0xC2, 0xE0, 0xE3, 0xED, 0xF0, 0xF4, 0xFF]
        for _ in 0..<3000 {
            let bytes = (0..<Int.random(in: 1...9, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            let whole = String(decoding: bytes, as: UTF8.self)
            XCTAssertEqual(streamed(bytes, pushes: [bytes.count]), whole, "\(bytes) in one push")
            XCTAssertEqual(
                streamed(bytes, pushes: Array(repeating: 1, count: bytes.count)), whole, "\(bytes) byte by byte")
            let cut = Int.random(in: 0...bytes.count, using: &rng)
            XCTAssertEqual(streamed(bytes, pushes: [cut, bytes.count - cut]), whole, "\(bytes) cut at \(cut)")
        }
    }

    private func streamed(_ bytes: [UInt8], pushes: [Int]) -> String {
        var d = UTF8StreamDecoder()
        var out = "", start = 0
        for n in pushes {
            out += d.push(bytes[start..<(start + n)])
            start += n
        }
        return out + d.flush()
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
