// tailor_kernels.h - the hot math of Tailor's engine, in C.
//
// Why C: Swift only matches C speed when the whole package is built with -target-cpu,
// which a package consumed by others cannot demand. Here each kernel carries
// __attribute__((target("avx2,fma,f16c"))) and is chosen at run time after a CPU check,
// with a portable path for every CPU (and aarch64). See shared/notes/performance.md.
//
// Conventions (as GGUF/ggml lay weights out):
//   - A weight matrix W has `rows` outputs and `cols` inputs; each row is `cols` values stored
//     contiguously in the quantized blocks of its type. y = W·x gives one output per row.
//   - Activations are f32, row-major: x[b*ld + i] for batch row b.
//   - Nothing here allocates except tk_pool_create/tk_pool_destroy, which are paired.
#ifndef TAILOR_KERNELS_H
#define TAILOR_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/// ggml tensor type numbers as they appear in GGUF files.
enum tk_type {
    TK_F32 = 0, TK_F16 = 1, TK_Q4_0 = 2, TK_Q4_1 = 3, TK_Q5_0 = 6, TK_Q5_1 = 7,
    TK_Q8_0 = 8, TK_Q8_1 = 9, TK_Q2_K = 10, TK_Q3_K = 11, TK_Q4_K = 12, TK_Q5_K = 13,
    TK_Q6_K = 14, TK_Q8_K = 15, TK_IQ4_NL = 20, TK_IQ4_XS = 23, TK_BF16 = 30,
};

/// Elements per block of `type`, or 0 when the type is not supported by these kernels.
int tk_block_size(int type);
/// Bytes per block of `type`, or 0 when unsupported.
int tk_type_size(int type);
/// True when `type` has a dequantizer here.
bool tk_type_supported(int type);

/// Converts one IEEE half to f32 (portable, exact).
float tk_f16_to_f32(uint16_t h);
/// Converts f32 to IEEE half, round to nearest even.
uint16_t tk_f32_to_f16(float f);

/// Dequantizes `n` elements (a multiple of the block size) of `type` at `src` into `dst`.
void tk_dequantize(int type, const void *src, float *dst, int64_t n);

/// Quantizes `n` values (a multiple of 32) into the activation format decode's integer matvec
/// multiplies with: per 32-block a float scale (max |x| / 32767), the block's sum as float and
/// 32 int16, 72 bytes per block, at `dst`. Exposed for tests: the AVX2 and portable copies
/// must agree bit for bit, so a decode's logits do not depend on the CPU's vector unit here.
void tk_quantize_act32(const float *x, void *dst, int64_t n);

/// True when the AVX2/FMA/F16C kernels are in use. Set TAILOR_PORTABLE=1 to force the
/// portable path (CI tests both).
bool tk_uses_avx2(void);
/// Forces the portable path on (true) or lets the CPU check decide (false). For tests.
void tk_force_portable(bool on);
/// True when K-quant products (Q4_K, Q5_K, Q6_K with two or more activation rows, IQ4_XS with
/// any) run on the AVX-512 VNNI kernels: the AVX2 path is in use and the CPU has AVX-512
/// F/BW/VL/DQ and VNNI. Set TAILOR_NO_AVX512=1 to keep them on the AVX2 kernels (the results
/// are the same bit for bit; benchmarks compare the speed).
bool tk_uses_avx512(void);
/// Keeps K-quant rows on the AVX2 kernels (true) or lets the CPU check decide (false). For tests.
void tk_force_no_avx512(bool on);

// ---------------------------------------------------------------------------------------
// Thread pool: persistent workers that spin briefly, then sleep, between jobs.
// ---------------------------------------------------------------------------------------

typedef struct tk_pool tk_pool;
/// A job body: called once on each of `nth` threads with its index `ith`.
typedef void (*tk_job_fn)(void *ctx, int ith, int nth);

/// Starts `nthreads - 1` workers (the caller is thread 0). Pair with tk_pool_destroy.
tk_pool *tk_pool_create(int nthreads);
/// Stops and joins the workers and frees the pool.
void tk_pool_destroy(tk_pool *pool);
/// Number of threads, the caller included.
int tk_pool_size(const tk_pool *pool);
/// Runs `fn` on every thread and returns when all are done. Not reentrant.
void tk_pool_run(tk_pool *pool, tk_job_fn fn, void *ctx);

// ---------------------------------------------------------------------------------------
// Matrix products.
// ---------------------------------------------------------------------------------------

/// Bytes of scratch tk_matmul needs to quantize `nx` activation rows of `cols` values for a
/// weight of `type`: at most 64 rows' worth, however large `nx`, since tk_matmul quantizes a
/// batch 64 rows at a time.
size_t tk_matmul_scratch_size(int type, int64_t cols, int64_t nx);

