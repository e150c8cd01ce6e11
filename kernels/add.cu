/* add.cu - the elementwise sum of the add op on the GPU
 * (backend/cpu/join.c): forward is built pairwise (y = in0 + in1, then
 * y += in_k), backward is din_k += dout for every input, and LRP's rules
 * for add and the pass-through ops (add-body.h). */
#include "common.cuh"
#include "add-body.h"

static __global__ void add_forward_kernel(const float *a, const float *b, float *y, size_t n)
{
    CUDA_FOR(i, n) add_forward_at(i, a, b, y);
}

static __global__ void add_inplace_kernel(const float *x, float *y, size_t n)
{
    CUDA_FOR(i, n) add_inplace_at(i, x, y);
}

static __global__ void add_relevance_kernel(add_inputs in, const float *R, size_t n)
{
    CUDA_FOR(i, n) add_relevance_at(i, &in, R);
}

extern "C" cudaError_t cuda_add_forward_launch(cudaStream_t s, const float *a, const float *b, float *y, size_t n)
{
    if (n == 0) return cudaSuccess;
    add_forward_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(a, b, y, n);
    CUDA_LAUNCHED();
}

extern "C" cudaError_t cuda_add_inplace_launch(cudaStream_t s, const float *x, float *y, size_t n)
{
    if (n == 0) return cudaSuccess;
    add_inplace_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(x, y, n);
    CUDA_LAUNCHED();
}

extern "C" cudaError_t cuda_add_relevance_launch(cudaStream_t s, const add_inputs *in, const float *R, size_t n)
{
    if (n == 0) return cudaSuccess;
    add_relevance_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(*in, R, n);
    CUDA_LAUNCHED();
}
