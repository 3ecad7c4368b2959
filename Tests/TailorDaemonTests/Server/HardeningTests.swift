import Foundation
import TailorClient
import TailorEngine
import TailorWire
import XCTest

@testable import TailorDaemon

#if canImport(Glibc)
import Glibc
#endif

/// The security review's findings on the protocol socket, each as an attacker would try it:
/// no client can crash the daemon, grow its memory without bound, hold its descriptors, or
/// make another uid's request fail.
final class HardeningTests: XCTestCase {
    /// Bytes a non-blocking-ish sender gets into the socket before the daemon stops taking
    /// them (each send times out after 0.4 s).
    private func bytesAccepted(_ c: RawConnection, frames: [[UInt8]]) -> Int {
        var tv = timeval(tv_sec: 0, tv_usec: 400_000)
        setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var total = 0
        for f in frames {
            let n = c.sent(f)
            total += n
            if n < f.count { break }
        }
        return total
    }

    // MARK: Finding 3: unbounded buffers on one connection

    func testDataFramesOnAMethodWithoutUploadsEndThatStream() async throws {
        let d = try await DaemonHarness(loadModel: false)
        let c = try d.raw()
        try c.send(Frame(streamID: 1, kind: .request(Request(service: "test.Hold", method: "Hold"))))
        guard case .event = try c.read().kind else { return XCTFail("Hold sends one event first") }
        try c.send(Frame(streamID: 1, kind: .data(chunk: [UInt8](repeating: 7, count: 1000), last: false)))
        let s = try c.readStream(1).status
        XCTAssertEqual(s?.code, .invalidArgument)
        XCTAssertTrue(s?.message.contains("takes no Data frames") ?? false, s?.message ?? "")
        // The connection goes on.
        XCTAssertEqual(try c.call(3, "tailor.v1.Health", "Check").status?.code, .ok)
        await d.stop()
    }

    func testRefusalsEchoAtMost128BytesOfTheRequest() async throws {
        let d = try await DaemonHarness(loadModel: false)
        let c = try d.raw()
        let name = String(repeating: "x", count: 100_000)
        let s = try c.call(1, name, "M").status
        XCTAssertEqual(s?.code, .unimplemented)
        XCTAssertLessThan(s?.message.utf8.count ?? .max, 200, "the refusal repeated the whole service name")
        let method = try c.call(3, "tailor.v1.Health", name).status
        XCTAssertEqual(method?.code, .unimplemented)
        XCTAssertLessThan(method?.message.utf8.count ?? .max, 200, "the refusal repeated the whole method name")
        let format = try c.call(
            5, "tailor.v1.Adapters", "Export",
            payload: try ExportAdapterRequest(ref: AdapterRef(task: "t", kind: name), format: name).serialized()
        ).status
        XCTAssertLessThan(format?.message.utf8.count ?? .max, 300, format?.message ?? "")
        await d.stop()
    }

    func testUploadsPastTheBudgetStopTheSocketBeingRead() async throws {
        var limits = ConnectionLimits()
        limits.maxBufferedUploadBytes = 1 << 20
        let d = try await DaemonHarness(limits: limits, loadModel: false)
        let c = try d.raw()
        try c.send(Frame(streamID: 1, kind: .request(Request(service: "test.Hold", method: "Sink"))))
        let chunk = try FrameCodec.encode(
            Frame(streamID: 1, kind: .data(chunk: [UInt8](repeating: 1, count: 1 << 20), last: false)))
        let accepted = bytesAccepted(c, frames: Array(repeating: chunk, count: 64))
        // The budget plus the kernel's socket buffers and one read's worth: far below 64 MiB.
        XCTAssertLessThan(accepted, 12 << 20, "the daemon took \(accepted) bytes of an upload nobody read")
        await d.stop()
    }

    func testAClientThatNeverReadsItsRepliesIsNoLongerRead() async throws {
        var limits = ConnectionLimits()
        limits.maxPendingWriteBytes = 64 << 10
        limits.maxStreams = 1 << 16
        let d = try await DaemonHarness(limits: limits, loadModel: false)
        let c = try d.raw()
        // Requests for an unknown service, each refused at once with a Status: 2 MB of
        // requests ask for some 4 MB of replies, which this client never reads.
        var batch: [UInt8] = []
        var frames: [[UInt8]] = []
        for i in 0..<100_000 {
            batch += try FrameCodec.encode(
                Frame(streamID: UInt32(2 * i + 1), kind: .request(Request(service: "nope", method: "M"))))
            if batch.count > 64 << 10 { frames.append(batch); batch = [] }
        }
        frames.append(batch)
        let total = frames.reduce(0) { $0 + $1.count }
        let accepted = bytesAccepted(c, frames: frames)
        XCTAssertLessThan(
            accepted, total / 2, "the daemon read \(accepted) of \(total) bytes while its replies piled up")
        // Another client is served meanwhile.
        let other = try d.raw()
        XCTAssertEqual(try other.call(1, "tailor.v1.Health", "Check").status?.code, .ok)
        await d.stop()
    }