/// Y = X · Wᵀ with integer dot products: y[b*ldy + r] = Σ_i W[r,i]·x[b*ldx + i].
/// Quantized weights are dotted in their blocks against activations quantized to int16 into
/// `scratch` (tk_matmul_scratch_size bytes), 64 rows at a time; every weight row is read once
/// per 64 activation rows (the "two rows per weight read" of CoPe decoding). Decode uses it,
/// and so does the integer prefill path, where f32 arithmetic is slow. With `f32_activations`
/// the weights are instead dequantized block by block and dotted in f32 (the exact path,
/// scratch unused). Splits rows over the pool; a chunk of 8 or more rows is also quantized on
/// the pool.
void tk_matmul(tk_pool *pool, int type, const void *w, int64_t rows, int64_t cols,
               const float *x, int64_t ldx, int64_t nx, float *y, int64_t ldy, void *scratch,
               bool f32_activations);

/// How a product's weight rows split into tiles for the pool's round-robin: `count` tiles of
/// `span` rows (the last one may be shorter), at most `cap` rows each, `count` a multiple of
/// `nth` where the rows allow, so that every thread gets the same rows. Tiles of `cap` rows left
/// a thread idle for part of every product: 576 rows at 256 per tile made tiles of 256, 256 and
/// 64 (one thread 320 rows, the other 256), and a 192-row product one tile, the other thread
/// idle. Spans are whole multiples of 16 rows when `cap` is (sgemm's blocking, bf16's halves).
void tk_tile_plan(int64_t rows, int64_t cap, int nth, int64_t *count, int64_t *span);

/// Y = X · Wᵀ for a large batch (prefill, training): dequantizes `tile_rows` weight rows at a
/// time into per-thread f32 tiles and calls sgemm. `tiles` must hold
/// nthreads * tile_rows * cols floats. When `accumulate` is true, adds into y.
void tk_matmul_gemm(tk_pool *pool, int type, const void *w, int64_t rows, int64_t cols,
                    const float *x, int64_t ldx, int64_t nx, float *y, int64_t ldy,
                    float *tiles, int64_t tile_rows, bool accumulate);

/// Whether the bf16 path can run: oneDNN (libdnnl.so.3 or .so.2) loads at run time and its bf16
/// GEMM gives an exact small product. Checked once per process.
bool tk_bf16_available(void);

/// OpenBLAS's name for the kernel family it loaded ("Haswell", "SkylakeX", "Prescott", ...).
const char *tk_blas_corename(void);

/// The OPENBLAS_CORETYPE a CPU with these features should get when OpenBLAS loaded `corename`:
/// "SkylakeX" or "Haswell" when `corename` is OpenBLAS's SSE3 fallback ("Prescott") on a CPU
/// with AVX-512 (F, CD, BW, DQ, VL) or AVX2 and FMA; NULL when OpenBLAS chose well.
const char *tk_blas_coretype_for(const char *corename, bool avx2_fma, bool avx512_skylake);

/// tk_blas_coretype_for on this process's OpenBLAS and this CPU.
const char *tk_blas_coretype_override(void);

/// As tk_matmul_gemm, in bf16: X's rows are rounded to bf16 into `xb` (nx * cols halves), each
/// tile of weight rows is dequantized and rounded to bf16, and oneDNN's GEMM accumulates the
/// products in f32. `tiles` as for tk_matmul_gemm, with `tile_rows` even. Without oneDNN it is
/// tk_matmul_gemm.
void tk_matmul_gemm_bf16(tk_pool *pool, int type, const void *w, int64_t rows, int64_t cols,
                         const float *x, int64_t ldx, int64_t nx, float *y, int64_t ldy,
                         float *tiles, int64_t tile_rows, uint16_t *xb, bool accumulate);

/// DX = DY · W, the transposed product training needs (dx = Wᵀ·dy per row):
/// dx[b*lddx + i] (+)= Σ_r dy[b*lddy + r]·W[r,i]. Dequantizes tiles of rows and uses sgemm.
/// `tiles` as for tk_matmul_gemm. Threads split the input dimension's output columns by
/// accumulating per-thread partial sums over their row range into `partial`
/// (nthreads * nx * cols floats), then reducing.
void tk_matmul_transposed(tk_pool *pool, int type, const void *w, int64_t rows, int64_t cols,
                          const float *dy, int64_t lddy, int64_t nx, float *dx, int64_t lddx,
                          float *tiles, int64_t tile_rows, float *partial, bool accumulate);

/// As tk_matmul_transposed, in bf16 (see tk_matmul_gemm_bf16): each tile of weight rows and the
/// matching columns of DY are rounded to bf16, the products summed in f32. `tile_rows` even.
/// Without oneDNN it is tk_matmul_transposed.
void tk_matmul_transposed_bf16(tk_pool *pool, int type, const void *w, int64_t rows, int64_t cols,
                               const float *dy, int64_t lddy, int64_t nx, float *dx, int64_t lddx,
                               float *tiles, int64_t tile_rows, float *partial, bool accumulate);

