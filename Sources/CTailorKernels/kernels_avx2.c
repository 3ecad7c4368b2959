// kernels_avx2.c - the x86-64 copy of the kernels, compiled for AVX2/FMA/F16C by a per-function
// target attribute (no global flags), and chosen at run time only on CPUs that have them.
// The 32-block formats, which dominate decode, get hand-written row kernels: weights widened
// to int16 once per block, multiplied with int16 activations by vpmaddwd for every activation
// row at once.
#include "tailor_kernels.h"
#include "blocks.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)

#define TK_NAME(x) x##_avx2
#define TK_HALF(h) _cvtsh_ss(h)
#define TK_HAVE_INTRINSIC_DOTS 1
#include "kernels_impl.inc"

static inline float hsum256(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

/// 16 packed nibble bytes -> 32 bytes: low nibbles in lanes 0..15, high nibbles in 16..31,
/// matching the element order of Q4/Q5 blocks.
static inline __m256i unpack_nibbles(const uint8_t *qs) {
    const __m128i b = _mm_loadu_si128((const __m128i *)qs);
    const __m128i m = _mm_set1_epi8(0xF);
    const __m128i lo = _mm_and_si128(b, m);
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), m);
    return _mm256_set_m128i(hi, lo);
}

/// Bit k of a 32-bit mask -> byte k is 0xFF or 0x00.
static inline __m256i bits_to_bytes(uint32_t bits) {
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits),
        _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL,
                          0x0101010101010101LL, 0x0000000000000000LL));
    const __m256i others = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfeLL);
    return _mm256_cmpeq_epi8(_mm256_or_si256(spread, others), _mm256_set1_epi64x(-1));
}

/// Σ w·q over a 32-block, as 8 int32 lanes: weights as two 16-lane int16 halves, activations
/// int16, multiplied and pair-summed by vpmaddwd.
static inline __m256i dot_w16(__m256i w_lo, __m256i w_hi, const int16_t *q) {
    return _mm256_add_epi32(_mm256_madd_epi16(w_lo, _mm256_loadu_si256((const __m256i *)q)),
                            _mm256_madd_epi16(w_hi, _mm256_loadu_si256((const __m256i *)(q + 16))));
}

/// Software prefetch distance in bytes. The hardware prefetcher stops at 4 KiB page edges; a
/// weight stream read once per token needs the next pages requested ahead of use.
#define TK_PREFETCH_AHEAD 1024
#define TK_PREFETCH(p) _mm_prefetch((const char *)(p) + TK_PREFETCH_AHEAD, _MM_HINT_T0)

/// One weight row of a 32-block type against NX activation rows: each block is prefetched,
/// unpacked to int16 once (UNPACK sets wl, wh, d, m) and multiplied into NX accumulators.
/// HAS_MIN is 0 for formats without an offset (Q8_0): their m is 0, and the compiler may not
/// drop `corr += 0·s` on its own (0·∞ is NaN), which cost every row a multiply-add per block.
#define TK_ROW_KERNEL(NAME, BLK, NX, HAS_MIN, UNPACK)                                              \
    static inline void NAME(const BLK *b, const act_q16_32 *const *a, int64_t nb, float *out) {   \
        __m256 acc[NX];                                                                            \
        float corr[NX];                                                                            \
        for (int k = 0; k < NX; k++) { acc[k] = _mm256_setzero_ps(); corr[k] = 0.0f; }             \
        for (int64_t i = 0; i < nb; i++) {                                                         \
            if ((i & 1) == 0) TK_PREFETCH(&b[i]); /* every other block: ~ one per 64-byte line */  \
            __m256i wl, wh; float d, m;                                                            \
            UNPACK                                                                                 \
            for (int k = 0; k < NX; k++) {                                                         \
                acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d * a[k][i].d),                            \
                                         _mm256_cvtepi32_ps(dot_w16(wl, wh, a[k][i].qs)), acc[k]); \
                if (HAS_MIN) corr[k] += m * a[k][i].s;                                             \
            }                                                                                      \
        }                                                                                          \
        for (int k = 0; k < NX; k++) out[k] = hsum256(acc[k]) + corr[k];                           \
    }

/// A block's two adjacent halves (d and m) converted by one vcvtph2ps.
static inline void half_pair(const uint16_t *dm, float *d, float *m) {
    uint32_t bits;
    memcpy(&bits, dm, 4);
    const __m128 f = _mm_cvtph_ps(_mm_cvtsi32_si128((int)bits));
    *d = _mm_cvtss_f32(f);
    *m = _mm_cvtss_f32(_mm_movehdup_ps(f));
}

#define UNPACK_Q8_0 { wl = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b[i].qs)); \
                      wh = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b[i].qs + 16))); \
                      d = _cvtsh_ss(b[i].d); m = 0.0f; (void)m; }
#define UNPACK_U8(U) { const __m256i u_ = (U); wl = _mm256_cvtepu8_epi16(_mm256_castsi256_si128(u_)); \
                       wh = _mm256_cvtepu8_epi16(_mm256_extracti128_si256(u_, 1)); }
#define UNPACK_Q4_0 { UNPACK_U8(unpack_nibbles(b[i].qs)) d = _cvtsh_ss(b[i].d); m = -8.0f * d; }
#define UNPACK_Q4_1 { UNPACK_U8(unpack_nibbles(b[i].qs)) half_pair(&b[i].d, &d, &m); }
#define UNPACK_Q5_0 { uint32_t qh; memcpy(&qh, b[i].qh, 4); \
                      UNPACK_U8(_mm256_or_si256(unpack_nibbles(b[i].qs), \
                                                _mm256_and_si256(bits_to_bytes(qh), _mm256_set1_epi8(0x10)))) \
                      d = _cvtsh_ss(b[i].d); m = -16.0f * d; }
#define UNPACK_Q5_1 { uint32_t qh; memcpy(&qh, b[i].qh, 4); \
                      UNPACK_U8(_mm256_or_si256(unpack_nibbles(b[i].qs), \
                                                _mm256_and_si256(bits_to_bytes(qh), _mm256_set1_epi8(0x10)))) \
                      half_pair(&b[i].d, &d, &m); }

