import CProtobufC
import TailorWireC

/// The messages of `tailor.v1.Autopilot` (Proto/tailor/v1/autopilot.proto) as plain Swift values.
public enum Autopilot {}

extension Autopilot {
    /// Which (user, task) keys a call is about; empty means every one, owner 0 the caller.
    public struct Scope: Sendable, Equatable {
        public var user: String
        public var task: String
        public var ownerUID: UInt32

        public init(user: String = "", task: String = "", ownerUID: UInt32 = 0) {
            self.user = user
            self.task = task
            self.ownerUID = ownerUID
        }

        static let kind = CMessageKind(
            name: "tailor.v1.AutopilotScope", initialize: tailor__v1__autopilot_scope__init,
            size: tailor__v1__autopilot_scope__get_packed_size, packInto: tailor__v1__autopilot_scope__pack,
            unpack: tailor__v1__autopilot_scope__unpack, free: tailor__v1__autopilot_scope__free_unpacked)

        func fill(_ m: UnsafeMutablePointer<Tailor__V1__AutopilotScope>, _ a: CMessageArena) throws {
            m.pointee.user = try a.cString(user, field: "user")
            m.pointee.task = try a.cString(task, field: "task")
            m.pointee.owner_uid = ownerUID
        }

        init(_ m: Tailor__V1__AutopilotScope, _ r: CMessageReader) throws {
            self.init(
                user: try r.string(m.user, field: "user"), task: try r.string(m.task, field: "task"),
                ownerUID: m.owner_uid)
        }

        /// Serialized `tailor.v1.AutopilotScope`.
        public func serialized() throws -> [UInt8] { try Self.kind.pack { m, a in try fill(m, a) } }

        /// Parses a serialized `tailor.v1.AutopilotScope`.
        public init(serialized bytes: [UInt8]) throws {
            self = try Self.kind.read(bytes) { m, r in try Scope(m, r) }
        }
    }

    /// A key's latest round.
    public struct Run: Sendable, Equatable {
        public var jobID: String
        public var state: String
        public var error = ""
        public var startedUnixMS: UInt64 = 0
        public var updatedUnixMS: UInt64 = 0
        public var candidateVersion: UInt32 = 0
        public var promotion: Promotion?

        public init(jobID: String, state: String) {
            self.jobID = jobID
            self.state = state
        }

        func fill(_ m: UnsafeMutablePointer<Tailor__V1__AutopilotRun>, _ a: CMessageArena) throws {
            tailor__v1__autopilot_run__init(m)
            m.pointee.job_id = try a.cString(jobID, field: "last_run.job_id")
            m.pointee.state = try a.cString(state, field: "last_run.state")
            m.pointee.error = try a.cString(error, field: "last_run.error")
            m.pointee.started_unix_ms = startedUnixMS
            m.pointee.updated_unix_ms = updatedUnixMS
            m.pointee.candidate_version = candidateVersion
            if let promotion {
                let p = a.make(Tailor__V1__Promotion.self)
                try promotion.fill(p, arena: a, field: "last_run.promotion")
                m.pointee.promotion = p
            }
        }

        init(_ m: Tailor__V1__AutopilotRun, _ r: CMessageReader) throws {
            self.init(
                jobID: try r.string(m.job_id, field: "last_run.job_id"),
                state: try r.string(m.state, field: "last_run.state"))
            error = try r.string(m.error, field: "last_run.error")
            startedUnixMS = m.started_unix_ms
            updatedUnixMS = m.updated_unix_ms
            candidateVersion = m.candidate_version
            promotion = try m.promotion.map { try Promotion($0.pointee, reader: r, field: "last_run.promotion") }
        }
    }

    /// Where one (owner, user, task) stands.
    public struct Entry: Sendable, Equatable {
        public var ownerUID: UInt32
        public var user: String
        public var task: String
        /// ready, running, waiting-for-data, … (see autopilot.proto).
        public var state: String
        public var detail = ""
        public var pendingItems: UInt32 = 0
        public var neededItems: UInt32 = 0
        /// When a round may start, when known; 0 otherwise.
        public var nextEligibleUnixMS: UInt64 = 0
        public var paused = false
        /// What π_base is: "task adapter v2" or "base model".
        public var piBase = ""
        public var failures: UInt32 = 0
        public var runsToday: UInt32 = 0
        public var lastRun: Run?

