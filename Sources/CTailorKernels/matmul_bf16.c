// matmul_bf16.c - the bf16 prefill path, and training's transposed product on it: weights and
// activations rounded to bfloat16, products accumulated in f32 by oneDNN's bf16 GEMM (vdpbf16ps
// on AVX512_BF16 and AMX hosts, where it runs 2-2.5× sgemm). oneDNN is loaded at run time, so
// the build needs none and a host without it (or without a fast bf16 unit: the path selection
// measures) keeps the float and integer paths. The GEMM is called per thread on per-thread
// tiles, like sgemm in matmul.c, with oneDNN's own OpenMP team pinned to the calling thread.
#include "tailor_kernels.h"
#include "blocks.h"
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

/// oneDNN's row-major bf16 GEMM (exported by libdnnl 2.x and 3.x; its declaration is internal):
/// C[m×n] = alpha·op(A)·op(B) + beta·C with A, B in bf16 and C in f32. Returns 0 on success.
typedef int (*gemm_bf16_fn)(char transa, char transb, int64_t m, int64_t n, int64_t k, float alpha,
                            const uint16_t *a, int64_t lda, const uint16_t *b, int64_t ldb, float beta,
                            float *c, int64_t ldc);
typedef void (*omp_threads_fn)(int);

static gemm_bf16_fn gemm_bf16;
static omp_threads_fn omp_set_threads;
static bool bf16_ok;
static pthread_once_t bf16_once = PTHREAD_ONCE_INIT;

/// f32 → bf16, rounding to nearest even (as torch and oneDNN's reorders round).
static inline uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static void convert_row(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = to_bf16(x[i]);
}

/// Loads oneDNN and checks its GEMM on a product whose answer is exact in bf16.
static void bf16_load(void) {
    const char *names[] = { "libdnnl.so.3", "libdnnl.so.2" };
    for (size_t i = 0; i < sizeof names / sizeof *names && !gemm_bf16; i++) {
        void *lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (!lib) continue;
        gemm_bf16 = (gemm_bf16_fn)dlsym(lib, "dnnl_gemm_bf16bf16f32");
        omp_set_threads = (omp_threads_fn)dlsym(lib, "omp_set_num_threads");
        if (!gemm_bf16 || !omp_set_threads) { gemm_bf16 = NULL; dlclose(lib); }
    }
    if (!gemm_bf16) return;
    omp_set_threads(1);
    // A[2×3] · B[2×3]ᵀ over small integers: C = [[14, 32], [2, 2]]
    const float a[6] = { 1, 2, 3, -1, 0, 1 }, b[6] = { 1, 2, 3, 4, 5, 6 };
    uint16_t ab[6], bb[6];
    convert_row(a, ab, 6);
    convert_row(b, bb, 6);
    float c[4] = { 0 };
    const int status = gemm_bf16('N', 'T', 2, 2, 3, 1.0f, ab, 3, bb, 3, 0.0f, c, 2);
    bf16_ok = status == 0 && c[0] == 14 && c[1] == 32 && c[2] == 2 && c[3] == 2;
}

bool tk_bf16_available(void) {
    pthread_once(&bf16_once, bf16_load);
    return bf16_ok;
}

typedef struct {
    const tk_vtable *vt;
    int type; const uint8_t *w; int64_t rows, cols; size_t rb;
    const float *x; int64_t ldx; uint16_t *xb; int64_t nx;
    float *y; int64_t ldy;
    float *tiles; int64_t tile_rows; float beta;
    float *partial;  // transposed product only: per-thread nx×cols sums
    int64_t ntiles, span;  // tk_tile_plan's split of the rows
} bf16_job;

/// Rows of X split over the pool, each rounded to bf16 into xb (row length cols).
static void convert_run(void *p, int ith, int nth) {
    const bf16_job *j = p;
    for (int64_t b = ith; b < j->nx; b += nth) convert_row(j->x + b * j->ldx, j->xb + b * j->cols, j->cols);
}

/// Tile t of the weight rows in bf16, rows [*r0, *r0 + *tr). The thread's tile area holds
/// tile_rows × cols floats: its first half takes the bf16 tile, its second half the f32 rows
/// dequantized on the way, half a tile at a time.
static const uint16_t *weight_tile(const bf16_job *j, int64_t t, float *area, int64_t *r0, int64_t *tr) {
    *r0 = t * j->span;
    *tr = *r0 + j->span <= j->rows ? j->span : j->rows - *r0;
    uint16_t *tile = (uint16_t *)area;
    float *staging = area + j->tile_rows * j->cols / 2;
    const int64_t step = j->tile_rows / 2;
    for (int64_t s = 0; s < *tr; s += step) {
        const int64_t n = *tr - s < step ? *tr - s : step;
        j->vt->dequant_row(j->type, j->w + (size_t)(*r0 + s) * j->rb, staging, n * j->cols);
        convert_row(staging, tile + s * j->cols, n * j->cols);
    }
    return tile;
}

