/* cpu.c - the CPU backend's table, op dispatch, threads and scratch memory.
 *
 * The CPU backend is the readable reference (STYLE.md): every op of the
 * ts_op enum has a forward and a backward here, dispatched with one switch.
 * Memory is ordinary host memory (ts_arena_init), so upload and download are
 * copies.  The backend keeps no per-graph state: `ctx` is unused (NULL).
 *
 * Threads: ts_cpu_set_threads() sizes the OpenMP loops of the ops and the
 * split of every BLAS call (cpu_gemm); OpenBLAS's own pool is kept at one
 * thread so that only one set of threads ever spins.  It is process-wide
 * state, meant to be set once at start up (CLI flag, app preference,
 * benchmark), not per call.
 */
#include "backend/cpu/cpu-ops.h"

#include "nn/loss.h"

#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

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
    /* Our OpenMP threads split the BLAS work (cpu_gemm); OpenBLAS itself
     * runs single-threaded inside them. */
    openblas_set_num_threads(1);
}

/* OpenBLAS (0.3.21 in Debian 12) chooses its kernels once, when it loads,
 * by the CPU's model number; a CPU newer than it knows gets the generic
 * SSE3 kernels ("Prescott"), whatever the CPU can run.  On a 5th-generation
 * Xeon (model 207) that made our training step 1.7x slower than with the
 * AVX-512 kernels.  OPENBLAS_CORETYPE overrides the choice, but is read only
 * at load time, so the fix is to set it and start the program again. */
static bool blas_core_is_modern(const char *core)
{
    static const char *const modern[] = {"haswell", "zen", "skylakex", "cooperlake", "sapphirerapids"};
    for (size_t i = 0; i < sizeof modern / sizeof modern[0]; i++)
        if (!strcasecmp(core, modern[i])) return true;
    return false;
}

const char *ts_cpu_blas_core(void)
{
    return openblas_get_corename();
}

const char *ts_cpu_blas_better_core(void)
{
    const char *core = openblas_get_corename();
    if (!core || blas_core_is_modern(core)) return NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512cd"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    return NULL;
}

/* Where OpenBLAS chose its generic kernels on a CPU that can run better
 * ones (and OPENBLAS_CORETYPE is not set): sets OPENBLAS_CORETYPE and
 * executes the program again with the same arguments.  Returns where
 * nothing needs doing, or where the restart failed (said on stderr). */
static void blas_restart_if_generic(char **argv)
{
    if (getenv("OPENBLAS_CORETYPE")) return; /* the user's (or our earlier) choice */
    const char *better = ts_cpu_blas_better_core();
    if (!better) return;
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0 || (size_t)n >= sizeof self - 1) return;
    self[n] = '\0';
    /* Started through the dynamic loader (ld-linux-x86-64.so.2 PROGRAM):
     * the loader is /proc/self/exe, and running it again with our argv
     * would lose its options; keep the slower kernels. */
    const char *slash = strrchr(self, '/'), *base = slash ? slash + 1 : self;
    if (!strncmp(base, "ld-", 3) || !strncmp(base, "ld.so", 5)) return;
    if (setenv("OPENBLAS_CORETYPE", better, 1) != 0) return;
    execv(self, argv);
    /* Still here: the program runs on, with the slower kernels. */
    fprintf(stderr, "traitscope: OpenBLAS uses its generic '%s' kernels on this CPU; restarting with '%s' failed\n",
            openblas_get_corename(), better);
}

/* Every program that links the CPU backend (the app, the CLI, tests,
 * benchmarks) does this before main, so that all of them, and a test and
 * the program it runs, compute with the same kernels.  glibc hands
 * constructors main's arguments. */
