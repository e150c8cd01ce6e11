/* sgd.cu - the SGD update on the GPU in train/sgd.h's form (sgd-body.h):
 *   v = momentum * v - lr * (g + decay * w);   w += v
 * One thread per parameter; train/sgd.c launches it per parameter tensor
 * (weights and biases have their own rates). */
#include "common.cuh"
#include "sgd-body.h"

static __global__ void sgd_kernel(float *w, const float *g, float *v, size_t n, float lr, float momentum, float decay)
{
    CUDA_FOR(i, n) sgd_at(i, w, g, v, lr, momentum, decay);
}

extern "C" cudaError_t cuda_sgd_launch(cudaStream_t s, float *w, const float *g, float *v, size_t n, float lr,
                                       float momentum, float decay)
{
    if (n == 0) return cudaSuccess;
    sgd_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(w, g, v, n, lr, momentum, decay);
    CUDA_LAUNCHED();
}
