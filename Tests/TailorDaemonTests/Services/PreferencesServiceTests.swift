import Foundation
import TailorClient
import TailorStore
import TailorTestSupport
import TailorWire
import XCTest

@testable import TailorDaemon

/// Preference data through the daemon: writes, feedback, import in every format, listing,
/// export, "forget me", and bad input refused with the record and field named.
final class PreferencesServiceTests: XCTestCase {
    private func status(_ body: () async throws -> Void) async -> Status? {
        do {
            try await body()
            return nil
        } catch let TailorClientError.status(s) {
            return s
        } catch {
            XCTFail("unexpected error \(error)")
            return nil
        }
    }

    private func jsonl(_ range: Range<Int>, prefix: String = "h") -> [UInt8] {
        Array(
            range.map { "{\"id\": \"\(prefix)\($0)\", \"input\": \"input \($0)\", \"output\": \"output \($0)\"}\n" }
                .joined().utf8)
    }

    func testWritesFeedbackListingCountsAndExportRoundTrip() async throws {
        let d = try await DaemonHarness(loadModel: false)
        let c = try await d.client()
        let items = (0..<3).map {
            Preferences.HistoryItem(id: "h\($0)", task: "email", input: "in \($0)", output: "out \($0)")
        }
        let v1 = try await c.addHistory(items, user: "Ada Lovelace")
        XCTAssertEqual(v1, Preferences.WriteResult(history: 3))
        let v2 = try await c.addHistory(items, user: "Ada Lovelace")
        XCTAssertEqual(v2, Preferences.WriteResult(skipped: 3))
        let v3 = try await c.addPairs(
            [Preferences.Pair(id: "p1", task: "email", prompt: "q", chosen: "good", rejected: "bad")],
            user: "Ada Lovelace")
        XCTAssertEqual(
            v3,
            Preferences.WriteResult(pairs: 1))
        let edited = Preferences.Feedback(
            requestID: "req-1", task: "code", prompt: "def f(", shown: "x): pass", kept: "x, y): return x",
            outcome: "edited",
            adapters: "task/code@1,user/Ada Lovelace/code@2", mode: "cope")
        let v4 = try await c.recordFeedback(edited, user: "Ada Lovelace")
        XCTAssertEqual(v4, Preferences.WriteResult(pairs: 1, feedback: 1))
        let accepted = Preferences.Feedback(
            requestID: "req-2", task: "code", prompt: "import ", shown: "os", outcome: "accepted")
        let v5 = try await c.recordFeedback(accepted, user: "Ada Lovelace")
        XCTAssertEqual(v5, Preferences.WriteResult(history: 1, feedback: 1))

        let counts = try await c.countData()
        XCTAssertEqual(
            counts,
            [
                Preferences.Count(
                    user: "Ada Lovelace", ownerUID: geteuid(), task: "code", history: 1, pairs: 1, feedback: 2),
                Preferences.Count(
                    user: "Ada Lovelace", ownerUID: geteuid(), task: "email", history: 3, pairs: 1, feedback: 0),
            ])
        let page = try await c.listData(
            Preferences.ListRequest(user: "Ada Lovelace", task: "email", offset: 1, limit: 1))
        XCTAssertEqual(page.history.map(\.id), ["h1"])
        XCTAssertEqual(page.total, 3)
        let pairs = try await c.listData(Preferences.ListRequest(user: "Ada Lovelace", task: "code", kind: "pairs"))
        XCTAssertEqual(pairs.pairs.first?.chosen, "x, y): return x")
        XCTAssertEqual(pairs.pairs.first?.rejected, "x): pass")
        XCTAssertEqual(pairs.pairs.first?.source, "feedback")
        let events = try await c.listData(Preferences.ListRequest(user: "Ada Lovelace", kind: "feedback"))
        XCTAssertEqual(events.feedback.map(\.mode), ["cope", ""])
        XCTAssertEqual(events.feedback.first?.adapters, "task/code@1,user/Ada Lovelace/code@2")

        // Export → import under another user gives the same data.
        let exported = try await c.exportData(user: "Ada Lovelace")
        XCTAssertEqual(exported.split(separator: UInt8(ascii: "\n")).count, 4 + 2 + 2)
        let copy = try await c.importData(
            Preferences.ImportRequest(user: "copy", task: "", format: "jsonl"), data: exported)
        XCTAssertEqual(copy, Preferences.WriteResult(history: 4, pairs: 2, feedback: 2))
        let copied = try await c.countData(user: "copy")
        XCTAssertEqual(copied.map(\.history), counts.map(\.history))
        XCTAssertEqual(copied.map(\.pairs), counts.map(\.pairs))
        let v6 = try await c.exportData(user: "copy")
        XCTAssertEqual(v6, exported)
        await d.stop()
    }

