/* lrn.cu - Caffe's cross-channel LRN on the GPU (backend/cpu/lrn.c is the
 * reference; the formulas are in lrn-body.h).  One thread per element;
 * each sums its window directly, so results match the CPU to rounding. */
#include "common.cuh"
#include "lrn-body.h"

static __global__ void lrn_forward_kernel(const float *x, float *y, float *scale, int C, size_t HW, size_t n,
                                          int pre, int post, float coef, float beta, float k)
{
    CUDA_FOR(i, n) lrn_forward_at(i, x, y, scale, C, HW, pre, post, coef, beta, k);
}

static __global__ void lrn_backward_kernel(const float *x, const float *dy, const float *scale, float *dx, int C,
                                           size_t HW, size_t n, int pre, int post, float coef, float beta)
{
    CUDA_FOR(i, n) lrn_backward_at(i, x, dy, scale, dx, C, HW, pre, post, coef, beta);
}

extern "C" cudaError_t cuda_lrn_forward_launch(cudaStream_t s, const float *x, float *y, float *scale, int N, int C,
                                               int HW, int size, float alpha, float beta, float k)
{
    size_t n = (size_t)N * C * HW;
    if (n == 0) return cudaSuccess;
    int pre = (size - 1) / 2, post = size - 1 - pre;
    lrn_forward_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(x, y, scale, C, (size_t)HW, n, pre, post,
                                                               alpha / size, beta, k);
    CUDA_LAUNCHED();
}

extern "C" cudaError_t cuda_lrn_backward_launch(cudaStream_t s, const float *x, const float *dy,
                                                const float *scale, float *dx, int N, int C, int HW, int size,
                                                float alpha, float beta)
{
    size_t n = (size_t)N * C * HW;
    if (n == 0) return cudaSuccess;
    int pre = (size - 1) / 2, post = size - 1 - pre;
    lrn_backward_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(x, dy, scale, dx, C, (size_t)HW, n, pre, post,
                                                                2.0f * alpha * beta / size, beta);
    CUDA_LAUNCHED();
}
