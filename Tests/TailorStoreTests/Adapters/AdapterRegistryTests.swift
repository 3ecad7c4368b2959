import Foundation
import Synchronization
import TailorStore
import XCTest

final class AdapterRegistryTests: XCTestCase {
    private var root = ""

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "registry-\(UUID().uuidString.prefix(8))"
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: root) }

    private func template(job: String = "") -> AdapterVersionRecord {
        AdapterVersionRecord(
            baseModelSHA256: String(repeating: "ab", count: 32), baseArchitecture: "llama", rank: 4, alpha: 8,
            useRSLoRA: false, targets: ["q", "v"], jobID: job, metrics: ["rougeL": 0.31])
    }

    private let alice = AdapterKey(owner: 1000, kind: .user, task: "email-subject", user: "alice")
    private let tam = AdapterKey(owner: 1000, kind: .task, task: "email-subject")

    func testVersionsCurrentPointerAndRollback() throws {
        let reg = AdapterRegistry(root: root)
        let v1 = try reg.add(
            alice, record: template(), configJSON: Array("{}".utf8), weights: [1, 2, 3], makeCurrent: false)
        XCTAssertEqual(v1.version, 1)
        // sha256 of 01 02 03
        XCTAssertEqual(v1.sha256, "039058c6f2c0cb492c533b0a4d14ef77cc0f78abccced5287d84a1a2011cfb81")
        XCTAssertEqual(try reg.entry(alice).current, 1)  // the first version becomes current anyway
        let v2 = try reg.add(
            alice, record: template(job: "job-7"), configJSON: Array("{}".utf8), weights: [4, 5], makeCurrent: true)
        XCTAssertEqual(v2.version, 2)
        var e = try reg.entry(alice)
        XCTAssertEqual(e.current, 2)
        XCTAssertEqual(e.versions.map(\.version), [1, 2])
        XCTAssertEqual(e.currentRecord?.jobID, "job-7")
        XCTAssertEqual(e.currentRecord?.metrics["rougeL"], 0.31)
        XCTAssertEqual(try reg.read(alice).weights, [4, 5])
        // Rollback is one call.
        try reg.setCurrent(alice, version: 1)
        e = try reg.entry(alice)
        XCTAssertEqual(e.current, 1)
        XCTAssertEqual(try reg.read(alice).weights, [1, 2, 3])
        XCTAssertThrowsError(try reg.setCurrent(alice, version: 9)) {
            XCTAssertEqual($0 as? AdapterStoreError, .versionNotFound(alice.description, 9))
        }
        // The current version cannot be deleted; another can; then the whole adapter.
        XCTAssertThrowsError(try reg.delete(alice, version: 1)) {
            XCTAssertEqual($0 as? AdapterStoreError, .currentVersionInUse(alice.description, 1))
        }
        try reg.delete(alice, version: 2)
        XCTAssertEqual(try reg.entry(alice).versions.map(\.version), [1])
        _ = try reg.add(tam, record: template(), configJSON: [], weights: [9], makeCurrent: true)
        XCTAssertEqual(reg.list(owner: 1000).map(\.key), [tam, alice])
        XCTAssertEqual(reg.list(owner: 1000, user: "alice").map(\.key), [alice])
        XCTAssertEqual(reg.list(owner: 1001).count, 0)
        try reg.delete(alice)
        XCTAssertThrowsError(try reg.entry(alice)) {
            XCTAssertEqual($0 as? AdapterStoreError, .notFound(alice.description))
        }
        XCTAssertEqual(reg.list().map(\.key), [tam])
    }

    func testTamperedWeightsAreRefusedOnRead() throws {
        let reg = AdapterRegistry(root: root)
        _ = try reg.add(
            alice, record: template(), configJSON: [], weights: Array(repeating: 7, count: 100), makeCurrent: true)
        let path = root + "/1000/user/email-subject/alice/v000001/adapter_model.safetensors"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[50] ^= 1
        try bytes.write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try reg.read(alice)) { e in
            guard case let .corrupt(p, reason)? = e as? AdapterStoreError else { return XCTFail("\(e)") }
            XCTAssertEqual(p, path)
            XCTAssertTrue(reason.contains("sha256"))
        }
    }

    func testGarbageCollectionKeepsTheNewestAndTheCurrent() throws {
        let reg = AdapterRegistry(root: root, keepVersions: 3)
        _ = try reg.add(alice, record: template(), configJSON: [], weights: [1], makeCurrent: true)
        for i in 2...6 {
            _ = try reg.add(alice, record: template(), configJSON: [], weights: [UInt8(i)], makeCurrent: false)
        }
        // v1 stays current; the newest three are kept besides it.
        XCTAssertEqual(try reg.entry(alice).versions.map(\.version), [1, 4, 5, 6])
        XCTAssertEqual(try reg.entry(alice).current, 1)
    }

    func testACrashedWriteLeavesNothingVisibleAndIsCollected() throws {
        let reg = AdapterRegistry(root: root)
        _ = try reg.add(alice, record: template(), configJSON: [], weights: [1], makeCurrent: true)
        // A writer that died mid-version: a private directory with half a file.
        let dir = root + "/1000/user/email-subject/alice"
        let torn = dir + "/.incoming-99999-1"
        try FileManager.default.createDirectory(atPath: torn, withIntermediateDirectories: true)
        try Data([1, 2]).write(to: URL(fileURLWithPath: torn + "/adapter_model.safetensors"))
        XCTAssertEqual(try reg.entry(alice).versions.map(\.version), [1])
        XCTAssertEqual(reg.list().count, 1)
        // Young leftovers may belong to a live writer; old ones are removed.
        try reg.collectGarbage(alice)
        XCTAssertTrue(FileManager.default.fileExists(atPath: torn))
        try reg.collectGarbage(alice, now: Date().addingTimeInterval(3600))
        XCTAssertFalse(FileManager.default.fileExists(atPath: torn))
        // A version directory without its record is not listed, and reading it is an error.
        let v7 = dir + "/v000007"
        try FileManager.default.createDirectory(atPath: v7, withIntermediateDirectories: true)
        XCTAssertEqual(try reg.entry(alice).versions.map(\.version), [1])
        XCTAssertThrowsError(try reg.read(alice, version: 7))
    }

    func testTwoWritersNeverShareAVersionNumber() throws {
        // Two registries over one directory stand for two daemons.
        let a = AdapterRegistry(root: root, keepVersions: 100), b = AdapterRegistry(root: root, keepVersions: 100)
        let key = alice, record = template()
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { w in
            let (reg, tag) = w == 0 ? (a, UInt8(1)) : (b, UInt8(2))
            for i in 0..<20 {
                do {
                    _ = try reg.add(key, record: record, configJSON: [], weights: [tag, UInt8(i)], makeCurrent: true)
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        XCTAssertEqual(failures.withLock { $0 }, [])
        let e = try a.entry(alice)
        XCTAssertEqual(e.versions.map(\.version), Array(1...40))
        var seen = Set<[UInt8]>()
        for v in e.versions { seen.insert(try a.read(alice, version: v.version).weights) }
        XCTAssertEqual(seen.count, 40)  // every version whole and distinct
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: root + "/1000/user/email-subject/alice")
            .filter { $0.hasPrefix(".") }
        XCTAssertEqual(leftovers, [])
    }

    func testPeoplesNamesArePercentEncodedOnDisk() throws {
        let reg = AdapterRegistry(root: root)
        let key = AdapterKey(owner: 5, kind: .user, task: "pep_title", user: "Alyssa Coghlan")
        _ = try reg.add(key, record: template(), configJSON: [], weights: [1], makeCurrent: true)
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/5/user/pep_title/Alyssa%20Coghlan/current"))
        XCTAssertEqual(reg.list(owner: 5).map(\.key), [key])
        XCTAssertEqual(reg.list(owner: 5, user: "Alyssa Coghlan").count, 1)
        XCTAssertEqual(try reg.read(key).weights, [1])
    }

    func testNamesAreCheckedBeforeAnyWrite() {
        let reg = AdapterRegistry(root: root)
        for bad in [
            AdapterKey(owner: 1, kind: .user, task: "../etc", user: "a"),
            AdapterKey(owner: 1, kind: .user, task: "t", user: ""),
            AdapterKey(owner: 1, kind: .user, task: "t", user: "a/../../b"),
            AdapterKey(owner: 1, kind: .user, task: "t", user: "tab\there"),
            AdapterKey(owner: 1, kind: .task, task: "t", user: "bob"),
            AdapterKey(owner: 1, kind: .user, task: ".hidden", user: "a"),
        ] {
            XCTAssertThrowsError(
                try reg.add(bad, record: template(), configJSON: [], weights: [1], makeCurrent: true), "\(bad)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: root))
    }
}