/// IQ4_NL: each nibble indexes the 16 int8 values of kvalues (vpshufb), then as Q8_0.
#define UNPACK_IQ4_NL { const __m128i tbl_ = _mm_loadu_si128((const __m128i *)tk_iq4nl_values); \
                        const __m128i q_ = _mm_loadu_si128((const __m128i *)b[i].qs); \
                        const __m128i m_ = _mm_set1_epi8(0xF); \
                        wl = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(tbl_, _mm_and_si128(q_, m_))); \
                        wh = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(tbl_, _mm_and_si128(_mm_srli_epi16(q_, 4), m_))); \
                        d = _cvtsh_ss(b[i].d); m = 0.0f; (void)m; }

TK_ROW_KERNEL(row1_q8_0, blk_q8_0, 1, 0, UNPACK_Q8_0)
TK_ROW_KERNEL(row2_q8_0, blk_q8_0, 2, 0, UNPACK_Q8_0)
TK_ROW_KERNEL(row4_q8_0, blk_q8_0, 4, 0, UNPACK_Q8_0)
TK_ROW_KERNEL(row1_q4_0, blk_q4_0, 1, 1, UNPACK_Q4_0)
TK_ROW_KERNEL(row2_q4_0, blk_q4_0, 2, 1, UNPACK_Q4_0)
TK_ROW_KERNEL(row4_q4_0, blk_q4_0, 4, 1, UNPACK_Q4_0)
TK_ROW_KERNEL(row1_q4_1, blk_q4_1, 1, 1, UNPACK_Q4_1)
TK_ROW_KERNEL(row2_q4_1, blk_q4_1, 2, 1, UNPACK_Q4_1)
TK_ROW_KERNEL(row4_q4_1, blk_q4_1, 4, 1, UNPACK_Q4_1)
TK_ROW_KERNEL(row1_q5_0, blk_q5_0, 1, 1, UNPACK_Q5_0)
TK_ROW_KERNEL(row2_q5_0, blk_q5_0, 2, 1, UNPACK_Q5_0)
TK_ROW_KERNEL(row4_q5_0, blk_q5_0, 4, 1, UNPACK_Q5_0)
TK_ROW_KERNEL(row1_q5_1, blk_q5_1, 1, 1, UNPACK_Q5_1)
TK_ROW_KERNEL(row2_q5_1, blk_q5_1, 2, 1, UNPACK_Q5_1)
TK_ROW_KERNEL(row4_q5_1, blk_q5_1, 4, 1, UNPACK_Q5_1)
TK_ROW_KERNEL(row1_iq4_nl, blk_iq4_nl, 1, 0, UNPACK_IQ4_NL)
TK_ROW_KERNEL(row2_iq4_nl, blk_iq4_nl, 2, 0, UNPACK_IQ4_NL)
TK_ROW_KERNEL(row4_iq4_nl, blk_iq4_nl, 4, 0, UNPACK_IQ4_NL)

// ---------------------------------------------------------------- K-quant rows
// One super-block (256 weights) is unpacked once and multiplied into every activation row.
// The integer sums are exact (int32 lanes cannot overflow: Q4_K/Q5_K lanes stay below 2^31, Q6_K
// lanes are widened to int64 after each pair of 16-groups), and the float combination is the
// portable dot_q_generic's, contraction off, so each row's result is the portable one bit for
// bit.

/// The eight int32 lanes of v as four int64 lanes, pairwise summed.
static inline __m256i widen_epi32(__m256i v) {
    return _mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(v)),
                            _mm256_cvtepi32_epi64(_mm256_extracti128_si256(v, 1)));
}

/// The four int64 lanes of w summed.
static inline int64_t hsum_epi64(__m256i w) {
    const __m128i s = _mm_add_epi64(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
    return _mm_cvtsi128_si64(s) + _mm_extract_epi64(s, 1);
}

/// The eight lanes of v summed exactly.
static inline int64_t hsum_epi32_exact(__m256i v) { return hsum_epi64(widen_epi32(v)); }

/// Q5_K's fifth bits: bit 2j of qh[l] tops lo[l], bit 2j+1 tops hi[l] (Q4_K has none).
#define TK_K_HIGH_NONE(B, LO, HI, J)
#define TK_K_HIGH_Q5(B, LO, HI, J)                                                                  \
    {                                                                                               \
        const __m256i qh_ = _mm256_loadu_si256((const __m256i *)(B).qh);                           \
        const __m256i one_ = _mm256_set1_epi8(1);                                                   \
        LO = _mm256_or_si256(LO, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh_, 2 * (J)), one_), 4)); \
        HI = _mm256_or_si256(HI, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh_, 2 * (J) + 1), one_), 4)); \
    }

/// Quarter J (64 weights) of the Q4_K/Q5_K super-block B unpacked: its low nibbles (sub-block
/// 2J) into LO and its high nibbles (sub-block 2J + 1) into HI, topped by HIGH's fifth bits.
#define TK_K4_QUARTER(B, J, LOW4, LO, HI, HIGH)                                                     \
    {                                                                                               \
        const __m256i q_ = _mm256_loadu_si256((const __m256i *)((B).qs + 32 * (J)));                \
        LO = _mm256_and_si256(q_, LOW4);                                                            \
        HI = _mm256_and_si256(_mm256_srli_epi16(q_, 4), LOW4);                                      \
        HIGH(B, LO, HI, J)                                                                          \
    }

/// vpshufb control that copies int16 lane T of each 128-bit half to all eight of its lanes.
#define TK_LANE16(T) _mm256_set1_epi16((short)(0x0100 + 0x0202 * (T)))

/// The lane sums of a, b and c in lanes 0, 1 and 2, by one reduction tree (callers bound the
/// lanes so the sums fit).
static inline __m128i hsum3_epi32(__m256i a, __m256i b, __m256i c) {
    const __m256i ab = _mm256_hadd_epi32(a, b);              // a01 a23 b01 b23 | a45 a67 b45 b67
    const __m256i t = _mm256_hadd_epi32(ab, _mm256_hadd_epi32(c, c));   // a0-3 b0-3 c0-3 c0-3 | ...
    return _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
}