__attribute__((constructor)) static void blas_check_at_start(int argc, char **argv, char **envp)
{
    (void)argc, (void)envp;
    if (argv && argv[0]) blas_restart_if_generic(argv);
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

/* Below this many multiply-adds a BLAS call stays on one thread. */
#define CPU_GEMM_PAR_FLOPS ((double)(1 << 20))

/* Splits [0, n) into `parts` blocks aligned to 16 elements (64 bytes, so
 * threads never share a cache line of C); block t is [*lo, *hi). */
static void cpu_block(int n, int parts, int t, int *lo, int *hi)
{
    int units = (n + 15) / 16, per = units / parts, extra = units % parts;
    int u0 = t * per + (t < extra ? t : extra), u1 = u0 + per + (t < extra);
    *lo = u0 * 16 < n ? u0 * 16 : n;
    *hi = u1 * 16 < n ? u1 * 16 : n;
}

typedef struct gemm_job {
    int trans_a, trans_b, M, N, K, lda, ldb, ldc, by_cols, parts;
    float alpha, beta;
    const float *A, *B;
    float *C;
} gemm_job;

/* One block of C per task: columns [lo,hi) of C (or rows). */
static void gemm_range(void *ctx, size_t t0, size_t t1)
{
    const gemm_job *j = ctx;
    enum CBLAS_TRANSPOSE ta = j->trans_a ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = j->trans_b ? CblasTrans : CblasNoTrans;
    for (size_t t = t0; t < t1; t++) {
        int lo, hi;
        cpu_block(j->by_cols ? j->N : j->M, j->parts, (int)t, &lo, &hi);
        if (hi <= lo) continue;
        if (j->by_cols) {
            const float *Bt = j->trans_b ? j->B + (size_t)lo * j->ldb : j->B + lo;
            cblas_sgemm(CblasRowMajor, ta, tb, j->M, hi - lo, j->K, j->alpha, j->A, j->lda, Bt, j->ldb,
                        j->beta, j->C + lo, j->ldc);
        } else {
            const float *At = j->trans_a ? j->A + lo : j->A + (size_t)lo * j->lda;
            cblas_sgemm(CblasRowMajor, ta, tb, hi - lo, j->N, j->K, j->alpha, At, j->lda, j->B, j->ldb,
                        j->beta, j->C + (size_t)lo * j->ldc, j->ldc);
        }
    }
}

void cpu_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    int T = cpu_threads();
    /* Split the longer side of C; each thread reads all of the other
     * operand, which OpenBLAS packs per call anyway. */
    int by_cols = N >= M, len = by_cols ? N : M, units = (len + 15) / 16;
    int parts = T < units ? T : units;
    if (parts < 2 || (double)M * N * K < CPU_GEMM_PAR_FLOPS) {
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                    M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    gemm_job j = { trans_a, trans_b, M, N, K, lda, ldb, ldc, by_cols, parts, alpha, beta, A, B, C };
    cpu_parallel_for((size_t)parts, SIZE_MAX, gemm_range, &j);
}

typedef struct gemv_job {
    int trans, M, N, lda, parts;
    float alpha, beta;
    const float *A, *x;
    float *y;
} gemv_job;

static void gemv_range(void *ctx, size_t t0, size_t t1)
{
    const gemv_job *j = ctx;
    for (size_t t = t0; t < t1; t++) {
        int lo, hi;
        cpu_block(j->trans ? j->N : j->M, j->parts, (int)t, &lo, &hi);
        if (hi <= lo) continue;
        if (j->trans) /* y[lo:hi] = A[:, lo:hi]^T x */
            cblas_sgemv(CblasRowMajor, CblasTrans, j->M, hi - lo, j->alpha, j->A + lo, j->lda, j->x, 1,
                        j->beta, j->y + lo, 1);
        else          /* y[lo:hi] = A[lo:hi, :] x */
            cblas_sgemv(CblasRowMajor, CblasNoTrans, hi - lo, j->N, j->alpha, j->A + (size_t)lo * j->lda,
                        j->lda, j->x, 1, j->beta, j->y + lo, 1);
    }
}

void cpu_gemv(int trans, int M, int N, float alpha, const float *A, int lda, const float *x,
              float beta, float *y)
{
    int T = cpu_threads(), len = trans ? N : M, units = (len + 15) / 16;
    int parts = T < units ? T : units;
    if (parts < 2 || (double)M * N < CPU_GEMM_PAR_FLOPS / 4) {
        cblas_sgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, M, N, alpha, A, lda, x, 1, beta, y, 1);
        return;
    }
    gemv_job j = { trans, M, N, lda, parts, alpha, beta, A, x, y };
    cpu_parallel_for((size_t)parts, SIZE_MAX, gemv_range, &j);
}

typedef struct ger_job {
    int M, N, lda, parts;
    float alpha;
    const float *x, *y;
    float *A;
} ger_job;

static void ger_range(void *ctx, size_t t0, size_t t1)
{
    const ger_job *j = ctx;
    for (size_t t = t0; t < t1; t++) {
        int lo, hi;
        cpu_block(j->M, j->parts, (int)t, &lo, &hi);
        if (hi > lo)
            cblas_sger(CblasRowMajor, hi - lo, j->N, j->alpha, j->x + lo, 1, j->y, 1,
                       j->A + (size_t)lo * j->lda, j->lda);
    }
}

