/* cpu-threads.c - the CPU backend's thread pool.
 *
 * Why not OpenMP: libgomp's idle threads spin (up to ~300k iterations)
 * between parallel regions, and the wait policy can only be changed through
 * the environment before the program starts.  On a machine shared with
 * other jobs a spinning worker that holds a core while the thread it waits
 * for is descheduled turns every barrier into a scheduler time slice; we
 * measured AlexNet's batch-1 forward going from 45 ms to 370 ms that way.
 * This pool spins briefly (CPU_SPIN polls, a few microseconds: enough to
 * catch back-to-back ops) and then sleeps on a condition variable.
 *
 * Invariants: one job at a time.  A caller that finds the pool busy (another
 * graph running in another thread, or a nested call from inside a task)
 * runs its whole range itself, so calls never deadlock and never nest.
 * Workers are started lazily, never stopped (they sleep when idle), and
 * own no scratch memory.  The calling thread always runs part 0.
 */
#include "backend/cpu/cpu-ops.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

#define CPU_MAX_WORKERS 255
#define CPU_SPIN 4000 /* polls before sleeping (a pause is ~40-70 cycles: ~0.1 ms) */

static struct {
    pthread_mutex_t lock; /* guards the condition variables' predicates */
    pthread_cond_t wake, done;
    pthread_mutex_t busy; /* held by the thread whose job runs */
    int n_workers;        /* started, all waiting on `gen` */
    atomic_uint gen;      /* bumped for every job */
    atomic_int pending;   /* workers that have not finished the job */
    /* the job (written before gen is bumped, read after it is seen) */
    cpu_range_fn fn;
    void *ctx;
    size_t n;
    int parts;
} pool = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
    .done = PTHREAD_COND_INITIALIZER,
    .busy = PTHREAD_MUTEX_INITIALIZER,
};

static void run_part(int part)
{
    size_t lo = pool.n * (size_t)part / (size_t)pool.parts;
    size_t hi = pool.n * (size_t)(part + 1) / (size_t)pool.parts;
    if (hi > lo) pool.fn(pool.ctx, lo, hi);
}

typedef struct worker_start {
    int index;     /* 1..n_workers; part 0 is the caller's */
    unsigned seen; /* the generation before the worker existed */
} worker_start;

static void *worker_main(void *arg)
{
    worker_start st = *(worker_start *)arg;
    free(arg);
    int index = st.index;
    /* Not the generation now: the job that caused this worker to be
     * started may already have been published. */
    unsigned seen = st.seen;
    for (;;) {
        unsigned g = seen;
        for (int s = 0; s < CPU_SPIN && g == seen; s++) {
            cpu_relax();
            g = atomic_load_explicit(&pool.gen, memory_order_acquire);
        }
        if (g == seen) {
            pthread_mutex_lock(&pool.lock);
            while ((g = atomic_load_explicit(&pool.gen, memory_order_acquire)) == seen)
                pthread_cond_wait(&pool.wake, &pool.lock);
            pthread_mutex_unlock(&pool.lock);
        }
        seen = g;
        if (index < pool.parts) run_part(index);
        if (atomic_fetch_sub_explicit(&pool.pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&pool.lock);
            pthread_cond_signal(&pool.done);
            pthread_mutex_unlock(&pool.lock);
        }
    }
    return NULL;
}

/* Starts workers up to `want` (called with `busy` held, pool idle). */
static void ensure_workers(int want)
{
    if (want > CPU_MAX_WORKERS) want = CPU_MAX_WORKERS;
    while (pool.n_workers < want) {
        pthread_t t;
        pthread_attr_t attr;
        worker_start *st = malloc(sizeof *st);
        if (!st) break; /* run with the workers we have */
        st->index = pool.n_workers + 1;
        st->seen = atomic_load_explicit(&pool.gen, memory_order_acquire);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int ok = pthread_create(&t, &attr, worker_main, st) == 0;
        pthread_attr_destroy(&attr);
        if (!ok) {
            free(st);
            break;
        }
        pool.n_workers++;
    }
}

void cpu_parallel_for(size_t n, size_t work, cpu_range_fn fn, void *ctx)
{
    if (n == 0) return;
    int T = cpu_threads();
    if (T < 2 || n < 2 || work <= CPU_PAR_WORK || pthread_mutex_trylock(&pool.busy) != 0) {
        fn(ctx, 0, n);
        return;
    }
    ensure_workers(T - 1);
    int parts = T < pool.n_workers + 1 ? T : pool.n_workers + 1;
    if ((size_t)parts > n) parts = (int)n;
    if (parts < 2) {
        pthread_mutex_unlock(&pool.busy);
        fn(ctx, 0, n);
        return;
    }
    pool.fn = fn;
    pool.ctx = ctx;
    pool.n = n;
    pool.parts = parts;
    atomic_store_explicit(&pool.pending, pool.n_workers, memory_order_relaxed);
    pthread_mutex_lock(&pool.lock);
    atomic_fetch_add_explicit(&pool.gen, 1, memory_order_release);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);

    run_part(0);

    for (int s = 0; s < CPU_SPIN && atomic_load_explicit(&pool.pending, memory_order_acquire) > 0; s++)
        cpu_relax();
    if (atomic_load_explicit(&pool.pending, memory_order_acquire) > 0) {
        pthread_mutex_lock(&pool.lock);
        while (atomic_load_explicit(&pool.pending, memory_order_acquire) > 0)
            pthread_cond_wait(&pool.done, &pool.lock);
        pthread_mutex_unlock(&pool.lock);
    }
    pthread_mutex_unlock(&pool.busy);
}
