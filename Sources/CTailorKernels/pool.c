// pool.c - a persistent thread pool for the forward pass.
//
// A decode step hands work to the threads about 200 times, so a handoff must cost well under a
// microsecond: a worker spins on a generation counter, and the caller spins on the count of
// workers still running. A waiter spins for a bounded time, then sleeps on a condition
// variable. That bound matters twice:
//   - idle, the daemon leaves the CPU to others;
//   - when the threads get fewer CPUs than they are (other work on a desktop, or training at
//     nice 19 beside a busier process), a spinning waiter would hold the CPU that the thread it
//     waits for needs, until the scheduler preempts it: a time slice of milliseconds per handoff,
//     which made training 8x slower beside one busy process. Sleeping hands the CPU over at once.
#include "tailor_kernels.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define TK_PAUSE() _mm_pause()
#else
#define TK_PAUSE() ((void)0)
#endif

// Longest spins before a waiter sleeps. Sleeping, not sched_yield: a yielding thread stays
// runnable behind whatever took its CPU, even a nice-19 process (prefill lost a third of its
// speed beside two of them), while a woken one preempts such a process at once.
//   - The caller waits for workers for at most TK_CALLER_SPIN_NS: longer than threads finishing
//     their even shares of one job apart, far shorter than a scheduler time slice.
//   - A worker waits for the next job for at most TK_WORKER_SPIN_NS: longer than the caller's
//     own work between two decode steps (0.3-1 ms for SmolLM2 on 2 cores), so decoding does not
//     pay a wake-up per token.
#define TK_CALLER_SPIN_NS 100000
#define TK_WORKER_SPIN_NS 1000000

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

// A spinning waiter's clock: true while it may keep spinning. The clock is read once every 64
// pauses, so spinning stays cheap and the bound holds whatever a pause costs on this CPU.
typedef struct { int spins; uint64_t start; uint64_t limit; } spin_budget;

static bool keep_spinning(spin_budget *b) {
    TK_PAUSE();
    if ((++b->spins & 63) != 0) return true;
    uint64_t t = now_ns();
    if (b->start == 0) b->start = t;
    return t - b->start < b->limit;
}

struct tk_pool {
    int nthreads;
    pthread_t *threads;            // nthreads - 1 workers; freed in tk_pool_destroy
    _Atomic unsigned generation;   // bumped once per job
    _Atomic int pending;           // workers still running the current job
    _Atomic int sleepers;          // workers blocked on `wake`
    _Atomic bool caller_sleeps;    // the caller is blocked on `done`
    _Atomic bool stop;
    tk_job_fn fn;
    void *ctx;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_cond_t done;
};

typedef struct { tk_pool *pool; int index; } worker_arg;

static void *worker_main(void *p) {
    worker_arg arg = *(worker_arg *)p;
    free(p);
    tk_pool *pool = arg.pool;
    unsigned seen = 0;  // the generation at creation: a job posted before this thread runs is still seen as new
    for (;;) {
        spin_budget budget = {0, 0, TK_WORKER_SPIN_NS};
        unsigned g;
        while ((g = atomic_load_explicit(&pool->generation, memory_order_acquire)) == seen) {
            if (keep_spinning(&budget)) continue;
            pthread_mutex_lock(&pool->lock);
            atomic_fetch_add(&pool->sleepers, 1);
            while (atomic_load(&pool->generation) == seen && !atomic_load(&pool->stop))
                pthread_cond_wait(&pool->wake, &pool->lock);
            atomic_fetch_sub(&pool->sleepers, 1);
            pthread_mutex_unlock(&pool->lock);
            budget = (spin_budget){0, 0, TK_WORKER_SPIN_NS};
        }
        seen = g;
        if (atomic_load(&pool->stop)) return NULL;
        pool->fn(pool->ctx, arg.index, pool->nthreads);
        // seq_cst, and caller_sleeps read after it: pairs with tk_pool_run's store then load.
        if (atomic_fetch_sub(&pool->pending, 1) == 1 && atomic_load(&pool->caller_sleeps)) {
            pthread_mutex_lock(&pool->lock);
            pthread_cond_signal(&pool->done);
            pthread_mutex_unlock(&pool->lock);
        }
    }
}

tk_pool *tk_pool_create(int nthreads) {
    if (nthreads < 1) nthreads = 1;
    tk_pool *pool = calloc(1, sizeof(tk_pool));
    if (!pool) return NULL;
    pool->nthreads = nthreads;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
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
    pthread_cond_destroy(&pool->done);
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
    spin_budget budget = {0, 0, TK_CALLER_SPIN_NS};
    while (atomic_load_explicit(&pool->pending, memory_order_acquire) > 0) {
        if (keep_spinning(&budget)) continue;
        // The last worker signals `done` when it sees caller_sleeps; storing it before reading
        // `pending` (both seq_cst) means that worker either sees it or finished before the read.
        pthread_mutex_lock(&pool->lock);
        atomic_store(&pool->caller_sleeps, true);
        while (atomic_load(&pool->pending) > 0) pthread_cond_wait(&pool->done, &pool->lock);
        atomic_store(&pool->caller_sleeps, false);
        pthread_mutex_unlock(&pool->lock);
    }
}
