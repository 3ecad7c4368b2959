// blas_core.c - which OpenBLAS kernel family this CPU should run when OpenBLAS cannot tell.
//
// OpenBLAS built with DYNAMIC_ARCH (Debian's) picks its kernels from the CPU's family and model
// once, when the library loads. A CPU newer than the library (Debian bookworm's 0.3.21 on an
// Emerald Rapids Xeon, family 6 model 207) is not in its table, and it falls back to its SSE3
// "Prescott" kernels: sgemm ran 3.5x below what the CPU does. The variable OPENBLAS_CORETYPE
// overrides the choice, but only before the library loads, so the executables re-execute
// themselves with it set (TailorEngine's BLASKernels).
#include "tailor_kernels.h"
#include <stddef.h>
#include <strings.h>

const char *openblas_get_corename(void);

const char *tk_blas_corename(void) { return openblas_get_corename(); }

const char *tk_blas_coretype_for(const char *corename, bool avx2_fma, bool avx512_skylake) {
    // Prescott is OpenBLAS's fallback; a real Prescott (2004) has neither AVX2 nor AVX-512.
    if (!corename || strcasecmp(corename, "prescott") != 0) return NULL;
    if (avx512_skylake) return "SkylakeX";
    if (avx2_fma) return "Haswell";
    return NULL;
}

const char *tk_blas_coretype_override(void) {
#if defined(__x86_64__) || defined(_M_X64)
    __builtin_cpu_init();
    const bool avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    // SkylakeX's kernels use AVX-512 F, CD, BW, DQ and VL.
    const bool skylake = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd")
        && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")
        && __builtin_cpu_supports("avx512vl");
    return tk_blas_coretype_for(tk_blas_corename(), avx2_fma, skylake);
#else
    return NULL;
#endif
}