/// Σ w·x·s over 32 weights, x = 256·xh + xl: unsigned weight bytes w (each < 64) against the
/// high bytes into *hi and against the low bytes into *lo, each pair of products scaled by the
/// int16 lanes of s. vpmaddubsw's pair sums stay below 63·128·2 and 255·63·2 < 2^15: exact.
static inline void k_dot_split(__m256i w, const int8_t *xh, const uint8_t *xl, __m256i s, __m256i *hi, __m256i *lo) {
    const __m256i ph = _mm256_maddubs_epi16(w, _mm256_loadu_si256((const __m256i *)xh));
    const __m256i pl = _mm256_maddubs_epi16(_mm256_loadu_si256((const __m256i *)xl), w);
    *hi = _mm256_add_epi32(*hi, _mm256_madd_epi16(ph, s));
    *lo = _mm256_add_epi32(*lo, _mm256_madd_epi16(pl, s));
}

/// A Q4_K/Q5_K super-block's contribution to one activation row x: its products' high and low
/// sums (sh, sl) and its minimums (mins, int32 lanes) joined exactly as 256·H + L − m·Σx, then
/// the float step dot_q_generic takes, contraction off.
static inline float k4_block_sum(__m256i sh, __m256i sl, __m256i mins, const act_q16_K *x, float d, float dmin) {
#pragma clang fp contract(off)
    /* sub-block t's sum of x is bsums[2t] + bsums[2t + 1]; hadd pairs them, in the order
       0 1 4 5 | 2 3 6 7, which the permute restores */
    const __m256i bs = _mm256_permute4x64_epi64(
        _mm256_hadd_epi32(_mm256_loadu_si256((const __m256i *)x->bsums),
                          _mm256_loadu_si256((const __m256i *)(x->bsums + 8))), 0xD8);
    const __m128i t = hsum3_epi32(sh, sl, _mm256_mullo_epi32(mins, bs));
    const int64_t si = 256 * (int64_t)_mm_cvtsi128_si32(t) + _mm_extract_epi32(t, 1);
    const int64_t sm = _mm_extract_epi32(t, 2);
    return x->d * (d * (float)si - dmin * (float)sm);
}

/// A Q4_K/Q5_K super-block's packed 6-bit scales and minimums unpacked for the row kernels: the
/// eight scales as int16 in both 128-bit lanes (TK_LANE16 shuffles them out per sub-block) and
/// the eight minimums as int32 lanes (k4_block_sum's mins).
static inline void k4_scales_mins(const uint8_t *scales, __m256i *sc16, __m256i *mins) {
    uint8_t sc8[8], mn8[8];
    tk_k4_scales_mins(scales, sc8, mn8);
    *sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)sc8)));
    *mins = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)mn8));
}

/// One Q4_K or Q5_K row against NX activation rows (NX ≤ 2). Per super-block the integer sum is
/// 256·H + L over the activations' high and low bytes; H's and L's lanes stay below
/// 8·2·15810·63 < 2^24, their sums below 2^27, so the sum is exact and the float step the
/// portable one.
#define TK_Q4K_ROW(NAME, BLK, NX, HIGH)                                                             \
    static inline void NAME(const BLK *b, const act_q16_K *const *a, int64_t nb, float *out) {      \
        _Pragma("clang fp contract(off)")                                                           \
        float acc[NX];                                                                              \
        for (int k = 0; k < NX; k++) acc[k] = 0.0f;                                                 \
        const __m256i low4 = _mm256_set1_epi8(0xF);                                                 \
        for (int64_t i = 0; i < nb; i++) {                                                          \
            TK_PREFETCH(&b[i]);                                                                     \
            const float d = _cvtsh_ss(b[i].d), dmin = _cvtsh_ss(b[i].dmin);                        \
            __m256i sc16, mins;                                                                     \
            k4_scales_mins(b[i].scales, &sc16, &mins);                                              \
            __m256i lo[4], hi[4], s[8];                                                             \
            for (int j = 0; j < 4; j++) {                                                           \
                TK_K4_QUARTER(b[i], j, low4, lo[j], hi[j], HIGH)                                    \
                s[2 * j] = _mm256_shuffle_epi8(sc16, TK_LANE16(2 * j));                             \
                s[2 * j + 1] = _mm256_shuffle_epi8(sc16, TK_LANE16(2 * j + 1));                     \
            }                                                                                       \
            for (int k = 0; k < NX; k++) {                                                          \
                const int8_t *xh = a[k][i].xh;                                                      \
                const uint8_t *xl = a[k][i].xl;                                                     \
                __m256i sh = _mm256_setzero_si256(), sl = _mm256_setzero_si256();                   \
                for (int j = 0; j < 4; j++) {                                                       \
                    k_dot_split(lo[j], xh + 64 * j, xl + 64 * j, s[2 * j], &sh, &sl);               \
                    k_dot_split(hi[j], xh + 64 * j + 32, xl + 64 * j + 32, s[2 * j + 1], &sh, &sl); \
                }                                                                                   \
                acc[k] += k4_block_sum(sh, sl, mins, &a[k][i], d, dmin);                            \
            }                                                                                       \
        }                                                                                           \
        for (int k = 0; k < NX; k++) out[k] = acc[k];                                               \
    }

