/* backend.h - the seam between the graph and the hardware.
 *
 * A backend is a small table of function pointers (ggml style).  Each op
 * entry point receives everything an op needs in a ts_op_args and
 * dispatches on args->node->op with a switch.  The CPU backend
 * (backend/cpu/) is the readable reference; the CUDA backend
 * (backend/cuda/, kernels/) mirrors it entry for entry and is loaded at run
 * time from its own shared module (libtraitscope-cuda.so, select.c), so
 * that a program built with CUDA runs where the CUDA libraries are missing.
 * A new op lands CPU-first, with its rows in the op table test
 * (tests/nn/test-ops.c, run against every backend).
 *
 * Everything a caller runs on a backend's memory goes through this table:
 * the ops forward and backward, LRP (the relevance of the fixed-rule ops
 * and the building blocks of the linear-layer rules, explain/lrp.c), the
 * SGD update (train/sgd.c), the softmax and A(x,y).  Callers never ask
 * which backend they hold.
 *
 * Conventions shared by every backend:
 *   - forward writes args->out completely (and args->aux where the op keeps
 *     state for backward);
 *   - backward ACCUMULATES (+=) into args->din[i] (an input may feed several
 *     consumers) and into dweight/dbias; din[i] may be NULL when no gradient
 *     is wanted for that input (the network input);
 *   - relevance, lrp_linear and the other LRP steps ACCUMULATE into the
 *     relevance of their inputs the same way;
 *   - tensors live in the backend's memory (host for CPU, device for CUDA);
 *   - shapes and hyper-parameters are checked by both backends with the
 *     same rules (op-check.h): a malformed model is an error everywhere;
 *   - a context serves one thread at a time, except `amap`, which may run
 *     on another thread while the graph runs (training builds inputs in a
 *     prefetch thread).
 */
#ifndef TS_BACKEND_H
#define TS_BACKEND_H

#include <stdint.h>

#include "nn/graph.h"

typedef struct ts_op_args {
    const ts_node *node;
    int n_in;
    const ts_tensor *in[TS_MAX_INPUTS];  /* (N,C_i,H_i,W_i) */
    ts_tensor *din[TS_MAX_INPUTS];       /* same shapes as in[], or NULL */
    ts_tensor *out;                      /* (N,c,h,w) */
    const ts_tensor *dout;               /* (N,c,h,w), backward and relevance */
    ts_tensor *aux;                      /* see ts_node.aux */
    const ts_tensor *weight, *bias;
    ts_tensor *dweight, *dbias;
    ts_tensor *run_mean, *run_var;       /* batchnorm's running statistics: a
                                          * training forward moves them */
    bool training;
    uint64_t seed;                       /* dropout mask seed for this step */
    bool din_fresh[TS_MAX_INPUTS];       /* backward: din[k] holds no values
                                          * yet (the runner did not zero
                                          * it), so the op writes every
                                          * element instead of adding; set
                                          * only where the backend's
                                          * writes_din said it would */
} ts_op_args;

typedef enum ts_device {
    TS_DEVICE_AUTO = 0,
    TS_DEVICE_CPU,
    TS_DEVICE_CUDA,
} ts_device;

/* One term (W'_k, x'_k) of LRP's generic linear-layer step (lrp_linear). */
typedef struct ts_lrp_term {
    const float *w; /* like nd->weight */
    const float *x; /* (n,c,h,w), like nd's input */
} ts_lrp_term;

