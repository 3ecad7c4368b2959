// kernels_avx512.c - K-quant weight rows (Q4_K, Q5_K, Q6_K) against two or more int16
// activation rows, and IQ4_XS rows against any number, with AVX-512 VNNI, chosen at run time on
// CPUs that have AVX-512 F/BW/VL/DQ and VNNI (Ice Lake and later Xeons, Zen 4 and later).
//
// The AVX2 kernels multiply each activation row by unsigned weight bytes twice (the int16
// activation's high and low bytes through vpmaddubsw), then apply the sub-block scales with
// vpmaddwd: four multiplying instructions per 32 weights per row. Here each super-block's
// weights are widened to int16 once and multiplied by their sub-block scales (vpmullw), so
// one vpdpwssd multiplies 32 scaled weights into a row's int32 sums: one instruction per 32
// weights per row. The scaling is paid once per super-block, so it pays off from two rows on
// (CoPe's paired step, batches, the integer prefill path); one row stays on AVX2.
//
// The integer sums are exact: each lane's bound is stated at the kernel, and two rows' sums are
// reduced to int64 by one tree. The float steps are the portable dot_q_generic's, lane by lane
// with contraction off, so every result equals the portable path's (and the AVX2 path's) bit
// for bit.
#include "tailor_kernels.h"
#include "blocks.h"
#include <stddef.h>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c"))), \
                             apply_to = function)

/// Bytes ahead of the weight stream to prefetch (as the AVX2 kernels do: the hardware
/// prefetcher stops at 4 KiB page edges).
#define TK512_PREFETCH(p) _mm_prefetch((const char *)(p) + 1024, _MM_HINT_T0)

/// Σ_t mins[t]·(sub-block t's sum of x) for a Q4_K/Q5_K super-block, lane by lane: mins16
/// holds each 6-bit minimum twice (once per 16-value half of its sub-block), bsums the
/// activations' sums of 16. Lanes are below 63·16·32767 < 2^25, their sum below 2^30.
static inline __m512i tk512_min_lanes(__m512i mins16, const int32_t *bsums) {
    return _mm512_mullo_epi32(mins16, _mm512_loadu_si512(bsums));
}

/// The lane sums of four vectors of 16 int32 lanes (each |lane| < 2^30), exactly, by one tree:
/// [Σa, Σb, Σc, Σd] as int64. Two rows' integer sums (and their minimums' sums) cost one tree
/// instead of four.
static inline __m256i tk512_hsum4(__m512i a, __m512i b, __m512i c, __m512i d) {
    /* halves added: [a's 8 | b's 8] and [c's 8 | d's 8], each |lane| < 2^31 */
    const __m512i ab = _mm512_add_epi32(_mm512_shuffle_i64x2(a, b, 0x44), _mm512_shuffle_i64x2(a, b, 0xEE));
    const __m512i cd = _mm512_add_epi32(_mm512_shuffle_i64x2(c, d, 0x44), _mm512_shuffle_i64x2(c, d, 0xEE));
    const __m512i a8 = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(ab));
    const __m512i b8 = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(ab, 1));
    const __m512i c8 = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(cd));
    const __m512i d8 = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(cd, 1));
    /* each 128-bit lane j: [a's pair j, b's pair j] and [c's, d's] */
    const __m512i p = _mm512_add_epi64(_mm512_unpacklo_epi64(a8, b8), _mm512_unpackhi_epi64(a8, b8));
    const __m512i q = _mm512_add_epi64(_mm512_unpacklo_epi64(c8, d8), _mm512_unpackhi_epi64(c8, d8));
    /* 128-bit lanes [p0 + p1, p2 + p3, q0 + q1, q2 + q3], then [p, q] */
    const __m512i x = _mm512_add_epi64(_mm512_shuffle_i64x2(p, q, 0x88), _mm512_shuffle_i64x2(p, q, 0xDD));
    return _mm512_castsi512_si256(_mm512_add_epi64(_mm512_shuffle_i64x2(x, x, 0x88), _mm512_shuffle_i64x2(x, x, 0xDD)));
}

