// blocks.h - GGUF/ggml quantized block layouts, and the activation blocks Tailor quantizes
// x into for integer dot products. Layouts follow the GGUF spec; sizes are asserted below.
#ifndef TK_BLOCKS_H
#define TK_BLOCKS_H
#include <math.h>
#include <stdint.h>
#include <assert.h>
#include <string.h>

#define QK32 32   // elements per block of the 32-element formats
#define QKK 256   // elements per super-block of the K-quants

typedef struct { uint16_t d; int8_t qs[QK32]; } blk_q8_0;                       // x = d*q
typedef struct { uint16_t d; uint8_t qs[QK32 / 2]; } blk_q4_0;                  // x = d*(q-8)
typedef struct { uint16_t d, m; uint8_t qs[QK32 / 2]; } blk_q4_1;               // x = d*q + m
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[QK32 / 2]; } blk_q5_0;   // x = d*(q-16)
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[QK32 / 2]; } blk_q5_1;// x = d*q + m
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[QKK / 2]; } blk_q4_K;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[QKK / 8]; uint8_t qs[QKK / 2]; } blk_q5_K;
typedef struct { uint8_t ql[QKK / 2]; uint8_t qh[QKK / 4]; int8_t scales[QKK / 16]; uint16_t d; } blk_q6_K;
/// 16 sub-blocks of 16, each with a 4-bit scale and a 4-bit min in one byte; 2-bit quants,
/// four per byte, the bytes of each 128-element half holding elements 32 apart:
/// x = d*sc*q - dmin*m.
typedef struct { uint8_t scales[QKK / 16]; uint8_t qs[QKK / 4]; uint16_t d, dmin; } blk_q2_K;
/// 2 low bits as in Q2_K plus a high bit (hmask; a clear bit subtracts 4), 16 sub-blocks with
/// 6-bit scales (4 low bits in scales[0..7], 2 high in scales[8..11]) offset by 32:
/// x = d*(sc-32)*q.
typedef struct { uint8_t hmask[QKK / 8]; uint8_t qs[QKK / 4]; uint8_t scales[12]; uint16_t d; } blk_q3_K;
/// Q4_K's and Q5_K's eight 6-bit sub-block scales and minimums out of their 12 packed `scales`
/// bytes: bytes 0-3 hold scales 0-3 in their low six bits and the top two bits of scales 4-7,
/// bytes 4-7 the same for the minimums, bytes 8-11 the low nibbles of scales 4-7 (low half) and
/// of minimums 4-7 (high half). Word operations decode four sub-blocks at a time.
static inline void tk_k4_scales_mins(const uint8_t *q, uint8_t sc[8], uint8_t mn[8]) {
    uint32_t w0, w1, w2;
    memcpy(&w0, q, 4);
    memcpy(&w1, q + 4, 4);
    memcpy(&w2, q + 8, 4);
    const uint32_t six = 0x3f3f3f3fu, four = 0x0f0f0f0fu, two = 0x03030303u;
    const uint32_t s_lo = w0 & six, m_lo = w1 & six;
    const uint32_t s_hi = (w2 & four) | (((w0 >> 6) & two) << 4);
    const uint32_t m_hi = ((w2 >> 4) & four) | (((w1 >> 6) & two) << 4);
    memcpy(sc, &s_lo, 4);
    memcpy(sc + 4, &s_hi, 4);
    memcpy(mn, &m_lo, 4);
    memcpy(mn + 4, &m_hi, 4);
}