typedef struct ts_backend {
    const char *name; /* "cpu", "cuda" */
    ts_device device;

    /* ---- ops (ts_op_args above) ---- */
    ts_status (*forward)(void *ctx, const ts_op_args *args);
    ts_status (*backward)(void *ctx, const ts_op_args *args);
    /* Whether this backward pass can write din[k] whole when told it is
     * fresh (args->din_fresh[k]) instead of adding onto a zeroed buffer:
     * the runner then skips zeroing it, a pass over memory as large as the
     * layer's input (ts_graph_backward).  NULL: never. */
    bool (*writes_din)(void *ctx, const ts_op_args *args, int k);
    /* LRP's fixed rules (explain/lrp.h) for the ops that are not linear
     * layers, with the forward pass's values: in[k] the inputs' outputs x_k,
     * out the op's output, aux its argmax (maxpool), dout the relevance R at
     * the output, din[k] the relevance of input k (accumulated, +=):
     *   maxpool        everything to the forward argmax
     *   avgpool        each window's R in proportion to its image cells x
     *                  (split evenly when they sum to |s| < 1e-12)
     *   add            R_k = x_k / sum_k x_k * R (evenly when |sum| < 1e-12)
     *   concat         each input its channel slice
     *   relu, leaky_relu, lrn, dropout   passed through
 *   batchnorm      as the affine map y = s x + t it is in evaluation
 *                  (s = gamma / sqrt(var + eps), running statistics):
 *                  R_in = s x / stab(y) * R, stab(y) = y + 1e-6 sign(y)
 *                  (explain/lrp.c folds a batchnorm behind a conv2d or fc
 *                  into that layer's rule instead, and never asks)
     * conv2d and fc: TS_ERR_UNSUPPORTED (their rules are lrp_linear steps). */
    ts_status (*relevance)(void *ctx, const ts_op_args *args);

    /* ---- memory: this backend's arenas and copies (nn/tensor.h's
     * ts_memory; the CPU's are host memory and plain copies) ---- */
    ts_memory mem;

    /* ---- LRP's linear-layer rules as terms (explain/lrp.c) ----
     * lrp_linear: the generic step for a whole batch of n: with terms
     * (W'_k, x'_k), 1 <= k <= nt <= 3,
     *     Z    = sum_k W'_k (*) x'_k  (+ bias, may be NULL)  or z_fwd when given
     *     S    = R / stab(Z)   use_eps: Z + eps*sign(Z), sign(0) = +1;
     *                          otherwise a zero Z gives 0
     *     Rin += coef * sum_k x'_k * (W'_k^T (*) S)
     * where (*) is node nd's convolution (its stride, pads and groups) or
     * its fc product.  x'_k and Rin are shaped like nd's input (n,c,h,w); R
     * and z_fwd like its output (n, nd->c, nd->h, nd->w); W'_k like
     * nd->weight (whose own data is not read).
     * lrp_split: pos = max(x,0), neg = min(x,0); *any_negative (may be NULL)
     * says whether some x < 0 (lrp.c then skips the x- terms, which add 0).
     * lrp_square: out = w*w, or 1 when flat.
     * fill_channels: out (n,ch,hw) = values[c], values a HOST array of ch
     * floats (the planes 1, -l and -h of the flat, wsquare and zbox rules).
     * All other pointers are this backend's memory. */
    ts_status (*lrp_linear)(void *ctx, const ts_node *nd, int n, int c, int h, int w, const ts_lrp_term *t,
                            int nt, const float *bias, const float *z_fwd, bool use_eps, float eps, float coef,
                            const float *R, float *Rin);
    ts_status (*lrp_split)(void *ctx, const float *x, float *pos, float *neg, size_t n, bool *any_negative);
    ts_status (*lrp_square)(void *ctx, const float *w, float *out, size_t n, bool flat);
    ts_status (*fill_channels)(void *ctx, float *out, int n, int ch, size_t hw, const float *values);

    /* ---- training ----
     * One momentum-SGD step over n floats (train/sgd.h's form, Caffe's with
     * the sign of the history flipped):
     *     v = momentum*v - lr*(g + decay*w);   w += v      */
    ts_status (*sgd)(void *ctx, float *w, const float *g, float *v, size_t n, float lr, float momentum,
                     float decay);
    /* probs (n,k) = row-wise softmax of logits (n,k), max-subtracted. */
    ts_status (*softmax)(void *ctx, const float *logits, float *probs, int n, int k);

    /* ---- A(x,y) ----
     * The nearest-landmark map of face/amap.h, byte-identical to
     * ts_amap_reference: x, y: k HOST floats (1 <= k <= 255, finite,
     * |v| <= 1e7); out: width*height HOST bytes (H,W); sides 1..16384.
     * NULL for a backend without one (the CPU: face/amap.c is the
     * reference; face/amap-device.h falls back to it).  May run on another
     * thread than the graph's. */
    ts_status (*amap)(void *ctx, const float *x, const float *y, int k, int width, int height, uint8_t *out);

    /* ---- numerics and identity ----
     * set_deterministic: on (the default of every backend) makes every run
     * of the same work give the same bits: the CUDA backend then uses only
     * cuDNN engines without FFT, Winograd or non-deterministic reductions
     * (LRP divides by sums whose exact zeros such engines turn into 1e-7).
     * Off lets it take the fastest engines (training).  Returns the
     * previous setting.  The CPU is always deterministic. */
    bool (*set_deterministic)(void *ctx, bool on);
    /* One line naming the device ("cpu: 16 threads", "cuda: NVIDIA H200,
     * driver 13.0, runtime 13.0, cuDNN 9.19.0, cuBLAS 13.1.0"). */
    void (*describe)(void *ctx, char *buf, size_t len);
    /* Releases ctx (may be NULL).  Free every graph moved onto the backend
     * before. */
    void (*close)(void *ctx);

    /* ---- collectives (train/dist.h, issue 17) ----
     * The native queue this context's work runs on (CUDA: its cudaStream_t),
     * for a collective that must run in order with it (NCCL's all-reduce of
     * the gradients, between backward and the SGD step).  NULL for host
     * backends (the CPU's work is done when its call returns). */
    void *(*stream)(void *ctx);
} ts_backend;

