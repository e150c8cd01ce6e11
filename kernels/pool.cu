/* pool.cu - max and average pooling on the GPU with Caffe's rounding, and
 * LRP's rules for them (pool-body.h has the rules; backend/cpu/pool.c and
 * backend/cpu/relevance.c are the reference).  Forward: one thread per
 * output cell; backward and relevance gather: one thread per input cell. */
#include "common.cuh"
#include "pool-body.h"

typedef cuda_pool_geom geom;

static __global__ void maxpool_forward_kernel(geom g, const float *x, float *y, float *arg, size_t n)
{
    CUDA_FOR(i, n) maxpool_forward_at(i, &g, x, y, arg);
}

static __global__ void maxpool_backward_kernel(geom g, const float *arg, const float *dy, float *dx, size_t n)
{
    CUDA_FOR(i, n) maxpool_backward_at(i, &g, arg, dy, dx);
}

static __global__ void avgpool_forward_kernel(geom g, const float *x, float *y, size_t n)
{
    CUDA_FOR(i, n) avgpool_forward_at(i, &g, x, y);
}

static __global__ void avgpool_backward_kernel(geom g, const float *dy, float *dx, size_t n)
{
    CUDA_FOR(i, n) avgpool_backward_at(i, &g, dy, dx);
}

static __global__ void avgpool_rel_window_kernel(geom g, const float *x, const float *R, float *f, float *even,
                                                 size_t n)
{
    CUDA_FOR(o, n) avgpool_rel_window_at(o, &g, x, R, f, even);
}

static __global__ void avgpool_rel_cell_kernel(geom g, const float *x, const float *f, const float *even, float *Rin,
                                               size_t n)
{
    CUDA_FOR(i, n) avgpool_rel_cell_at(i, &g, x, f, even, Rin);
}

static size_t outs(const geom *g) { return (size_t)g->NC * g->OH * g->OW; }
static size_t ins(const geom *g) { return (size_t)g->NC * g->H * g->W; }

extern "C" cudaError_t cuda_maxpool_forward_launch(cudaStream_t s, const cuda_pool_geom *g, const float *x,
                                                   float *y, float *arg)
{
    size_t n = outs(g);
    if (n == 0) return cudaSuccess;
    maxpool_forward_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(*g, x, y, arg, n);
    CUDA_LAUNCHED();
}

extern "C" cudaError_t cuda_maxpool_backward_launch(cudaStream_t s, const cuda_pool_geom *g, const float *arg,
                                                    const float *dy, float *dx)
{
    size_t n = ins(g);
    if (n == 0) return cudaSuccess;
    maxpool_backward_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(*g, arg, dy, dx, n);
    CUDA_LAUNCHED();
}

extern "C" cudaError_t cuda_avgpool_forward_launch(cudaStream_t s, const cuda_pool_geom *g, const float *x,
                                                   float *y)
{
    size_t n = outs(g);
    if (n == 0) return cudaSuccess;
    avgpool_forward_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(*g, x, y, n);
    CUDA_LAUNCHED();
}

extern "C" cudaError_t cuda_avgpool_backward_launch(cudaStream_t s, const cuda_pool_geom *g, const float *dy,
                                                    float *dx)
{
    size_t n = ins(g);
    if (n == 0) return cudaSuccess;
    avgpool_backward_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(*g, dy, dx, n);
    CUDA_LAUNCHED();
}

extern "C" cudaError_t cuda_avgpool_relevance_launch(cudaStream_t s, const cuda_pool_geom *g, const float *x,
                                                     const float *R, float *f, float *even, float *Rin)
{
    size_t no = outs(g), ni = ins(g);
    if (no == 0 || ni == 0) return cudaSuccess;
    avgpool_rel_window_kernel<<<cuda_blocks(no), CUDA_THREADS, 0, s>>>(*g, x, R, f, even, no);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    avgpool_rel_cell_kernel<<<cuda_blocks(ni), CUDA_THREADS, 0, s>>>(*g, x, f, even, Rin, ni);
    CUDA_LAUNCHED();
}