    func testBadInputIsInvalidArgumentNamingRecordAndFieldAndWritesNothing() async throws {
        var limits = PreferenceLimits()
        limits.maxFieldBytes = 64
        limits.maxItemsPerUser = 5
        let d = try await DaemonHarness(loadModel: false, preferenceLimits: limits)
        let c = try await d.client()
        var items = (0..<3).map { Preferences.HistoryItem(id: "h\($0)", task: "email", input: "in", output: "out") }
        items[1].output = ""
        var s = await status { _ = try await c.addHistory(items, user: "alice") }
        XCTAssertEqual(s?.code, .invalidArgument)
        XCTAssertEqual(s?.field, "items[1].output")
        items[1].output = String(repeating: "x", count: 65)
        s = await status { _ = try await c.addHistory(items, user: "alice") }
        XCTAssertEqual(s?.field, "items[1].output")
        XCTAssertTrue(s?.message.contains("65 bytes; the limit is 64") ?? false, s?.message ?? "")
        items[1].output = "ok"
        items[2].task = "no/slash"
        s = await status { _ = try await c.addHistory(items, user: "alice") }
        XCTAssertEqual(s?.field, "items[2].task")
        s = await status {
            _ = try await c.addPairs(
                [Preferences.Pair(id: "p", task: "t", prompt: "p", chosen: "a", rejected: "b", source: "made-up")],
                user: "alice")
        }
        XCTAssertEqual(s?.field, "pairs[0].source")
        s = await status {
            _ = try await c.recordFeedback(
                Preferences.Feedback(requestID: "r", task: "t", prompt: "p", shown: "s", outcome: "liked"),
                user: "alice")
        }
        XCTAssertEqual(s?.field, "event.outcome")
        s = await status { _ = try await c.addHistory([], user: "bad/user") }
        XCTAssertEqual(s?.field, "user")
        // Unknown users and tasks in queries.
        s = await status { _ = try await c.listData(Preferences.ListRequest(user: "nobody")) }
        XCTAssertEqual(s?.code, .invalidArgument)
        XCTAssertEqual(s?.field, "user")
        s = await status { _ = try await c.deleteUser("nobody") }
        XCTAssertEqual(s?.field, "user")
        // Invalid UTF-8 cannot be built as a Swift String: send the protobuf bytes by hand.
        // AddHistoryRequest{user: "alice", items: [HistoryItem{input: 0xFF, output: "o", task: "t", id: "x"}]}
        let item: [UInt8] = [0x0A, 0x01, 0xFF, 0x12, 0x01, 0x6F, 0x1A, 0x01, 0x74, 0x22, 0x01, 0x78]
        let payload: [UInt8] = [0x0A, 0x05] + Array("alice".utf8) + [0x1A, UInt8(item.count)] + item
        let raw = try d.raw()
        let frames = try raw.call(1, "tailor.v1.Preferences", "AddHistory", payload: payload)
        guard case let .status(st)? = frames.last?.kind else { return XCTFail("no status: \(frames)") }
        XCTAssertEqual(st.code, .invalidArgument)
        XCTAssertEqual(st.field, "items[0].input")
        // The quota: 6 items for a user allowed 5.
        s = await status {
            _ = try await c.importData(
                Preferences.ImportRequest(user: "alice", task: "t", format: "jsonl"), data: self.jsonl(0..<6))
        }
        XCTAssertEqual(s?.code, .resourceExhausted)
        // Nothing of any refused batch was written.
        let v7 = try await c.countData()
        XCTAssertEqual(v7, [])
        await d.stop()
    }