/// One Q6_K row against NX activation rows (NX ≤ 4): the unsigned 6-bit values q multiplied as
/// Q4_K's, less 32·Σ_t sc_t·(sub-block t's sum of x) for the offset (q - 32). H's and L's lanes
/// stay below 8·2·32130·128 < 2^27, their sums below 2^30; the correction below 2^31.
#define TK_Q6K_ROW(NAME, NX)                                                                        \
    static inline void NAME(const blk_q6_K *b, const act_q16_K *const *a, int64_t nb, float *out) { \
        _Pragma("clang fp contract(off)")                                                           \
        float acc[NX];                                                                              \
        for (int k = 0; k < NX; k++) acc[k] = 0.0f;                                                 \
        const __m256i low4 = _mm256_set1_epi8(0xF), bits45 = _mm256_set1_epi8(0x30);               \
        for (int64_t i = 0; i < nb; i++) {                                                          \
            TK_PREFETCH(&b[i]);                                                                     \
            TK_PREFETCH((const uint8_t *)&b[i] + 64);                                               \
            TK_PREFETCH((const uint8_t *)&b[i] + 128);                                              \
            /* w[h][g]: the 32 unsigned values of quarter g of half h; s[h][g] their scales */      \
            __m256i w[2][4], s[2][4];                                                               \
            for (int h = 0; h < 2; h++) {                                                           \
                const __m256i l0 = _mm256_loadu_si256((const __m256i *)(b[i].ql + 64 * h));         \
                const __m256i l1 = _mm256_loadu_si256((const __m256i *)(b[i].ql + 64 * h + 32));    \
                const __m256i qh = _mm256_loadu_si256((const __m256i *)(b[i].qh + 32 * h));         \
                /* bit pair p of each qh byte moved to bits 4-5 (what a 16-bit shift carries */   \
                /* across the byte edge is masked off) */                                           \
                const __m256i h0 = _mm256_and_si256(_mm256_slli_epi16(qh, 4), bits45);              \
                const __m256i h1 = _mm256_and_si256(_mm256_slli_epi16(qh, 2), bits45);              \
                const __m256i h2 = _mm256_and_si256(qh, bits45);                                    \
                const __m256i h3 = _mm256_and_si256(_mm256_srli_epi16(qh, 2), bits45);              \
                w[h][0] = _mm256_or_si256(_mm256_and_si256(l0, low4), h0);                          \
                w[h][1] = _mm256_or_si256(_mm256_and_si256(l1, low4), h1);                          \
                w[h][2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4), h2);    \
                w[h][3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4), h3);    \
                /* quarter g's first 16 values take scale 8h + 2g, the next 16 scale 8h + 2g + 1 */ \
                const __m256i sc = _mm256_broadcastsi128_si256(                                     \
                    _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(b[i].scales + 8 * h))));    \
                for (int g = 0; g < 4; g++)                                                         \
                    s[h][g] = _mm256_shuffle_epi8(                                                  \
                        sc, _mm256_set_m128i(_mm256_castsi256_si128(TK_LANE16(2 * g + 1)),          \
                                             _mm256_castsi256_si128(TK_LANE16(2 * g))));            \
            }                                                                                       \
            const __m256i sc_lo = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)b[i].scales)); \
            const __m256i sc_hi = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b[i].scales + 8))); \
            const float d = _cvtsh_ss(b[i].d);                                                      \
            for (int k = 0; k < NX; k++) {                                                          \
                __m256i sh = _mm256_setzero_si256(), sl = _mm256_setzero_si256();                   \
                for (int h = 0; h < 2; h++)                                                         \
                    for (int g = 0; g < 4; g++)                                                     \
                        k_dot_split(w[h][g], a[k][i].xh + 128 * h + 32 * g, a[k][i].xl + 128 * h + 32 * g, \
                                    s[h][g], &sh, &sl);                                             \
                const int32_t *bs = a[k][i].bsums;                                                  \
                const __m256i off = _mm256_add_epi32(                                               \
                    _mm256_mullo_epi32(sc_lo, _mm256_loadu_si256((const __m256i *)bs)),             \
                    _mm256_mullo_epi32(sc_hi, _mm256_loadu_si256((const __m256i *)(bs + 8))));      \
                const __m128i t = hsum3_epi32(sh, sl, off);                                         \
                const int64_t si = 256 * (int64_t)_mm_cvtsi128_si32(t) + _mm_extract_epi32(t, 1)    \
                                   - 32 * (int64_t)_mm_extract_epi32(t, 2);                         \
                acc[k] += d * a[k][i].d * (float)si;                                                \
            }                                                                                       \
        }                                                                                           \
        for (int k = 0; k < NX; k++) out[k] = acc[k];                                               \
    }

/// One IQ4_XS row against NX activation rows (NX ≤ 4): each 32-weight sub-block looked up
/// (vpshufb) to int8 and widened once; its int32 lanes (4·127·32767 < 2^24) times its scale
/// (|ls - 32| ≤ 32) stay below 2^31 and are summed in int64, so the sum is exact and the float
/// step the portable one.
#define TK_IQ4XS_ROW(NAME, NX)                                                                      \
    static inline void NAME(const blk_iq4_xs *b, const act_q16_K *const *a, int64_t nb, float *out) { \
        _Pragma("clang fp contract(off)")                                                           \
        float acc[NX];                                                                              \
        for (int k = 0; k < NX; k++) acc[k] = 0.0f;                                                 \
        const __m128i tbl = _mm_loadu_si128((const __m128i *)tk_iq4nl_values);                      \
        const __m128i low4 = _mm_set1_epi8(0xF);                                                    \
        for (int64_t i = 0; i < nb; i++) {                                                          \
            TK_PREFETCH(&b[i]);                                                                     \
            __m256i wl[8], wh[8];                                                                   \
            int32_t sc[8];                                                                          \
            for (int ib = 0; ib < 8; ib++) {                                                        \
                const __m128i q = _mm_loadu_si128((const __m128i *)(b[i].qs + 16 * ib));            \
                wl[ib] = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(tbl, _mm_and_si128(q, low4)));       \
                wh[ib] = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(tbl, _mm_and_si128(_mm_srli_epi16(q, 4), low4))); \
                sc[ib] = tk_iq4xs_scale(&b[i], ib) - 32;                                            \
            }                                                                                       \
            const float d = _cvtsh_ss(b[i].d);                                                      \
            for (int k = 0; k < NX; k++) {                                                          \
                __m256i sum64 = _mm256_setzero_si256();                                             \
                for (int ib = 0; ib < 8; ib++)                                                      \
                    sum64 = _mm256_add_epi64(sum64, widen_epi32(_mm256_mullo_epi32(                 \
                        dot_w16(wl[ib], wh[ib], a[k][i].qs + 32 * ib), _mm256_set1_epi32(sc[ib])))); \
                acc[k] += d * a[k][i].d * (float)hsum_epi64(sum64);                                 \
            }                                                                                       \
        }                                                                                           \
        for (int k = 0; k < NX; k++) out[k] = acc[k];                                               \
    }

