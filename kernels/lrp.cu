/* lrp.cu - the elementwise parts of LRP's linear-layer step on the GPU
 * (issue 5); the convolutions and GEMMs around them are cuDNN's and
 * cuBLAS's (cuda-backend.c, ts_backend_cuda_lrp_linear).
 *
 * The CPU reference is explain/lrp.c (conv_step, fc_step, divide,
 * split_sign, ts_lrp_refresh); the formulas here are the same:
 *   divide:   s = r / (z + eps*sign(z)), sign(0) = +1, when use_eps;
 *             otherwise s = r / z; a zero denominator gives 0 (lrp.h)
 *   mul_add:  rin += coef * x * d
 *   split:    pos = max(x, 0), neg = min(x, 0)   (W+, W-, x+, x-)
 *   square:   out = w*w, or 1 for the flat rule
 *   fill:     out (N,C,HW) = v[c]                (zbox's -l and -h planes)
 */
#include "common.cuh"

static __global__ void lrp_divide_kernel(float *z, const float *r, size_t n, int use_eps, float eps)
{
    CUDA_FOR(i, n) {
        float d = z[i];
        if (use_eps) d = d + (d >= 0.0f ? eps : -eps);
        z[i] = d != 0.0f ? r[i] / d : 0.0f;
    }
}

static __global__ void lrp_mul_add_kernel(const float *x, const float *d, float *rin, float coef, size_t n)
{
    CUDA_FOR(i, n) rin[i] += coef * x[i] * d[i];
}

static __global__ void lrp_split_kernel(const float *x, float *pos, float *neg, size_t n)
{
    CUDA_FOR(i, n) {
        float v = x[i];
        pos[i] = v > 0.0f ? v : 0.0f;
        neg[i] = v < 0.0f ? v : 0.0f;
    }
}

static __global__ void lrp_square_kernel(const float *w, float *out, size_t n, int flat)
{
    CUDA_FOR(i, n) out[i] = flat ? 1.0f : w[i] * w[i];
}

static __global__ void fill_channels_kernel(float *out, const float *v, int C, size_t HW, size_t n)
{
    CUDA_FOR(i, n) out[i] = v[(i / HW) % (size_t)C];
}

extern "C" cudaError_t cuda_lrp_divide_launch(cudaStream_t s, float *z, const float *r, size_t n, int use_eps,
                                              float eps)
{
    if (n == 0) return cudaSuccess;
    lrp_divide_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(z, r, n, use_eps, eps);
    CUDA_LAUNCHED();
}

extern "C" cudaError_t cuda_lrp_mul_add_launch(cudaStream_t s, const float *x, const float *d, float *rin,
                                               float coef, size_t n)
{
    if (n == 0) return cudaSuccess;
    lrp_mul_add_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(x, d, rin, coef, n);
    CUDA_LAUNCHED();
}

extern "C" cudaError_t cuda_lrp_split_launch(cudaStream_t s, const float *x, float *pos, float *neg, size_t n)
{
    if (n == 0) return cudaSuccess;
    lrp_split_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(x, pos, neg, n);
    CUDA_LAUNCHED();
}

extern "C" cudaError_t cuda_lrp_square_launch(cudaStream_t s, const float *w, float *out, size_t n, int flat)
{
    if (n == 0) return cudaSuccess;
    lrp_square_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(w, out, n, flat);
    CUDA_LAUNCHED();
}

extern "C" cudaError_t cuda_fill_channels_launch(cudaStream_t s, float *out, const float *v, int N, int C,
                                                 size_t HW)
{
    size_t n = (size_t)N * C * HW;
    if (n == 0) return cudaSuccess;
    fill_channels_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(out, v, C, HW, n);
    CUDA_LAUNCHED();
}
