// attention.c - causal, grouped-query, optionally sliding-window attention over an f32 KV cache.
// Scores use a max-subtracted softmax accumulated in f32.
#include "tailor_kernels.h"
#include "blocks.h"
#include <math.h>

typedef struct {
    const float *q; int64_t ldq; int nq; int64_t pos0;
    const float *k, *v; int64_t ldkv; int n_head, n_kv, hd; float scale; int window;
    float *out; int64_t ldo; float *probs; int64_t n_ctx; float *scratch;
} attn_job;

static void attn_run(void *p, int ith, int nth) {
    const attn_job *j = p;
    const tk_vtable *vt = tk_active();
    float *s = j->scratch + (size_t)ith * (size_t)j->n_ctx;
    const int group = j->n_head / j->n_kv;
    const int64_t total = (int64_t)j->nq * j->n_head;
    for (int64_t t = ith; t < total; t += nth) {
        const int i = (int)(t / j->n_head), h = (int)(t % j->n_head), kvh = h / group;
        const int64_t pos = j->pos0 + i;
        const int64_t lo = (j->window > 0 && pos - j->window + 1 > 0) ? pos - j->window + 1 : 0;
        const float *qi = j->q + i * j->ldq + (int64_t)h * j->hd;
        float *o = j->out + i * j->ldo + (int64_t)h * j->hd;
        const int64_t kvoff = (int64_t)kvh * j->hd;
        vt->attend(qi, j->k + kvoff, j->v + kvoff, j->ldkv, lo, pos, j->hd, j->scale, s, o);
        if (j->probs) {
            float *pr = j->probs + ((int64_t)i * j->n_head + h) * j->n_ctx;
            for (int64_t key = 0; key < j->n_ctx; key++) pr[key] = (key >= lo && key <= pos) ? s[key] : 0.0f;
        }
    }
}

void tk_attention(tk_pool *pool, const float *q, int64_t ldq, int nq, int64_t pos0,
                  const float *k, const float *v, int64_t ldkv, int n_head, int n_kv,
                  int head_dim, float scale, int window, float *out, int64_t ldo,
                  float *probs, int64_t n_ctx, float *scratch) {
    attn_job job = { q, ldq, nq, pos0, k, v, ldkv, n_head, n_kv, head_dim, scale, window,
                     out, ldo, probs, n_ctx, scratch };
    tk_pool_run(pool, attn_run, &job);
}
