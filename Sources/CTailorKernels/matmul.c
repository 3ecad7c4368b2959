// matmul.c - matrix products over GGUF weights, split across the thread pool.
//
// Decode and the integer prefill path (tk_matmul): weights stay in their quantized blocks;
// activations are quantized, TK_QUANT_CHUNK rows at a time, into caller-provided scratch, and each
// thread walks its slice of weight rows, dotting each row with the chunk's activation rows while
// the row is hot in L1.
// Prefill/training (tk_matmul_gemm, tk_matmul_transposed): each thread dequantizes tiles of
// weight rows into its own f32 tile and calls OpenBLAS sgemm on one thread; the pool provides
// the parallelism, so OpenBLAS's own threads are pinned to 1.
#include "tailor_kernels.h"
#include "blocks.h"
#include <pthread.h>
#include <string.h>

// OpenBLAS's CBLAS entry points, declared here so no header path is needed.
enum { CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112 };
void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha,
                 const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
void openblas_set_num_threads(int n);

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static void blas_single_thread(void) { openblas_set_num_threads(1); }

static int uses_k_blocks(int type) {
    return type == TK_Q2_K || type == TK_Q3_K || type == TK_Q4_K || type == TK_Q5_K || type == TK_Q6_K
        || type == TK_IQ4_XS;
}
static int is_float_type(int type) { return type == TK_F32 || type == TK_F16 || type == TK_BF16; }

/// Activation rows quantized per pass: a chunk of a 4864-wide row set is 64 × 10 KB, which stays
/// in L2 while every weight row is dotted with it; the weights are read once per chunk.
#define TK_QUANT_CHUNK 64
/// Chunks with this many rows are quantized on the pool rather than on the caller.
#define TK_QUANT_PARALLEL 8

size_t tk_matmul_scratch_size(int type, int64_t cols, int64_t nx) {
    if (is_float_type(type)) return 0;
    if (nx > TK_QUANT_CHUNK) nx = TK_QUANT_CHUNK;
    if (uses_k_blocks(type)) return (size_t)nx * (size_t)(cols / QKK) * sizeof(act_q16_K);
    return (size_t)nx * (size_t)(cols / QK32) * sizeof(act_q16_32);
}

static void split(int64_t n, int ith, int nth, int64_t align, int64_t *lo, int64_t *hi) {
    int64_t per = (n + nth - 1) / nth;
    per = (per + align - 1) / align * align;
    *lo = per * ith < n ? per * ith : n;
    *hi = *lo + per < n ? *lo + per : n;
}

typedef struct {
    const tk_vtable *vt;
    int type; const uint8_t *w; int64_t rows, cols; size_t rb;
    const float *x; int64_t ldx; int nx;
    const uint8_t *xq; size_t xq_stride;
    float *y; int64_t ldy;
} matvec_job;

static void matvec_run(void *p, int ith, int nth) {
    const matvec_job *j = p;
    int64_t r0, r1;
    split(j->rows, ith, nth, 8, &r0, &r1);
    if (j->xq) {
        if (r1 > r0)
            j->vt->matvec_q(j->type, j->w + (size_t)r0 * j->rb, j->rb, r1 - r0, j->xq, j->xq_stride, j->nx, j->cols,
                            j->y + r0, j->ldy);
    } else {
        for (int64_t r = r0; r < r1; r++) {
            const void *wr = j->w + (size_t)r * j->rb;
            for (int b = 0; b < j->nx; b++)
                j->y[b * j->ldy + r] = j->vt->dot_f(j->type, wr, j->x + b * j->ldx, j->cols);
        }
    }
}

typedef struct {
    const tk_vtable *vt;
    bool k_blocks; const float *x; int64_t ldx, cols; int nx;
    uint8_t *xq; size_t stride;
} quantize_job;

/// Rows of a chunk split over the pool, each quantized whole by one thread.
static void quantize_run(void *p, int ith, int nth) {
    const quantize_job *j = p;
    int64_t b0, b1;
    split(j->nx, ith, nth, 1, &b0, &b1);
    for (int64_t b = b0; b < b1; b++) {
        if (j->k_blocks) j->vt->quantize_K(j->x + b * j->ldx, (act_q16_K *)(j->xq + b * j->stride), j->cols);
        else j->vt->quantize_32(j->x + b * j->ldx, (act_q16_32 *)(j->xq + b * j->stride), j->cols);
    }
}