    // MARK: Finding 5: connection caps and timeouts

    func testConnectionsPerUIDAreCapped() async throws {
        var limits = ConnectionLimits()
        limits.maxConnectionsPerUID = 3
        let d = try await DaemonHarness(limits: limits, loadModel: false)
        var held = try (0..<3).map { _ in try d.raw() }
        let refused = try RawConnection(path: d.socket, timeout: 5)
        let frames = try refused.readUntilClosed()
        XCTAssertEqual(frames.status?.code, .resourceExhausted)
        XCTAssertTrue(frames.status?.message.contains("limit per uid is 3") ?? false, frames.status?.message ?? "")
        // A connection closed frees its place.
        held.removeLast()
        let ok = await DaemonHarness.eventually { d.server.connectionCount == 2 }
        XCTAssertTrue(ok)
        XCTAssertEqual(try d.raw().call(1, "tailor.v1.Health", "Check").status?.code, .ok)
        _ = held
        await d.stop()
    }

    func testAConnectionThatNeverSaysHelloIsClosed() async throws {
        var limits = ConnectionLimits()
        limits.helloTimeout = .milliseconds(300)
        let d = try await DaemonHarness(limits: limits, loadModel: false)
        let silent = try RawConnection(path: d.socket, timeout: 5)
        let started = ContinuousClock.now
        let frames = try silent.readUntilClosed()
        XCTAssertEqual(frames.status?.code, .deadlineExceeded)
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(3))
        await d.stop()
    }

    func testFramesBeforeHelloAreSmall() async throws {
        let d = try await DaemonHarness(loadModel: false)
        let c = try RawConnection(path: d.socket, timeout: 5)
        c.send(bytes: [0x00, 0x10, 0x00, 0x00] + [UInt8](repeating: 0, count: 1000))  // announces 1 MiB
        let frames = try c.readUntilClosed()
        XCTAssertEqual(frames.status?.code, .resourceExhausted)
        await d.stop()
    }

    func testAnIdleConnectionIsClosedWhenConfigured() async throws {
        var limits = ConnectionLimits()
        limits.idleTimeout = .milliseconds(300)
        let d = try await DaemonHarness(limits: limits, loadModel: false)
        let c = try d.raw()
        XCTAssertEqual(try c.call(1, "tailor.v1.Health", "Check").status?.code, .ok)
        let frames = try c.readUntilClosed()
        XCTAssertEqual(frames.status?.code, .unavailable)
        await d.stop()
    }

    func testTheDescriptorLimitIsRaisedToTheHardLimit() throws {
        var limit = rlimit()
        XCTAssertEqual(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit), 0)
        let saved = limit
        defer { var l = saved; setrlimit(Int32(RLIMIT_NOFILE.rawValue), &l) }
        try XCTSkipIf(limit.rlim_max <= 64, "the hard limit leaves no room to lower the soft one")
        limit.rlim_cur = 64
        XCTAssertEqual(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit), 0)
        Daemon.raiseDescriptorLimit(logger: .init(label: "test"))
        var now = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &now)
        XCTAssertEqual(now.rlim_cur, saved.rlim_max)
    }

    // MARK: Finding 6: one uid fills the shared generation queue

    func testOneUIDCannotFillTheQueueAnotherNeeds() async throws {
        let d = try await DaemonHarness(slots: 1, maxQueuedPerUID: 8)
        let loaded = try await d.models.model("tiny", field: "model")
        let request = GenerationRequest(model: "tiny", input: .text("the theme of the"), maxTokens: 200)
        let job = try GenerationStarter.job(for: request, model: loaded.model, contextLength: 256, defaultMaxTokens: 16)
        let greedy = PeerCredentials(pid: 1, uid: 5000, gid: 5000)
        var submitted: [GenerationJob] = []
        var refusal: RPCError?
        for _ in 0..<(loaded.worker.maxQueuedPerUID + 4) {
            let j = GenerationJob(job, caller: greedy)
            do {
                try loaded.worker.submit(j)
                submitted.append(j)
            } catch let e as RPCError {
                refusal = e
                break
            }
        }
        XCTAssertEqual(refusal?.code, .resourceExhausted)
        XCTAssertTrue(refusal?.message.contains("uid 5000") ?? false, refusal?.message ?? "")
        // Another uid's request is still queued.
        let other = GenerationJob(job, caller: PeerCredentials(pid: 2, uid: 5001, gid: 5001))
        XCTAssertNoThrow(try loaded.worker.submit(other))
        for j in submitted + [other] { loaded.worker.cancel(j) }
        await d.stop()
    }

    // MARK: Findings 9, 10, 11 and the Load message

    func testForgetMeLeavesNoTraceOnDiskNorAfterARestart() async throws {
        let marker = "zebra-quartz-marker-5813"
        let d = try await DaemonHarness(loadModel: false)
        let c = try await d.client()
        let items = (0..<50).map {
            Preferences.HistoryItem(
                id: "h\($0)", task: "email", input: "\(marker) input \($0)", output: "\(marker) out")
        }
        _ = try await c.addHistory(items, user: "dave")
        _ = try await c.recordFeedback(
            Preferences.Feedback(requestID: "r", task: "email", prompt: marker, shown: "s", outcome: "rejected"),
            user: "dave")
        _ = try await c.addHistory(
            [Preferences.HistoryItem(id: "k", task: "email", input: "keep me", output: "kept")], user: "erin")
        XCTAssertFalse(
            filesHolding(marker, under: d.directory + "/state").isEmpty,
            "the marker should be on disk before the delete")
        _ = try await c.deleteUser("dave")
        XCTAssertEqual(filesHolding(marker, under: d.directory + "/state"), [])
        await c.close()
        await d.stop(keepFiles: true)
        let again = try await DaemonHarness(loadModel: false, directory: d.directory)
        XCTAssertEqual(filesHolding(marker, under: again.directory + "/state"), [])
        XCTAssertTrue(try again.preferences.hasUser("erin", owner: geteuid()))
        await again.stop()
    }

    /// Files under `root` whose bytes contain `text`.
    private func filesHolding(_ text: String, under root: String) -> [String] {
        let needle = Data(text.utf8)
        var found: [String] = []
        let files = FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? []
        for f in files {
            let path = root + "/" + f
            if let data = FileManager.default.contents(atPath: path), data.range(of: needle) != nil { found.append(f) }
        }
        return found
    }

    func testStateFilesArePrivateWhateverTheUmask() async throws {
        let old = umask(0o022)
        defer { umask(old) }
        let d = try await DaemonHarness(loadModel: false)
        let c = try await d.client()
        _ = try await c.addHistory([Preferences.HistoryItem(id: "a", task: "t", input: "i", output: "o")], user: "u")
        for suffix in ["", "-wal", "-shm"] {
            var st = stat()
            XCTAssertEqual(stat(d.directory + "/state/tailor.sqlite" + suffix, &st), 0, suffix)
            XCTAssertEqual(st.st_mode & 0o777, 0o600, "tailor.sqlite\(suffix)")
        }
        await c.close()
        await d.stop()
    }

    func testGGUFImportsAreStagedInTheStateDirectoryAndErrorsNameNoPath() async throws {
        let d = try await DaemonHarness()
        let c = try await d.client()
        let ref = AdapterRef(user: "dave", task: "email", kind: "user")
        do {
            _ = try await c.importAdapter(
                ImportAdapterRequest(ref: ref, format: "gguf", model: "tiny"), weights: Array("GGUF not really".utf8))
            XCTFail("a damaged GGUF was imported")
        } catch let TailorClientError.status(s) {
            XCTAssertEqual(s.code, .invalidArgument)
            XCTAssertFalse(s.message.contains("/"), "the error names a path: \(s.message)")
        }
        let staged = (try? FileManager.default.contentsOfDirectory(atPath: d.directory + "/state/staging")) ?? []
        XCTAssertEqual(staged, [], "the upload was left behind")
        await c.close()
        await d.stop()
    }

    func testAFloodOfEmptyEntriesIsRefusedBeforeItIsUnpacked() async throws {
        let d = try await DaemonHarness(loadModel: false)
        let c = try d.raw()
        // AddHistoryRequest{user: "u", items: 1.9M empty HistoryItems}: two bytes each.
        var payload: [UInt8] = [0x0A, 0x01, UInt8(ascii: "u")]
        payload.reserveCapacity(4_000_000)
        for _ in 0..<1_900_000 { payload += [0x1A, 0x00] }
        let started = ContinuousClock.now
        let s = try c.call(1, "tailor.v1.Preferences", "AddHistory", payload: payload).status
        XCTAssertEqual(s?.code, .resourceExhausted, s?.message ?? "")
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(5))
        XCTAssertEqual(try c.call(3, "tailor.v1.Health", "Check").status?.code, .ok)
        await d.stop()
    }

    func testLoadingAFileThatIsNotGGUFDoesNotEchoItsBytes() async throws {
        let d = try await DaemonHarness(loadModel: false)
        let secret = d.directory + "/secret"
        try Data("root:$6$secret-hash:19000:0:99999:7:::\n".utf8).write(to: URL(fileURLWithPath: secret))
        let c = try d.raw()
        let s = try c.call(1, "tailor.v1.Models", "Load", payload: try LoadModelRequest(path: secret).serialized())
            .status
        XCTAssertEqual(s?.code, .invalidArgument)
        XCTAssertTrue(s?.message.contains("not a GGUF file") ?? false, s?.message ?? "")
        for leaked in ["72", "6f", "root", "magic"] {
            XCTAssertFalse(
                s?.message.replacingOccurrences(of: d.directory, with: "").contains(leaked) ?? true,
                "\(leaked) in \(s?.message ?? "")")
        }
        await d.stop()
    }
}
