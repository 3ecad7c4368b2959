// blocks.h - GGUF/ggml quantized block layouts, and the activation blocks Tailor quantizes
// x into for integer dot products. Layouts follow the GGUF spec; sizes are asserted below.
#ifndef TK_BLOCKS_H
#define TK_BLOCKS_H
#include <stdint.h>
#include <assert.h>

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

/// Activations in 32-blocks, quantized in two int8 levels: x ≈ d·q + d2·q2, where q2 quantizes
/// the residual x − d·q. One level (llama.cpp's Q8_0 activations) leaves a relative error of
/// about 1/254 per element, enough to flip near-tied logits; two levels cut it ~127× for one
/// more integer dot per weight block, which decode (memory-bound) barely notices.
/// s = Σx as the two levels represent it, letting Q4_1/Q5_1 fold their minimum in and
/// Q4_0/Q5_0 their offset.
typedef struct { float d, d2, s; int8_t qs[QK32]; int8_t qs2[QK32]; } act_q8_32;
/// Activations in 256-blocks for the K-quants, two levels likewise, with the sums of each 16
/// values of both levels.
typedef struct { float d, d2; int8_t qs[QKK]; int8_t qs2[QKK]; int16_t bsums[QKK / 16]; int16_t bsums2[QKK / 16]; } act_q8_K;

static_assert(sizeof(blk_q8_0) == 34, "q8_0 block");
static_assert(sizeof(blk_q4_0) == 18, "q4_0 block");
static_assert(sizeof(blk_q4_1) == 20, "q4_1 block");
static_assert(sizeof(blk_q5_0) == 22, "q5_0 block");
static_assert(sizeof(blk_q5_1) == 24, "q5_1 block");
static_assert(sizeof(blk_q4_K) == 144, "q4_K block");
static_assert(sizeof(blk_q5_K) == 176, "q5_K block");
static_assert(sizeof(blk_q6_K) == 210, "q6_K block");

/// The per-variant function table. One instance is built portable, one with AVX2.
typedef struct {
    void (*dequant_row)(int type, const void *src, float *dst, int64_t n);
    void (*quantize_q8_32)(const float *x, act_q8_32 *y, int64_t n);
    void (*quantize_q8_K)(const float *x, act_q8_K *y, int64_t n);
    /// Dot of one weight row (quantized) with one quantized activation row.
    float (*dot_q)(int type, const void *w, const void *xq, int64_t n);
    /// Dot of one weight row of any type with an f32 activation row (quantized rows are
    /// dequantized block by block on the fly): the exact path.
    float (*dot_f)(int type, const void *w, const float *x, int64_t n);
    float (*dot_f32)(const float *a, const float *b, int64_t n);
    void (*axpy_f32)(float a, const float *x, float *y, int64_t n);
} tk_vtable;

const tk_vtable *tk_vtable_portable(void);
const tk_vtable *tk_vtable_avx2(void);   // NULL when not built for x86-64
const tk_vtable *tk_active(void);
#endif