void tk_matmul(tk_pool *pool, int type, const void *w, int64_t rows, int64_t cols,
               const float *x, int64_t ldx, int64_t nx, float *y, int64_t ldy, void *scratch,
               bool f32_activations) {
    const tk_vtable *vt = tk_active();
    if (is_float_type(type) || f32_activations) {
        // f32 activations need no scratch, so the whole batch is one pool run
        matvec_job job = { vt, type, w, rows, cols, tk_row_bytes(type, cols), x, ldx, (int)nx, NULL, 0, y, ldy };
        tk_pool_run(pool, matvec_run, &job);
        return;
    }
    const bool k = uses_k_blocks(type);
    const size_t stride = k ? (size_t)(cols / QKK) * sizeof(act_q16_K) : (size_t)(cols / QK32) * sizeof(act_q16_32);
    for (int64_t b0 = 0; b0 < nx; b0 += TK_QUANT_CHUNK) {
        const int m = (int)(nx - b0 < TK_QUANT_CHUNK ? nx - b0 : TK_QUANT_CHUNK);
        quantize_job qj = { vt, k, x + b0 * ldx, ldx, cols, m, scratch, stride };
        if (m >= TK_QUANT_PARALLEL) tk_pool_run(pool, quantize_run, &qj);
        else quantize_run(&qj, 0, 1);
        matvec_job job = { vt, type, w, rows, cols, tk_row_bytes(type, cols), NULL, 0, m, scratch, stride,
                           y + b0 * ldy, ldy };
        tk_pool_run(pool, matvec_run, &job);
    }
}

void tk_tile_plan(int64_t rows, int64_t cap, int nth, int64_t *count, int64_t *span) {
    if (nth < 1) nth = 1;
    const int64_t align = cap % 16 == 0 ? 16 : 1;
    const int64_t tiles = (rows + cap * nth - 1) / (cap * nth) * nth;
    int64_t s = tiles > 0 ? (rows + tiles - 1) / tiles : 0;
    s = (s + align - 1) / align * align;
    *span = s < cap ? s : cap;
    *count = *span > 0 ? (rows + *span - 1) / *span : 0;
}

typedef struct {
    const tk_vtable *vt;
    int type; const uint8_t *w; int64_t rows, cols; size_t rb;
    const float *x; int64_t ldx; int64_t nx;
    float *y; int64_t ldy;
    float *tiles; int64_t tile_rows; float beta;
    float *partial;  // transposed product only: per-thread nx×cols sums
    int64_t ntiles, span;  // tk_tile_plan's split of the rows
} gemm_job;

/// Tile t of the weight rows as f32: rows [*r0, *r0 + *tr). F32 weights are used in place;
/// others are dequantized into this thread's `tile`.
static const float *weight_tile(const gemm_job *j, int64_t t, float *tile, int64_t *r0, int64_t *tr) {
    *r0 = t * j->span;
    *tr = *r0 + j->span <= j->rows ? j->span : j->rows - *r0;
    const uint8_t *src = j->w + (size_t)*r0 * j->rb;
    if (j->type == TK_F32) return (const float *)src;
    j->vt->dequant_row(j->type, src, tile, *tr * j->cols);
    return tile;
}

static void gemm_run(void *p, int ith, int nth) {
    const gemm_job *j = p;
    float *tile = j->tiles + (size_t)ith * (size_t)(j->tile_rows * j->cols);
    for (int64_t t = ith; t < j->ntiles; t += nth) {
        int64_t r0, tr;
        const float *wt = weight_tile(j, t, tile, &r0, &tr);
        // Y[:, r0:r0+tr] = X · Tileᵀ
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)j->nx, (int)tr, (int)j->cols, 1.0f,
                    j->x, (int)j->ldx, wt, (int)j->cols, j->beta, j->y + r0, (int)j->ldy);
    }
}

void tk_matmul_gemm(tk_pool *pool, int type, const void *w, int64_t rows, int64_t cols,
                    const float *x, int64_t ldx, int64_t nx, float *y, int64_t ldy,
                    float *tiles, int64_t tile_rows, bool accumulate) {
    pthread_once(&blas_once, blas_single_thread);
    gemm_job job = { tk_active(), type, w, rows, cols, tk_row_bytes(type, cols), x, ldx, nx, y, ldy,
                     tiles, tile_rows, accumulate ? 1.0f : 0.0f, NULL, 0, 0 };
    tk_tile_plan(rows, tile_rows, tk_pool_size(pool), &job.ntiles, &job.span);
    tk_pool_run(pool, gemm_run, &job);
}

