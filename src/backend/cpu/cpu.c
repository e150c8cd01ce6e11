/* cpu.c - the CPU backend's table, op dispatch, threads and scratch memory.
 *
 * The CPU backend is the readable reference (STYLE.md): every op of the
 * ts_op enum has a forward and a backward here, dispatched with one switch.
 * Memory is ordinary host memory (ts_arena_init), so upload and download are
 * copies.  The backend keeps no per-graph state: `ctx` is unused (NULL).
 *
 * Threads: ts_cpu_set_threads() sizes both OpenBLAS's pool and the OpenMP
 * loops of the ops.  It is process-wide state, meant to be set once at start
 * up (CLI flag, app preference, benchmark), not per call.
 */
#include "cpu-ops.h"

#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static atomic_int cpu_nthreads; /* 0 = not decided yet */

static int cpu_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 ? (int)n : 1;
}

void ts_cpu_set_threads(int n)
{
    if (n <= 0) n = cpu_cores();
    atomic_store(&cpu_nthreads, n);
    openblas_set_num_threads(n);
}

int cpu_threads(void)
{
    int n = atomic_load(&cpu_nthreads);
    if (n == 0) {
        /* Default: every core, for BLAS and loops alike. */
        ts_cpu_set_threads(0);
        n = atomic_load(&cpu_nthreads);
    }
    return n;
}

/* Scratch: a few growing buffers per calling thread, kept in a pthread key
 * whose destructor frees them when the thread exits (a GTask worker, say).
 * Ops ask for them outside their parallel regions, so OpenMP workers never
 * own any. */
#define CPU_SCRATCH_SLOTS 4
typedef struct cpu_scratch_set {
    float *p[CPU_SCRATCH_SLOTS];
    size_t cap[CPU_SCRATCH_SLOTS];
} cpu_scratch_set;

static pthread_key_t cpu_scratch_key;
static pthread_once_t cpu_scratch_once = PTHREAD_ONCE_INIT;

static void cpu_scratch_free(void *v)
{
    cpu_scratch_set *s = v;
    for (int i = 0; i < CPU_SCRATCH_SLOTS; i++) free(s->p[i]);
    free(s);
}

static void cpu_scratch_key_init(void)
{
    TS_ASSERT(pthread_key_create(&cpu_scratch_key, cpu_scratch_free) == 0);
}

float *cpu_scratch(int slot, size_t floats)
{
    TS_ASSERT(slot >= 0 && slot < CPU_SCRATCH_SLOTS);
    pthread_once(&cpu_scratch_once, cpu_scratch_key_init);
    cpu_scratch_set *s = pthread_getspecific(cpu_scratch_key);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s || pthread_setspecific(cpu_scratch_key, s) != 0) {
            free(s);
            ts_error(TS_ERR_OOM, "cpu backend: cannot allocate scratch bookkeeping");
            return NULL;
        }
    }
    if (floats == 0) floats = 1;
    if (s->cap[slot] < floats) {
        /* Grow by a quarter more than asked so that slowly increasing
         * shapes do not reallocate at every call. */
        size_t want = floats + floats / 4;
        size_t bytes = (want * sizeof(float) + 63) / 64 * 64;
        float *p = aligned_alloc(64, bytes);
        if (!p) {
            ts_error(TS_ERR_OOM, "cpu backend: cannot allocate %zu MiB of scratch", bytes >> 20);
            return NULL;
        }
        free(s->p[slot]);
        s->p[slot] = p;
        s->cap[slot] = want;
    }
    return s->p[slot];
}

static ts_status cpu_input_forward(const ts_op_args *a)
{
    /* The graph may hand the input node its tensor to copy; a node whose
     * out already is the input has nothing to do. */
    if (a->n_in == 1 && a->in[0] && a->in[0]->data && a->out->data != a->in[0]->data) {
        TS_ASSERT(ts_tensor_numel(a->in[0]) == ts_tensor_numel(a->out));
        memcpy(a->out->data, a->in[0]->data, ts_tensor_numel(a->out) * sizeof(float));
    }
    return TS_OK;
}

static ts_status cpu_forward(void *ctx, const ts_op_args *a)
{
    TS_ASSERT(a && a->node && a->out && a->out->data);
    (void)cpu_threads(); /* make sure the thread counts are set */
    switch (a->node->op) {
    case TS_OP_INPUT:      return cpu_input_forward(a);
    case TS_OP_CONV2D:     return cpu_conv2d_forward(a);
    case TS_OP_RELU:       return cpu_relu_forward(a);
    case TS_OP_LEAKY_RELU: return cpu_leaky_relu_forward(a);
    case TS_OP_LRN:        return cpu_lrn_forward(a);
    case TS_OP_MAXPOOL:    return cpu_maxpool_forward(a);
    case TS_OP_AVGPOOL:    return cpu_avgpool_forward(a);
    case TS_OP_FC:         return cpu_fc_forward(a);
    case TS_OP_DROPOUT:    return cpu_dropout_forward(a);
    case TS_OP_CONCAT:     return cpu_concat_forward(a);
    case TS_OP_ADD:        return cpu_add_forward(a);
    case TS_OP_COUNT:      break;
    }
    return ts_error(TS_ERR_UNSUPPORTED, "cpu backend: node '%s': unknown op %d",
                    a->node->name, (int)a->node->op);
}

static ts_status cpu_backward(void *ctx, const ts_op_args *a)
{
    TS_ASSERT(a && a->node && a->dout && a->dout->data);
    (void)cpu_threads();
    switch (a->node->op) {
    case TS_OP_INPUT:      return TS_OK;
    case TS_OP_CONV2D:     return cpu_conv2d_backward(a);
    case TS_OP_RELU:       return cpu_relu_backward(a);
    case TS_OP_LEAKY_RELU: return cpu_leaky_relu_backward(a);
    case TS_OP_LRN:        return cpu_lrn_backward(a);
    case TS_OP_MAXPOOL:    return cpu_maxpool_backward(a);
    case TS_OP_AVGPOOL:    return cpu_avgpool_backward(a);
    case TS_OP_FC:         return cpu_fc_backward(a);
    case TS_OP_DROPOUT:    return cpu_dropout_backward(a);
    case TS_OP_CONCAT:     return cpu_concat_backward(a);
    case TS_OP_ADD:        return cpu_add_backward(a);
    case TS_OP_COUNT:      break;
    }
    return ts_error(TS_ERR_UNSUPPORTED, "cpu backend: node '%s': unknown op %d",
                    a->node->name, (int)a->node->op);
}

static ts_status cpu_arena_init(void *ctx, ts_arena *a, size_t floats)
{
    return ts_arena_init(a, floats);
}

static void cpu_arena_clear(void *ctx, ts_arena *a)
{
    ts_arena_clear(a);
}

static ts_status cpu_copy(void *ctx, float *dst, const float *src, size_t floats)
{
    if (floats) memmove(dst, src, floats * sizeof(float));
    return TS_OK;
}

static const ts_backend cpu_backend = {
    .name = "cpu",
    .device = TS_DEVICE_CPU,
    .forward = cpu_forward,
    .backward = cpu_backward,
    .arena_init = cpu_arena_init,
    .arena_clear = cpu_arena_clear,
    .upload = cpu_copy,
    .download = cpu_copy,
};

const ts_backend *ts_backend_cpu(void)
{
    return &cpu_backend;
}
