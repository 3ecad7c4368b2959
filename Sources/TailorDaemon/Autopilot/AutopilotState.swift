import Foundation

/// One (owner, user, task) the autopilot looks after.
struct AutopilotKey: Sendable, Hashable {
    var owner: UInt32
    var user: String
    var task: String
}

/// What the autopilot knows about one key at one moment, read from the stores.
struct AutopilotFacts: Sendable, Equatable {
    var key: AutopilotKey
    var paused = false
    /// The user's own items stored since the data the current version (or the last round) saw.
    var pending = 0
    /// History items left to train on once the newest are held back.
    var trainable = 0
    /// The key's unfinished autopilot job.
    var unfinishedJob: String?
    /// When the user's autopilot jobs (of any task) of the last 24 hours were created.
    var recentStarts: [Date] = []
    /// Failed rounds in a row, and when the last one ended.
    var failures = 0
    var lastFailure: Date?
}

/// What the autopilot knows about the machine at the same moment.
struct MachineFacts: Sendable, Equatable {
    var now: Date
    /// Since when no generation has run (nil while one does).
    var idleSince: Date?
    /// true on mains, false on battery, nil unknown.
    var onMains: Bool?
    /// Whether any training job is queued or running (rounds run one at a time, and never
    /// ahead of or behind a client's job).
    var trainingBusy = false
    /// Whether a base model is loaded to train on.
    var modelLoaded = true
}

/// Where one key stands, first reason first: the autopilot starts a round only for `.ready`.
enum AutopilotState: Sendable, Equatable {
    case disabled
    case paused
    case running(job: String)
    case waitingForData(pending: Int, needed: Int)
    case backingOff(until: Date, failures: Int)
    case dailyLimit(until: Date)
    case noModel
    case onBattery
    case waitingForIdle(until: Date?)
    case waitingForOtherJob
    case ready

    /// The state of `facts` on `machine` under `settings`.
    init(_ facts: AutopilotFacts, machine: MachineFacts, settings: AutopilotSettings) {
        let day: TimeInterval = 86_400
        let now = machine.now
        if !settings.enabled {
            self = .disabled
        } else if let job = facts.unfinishedJob {
            self = .running(job: job)
        } else if facts.paused {
            self = .paused
        } else if facts.pending < settings.minNewItems || facts.trainable < 1 {
            self = .waitingForData(pending: facts.pending, needed: settings.minNewItems)
        } else if let last = facts.lastFailure,
            case let until = last.addingTimeInterval(settings.backoff(afterFailures: facts.failures)), until > now
        {
            self = .backingOff(until: until, failures: facts.failures)
        } else if case let recent = facts.recentStarts.filter({ now.timeIntervalSince($0) < day }).sorted(),
            recent.count >= settings.maxJobsPerDay
        {
            self = .dailyLimit(until: recent[recent.count - settings.maxJobsPerDay].addingTimeInterval(day))
        } else if !machine.modelLoaded {
            self = .noModel
        } else if settings.acOnly && machine.onMains == false {
            self = .onBattery
        } else if let idle = machine.idleSince, now.timeIntervalSince(idle) >= settings.idleSeconds {
            self = machine.trainingBusy ? .waitingForOtherJob : .ready
        } else {
            self = .waitingForIdle(until: machine.idleSince?.addingTimeInterval(settings.idleSeconds))
        }
    }

    /// The state's name on the wire and in `tailor autopilot status`.
    var name: String {
        switch self {
        case .disabled: return "disabled"
        case .paused: return "paused"
        case .running: return "running"
        case .waitingForData: return "waiting-for-data"
        case .backingOff: return "backing-off"
        case .dailyLimit: return "daily-limit"
        case .noModel: return "no-model"
        case .onBattery: return "on-battery"
        case .waitingForIdle: return "waiting-for-idle"
        case .waitingForOtherJob: return "waiting-for-other-job"
        case .ready: return "ready"
        }
    }

    /// The state in words.
    var detail: String {
        switch self {
        case .disabled: return "the autopilot is off (autopilot = off in tailord.conf)"
        case .paused: return "paused: `tailor autopilot resume` lets it train again"
        case let .running(job): return "training in job \(job)"
        case let .waitingForData(pending, needed):
            return pending >= needed
                ? "\(pending) new items, but none left to train on once the newest are held back"
                : "\(pending) of \(needed) new items"
        case let .backingOff(_, failures): return "\(failures) failed round\(failures == 1 ? "" : "s") in a row"
        case .dailyLimit: return "reached autopilot_max_jobs_per_day"
        case .noModel: return "no base model is loaded"
        case .onBattery: return "on battery (autopilot_ac_only)"
        case .waitingForIdle: return "waiting for the machine to be idle"
        case .waitingForOtherJob: return "another training job runs first"
        case .ready: return "ready to train"
        }
    }

    /// When the key may next start a round, when that is known.
    var nextEligible: Date? {
        switch self {
        case let .backingOff(until, _), let .dailyLimit(until): return until
        case let .waitingForIdle(until): return until
        default: return nil
        }
    }
}