void cpu_ger(int M, int N, float alpha, const float *x, const float *y, float *A, int lda)
{
    int T = cpu_threads(), units = (M + 15) / 16, parts = T < units ? T : units;
    if (parts < 2 || (double)M * N < CPU_GEMM_PAR_FLOPS / 4) {
        cblas_sger(CblasRowMajor, M, N, alpha, x, 1, y, 1, A, lda);
        return;
    }
    ger_job j = { M, N, lda, parts, alpha, x, y, A };
    cpu_parallel_for((size_t)parts, SIZE_MAX, ger_range, &j);
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
    case TS_OP_BATCHNORM:  return cpu_batchnorm_forward(a);
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
    case TS_OP_BATCHNORM:  return cpu_batchnorm_backward(a);
    case TS_OP_COUNT:      break;
    }
    return ts_error(TS_ERR_UNSUPPORTED, "cpu backend: node '%s': unknown op %d",
                    a->node->name, (int)a->node->op);
}

/* ts_backend.writes_din: the element-wise ops, and convolutions whose
 * input gradient winograd.c computes. */
static bool cpu_writes_din(void *ctx, const ts_op_args *a, int k)
{
    (void)ctx;
    if (k != 0) return false;
    switch (a->node->op) {
    case TS_OP_RELU:
    case TS_OP_LEAKY_RELU:
    case TS_OP_DROPOUT: return true;
    case TS_OP_CONV2D: return cpu_conv2d_writes_din(a);
    default: return false;
    }
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

/* Blocks of 64 KiB, so that both threads zero a large buffer (traitnet's
 * conv1 gradient at batch 64 is 25.7 MB by its shape). */
#define ZERO_BLOCK ((size_t)16384)

static void zero_range(void *ctx, size_t lo, size_t hi)
{
    float *dst = ctx;
    memset(dst + lo * ZERO_BLOCK, 0, (hi - lo) * ZERO_BLOCK * sizeof(float));
}

static ts_status cpu_zero(void *ctx, float *dst, size_t floats)
{
    (void)ctx;
    const size_t blocks = floats / ZERO_BLOCK;
    cpu_parallel_for(blocks, floats, zero_range, dst);
    if (floats > blocks * ZERO_BLOCK) memset(dst + blocks * ZERO_BLOCK, 0, (floats - blocks * ZERO_BLOCK) * sizeof(float));
    return TS_OK;
}

/* v = mu*v - lr*(g + wd*w); w += v (train/sgd.h). */
static ts_status cpu_sgd_entry(void *ctx, float *w, const float *g, float *v, size_t n, float lr, float mu, float wd)
{
    (void)ctx;
    cpu_sgd(w, g, v, n, lr, mu, wd);
    return TS_OK;
}

static ts_status cpu_softmax_rows(void *ctx, const float *logits, float *probs, int n, int k)
{
    (void)ctx;
    ts_tensor z = { (float *)logits, n, k, 1, 1 }, p = { probs, n, k, 1, 1 };
    if (n > 0 && k > 0) ts_softmax(&z, &p);
    return TS_OK;
}

static ts_status cpu_relevance_entry(void *ctx, const ts_op_args *a)
{
    (void)ctx;
    return cpu_relevance(a);
}

static bool cpu_set_deterministic(void *ctx, bool on)
{
    (void)ctx, (void)on;
    return true; /* fixed blocks per thread: always the same bits */
}

static void cpu_describe(void *ctx, char *buf, size_t len)
{
    (void)ctx;
    snprintf(buf, len, "cpu: %d thread(s), %s", cpu_threads(), openblas_get_config());
}

static void cpu_close(void *ctx) { (void)ctx; }

static const ts_backend cpu_backend = {
    .name = "cpu",
    .device = TS_DEVICE_CPU,
    .forward = cpu_forward,
    .backward = cpu_backward,
    .writes_din = cpu_writes_din,
    .relevance = cpu_relevance_entry,
    .mem = { .arena_init = cpu_arena_init, .arena_clear = cpu_arena_clear, .upload = cpu_copy,
             .download = cpu_copy, .zero = cpu_zero },
    .lrp_linear = cpu_lrp_linear,
    .lrp_split = cpu_lrp_split,
    .lrp_square = cpu_lrp_square,
    .fill_channels = cpu_fill_channels,
    .sgd = cpu_sgd_entry,
    .softmax = cpu_softmax_rows,
    .amap = NULL, /* face/amap.c is the reference A(x,y) */
    .set_deterministic = cpu_set_deterministic,
    .describe = cpu_describe,
    .close = cpu_close,
};

const ts_backend *ts_backend_cpu(void)
{
    return &cpu_backend;
}