static void gemm_run(void *p, int ith, int nth) {
    const bf16_job *j = p;
    omp_set_threads(1);  // this thread's OpenMP team: itself; the pool is the parallelism
    float *area = j->tiles + (size_t)ith * (size_t)(j->tile_rows * j->cols);
    for (int64_t t = ith; t < j->ntiles; t += nth) {
        int64_t r0, tr;
        const uint16_t *wt = weight_tile(j, t, area, &r0, &tr);
        // Y[:, r0:r0+tr] = Xb · Tileᵀ
        gemm_bf16('N', 'T', j->nx, tr, j->cols, 1.0f, j->xb, j->cols, wt, j->cols, j->beta, j->y + r0, j->ldy);
    }
}

void tk_matmul_gemm_bf16(tk_pool *pool, int type, const void *w, int64_t rows, int64_t cols,
                         const float *x, int64_t ldx, int64_t nx, float *y, int64_t ldy,
                         float *tiles, int64_t tile_rows, uint16_t *xb, bool accumulate) {
    if (!tk_bf16_available()) {
        tk_matmul_gemm(pool, type, w, rows, cols, x, ldx, nx, y, ldy, tiles, tile_rows, accumulate);
        return;
    }
    bf16_job job = { tk_active(), type, w, rows, cols, tk_row_bytes(type, cols), x, ldx, xb, nx, y, ldy,
                     tiles, tile_rows, accumulate ? 1.0f : 0.0f, NULL, 0, 0 };
    tk_tile_plan(rows, tile_rows, tk_pool_size(pool), &job.ntiles, &job.span);
    tk_pool_run(pool, convert_run, &job);
    tk_pool_run(pool, gemm_run, &job);
}

/// part[nx×cols] += DY[:, r0:r0+tr] · Tile per tile of this thread. Once a tile is rounded, its
/// staging half takes DY's slice in bf16, up to `cols` rows of it at a time (tr × cols halves).
static void gemm_t_run(void *p, int ith, int nth) {
    const bf16_job *j = p;
    omp_set_threads(1);
    float *area = j->tiles + (size_t)ith * (size_t)(j->tile_rows * j->cols);
    uint16_t *dyb = (uint16_t *)(area + j->tile_rows * j->cols / 2);
    float *part = j->partial + (size_t)ith * (size_t)(j->nx * j->cols);
    memset(part, 0, sizeof(float) * (size_t)(j->nx * j->cols));
    for (int64_t t = ith; t < j->ntiles; t += nth) {
        int64_t r0, tr;
        const uint16_t *wt = weight_tile(j, t, area, &r0, &tr);
        for (int64_t b0 = 0; b0 < j->nx; b0 += j->cols) {
            const int64_t m = j->nx - b0 < j->cols ? j->nx - b0 : j->cols;
            for (int64_t b = 0; b < m; b++) convert_row(j->x + (b0 + b) * j->ldx + r0, dyb + b * tr, tr);
            gemm_bf16('N', 'N', m, j->cols, tr, 1.0f, dyb, tr, wt, j->cols, 1.0f, part + b0 * j->cols, j->cols);
        }
    }
}

void tk_matmul_transposed_bf16(tk_pool *pool, int type, const void *w, int64_t rows, int64_t cols,
                               const float *dy, int64_t lddy, int64_t nx, float *dx, int64_t lddx,
                               float *tiles, int64_t tile_rows, float *partial, bool accumulate) {
    if (!tk_bf16_available()) {
        tk_matmul_transposed(pool, type, w, rows, cols, dy, lddy, nx, dx, lddx, tiles, tile_rows, partial, accumulate);
        return;
    }
    bf16_job job = { tk_active(), type, w, rows, cols, tk_row_bytes(type, cols), dy, lddy, NULL, nx, NULL, 0,
                     tiles, tile_rows, 0.0f, partial, 0, 0 };
    tk_tile_plan(rows, tile_rows, tk_pool_size(pool), &job.ntiles, &job.span);
    tk_pool_run(pool, gemm_t_run, &job);
    tk_sum_partials(pool, partial, nx, cols, dx, lddx, accumulate);
}