/// Σ over the 16 sub-blocks of a super-block of sc[s] · (sub-block s's weights · x), in int32
/// lanes: wl[q] and wh[q] hold the int16 weights of sub-blocks 2q and 2q + 1 (Q2_K's and Q3_K's
/// quarters), x the 256 int16 activations.
static inline __m256i k2_scaled_dot(const __m256i *wl, const __m256i *wh, const int16_t *x, const int32_t *sc) {
    __m256i sum = _mm256_setzero_si256();
    for (int q = 0; q < 8; q++) {
        const __m256i pl = _mm256_madd_epi16(wl[q], _mm256_loadu_si256((const __m256i *)(x + 32 * q)));
        const __m256i ph = _mm256_madd_epi16(wh[q], _mm256_loadu_si256((const __m256i *)(x + 32 * q + 16)));
        sum = _mm256_add_epi32(sum, _mm256_mullo_epi32(pl, _mm256_set1_epi32(sc[2 * q])));
        sum = _mm256_add_epi32(sum, _mm256_mullo_epi32(ph, _mm256_set1_epi32(sc[2 * q + 1])));
    }
    return sum;
}

/// One Q2_K row against NX activation rows (NX ≤ 4). Quarter j of half l holds weights
/// 128l + 32j ... + 31 at bits 2j of qs[32l ...]: sub-blocks s = 8l + 2j and s + 1 (16 weights
/// each, 4-bit scale and min). Lanes stay below 15·2·3·32767·8 < 2^24: the sums are exact.
#define TK_Q2K_ROW(NAME, NX)                                                                        \
    static inline void NAME(const blk_q2_K *b, const act_q16_K *const *a, int64_t nb, float *out) { \
        _Pragma("clang fp contract(off)")                                                           \
        float acc[NX];                                                                              \
        for (int k = 0; k < NX; k++) acc[k] = 0.0f;                                                 \
        const __m256i low2 = _mm256_set1_epi8(3);                                                   \
        for (int64_t i = 0; i < nb; i++) {                                                          \
            TK_PREFETCH(&b[i]);                                                                     \
            __m256i wl[8], wh[8]; /* sub-blocks 2q and 2q + 1 of quarter q = 4l + j, as int16 */    \
            for (int l = 0; l < 2; l++) {                                                           \
                const __m256i qs = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * l));         \
                for (int j = 0; j < 4; j++) {                                                       \
                    const __m256i q = _mm256_and_si256(_mm256_srli_epi16(qs, 2 * j), low2);         \
                    wl[4 * l + j] = _mm256_cvtepu8_epi16(_mm256_castsi256_si128(q));                \
                    wh[4 * l + j] = _mm256_cvtepu8_epi16(_mm256_extracti128_si256(q, 1));           \
                }                                                                                   \
            }                                                                                       \
            int32_t sc[16];                                                                         \
            for (int s = 0; s < 16; s++) sc[s] = b[i].scales[s] & 0xF;                              \
            const float d = _cvtsh_ss(b[i].d), dmin = _cvtsh_ss(b[i].dmin);                        \
            for (int k = 0; k < NX; k++) {                                                          \
                const __m256i sum = k2_scaled_dot(wl, wh, a[k][i].qs, sc);                          \
                int64_t sm = 0;                                                                     \
                for (int s = 0; s < 16; s++) sm += (int64_t)(b[i].scales[s] >> 4) * a[k][i].bsums[s]; \
                acc[k] += a[k][i].d * (d * (float)hsum_epi32_exact(sum) - dmin * (float)sm);        \
            }                                                                                       \
        }                                                                                           \
        for (int k = 0; k < NX; k++) out[k] = acc[k];                                               \
    }

/// One Q3_K row against NX activation rows (NX ≤ 4): Q2_K's layout of low bits, less 4 where
/// bit 4l + j of hmask[t] is clear (weights -4 ... 3), and 6-bit scales less 32. Lanes stay
/// below 32·2·4·32767·8 < 2^26: the sums are exact.
#define TK_Q3K_ROW(NAME, NX)                                                                        \
    static inline void NAME(const blk_q3_K *b, const act_q16_K *const *a, int64_t nb, float *out) { \
        _Pragma("clang fp contract(off)")                                                           \
        float acc[NX];                                                                              \
        for (int k = 0; k < NX; k++) acc[k] = 0.0f;                                                 \
        const __m256i low2 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);                       \
        for (int64_t i = 0; i < nb; i++) {                                                          \
            TK_PREFETCH(&b[i]);                                                                     \
            const __m256i hm = _mm256_loadu_si256((const __m256i *)b[i].hmask);                     \
            __m256i wl[8], wh[8];                                                                   \
            for (int l = 0; l < 2; l++) {                                                           \
                const __m256i qs = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * l));         \
                for (int j = 0; j < 4; j++) {                                                       \
                    const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(qs, 2 * j), low2);        \
                    const __m256i hb = _mm256_and_si256(_mm256_srli_epi16(hm, 4 * l + j), one);     \
                    const __m256i q = _mm256_sub_epi8(lo, _mm256_slli_epi16(_mm256_xor_si256(hb, one), 2)); \
                    wl[4 * l + j] = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(q));                \
                    wh[4 * l + j] = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(q, 1));           \
                }                                                                                   \
            }                                                                                       \
            int32_t sc[16];                                                                         \
            for (int s = 0; s < 16; s++) sc[s] = q3k_scale_avx2(&b[i], s);                          \
            const float d = _cvtsh_ss(b[i].d);                                                      \
            for (int k = 0; k < NX; k++)                                                            \
                acc[k] += d * a[k][i].d * (float)hsum_epi32_exact(k2_scaled_dot(wl, wh, a[k][i].qs, sc)); \
        }                                                                                           \
        for (int k = 0; k < NX; k++) out[k] = acc[k];                                               \
    }

