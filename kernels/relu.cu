/* relu.cu - relu and leaky_relu on the GPU (backend/cpu/activation.c is the
 * reference): y = x > 0 ? x : slope*x (slope 0 for relu), and
 * dx += dy * (x > 0 ? 1 : slope).  The gradient at exactly 0 is 0 / slope,
 * as on the CPU.  One thread per element, grid-stride. */
#include "common.cuh"

static __global__ void relu_forward_kernel(const float *x, float *y, size_t n, float slope)
{
    CUDA_FOR(i, n) { float v = x[i]; y[i] = v > 0.0f ? v : slope * v; }
}

static __global__ void relu_backward_kernel(const float *x, const float *dy, float *dx, size_t n, float slope)
{
    CUDA_FOR(i, n) dx[i] += x[i] > 0.0f ? dy[i] : slope * dy[i];
}

extern "C" cudaError_t cuda_relu_forward_launch(cudaStream_t s, const float *x, float *y, size_t n, int leaky,
                                                float slope)
{
    if (n == 0) return cudaSuccess;
    relu_forward_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(x, y, n, leaky ? slope : 0.0f);
    CUDA_LAUNCHED();
}

extern "C" cudaError_t cuda_relu_backward_launch(cudaStream_t s, const float *x, const float *dy, float *dx,
                                                 size_t n, int leaky, float slope)
{
    if (n == 0) return cudaSuccess;
    relu_backward_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(x, dy, dx, n, leaky ? slope : 0.0f);
    CUDA_LAUNCHED();
}
