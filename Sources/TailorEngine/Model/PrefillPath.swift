import CTailorKernels
import Foundation
import Synchronization

/// How a batch of `InferenceContext.gemmThreshold` rows or more (a prompt's prefill, a scoring
/// pass) multiplies by quantized weights.
///
/// No path wins everywhere. On a host whose f32 FMA units are fast (AVX-512, 150 GFLOP/s
/// of sgemm on two cores) dequantizing to f32 and calling sgemm is 1.3-2× faster than integer
/// dots; on a host where floating point is 3× slower, the integer path keeps most of its speed
/// and sgemm does not; on a host with AVX512_BF16 or AMX, bf16 products run 2-2.5× sgemm. So the
/// engine measures the paths on the model's own shapes (`PrefillPathProbe`) unless told which
/// to take.
public enum PrefillPath: String, Sendable, CaseIterable, Codable {
    /// Tiles of weight rows dequantized to f32, multiplied by OpenBLAS sgemm.
    case float
    /// Activations quantized to int16, 64 rows at a time, dotted with the weights in their
    /// quantized blocks by decode's integer kernels.
    case integer
    /// Activations and tiles of weight rows rounded to bfloat16 (8 bits of mantissa), multiplied
    /// by oneDNN's bf16 GEMM with f32 sums. Needs oneDNN at run time (`isAvailable`).
    case bfloat16 = "bf16"

    /// Whether this host can take the path: the bf16 path needs oneDNN (Debian: libdnnl2),
    /// loaded at run time; the others always can.
    public var isAvailable: Bool {
        switch self {
        case .float, .integer: return true
        case .bfloat16: return tk_bf16_available()
        }
    }

    /// The paths this host can take, in `allCases` order.
    public static var available: [PrefillPath] { allCases.filter { $0.isAvailable } }
}

/// Which prefill path a context takes: measured, or forced by configuration.
public enum PrefillPathSetting: Sendable, Equatable {
    /// Measure the paths on one layer of the model, once per model and thread count.
    case measured
    /// Always this path (the `prefill_path` setting, `--prefill-path`).
    case forced(PrefillPath)

    /// Parses `auto`, `float`, `integer` or `bf16`, the spellings of the config key and the CLI
    /// option.
    public init?(_ text: String) {
        switch text {
        case "auto": self = .measured
        default:
            guard let path = PrefillPath(rawValue: text) else { return nil }
            self = .forced(path)
        }
    }

    /// The path this setting gives `model` on `threads` threads: the forced one (the float path
    /// where the forced one cannot run here), or the measured choice (measured once per model
    /// and thread count).
    public func path(for model: Model, threads: Int) -> PrefillPath {
        switch self {
        case .forced(let path): return path.isAvailable ? path : .float
        case .measured: return model.prefillMeasurement(threads: threads).choice
        }
    }

    /// The spellings `init?(_:)` accepts, for help and error messages.
    public static let spellings = "auto, float, integer, bf16"

    /// The setting contexts take when their creator names none: what the command line or the
    /// daemon's configuration set at startup, else `TAILOR_PREFILL_PATH` when it holds a valid
    /// spelling, else `.measured`.
    public static var processDefault: PrefillPathSetting {
        get {
            configured.withLock { $0 }
                ?? ProcessInfo.processInfo.environment["TAILOR_PREFILL_PATH"].flatMap { PrefillPathSetting($0) }
                ?? .measured
        }
        set { configured.withLock { $0 = newValue } }
    }

    private static let configured = Mutex<PrefillPathSetting?>(nil)
}

/// Seconds one layer's seven projections took on each path, and the path chosen from them.
public struct PrefillMeasurement: Sendable, Equatable {
    /// Rows of the measured batch.
    public let rows: Int
    /// Best of the timed runs of the f32 path, in seconds.
    public let floatSeconds: Double
    /// Best of the timed runs of the integer path, in seconds.
    public let integerSeconds: Double
    /// Best of the timed runs of the bf16 path, in seconds; nil where it cannot run.
    public let bfloat16Seconds: Double?

    public init(rows: Int, floatSeconds: Double, integerSeconds: Double, bfloat16Seconds: Double? = nil) {
        self.rows = rows
        self.floatSeconds = floatSeconds
        self.integerSeconds = integerSeconds
        self.bfloat16Seconds = bfloat16Seconds
    }

    /// The measured seconds of `path`, nil where it was not measured.
    public func seconds(_ path: PrefillPath) -> Double? {
        switch path {
        case .float: return floatSeconds
        case .integer: return integerSeconds
        case .bfloat16: return bfloat16Seconds
        }
    }

    /// The fastest path, where a path rounding more (integer, then bf16) must beat the ones
    /// before it by more than 5%: near a tie either is fine for speed, so the more exact one is
    /// kept, and a margin keeps a noisy measurement from flipping a host's choice, and with it
    /// the last bits of its logits, from one run to the next.
    public var choice: PrefillPath {
        var best = PrefillPath.float
        for path in [PrefillPath.integer, .bfloat16] {
            if let t = seconds(path), let b = seconds(best), t < b / 1.05 { best = path }
        }
        return best
    }
}