TK_Q2K_ROW(row1_q2_K, 1)
TK_Q2K_ROW(row2_q2_K, 2)
TK_Q2K_ROW(row4_q2_K, 4)
TK_Q3K_ROW(row1_q3_K, 1)
TK_Q3K_ROW(row2_q3_K, 2)
TK_Q3K_ROW(row4_q3_K, 4)
TK_IQ4XS_ROW(row1_iq4_xs, 1)
TK_IQ4XS_ROW(row2_iq4_xs, 2)
TK_IQ4XS_ROW(row4_iq4_xs, 4)
TK_Q4K_ROW(row1_q4_K, blk_q4_K, 1, TK_K_HIGH_NONE)
TK_Q4K_ROW(row2_q4_K, blk_q4_K, 2, TK_K_HIGH_NONE)
TK_Q4K_ROW(row1_q5_K, blk_q5_K, 1, TK_K_HIGH_Q5)
TK_Q4K_ROW(row2_q5_K, blk_q5_K, 2, TK_K_HIGH_Q5)

/// One Q4_K or Q5_K row against four activation rows (a prefill's batch): TK_Q4K_ROW's sums
/// with the loops turned, each 64-weight quarter unpacked and multiplied into all four rows'
/// sums at once, so only one quarter's weights and scales and the eight sums stay in registers
/// (TK_Q4K_ROW with NX = 4 keeps the whole super-block's, and spilled: 12% slower than pairs).
/// The same exact integer sums in another order, and the same float step: bit for bit.
#define TK_Q4K_ROW4(NAME, BLK, HIGH)                                                                \
    static inline void NAME(const BLK *b, const act_q16_K *const *a, int64_t nb, float *out) {      \
        _Pragma("clang fp contract(off)")                                                           \
        float acc[4] = { 0.0f, 0.0f, 0.0f, 0.0f };                                                  \
        const __m256i low4 = _mm256_set1_epi8(0xF);                                                 \
        for (int64_t i = 0; i < nb; i++) {                                                          \
            TK_PREFETCH(&b[i]);                                                                     \
            const float d = _cvtsh_ss(b[i].d), dmin = _cvtsh_ss(b[i].dmin);                        \
            __m256i sc16, mins;                                                                     \
            k4_scales_mins(b[i].scales, &sc16, &mins);                                              \
            __m256i sh[4], sl[4];                                                                   \
            for (int k = 0; k < 4; k++) sh[k] = sl[k] = _mm256_setzero_si256();                     \
            for (int j = 0; j < 4; j++) {                                                           \
                __m256i lo, hi;                                                                     \
                TK_K4_QUARTER(b[i], j, low4, lo, hi, HIGH)                                          \
                const __m256i s0 = _mm256_shuffle_epi8(sc16, TK_LANE16(2 * j));                     \
                const __m256i s1 = _mm256_shuffle_epi8(sc16, TK_LANE16(2 * j + 1));                 \
                for (int k = 0; k < 4; k++) {                                                       \
                    k_dot_split(lo, a[k][i].xh + 64 * j, a[k][i].xl + 64 * j, s0, &sh[k], &sl[k]);  \
                    k_dot_split(hi, a[k][i].xh + 64 * j + 32, a[k][i].xl + 64 * j + 32, s1, &sh[k], &sl[k]); \
                }                                                                                   \
            }                                                                                       \
            for (int k = 0; k < 4; k++) acc[k] += k4_block_sum(sh[k], sl[k], mins, &a[k][i], d, dmin); \
        }                                                                                           \
        for (int k = 0; k < 4; k++) out[k] = acc[k];                                                \
    }

TK_Q4K_ROW4(row4_q4_K, blk_q4_K, TK_K_HIGH_NONE)
TK_Q4K_ROW4(row4_q5_K, blk_q5_K, TK_K_HIGH_Q5)
TK_Q6K_ROW(row1_q6_K, 1)
TK_Q6K_ROW(row2_q6_K, 2)
TK_Q6K_ROW(row4_q6_K, 4)

static void matvec_q_avx2(int type, const uint8_t *w, size_t rb, int64_t nrows, const uint8_t *xq, size_t xq_stride,
                          int nx, int64_t n, float *y, int64_t ldy) {
    const int64_t nb = n / QK32;
    const act_q16_32 *a[64];
    float out[4];
    const int k_type = type == TK_Q4_K || type == TK_Q5_K || type == TK_Q6_K || type == TK_IQ4_XS
                       || type == TK_Q2_K || type == TK_Q3_K;
    if (k_type && nx <= 64) {
        const int64_t nbk = n / QKK;
        const act_q16_K *ak[64];
        for (int b = 0; b < nx; b++) ak[b] = (const act_q16_K *)(xq + b * xq_stride);
        if (tk_avx512_active() && tk_matvec_k_avx512(type, w, rb, nrows, ak, nx, nbk, y, ldy)) return;
        switch (type) {
        TK_MATVEC_CASE(TK_Q4_K, blk_q4_K, row1_q4_K, row2_q4_K, row4_q4_K, ak, nbk, return)
        TK_MATVEC_CASE(TK_Q5_K, blk_q5_K, row1_q5_K, row2_q5_K, row4_q5_K, ak, nbk, return)
        TK_MATVEC_CASE(TK_Q6_K, blk_q6_K, row1_q6_K, row2_q6_K, row4_q6_K, ak, nbk, return)
        TK_MATVEC_CASE(TK_IQ4_XS, blk_iq4_xs, row1_iq4_xs, row2_iq4_xs, row4_iq4_xs, ak, nbk, return)
        TK_MATVEC_CASE(TK_Q2_K, blk_q2_K, row1_q2_K, row2_q2_K, row4_q2_K, ak, nbk, return)
        TK_MATVEC_CASE(TK_Q3_K, blk_q3_K, row1_q3_K, row2_q3_K, row4_q3_K, ak, nbk, return)
        default: return;
        }
    }
    if (!(type == TK_Q8_0 || type == TK_Q4_0 || type == TK_Q4_1 || type == TK_Q5_0 || type == TK_Q5_1
          || type == TK_IQ4_NL || k_type)) {
        for (int64_t r = 0; r < nrows; r++)
            for (int b = 0; b < nx; b++) y[b * ldy + r] = dot_q_generic_avx2(type, w + r * rb, xq + b * xq_stride, n);
        return;
    }
    if (nx > 64) {   // a[] holds 64 rows: take the activations 64 at a time
        for (int b0 = 0; b0 < nx; b0 += 64)
            matvec_q_avx2(type, w, rb, nrows, xq + b0 * xq_stride, xq_stride, nx - b0 < 64 ? nx - b0 : 64, n,
                          y + b0 * ldy, ldy);
        return;
    }
    for (int b = 0; b < nx; b++) a[b] = (const act_q16_32 *)(xq + b * xq_stride);
    switch (type) {
    TK_MATVEC_CASE(TK_Q8_0, blk_q8_0, row1_q8_0, row2_q8_0, row4_q8_0, a, nb, return)
    TK_MATVEC_CASE(TK_Q4_0, blk_q4_0, row1_q4_0, row2_q4_0, row4_q4_0, a, nb, return)
    TK_MATVEC_CASE(TK_Q4_1, blk_q4_1, row1_q4_1, row2_q4_1, row4_q4_1, a, nb, return)
    TK_MATVEC_CASE(TK_Q5_0, blk_q5_0, row1_q5_0, row2_q5_0, row4_q5_0, a, nb, return)
    TK_MATVEC_CASE(TK_Q5_1, blk_q5_1, row1_q5_1, row2_q5_1, row4_q5_1, a, nb, return)
    TK_MATVEC_CASE(TK_IQ4_NL, blk_iq4_nl, row1_iq4_nl, row2_iq4_nl, row4_iq4_nl, a, nb, return)
    default: return;
    }
}

