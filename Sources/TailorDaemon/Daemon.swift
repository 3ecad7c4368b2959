import Foundation
import Logging
import ServiceLifecycle
import TailorEngine
import TailorJobs
import TailorModels
import TailorStore
import TailorWire

/// tailord as a whole: composes the model manager, the services, the server, systemd
/// notification and the watchdog, and runs them under a swift-service-lifecycle group that
/// shuts down gracefully on SIGTERM and SIGINT.
public struct Daemon: Sendable {
    /// What it runs with (a system daemon's per-uid shares filled in).
    public let configuration: DaemonConfiguration
    /// Where it logs.
    public let logger: Logger

    /// A daemon for `configuration`.
    public init(configuration: DaemonConfiguration, logger: Logger) {
        self.configuration = configuration.withModeShares()
        self.logger = logger
    }

    /// What the services share: the adapter registry and its cache, the preference and job
    /// stores, the job runner and the autopilot. Opened once per daemon (and per test harness).
    struct Components: Sendable {
        let registry: AdapterRegistry
        let cache: AdapterCache
        let preferences: PreferenceStore
        let runner: JobRunner
        /// The daemon's own training rounds (its loop runs only as a service of `run()`).
        let autopilot: AutopilotScheduler
        /// Where uploads are staged (inside the state directory).
        let stagingDirectory: String

        /// Opens everything under `stateDirectory`.
        init(stateDirectory: String, configuration: DaemonConfiguration, models: ModelManager, logger: Logger) throws {
            let activity = models.activity
            registry = AdapterRegistry(root: stateDirectory + "/adapters")
            stagingDirectory = stateDirectory + "/staging"
            // Uploads that a crash left half-read are of no use to anyone.
            try? FileManager.default.removeItem(atPath: stagingDirectory)
            cache = AdapterCache(registry: registry)
            let path = stateDirectory + "/tailor.sqlite"
            do {
                preferences = try PreferenceStore(path: path, limits: configuration.preferences)
            } catch {
                throw DaemonError.store(path: path, reason: "\(error)")
            }
            let checkpoints = stateDirectory + "/jobs"
            try FileManager.default.createDirectory(atPath: checkpoints, withIntermediateDirectories: true)
            runner = JobRunner(
                jobs: JobStore(preferences),
                environment: TrainingEnvironment(
                    store: preferences, registry: registry, cache: cache, activity: activity,
                    checkpointDirectory: checkpoints,
                    threads: max(1, configuration.trainingThreads)),
                maxJobs: configuration.maxJobs, maxJobsPerUID: configuration.maxJobsPerUID)
            autopilot = AutopilotScheduler(
                settings: configuration.autopilot, runner: runner, pauses: AutopilotPauses(preferences),
                models: models, logger: logger)
        }
    }

    /// The one generation starter every front end queues through (the Decoding service and
    /// the HTTP endpoint), personalizing from the registry.
    static func starter(
        models: ModelManager, configuration: DaemonConfiguration, policy: AccessPolicy, components c: Components
    )
        -> GenerationStarter
    {
        GenerationStarter(
            models: models, settings: configuration.generation,
            adapters: AdapterResolver(registry: c.registry, cache: c.cache, policy: policy))
    }

    /// The router of a daemon: Health, Models, Decoding, Adapters, Preferences, Jobs and
    /// Autopilot;
    /// `starter` defaults to `starter(...)` of the same arguments.
    static func router(
        models: ModelManager, configuration: DaemonConfiguration, policy: AccessPolicy, components c: Components,
        starter: GenerationStarter? = nil
    ) -> RPCRouter {
        RPCRouter([
            HealthService(models: models, version: tailorVersion),
            ModelsService(models: models, policy: policy),
            DecodingService(
                starter: starter
                    ?? Self.starter(models: models, configuration: configuration, policy: policy, components: c)),
            AdaptersService(
                registry: c.registry, models: models, cache: c.cache, policy: policy,
                stagingDirectory: c.stagingDirectory),
            PreferencesService(
                store: c.preferences, registry: c.registry, cache: c.cache, policy: policy, runner: c.runner),
            JobsService(runner: c.runner, models: models, policy: policy),
            AutopilotService(scheduler: c.autopilot, policy: policy),
        ])
    }

