/* pool.cu - max and average pooling on the GPU with Caffe's rounding
 * (backend/cpu/pool.c is the reference; the graph sizes OH, OW).
 *
 * Window of output (oy, ox): rows [oy*S - pt, oy*S - pt + KH) clipped to the
 * image (likewise columns).  Max keeps the first maximum in row-major order
 * (NaN wins) and its flat index iy*W+ix as float in arg; an empty window
 * gives 0 and index -1.  Average divides by the window clipped to the padded
 * image (H + pb), so padded cells count and ceil overflow does not (Caffe).
 *
 * Backward gathers instead of scattering: one thread per INPUT cell sums
 * the outputs whose window covers it (oy*S - pt <= iy < oy*S - pt + KH),
 * so there are no atomics and the result is deterministic. */
#include "common.cuh"

typedef cuda_pool_geom geom;

static __global__ void maxpool_forward_kernel(geom g, const float *x, float *y, float *arg)
{
    size_t n = (size_t)g.NC * g.OH * g.OW;
    CUDA_FOR(i, n) {
        int ox = (int)(i % g.OW), oy = (int)(i / g.OW % g.OH);
        size_t pc = i / ((size_t)g.OW * g.OH);
        const float *xp = x + pc * g.H * g.W;
        int hs = oy * g.S - g.pt, he = hs + g.KH, ws = ox * g.S - g.pl, we = ws + g.KW;
        hs = hs < 0 ? 0 : hs;
        he = he > g.H ? g.H : he;
        ws = ws < 0 ? 0 : ws;
        we = we > g.W ? g.W : we;
        float m = 0.0f;
        int best = -1;
        if (hs < he && ws < we) {
            best = hs * g.W + ws;
            m = xp[best];
            for (int iy = hs; iy < he; iy++)
                for (int ix = ws; ix < we; ix++) {
                    float v = xp[iy * g.W + ix];
                    if (v > m || (v != v && m == m)) {
                        m = v;
                        best = iy * g.W + ix;
                    }
                }
        }
        y[i] = m;
        if (arg) arg[i] = (float)best;
    }
}

/* Outputs whose window covers input row iy: oy in [lo, hi]. */
static __device__ void cover(int i, int pad, int K, int S, int O, int *lo, int *hi)
{
    /* oy*S - pad <= i  and  i < oy*S - pad + K */
    int a = i + pad - K + 1; /* oy*S >= a */
    *lo = a <= 0 ? 0 : (a + S - 1) / S;
    *hi = (i + pad) / S;
    if (*hi > O - 1) *hi = O - 1;
}

static __global__ void maxpool_backward_kernel(geom g, const float *arg, const float *dy, float *dx)
{
    size_t n = (size_t)g.NC * g.H * g.W;
    CUDA_FOR(i, n) {
        int ix = (int)(i % g.W), iy = (int)(i / g.W % g.H);
        size_t pc = i / ((size_t)g.W * g.H);
        int y0, y1, x0, x1;
        cover(iy, g.pt, g.KH, g.S, g.OH, &y0, &y1);
        cover(ix, g.pl, g.KW, g.S, g.OW, &x0, &x1);
        float me = (float)(iy * g.W + ix), acc = 0.0f;
        const float *ap = arg + pc * g.OH * g.OW, *dp = dy + pc * g.OH * g.OW;
        for (int oy = y0; oy <= y1; oy++)
            for (int ox = x0; ox <= x1; ox++)
                if (ap[oy * g.OW + ox] == me) acc += dp[oy * g.OW + ox];
        dx[i] += acc;
    }
}

static __device__ int avg_div(const geom &g, int oy, int ox)
{
    int h0 = oy * g.S - g.pt, h1 = h0 + g.KH, w0 = ox * g.S - g.pl, w1 = w0 + g.KW;
    if (h1 > g.H + g.pb) h1 = g.H + g.pb;
    if (w1 > g.W + g.pr) w1 = g.W + g.pr;
    return (h1 - h0) * (w1 - w0);
}

static __global__ void avgpool_forward_kernel(geom g, const float *x, float *y)
{
    size_t n = (size_t)g.NC * g.OH * g.OW;
    CUDA_FOR(i, n) {
        int ox = (int)(i % g.OW), oy = (int)(i / g.OW % g.OH);
        size_t pc = i / ((size_t)g.OW * g.OH);
        const float *xp = x + pc * g.H * g.W;
        int div = avg_div(g, oy, ox);
        int hs = oy * g.S - g.pt, he = hs + g.KH, ws = ox * g.S - g.pl, we = ws + g.KW;
        hs = hs < 0 ? 0 : hs;
        he = he > g.H ? g.H : he;
        ws = ws < 0 ? 0 : ws;
        we = we > g.W ? g.W : we;
        float s = 0.0f;
        for (int iy = hs; iy < he; iy++)
            for (int ix = ws; ix < we; ix++) s += xp[iy * g.W + ix];
        y[i] = div > 0 ? s / (float)div : 0.0f;
    }
}

static __global__ void avgpool_backward_kernel(geom g, const float *dy, float *dx)
{
    size_t n = (size_t)g.NC * g.H * g.W;
    CUDA_FOR(i, n) {
        int ix = (int)(i % g.W), iy = (int)(i / g.W % g.H);
        size_t pc = i / ((size_t)g.W * g.H);
        int y0, y1, x0, x1;
        cover(iy, g.pt, g.KH, g.S, g.OH, &y0, &y1);
        cover(ix, g.pl, g.KW, g.S, g.OW, &x0, &x1);
        const float *dp = dy + pc * g.OH * g.OW;
        float acc = 0.0f;
        for (int oy = y0; oy <= y1; oy++)
            for (int ox = x0; ox <= x1; ox++) {
                int div = avg_div(g, oy, ox);
                if (div > 0) acc += dp[oy * g.OW + ox] / (float)div;
            }
        dx[i] += acc;
    }
}

extern "C" cudaError_t cuda_maxpool_forward_launch(cudaStream_t s, const cuda_pool_geom *g, const float *x,
                                                   float *y, float *arg)
{
    size_t n = (size_t)g->NC * g->OH * g->OW;
    if (n == 0) return cudaSuccess;
    maxpool_forward_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(*g, x, y, arg);
    CUDA_LAUNCHED();
}

extern "C" cudaError_t cuda_maxpool_backward_launch(cudaStream_t s, const cuda_pool_geom *g, const float *arg,
                                                    const float *dy, float *dx)
{
    size_t n = (size_t)g->NC * g->H * g->W;
    if (n == 0) return cudaSuccess;
    maxpool_backward_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(*g, arg, dy, dx);
    CUDA_LAUNCHED();
}

extern "C" cudaError_t cuda_avgpool_forward_launch(cudaStream_t s, const cuda_pool_geom *g, const float *x,
                                                   float *y)
{
    size_t n = (size_t)g->NC * g->OH * g->OW;
    if (n == 0) return cudaSuccess;
    avgpool_forward_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(*g, x, y);
    CUDA_LAUNCHED();
}

extern "C" cudaError_t cuda_avgpool_backward_launch(cudaStream_t s, const cuda_pool_geom *g, const float *dy,
                                                    float *dx)
{
    size_t n = (size_t)g->NC * g->H * g->W;
    if (n == 0) return cudaSuccess;
    avgpool_backward_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(*g, dy, dx);
    CUDA_LAUNCHED();
}