    /// A streamed JSONL import commits every complete batch before a bad line and names the
    /// line; re-importing the fixed file completes it without duplicates.
    func testJSONLImportCommitsWholeBatchesAndNamesTheBadLine() async throws {
        var limits = PreferenceLimits()
        limits.importBatch = 100
        let d = try await DaemonHarness(loadModel: false, preferenceLimits: limits)
        let c = try await d.client()
        var file = jsonl(0..<250)
        file += Array("{\"id\": \"broken\", \"input\": \"i\"}\n".utf8)
        file += jsonl(250..<400)
        let s = await status {
            _ = try await c.importData(
                Preferences.ImportRequest(user: "bob", task: "notes", format: "jsonl"), data: file)
        }
        XCTAssertEqual(s?.code, .invalidArgument)
        XCTAssertEqual(
            s?.message,
            """
            record line 251: field 'output' is missing; lines 1-200 were imported before it (re-importing the \
            fixed file skips them)
            """
        )
        let v8 = try await c.countData(user: "bob").first?.history
        XCTAssertEqual(v8, 200)
        let fixed = jsonl(0..<400)
        let result = try await c.importData(
            Preferences.ImportRequest(user: "bob", task: "notes", format: "jsonl"), data: fixed)
        XCTAssertEqual(result, Preferences.WriteResult(history: 200, skipped: 200))
        let v9 = try await c.countData(user: "bob").first?.history
        XCTAssertEqual(v9, 400)
        let t = await status {
            _ = try await c.importData(
                Preferences.ImportRequest(user: "bob", task: "", format: "per-user"), data: Array("[]".utf8))
        }
        XCTAssertEqual(t?.field, "task")
        let f = await status {
            _ = try await c.importData(Preferences.ImportRequest(user: "bob", task: "x", format: "csv"), data: [])
        }
        XCTAssertEqual(f?.field, "format")
        await d.stop()
    }

