/* conv2d.cu - what cuDNN's convolution needs around it (cuda-backend.c does
 * the convolution itself): bias add and bias gradient (shared with fc), and
 * the explicit zero padding used for asymmetric pads (conv2d-body.h).
 *
 * Asymmetric padding (pad_t != pad_b or pad_l != pad_r, e.g. ONNX "SAME"
 * models): cuDNN pads symmetrically only, and padding by the maximum then
 * cropping the output works only when the pad difference is a multiple of
 * the stride, so instead the input is copied into a zero-padded buffer
 * (N,C,H+pt+pb,W+pl+pr) and convolved with pad 0; backward-data writes the
 * padded gradient and cuda_unpad_add folds its interior back (+=). */
#include "common.cuh"
#include "conv2d-body.h"

static __global__ void bias_forward_kernel(float *y, const float *b, int C, size_t HW, size_t n)
{
    CUDA_FOR(i, n) bias_forward_at(i, y, b, C, HW);
}

static __global__ void bias_partial_kernel(const float *dy, float *part, int N, int C, size_t HW, int S, size_t n)
{
    CUDA_FOR(t, n) bias_partial_at(t, dy, part, N, C, HW, S);
}

static __global__ void bias_finish_kernel(const float *part, float *db, int S, size_t C)
{
    CUDA_FOR(c, C) bias_finish_at(c, part, db, S);
}

static __global__ void pad_kernel(const float *x, float *xp, int H, int W, int pt, int pl, int HP, int WP, size_t n)
{
    CUDA_FOR(i, n) pad_at(i, x, xp, H, W, pt, pl, HP, WP);
}

static __global__ void unpad_add_kernel(const float *dxp, float *dx, int H, int W, int pt, int pl, int HP, int WP,
                                        size_t n)
{
    CUDA_FOR(i, n) unpad_add_at(i, dxp, dx, H, W, pt, pl, HP, WP);
}

extern "C" cudaError_t cuda_bias_forward_launch(cudaStream_t s, float *y, const float *b, int N, int C, size_t HW)
{
    size_t n = (size_t)N * C * HW;
    if (n == 0) return cudaSuccess;
    bias_forward_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(y, b, C, HW, n);
    CUDA_LAUNCHED();
}

extern "C" size_t cuda_bias_backward_scratch(int N, int C, size_t HW)
{
    return (size_t)C * (size_t)bias_parts((size_t)N * HW);
}

extern "C" cudaError_t cuda_bias_backward_launch(cudaStream_t s, const float *dy, float *db, float *part, int N,
                                                 int C, size_t HW)
{
    if (C <= 0 || N <= 0 || HW == 0) return cudaSuccess;
    int S = bias_parts((size_t)N * HW);
    size_t n = (size_t)C * S;
    bias_partial_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(dy, part, N, C, HW, S, n);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    bias_finish_kernel<<<cuda_blocks((size_t)C), CUDA_THREADS, 0, s>>>(part, db, S, (size_t)C);
    CUDA_LAUNCHED();
}

extern "C" cudaError_t cuda_pad_launch(cudaStream_t s, const float *x, float *xp, int NC, int H, int W, int pt,
                                       int pb, int pl, int pr)
{
    int HP = H + pt + pb, WP = W + pl + pr;
    size_t n = (size_t)NC * HP * WP;
    if (n == 0) return cudaSuccess;
    pad_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(x, xp, H, W, pt, pl, HP, WP, n);
    CUDA_LAUNCHED();
}

extern "C" cudaError_t cuda_unpad_add_launch(cudaStream_t s, const float *dxp, float *dx, int NC, int H, int W,
                                             int pt, int pb, int pl, int pr)
{
    int HP = H + pt + pb, WP = W + pl + pr;
    size_t n = (size_t)NC * H * W;
    if (n == 0) return cudaSuccess;
    unpad_add_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(dxp, dx, H, W, pt, pl, HP, WP, n);
    CUDA_LAUNCHED();
}
