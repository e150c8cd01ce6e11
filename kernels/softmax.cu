/* softmax.cu - row-wise softmax on the GPU (nn/loss.h's ts_softmax is the
 * reference; softmax-body.h), one thread per row.  The backend's softmax
 * entry: predictions come back as probabilities. */
#include "common.cuh"
#include "softmax-body.h"

static __global__ void softmax_kernel(const float *z, float *p, size_t N, int K)
{
    CUDA_FOR(r, N) softmax_row_at(r, z, p, K);
}

extern "C" cudaError_t cuda_softmax_launch(cudaStream_t s, const float *logits, float *probs, int N, int K)
{
    if (N <= 0 || K <= 0) return cudaSuccess;
    softmax_kernel<<<cuda_blocks((size_t)N), CUDA_THREADS, 0, s>>>(logits, probs, (size_t)N, K);
    CUDA_LAUNCHED();
}