/* transfer: none.  The always-available CPU backend. */
const ts_backend *ts_backend_cpu(void);

/* ---- running a graph ----
 * A graph (nn/graph.h) is data; the backend whose memory holds its arenas
 * runs it: the CPU for a graph in host memory (where every graph starts),
 * else the backend it was moved to with ts_graph_to_backend (run.c). */

/* Moves graph g onto backend be (ctx its context; the CPU's is NULL): its
 * params and grads into be's memory (nn's ts_graph_move: one copy each,
 * activations dropped, host -> device or device -> host only).  Moving to
 * the CPU brings the parameters to the host (LRP and checkpoints need not:
 * they run on or read from any backend).  TS_ERR_OOM when the device is
 * full, TS_ERR_DEVICE when a copy fails: the graph then stays where it
 * was. */
ts_status ts_graph_to_backend(ts_graph *g, const ts_backend *be, void *ctx);

/* transfer: none.  The backend that runs g, and its context into *ctx (may
 * be NULL). */
const ts_backend *ts_graph_backend(const ts_graph *g, void **ctx);

/* Runs g on `input` (N, C, H, W) matching the input node (TS_ERR_SHAPE
 * otherwise), on its backend; the logits are g->nodes[g->output].out
 * afterwards (read them with ts_graph_read).  Errors of an op name its
 * layer. */
ts_status ts_graph_forward(ts_graph *g, const ts_tensor *input);

/* Back-propagates g->nodes[g->output].dout (filled by the caller, usually by
 * a loss: ts_graph_logits_host / ts_graph_dlogits_commit) to every
 * parameter gradient (accumulated into g->grads; zero them with
 * ts_graph_zero_grads first) and every node's dout.  After a forward. */
ts_status ts_graph_backward(ts_graph *g);

/* Picks a backend for `want`.  TS_DEVICE_AUTO tries CUDA then falls back to
 * the CPU; when it falls back it writes one line saying why into `why` (may
 * be NULL).  TS_DEVICE_CUDA without a usable GPU is TS_ERR_DEVICE.
 * transfer: full (*ctx, release with ts_backend_close). */
ts_status ts_backend_select(ts_device want, const ts_backend **out, void **ctx, char *why, size_t why_len);