/// Plain f32 sgemm: C[m×n] = alpha·op(A)·op(B) + beta·C, row-major (cblas semantics), with the
/// m rows of C split over the pool.
void tk_sgemm(tk_pool *pool, bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha,
              const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
              float *c, int64_t ldc);

/// Dot product of two f32 vectors.
float tk_dot_f32(const float *a, const float *b, int64_t n);
/// y += a·x.
void tk_axpy_f32(float a, const float *x, float *y, int64_t n);
/// log Σ_i exp(x[i]) of a logit row (relative error of the sum below 1e-6), writing max_i x[i]
/// to *max_out when it is not NULL. Every sampled token's log-probability needs one, and CoPe
/// two, over vocabularies of 50k-250k entries: it runs vectorized, without libm's scalar expf.
/// An empty row gives -inf; a row holding +inf or NaN gives that value.
float tk_logsumexp(const float *x, int64_t n, float *max_out);
/// x[i] = scale · exp(x[i] − shift), vectorized; shift must be ≥ max x (a row's log-sum-exp
/// turns logits into scaled probabilities, as the loss gradient needs).
void tk_exp_shift_scale(float *x, int64_t n, float shift, float scale);


// ---------------------------------------------------------------------------------------
// Attention.
// ---------------------------------------------------------------------------------------

/// Causal (optionally sliding-window) attention of `nq` query rows of one sequence against
/// its KV cache, split over (row, head) pairs on the pool.
///   q:    [nq][n_head*head_dim], row stride ldq        (query i sits at position pos0 + i)
///   k, v: [n_ctx][n_kv*head_dim], row stride ldkv      (cache rows 0 ... pos0+nq-1 filled)
///   out:  [nq][n_head*head_dim], row stride ldo
///   probs: optional [nq][n_head][n_ctx] attention probabilities, kept for training; NULL in decode
///   scratch: nthreads * tk_attention_scratch_rows(n_head, n_kv) * n_ctx floats
/// A query at position p sees keys j with j <= p and, when window > 0, p - j < window.
/// Head h reads KV head h / (n_head / n_kv) (grouped-query attention). Scores are scale·q·k,
/// soft-capped to softcap·tanh(score/softcap) when softcap > 0 (Gemma 2), then softmaxed.
void tk_attention(tk_pool *pool, const float *q, int64_t ldq, int nq, int64_t pos0,
                  const float *k, const float *v, int64_t ldkv, int n_head, int n_kv,
                  int head_dim, float scale, float softcap, int window, float *out, int64_t ldo,
                  float *probs, int64_t n_ctx, float *scratch);

/// Score rows of n_ctx floats each thread of tk_attention and tk_attention_seqs needs: one per
/// query head of a KV head's group (at most 16), which a thread attends together so that the
/// group's keys and values are read from memory once.
int tk_attention_scratch_rows(int n_head, int n_kv);

/// One sequence of a tk_attention_seqs call: its new query rows and its own KV cache.
///   q:   [nq][n_head*head_dim]   (query i sits at position pos0 + i)
///   k,v: KV head h's position p at k + h*kv_head_stride + p*ldkv (positions 0 ... pos0+nq-1
///        filled): [n_ctx][n_kv*head_dim] has ldkv = n_kv*head_dim and kv_head_stride = head_dim;
///        the decode cache is head-major, [n_kv][n_ctx][head_dim], ldkv = head_dim and
///        kv_head_stride = n_ctx*head_dim, so one head's keys are one contiguous stream
///   out: [nq][n_head*head_dim]
typedef struct {
    const float *q;
    int nq;
    int64_t pos0;
    const float *k, *v;
    float *out;
} tk_attention_seq;

/// tk_attention over several sequences in one pool handoff, their (row, head) pairs shared out
/// together: a batch's rows (CoPe's user and base rows, a decode batch of users) each attend
/// to their own cache, and an odd head count no longer idles a thread once per sequence.
/// Shapes as in tk_attention, KV strides as in tk_attention_seq; no probabilities (decode only).
void tk_attention_seqs(tk_pool *pool, const tk_attention_seq *seqs, int count, int64_t ldq, int64_t ldkv,
                       int64_t kv_head_stride, int n_head, int n_kv, int head_dim, float scale, float softcap,
                       int window, int64_t ldo, int64_t n_ctx, float *scratch);

/// h = act(g) ⊙ u over n values, the gated feed-forward's activation: SiLU, or GELU's tanh
/// approximation when `gelu` (Gemma). Vectorized; `h` may alias `g`.
void tk_gated_activation(const float *g, const float *u, float *h, int64_t n, bool gelu);

#ifdef __cplusplus
}
#endif
#endif
