import CTailorKernels

/// The vector unit the integer kernels run on: decode's quantized weight rows, CoPe's paired
/// rows and the integer prefill path.
///
/// Every path gives the portable C's results bit for bit where its sums are exact (all
/// 256-block formats), so the choice changes speed, not text. Benchmarks print it beside their
/// numbers because it explains them: AVX-512 VNNI multiplies a K-quant row in a quarter of the
/// AVX2 kernels' instructions.
public enum IntegerKernels {
    /// "portable", "avx2", or "avx2+avx512vnni" (K-quant rows on AVX-512 VNNI).
    public static var name: String {
        tk_uses_avx512() ? "avx2+avx512vnni" : tk_uses_avx2() ? "avx2" : "portable"
    }
}
