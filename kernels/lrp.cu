/* lrp.cu - the elementwise parts of LRP on the GPU (issue 5; lrp-body.h has
 * the formulas); the convolutions and GEMMs around them are cuDNN's and
 * cuBLAS's (cuda-backend.c, cuda_lrp_linear).  The fixed rules of pooling,
 * add and concat live with those ops (pool.cu, add.cu, concat.cu). */
#include "common.cuh"
#include "lrp-body.h"

static __global__ void lrp_divide_kernel(float *z, const float *r, size_t n, int use_eps, float eps)
{
    CUDA_FOR(i, n) lrp_divide_at(i, z, r, use_eps, eps);
}

static __global__ void lrp_mul_add_kernel(const float *x, const float *d, float *rin, float coef, size_t n)
{
    CUDA_FOR(i, n) lrp_mul_add_at(i, x, d, rin, coef);
}

/* any_neg (device int, may be NULL) is set to 1 by every thread that sees a
 * negative x: all writers store the same value, so no atomic is needed. */
static __global__ void lrp_split_kernel(const float *x, float *pos, float *neg, size_t n, int *any_neg)
{
    CUDA_FOR(i, n) if (lrp_split_at(i, x, pos, neg) && any_neg) *any_neg = 1;
}

static __global__ void lrp_square_kernel(const float *w, float *out, size_t n, int flat)
{
    CUDA_FOR(i, n) lrp_square_at(i, w, out, flat);
}

static __global__ void fill_channels_kernel(float *out, lrp_fill_values v, int C, size_t HW, size_t n)
{
    CUDA_FOR(i, n) fill_channels_at(i, out, v.v, C, HW);
}

static __global__ void fill_channels_dev_kernel(float *out, const float *v, int C, size_t HW, size_t n)
{
    CUDA_FOR(i, n) fill_channels_at(i, out, v, C, HW);
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

extern "C" cudaError_t cuda_lrp_split_launch(cudaStream_t s, const float *x, float *pos, float *neg, size_t n,
                                             int *any_neg)
{
    if (n == 0) return cudaSuccess;
    lrp_split_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(x, pos, neg, n, any_neg);
    CUDA_LAUNCHED();
}

extern "C" cudaError_t cuda_lrp_square_launch(cudaStream_t s, const float *w, float *out, size_t n, int flat)
{
    if (n == 0) return cudaSuccess;
    lrp_square_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(w, out, n, flat);
    CUDA_LAUNCHED();
}

extern "C" cudaError_t cuda_fill_channels_launch(cudaStream_t s, float *out, const float *values_host,
                                                 const float *values_dev, int N, int C, size_t HW)
{
    size_t n = (size_t)N * C * HW;
    if (n == 0) return cudaSuccess;
    if (C <= LRP_FILL_MAX && values_host) {
        lrp_fill_values v;
        for (int c = 0; c < LRP_FILL_MAX; c++) v.v[c] = c < C ? values_host[c] : 0.0f;
        fill_channels_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(out, v, C, HW, n);
    } else {
        fill_channels_dev_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(out, values_dev, C, HW, n);
    }
    CUDA_LAUNCHED();
}
