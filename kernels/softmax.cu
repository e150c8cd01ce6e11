/* softmax.cu - row-wise softmax on the GPU (nn/loss.h's ts_softmax is the
 * reference): p = exp(z - max z) / sum exp(z - max z), one block per row,
 * shared-memory reductions for the maximum and the sum. */
#include "common.cuh"

static __global__ void softmax_kernel(const float *z, float *p, int K)
{
    __shared__ float red[CUDA_THREADS];
    const float *zr = z + (size_t)blockIdx.x * K;
    float *pr = p + (size_t)blockIdx.x * K;
    float m = -INFINITY;
    for (int k = threadIdx.x; k < K; k += blockDim.x) m = fmaxf(m, zr[k]);
    red[threadIdx.x] = m;
    __syncthreads();
    for (int w = CUDA_THREADS / 2; w > 0; w >>= 1) {
        if ((int)threadIdx.x < w) red[threadIdx.x] = fmaxf(red[threadIdx.x], red[threadIdx.x + w]);
        __syncthreads();
    }
    m = red[0];
    __syncthreads();
    float s = 0.0f;
    for (int k = threadIdx.x; k < K; k += blockDim.x) {
        float e = expf(zr[k] - m);
        pr[k] = e;
        s += e;
    }
    red[threadIdx.x] = s;
    __syncthreads();
    for (int w = CUDA_THREADS / 2; w > 0; w >>= 1) {
        if ((int)threadIdx.x < w) red[threadIdx.x] += red[threadIdx.x + w];
        __syncthreads();
    }
    float inv = 1.0f / red[0];
    for (int k = threadIdx.x; k < K; k += blockDim.x) pr[k] *= inv;
}

extern "C" cudaError_t cuda_softmax_launch(cudaStream_t s, const float *logits, float *probs, int N, int K)
{
    if (N <= 0 || K <= 0) return cudaSuccess;
    softmax_kernel<<<(unsigned)N, CUDA_THREADS, 0, s>>>(logits, probs, K);
    CUDA_LAUNCHED();
}
