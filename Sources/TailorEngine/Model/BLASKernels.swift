import CTailorKernels
import Foundation

/// The OpenBLAS kernels this process multiplies with, and the restart that mends OpenBLAS's
/// fallback.
///
/// The float prefill path and every sgemm of training run on OpenBLAS. Debian's build picks
/// its kernels by the CPU's model number when it loads; on a CPU newer than the library it
/// falls back to SSE3 ("Prescott") kernels, and sgemm runs 3-4× below what the CPU does (an
/// Emerald Rapids Xeon under Debian bookworm: SmolLM2 pp512 on the float path 160 t/s, 550-600
/// with the AVX-512 kernels). OpenBLAS reads `OPENBLAS_CORETYPE` only while loading, so the
/// only remedy from inside is to execute the program again with it set.
public enum BLASKernels {
    /// OpenBLAS's name for the kernel family it loaded, e.g. "Haswell", "SkylakeX", "Prescott".
    public static var coreName: String { String(cString: tk_blas_corename()) }

    /// The `OPENBLAS_CORETYPE` this CPU should have had, when OpenBLAS fell back (nil when it
    /// chose well, or the CPU has neither AVX2 nor AVX-512).
    public static var betterCoreType: String? { tk_blas_coretype_override().map { String(cString: $0) } }

    /// Re-executes this program (same pid, arguments, descriptors and environment, plus
    /// `OPENBLAS_CORETYPE`) when OpenBLAS fell back on a CPU that has better kernels. Call it
    /// first in `main`, before any thread or output. Does nothing when the variable is already
    /// set (the user's choice, or the restarted process) and returns when `execv` fails, so the
    /// program then runs on the slow kernels rather than not at all.
    public static func restartIfFallback() {
        guard getenv("OPENBLAS_CORETYPE") == nil, let core = betterCoreType else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        unsetenv("OPENBLAS_CORETYPE")
    }
}
