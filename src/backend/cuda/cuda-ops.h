/* cuda-ops.h - the launchers of our own CUDA kernels (kernels/<stem>.cu), called
 * by cuda-backend.c.
 *
 * One file per op stem (STYLE.md): kernels/relu.cu holds relu and
 * leaky_relu, kernels/pool.cu maxpool and avgpool, and so on; each kernel
 * runs a per-element body of kernels/<stem>-body.h, which the host test
 * tests/nn/test-kernel-bodies.c runs on the CPU too.  Every launcher takes
 * device pointers, launches on `stream`, checks the launch with
 * cudaGetLastError() and returns that status (cudaSuccess when there was
 * nothing to do).  The formulas are those of the CPU backend's files of the
 * same stem (backend/cpu/), which are the reference; forward launchers
 * overwrite their output, backward and relevance launchers ACCUMULATE (+=)
 * like every backend (backend.h).  Element counts are size_t; a grid never
 * exceeds CUDA_MAX_BLOCKS blocks (the kernels loop grid-stride).
 */
#ifndef TS_CUDA_OPS_H
#define TS_CUDA_OPS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime.h>

#include "kernels/add-body.h"
#include "kernels/depthwise-body.h"
#include "kernels/lrp-body.h"
#include "kernels/pool-body.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CUDA_THREADS 256
#define CUDA_MAX_BLOCKS 65535

/* relu.cu: relu (leaky = 0; clip > 0: ReLU6-style) or leaky_relu
 * (relu-body.h). */
cudaError_t cuda_relu_forward_launch(cudaStream_t s, const float *x, float *y, size_t n, int leaky, float slope,
                                     float clip);
cudaError_t cuda_relu_backward_launch(cudaStream_t s, const float *x, const float *dy, float *dx, size_t n,
                                      int leaky, float slope, float clip);

/* depthwise.cu: conv2d with groups == C > 1 computed directly
 * (depthwise-body.h); b may be NULL.  The weight gradient needs a device
 * scratch of cuda_depthwise_filter_scratch(g) floats (partial sums); the
 * bias gradient is conv2d.cu's. */
cudaError_t cuda_depthwise_forward_launch(cudaStream_t s, const cuda_dw_geom *g, const float *x, const float *w,
                                          const float *b, float *y);
cudaError_t cuda_depthwise_backward_data_launch(cudaStream_t s, const cuda_dw_geom *g, const float *w,
                                                const float *dy, float *dx);
size_t cuda_depthwise_filter_scratch(const cuda_dw_geom *g);
cudaError_t cuda_depthwise_backward_filter_launch(cudaStream_t s, const cuda_dw_geom *g, const float *x,
                                                  const float *dy, float *dw, float *part);

/* lrn.cu: Caffe cross-channel LRN (backend/cpu/lrn.c); x, y, scale (N,C,HW). */
cudaError_t cuda_lrn_forward_launch(cudaStream_t s, const float *x, float *y, float *scale, int N, int C,
                                    int HW, int size, float alpha, float beta, float k);
cudaError_t cuda_lrn_backward_launch(cudaStream_t s, const float *x, const float *dy, const float *scale,
                                     float *dx, int N, int C, int HW, int size, float alpha, float beta);

/* pool.cu (pool-body.h).  arg (may be NULL): flat index iy*W+ix of the
 * window's first maximum, as float, -1 for an empty window. */
cudaError_t cuda_maxpool_forward_launch(cudaStream_t s, const cuda_pool_geom *g, const float *x, float *y,
                                        float *arg);
cudaError_t cuda_maxpool_backward_launch(cudaStream_t s, const cuda_pool_geom *g, const float *arg,
                                         const float *dy, float *dx);
cudaError_t cuda_avgpool_forward_launch(cudaStream_t s, const cuda_pool_geom *g, const float *x, float *y);
cudaError_t cuda_avgpool_backward_launch(cudaStream_t s, const cuda_pool_geom *g, const float *dy, float *dx);
/* LRP's rule for avgpool: Rin (like x) += ...; f and even: scratch of one
 * float per output cell each. */
cudaError_t cuda_avgpool_relevance_launch(cudaStream_t s, const cuda_pool_geom *g, const float *x, const float *R,
                                          float *f, float *even, float *Rin);

/* dropout.cu: mask[i] = keep(seed,i,p) ? 1/(1-p) : 0, y = x * mask
 * (dropout-mask.h, bit-identical to the CPU); backward dx += dy * mask. */
cudaError_t cuda_dropout_forward_launch(cudaStream_t s, const float *x, float *y, float *mask, size_t n,
                                        uint64_t seed, float p);
cudaError_t cuda_dropout_backward_launch(cudaStream_t s, const float *dy, const float *mask, float *dx, size_t n);

/* concat.cu: copy one input (N, Ci, HW) into channels [c0, c0+Ci) of the
 * output (N, Ctot, HW), or (backward, LRP) add that slice of dy into dx. */
cudaError_t cuda_concat_forward_launch(cudaStream_t s, const float *x, float *y, int N, int Ci, int Ctot,
                                       int c0, size_t HW);
cudaError_t cuda_concat_backward_launch(cudaStream_t s, const float *dy, float *dx, int N, int Ci, int Ctot,
                                        int c0, size_t HW);