/* The front ends' choice (--device).  Like ts_backend_select, except that
 * TS_DEVICE_CUDA which cannot be honoured (no GPU, CUDA or cuDNN failing to
 * initialise, a build without CUDA, the CUDA libraries missing) also falls
 * back to the CPU instead of failing.  Whenever it falls back, `why` (may
 * be NULL) holds one line without a newline saying why and that the work
 * runs on the CPU; it is empty otherwise.  Never fails.  transfer: full
 * (*ctx, release with ts_backend_close). */
ts_status ts_backend_select_or_cpu(ts_device want, const ts_backend **out, void **ctx, char *why,
                                   size_t why_len);

/* Whether this machine has a GPU at all, independent of our build and of
 * the CUDA libraries: the NVIDIA driver (libcuda.so.1) loads and reports at
 * least one device.  false: `why` (may be NULL) says what is missing.  Tests
 * skip (77) exactly when this is false; with a GPU present any failure to
 * use it is a failure. */
bool ts_gpu_present(char *why, size_t why_len);

/* Parses "cpu", "cuda" or "auto" into *out; TS_ERR_ARG (message quoting
 * the text and naming the choices) otherwise. */
ts_status ts_device_parse(const char *text, ts_device *out);
/* "cpu", "cuda" or "auto". */
const char *ts_device_name(ts_device d);

/* Releases a context from ts_backend_select / _or_cpu (be->close).  NULL
 * be or ctx is a no-op.  Free every graph moved onto the backend before. */
void ts_backend_close(const ts_backend *be, void *ctx);

/* Threads used by the CPU backend's BLAS and loops (0 = all cores). */
void ts_cpu_set_threads(int n);

/* OpenBLAS's kernels: the name it chose when it loaded ("SkylakeX",
 * "Haswell", "Prescott" for its generic SSE3 ones...), and the better
 * choice it should have made on this CPU ("SkylakeX" or "Haswell"), NULL
 * when its own is fine.  OpenBLAS 0.3.21 takes a CPU newer than it knows
 * for a generic one. */
const char *ts_cpu_blas_core(void);
const char *ts_cpu_blas_better_core(void);
/* Where OpenBLAS chose its generic kernels on a CPU that can run better
 * ones, every program linking the CPU backend sets OPENBLAS_CORETYPE and
 * starts itself again, once, before main (backend/cpu/cpu.c); setting
 * OPENBLAS_CORETYPE to anything keeps OpenBLAS's own choice. */

/* When the CPU backend computes 3x3 stride-1 convolutions by Winograd's
 * F(4x4, 3x3) or F(2x2, 3x3) (backend/cpu/winograd.c): never, where it is
 * faster than im2col (the default; TS_CPU_WINOGRAD=0 in the environment:
 * never, =2: AUTO2), the same with tiles of 2 only, or wherever it can in
 * tiles of 2 (ALWAYS) or 4 (ALWAYS4; tests).  Process-wide; for tests and
 * benchmarks that compare the paths.  Not to be changed while a graph
 * runs. */
typedef enum {
    TS_WINOGRAD_OFF,
    TS_WINOGRAD_AUTO,
    TS_WINOGRAD_ALWAYS,
    TS_WINOGRAD_ALWAYS4,
    TS_WINOGRAD_AUTO2,
} ts_winograd_mode;
void ts_cpu_set_winograd(ts_winograd_mode mode);
/* Whether a training forward pass keeps its Winograd input tiles for the
 * weight gradient (default; backend/cpu/conv2d.c) or the backward pass
 * transforms the input again.  For benchmarks that compare the two. */
void ts_cpu_set_winograd_keep(bool on);
/* Whether the CPU backend computes the forward pass of convolutions over
 * at most four input channels directly (backend/cpu/conv-direct.c; the
 * default where the CPU has AVX2 and FMA, unless TS_CPU_DIRECT=0 is in the
 * environment) or by im2col.  For tests and benchmarks. */
void ts_cpu_set_direct_conv(bool on);

#endif
