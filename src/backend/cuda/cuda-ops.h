/* cuda-ops.h - the launchers of our own CUDA kernels (kernels/<stem>.cu), called
 * by cuda-backend.c.
 *
 * One file per op stem (STYLE.md): kernels/relu.cu holds relu and
 * leaky_relu, kernels/pool.cu maxpool and avgpool, and so on.  Every
 * launcher takes device pointers, launches on `stream`, checks the launch
 * with cudaGetLastError() and returns that status (cudaSuccess when there
 * was nothing to do).  The formulas are those of the CPU backend's files of
 * the same stem (backend/cpu/), which are the reference; forward launchers
 * overwrite their output, backward launchers ACCUMULATE (+=) like every
 * backend (backend.h).  Element counts are size_t; a grid never exceeds
 * CUDA_MAX_BLOCKS blocks (the kernels loop grid-stride).
 */
#ifndef TS_CUDA_OPS_H
#define TS_CUDA_OPS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CUDA_THREADS 256
#define CUDA_MAX_BLOCKS 65535

/* relu.cu: y = max(x,0) | x>0 ? x : slope*x; dx += dy * (x>0 ? 1 : 0|slope).
 * leaky = 0 for relu. */
cudaError_t cuda_relu_forward_launch(cudaStream_t s, const float *x, float *y, size_t n, int leaky, float slope);
cudaError_t cuda_relu_backward_launch(cudaStream_t s, const float *x, const float *dy, float *dx, size_t n,
                                      int leaky, float slope);

/* lrn.cu: Caffe cross-channel LRN (backend/cpu/lrn.c); x, y, scale (N,C,HW). */
cudaError_t cuda_lrn_forward_launch(cudaStream_t s, const float *x, float *y, float *scale, int N, int C,
                                    int HW, int size, float alpha, float beta, float k);
cudaError_t cuda_lrn_backward_launch(cudaStream_t s, const float *x, const float *dy, const float *scale,
                                     float *dx, int N, int C, int HW, int size, float alpha, float beta);

/* pool.cu: geometry of one pooling op (backend/cpu/pool.c's rules). */
typedef struct cuda_pool_geom {
    int NC, H, W, OH, OW, KH, KW, S, pt, pb, pl, pr;
} cuda_pool_geom;
/* arg (may be NULL): flat index iy*W+ix of the window's first maximum, as
 * float, -1 for an empty window. */
cudaError_t cuda_maxpool_forward_launch(cudaStream_t s, const cuda_pool_geom *g, const float *x, float *y,
                                        float *arg);
cudaError_t cuda_maxpool_backward_launch(cudaStream_t s, const cuda_pool_geom *g, const float *arg,
                                         const float *dy, float *dx);
cudaError_t cuda_avgpool_forward_launch(cudaStream_t s, const cuda_pool_geom *g, const float *x, float *y);
cudaError_t cuda_avgpool_backward_launch(cudaStream_t s, const cuda_pool_geom *g, const float *dy, float *dx);

/* dropout.cu: mask[i] = keep(seed,i,p) ? 1/(1-p) : 0, y = x * mask
 * (dropout-mask.h, bit-identical to the CPU); backward dx += dy * mask. */
cudaError_t cuda_dropout_forward_launch(cudaStream_t s, const float *x, float *y, float *mask, size_t n,
                                        uint64_t seed, float p);
cudaError_t cuda_dropout_backward_launch(cudaStream_t s, const float *dy, const float *mask, float *dx, size_t n);

/* concat.cu: copy one input (N, Ci, HW) into channels [c0, c0+Ci) of the
 * output (N, Ctot, HW), or (backward) add that slice of dy into dx. */
cudaError_t cuda_concat_forward_launch(cudaStream_t s, const float *x, float *y, int N, int Ci, int Ctot,
                                       int c0, size_t HW);
cudaError_t cuda_concat_backward_launch(cudaStream_t s, const float *dy, float *dx, int N, int Ci, int Ctot,
                                        int c0, size_t HW);

/* add.cu: y = a + b (a == y allowed: the sum is built pairwise);
 * cuda_add_inplace: y += x (also every backward of add). */
cudaError_t cuda_add_forward_launch(cudaStream_t s, const float *a, const float *b, float *y, size_t n);
cudaError_t cuda_add_inplace_launch(cudaStream_t s, const float *x, float *y, size_t n);

/* conv2d.cu: helpers around cuDNN's convolution.
 * bias: y (N,C,HW) += b[c] (conv2d and fc, HW = 1 for fc);
 * bias_grad: db[c] += sum over n and HW of dy (N,C,HW);
 * pad: xp (N,C,H+pt+pb,W+pl+pr) = x zero-padded (asymmetric padding);
 * unpad_add: dx (N,C,H,W) += the interior of dxp. */
cudaError_t cuda_bias_forward_launch(cudaStream_t s, float *y, const float *b, int N, int C, size_t HW);
cudaError_t cuda_bias_backward_launch(cudaStream_t s, const float *dy, float *db, int N, int C, size_t HW);
cudaError_t cuda_pad_launch(cudaStream_t s, const float *x, float *xp, int NC, int H, int W, int pt, int pb,
                            int pl, int pr);
cudaError_t cuda_unpad_add_launch(cudaStream_t s, const float *dxp, float *dx, int NC, int H, int W, int pt,
                                  int pb, int pl, int pr);

/* sgd.cu: momentum SGD with weight decay, Caffe's form, over a whole arena:
 * v = momentum * v + lr * (g + decay * w); w -= v. */
cudaError_t cuda_sgd_update_launch(cudaStream_t s, float *w, const float *g, float *v, size_t n, float lr,
                                   float momentum, float decay);

/* softmax.cu: row-wise softmax of logits (N,K) into probs, max-subtracted. */
cudaError_t cuda_softmax_launch(cudaStream_t s, const float *logits, float *probs, int N, int K);

/* amap.cu: A(x,y) (face/amap.h): out (H,W) uint8, out[y*W+x] = the index of
 * the landmark (px[j],py[j]), j < k <= 255, nearest to (x,y), ties to the
 * lowest index; the reference's float expression exactly (no FMA).  px, py,
 * out: device memory. */
cudaError_t cuda_amap_launch(cudaStream_t s, const float *px, const float *py, int k, int W, int H, uint8_t *out);

/* lrp.cu: LRP's elementwise steps (explain/lrp.c's formulas).
 * divide: z = r / stab(z) in place (use_eps: z + eps*sign(z), sign(0) = +1;
 * a zero denominator gives 0); mul_add: rin += coef * x * d; split: pos =
 * max(x,0), neg = min(x,0); square: out = w*w (flat: 1); fill_channels:
 * out (N,C,HW) = v[c], v device memory. */
cudaError_t cuda_lrp_divide_launch(cudaStream_t s, float *z, const float *r, size_t n, int use_eps, float eps);
cudaError_t cuda_lrp_mul_add_launch(cudaStream_t s, const float *x, const float *d, float *rin, float coef,
                                    size_t n);
cudaError_t cuda_lrp_split_launch(cudaStream_t s, const float *x, float *pos, float *neg, size_t n);
cudaError_t cuda_lrp_square_launch(cudaStream_t s, const float *w, float *out, size_t n, int flat);
cudaError_t cuda_fill_channels_launch(cudaStream_t s, float *out, const float *v, int N, int C, size_t HW);

#ifdef __cplusplus
}
#endif

#endif
