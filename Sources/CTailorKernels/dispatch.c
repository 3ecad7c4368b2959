// dispatch.c - type tables, half conversion, and the run-time choice between the AVX2 and the
// portable kernels.
#include "tailor_kernels.h"
#include "blocks.h"
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>

int tk_block_size(int type) {
    switch (type) {
    case TK_F32: case TK_F16: case TK_BF16: return 1;
    case TK_Q8_0: case TK_Q4_0: case TK_Q4_1: case TK_Q5_0: case TK_Q5_1: case TK_IQ4_NL: return QK32;
    case TK_Q2_K: case TK_Q3_K: case TK_Q4_K: case TK_Q5_K: case TK_Q6_K: case TK_IQ4_XS: return QKK;
    default: return 0;
    }
}

int tk_type_size(int type) {
    switch (type) {
    case TK_F32: return 4;
    case TK_F16: case TK_BF16: return 2;
    case TK_Q8_0: return sizeof(blk_q8_0);
    case TK_Q4_0: return sizeof(blk_q4_0);
    case TK_Q4_1: return sizeof(blk_q4_1);
    case TK_Q5_0: return sizeof(blk_q5_0);
    case TK_Q5_1: return sizeof(blk_q5_1);
    case TK_Q2_K: return sizeof(blk_q2_K);
    case TK_Q3_K: return sizeof(blk_q3_K);
    case TK_Q4_K: return sizeof(blk_q4_K);
    case TK_Q5_K: return sizeof(blk_q5_K);
    case TK_Q6_K: return sizeof(blk_q6_K);
    case TK_IQ4_NL: return sizeof(blk_iq4_nl);
    case TK_IQ4_XS: return sizeof(blk_iq4_xs);
    default: return 0;
    }
}

bool tk_type_supported(int type) { return tk_block_size(type) != 0; }

float tk_f16_to_f32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else {  // subnormal: normalize
            exp = 127 - 15 + 1;
            while ((man & 0x400) == 0) { man <<= 1; exp--; }
            man &= 0x3FF;
            bits = sign | (exp << 23) | (man << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t tk_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    const uint32_t sign = (x >> 16) & 0x8000;
    const uint32_t absx = x & 0x7FFFFFFFu;
    if (absx >= 0x7F800000u) return (uint16_t)(sign | 0x7C00 | (absx > 0x7F800000u ? 0x200 : 0));
    if (absx >= 0x477FF000u) return (uint16_t)(sign | 0x7C00);  // rounds to infinity
    if (absx < 0x38800000u) {  // subnormal or zero in half
        if (absx < 0x33000001u) return (uint16_t)sign;
        const uint32_t e = absx >> 23, m = (absx & 0x7FFFFF) | 0x800000;
        const uint32_t shift = 126 - e;  // half subnormal = M·2^(e-126), M the 24-bit significand
        uint32_t r = m >> shift;
        const uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ((absx >> 13) - ((127 - 15) << 10));
    const uint32_t rem = absx & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++;
    return (uint16_t)(sign | r);
}

static atomic_int forced_portable = -1;  // -1: not decided yet; 0: CPU check; 1: portable

/// A forcing flag: its value once set, else the environment variable `name` (set and not "0"
/// forces), read once.
static int forced(atomic_int *flag, const char *name) {
    int f = atomic_load_explicit(flag, memory_order_relaxed);
    if (f < 0) {
        const char *env = getenv(name);
        f = (env && env[0] && strcmp(env, "0") != 0) ? 1 : 0;
        atomic_store(flag, f);
    }
    return f;
}

static bool cpu_has_avx2(void) {
#if defined(__x86_64__) || defined(_M_X64)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
    return false;
#endif
}

/// AVX-512 F, BW, VL, DQ and VNNI: what kernels_avx512.c is compiled for.
static bool cpu_has_avx512_vnni(void) {
#if defined(__x86_64__) || defined(_M_X64)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")
        && __builtin_cpu_supports("avx512vnni");
#else
    return false;
#endif
}

const tk_vtable *tk_active(void) {
    const int f = forced(&forced_portable, "TAILOR_PORTABLE");
    static int have = -1;
    if (have < 0) have = cpu_has_avx2() ? 1 : 0;
    if (f == 0 && have == 1 && tk_vtable_avx2()) return tk_vtable_avx2();
    return tk_vtable_portable();
}

bool tk_uses_avx2(void) { return tk_active() != tk_vtable_portable(); }

void tk_force_portable(bool on) { atomic_store(&forced_portable, on ? 1 : 0); }

static atomic_int forced_no_avx512 = -1;   // as forced_portable, for TAILOR_NO_AVX512

bool tk_avx512_active(void) {
    const int f = forced(&forced_no_avx512, "TAILOR_NO_AVX512");
    static int have = -1;
    if (have < 0) have = cpu_has_avx512_vnni() ? 1 : 0;
    return f == 0 && have == 1;
}

bool tk_uses_avx512(void) { return tk_uses_avx2() && tk_avx512_active(); }

void tk_force_no_avx512(bool on) { atomic_store(&forced_no_avx512, on ? 1 : 0); }

void tk_dequantize(int type, const void *src, float *dst, int64_t n) {
    tk_active()->dequant_row(type, src, dst, n);
}

float tk_dot_f32(const float *a, const float *b, int64_t n) { return tk_active()->dot_f32(a, b, n); }

void tk_axpy_f32(float a, const float *x, float *y, int64_t n) { tk_active()->axpy_f32(a, x, y, n); }
float tk_logsumexp(const float *x, int64_t n, float *max_out) { return tk_active()->logsumexp(x, n, max_out); }
void tk_exp_shift_scale(float *x, int64_t n, float shift, float scale) {
    tk_active()->exp_shift_scale(x, n, shift, scale);
}
void tk_gated_activation(const float *g, const float *u, float *h, int64_t n, bool gelu) {
    tk_active()->gated_act(g, u, h, n, gelu ? 1 : 0);
}
void tk_quantize_act32(const float *x, void *dst, int64_t n) { tk_active()->quantize_32(x, (act_q16_32 *)dst, n); }
