/* sgd.cu - the SGD update over a whole parameter arena on the GPU, Caffe's
 * momentum form (src/train/sgd.c is the host version):
 *   v = momentum * v + lr * (g + decay * w);   w -= v
 * One thread per parameter; parameters, gradients and momentum share the
 * arena layout, so one launch updates the whole network. */
#include "common.cuh"

static __global__ void sgd_update_kernel(float *w, const float *g, float *v, size_t n, float lr, float momentum,
                                         float decay)
{
    CUDA_FOR(i, n) {
        float vi = momentum * v[i] + lr * (g[i] + decay * w[i]);
        v[i] = vi;
        w[i] -= vi;
    }
}

extern "C" cudaError_t cuda_sgd_update_launch(cudaStream_t s, float *w, const float *g, float *v, size_t n,
                                              float lr, float momentum, float decay)
{
    if (n == 0) return cudaSuccess;
    sgd_update_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(w, g, v, n, lr, momentum, decay);
    CUDA_LAUNCHED();
}
