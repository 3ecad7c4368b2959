// pool.c - a persistent thread pool for the forward pass.
//
// A decode step hands work to the threads about 200 times, so a handoff must cost well under a
// microsecond: workers spin on a generation counter. To leave the CPU to others when idle (the
// daemon sits idle most of the time), a worker that has spun for ~a millisecond with no work
// goes to sleep on a condition variable, and tk_pool_run wakes sleepers only when there are some.
#include "tailor_kernels.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define TK_PAUSE() _mm_pause()
#else
#define TK_PAUSE() ((void)0)
#endif

#define TK_SPIN_LIMIT 200000

struct tk_pool {
    int nthreads;
    pthread_t *threads;            // nthreads - 1 workers; freed in tk_pool_destroy
    _Atomic unsigned generation;   // bumped once per job
    _Atomic int pending;           // workers still running the current job
    _Atomic int sleepers;          // workers blocked on `wake`
    _Atomic bool stop;
    tk_job_fn fn;
    void *ctx;
    pthread_mutex_t lock;
    pthread_cond_t wake;
};

typedef struct { tk_pool *pool; int index; } worker_arg;

static void *worker_main(void *p) {
    worker_arg arg = *(worker_arg *)p;
    free(p);
    tk_pool *pool = arg.pool;
    unsigned seen = 0;  // the generation at creation: a job posted before this thread runs is still seen as new
    for (;;) {
        int spins = 0;
        unsigned g;
        while ((g = atomic_load_explicit(&pool->generation, memory_order_acquire)) == seen) {
            if (++spins < TK_SPIN_LIMIT) { TK_PAUSE(); continue; }
            pthread_mutex_lock(&pool->lock);
            atomic_fetch_add(&pool->sleepers, 1);
            while (atomic_load(&pool->generation) == seen && !atomic_load(&pool->stop))
                pthread_cond_wait(&pool->wake, &pool->lock);
            atomic_fetch_sub(&pool->sleepers, 1);
            pthread_mutex_unlock(&pool->lock);
            spins = 0;
        }
        seen = g;
        if (atomic_load(&pool->stop)) return NULL;
        pool->fn(pool->ctx, arg.index, pool->nthreads);
        atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_release);
    }
}

tk_pool *tk_pool_create(int nthreads) {
    if (nthreads < 1) nthreads = 1;
    tk_pool *pool = calloc(1, sizeof(tk_pool));
    if (!pool) return NULL;
    pool->nthreads = nthreads;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pool->threads = calloc((size_t)nthreads, sizeof(pthread_t));
    for (int i = 1; i < nthreads; i++) {
        worker_arg *arg = malloc(sizeof(worker_arg));
        arg->pool = pool;
        arg->index = i;
        pthread_create(&pool->threads[i - 1], NULL, worker_main, arg);
    }
    return pool;
}

void tk_pool_destroy(tk_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->lock);
    atomic_store(&pool->stop, true);
    atomic_fetch_add(&pool->generation, 1);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 1; i < pool->nthreads; i++) pthread_join(pool->threads[i - 1], NULL);
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->lock);
    free(pool->threads);
    free(pool);
}

int tk_pool_size(const tk_pool *pool) { return pool ? pool->nthreads : 1; }

void tk_pool_run(tk_pool *pool, tk_job_fn fn, void *ctx) {
    if (!pool || pool->nthreads == 1) { fn(ctx, 0, 1); return; }
    pool->fn = fn;
    pool->ctx = ctx;
    atomic_store(&pool->pending, pool->nthreads - 1);
    atomic_fetch_add(&pool->generation, 1);  // seq_cst: pairs with the sleepers check below
    if (atomic_load(&pool->sleepers) > 0) {
        pthread_mutex_lock(&pool->lock);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->lock);
    }
    fn(ctx, 0, pool->nthreads);
    while (atomic_load_explicit(&pool->pending, memory_order_acquire) > 0) TK_PAUSE();
}
