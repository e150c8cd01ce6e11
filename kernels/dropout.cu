/* dropout.cu - inverted dropout on the GPU (backend/cpu/dropout.c is the
 * reference).  The mask comes from dropout-mask.h, the counter-based hash
 * the CPU uses too, so a (seed, index) pair gives the same mask bit on both
 * (dropout-body.h); the multiplier is stored in mask for backward. */
#include "common.cuh"
#include "dropout-body.h"

static __global__ void dropout_forward_kernel(const float *x, float *y, float *mask, size_t n, uint64_t seed,
                                              float p, float keep)
{
    CUDA_FOR(i, n) dropout_forward_at(i, x, y, mask, seed, p, keep);
}

static __global__ void dropout_backward_kernel(const float *dy, const float *mask, float *dx, size_t n)
{
    CUDA_FOR(i, n) dropout_backward_at(i, dy, mask, dx);
}

extern "C" cudaError_t cuda_dropout_forward_launch(cudaStream_t s, const float *x, float *y, float *mask,
                                                   size_t n, uint64_t seed, float p)
{
    if (n == 0) return cudaSuccess;
    dropout_forward_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(x, y, mask, n, seed, p, 1.0f / (1.0f - p));
    CUDA_LAUNCHED();
}

extern "C" cudaError_t cuda_dropout_backward_launch(cudaStream_t s, const float *dy, const float *mask, float *dx,
                                                    size_t n)
{
    if (n == 0) return cudaSuccess;
    dropout_backward_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(dy, mask, dx, n);
    CUDA_LAUNCHED();
}
