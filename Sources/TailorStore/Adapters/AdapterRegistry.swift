import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The on-disk registry of LoRA adapters: owners → adapters (kind, task, user) → immutable
/// versions, with a "current" pointer per adapter.
///
/// Layout under `root` (the daemon's `<state>/adapters`):
///
///     <owner uid>/<kind>/<task>/<user, percent-encoded, or _>/
///         current                      the current version number, replaced atomically
///         v000001/                     one immutable version
///             adapter_config.json      PEFT config
///             adapter_model.safetensors
///             version.json             AdapterVersionRecord, with the weights' sha256
///
/// Crash and race safety come from the file system, not from locks, so two daemons (or a
/// daemon and a CLI) may share a state directory:
/// - a version is written into a private `.incoming-*` directory, every file fsynced, then
///   renamed into place; rename(2) refuses an existing non-empty target, so two writers never
///   claim one number (the loser takes the next), and a crash leaves only an `.incoming-*`
///   directory that listings ignore and garbage collection removes;
/// - `current` is replaced with `AtomicFile` (temp, fsync, rename, directory fsync);
/// - a deleted adapter is first renamed away, so it disappears at once and whole;
/// - every read re-hashes the weights against the recorded sha256.
public final class AdapterRegistry: Sendable {
    /// The registry's directory.
    public let root: String
    /// Versions kept per adapter by garbage collection (the current one is always kept).
    public let keepVersions: Int

    /// A registry rooted at `root` (created on first write).
    public init(root: String, keepVersions: Int = 5) {
        self.root = root
        self.keepVersions = max(1, keepVersions)
    }

    static let configFile = "adapter_config.json"
    static let weightsFile = "adapter_model.safetensors"
    static let recordFile = "version.json"
    static let promotionFile = "promotion.json"

    func directory(_ key: AdapterKey) -> String {
        """
        \(root)/\(key.owner)/\(key.kind.rawValue)/\(key.task)/\
        \(key.kind == .task ? "_" : AdapterKey.pathComponent(key.user))
        """
    }

    static func versionName(_ v: UInt32) -> String {
        let digits = String(v)
        return "v" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
    }

    // MARK: Writing

