/* batchnorm.cu - batch normalisation on the GPU (backend/cpu/batchnorm.c is
 * the reference; graph.h, TS_OP_BATCHNORM).  The per-channel sums are one
 * block per channel (a grid-stride loop over its N planes, a shared-memory
 * tree, in double like the CPU); thread 0 of the block then writes the
 * channel's coefficients, and a grid-stride kernel applies them
 * (batchnorm-body.h). */
#include "common.cuh"
#include "batchnorm-body.h"

#define BN_THREADS 256

/* Sum over the block of v (all threads call it); every thread gets it. */
static __device__ double block_sum(double v, double *sh)
{
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int k = BN_THREADS / 2; k > 0; k >>= 1) {
        if ((int)threadIdx.x < k) sh[threadIdx.x] += sh[threadIdx.x + k];
        __syncthreads();
    }
    double s = sh[0];
    __syncthreads();
    return s;
}

/* Element j of channel c's M = N*hw values. */
static __device__ size_t bn_index(size_t j, size_t hw, int C, int c)
{
    return (j / hw * (size_t)C + (size_t)c) * hw + j % hw;
}

/* Training: the batch's mean and 1/sqrt(var + eps) into aux, the running
 * statistics moved, the apply coefficients into coef. */
static __global__ void bn_stats_kernel(const float *x, int N, int C, size_t hw, float eps, float momentum,
                                       const float *gamma, const float *beta, float *rmean, float *rvar, float *aux,
                                       float *coef)
{
    __shared__ double sh[BN_THREADS];
    int c = blockIdx.x;
    size_t M = (size_t)N * hw;
    double s = 0.0;
    for (size_t j = threadIdx.x; j < M; j += BN_THREADS) s += x[bn_index(j, hw, C, c)];
    double mean = block_sum(s, sh) / (double)M;
    double q = 0.0;
    for (size_t j = threadIdx.x; j < M; j += BN_THREADS) {
        double d = x[bn_index(j, hw, C, c)] - mean;
        q += d * d;
    }
    q = block_sum(q, sh);
    if (threadIdx.x == 0) {
        double var = q / (double)M, unbiased = M > 1 ? q / (double)(M - 1) : var;
        float r = (float)(1.0 / sqrt(var + eps));
        aux[c] = (float)mean;
        aux[C + c] = r;
        rmean[c] = (float)(rmean[c] + momentum * (mean - rmean[c]));
        rvar[c] = (float)(rvar[c] + momentum * (unbiased - rvar[c]));
        bn_coef_at(c, C, gamma, beta, (float)mean, r, coef);
    }
}

/* Evaluation: the running statistics' mean and 1/sqrt(var + eps) into aux
 * (may be NULL) and the coefficients. */
static __global__ void bn_eval_coef_kernel(int C, float eps, const float *gamma, const float *beta,
                                           const float *rmean, const float *rvar, float *aux, float *coef)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float r = (float)(1.0 / sqrt((double)rvar[c] + eps));
    if (aux) aux[c] = rmean[c], aux[C + c] = r;
    bn_coef_at(c, C, gamma, beta, rmean[c], r, coef);
}

static __global__ void bn_apply_kernel(const float *x, float *y, const float *coef, int C, size_t hw, size_t n)
{
    CUDA_FOR(i, n) bn_apply_at(i, hw, C, x, coef, y);
}

/* Backward sums of channel c: dgamma, dbeta (may be NULL) accumulated, the
 * input gradient's coefficients into k (4C). */
