import CTailorKernels
import Foundation

/// CPU feature checks for tests that exercise one kernel path.
enum CPUFeatures {
    /// The flags /proc/cpuinfo lists for the first CPU.
    private static let flags: Set<Substring> = {
        #if arch(x86_64)
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return [] }
        return Set(line.split(separator: " "))
        #else
        return []
        #endif
    }()

    static var hasAVX2: Bool { flags.isSuperset(of: ["avx2", "fma", "f16c"]) }

    /// AVX-512 F, BW, VL, DQ and VNNI: what the AVX-512 K-quant kernels need.
    static var hasAVX512VNNI: Bool {
        hasAVX2 && flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni"])
    }
}

/// The kernel paths a test can force: each vector path must give the portable path's results.
enum KernelPath: CustomStringConvertible {
    case portable, avx2, avx512

    /// The vector paths this CPU can run.
    static var vectorPaths: [KernelPath] {
        (CPUFeatures.hasAVX2 ? [.avx2] : []) + (CPUFeatures.hasAVX512VNNI ? [.avx512] : [])
    }

    var description: String {
        switch self {
        case .portable: "portable"
        case .avx2: "AVX2"
        case .avx512: "AVX-512"
        }
    }

    func select() {
        tk_force_portable(self == .portable)
        tk_force_no_avx512(self != .avx512)
    }

    /// Back to the CPU check's choice.
    static func reset() {
        tk_force_portable(false)
        tk_force_no_avx512(false)
    }
}