/// [Σa, Σb] of two vectors of 16 int32 lanes, exactly, as int64. Any int32 lanes: Q6_K's come
/// within 2^16 of int32's limit, so they are widened before the first addition.
static inline __m128i tk512_hsum2(__m512i a, __m512i b) {
    const __m512i a8 = _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(a)),
                                        _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(a, 1)));
    const __m512i b8 = _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(b)),
                                        _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(b, 1)));
    const __m512i p = _mm512_add_epi64(_mm512_unpacklo_epi64(a8, b8), _mm512_unpackhi_epi64(a8, b8));
    const __m256i h = _mm256_add_epi64(_mm512_castsi512_si256(p), _mm512_extracti64x4_epi64(p, 1));
    return _mm_add_epi64(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/// Two rows' activation scales [x_k.d, x_k+1.d] in float lanes 0 and 1.
static inline __m128 tk512_scales2(const act_q16_K *x0, const act_q16_K *x1) {
    return _mm_unpacklo_ps(_mm_set_ss(x0->d), _mm_set_ss(x1->d));
}

/// A super-block's 256 scaled int16 weights w (eight vectors of 32) times one activation row's
/// int16 values: 16 int32 lanes, each the sum of 16 products, in two accumulators so that the
/// multiplies do not wait on each other.
static inline __m512i tk512_dot8(const __m512i w[8], const int16_t *x) {
    __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
    for (int t = 0; t < 8; t += 2) {
        s0 = _mm512_dpwssd_epi32(s0, w[t], _mm512_loadu_si512(x + 32 * t));
        s1 = _mm512_dpwssd_epi32(s1, w[t + 1], _mm512_loadu_si512(x + 32 * t + 32));
    }
    return _mm512_add_epi32(s0, s1);
}

/// Stores the NX row results kept two to a vector (acc[p] lanes 0 and 1: rows 2p and 2p + 1).
#define TK512_OUT(ACC, NX)                                                                          \
    for (int k = 0; k < (NX); k++) {                                                                \
        float v_[4];                                                                                \
        _mm_storeu_ps(v_, (ACC)[k / 2]);                                                            \
        out[k] = v_[k % 2];                                                                         \
    }

static_assert(offsetof(blk_q5_K, qh) == 16, "Q5_K's fifth bits follow d, dmin and the scales");

/// One Q4_K or Q5_K row against NX activation rows (NX ≤ 4). Per super-block the 256 weights
/// q (≤ 31) are scaled by their sub-block's 6-bit scale (≤ 63) into int16 w ≤ 1953; each int32
/// lane of the two accumulators summed takes 16 products w·x, |x| ≤ 32767: |lane| ≤
/// 16·1953·32767 < 2^30.
#define TK512_K4_ROW(NAME, BLK, NX, HAS_QH)                                                         \
    static void NAME(const BLK *b, const act_q16_K *const *a, int64_t nb, float *out) {             \
        _Pragma("clang fp contract(off)")                                                           \
        __m128 acc[(NX + 1) / 2];   /* rows 2p and 2p + 1 in lanes 0 and 1 of acc[p] */           \
        for (int p = 0; p < (NX + 1) / 2; p++) acc[p] = _mm_setzero_ps();                           \
        const __m512i low4 = _mm512_set1_epi16(0xF), one = _mm512_set1_epi16(1);                    \
        for (int64_t i = 0; i < nb; i++) {                                                          \
            TK512_PREFETCH(&b[i]);                                                                  \
            const float d = _cvtsh_ss(b[i].d), dmin = _cvtsh_ss(b[i].dmin);                        \
            uint8_t sc[8], mn[8];                                                                   \
            tk_k4_scales_mins(b[i].scales, sc, mn);                                                 \
            /* minimum t in lanes 2t and 2t + 1, beside bsums[2t] and bsums[2t + 1] */            \
            const __m512i mins16 = _mm512_cvtepu8_epi32(_mm_unpacklo_epi8(                          \
                _mm_loadl_epi64((const __m128i *)mn), _mm_loadl_epi64((const __m128i *)mn)));       \
            /* w[t]: sub-block t's 32 weights as int16, times its scale */                         \
            __m512i w[8];                                                                           \
            const __m512i qh = HAS_QH ? _mm512_cvtepu8_epi16(                                       \
                _mm256_loadu_si256((const __m256i *)((const uint8_t *)&b[i] + 16))) : one;          \
            (void)qh;                                                                               \
            for (int j = 0; j < 4; j++) {                                                           \
                const __m512i q = _mm512_cvtepu8_epi16(                                             \
                    _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * j)));                       \
                __m512i lo = _mm512_and_si512(q, low4), hi = _mm512_srli_epi16(q, 4);               \
                if (HAS_QH) {   /* Q5_K: bit 2j of qh[l] tops lo[l], bit 2j + 1 tops hi[l] */      \
                    lo = _mm512_or_si512(lo, _mm512_slli_epi16(                                     \
                        _mm512_and_si512(_mm512_srli_epi16(qh, 2 * j), one), 4));                  \
                    hi = _mm512_or_si512(hi, _mm512_slli_epi16(                                     \
                        _mm512_and_si512(_mm512_srli_epi16(qh, 2 * j + 1), one), 4));              \
                }                                                                                   \
                w[2 * j] = _mm512_mullo_epi16(lo, _mm512_set1_epi16(sc[2 * j]));                    \
                w[2 * j + 1] = _mm512_mullo_epi16(hi, _mm512_set1_epi16(sc[2 * j + 1]));            \
            }                                                                                       \
            __m512i s[NX];                                                                          \
            for (int k = 0; k < NX; k++) s[k] = tk512_dot8(w, a[k][i].qs);                         \
            if (NX == 1) {                                                                          \
                const __m256i t = tk512_hsum4(s[0], tk512_min_lanes(mins16, a[0][i].bsums),         \
                                              _mm512_setzero_si512(), _mm512_setzero_si512());      \
                const float si = (float)_mm256_extract_epi64(t, 0), sm = (float)_mm256_extract_epi64(t, 1); \
                acc[0] = _mm_add_ss(acc[0], _mm_set_ss(a[0][i].d * (d * si - dmin * sm)));          \
            }                                                                                       \
            for (int k = 0; k + 1 < NX; k += 2) {                                                   \
                /* [si_k, si_k+1, sm_k, sm_k+1] rounded to float as (float) of each int64 */       \
                const __m128 f = _mm256_cvtepi64_ps(tk512_hsum4(s[k], s[k + 1],                     \
                    tk512_min_lanes(mins16, a[k][i].bsums), tk512_min_lanes(mins16, a[k + 1][i].bsums))); \
                const __m128 r = _mm_mul_ps(tk512_scales2(&a[k][i], &a[k + 1][i]),                  \
                    _mm_sub_ps(_mm_mul_ps(_mm_set1_ps(d), f), _mm_mul_ps(_mm_set1_ps(dmin), _mm_movehl_ps(f, f)))); \
                acc[k / 2] = _mm_add_ps(acc[k / 2], r);                                             \
            }                                                                                       \
        }                                                                                           \
        TK512_OUT(acc, NX)                                                                          \
    }

