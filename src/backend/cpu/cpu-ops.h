/* cpu-ops.h - private declarations shared by the files of the CPU backend.
 *
 * One pair of functions per op, named after the op's stem (graph.h):
 * cpu_<stem>_forward / cpu_<stem>_backward.  cpu.c dispatches to them with a
 * switch on args->node->op.  Every function follows the conventions of
 * backend.h: forward writes args->out completely (and args->aux where the op
 * keeps state), backward ACCUMULATES into din[i], dweight and dbias, and a
 * NULL din[i] (or a tensor with data == NULL) means "no gradient wanted".
 *
 * Threads: loops run on the backend's own pool (cpu-threads.c) through
 * cpu_parallel_for, and so do the BLAS calls, through cpu_gemm/cpu_gemv/
 * cpu_ger (one pool of threads that sleep when idle; OpenBLAS's own pool is
 * kept at one thread).  Scratch memory (im2col columns) comes from
 * cpu_scratch(), one growing buffer per calling thread.
 */
#ifndef TS_CPU_OPS_H
#define TS_CPU_OPS_H

#include <string.h>

#include "backend/backend.h"
#include "backend/op-check.h"

/* Threads for parallel loops (>= 1). */
int cpu_threads(void);

/* Loops go parallel only above this many floats touched: below it the
 * wake-up of a second thread costs more than it saves (and much more on a
 * loaded machine). */
#define CPU_PAR_WORK ((size_t)65536)

/* Runs fn(ctx, lo, hi) over contiguous blocks covering [0, n), one block
 * per thread, and returns when all are done.  `work` estimates the floats
 * touched: at most CPU_PAR_WORK runs fn(ctx, 0, n) on the calling thread.
 * Also runs inline when the pool is busy (nested or concurrent calls). */
typedef void (*cpu_range_fn)(void *ctx, size_t lo, size_t hi);
void cpu_parallel_for(size_t n, size_t work, cpu_range_fn fn, void *ctx);

/* transfer: none.  At least `floats` floats of scratch for the calling
 * thread, 64-byte aligned, contents undefined; slot 0..3 are independent
 * buffers.  NULL (and a ts_error message) when memory runs out. */
float *cpu_scratch(int slot, size_t floats);

/* Four floats in one vector: GCC's vector extension, SSE on x86-64 (and
 * whatever the target has elsewhere), for loops the compiler does not
 * vectorise by itself; loads through memcpy, which compiles to an
 * unaligned move. */
typedef float v4sf __attribute__((vector_size(16)));

static inline v4sf ld4(const float *p)
{
    v4sf v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* True when a gradient tensor is wanted. */
static inline int cpu_want(const ts_tensor *t) { return t && t->data; }

/* BLAS on our threads.  OpenBLAS's own pool is kept at one thread (a second
 * pool of spinning threads next to OpenMP's would fight it for the cores);
 * instead these split C into column (or row) blocks, one per OpenMP thread,
 * and call single-threaded OpenBLAS on each block.  Row-major, cblas
 * argument order; call them outside parallel regions. */
void cpu_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);
/* y (M or N) = alpha * op(A) x + beta * y, A (M,N) row-major. */
void cpu_gemv(int trans, int M, int N, float alpha, const float *A, int lda, const float *x,
              float beta, float *y);
/* A (M,N) += alpha * x y^T. */
void cpu_ger(int M, int N, float alpha, const float *x, const float *y, float *A, int lda);

/* One momentum-SGD step over n floats (backend.h's sgd; update.c). */
void cpu_sgd(float *w, const float *g, float *v, size_t n, float lr, float mu, float wd);

/* winograd.c: 3x3 stride-1 convolutions by F(2x2, 3x3) or F(4x4, 3x3)
 * (m = 2 or 4 outputs per tile side), one group at a time (C, O its
 * channels; xs, ys the sample strides of input and output, in floats).
 * forward writes y, dinput and dweight accumulate.  cpu_wino_tile: the m
 * that is faster than im2col for this convolution, at most `largest`; 0:
 * im2col.  forward's keep (NULL, or cpu_wino_keep_floats of room) keeps
 * the transformed input tiles, which dweight then takes as `kept` instead
 * of transforming the same input again. */