/// Activation rows to int16 32-blocks (see quant16 and quantize_32 in kernels_impl.inc, whose
/// results this reproduces bit for bit: the same max, the same scale and reciprocal, products
/// rounded to nearest-even as lrintf does). Decode quantizes every projection's input on the
/// calling thread, CoPe two rows of it, so the scalar copy (one lrintf per value) was idle time
/// for the other threads.
static void quantize_32_avx2(const float *x, act_q16_32 *y, int64_t n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t i = 0; i < n / QK32; i++) {
        const float *xb = x + i * QK32;
        const __m256 v0 = _mm256_loadu_ps(xb), v1 = _mm256_loadu_ps(xb + 8);
        const __m256 v2 = _mm256_loadu_ps(xb + 16), v3 = _mm256_loadu_ps(xb + 24);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                                 _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        const float amax = _mm_cvtss_f32(h);
        const float d = amax / 32767.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        const __m256 vid = _mm256_set1_ps(id);
        // Rounded to nearest-even (the default MXCSR mode, as lrintf); |x·id| <= 32767 fits int16.
        const __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, vid)), i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, vid));
        const __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, vid)), i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, vid));
        // packs interleaves 128-bit halves; the permute restores element order.
        const __m256i q01 = _mm256_permute4x64_epi64(_mm256_packs_epi32(i0, i1), 0xD8);
        const __m256i q23 = _mm256_permute4x64_epi64(_mm256_packs_epi32(i2, i3), 0xD8);
        _mm256_storeu_si256((__m256i *)y[i].qs, q01);
        _mm256_storeu_si256((__m256i *)(y[i].qs + 16), q23);
        const __m256i s32 = _mm256_add_epi32(_mm256_madd_epi16(q01, ones), _mm256_madd_epi16(q23, ones));
        __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s32), _mm256_extracti128_si256(s32, 1));
        t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
        t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
        y[i].d = d;
        y[i].s = d * (float)_mm_cvtsi128_si32(t);
    }
}

/// The sums of eight vectors, as one vector: lane q holds Σ v_q.
static inline __m256 hsum8x8(const __m256 v[8]) {
    const __m256 s01 = _mm256_hadd_ps(v[0], v[1]), s23 = _mm256_hadd_ps(v[2], v[3]);
    const __m256 s45 = _mm256_hadd_ps(v[4], v[5]), s67 = _mm256_hadd_ps(v[6], v[7]);
    const __m256 s0123 = _mm256_hadd_ps(s01, s23), s4567 = _mm256_hadd_ps(s45, s67);
    // Each 128-bit lane now holds the partial sums of one half of v0..v3 (resp. v4..v7).
    return _mm256_add_ps(_mm256_permute2f128_ps(s0123, s4567, 0x20), _mm256_permute2f128_ps(s0123, s4567, 0x31));
}

/// C = αA·Bᵀ + βC for a few rows (see tk_vtable.gemm_nt_small): eight outputs at a time, eight
/// dot products accumulated side by side over k and reduced together, so neither LoRA product
/// (long k and 8-16 outputs for A; k = rank and hundreds of outputs for B) pays a horizontal
/// sum per output or a packing pass. The rows loop inside each group of eight B rows, so a
/// group is read from memory once for all of C's rows (the LoRA weights are streamed every
/// decode step: ~9 MB per token for a task plus a user adapter on SmolLM2).
static void gemm_nt_small_avx2(int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                               const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const float *bj = b + j * ldb;   // [8][ldb]
        for (int64_t i = 0; i < m; i++) {
            const float *ai = a + i * lda;   // [k]
            float *ci = c + i * ldc + j;     // [8]
            __m256 acc[8];
            for (int q = 0; q < 8; q++) acc[q] = _mm256_setzero_ps();
            int64_t p = 0;
            for (; p + 8 <= k; p += 8) {
                const __m256 x = _mm256_loadu_ps(ai + p);
                for (int q = 0; q < 8; q++) acc[q] = _mm256_fmadd_ps(x, _mm256_loadu_ps(bj + q * ldb + p), acc[q]);
            }
            float tail[8];
            for (int q = 0; q < 8; q++) {
                float t = 0.0f;
                for (int64_t r = p; r < k; r++) t += ai[r] * bj[q * ldb + r];
                tail[q] = t;
            }
            __m256 sum = _mm256_mul_ps(_mm256_set1_ps(alpha), _mm256_add_ps(hsum8x8(acc), _mm256_loadu_ps(tail)));
            if (beta != 0.0f) sum = _mm256_fmadd_ps(_mm256_set1_ps(beta), _mm256_loadu_ps(ci), sum);
            _mm256_storeu_ps(ci, sum);
        }
    }
    for (; j < n; j++)
        for (int64_t i = 0; i < m; i++) {
            const float t = dot_f32_avx2(a + i * lda, b + j * ldb, k);
            c[i * ldc + j] = alpha * t + (beta == 0.0f ? 0.0f : beta * c[i * ldc + j]);
        }
}

