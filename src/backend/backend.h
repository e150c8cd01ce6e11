/* backend.h - the seam between the graph and the hardware.
 *
 * A backend is a small table of function pointers (ggml style).  Each entry
 * point receives everything an op needs in a ts_op_args and dispatches on
 * args->node->op with a switch.  The CPU backend (backend/cpu/) is the
 * readable reference; the CUDA backend (backend/cuda/, kernels/) mirrors it
 * op for op.  A new op lands CPU-first, with its row in the op test table.
 *
 * Conventions shared by every backend:
 *   - forward writes args->out completely (and args->aux where the op keeps
 *     state for backward);
 *   - backward ACCUMULATES (+=) into args->din[i] (an input may feed several
 *     consumers) and into dweight/dbias; din[i] may be NULL when no gradient
 *     is wanted for that input (the network input);
 *   - tensors live in the backend's memory (host for CPU, device for CUDA).
 */
#ifndef TS_BACKEND_H
#define TS_BACKEND_H

#include "../nn/graph.h"

typedef struct ts_op_args {
    const ts_node *node;
    int n_in;
    const ts_tensor *in[TS_MAX_INPUTS];  /* (N,C_i,H_i,W_i) */
    ts_tensor *din[TS_MAX_INPUTS];       /* same shapes as in[], or NULL */
    ts_tensor *out;                      /* (N,c,h,w) */
    const ts_tensor *dout;               /* (N,c,h,w), backward only */
    ts_tensor *aux;                      /* see ts_node.aux */
    const ts_tensor *weight, *bias;
    ts_tensor *dweight, *dbias;
    bool training;
    uint64_t seed;                       /* dropout mask seed for this step */
} ts_op_args;

typedef enum ts_device {
    TS_DEVICE_AUTO = 0,
    TS_DEVICE_CPU,
    TS_DEVICE_CUDA,
} ts_device;

typedef struct ts_backend {
    const char *name;        /* "cpu", "cuda" */
    ts_device device;
    ts_status (*forward)(void *ctx, const ts_op_args *args);
    ts_status (*backward)(void *ctx, const ts_op_args *args);
    /* Memory: arenas of this backend.  Host backends use ts_arena_init. */
    ts_status (*arena_init)(void *ctx, ts_arena *a, size_t floats);
    void (*arena_clear)(void *ctx, ts_arena *a);
    ts_status (*upload)(void *ctx, float *dst, const float *src, size_t floats);
    ts_status (*download)(void *ctx, float *dst, const float *src, size_t floats);
    /* Sets `floats` floats of this backend's memory to 0 (gradients before a
     * backward pass).  Added with the CUDA backend (issue 5). */
    ts_status (*zero)(void *ctx, float *dst, size_t floats);
} ts_backend;

/* transfer: none.  The always-available CPU backend. */
const ts_backend *ts_backend_cpu(void);

/* Picks a backend for `want`.  TS_DEVICE_AUTO tries CUDA then falls back to
 * the CPU; when it falls back it writes one line saying why into `why` (may
 * be NULL).  TS_DEVICE_CUDA without a usable GPU is TS_ERR_DEVICE. */
ts_status ts_backend_select(ts_device want, const ts_backend **out, void **ctx,
                            char *why, size_t why_len);

/* The front ends' choice (--device, issue 5).  Like ts_backend_select,
 * except that TS_DEVICE_CUDA which cannot be honoured (no GPU, CUDA or
 * cuDNN failing to initialise, a build without CUDA) also falls back to
 * the CPU instead of failing.  Whenever it falls back, `why` (may be NULL)
 * holds one line without a newline saying why and that the work runs on
 * the CPU; it is empty otherwise.  Never fails.  transfer: full (*ctx,
 * release with ts_backend_close). */
ts_status ts_backend_select_or_cpu(ts_device want, const ts_backend **out, void **ctx, char *why,
                                   size_t why_len);

/* Parses "cpu", "cuda" or "auto" into *out; TS_ERR_ARG (message quoting
 * the text and naming the choices) otherwise. */
ts_status ts_device_parse(const char *text, ts_device *out);
/* "cpu", "cuda" or "auto". */
const char *ts_device_name(ts_device d);

/* Releases a context from ts_backend_select / _or_cpu (CUDA: closes it;
 * CPU: nothing).  NULL ctx is a no-op.  Free every graph moved onto the
 * backend before. */