TK512_K4_ROW(row1_q4_K_512, blk_q4_K, 1, 0)
TK512_K4_ROW(row2_q4_K_512, blk_q4_K, 2, 0)
TK512_K4_ROW(row4_q4_K_512, blk_q4_K, 4, 0)
TK512_K4_ROW(row1_q5_K_512, blk_q5_K, 1, 1)
TK512_K4_ROW(row2_q5_K_512, blk_q5_K, 2, 1)
TK512_K4_ROW(row4_q5_K_512, blk_q5_K, 4, 1)

/// vpermw indices putting int16 lane A in lanes 0-15 and lane A + 1 in lanes 16-31.
static inline __m512i tk512_pair_index(int a) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16((short)a)), _mm256_set1_epi16((short)(a + 1)), 1);
}

/// The step after a super-block's 256 weights w are scaled (Q6_K, IQ4_XS): each row's exact sum
/// si, then acc += d·x.d·(float)si, rows two to a vector, lane by lane as the portable step.
/// Lanes may come within 2^16 of int32's limit: tk512_hsum2 widens before adding.
#define TK512_SCALED_STEP(ACC, NX, W, D)                                                            \
    {                                                                                               \
        const float d_ = (D);                                                                       \
        __m512i s_[NX];                                                                             \
        for (int k = 0; k < NX; k++) s_[k] = tk512_dot8(W, a[k][i].qs);                            \
        for (int k = 0; k < NX; k += 2) {                                                           \
            /* [si_k, si_k+1] (NX = 1: si_0 and 0) rounded to float as (float) of each int64 */     \
            const __m128 f = _mm_cvtepi64_ps(tk512_hsum2(s_[k], NX == 1 ? _mm512_setzero_si512() : s_[(k + 1) % NX])); \
            const __m128 xd = NX == 1 ? _mm_set_ss(a[k][i].d) : tk512_scales2(&a[k][i], &a[(k + 1) % NX][i]); \
            ACC[k / 2] = _mm_add_ps(ACC[k / 2], _mm_mul_ps(_mm_mul_ps(_mm_set1_ps(d_), xd), f));      \
        }                                                                                           \
    }