        public init(ownerUID: UInt32, user: String, task: String, state: String) {
            self.ownerUID = ownerUID
            self.user = user
            self.task = task
            self.state = state
        }

        static let kind = CMessageKind(
            name: "tailor.v1.AutopilotEntry", initialize: tailor__v1__autopilot_entry__init,
            size: tailor__v1__autopilot_entry__get_packed_size, packInto: tailor__v1__autopilot_entry__pack,
            unpack: tailor__v1__autopilot_entry__unpack, free: tailor__v1__autopilot_entry__free_unpacked)

        func fill(_ m: UnsafeMutablePointer<Tailor__V1__AutopilotEntry>, _ a: CMessageArena) throws {
            m.pointee.owner_uid = ownerUID
            m.pointee.user = try a.cString(user, field: "user")
            m.pointee.task = try a.cString(task, field: "task")
            m.pointee.state = try a.cString(state, field: "state")
            m.pointee.detail = try a.cString(detail, field: "detail")
            m.pointee.pending_items = pendingItems
            m.pointee.needed_items = neededItems
            m.pointee.next_eligible_unix_ms = nextEligibleUnixMS
            m.pointee.paused = paused ? 1 : 0
            m.pointee.pi_base = try a.cString(piBase, field: "pi_base")
            m.pointee.failures = failures
            m.pointee.runs_today = runsToday
            if let lastRun {
                let run = a.make(Tailor__V1__AutopilotRun.self)
                try lastRun.fill(run, a)
                m.pointee.last_run = run
            }
        }

        init(_ m: Tailor__V1__AutopilotEntry, _ r: CMessageReader) throws {
            self.init(
                ownerUID: m.owner_uid, user: try r.string(m.user, field: "user"),
                task: try r.string(m.task, field: "task"), state: try r.string(m.state, field: "state"))
            detail = try r.string(m.detail, field: "detail")
            pendingItems = m.pending_items
            neededItems = m.needed_items
            nextEligibleUnixMS = m.next_eligible_unix_ms
            paused = m.paused != 0
            piBase = try r.string(m.pi_base, field: "pi_base")
            failures = m.failures
            runsToday = m.runs_today
            lastRun = try m.last_run.map { try Run($0.pointee, r) }
        }
    }

    /// The answer to Status, Pause and Resume.
    public struct Status: Sendable, Equatable {
        public var enabled: Bool
        /// "mains", "battery" or "unknown".
        public var power: String
        public var entries: [Entry]
        public var pauses: [Scope]

        public init(enabled: Bool, power: String, entries: [Entry] = [], pauses: [Scope] = []) {
            self.enabled = enabled
            self.power = power
            self.entries = entries
            self.pauses = pauses
        }

        static let kind = CMessageKind(
            name: "tailor.v1.AutopilotStatus", initialize: tailor__v1__autopilot_status__init,
            size: tailor__v1__autopilot_status__get_packed_size, packInto: tailor__v1__autopilot_status__pack,
            unpack: tailor__v1__autopilot_status__unpack, free: tailor__v1__autopilot_status__free_unpacked)

        /// Serialized `tailor.v1.AutopilotStatus`.
        public func serialized() throws -> [UInt8] {
            try Self.kind.pack { m, a in
                m.pointee.enabled = enabled ? 1 : 0
                m.pointee.power = try a.cString(power, field: "power")
                (m.pointee.n_entries, m.pointee.entries) = try a.list(entries, Entry.kind) { e, c in try e.fill(c, a) }
                (m.pointee.n_pauses, m.pointee.pauses) = try a.list(pauses, Scope.kind) { p, c in try p.fill(c, a) }
            }
        }

        /// Parses a serialized `tailor.v1.AutopilotStatus`.
        public init(serialized bytes: [UInt8]) throws {
            self = try Self.kind.read(bytes) { m, r in
                Status(
                    enabled: m.enabled != 0, power: try r.string(m.power, field: "power"),
                    entries: try r.list(m.entries, count: m.n_entries, field: "entries") { try Entry($0, r) },
                    pauses: try r.list(m.pauses, count: m.n_pauses, field: "pauses") { try Scope($0, r) })
            }
        }
    }
}