void ts_backend_close(const ts_backend *be, void *ctx);

/* backend/cuda/cuda-backend.c, linked only when ts-config.h says
 * TS_HAVE_CUDA: opens the GPU (TS_CUDA_DEVICE, default 0) and its
 * cuBLAS/cuDNN handles; TS_ERR_DEVICE when there is none.  A context serves
 * one thread at a time.  transfer: full (ts_backend_cuda_close). */
ts_status ts_backend_cuda_open(const ts_backend **out, void **ctx);
void ts_backend_cuda_close(void *ctx);
/* One momentum-SGD step over a whole arena on the GPU (kernels/sgd.cu):
 * v = momentum*v + lr*(g + decay*w); w -= v.  w, g, v: n device floats. */
ts_status ts_backend_cuda_sgd(void *ctx, float *w, const float *g, float *v, size_t n, float lr,
                              float momentum, float decay);

/* A(x,y) on the GPU (kernels/amap.cu; issue 5): the nearest-landmark map
 * of face/amap.h, byte-identical to ts_amap_reference.  x, y: k host
 * floats (1 <= k <= 255, finite, |v| <= 1e7); out: width*height host
 * bytes, row-major (H,W); sides 1..16384.  TS_ERR_ARG like the CPU,
 * TS_ERR_OOM when the device is full, TS_ERR_DEVICE on a CUDA failure.
 * Face code reaches it through ts_amap_compute_on (face/amap-device.h),
 * which falls back to the CPU. */
ts_status ts_backend_cuda_amap(void *ctx, const float *x, const float *y, int k, int width, int height,
                               uint8_t *out);

/* LRP on the GPU (issue 5): the building blocks for explain/lrp.c's rules
 * on a graph moved to the CUDA backend.  All pointers are device memory.
 *
 * ts_backend_cuda_lrp_linear is lrp.c's generic linear step (conv_step /
 * fc_step) for a whole batch: with terms (W'_k, x'_k), 1 <= k <= nt <= 3,
 *     Z    = sum_k W'_k (*) x'_k  (+ bias, may be NULL)  or z_fwd when given
 *     S    = R / stab(Z)   use_eps: Z + eps*sign(Z), sign(0) = +1;
 *                          otherwise a zero Z gives 0
 *     Rin += coef * sum_k x'_k * (W'_k^T (*) S)
 * where (*) is node nd's convolution (its stride, pads and groups; the
 * transpose is cuDNN's backward-data convolution) or its fc GEMM.  x'_k and
 * Rin are shaped like nd's input (n,c,h,w); R and z_fwd like its output
 * (n, nd->c, nd->h, nd->w); W'_k like nd->weight (whose data is not read).
 * The rules as terms (lrp.c): epsilon (W, x) with z_fwd = nd->out;
 * alphabeta alpha*[(W+,x+),(W-,x-)] then -beta*[(W-,x+),(W+,x-)]; flat and
 * wsquare (W^2 or 1, ones); zbox (W,x),(W+,-l),(W-,-h).
 * ts_backend_cuda_lrp_split: pos = max(x,0), neg = min(x,0) (W+/W-, x+/x-);
 * ts_backend_cuda_lrp_square: out = w*w, or 1 when flat;
 * ts_backend_cuda_fill_channels: out (n,ch,hw) = values[c] (host array of
 * ch floats; zbox's -l and -h planes). */
typedef struct ts_lrp_term_dev {
    const float *w; /* like nd->weight */
    const float *x; /* (n,c,h,w) */
} ts_lrp_term_dev;
ts_status ts_backend_cuda_lrp_linear(void *ctx, const ts_node *nd, int n, int c, int h, int w,
                                     const ts_lrp_term_dev *t, int nt, const float *bias, const float *z_fwd,
                                     bool use_eps, float eps, float coef, const float *R, float *Rin);
ts_status ts_backend_cuda_lrp_split(void *ctx, const float *x, float *pos, float *neg, size_t n);
ts_status ts_backend_cuda_lrp_square(void *ctx, const float *w, float *out, size_t n, bool flat);
ts_status ts_backend_cuda_fill_channels(void *ctx, float *out, int n, int ch, size_t hw, const float *values);

/* Threads used by the CPU backend's BLAS and loops (0 = all cores). */
void ts_cpu_set_threads(int n);

#endif
