/* common.cuh - what every kernel file shares: grid sizing for grid-stride
 * loops and the launch check.  Included by the kernel files only; the
 * per-element bodies they run are in <stem>-body.h (body.h). */
#ifndef TS_CUDA_COMMON_CUH
#define TS_CUDA_COMMON_CUH

#include "backend/cuda/cuda-ops.h"

/* Blocks for n work items, at most CUDA_MAX_BLOCKS (kernels loop). */
static inline unsigned cuda_blocks(size_t n)
{
    size_t b = (n + CUDA_THREADS - 1) / CUDA_THREADS;
    if (b < 1) b = 1;
    return (unsigned)(b > CUDA_MAX_BLOCKS ? CUDA_MAX_BLOCKS : b);
}

#define CUDA_FOR(i, n)                                                            \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);       \
         i += (size_t)gridDim.x * blockDim.x)

/* Every launch is followed by this: a bad configuration is reported here,
 * a fault inside the kernel by the next synchronising call. */
#define CUDA_LAUNCHED() return cudaGetLastError()

#endif