    /// Queues the jobs a previous run left queued or running (those resume from their last
    /// checkpoint); a job whose model is not loaded fails with that reason.
    static func resumeJobs(_ c: Components, models: ModelManager, logger: Logger) async {
        for record in (try? c.runner.jobs.unfinished()) ?? [] {
            var r = record
            do {
                let spec = try JobSpec.decode(record.request)
                let loaded = try await models.model(spec.model, field: "model")
                try c.runner.enqueue(record, spec: spec, model: loaded)
                logger.info(
                    "resuming job",
                    metadata: ["job": "\(record.id)", "stage": "\(record.stage)", "step": "\(record.step)"])
            } catch {
                r.state = .failed
                r.error = "cannot resume after a restart: \((error as? RPCError)?.message ?? "\(error)")"
                _ = try? c.runner.jobs.update(r)
            }
        }
    }

    /// Starts, loads the configured models, serves until SIGTERM/SIGINT, then stops.
    /// - Throws: when the paths, the socket or a configured model cannot be set up; the
    ///   error names what failed.
    public func run() async throws {
        let notifier = SystemdNotifier()
        Self.raiseDescriptorLimit(logger: logger)
        logger.info(
            "kernels",
            metadata: ["openblas": "\(BLASKernels.coreName)", "integer": "\(IntegerKernels.name)"])
        let paths = try configuration.paths()
        let stateMode = configuration.mode == .user ? 0o700 : 0o750
        try FileManager.default.createDirectory(
            atPath: paths.stateDirectory, withIntermediateDirectories: true,
            attributes: [.posixPermissions: stateMode])
        let activated = try SocketActivation.takeListeningSockets()
        let target: ListenTarget = activated.first.map { .activated($0) } ?? .path(paths.socket)

        // Training and scoring contexts take the process's setting; generation's its own.
        if let setting = configuration.generation.prefillPath { PrefillPathSetting.processDefault = setting }
        let models = ModelManager(settings: configuration.generation)
        let components = try Components(
            stateDirectory: paths.stateDirectory, configuration: configuration, models: models, logger: logger)
        let catalog = ModelCatalog()
        for name in configuration.models {
            try? notifier.notify(["STATUS": "loading \(name)"])
            let path: String
            do { path = try catalog.resolve(name) } catch {
                throw DaemonError.modelLoad(path: name, reason: "\(error)")
            }
            do {
                let info = try await models.load(path: path)
                logger.info(
                    "loaded model",
                    metadata: ["model": "\(info.id)", "arch": "\(info.architecture)", "sha256": "\(info.sha256)"])
            } catch let e as RPCError {
                throw DaemonError.modelLoad(path: path, reason: e.message)
            }
        }
        let policy = AccessPolicy(mode: configuration.mode, daemonUID: geteuid())
        let starter = Self.starter(models: models, configuration: configuration, policy: policy, components: components)
        var serverConfig = TailorServer.Configuration(listen: target, policy: policy)
        serverConfig.limits = configuration.limits
        serverConfig.shutdownGrace = configuration.shutdownGrace
        let modelCount = configuration.models.count
        let server = TailorServer(
            configuration: serverConfig,
            router: Self.router(
                models: models, configuration: configuration, policy: policy, components: components,
                starter: starter),
            logger: logger,
            onReady: { try? notifier.notify(["READY": "1", "STATUS": "serving \(modelCount) model(s)"]) },
            onStopping: { try? notifier.notify(["STOPPING": "1", "STATUS": "stopping"]) })
        await Self.resumeJobs(components, models: models, logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: server),
            .init(service: WatchdogService(notifier: notifier), successTerminationBehavior: .ignore),
            .init(service: components.autopilot, successTerminationBehavior: .ignore),
        ]
        if let parent = configuration.parentProcess {
            services.append(
                .init(service: ParentWatch(parent: parent), successTerminationBehavior: .gracefullyShutdownGroup))
        }
        if configuration.http.isEnabled {
            services.append(
                .init(
                    service: try HTTPEndpoint(
                        configuration: configuration.http, policy: policy, starter: starter, models: models,
                        contextLength: configuration.generation.contextLength,
                        limits: configuration.limits, logger: logger)))
        }
        let group = ServiceGroup(
            configuration: .init(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await group.run()
        } catch {
            components.runner.stop()
            await models.unloadAll()
            throw error
        }
        components.runner.stop()
        await models.unloadAll()
    }
}

extension Daemon {
    /// Raises the soft limit on open descriptors to the hard limit and logs both: systemd's
    /// default soft limit (1,024) would let a few hundred idle sockets starve the daemon
    /// before `max_connections` could, and the hard limit is ours to take.
    static func raiseDescriptorLimit(logger: Logger) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        let soft = limit.rlim_cur
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) != 0 { limit.rlim_cur = soft }
        }
        logger.info(
            "open-file limit",
            metadata: ["soft_was": "\(soft)", "soft": "\(limit.rlim_cur)", "hard": "\(limit.rlim_max)"])
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