/// One Q6_K row against NX activation rows (NX ≤ 4). Each value q - 32 (in [-32, 31]) times its
/// sub-block's int8 scale is an int16 w with |w| ≤ 4096; each int32 lane of the two accumulators
/// summed takes 16 products w·x: |lane| ≤ 16·4096·32767 = 2147418112 < 2^31 - 1. Exact, with
/// 65,535 to spare (KQuantExtremesTests holds the case that reaches the bound).
#define TK512_Q6K_ROW(NAME, NX)                                                                     \
    static void NAME(const blk_q6_K *b, const act_q16_K *const *a, int64_t nb, float *out) {        \
        _Pragma("clang fp contract(off)")                                                           \
        __m128 acc[(NX + 1) / 2];   /* rows 2p and 2p + 1 in lanes 0 and 1 of acc[p] */           \
        for (int p = 0; p < (NX + 1) / 2; p++) acc[p] = _mm_setzero_ps();                           \
        const __m512i low4 = _mm512_set1_epi16(0xF), off = _mm512_set1_epi16(32);                   \
        const __m512i m2 = _mm512_set1_epi16(0x3), m2_2 = _mm512_set1_epi16(0xC);                   \
        const __m512i m2_4 = _mm512_set1_epi16(0x30), m2_6 = _mm512_set1_epi16(0xC0);               \
        for (int64_t i = 0; i < nb; i++) {                                                          \
            TK512_PREFETCH(&b[i]);                                                                  \
            TK512_PREFETCH((const uint8_t *)&b[i] + 64);                                            \
            TK512_PREFETCH((const uint8_t *)&b[i] + 128);                                           \
            const __m512i sc = _mm512_castsi256_si512(                                              \
                _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b[i].scales)));               \
            /* w[4h + g]: values 128h + 32g .. + 31, the first 16 scaled by 8h + 2g, the next */   \
            /* 16 by 8h + 2g + 1 */                                                                 \
            __m512i w[8];                                                                           \
            for (int h = 0; h < 2; h++) {                                                           \
                const __m512i l0 = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(b[i].ql + 64 * h))); \
                const __m512i l1 = _mm512_cvtepu8_epi16(                                            \
                    _mm256_loadu_si256((const __m256i *)(b[i].ql + 64 * h + 32)));                  \
                const __m512i qh = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(b[i].qh + 32 * h))); \
                const __m512i q[4] = {                                                              \
                    _mm512_or_si512(_mm512_and_si512(l0, low4), _mm512_slli_epi16(_mm512_and_si512(qh, m2), 4)), \
                    _mm512_or_si512(_mm512_and_si512(l1, low4), _mm512_slli_epi16(_mm512_and_si512(qh, m2_2), 2)), \
                    _mm512_or_si512(_mm512_srli_epi16(l0, 4), _mm512_and_si512(qh, m2_4)),         \
                    _mm512_or_si512(_mm512_srli_epi16(l1, 4), _mm512_srli_epi16(_mm512_and_si512(qh, m2_6), 2)), \
                };                                                                                  \
                for (int g = 0; g < 4; g++)                                                         \
                    w[4 * h + g] = _mm512_mullo_epi16(_mm512_sub_epi16(q[g], off),                  \
                                                      _mm512_permutexvar_epi16(tk512_pair_index(8 * h + 2 * g), sc)); \
            }                                                                                       \
            TK512_SCALED_STEP(acc, NX, w, _cvtsh_ss(b[i].d))                                        \
        }                                                                                           \
        TK512_OUT(acc, NX)                                                                          \
    }

TK512_Q6K_ROW(row1_q6_K_512, 1)
TK512_Q6K_ROW(row2_q6_K_512, 2)
TK512_Q6K_ROW(row4_q6_K_512, 4)

