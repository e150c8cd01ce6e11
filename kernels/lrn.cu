/* lrn.cu - Caffe's cross-channel LRN on the GPU (backend/cpu/lrn.c is the
 * reference, with the formulas):
 *   scale[c] = k + alpha/size * sum_{c'=c-pre}^{c+post} x[c']^2,  y = x * scale^-beta
 *   dx[c] += dy[c] scale[c]^-beta
 *            - 2 alpha beta/size * x[c] * sum_{c'=c-post}^{c+pre} dy[c'] x[c'] scale[c']^(-beta-1)
 * pre = (size-1)/2, post = size-1-pre, channels outside [0,C) count as 0.
 * One thread per element; each sums its window directly (size terms, no
 * running sum that could drift), so results match the CPU to rounding. */
#include "common.cuh"

static __global__ void lrn_forward_kernel(const float *x, float *y, float *scale, int C, size_t HW, size_t n,
                                          int pre, int post, float coef, float beta, float k)
{
    CUDA_FOR(i, n) {
        size_t p = i % HW, nc = i / HW;
        int c = (int)(nc % C);
        const float *xs = x + (nc - c) * HW + p; /* channel 0 of this sample and pixel */
        int c0 = c - pre < 0 ? 0 : c - pre, c1 = c + post >= C ? C - 1 : c + post;
        float acc = 0.0f;
        for (int cc = c0; cc <= c1; cc++) {
            float v = xs[(size_t)cc * HW];
            acc += v * v;
        }
        float sc = k + coef * acc;
        if (scale) scale[i] = sc;
        y[i] = x[i] * powf(sc, -beta);
    }
}

static __global__ void lrn_backward_kernel(const float *x, const float *dy, const float *scale, float *dx, int C,
                                           size_t HW, size_t n, int pre, int post, float coef, float beta)
{
    CUDA_FOR(i, n) {
        size_t p = i % HW, nc = i / HW;
        int c = (int)(nc % C);
        size_t base = (nc - c) * HW + p;
        int c0 = c - post < 0 ? 0 : c - post, c1 = c + pre >= C ? C - 1 : c + pre;
        float acc = 0.0f;
        for (int cc = c0; cc <= c1; cc++) {
            size_t j = base + (size_t)cc * HW;
            float s = scale[j];
            acc += dy[j] * x[j] * powf(s, -beta) / s;
        }
        dx[i] += dy[i] * powf(scale[i], -beta) - coef * x[i] * acc;
    }
}

extern "C" cudaError_t cuda_lrn_forward_launch(cudaStream_t s, const float *x, float *y, float *scale, int N, int C,
                                               int HW, int size, float alpha, float beta, float k)
{
    size_t n = (size_t)N * C * HW;
    if (n == 0) return cudaSuccess;
    int pre = (size - 1) / 2, post = size - 1 - pre;
    lrn_forward_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(x, y, scale, C, (size_t)HW, n, pre, post,
                                                               alpha / size, beta, k);
    CUDA_LAUNCHED();
}

extern "C" cudaError_t cuda_lrn_backward_launch(cudaStream_t s, const float *x, const float *dy,
                                                const float *scale, float *dx, int N, int C, int HW, int size,
                                                float alpha, float beta)
{
    size_t n = (size_t)N * C * HW;
    if (n == 0) return cudaSuccess;
    int pre = (size - 1) / 2, post = size - 1 - pre;
    lrn_backward_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(x, dy, scale, dx, C, (size_t)HW, n, pre, post,
                                                                2.0f * alpha * beta / size, beta);
    CUDA_LAUNCHED();
}
