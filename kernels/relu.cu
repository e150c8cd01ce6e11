/* relu.cu - relu (with its ReLU6 clip) and leaky_relu on the GPU
 * (backend/cpu/activation.c is the reference; the bodies and their rules are in relu-body.h).  One thread
 * per element, grid-stride. */
#include "common.cuh"
#include "relu-body.h"

static __global__ void relu_forward_kernel(const float *x, float *y, size_t n)
{
    CUDA_FOR(i, n) relu_forward_at(i, x, y);
}

static __global__ void leaky_relu_forward_kernel(const float *x, float *y, size_t n, float slope)
{
    CUDA_FOR(i, n) leaky_relu_forward_at(i, x, y, slope);
}

static __global__ void relu_clip_forward_kernel(const float *x, float *y, size_t n, float clip)
{
    CUDA_FOR(i, n) relu_clip_forward_at(i, x, y, clip);
}

static __global__ void relu_clip_backward_kernel(const float *x, const float *dy, float *dx, size_t n, float clip)
{
    CUDA_FOR(i, n) relu_clip_backward_at(i, x, dy, dx, clip);
}

static __global__ void relu_backward_kernel(const float *x, const float *dy, float *dx, size_t n)
{
    CUDA_FOR(i, n) relu_backward_at(i, x, dy, dx);
}

static __global__ void leaky_relu_backward_kernel(const float *x, const float *dy, float *dx, size_t n, float slope)
{
    CUDA_FOR(i, n) leaky_relu_backward_at(i, x, dy, dx, slope);
}

extern "C" cudaError_t cuda_relu_forward_launch(cudaStream_t s, const float *x, float *y, size_t n, int leaky,
                                                float slope, float clip)
{
    if (n == 0) return cudaSuccess;
    if (leaky) leaky_relu_forward_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(x, y, n, slope);
    else if (clip > 0.0f) relu_clip_forward_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(x, y, n, clip);
    else relu_forward_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(x, y, n);
    CUDA_LAUNCHED();
}

extern "C" cudaError_t cuda_relu_backward_launch(cudaStream_t s, const float *x, const float *dy, float *dx,
                                                 size_t n, int leaky, float slope, float clip)
{
    if (n == 0) return cudaSuccess;
    if (leaky) leaky_relu_backward_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(x, dy, dx, n, slope);
    else if (clip > 0.0f) relu_clip_backward_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(x, dy, dx, n, clip);
    else relu_backward_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(x, dy, dx, n);
    CUDA_LAUNCHED();
}