/// One IQ4_XS row against NX activation rows (NX ≤ 4). Each nibble is looked up (vpshufb) in
/// the table of int8 values (|v| ≤ 127) and multiplied by its sub-block's scale less 32
/// (|ls - 32| ≤ 32) into an int16 w with |w| ≤ 4064; each int32 lane of the two accumulators
/// summed takes 16 products w·x: |lane| ≤ 16·4064·32767 < 2^31 - 1. The AVX2 kernel scales each
/// row's int32 sums (vpmulld) and widens them per sub-block, so here even one row gains.
#define TK512_IQ4XS_ROW(NAME, NX)                                                                   \
    static void NAME(const blk_iq4_xs *b, const act_q16_K *const *a, int64_t nb, float *out) {      \
        _Pragma("clang fp contract(off)")                                                           \
        __m128 acc[(NX + 1) / 2];   /* rows 2p and 2p + 1 in lanes 0 and 1 of acc[p] */           \
        for (int p = 0; p < (NX + 1) / 2; p++) acc[p] = _mm_setzero_ps();                           \
        const __m256i tbl = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)tk_iq4nl_values)); \
        const __m256i low4 = _mm256_set1_epi8(0xF);                                                 \
        for (int64_t i = 0; i < nb; i++) {                                                          \
            TK512_PREFETCH(&b[i]);                                                                  \
            /* w[t]: sub-block t's 32 values (16 low nibbles, then 16 high) times ls - 32 */        \
            __m512i w[8];                                                                           \
            for (int t = 0; t < 8; t += 2) {                                                        \
                const __m256i q = _mm256_loadu_si256((const __m256i *)(b[i].qs + 16 * t));          \
                const __m256i lo = _mm256_shuffle_epi8(tbl, _mm256_and_si256(q, low4));             \
                const __m256i hi = _mm256_shuffle_epi8(tbl, _mm256_and_si256(_mm256_srli_epi16(q, 4), low4)); \
                w[t] = _mm512_mullo_epi16(                                                          \
                    _mm512_cvtepi8_epi16(_mm256_permute2x128_si256(lo, hi, 0x20)),                  \
                    _mm512_set1_epi16((short)(tk_iq4xs_scale(&b[i], t) - 32)));                     \
                w[t + 1] = _mm512_mullo_epi16(                                                      \
                    _mm512_cvtepi8_epi16(_mm256_permute2x128_si256(lo, hi, 0x31)),                  \
                    _mm512_set1_epi16((short)(tk_iq4xs_scale(&b[i], t + 1) - 32)));                 \
            }                                                                                       \
            TK512_SCALED_STEP(acc, NX, w, _cvtsh_ss(b[i].d))                                        \
        }                                                                                           \
        TK512_OUT(acc, NX)                                                                          \
    }

TK512_IQ4XS_ROW(row1_iq4_xs_512, 1)
TK512_IQ4XS_ROW(row2_iq4_xs_512, 2)
TK512_IQ4XS_ROW(row4_iq4_xs_512, 4)

bool tk_matvec_k_avx512(int type, const uint8_t *w, size_t rb, int64_t nrows, const act_q16_K *const *a, int nx,
                        int64_t nb, float *y, int64_t ldy) {
    float out[4];
    // One activation row alone stays on the AVX2 kernels, IQ4_XS's excepted (its AVX2 kernel
    // scales every row's int32 sums): on Zen 4, whose 512-bit multiplies take two 256-bit
    // issues, scaling the weights (vpmullw) and the exact reductions cost about what the AVX2
    // kernels' products do (0.94-1.05× their decode speed, BENCHMARKS.md). From two rows on,
    // the scaled weights serve every row and these kernels are ahead (two-row steps 1.03-1.36×).
    if (nx < 2 && type != TK_IQ4_XS) return false;
    switch (type) {
    TK_MATVEC_CASE(TK_Q4_K, blk_q4_K, row1_q4_K_512, row2_q4_K_512, row4_q4_K_512, a, nb, return true)
    TK_MATVEC_CASE(TK_Q5_K, blk_q5_K, row1_q5_K_512, row2_q5_K_512, row4_q5_K_512, a, nb, return true)
    TK_MATVEC_CASE(TK_Q6_K, blk_q6_K, row1_q6_K_512, row2_q6_K_512, row4_q6_K_512, a, nb, return true)
    TK_MATVEC_CASE(TK_IQ4_XS, blk_iq4_xs, row1_iq4_xs_512, row2_iq4_xs_512, row4_iq4_xs_512, a, nb, return true)
    default: return false;
    }
}

#pragma clang attribute pop
#else
bool tk_matvec_k_avx512(int type, const uint8_t *w, size_t rb, int64_t nrows, const act_q16_K *const *a, int nx,
                        int64_t nb, float *y, int64_t ldy) {
    (void)type; (void)w; (void)rb; (void)nrows; (void)a; (void)nx; (void)nb; (void)y; (void)ldy;
    return false;
}
#endif