/// The query heads of one query row that share a KV head (see tk_vtable.attend_group; at most
/// TK_ATTEND_GROUP_MAX of them). Scores come eight keys at a time, their dot products accumulated
/// side by side and reduced together (one horizontal reduction per eight keys instead of one
/// per key), every head of the group scored against those eight keys while they are in L1; the
/// weighted sum of values keeps up to 64 output dimensions in eight registers across a chunk of
/// 32 value rows, which every head then reads from L1. Each head's operations and their order
/// are those of attending alone, so the group changes which reads hit the cache, not a result.
/// Head sizes that are not a multiple of 8 take the scalar copy.
static void attend_group_avx2(const float *const *q, int group, const float *k, const float *v, int64_t ldkv,
                              int64_t lo, int64_t hi, int hd, float scale, float softcap, float *s, int64_t lds,
                              float *const *out) {
    if (hd % 8 != 0) {
        for (int g = 0; g < group; g++)
            attend_scalar_avx2(q[g], k, v, ldkv, lo, hi, hd, scale, softcap, s + g * lds, out[g]);
        return;
    }
    const int64_t n = hi - lo + 1;
    const float *k0 = k + lo * ldkv, *v0 = v + lo * ldkv;
    const __m256 vscale = _mm256_set1_ps(scale);
    __m256 vmax[TK_ATTEND_GROUP_MAX];
    for (int g = 0; g < group; g++) vmax[g] = _mm256_set1_ps(-INFINITY);
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        // A long context's keys are far out of L2, and with ldkv > hd (training's position-major
        // layout) the hardware prefetcher loses the stream at each 4 KiB page: request the rows
        // 16 keys ahead (every 64-byte line of each).
        if (j + 24 <= n)
            for (int t = 0; t < 8; t++)
                for (int d = 0; d < hd; d += 16)
                    _mm_prefetch((const char *)(k0 + (j + 16 + t) * ldkv + d), _MM_HINT_T0);
        for (int g = 0; g < group; g++) {
            __m256 acc[8];
            for (int t = 0; t < 8; t++) acc[t] = _mm256_setzero_ps();
            for (int d = 0; d < hd; d += 8) {
                const __m256 qv = _mm256_loadu_ps(q[g] + d);
                for (int t = 0; t < 8; t++)
                    acc[t] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + (j + t) * ldkv + d), acc[t]);
            }
            const __m256 sv = _mm256_mul_ps(hsum8x8(acc), vscale);
            _mm256_storeu_ps(s + g * lds + lo + j, sv);
            vmax[g] = _mm256_max_ps(vmax[g], sv);
        }
    }
    for (int g = 0; g < group; g++) {
        float *sc = s + g * lds + lo;   // [n] scores, then probabilities
        float lanes[8], mx = -INFINITY;
        _mm256_storeu_ps(lanes, vmax[g]);
        for (int t = 0; t < 8; t++) mx = lanes[t] > mx ? lanes[t] : mx;
        for (int64_t r = j; r < n; r++) {
            sc[r] = dot_f32_avx2(q[g], k0 + r * ldkv, hd) * scale;
            mx = sc[r] > mx ? sc[r] : mx;
        }
        if (softcap > 0.0f) mx = tk_softcap_scores(sc, n, softcap, mx);
        const float inv = 1.0f / exp_normalize_avx2(sc, n, mx);
        for (int64_t r = 0; r < n; r++) sc[r] *= inv;
    }
    enum { CHUNK = 32 };   // value rows read from memory once per chunk for every head
    for (int d0 = 0; d0 < hd; d0 += 64) {
        const int w = (hd - d0 < 64 ? hd - d0 : 64) / 8;   // output vectors in this chunk
        for (int g = 0; g < group; g++)
            for (int t = 0; t < w; t++) _mm256_storeu_ps(out[g] + d0 + 8 * t, _mm256_setzero_ps());
        for (int64_t j0 = 0; j0 < n; j0 += CHUNK) {
            const int64_t j1 = j0 + CHUNK < n ? j0 + CHUNK : n;
            for (int g = 0; g < group; g++) {
                const float *sc = s + g * lds + lo;
                __m256 o[8];
                for (int t = 0; t < w; t++) o[t] = _mm256_loadu_ps(out[g] + d0 + 8 * t);
                if (w == 8) {   // a full chunk: a constant trip count keeps o[] in registers
                    for (int64_t r = j0; r < j1; r++) {
                        const __m256 p = _mm256_set1_ps(sc[r]);
                        const float *vr = v0 + r * ldkv + d0;
                        if (g == 0 && r + 16 < n)   // value rows 16 ahead, as for the keys
                            for (int t = 0; t < 64; t += 16)
                                _mm_prefetch((const char *)(vr + 16 * ldkv + t), _MM_HINT_T0);
                        for (int t = 0; t < 8; t++) o[t] = _mm256_fmadd_ps(p, _mm256_loadu_ps(vr + 8 * t), o[t]);
                    }
                } else {
                    for (int64_t r = j0; r < j1; r++) {
                        const __m256 p = _mm256_set1_ps(sc[r]);
                        const float *vr = v0 + r * ldkv + d0;
                        for (int t = 0; t < w; t++) o[t] = _mm256_fmadd_ps(p, _mm256_loadu_ps(vr + 8 * t), o[t]);
                    }
                }
                for (int t = 0; t < w; t++) _mm256_storeu_ps(out[g] + d0 + 8 * t, o[t]);
            }
        }
    }
}

#pragma clang attribute pop

const tk_vtable *tk_vtable_avx2(void) { return tk_vtable_impl_avx2(); }
#else
const tk_vtable *tk_vtable_avx2(void) { return 0; }
#endif