/// The "imatrix" 4-bit formats: each nibble indexes a fixed non-linear table of int8 values.
typedef struct { uint16_t d; uint8_t qs[QK32 / 2]; } blk_iq4_nl;                // x = d*kv[q]
/// 8 sub-blocks of 32, each with a 6-bit scale (4 low bits in scales_l, 2 high in scales_h)
/// offset by 32: x = d*(ls-32)*kv[q].
typedef struct { uint16_t d; uint16_t scales_h; uint8_t scales_l[QKK / 64]; uint8_t qs[QKK / 2]; } blk_iq4_xs;
/// The 6-bit scale of sub-block ib of an IQ4_XS super-block (0..63; the weight is scale - 32).
static inline int tk_iq4xs_scale(const blk_iq4_xs *b, int ib) {
    return ((b->scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((b->scales_h >> (2 * ib)) & 3) << 4);
}
/// ggml's kvalues_iq4nl.
static const int8_t tk_iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/// Activations in 32-blocks, quantized to int16 with d = amax/32767: a relative error near
/// 1/65534 per element. llama.cpp quantizes activations to int8 (error ~1/254), which measurably
/// flips near-tied logits (3% of top-1 tokens on SmolLM2 in our tests); int16 does not, and the
/// int16 × int8 product through vpmaddwd takes no more instructions than llama.cpp's int8 path.
/// s = d·Σq, letting Q4_1/Q5_1 fold their minimum in and Q4_0/Q5_0 their offset.
typedef struct { float d, s; int16_t qs[QK32]; } act_q16_32;
/// Activations in 256-blocks for the K-quants, int16 likewise, with the sums of each 16 values.
/// Each int16 value is also kept split in bytes, qs = 256·xh + xl (xh signed, xl unsigned), so
/// the AVX2 kernels multiply it into unsigned weight bytes with two vpmaddubsw (int8 speed, the
/// int16 value exactly) instead of widening every weight to int16.
typedef struct {
    float d;
    int16_t qs[QKK];
    int32_t bsums[QKK / 16];
    int8_t xh[QKK];
    uint8_t xl[QKK];
} act_q16_K;

static_assert(sizeof(blk_q8_0) == 34, "q8_0 block");
static_assert(sizeof(blk_q4_0) == 18, "q4_0 block");
static_assert(sizeof(blk_q4_1) == 20, "q4_1 block");
static_assert(sizeof(blk_q5_0) == 22, "q5_0 block");
static_assert(sizeof(blk_q5_1) == 24, "q5_1 block");
static_assert(sizeof(blk_q2_K) == 84, "q2_K block");
static_assert(sizeof(blk_q3_K) == 110, "q3_K block");
static_assert(sizeof(blk_q4_K) == 144, "q4_K block");
static_assert(sizeof(blk_q5_K) == 176, "q5_K block");
static_assert(sizeof(blk_q6_K) == 210, "q6_K block");
static_assert(sizeof(blk_iq4_nl) == 18, "iq4_nl block");
static_assert(sizeof(blk_iq4_xs) == 136, "iq4_xs block");

/// The most query heads one attend_group call takes; a larger group (multi-query attention)
/// goes in parts.
#define TK_ATTEND_GROUP_MAX 16

/// The per-variant function table. One instance is built portable, one with AVX2.
typedef struct {
    void (*dequant_row)(int type, const void *src, float *dst, int64_t n);
    void (*quantize_32)(const float *x, act_q16_32 *y, int64_t n);
    void (*quantize_K)(const float *x, act_q16_K *y, int64_t n);
    /// Y[b][r] = row r of W · activation row b, for `nrows` rows and `nx` quantized activation
    /// rows (stride `xq_stride` bytes), writing y[b*ldy + r]. Each weight block is unpacked once
    /// and used for every activation row, so CoPe's two rows cost one weight read.
    void (*matvec_q)(int type, const uint8_t *w, size_t rb, int64_t nrows, const uint8_t *xq, size_t xq_stride,
                     int nx, int64_t n, float *y, int64_t ldy);
    /// Dot of one weight row of any type with an f32 activation row (quantized rows are
    /// dequantized block by block on the fly): the exact path.
    float (*dot_f)(int type, const void *w, const float *x, int64_t n);
    float (*dot_f32)(const float *a, const float *b, int64_t n);
    /// Attention of `group` query heads of one query row that share a KV head, against keys
    /// lo..hi of the cache (see tk_attention): q[g] and out[g] are head g's query and output,
    /// scores + g·lds its score row (indexed by key, normalized probabilities on return). Each
    /// head's arithmetic is that of attending alone; the group only shares the reads of keys and
    /// values, which then come from memory once instead of once per head.
    void (*attend_group)(const float *const *q, int group, const float *k, const float *v, int64_t ldkv,
                         int64_t lo, int64_t hi, int hd, float scale, float softcap, float *scores, int64_t lds,
                         float *const *out);
    void (*axpy_f32)(float a, const float *x, float *y, int64_t n);
    /// log Σ exp(x[i]) over a logit row, and its max; see tk_logsumexp.
    float (*logsumexp)(const float *x, int64_t n, float *max_out);
    /// x[i] = scale · exp(x[i] − shift) for shift ≥ max x; see tk_exp_shift_scale.
    void (*exp_shift_scale)(float *x, int64_t n, float shift, float scale);
    /// C[i][j] = beta·C[i][j] + alpha·Σ_p A[i][p]·B[j][p] for a few rows i (C = αA·Bᵀ + βC, every
    /// matrix row-major; beta == 0 ignores C's old contents): LoRA's two products on decode rows,
    /// too small for a packed sgemm to pay off. Each row of C is computed alone, so a row's
    /// result does not depend on how many rows share the call.
    void (*gemm_nt_small)(int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                          const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
    /// h = act(g)·u over n values (SiLU, or GELU's tanh form when gelu); see tk_gated_activation.
    void (*gated_act)(const float *g, const float *u, float *h, int64_t n, int gelu);
} tk_vtable;

/// One `case` of a row-kernel dispatch: rows of one type against nx activation rows (`A`, `NB`
/// blocks each), four at a time (a prefill's batch: each unpacked block serves four rows), then
/// two, then one, then DONE (the caller's `return`). A row's result does not depend on its
/// group: its accumulator sees the same blocks in the same order. Expects w, rb, nrows, nx, y,
/// ldy and a float out[4] in scope.
#define TK_MATVEC_CASE(TYPE, BLK, R1, R2, R4, A, NB, DONE)                                        \
    case TYPE:                                                                                    \
        for (int64_t r = 0; r < nrows; r++) {                                                     \
            const BLK *row = (const BLK *)(w + r * rb);                                           \
            int k = 0;                                                                            \
            for (; k + 4 <= nx; k += 4) {                                                         \
                R4(row, A + k, NB, out);                                                          \
                for (int j = 0; j < 4; j++) y[(k + j) * ldy + r] = out[j];                        \
            }                                                                                     \
            for (; k + 2 <= nx; k += 2) {                                                         \
                R2(row, A + k, NB, out);                                                          \
                y[k * ldy + r] = out[0];                                                          \
                y[(k + 1) * ldy + r] = out[1];                                                    \
            }                                                                                     \
            if (k < nx) { R1(row, A + k, NB, out); y[k * ldy + r] = out[0]; }                     \
        }                                                                                         \
        DONE;

/// Bytes of one weight row of `cols` elements of `type`.
static inline size_t tk_row_bytes(int type, int64_t cols) {
    return (size_t)(cols / tk_block_size(type)) * (size_t)tk_type_size(type);
}

/// y[b*ldy + c] (+)= Σ_t partial[t][b][c] over the pool's threads' nx × cols partial sums (the
/// transposed products' last step), the columns split over the pool.
void tk_sum_partials(tk_pool *pool, const float *partial, int64_t nx, int64_t cols, float *y, int64_t ldy,
                     bool accumulate);

/// K-quant rows (Q4_K, Q5_K, Q6_K, IQ4_XS) against `nx` activation rows `a` of `nb`
/// super-blocks with AVX-512 VNNI, bit for bit the portable results; false (nothing written) for
/// other types and, but for IQ4_XS, for one activation row, which the AVX2 kernels take.
/// Callers check tk_avx512_active() first.
bool tk_matvec_k_avx512(int type, const uint8_t *w, size_t rb, int64_t nrows, const act_q16_K *const *a, int nx,
                        int64_t nb, float *y, int64_t ldy);
/// True when the AVX2 kernels should hand K-quant rows to tk_matvec_k_avx512: the CPU has
/// AVX-512 F, BW, VL, DQ and VNNI, and neither TAILOR_NO_AVX512 nor tk_force_no_avx512 turned it
/// off.
bool tk_avx512_active(void);

const tk_vtable *tk_vtable_portable(void);
const tk_vtable *tk_vtable_avx2(void);   // NULL when not built for x86-64
const tk_vtable *tk_active(void);
/// Gemma 2's soft-cap of attention scores, in place: x ← c·tanh(x/c) for x[0..n-1] (c > 0).
/// Returns the capped value of `max`, which stays the maximum (tanh is increasing).
static inline float tk_softcap_scores(float *x, int64_t n, float c, float max) {
    const float inv = 1.0f / c;
    for (int64_t i = 0; i < n; i++) x[i] = c * tanhf(x[i] * inv);
    return c * tanhf(max * inv);
}

#endif
