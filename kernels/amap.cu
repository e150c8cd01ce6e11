/* amap.cu - A(x,y), the nearest-landmark index map, on the GPU (issue 5).
 * Spec and rounding rules: amap-body.h (byte-identical to
 * ts_amap_reference).  Denormals: the project builds without -ftz (nvcc's
 * default is -ftz=false), as the CPU keeps them.  One thread per pixel
 * (grid-stride), the k landmarks in shared memory; O(W*H*k) like Fig. 3,
 * which a GPU does at memory speed for 68 points. */
#include "common.cuh"
#include "amap-body.h"

static __global__ void amap_kernel(const float *px, const float *py, int k, int W, size_t n, uint8_t *out)
{
    extern __shared__ float lm[]; /* x[0..k), y[0..k) */
    for (int j = threadIdx.x; j < k; j += blockDim.x) {
        lm[j] = px[j];
        lm[k + j] = py[j];
    }
    __syncthreads();
    CUDA_FOR(i, n) out[i] = amap_at(i, lm, lm + k, k, W);
}

extern "C" cudaError_t cuda_amap_launch(cudaStream_t s, const float *px, const float *py, int k, int W, int H,
                                        uint8_t *out)
{
    size_t n = (size_t)W * H;
    if (n == 0 || k < 1) return cudaSuccess;
    amap_kernel<<<cuda_blocks(n), CUDA_THREADS, 2 * (size_t)k * sizeof(float), s>>>(px, py, k, W, n, out);
    CUDA_LAUNCHED();
}
