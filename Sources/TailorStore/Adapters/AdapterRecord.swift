import Foundation

/// Which adapter: a task adapter (TAM) shared by a task, or one person's adapter for a task.
public enum AdapterKind: String, Sendable, Codable, CaseIterable {
    /// Trained on other users' data for the task; `user` is empty.
    case task
    /// One user's adapter (OPPU, then DPO), applied on top of the task adapter.
    case user
}

/// The name of an adapter in the registry: who owns it (a uid), whose it is, for which task.
public struct AdapterKey: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The uid owning it: callers see only their own (root and the daemon see all).
    public var owner: UInt32
    /// Task or user adapter.
    public var kind: AdapterKind
    /// The task's name.
    public var task: String
    /// The personalization user's name; empty for task adapters.
    public var user: String

    /// A key; `validate()` checks the names.
    public init(owner: UInt32, kind: AdapterKind, task: String, user: String = "") {
        self.owner = owner
        self.kind = kind
        self.task = task
        self.user = user
    }

    /// Checks that names are safe path components and that kind and user agree.
    /// - Throws: `AdapterStoreError.invalidName` naming the field.
    public func validate() throws {
        guard Self.isValidName(task) else { throw AdapterStoreError.invalidName(field: "task", value: task) }
        switch kind {
        case .task: guard user.isEmpty else { throw AdapterStoreError.invalidName(field: "user", value: user) }
        case .user:
            guard Self.isValidUserName(user) else { throw AdapterStoreError.invalidName(field: "user", value: user) }
        }
    }

    /// 1–64 characters of letters, digits, '.', '_' and '-', not starting with '.'.
    public static func isValidName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 64 && s.first != "." && s.utf8.allSatisfy(isNameByte)
    }

    /// ASCII letters, digits, '.', '_' and '-': the bytes that are safe in names and file
    /// names everywhere (task names, model ids, path components).
    public static func isNameByte(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2E || c == 0x5F
            || c == 0x2D
    }

    /// A personalization user's name: 1–64 bytes of printable UTF-8 without '/', not starting
    /// with '.' (people's names have spaces: "Alyssa Coghlan"). On disk it is percent-encoded.
    public static func isValidUserName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 64 && s.first != "." && !s.contains("/")
            && s.unicodeScalars.allSatisfy { !CharacterSet.controlCharacters.contains($0) }
    }

    /// `name` as one safe path component: bytes outside [A-Za-z0-9._-] become %XX.
    public static func pathComponent(_ name: String) -> String {
        var out = ""
        for b in name.utf8 {
            if isNameByte(b) {
                out.append(Character(Unicode.Scalar(b)))
            } else {
                out += String(format: "%%%02X", b)
            }
        }
        return out
    }

    /// The name a `pathComponent` stands for, or nil if it is not one.
    static func name(fromPathComponent c: String) -> String? {
        var bytes: [UInt8] = []
        var i = c.utf8.makeIterator()
        while let b = i.next() {
            if b == UInt8(ascii: "%") {
                guard let h = i.next(), let l = i.next(),
                    let v = UInt8(String(decoding: [h, l], as: UTF8.self), radix: 16)
                else { return nil }
                bytes.append(v)
            } else {
                bytes.append(b)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    public var description: String { kind == .task ? "task/\(task)" : "user/\(user)/\(task)" }
}

/// One immutable version of an adapter, as recorded beside its files.
public struct AdapterVersionRecord: Sendable, Equatable, Codable {
    /// 1, 2, 3, … per adapter.
    public var version: UInt32
    /// sha256 of the base model's GGUF file it was made for.
    public var baseModelSHA256: String
    /// The base model's architecture.
    public var baseArchitecture: String
    /// LoRA rank r.
    public var rank: Int
    /// lora_alpha.
    public var alpha: Float
    /// Whether the scale is alpha/√r.
    public var useRSLoRA: Bool
    /// Projections adapted: q, k, v, o, gate, up, down.
    public var targets: [String]
    /// Creation time, milliseconds since 1970.
    public var createdUnixMS: UInt64
    /// The training job that made it; empty for imports.
    public var jobID: String
    /// The training stage that made it (tam, oppu, dpo); nil for imports and older records.
    /// Decoding modes pick versions by it: `oppu`/`cd-only` the newest OPPU version,
    /// `dpo-only`/`cope` the newest DPO version.
    public var stage: String?
    /// Metrics of that job (e.g. eval ROUGE-L).
    public var metrics: [String: Double]
    /// sha256 of `adapter_model.safetensors`, checked whenever the version is read.
    public var sha256: String
    /// Size of the weights file.
    public var bytes: UInt64
    /// The autopilot's verdict, for versions it trained (kept in `promotion.json` beside).
    public var promotion: PromotionRecord?

    /// A record; `version`, `sha256`, `bytes` and `createdUnixMS` are set by the registry.
    public init(
        baseModelSHA256: String, baseArchitecture: String, rank: Int, alpha: Float, useRSLoRA: Bool,
        targets: [String], jobID: String = "", metrics: [String: Double] = [:], stage: String? = nil
    ) {
        version = 0
        self.stage = stage
        self.baseModelSHA256 = baseModelSHA256
        self.baseArchitecture = baseArchitecture
        self.rank = rank
        self.alpha = alpha
        self.useRSLoRA = useRSLoRA
        self.targets = targets
        createdUnixMS = 0
        self.jobID = jobID
        self.metrics = metrics
        sha256 = ""
        bytes = 0
    }
}

/// How one adapter stack did on a user's held-back items: the gate's two measures.
public struct HoldoutScores: Sendable, Equatable, Codable {
    /// Mean ROUGE-L F1 of the stack's output as `cope` mode serves it against what the user
    /// wrote (or, in `PromotionRecord.withoutContrast`, decoded without the contrast).
    public var rougeL: Double
    /// Mean per-token log-likelihood of what the user wrote.
    public var logLikelihood: Double

    /// Scores as measured.
    public init(rougeL: Double, logLikelihood: Double) {
        self.rougeL = rougeL
        self.logLikelihood = logLikelihood
    }
}

/// The autopilot's verdict on a version it trained: both stacks' held-out scores, whether the
/// version became current, and why.
public struct PromotionRecord: Sendable, Equatable, Codable {
    /// Whether it became current.
    public var promoted: Bool
    /// Why, in words with the numbers ("ROUGE-L 0.31 vs 0.28 …").
    public var reason: String
    /// What it was compared with: "v3" (the user's version serving then), "task adapter v2"
    /// or "base model" (a user's first version).
    public var baseline: String
    /// The candidate's scores.
    public var candidate: HoldoutScores
    /// The baseline's scores on the same items.
    public var current: HoldoutScores
    /// How many held-back items were scored.
    public var heldOut: Int
    /// The time of the verdict, milliseconds since 1970.
    public var decidedUnixMS: UInt64
    /// The candidate decoded without CoPe's contrast (its user model alone, greedily) on the
    /// same items; nil in verdicts recorded before the choice existed.
    public var withoutContrast: HoldoutScores?
    /// Whether `cope` mode contrasts this version with the task model: false when the contrast
    /// made its held-back outputs worse than decoding it plainly, by the gate's rule.
    public var contrast: Bool?

    /// Whether `cope` mode keeps the contrast for this version (older verdicts keep it).
    public var keepsContrast: Bool { contrast ?? true }

    /// A verdict.
    public init(
        promoted: Bool, reason: String, baseline: String, candidate: HoldoutScores, current: HoldoutScores,
        heldOut: Int, decidedUnixMS: UInt64, withoutContrast: HoldoutScores? = nil, contrast: Bool? = nil
    ) {
        self.promoted = promoted
        self.reason = reason
        self.baseline = baseline
        self.candidate = candidate
        self.current = current
        self.heldOut = heldOut
        self.decidedUnixMS = decidedUnixMS
        self.withoutContrast = withoutContrast
        self.contrast = contrast
    }
}

/// An adapter with its versions and which one is current.
public struct AdapterEntry: Sendable, Equatable {
    /// Its name.
    public var key: AdapterKey
    /// The version decoding uses; 0 when none is (its only versions are rejected candidates).
    public var current: UInt32
    /// Every kept version, oldest first.
    public var versions: [AdapterVersionRecord]

    /// The current version's record.
    public var currentRecord: AdapterVersionRecord? { versions.first { $0.version == current } }

    /// The newest version `stage` made (nil: the newest import) up to the current one: what a
    /// decoding mode that picks by stage serves. Later versions (a rollback's leftovers, the
    /// autopilot's refused candidates) never are; with no current version, none is.
    public func newest(stage: String?) -> UInt32? {
        versions.last { $0.version <= current && $0.stage == stage }?.version
    }

    /// Whether `cope` mode contrasts `version` with the task model: false only where the
    /// autopilot's verdict on it dropped the contrast.
    public func keepsContrast(_ version: UInt32) -> Bool {
        versions.first { $0.version == version }?.promotion?.keepsContrast ?? true
    }
}

/// What went wrong in the registry. Every failure leaves the registry as it was.
public enum AdapterStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidName(field: String, value: String)
    case notFound(String)
    case versionNotFound(String, UInt32)
    case currentVersionInUse(String, UInt32)
    case corrupt(path: String, reason: String)
    case io(String)

    public var description: String {
        switch self {
        case let .invalidName(f, v):
            return f == "user"
                ? "invalid user '\(v)': use 1-64 bytes of printable text without '/', not starting with '.'"
                : "invalid \(f) '\(v)': use 1-64 letters, digits, '.', '_' or '-', not starting with '.'"
        case let .notFound(k): return "no adapter \(k)"
        case let .versionNotFound(k, v): return "adapter \(k) has no version \(v)"
        case let .currentVersionInUse(k, v):
            return "version \(v) is the current version of \(k); set another current version first"
        case let .corrupt(p, r): return "adapter file \(p) is corrupt: \(r)"
        case let .io(m): return m
        }
    }
}
