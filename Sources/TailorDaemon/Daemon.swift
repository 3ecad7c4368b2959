import Foundation
import Logging
import ServiceLifecycle
import TailorStore
import TailorWire

/// tailord as a whole: composes the model manager, the services, the server, systemd
/// notification and the watchdog, and runs them under a swift-service-lifecycle group that
/// shuts down gracefully on SIGTERM and SIGINT.
public struct Daemon: Sendable {
    /// What it runs with.
    public let configuration: DaemonConfiguration
    /// Where it logs.
    public let logger: Logger

    /// A daemon for `configuration`.
    public init(configuration: DaemonConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// The router of a daemon serving `models` with adapters from `registry` and preference data
    /// from `preferences`: Health, Models, Decoding, Adapters and Preferences, and the services
    /// whose features have not landed answering UNIMPLEMENTED.
    public static func router(models: ModelManager, configuration: DaemonConfiguration, policy: AccessPolicy,
                              registry: AdapterRegistry, preferences: PreferenceStore) -> RPCRouter {
        let cache = AdapterCache(registry: registry)
        return RPCRouter([
            UnimplementedService(name: "tailor.v1.Jobs"),
            HealthService(models: models, version: tailorVersion),
            ModelsService(models: models, policy: policy),
            DecodingService(models: models, settings: configuration.generation,
                            adapters: AdapterResolver(registry: registry, cache: cache, policy: policy)),
            AdaptersService(registry: registry, models: models, cache: cache, policy: policy),
            PreferencesService(store: preferences, registry: registry, cache: cache, policy: policy),
        ])
    }

    /// Starts, loads the configured models, serves until SIGTERM/SIGINT, then stops.
    /// - Throws: when the paths, the socket or a configured model cannot be set up; the
    ///   error names what failed.
    public func run() async throws {
        let notifier = SystemdNotifier()
        let paths = try configuration.paths()
        let stateMode = configuration.mode == .user ? 0o700 : 0o750
        try FileManager.default.createDirectory(atPath: paths.stateDirectory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: stateMode])
        let activated = try SocketActivation.takeListeningSockets()
        let target: ListenTarget = activated.first.map { .activated($0) } ?? .path(paths.socket)

        let preferences: PreferenceStore
        do {
            preferences = try PreferenceStore(path: paths.stateDirectory + "/tailor.sqlite", limits: configuration.preferences)
        } catch {
            throw DaemonError.store(path: paths.stateDirectory + "/tailor.sqlite", reason: "\(error)")
        }
        let models = ModelManager(settings: configuration.generation)
        for path in configuration.models {
            try? notifier.notify(["STATUS": "loading \(path)"])
            do {
                let info = try await models.load(path: path)
                logger.info("loaded model", metadata: ["model": "\(info.id)", "arch": "\(info.architecture)", "sha256": "\(info.sha256)"])
            } catch let e as RPCError {
                throw DaemonError.modelLoad(path: path, reason: e.message)
            }
        }
        let policy = AccessPolicy(mode: configuration.mode, daemonUID: geteuid())
        var serverConfig = TailorServer.Configuration(listen: target, policy: policy)
        serverConfig.limits = configuration.limits
        serverConfig.shutdownGrace = configuration.shutdownGrace
        let modelCount = configuration.models.count
        let server = TailorServer(configuration: serverConfig,
                                  router: Self.router(models: models, configuration: configuration, policy: policy,
                                                      registry: AdapterRegistry(root: paths.stateDirectory + "/adapters"),
                                                      preferences: preferences),
                                  logger: logger,
                                  onReady: { try? notifier.notify(["READY": "1", "STATUS": "serving \(modelCount) model(s)"]) },
                                  onStopping: { try? notifier.notify(["STOPPING": "1", "STATUS": "stopping"]) })
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: server), .init(service: WatchdogService(notifier: notifier), successTerminationBehavior: .ignore)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        do {
            try await group.run()
        } catch {
            await models.unloadAll()
            throw error
        }
        await models.unloadAll()
    }
}

/// Why the daemon could not start.
public enum DaemonError: Error, Equatable, CustomStringConvertible {
    case modelLoad(path: String, reason: String)
    case store(path: String, reason: String)

    public var description: String {
        switch self {
        case let .modelLoad(p, r): return "cannot load model \(p): \(r)"
        case let .store(p, r): return "cannot open the preference database \(p): \(r)"
        }
    }
}