    func testLaMPAndPerUserImports() async throws {
        let d = try await DaemonHarness(loadModel: false)
        let c = try await d.client()
        let questions = Array(
            #"[{"id": "110", "input": "Generate a title for: X"}, {"id": "111", "input": "Generate a title for: Y"}]"#
                .utf8)
        let outputs = Array(
            #"{"task": "LaMP_5", "golds": [{"id": "111", "output": "Y!"}, {"id": "110", "output": "X!"}]}"#.utf8)
        let lamp = Preferences.ImportRequest(
            user: "carol", task: "lamp5", format: "lamp", firstFileBytes: UInt64(questions.count))
        let v10 = try await c.importData(lamp, data: questions + outputs)
        XCTAssertEqual(v10, Preferences.WriteResult(history: 2))
        let v11 = try await c.listData(Preferences.ListRequest(user: "carol")).history.map(\.output)
        XCTAssertEqual(v11, ["X!", "Y!"])
        var broken = lamp
        broken.firstFileBytes = 0
        let s = await status { _ = try await c.importData(broken, data: questions + outputs) }
        XCTAssertEqual(s?.field, "first_file_bytes")
        let bad = await status {
            _ = try await c.importData(
                lamp, data: questions + Array(#"{"golds": [{"id": "110", "output": "X!"}]}"#.utf8))
        }
        XCTAssertEqual(bad?.message, "record [1] (id '111'): has no gold output in the outputs file")

        guard let users = TestPaths.shared?.appendingPathComponent("data/pep_title/users.json"),
            FileManager.default.fileExists(atPath: users.path)
        else {
            await d.stop()
            throw XCTSkip("../shared/data is absent: skipping the per-user import of the shared data")
        }
        let data = [UInt8](try Data(contentsOf: users))
        let list = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(data)) as? [[String: Any]])
        let first = "\(list[0]["user_id"]!)"
        let profile = try XCTUnwrap(list[0]["profile"] as? [[String: Any]])
        let req = Preferences.ImportRequest(user: "me", task: "pep_title", format: "per-user", fileUser: first)
        let v12 = try await c.importData(req, data: data).history
        XCTAssertEqual(v12, UInt64(profile.count))
        let v13 = try await c.importData(req, data: data).skipped
        XCTAssertEqual(v13, UInt64(profile.count))
        await d.stop()
    }

    /// "Forget me" removes the user's data and adapters, answers with what went, and leaves
    /// other users alone.
    func testDeleteUserRemovesDataAndAdapters() async throws {
        let d = try await DaemonHarness()
        let c = try await d.client()
        let dir = AdaptersServiceTests.lora.appendingPathComponent("llama-user-peft")
        let config = try String(contentsOf: dir.appendingPathComponent("adapter_config.json"), encoding: .utf8)
        let weights = [UInt8](try Data(contentsOf: dir.appendingPathComponent("adapter_model.safetensors")))
        for task in ["email", "code"] {
            _ = try await c.importAdapter(
                ImportAdapterRequest(
                    ref: AdapterRef(user: "dave", task: task, kind: "user"), format: "peft",
                    peftConfigJSON: config), weights: weights)
        }
        _ = try await c.importAdapter(
            ImportAdapterRequest(
                ref: AdapterRef(user: "erin", task: "email", kind: "user"), format: "peft",
                peftConfigJSON: config), weights: weights)
        _ = try await c.importData(
            Preferences.ImportRequest(user: "dave", task: "email", format: "jsonl"), data: jsonl(0..<10))
        _ = try await c.recordFeedback(
            Preferences.Feedback(requestID: "r", task: "email", prompt: "p", shown: "s", outcome: "rejected"),
            user: "dave")
        _ = try await c.importData(
            Preferences.ImportRequest(user: "erin", task: "email", format: "jsonl"), data: jsonl(0..<3))
        let erased = try await c.deleteUser("dave")
        XCTAssertEqual(erased, Preferences.DeleteUserResult(history: 10, pairs: 0, feedback: 1, adapters: 2))
        let v14 = try await c.adapters().map(\.ref.user)
        XCTAssertEqual(v14, ["erin"])
        let v15 = try await c.countData().map(\.user)
        XCTAssertEqual(v15, ["erin"])
        XCTAssertFalse(try d.preferences.hasUser("dave", owner: geteuid()))
        let again = await status { _ = try await c.deleteUser("dave") }
        XCTAssertEqual(again?.code, .invalidArgument)
        await d.stop()
    }

    /// In system mode a caller reaches only its own uid's users: the service is driven directly
    /// with the credentials of two ordinary uids (the test may run as root, which sees all).
    func testOtherOwnersDataIsOutOfReach() async throws {
        let dir = NSTemporaryDirectory() + "prefs-scope-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try PreferenceStore(path: dir + "/tailor.sqlite")
        let registry = AdapterRegistry(root: dir + "/adapters")
        let service = PreferencesService(
            store: store, registry: registry, cache: AdapterCache(registry: registry),
            policy: AccessPolicy(mode: .system, daemonUID: 999))
        let alice = PeerCredentials(pid: 1, uid: 1000, gid: 1000), bob = PeerCredentials(pid: 2, uid: 1001, gid: 1001)
        let root = PeerCredentials(pid: 3, uid: 0, gid: 0)
        func call(_ method: String, _ payload: [UInt8], as caller: PeerCredentials) async -> (RPCError?, [UInt8]) {
            let writer = CollectingWriter()
            let c = RPCCall(
                method: method, payload: payload, caller: caller, uploads: .none, logger: .init(label: "test"))
            do {
                try await service.handle(c, writer)
                return (nil, writer.responses.last ?? [])
            } catch { return (RPCError(error), []) }
        }
        let item = [Preferences.HistoryItem(id: "a", task: "t", input: "i", output: "o")]
        for who in [alice, bob] {
            let (e, _) = await call(
                "AddHistory", try Preferences.AddHistoryRequest(user: "me", items: item).serialized(), as: who)
            XCTAssertNil(e)
        }
        // Bob's "me" is not Alice's, and neither may name the other's uid.
        let (_, mine) = await call("Count", try Preferences.UserScope(user: "").serializedCount(), as: alice)
        XCTAssertEqual(try Preferences.Count.parse(mine).map(\.ownerUID), [1000])
        let (denied, _) = await call(
            "Count", try Preferences.UserScope(user: "", ownerUID: 1001).serializedCount(), as: alice)
        XCTAssertEqual(denied?.code, .permissionDenied)
        let (write, _) = await call(
            "AddHistory", try Preferences.AddHistoryRequest(user: "x", ownerUID: 1001, items: item).serialized(),
            as: alice)
        XCTAssertEqual(write?.code, .permissionDenied)
        let (erase, _) = await call(
            "DeleteUser", try Preferences.UserScope(user: "me", ownerUID: 1001).serializedDelete(), as: alice)
        XCTAssertEqual(erase?.code, .permissionDenied)
        // Root sees both owners.
        let (_, all) = await call("Count", try Preferences.UserScope(user: "").serializedCount(), as: root)
        XCTAssertEqual(try Preferences.Count.parse(all).map(\.ownerUID), [1000, 1001])
    }
}

/// Collects what a service sends, for tests that call a service without a connection.
final class CollectingWriter: RPCWriter, @unchecked Sendable {
    private let lock = NSLock()
    private var frames: [Frame.Kind] = []

    func send(_ kind: Frame.Kind) async throws { lock.withLock { frames.append(kind) } }

    /// The payloads of the Response frames sent.
    var responses: [[UInt8]] {
        lock.withLock { frames.compactMap { if case let .response(p) = $0 { return p } else { return nil } } }
    }
}