static __global__ void bn_grad_kernel(const float *x, const float *dy, int N, int C, size_t hw, float eps,
                                      int training, const float *gamma, const float *rmean, const float *rvar,
                                      const float *aux, float *dgamma, float *dbeta, float *k)
{
    __shared__ double sh[BN_THREADS];
    int c = blockIdx.x;
    size_t M = (size_t)N * hw;
    float mu, r;
    if (training) mu = aux[c], r = aux[C + c];
    else mu = rmean[c], r = (float)(1.0 / sqrt((double)rvar[c] + eps));
    double sdy = 0.0, sdyx = 0.0;
    for (size_t j = threadIdx.x; j < M; j += BN_THREADS) {
        size_t i = bn_index(j, hw, C, c);
        sdy += dy[i];
        sdyx += dy[i] * ((x[i] - mu) * r);
    }
    sdy = block_sum(sdy, sh);
    sdyx = block_sum(sdyx, sh);
    if (threadIdx.x == 0) {
        if (dgamma) dgamma[c] += (float)sdyx;
        if (dbeta) dbeta[c] += (float)sdy;
        k[c] = gamma[c] * r;
        k[C + c] = mu;
        k[2 * C + c] = training ? (float)(sdy / (double)M) : 0.0f;
        k[3 * C + c] = training ? (float)(sdyx / (double)M) * r : 0.0f;
    }
}

static __global__ void bn_dx_kernel(const float *x, const float *dy, const float *k, float *dx, int C, size_t hw,
                                    size_t n)
{
    CUDA_FOR(i, n) bn_dx_at(i, hw, C, x, dy, k, dx);
}

static __global__ void bn_relevance_kernel(const float *x, const float *y, const float *R, const float *s,
                                           float *Rin, int C, size_t hw, size_t n)
{
    CUDA_FOR(i, n) bn_relevance_at(i, hw, C, x, y, R, s, Rin);
}

extern "C" cudaError_t cuda_batchnorm_forward_launch(cudaStream_t s, const cuda_bn_args *a, float *y, float *coef)
{
    size_t n = (size_t)a->N * a->C * a->hw;
    if (n == 0) return cudaSuccess;
    if (a->training)
        bn_stats_kernel<<<a->C, BN_THREADS, 0, s>>>(a->x, a->N, a->C, a->hw, a->eps, a->momentum, a->gamma, a->beta,
                                                     a->rmean, a->rvar, a->aux, coef);
    else
        bn_eval_coef_kernel<<<(a->C + CUDA_THREADS - 1) / CUDA_THREADS, CUDA_THREADS, 0, s>>>(
            a->C, a->eps, a->gamma, a->beta, a->rmean, a->rvar, a->aux, coef);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    bn_apply_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(a->x, y, coef, a->C, a->hw, n);
    CUDA_LAUNCHED();
}

extern "C" cudaError_t cuda_batchnorm_backward_launch(cudaStream_t s, const cuda_bn_args *a, const float *dy,
                                                      float *dx, float *dgamma, float *dbeta, float *k)
{
    size_t n = (size_t)a->N * a->C * a->hw;
    if (n == 0) return cudaSuccess;
    bn_grad_kernel<<<a->C, BN_THREADS, 0, s>>>(a->x, dy, a->N, a->C, a->hw, a->eps, a->training, a->gamma,
                                                a->rmean, a->rvar, a->aux, dgamma, dbeta, k);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess || !dx) return e;
    bn_dx_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(a->x, dy, k, dx, a->C, a->hw, n);
    CUDA_LAUNCHED();
}

extern "C" cudaError_t cuda_batchnorm_relevance_launch(cudaStream_t s, const cuda_bn_args *a, const float *y,
                                                       const float *R, float *Rin, float *coef)
{
    size_t n = (size_t)a->N * a->C * a->hw;
    if (n == 0) return cudaSuccess;
    /* coef[c] = gamma r from the running statistics: the evaluation's */
    bn_eval_coef_kernel<<<(a->C + CUDA_THREADS - 1) / CUDA_THREADS, CUDA_THREADS, 0, s>>>(
        a->C, a->eps, a->gamma, a->beta, a->rmean, a->rvar, NULL, coef);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    bn_relevance_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(a->x, y, R, coef, Rin, a->C, a->hw, n);
    CUDA_LAUNCHED();
}
