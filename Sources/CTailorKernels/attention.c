// attention.c - causal, grouped-query, optionally sliding-window attention over an f32 KV cache.
// Scores use a max-subtracted softmax accumulated in f32.
#include "tailor_kernels.h"
#include "blocks.h"
#include <math.h>

typedef struct {
    const tk_attention_seq *seqs; int count;
    int64_t ldq, ldkv, kv_head_stride; int n_head, n_kv, hd; float scale, softcap; int window;
    int64_t ldo; float *probs; int64_t n_ctx; float *scratch;
    int64_t total;   // Σ nq · n_head: the (sequence, query, head) units
} attn_job;

/// Unit u of the job: its sequence, and its (query, head) inside that sequence.
static const tk_attention_seq *locate(const attn_job *j, int64_t u, int64_t *local) {
    for (int i = 0; i < j->count; i++) {
        const int64_t units = (int64_t)j->seqs[i].nq * j->n_head;
        if (u < units) { *local = u; return &j->seqs[i]; }
        u -= units;
    }
    *local = 0;
    return NULL;
}

int tk_attention_scratch_rows(int n_head, int n_kv) {
    const int group = n_kv > 0 ? n_head / n_kv : 1;
    return group < 1 ? 1 : (group > TK_ATTEND_GROUP_MAX ? TK_ATTEND_GROUP_MAX : group);
}

static void attn_run(void *p, int ith, int nth) {
    const attn_job *j = p;
    const tk_vtable *vt = tk_active();
    const int group = j->n_head / j->n_kv, part = tk_attention_scratch_rows(j->n_head, j->n_kv);
    float *s = j->scratch + (size_t)ith * (size_t)part * (size_t)j->n_ctx;
    // Units go out in runs of `group` (the query heads sharing one KV head, adjacent in unit
    // order), the runs round-robin over every sequence: a thread attends a KV head's query heads
    // together (in parts of at most TK_ATTEND_GROUP_MAX), reading its keys and values from
    // memory once, and CoPe's two rows share out together, where one call per row would idle a
    // thread whenever n_head is odd.
    const int64_t runs = j->total / group;
    const float *qs[TK_ATTEND_GROUP_MAX];
    float *outs[TK_ATTEND_GROUP_MAX];
    for (int64_t c = ith; c < runs; c += nth)
    for (int64_t t0 = c * group; t0 < (c + 1) * group; t0 += part) {
        int64_t u;
        const tk_attention_seq *sq = locate(j, t0, &u);
        const int i = (int)(u / j->n_head), h0 = (int)(u % j->n_head), kvh = h0 / group;
        const int heads = (int)((c + 1) * group - t0 < part ? (c + 1) * group - t0 : part);
        const int64_t pos = sq->pos0 + i;
        const int64_t lo = (j->window > 0 && pos - j->window + 1 > 0) ? pos - j->window + 1 : 0;
        for (int g = 0; g < heads; g++) {
            qs[g] = sq->q + i * j->ldq + (int64_t)(h0 + g) * j->hd;
            outs[g] = sq->out + i * j->ldo + (int64_t)(h0 + g) * j->hd;
        }
        const int64_t kvoff = (int64_t)kvh * j->kv_head_stride;
        vt->attend_group(qs, heads, sq->k + kvoff, sq->v + kvoff, j->ldkv, lo, pos, j->hd, j->scale, j->softcap, s,
                         j->n_ctx, outs);
        if (j->probs)   // only single-sequence calls carry probs (tk_attention)
            for (int g = 0; g < heads; g++) {
                const float *sg = s + (int64_t)g * j->n_ctx;
                float *pr = j->probs + ((int64_t)i * j->n_head + h0 + g) * j->n_ctx;
                for (int64_t key = 0; key < j->n_ctx; key++) pr[key] = (key >= lo && key <= pos) ? sg[key] : 0.0f;
            }
    }
}

void tk_attention(tk_pool *pool, const float *q, int64_t ldq, int nq, int64_t pos0,
                  const float *k, const float *v, int64_t ldkv, int n_head, int n_kv,
                  int head_dim, float scale, float softcap, int window, float *out, int64_t ldo,
                  float *probs, int64_t n_ctx, float *scratch) {
    const tk_attention_seq seq = { q, nq, pos0, k, v, out };
    attn_job job = { &seq, 1, ldq, ldkv, head_dim, n_head, n_kv, head_dim, scale, softcap, window, ldo, probs, n_ctx,
                     scratch, (int64_t)nq * n_head };
    tk_pool_run(pool, attn_run, &job);
}

void tk_attention_seqs(tk_pool *pool, const tk_attention_seq *seqs, int count, int64_t ldq, int64_t ldkv,
                       int64_t kv_head_stride, int n_head, int n_kv, int head_dim, float scale, float softcap,
                       int window, int64_t ldo, int64_t n_ctx, float *scratch) {
    int64_t total = 0;
    for (int i = 0; i < count; i++) total += (int64_t)seqs[i].nq * n_head;
    if (total == 0) return;
    attn_job job = { seqs, count, ldq, ldkv, kv_head_stride, n_head, n_kv, head_dim, scale, softcap, window, ldo, NULL,
                     n_ctx, scratch, total };
    tk_pool_run(pool, attn_run, &job);
}