/* add.cu: y = a + b (a == y allowed: the sum is built pairwise);
 * cuda_add_inplace: y += x (every backward of add, LRP's pass-through);
 * cuda_add_relevance: LRP's rule for add over the inputs of `in`. */
cudaError_t cuda_add_forward_launch(cudaStream_t s, const float *a, const float *b, float *y, size_t n);
cudaError_t cuda_add_inplace_launch(cudaStream_t s, const float *x, float *y, size_t n);
cudaError_t cuda_add_relevance_launch(cudaStream_t s, const add_inputs *in, const float *R, size_t n);

/* conv2d.cu (conv2d-body.h): around cuDNN's convolution.
 * bias: y (N,C,HW) += b[c] (conv2d and fc, HW = 1 for fc);
 * bias_backward: db[c] += sum over n and HW of dy (N,C,HW), through `part`
 *   (cuda_bias_backward_scratch floats of device scratch);
 * pad: xp (N,C,H+pt+pb,W+pl+pr) = x zero-padded (asymmetric padding);
 * unpad_add: dx (N,C,H,W) += the interior of dxp. */
cudaError_t cuda_bias_forward_launch(cudaStream_t s, float *y, const float *b, int N, int C, size_t HW);
size_t cuda_bias_backward_scratch(int N, int C, size_t HW);
cudaError_t cuda_bias_backward_launch(cudaStream_t s, const float *dy, float *db, float *part, int N, int C,
                                      size_t HW);
cudaError_t cuda_pad_launch(cudaStream_t s, const float *x, float *xp, int NC, int H, int W, int pt, int pb,
                            int pl, int pr);
cudaError_t cuda_unpad_add_launch(cudaStream_t s, const float *dxp, float *dx, int NC, int H, int W, int pt,
                                  int pb, int pl, int pr);

/* batchnorm.cu (batchnorm-body.h): x (N,C,hw); gamma, beta, rmean, rvar
 * (C); aux (2C: mean, 1/sqrt(var + eps)) written by a forward (training:
 * the batch's, may not be NULL; evaluation: the running statistics', may
 * be NULL) and read by a training backward. */
typedef struct cuda_bn_args {
    int N, C;
    size_t hw;
    float eps, momentum;
    int training;
    const float *x, *gamma, *beta;
    float *rmean, *rvar, *aux;
} cuda_bn_args;
/* y = the normalised x; training moves rmean and rvar.  coef: 2C floats of
 * device scratch. */
cudaError_t cuda_batchnorm_forward_launch(cudaStream_t s, const cuda_bn_args *a, float *y, float *coef);
/* dx (may be NULL), dgamma, dbeta (may be NULL) accumulate; k: 4C floats of
 * device scratch. */
cudaError_t cuda_batchnorm_backward_launch(cudaStream_t s, const cuda_bn_args *a, const float *dy, float *dx,
                                           float *dgamma, float *dbeta, float *k);
/* LRP's rule for a batchnorm not folded into a linear layer (backend.h):
 * Rin += gamma r x / stab(y) R; coef: 2C floats of device scratch. */
cudaError_t cuda_batchnorm_relevance_launch(cudaStream_t s, const cuda_bn_args *a, const float *y, const float *R,
                                            float *Rin, float *coef);

/* sgd.cu: v = momentum * v - lr * (g + decay * w); w += v (train/sgd.h). */
cudaError_t cuda_sgd_launch(cudaStream_t s, float *w, const float *g, float *v, size_t n, float lr, float momentum,
                            float decay);

/* softmax.cu: row-wise softmax of logits (N,K) into probs, max-subtracted. */
cudaError_t cuda_softmax_launch(cudaStream_t s, const float *logits, float *probs, int N, int K);

/* amap.cu: A(x,y) (face/amap.h): out (H,W) uint8, out[y*W+x] = the index of
 * the landmark (px[j],py[j]), j < k <= 255, nearest to (x,y), ties to the
 * lowest index; the reference's float expression exactly (no FMA).  px, py,
 * out: device memory. */
cudaError_t cuda_amap_launch(cudaStream_t s, const float *px, const float *py, int k, int W, int H, uint8_t *out);

/* lrp.cu (lrp-body.h): LRP's elementwise steps.
 * divide: z = r / stab(z) in place; mul_add: rin += coef * x * d;
 * split: pos = max(x,0), neg = min(x,0), *any_neg (device int, may be NULL)
 * set to 1 when some x < 0; square: out = w*w (flat: 1);
 * fill_channels: out (N,C,HW) = v[c], from values_host by value when
 * C <= LRP_FILL_MAX, else from values_dev (device memory). */
cudaError_t cuda_lrp_divide_launch(cudaStream_t s, float *z, const float *r, size_t n, int use_eps, float eps);
cudaError_t cuda_lrp_mul_add_launch(cudaStream_t s, const float *x, const float *d, float *rin, float coef,
                                    size_t n);
cudaError_t cuda_lrp_split_launch(cudaStream_t s, const float *x, float *pos, float *neg, size_t n, int *any_neg);
cudaError_t cuda_lrp_square_launch(cudaStream_t s, const float *w, float *out, size_t n, int flat);
cudaError_t cuda_fill_channels_launch(cudaStream_t s, float *out, const float *values_host, const float *values_dev,
                                      int N, int C, size_t HW);

#ifdef __cplusplus
}
#endif

#endif
