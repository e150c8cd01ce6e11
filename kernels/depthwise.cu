/* depthwise.cu - depthwise convolution on the GPU, computed directly
 * (backend/cpu/depthwise.c is the reference; the bodies and their rules are
 * in depthwise-body.h).  cuDNN runs such a grouped convolution as C tiny
 * convolutions in many of its engines; one thread per output element with
 * the taps in registers is the usual answer for MobileNet's 3x3 layers
 * (face-api's SSD detector).  cuda-backend.c sends every conv2d with
 * groups == C > 1 here.  Grid-stride loops; the weight gradient in two
 * passes through a scratch of partial sums (conv2d.cu's bias pattern). */
#include "common.cuh"
#include "conv2d-body.h"
#include "depthwise-body.h"

static __global__ void depthwise_forward_kernel(cuda_dw_geom g, const float *x, const float *w, const float *b,
                                                float *y, size_t n)
{
    CUDA_FOR(i, n) depthwise_forward_at(i, &g, x, w, b, y);
}

static __global__ void depthwise_backward_data_kernel(cuda_dw_geom g, const float *w, const float *dy, float *dx,
                                                      size_t n)
{
    CUDA_FOR(i, n) depthwise_backward_data_at(i, &g, w, dy, dx);
}

static __global__ void depthwise_filter_partial_kernel(cuda_dw_geom g, const float *x, const float *dy, float *part,
                                                       int S, size_t n)
{
    CUDA_FOR(t, n) depthwise_filter_partial_at(t, &g, x, dy, part, S);
}

static __global__ void depthwise_filter_finish_kernel(const float *part, float *dw, int S, size_t n)
{
    CUDA_FOR(k, n) depthwise_filter_finish_at(k, part, dw, S);
}

extern "C" cudaError_t cuda_depthwise_forward_launch(cudaStream_t s, const cuda_dw_geom *g, const float *x,
                                                     const float *w, const float *b, float *y)
{
    size_t n = (size_t)g->N * g->C * g->M * g->OH * g->OW;
    if (n == 0) return cudaSuccess;
    depthwise_forward_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(*g, x, w, b, y, n);
    CUDA_LAUNCHED();
}

extern "C" cudaError_t cuda_depthwise_backward_data_launch(cudaStream_t s, const cuda_dw_geom *g, const float *w,
                                                           const float *dy, float *dx)
{
    size_t n = (size_t)g->N * g->C * g->H * g->W;
    if (n == 0) return cudaSuccess;
    depthwise_backward_data_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(*g, w, dy, dx, n);
    CUDA_LAUNCHED();
}

extern "C" size_t cuda_depthwise_filter_scratch(const cuda_dw_geom *g)
{
    return (size_t)g->C * g->M * g->KH * g->KW * (size_t)bias_parts((size_t)g->N * g->OH * g->OW);
}

extern "C" cudaError_t cuda_depthwise_backward_filter_launch(cudaStream_t s, const cuda_dw_geom *g, const float *x,
                                                             const float *dy, float *dw, float *part)
{
    size_t k = (size_t)g->C * g->M * g->KH * g->KW;
    if (k == 0) return cudaSuccess;
    int S = bias_parts((size_t)g->N * g->OH * g->OW);
    depthwise_filter_partial_kernel<<<cuda_blocks(k * S), CUDA_THREADS, 0, s>>>(*g, x, dy, part, S, k * S);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    depthwise_filter_finish_kernel<<<cuda_blocks(k), CUDA_THREADS, 0, s>>>(part, dw, S, k);
    CUDA_LAUNCHED();
}
