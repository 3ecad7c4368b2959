import CTailorKernels
import Foundation
import Synchronization

/// How a batch of `InferenceContext.gemmThreshold` rows or more (a prompt's prefill, a scoring
/// pass) multiplies by quantized weights.
///
/// Neither path wins everywhere. On a host whose f32 FMA units are fast (AVX-512, 150 GFLOP/s
/// of sgemm on two cores) dequantizing to f32 and calling sgemm is 1.3-2× faster than integer
/// dots; on a host where floating point is 3× slower, the integer path keeps most of its speed
/// and sgemm does not. So the engine measures both on the model's own shapes (`PrefillPathProbe`)
/// unless told which to take.
public enum PrefillPath: String, Sendable, CaseIterable, Codable {
    /// Tiles of weight rows dequantized to f32, multiplied by OpenBLAS sgemm.
    case float
    /// Activations quantized to int16, 64 rows at a time, dotted with the weights in their
    /// quantized blocks by decode's integer kernels.
    case integer
}

/// Which prefill path a context takes: measured, or forced by configuration.
public enum PrefillPathSetting: Sendable, Equatable {
    /// Measure both paths on one layer of the model, once per model and thread count.
    case measured
    /// Always this path (the `prefill_path` setting, `--prefill-path`).
    case forced(PrefillPath)

    /// Parses `auto`, `float` or `integer`, the spelling of the config key and the CLI option.
    public init?(_ text: String) {
        switch text {
        case "auto": self = .measured
        default:
            guard let path = PrefillPath(rawValue: text) else { return nil }
            self = .forced(path)
        }
    }

    /// The path this setting gives `model` on `threads` threads: the forced one, or the measured
    /// choice (measured once per model and thread count).
    public func path(for model: Model, threads: Int) -> PrefillPath {
        switch self {
        case .forced(let path): return path
        case .measured: return model.prefillMeasurement(threads: threads).choice
        }
    }

    /// The spellings `init?(_:)` accepts, for help and error messages.
    public static let spellings = "auto, float, integer"

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

    /// The integer path unless the float path is within 5% of it: near a tie either is fine for
    /// speed, and a margin keeps a noisy measurement from flipping a host's choice, and with it
    /// the last bits of its logits, from one run to the next.
    public var choice: PrefillPath { integerSeconds < floatSeconds / 1.05 ? .integer : .float }
}