static void gemm_t_run(void *p, int ith, int nth) {
    const gemm_job *j = p;
    float *tile = j->tiles + (size_t)ith * (size_t)(j->tile_rows * j->cols);
    float *part = j->partial + (size_t)ith * (size_t)(j->nx * j->cols);
    memset(part, 0, sizeof(float) * (size_t)(j->nx * j->cols));
    for (int64_t t = ith; t < j->ntiles; t += nth) {
        int64_t r0, tr;
        const float *wt = weight_tile(j, t, tile, &r0, &tr);
        // part[nx×cols] += DY[:, r0:r0+tr] · Tile
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)j->nx, (int)j->cols, (int)tr, 1.0f,
                    j->x + r0, (int)j->ldx, wt, (int)j->cols, 1.0f, part, (int)j->cols);
    }
}

typedef struct {
    const float *partial; int nparts; int64_t nx, cols; float *y; int64_t ldy; float beta;
} reduce_job;

static void reduce_run(void *p, int ith, int nth) {
    const reduce_job *r = p;
    int64_t c0, c1;
    split(r->cols, ith, nth, 16, &c0, &c1);
    for (int64_t b = 0; b < r->nx; b++) {
        float *out = r->y + b * r->ldy;
        for (int64_t c = c0; c < c1; c++) {
            float s = r->beta != 0.0f ? out[c] : 0.0f;
            for (int t = 0; t < r->nparts; t++)
                s += r->partial[(size_t)t * (size_t)(r->nx * r->cols) + b * r->cols + c];
            out[c] = s;
        }
    }
}

void tk_sum_partials(tk_pool *pool, const float *partial, int64_t nx, int64_t cols, float *y, int64_t ldy,
                     bool accumulate) {
    reduce_job red = { partial, tk_pool_size(pool), nx, cols, y, ldy, accumulate ? 1.0f : 0.0f };
    tk_pool_run(pool, reduce_run, &red);
}

void tk_matmul_transposed(tk_pool *pool, int type, const void *w, int64_t rows, int64_t cols,
                          const float *dy, int64_t lddy, int64_t nx, float *dx, int64_t lddx,
                          float *tiles, int64_t tile_rows, float *partial, bool accumulate) {
    pthread_once(&blas_once, blas_single_thread);
    gemm_job job = { tk_active(), type, w, rows, cols, tk_row_bytes(type, cols), dy, lddy, nx, dx, lddx,
                     tiles, tile_rows, accumulate ? 1.0f : 0.0f, partial, 0, 0 };
    tk_tile_plan(rows, tile_rows, tk_pool_size(pool), &job.ntiles, &job.span);
    tk_pool_run(pool, gemm_t_run, &job);
    tk_sum_partials(pool, partial, nx, cols, dx, lddx, accumulate);
}

typedef struct {
    bool ta, tb; int64_t m, n, k; float alpha; const float *a; int64_t lda;
    const float *b; int64_t ldb; float beta; float *c; int64_t ldc;
} sgemm_job;

static void sgemm_run(void *p, int ith, int nth) {
    const sgemm_job *j = p;
    int64_t m0, m1;
    split(j->m, ith, nth, 4, &m0, &m1);
    if (m1 <= m0) return;
    const float *a = j->ta ? j->a + m0 : j->a + m0 * j->lda;
    cblas_sgemm(CblasRowMajor, j->ta ? CblasTrans : CblasNoTrans, j->tb ? CblasTrans : CblasNoTrans,
                (int)(m1 - m0), (int)j->n, (int)j->k, j->alpha, a, (int)j->lda, j->b, (int)j->ldb,
                j->beta, j->c + m0 * j->ldc, (int)j->ldc);
}

void tk_sgemm(tk_pool *pool, bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha,
              const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
              float *c, int64_t ldc) {
    // A LoRA delta on a few decode rows (CoPe's two, a batch's handful): our own kernel on the
    // caller. OpenBLAS spent most of such a call packing B, about 8% of a decode step.
    if (m <= 4 && !transA && transB) {
        tk_active()->gemm_nt_small(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    pthread_once(&blas_once, blas_single_thread);
    // Other small products run on the caller too: waking the pool for a few thousand
    // multiply-adds costs more than the work.
    if (m * n * k <= (int64_t)1 << 17) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
        return;
    }
    sgemm_job job = { transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc };
    tk_pool_run(pool, sgemm_run, &job);
}
