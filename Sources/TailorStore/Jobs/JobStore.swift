import Foundation
import GRDB

/// A training job as stored: who asked for what, and how far it got.
public struct JobRecord: Sendable, Equatable {
    /// The states a job passes through; the last three are final.
    public enum State: String, Sendable, CaseIterable {
        case queued, running, succeeded, failed, cancelled

        /// No further change.
        public var isFinal: Bool { self == .succeeded || self == .failed || self == .cancelled }
    }

    public var id: String
    public var owner: UInt32
    public var user: String
    public var task: String
    public var kind: String
    /// The base model's sha256 (adapters are published for it).
    public var model: String
    /// The submitted request's parameters, as JSON written by the daemon.
    public var request: String
    public var state: State
    public var stage: String = ""
    public var step = 0
    public var totalSteps = 0
    public var loss: Float = 0
    public var tokensPerSecond: Float = 0
    public var etaSeconds: Float = 0
    public var error = ""
    public var adapterVersion: UInt32 = 0
    /// Times resumed from a checkpoint after a restart.
    public var resumed = 0
    public var createdMS: Int64 = 0
    public var updatedMS: Int64 = 0
    /// Who started it: a client's request, or the daemon's autopilot.
    public var origin: Origin = .request

    /// Who started a job.
    public enum Origin: String, Sendable, CaseIterable {
        /// A client submitted it.
        case request
        /// The autopilot scheduled it; its candidate is promoted only through the gate.
        case autopilot
    }

    /// A new queued job.
    public init(id: String, owner: UInt32, user: String, task: String, kind: String, model: String, request: String) {
        self.id = id
        self.owner = owner
        self.user = user
        self.task = task
        self.kind = kind
        self.model = model
        self.request = request
        state = .queued
    }

    init(row: Row) {
        self.init(
            id: row["id"], owner: UInt32(truncatingIfNeeded: row["owner_uid"] as Int64), user: row["user"],
            task: row["task"],
            kind: row["kind"], model: row["model"], request: row["request"])
        state = State(rawValue: row["state"]) ?? .failed
        stage = row["stage"]
        step = row["step"]
        totalSteps = row["total_steps"]
        loss = Float(row["loss"] as Double)
        tokensPerSecond = Float(row["tokens_per_second"] as Double)
        etaSeconds = Float(row["eta_seconds"] as Double)
        error = row["error"]
        adapterVersion = UInt32(truncatingIfNeeded: row["adapter_version"] as Int64)
        resumed = row["resumed"]
        createdMS = row["created_ms"]
        updatedMS = row["updated_ms"]
        origin = Origin(rawValue: row["origin"]) ?? .request
    }
}

/// Why a job store call failed.
public enum JobStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    case notFound(String)

    public var description: String {
        switch self {
        case let .notFound(id): return "no job '\(id)'"
        }
    }
}

/// Training jobs, in the same SQLite database as the preference data (table `jobs`, migration
/// v3), so a job and the dataset snapshot it used live and die together.
public final class JobStore: Sendable {
    private let pool: DatabasePool

    /// The jobs of `database`.
    public init(_ database: PreferenceStore) { pool = database.pool }

    /// Stores a new job (its times are set now).
    public func create(_ job: JobRecord) throws -> JobRecord {
        var j = job
        j.createdMS = PreferenceStore.now()
        j.updatedMS = j.createdMS
        try pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO jobs (id, owner_uid, user, task, kind, model, request, state, stage, step,
                        total_steps, loss, tokens_per_second, eta_seconds, error, adapter_version, resumed, created_ms,
                        updated_ms, origin)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    j.id, Int64(j.owner), j.user, j.task, j.kind, j.model, j.request, j.state.rawValue, j.stage, j.step,
                    j.totalSteps, Double(j.loss), Double(j.tokensPerSecond), Double(j.etaSeconds), j.error,
                    Int64(j.adapterVersion), j.resumed, j.createdMS, j.updatedMS, j.origin.rawValue,
                ])
        }
        return j
    }

    /// The job `id`.
    public func get(_ id: String) throws -> JobRecord {
        try pool.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM jobs WHERE id = ?", arguments: [id]) else {
                throw JobStoreError.notFound(id)
            }
            return JobRecord(row: row)
        }
    }

    /// Jobs of `owner` (every owner's when nil), optionally one user's or task's or one
    /// origin's, newest first.
    public func list(
        owner: UInt32?, user: String? = nil, task: String? = nil, origin: JobRecord.Origin? = nil
    ) throws -> [JobRecord] {
        try pool.read { db in
            var filters: [String] = [], args: [(any DatabaseValueConvertible)?] = []
            if let owner { filters.append("owner_uid = ?"); args.append(Int64(owner)) }
            if let user { filters.append("user = ?"); args.append(user) }
            if let task { filters.append("task = ?"); args.append(task) }
            if let origin { filters.append("origin = ?"); args.append(origin.rawValue) }
            let sql =
                "SELECT * FROM jobs" + (filters.isEmpty ? "" : " WHERE " + filters.joined(separator: " AND "))
                + " ORDER BY created_ms DESC, id DESC"
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args)).map(JobRecord.init(row:))
        }
    }

    /// Saves `job`'s progress and state (its update time is set now) and returns it.
    @discardableResult
    public func update(_ job: JobRecord) throws -> JobRecord {
        var j = job
        j.updatedMS = PreferenceStore.now()
        try pool.write { db in
            try db.execute(
                sql: """
                    UPDATE jobs SET state = ?, stage = ?, step = ?, total_steps = ?, loss = ?,
                        tokens_per_second = ?, eta_seconds = ?, error = ?, adapter_version = ?, resumed = ?,
                        updated_ms = ?
                    WHERE id = ?
                    """,
                arguments: [
                    j.state.rawValue, j.stage, j.step, j.totalSteps, Double(j.loss), Double(j.tokensPerSecond),
                    Double(j.etaSeconds), j.error, Int64(j.adapterVersion), j.resumed, j.updatedMS, j.id,
                ])
            guard db.changesCount == 1 else { throw JobStoreError.notFound(j.id) }
        }
        return j
    }

    /// Jobs that were queued or running when the daemon stopped, oldest first: what a restart
    /// resumes.
    public func unfinished() throws -> [JobRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM jobs WHERE state IN ('queued', 'running') ORDER BY created_ms, id")
                .map(JobRecord.init(row:))
        }
    }

    /// Deletes every job of (owner, user) ("forget me").
    public func deleteJobs(owner: UInt32, user: String) throws {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM jobs WHERE owner_uid = ? AND user = ?", arguments: [Int64(owner), user])
        }
    }
}