    /// Stores a new version of `key` and returns its record (number, hash, size, time filled).
    /// It becomes current when `makeCurrent` is set or the adapter had no current version,
    /// unless it is a `candidate`: the autopilot's versions wait for their gate, and an adapter
    /// whose only versions are candidates has the current pointer 0 ("none"), so nothing
    /// decodes with them until `setCurrent`. Old versions beyond `keepVersions` are then
    /// collected.
    /// - Throws: `AdapterStoreError`; on any error the registry is unchanged.
    @discardableResult
    public func add(
        _ key: AdapterKey, record template: AdapterVersionRecord, configJSON: [UInt8], weights: [UInt8],
        makeCurrent: Bool, candidate: Bool = false, now: Date = Date()
    ) throws -> AdapterVersionRecord {
        try key.validate()
        let dir = directory(key)
        try makeDirectories(dir)
        var record = template
        record.sha256 = SHA256.hash(data: weights).map { String(format: "%02x", $0) }.joined()
        record.bytes = UInt64(weights.count)
        record.createdUnixMS = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        let incoming = dir + "/.incoming-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard mkdir(incoming, 0o700) == 0 else {
            throw AdapterStoreError.io("cannot create \(incoming): \(String(cString: strerror(errno)))")
        }
        var placed = false
        defer { if !placed { try? FileManager.default.removeItem(atPath: incoming) } }
        try Self.writeSynced(configJSON, to: incoming + "/" + Self.configFile)
        try Self.writeSynced(weights, to: incoming + "/" + Self.weightsFile)
        // The number goes into version.json, so the record is rewritten if the number is lost
        // to a concurrent writer.
        var attempt = (try versionNumbers(dir).max() ?? 0) + 1
        while true {
            record.version = attempt
            unlink(incoming + "/" + Self.recordFile)  // the previous attempt's number
            try Self.writeSynced(Array(try JSONEncoder.sorted.encode(record)), to: incoming + "/" + Self.recordFile)
            Self.fsyncPath(incoming)
            if rename(incoming, dir + "/" + Self.versionName(attempt)) == 0 { break }
            guard errno == EEXIST || errno == ENOTEMPTY else {
                throw AdapterStoreError.io(
                    "cannot place version \(attempt) of \(key): \(String(cString: strerror(errno)))")
            }
            attempt += 1
        }
        placed = true
        Self.fsyncPath(dir)
        if candidate {
            if currentVersion(dir) == nil { try writeCurrent(dir, 0) }
        } else if makeCurrent || currentVersion(dir) == nil || currentVersion(dir) == 0 {
            try writeCurrent(dir, attempt)
        }
        _ = try? collectGarbage(key)
        return record
    }

    /// Makes `version` the current one (a rollback, or a roll forward).
    public func setCurrent(_ key: AdapterKey, version: UInt32) throws {
        try key.validate()
        let dir = directory(key)
        guard FileManager.default.fileExists(atPath: dir) else { throw AdapterStoreError.notFound(key.description) }
        guard try versionNumbers(dir).contains(version) else {
            throw AdapterStoreError.versionNotFound(key.description, version)
        }
        try writeCurrent(dir, version)
    }

    /// Deletes one version (not the current one), or with `version` nil the whole adapter.
    public func delete(_ key: AdapterKey, version: UInt32? = nil) throws {
        try key.validate()
        let dir = directory(key)
        guard FileManager.default.fileExists(atPath: dir) else { throw AdapterStoreError.notFound(key.description) }
        let victim: String
        if let version {
            guard try versionNumbers(dir).contains(version) else {
                throw AdapterStoreError.versionNotFound(key.description, version)
            }
            guard currentVersion(dir) != version else {
                throw AdapterStoreError.currentVersionInUse(key.description, version)
            }
            victim = dir + "/" + Self.versionName(version)
        } else {
            victim = dir
        }
        // Rename first: readers see the version (or adapter) vanish whole, never half-deleted.
        let parent = (victim as NSString).deletingLastPathComponent
        let grave = parent + "/.deleted-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard rename(victim, grave) == 0 else {
            throw AdapterStoreError.io("cannot delete \(victim): \(String(cString: strerror(errno)))")
        }
        Self.fsyncPath(parent)
        try? FileManager.default.removeItem(atPath: grave)
    }

    /// Removes versions beyond the newest `keepVersions` (never the current one, nor the newest
    /// version of each stage up to it, which the decoding modes serve), and the
    /// leftovers of crashed writers: `.incoming-*` and `.deleted-*` directories older than a
    /// minute (younger ones may belong to a writer still at work). Returns the versions removed.
    @discardableResult
    public func collectGarbage(_ key: AdapterKey, now: Date = Date()) throws -> [UInt32] {
        let dir = directory(key)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        for name in names where name.hasPrefix(".incoming-") || name.hasPrefix(".deleted-") {
            let path = dir + "/" + name
            if let m = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                now.timeIntervalSince(m) > 60
            {
                try? FileManager.default.removeItem(atPath: path)
            }
        }
        let current = currentVersion(dir)
        let versions = try versionNumbers(dir).sorted()
        // What the decoding modes serve (a DPO current version's OPPU version serves `oppu`).
        let served =
            (try? entry(key)).map { e in Set(e.versions.map(\.stage)).compactMap { e.newest(stage: $0) } } ?? []
        let doomed = versions.dropLast(keepVersions).filter { $0 != current && !served.contains($0) }
        for v in doomed { try? delete(key, version: v) }
        return Array(doomed)
    }

    // MARK: Reading

    /// An adapter's versions and current pointer.
    public func entry(_ key: AdapterKey) throws -> AdapterEntry {
        try key.validate()
        let dir = directory(key)
        guard FileManager.default.fileExists(atPath: dir) else { throw AdapterStoreError.notFound(key.description) }
        let records = try versionNumbers(dir).sorted().compactMap { try? readRecord(dir, $0) }
        guard !records.isEmpty else { throw AdapterStoreError.notFound(key.description) }
        return AdapterEntry(key: key, current: currentVersion(dir) ?? records.last!.version, versions: records)
    }

    /// The current version of `key`: one small file read, for the per-request lookup.
    /// - Throws: `AdapterStoreError.notFound` when the adapter does not exist, or when none of
    ///   its versions is current (only rejected candidates).
    public func currentVersion(of key: AdapterKey) throws -> UInt32 {
        try key.validate()
        let dir = directory(key)
        let v = try currentVersion(dir) ?? entry(key).current
        guard v != 0 else { throw AdapterStoreError.notFound(key.description) }
        return v
    }

    /// Records the autopilot's verdict on `version` beside it (`promotion.json`, written
    /// atomically; the version's own files stay as they were). Recording it again replaces it.
    public func recordPromotion(_ key: AdapterKey, version: UInt32, _ promotion: PromotionRecord) throws {
        try key.validate()
        let vdir = directory(key) + "/" + Self.versionName(version)
        guard FileManager.default.fileExists(atPath: vdir) else {
            throw AdapterStoreError.versionNotFound(key.description, version)
        }
        do {
            try AtomicFile.write(
                Array(try JSONEncoder.sorted.encode(promotion)), to: vdir + "/" + Self.promotionFile, mode: 0o600)
        } catch {
            throw AdapterStoreError.io("cannot record the promotion of \(key) v\(version): \(error)")
        }
    }

    /// Every adapter, optionally only `owner`'s, only for `task`, only `user`'s.
    public func list(owner: UInt32? = nil, task: String? = nil, user: String? = nil) -> [AdapterEntry] {
        let fm = FileManager.default
        var out: [AdapterEntry] = []
        for ownerName in (try? fm.contentsOfDirectory(atPath: root)) ?? [] {
            guard let uid = UInt32(ownerName), owner == nil || owner == uid else { continue }
            for kind in AdapterKind.allCases {
                let kindDir = "\(root)/\(ownerName)/\(kind.rawValue)"
                for t in (try? fm.contentsOfDirectory(atPath: kindDir)) ?? [] where task == nil || task == t {
                    for u in (try? fm.contentsOfDirectory(atPath: kindDir + "/" + t)) ?? [] where !u.hasPrefix(".") {
                        if kind == .task && u != "_" { continue }
                        guard let name = kind == .task ? "" : AdapterKey.name(fromPathComponent: u) else { continue }
                        if let user, !user.isEmpty, name != user { continue }
                        if let e = try? entry(AdapterKey(owner: uid, kind: kind, task: t, user: name)) { out.append(e) }
                    }
                }
            }
        }
        return out.sorted {
            ($0.key.owner, $0.key.task, $0.key.kind.rawValue, $0.key.user) < (
                $1.key.owner, $1.key.task, $1.key.kind.rawValue, $1.key.user
            )
        }
    }

    /// A version's record, config and weights (the current one when `version` is nil), with
    /// the weights checked against the recorded sha256.
    /// - Throws: `AdapterStoreError.corrupt` when a file is missing, unreadable or altered.
    public func read(
        _ key: AdapterKey, version: UInt32? = nil
    ) throws -> (record: AdapterVersionRecord, configJSON: [UInt8], weights: [UInt8]) {
        let e = try entry(key)
        let v = version ?? e.current
        guard let record = e.versions.first(where: { $0.version == v }) else {
            throw AdapterStoreError.versionNotFound(key.description, v)
        }
        let vdir = directory(key) + "/" + Self.versionName(v)
        guard let weights = FileManager.default.contents(atPath: vdir + "/" + Self.weightsFile),
            let config = FileManager.default.contents(atPath: vdir + "/" + Self.configFile)
        else {
            throw AdapterStoreError.corrupt(path: vdir, reason: "a file is missing")
        }
        let digest = SHA256.hash(data: weights).map { String(format: "%02x", $0) }.joined()
        guard digest == record.sha256 else {
            throw AdapterStoreError.corrupt(
                path: vdir + "/" + Self.weightsFile,
                reason: "sha256 \(digest) does not match the recorded \(record.sha256)")
        }
        return (record, Array(config), Array(weights))
    }

    // MARK: Helpers

    private func versionNumbers(_ dir: String) throws -> [UInt32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).compactMap { name in
            guard name.count == 7, name.hasPrefix("v") else { return nil }
            return UInt32(name.dropFirst())
        }
    }

    private func readRecord(_ dir: String, _ v: UInt32) throws -> AdapterVersionRecord {
        let path = dir + "/" + Self.versionName(v) + "/" + Self.recordFile
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AdapterStoreError.corrupt(path: path, reason: "missing")
        }
        do {
            let r = try JSONDecoder().decode(AdapterVersionRecord.self, from: data)
            guard r.version == v else {
                throw AdapterStoreError.corrupt(path: path, reason: "records version \(r.version)")
            }
            var record = r
            let verdict = dir + "/" + Self.versionName(v) + "/" + Self.promotionFile
            if let data = FileManager.default.contents(atPath: verdict) {
                record.promotion = try? JSONDecoder().decode(PromotionRecord.self, from: data)
            }
            return record
        } catch let e as AdapterStoreError {
            throw e
        } catch {
            throw AdapterStoreError.corrupt(path: path, reason: "\(error)")
        }
    }

    private func currentVersion(_ dir: String) -> UInt32? {
        guard let data = FileManager.default.contents(atPath: dir + "/current"),
            let text = String(data: data, encoding: .utf8)
        else { return nil }
        return UInt32(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    private func writeCurrent(_ dir: String, _ v: UInt32) throws {
        do { try AtomicFile.write(Array("\(v)\n".utf8), to: dir + "/current", mode: 0o600) } catch {
            throw AdapterStoreError.io("\(error)")
        }
    }

    private func makeDirectories(_ dir: String) throws {
        do {
            try FileManager.default.createDirectory(
                atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw AdapterStoreError.io("cannot create \(dir): \(error)")
        }
    }

    /// Writes a new file and fsyncs it (inside a private directory, so no temp name is needed).
    static func writeSynced(_ bytes: [UInt8], to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AdapterStoreError.io("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, bytes.count - off) }
            if n < 0 {
                if errno == EINTR { continue };
                throw AdapterStoreError.io("cannot write \(path): \(String(cString: strerror(errno)))")
            }
            off += n
        }
        guard fsync(fd) == 0 else {
            throw AdapterStoreError.io("cannot fsync \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func fsyncPath(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }
}

extension JSONEncoder {
    /// Stable output, so identical records are identical bytes.
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }
}
