import Foundation
import TailorStore
import XCTest

final class AtomicFileTests: XCTestCase {
    func testAtomicFileReplacesWholeOrNotAtAll() throws {
        let dir = NSTemporaryDirectory() + "atomic-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/sub/unit.service"
        try AtomicFile.write(Array("one".utf8), to: path, mode: 0o644)
        try AtomicFile.write(Array("two".utf8), to: path, mode: 0o644)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "two")
        XCTAssertEqual(
            (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue, 0o644)
        // A write that cannot happen (the target is a directory) leaves no temporary file.
        try FileManager.default.createDirectory(atPath: dir + "/sub/blocker", withIntermediateDirectories: true)
        XCTAssertThrowsError(try AtomicFile.write([1], to: dir + "/sub/blocker"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir + "/sub").filter {
            $0.contains(".tmp.")
        }
        XCTAssertEqual(leftovers, [])
    }
}