int cpu_wino_can(int KH, int KW, int S, int pt, int pb, int pl, int pr); /* computes it right */
int cpu_wino_tile(int N, int Cg, int Og, int OH, int OW, int largest);
size_t cpu_wino_keep_floats(int m, int N, int C, int OH, int OW);
/* Backward passes that took the tiles a forward pass kept (conv2d.c; tests). */
unsigned long cpu_conv_kept_uses(void);
/* Whether cpu_conv2d_backward writes din[0] whole when it is fresh
 * (ts_backend.writes_din): where it takes winograd.c's input gradient. */
bool cpu_conv2d_writes_din(const ts_op_args *a);
ts_status cpu_wino_forward(int m, int N, int C, int H, int W, int O, int OH, int OW, int pt, int pl, size_t xs,
                           size_t ys, const float *x, const float *w, const float *bias, float *y, float *keep);
ts_status cpu_wino_dinput(int m, int N, int C, int H, int W, int O, int OH, int OW, int pt, int pl, size_t xs,
                          size_t ys, const float *w, const float *dy, float *dx, int accumulate);
ts_status cpu_wino_dweight(int m, int N, int C, int H, int W, int O, int OH, int OW, int pt, int pl, size_t xs,
                           size_t ys, const float *x, const float *dy, float *dw, const float *kept);

#define CPU_OP(stem)                                                        \
    ts_status cpu_##stem##_forward(const ts_op_args *a);                    \
    ts_status cpu_##stem##_backward(const ts_op_args *a);

CPU_OP(conv2d)
CPU_OP(relu)
CPU_OP(leaky_relu)
CPU_OP(lrn)
CPU_OP(maxpool)
CPU_OP(avgpool)
CPU_OP(fc)
CPU_OP(dropout)
CPU_OP(concat)
CPU_OP(add)
CPU_OP(batchnorm)

#undef CPU_OP

/* batchnorm.c: its LRP rule (backend.h, relevance). */
ts_status cpu_batchnorm_relevance(const ts_op_args *a);

/* relevance.c: LRP's fixed rules (backend.h, ts_backend.relevance). */
ts_status cpu_relevance(const ts_op_args *a);
/* lrp.c: the linear-layer building blocks (backend.h). */
ts_status cpu_lrp_linear(void *ctx, const ts_node *nd, int n, int c, int h, int w, const ts_lrp_term *t, int nt,
                         const float *bias, const float *z_fwd, bool use_eps, float eps, float coef, const float *R,
                         float *Rin);
ts_status cpu_lrp_split(void *ctx, const float *x, float *pos, float *neg, size_t n, bool *any_negative);
ts_status cpu_lrp_square(void *ctx, const float *w, float *out, size_t n, bool flat);
ts_status cpu_fill_channels(void *ctx, float *out, int n, int ch, size_t hw, const float *values);

/* depthwise.c: conv2d with one input channel per group (groups == C > 1,
 * weight (O,1,KH,KW), O a multiple of C), computed directly rather than as
 * C tiny GEMMs.  cpu_conv2d_forward/_backward call them after checking the
 * shapes; same semantics and conventions as those. */
ts_status cpu_depthwise_forward(const ts_op_args *a);
ts_status cpu_depthwise_backward(const ts_op_args *a);
/* The padded, stride-split copy of an input plane (H,W) that depthwise.c
 * and conv-direct.c read: R*S rows of L floats, row r * S + p holding the
 * padded pixels (r, j * S + p) for j < L (zero outside the plane, which
 * starts at padded row pt and column pl). */
void cpu_phase_fill(const float *xp, int H, int W, int pt, int pl, int R, int S, int L, float *buf);

/* conv-direct.c: the forward pass and the weight gradient (accumulated
 * onto dw) of a convolution over few input channels (a network's first
 * layer), computed directly.  cpu_direct_can: whether this CPU and these
 * dims take it (conv2d.c asks first). */
int cpu_direct_can(const ts_conv_dims *d);
ts_status cpu_direct_forward(const ts_op_args *a, const ts_conv_dims *d);
ts_status cpu_direct_dweight(const ts_op_args *a, const ts_conv_dims *d, float *dw);

#endif
