import Foundation
import Logging
import TailorClient
import TailorEngine
import TailorStore
import TailorTestSupport
import TailorWire
import XCTest

@testable import TailorDaemon

/// An in-process daemon on a temporary socket, serving the committed tiny llama model: what
/// the daemon tests talk to, through TailorClient or raw bytes.
final class DaemonHarness: @unchecked Sendable {
    let directory: String
    let socket: String
    let server: TailorServer
    let models: ModelManager
    let configuration: DaemonConfiguration
    let registry: AdapterRegistry
    let preferences: PreferenceStore
    let components: Daemon.Components
    private var task: Task<Void, any Error>?

    /// The tiny random llama (with a BPE tokenizer) committed for the engine tests.
    static let tinyModel = TestPaths.tinyModel()

    /// Starts a daemon. `policy` defaults to user mode as this process's uid.
    init(
        limits: ConnectionLimits = ConnectionLimits(), shutdownGrace: Duration = .seconds(5),
        policy: AccessPolicy = AccessPolicy(mode: .user, daemonUID: geteuid()), slots: Int = 4,
        listen: ListenTarget? = nil, loadModel: Bool = true, preferenceLimits: PreferenceLimits = PreferenceLimits(),
        directory reused: String? = nil, maxQueuedPerUID: Int? = nil,
        autopilot: AutopilotSettings = AutopilotSettings()
    ) async throws {
        directory = reused ?? NSTemporaryDirectory() + "tailord-test-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        socket = directory + "/s.sock"
        var config = DaemonConfiguration()
        config.generation.slots = slots
        config.generation.contextLength = 256
        config.generation.threads = 1
        config.generation.maxQueuedPerUID = maxQueuedPerUID
        config.limits = limits
        configuration = config
        models = ModelManager(settings: config.generation)
        if loadModel { _ = try await models.load(path: Self.tinyModel, id: "tiny") }
        var sc = TailorServer.Configuration(listen: listen ?? .path(socket), policy: policy)
        sc.limits = limits
        sc.shutdownGrace = shutdownGrace
        var logger = Logger(label: "test")
        logger.logLevel =
            ProcessInfo.processInfo.environment["TAILOR_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        let ready = AsyncStream<Void>.makeStream()
        var withLimits = config
        withLimits.preferences = preferenceLimits
        withLimits.autopilot = autopilot
        components = try Daemon.Components(
            stateDirectory: directory + "/state", configuration: withLimits, models: models, logger: logger)
        registry = components.registry
        preferences = components.preferences
        let base = Daemon.router(models: models, configuration: config, policy: policy, components: components)
        let router = RPCRouter(base.serviceNames.compactMap { base.service(named: $0) } + [HoldService()])
        server = TailorServer(
            configuration: sc, router: router,
            logger: logger,
            onReady: {
                ready.continuation.yield(); ready.continuation.finish()
            })
        let server = self.server
        task = Task { try await server.run() }
        for await _ in ready.stream { break }
    }

    /// A connected Swift client.
    func client() async throws -> TailorClient { try await TailorClient.connect(to: socket, clientName: "harness") }

    /// A raw connection that has done Hello.
    func raw(hello: Bool = true) throws -> RawConnection {
        let c = try RawConnection(path: socket)
        if hello { try c.hello() }
        return c
    }

    /// Stops the daemon as SIGTERM would (cancellation triggers the same graceful path) and
    /// waits for it to exit.
    func stop(keepFiles: Bool = false) async {
        task?.cancel()
        _ = await task?.result
        components.runner.stop()
        await models.unloadAll()
        if !keepFiles { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// Waits until `condition` holds, up to `timeout`; false if it never did.
    static func eventually(_ timeout: Duration = .seconds(10), _ condition: () async -> Bool) async -> Bool {
        let end = ContinuousClock.now + timeout
        while ContinuousClock.now < end {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return await condition()
    }

    /// Open file descriptors of this process.
    static func openFDs() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
    }
}

/// A test-only service whose `Hold` call runs until it is cancelled and `Echo` answers at once:
/// streams that stay open exactly as long as a test wants. `Sink` takes uploads and never
/// reads them, as a slow importer would.
struct HoldService: RPCService {
    let name = "test.Hold"

    func takesUploads(_ method: String) -> Bool { method == "Sink" }

    func handle(_ call: RPCCall, _ writer: RPCWriter) async throws {
        switch call.method {
        case "Hold":
            try await writer.event([1])
            try await Task.sleep(for: .seconds(3600))
        case "Sink":
            try await Task.sleep(for: .seconds(3600))
        case "Echo":
            try await writer.respond(call.payload)
        default:
            throw RPCError(.unimplemented, "no \(call.method)")
        }
    }
}
