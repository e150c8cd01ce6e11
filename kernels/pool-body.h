/* pool-body.h - per-element bodies of pool.cu (body.h): max and average
 * pooling with Caffe's rounding (backend/cpu/pool.c is the reference; the
 * graph and op-check.c size OH, OW), and LRP's rules for them
 * (backend/cpu/relevance.c).
 *
 * Window of output (oy, ox): rows [oy*S - pt, oy*S - pt + KH) clipped to
 * the image (likewise columns).  Max keeps the first maximum in row-major
 * order (NaN wins) and its flat index iy*W+ix as float in arg; an empty
 * window gives 0 and index -1.  Average divides by the window clipped to
 * the padded image (H + pb), so padded cells count and ceil overflow does
 * not (Caffe).
 *
 * Backward gathers instead of scattering: one element per INPUT cell sums
 * the outputs whose window covers it (oy*S - pt <= iy < oy*S - pt + KH),
 * so there are no atomics and the result is the same on every run.  Max
 * pooling's LRP rule (everything to the argmax) is its backward with R as
 * dy.  Average pooling's rule, R_i += x_i * R_o / s_o over the windows o
 * covering i (s_o the sum of o's cells inside the image, in double; R_o /
 * count when |s_o| < 1e-12), is two passes: avgpool_rel_window_at per
 * window (f_o, and whether it splits evenly), avgpool_rel_cell_at per cell. */
#ifndef TS_POOL_BODY_H
#define TS_POOL_BODY_H

#include "body.h"

/* The geometry of one pooling op; NC = N*C planes. */
typedef struct cuda_pool_geom {
    int NC, H, W, OH, OW, KH, KW, S, pt, pb, pl, pr;
} cuda_pool_geom;

TS_BODY void maxpool_forward_at(size_t i, const cuda_pool_geom *g, const float *x, float *y, float *arg)
{
    int ox = (int)(i % (size_t)g->OW), oy = (int)(i / (size_t)g->OW % (size_t)g->OH);
    size_t pc = i / ((size_t)g->OW * g->OH);
    const float *xp = x + pc * g->H * g->W;
    int hs = oy * g->S - g->pt, he = hs + g->KH, ws = ox * g->S - g->pl, we = ws + g->KW;
    hs = hs < 0 ? 0 : hs;
    he = he > g->H ? g->H : he;
    ws = ws < 0 ? 0 : ws;
    we = we > g->W ? g->W : we;
    float m = 0.0f;
    int best = -1;
    if (hs < he && ws < we) {
        best = hs * g->W + ws;
        m = xp[best];
        for (int iy = hs; iy < he; iy++)
            for (int ix = ws; ix < we; ix++) {
                float v = xp[iy * g->W + ix];
                if (v > m || (v != v && m == m)) {
                    m = v;
                    best = iy * g->W + ix;
                }
            }
    }
    y[i] = m;
    if (arg) arg[i] = (float)best;
}

/* Outputs whose window covers input row (or column) i: o in [lo, hi]. */
TS_BODY void pool_cover(int i, int pad, int K, int S, int O, int *lo, int *hi)
{
    /* o*S - pad <= i  and  i < o*S - pad + K */
    int a = i + pad - K + 1; /* o*S >= a */
    *lo = a <= 0 ? 0 : (a + S - 1) / S;
    *hi = (i + pad) / S;
    if (*hi > O - 1) *hi = O - 1;
}

TS_BODY void maxpool_backward_at(size_t i, const cuda_pool_geom *g, const float *arg, const float *dy, float *dx)
{
    int ix = (int)(i % (size_t)g->W), iy = (int)(i / (size_t)g->W % (size_t)g->H);
    size_t pc = i / ((size_t)g->W * g->H);
    int y0, y1, x0, x1;
    pool_cover(iy, g->pt, g->KH, g->S, g->OH, &y0, &y1);
    pool_cover(ix, g->pl, g->KW, g->S, g->OW, &x0, &x1);
    float me = (float)(iy * g->W + ix), acc = 0.0f;
    const float *ap = arg + pc * g->OH * g->OW, *dp = dy + pc * g->OH * g->OW;
    for (int oy = y0; oy <= y1; oy++)
        for (int ox = x0; ox <= x1; ox++)
            if (ap[oy * g->OW + ox] == me) acc += dp[oy * g->OW + ox];
    dx[i] += acc;
}

/* Caffe's divisor of window (oy, ox): cells inside the padded image. */
TS_BODY int avgpool_div(const cuda_pool_geom *g, int oy, int ox)
{
    int h0 = oy * g->S - g->pt, h1 = h0 + g->KH, w0 = ox * g->S - g->pl, w1 = w0 + g->KW;
    if (h1 > g->H + g->pb) h1 = g->H + g->pb;
    if (w1 > g->W + g->pr) w1 = g->W + g->pr;
    return (h1 - h0) * (w1 - w0);
}

TS_BODY void avgpool_forward_at(size_t i, const cuda_pool_geom *g, const float *x, float *y)
{
    int ox = (int)(i % (size_t)g->OW), oy = (int)(i / (size_t)g->OW % (size_t)g->OH);
    size_t pc = i / ((size_t)g->OW * g->OH);
    const float *xp = x + pc * g->H * g->W;
    int div = avgpool_div(g, oy, ox);
    int hs = oy * g->S - g->pt, he = hs + g->KH, ws = ox * g->S - g->pl, we = ws + g->KW;
    hs = hs < 0 ? 0 : hs;
    he = he > g->H ? g->H : he;
    ws = ws < 0 ? 0 : ws;
    we = we > g->W ? g->W : we;
    float s = 0.0f;
    for (int iy = hs; iy < he; iy++)
        for (int ix = ws; ix < we; ix++) s += xp[iy * g->W + ix];
    y[i] = div > 0 ? s / (float)div : 0.0f;
}

TS_BODY void avgpool_backward_at(size_t i, const cuda_pool_geom *g, const float *dy, float *dx)
{
    int ix = (int)(i % (size_t)g->W), iy = (int)(i / (size_t)g->W % (size_t)g->H);
    size_t pc = i / ((size_t)g->W * g->H);
    int y0, y1, x0, x1;
    pool_cover(iy, g->pt, g->KH, g->S, g->OH, &y0, &y1);
    pool_cover(ix, g->pl, g->KW, g->S, g->OW, &x0, &x1);
    const float *dp = dy + pc * g->OH * g->OW;
    float acc = 0.0f;
    for (int oy = y0; oy <= y1; oy++)
        for (int ox = x0; ox <= x1; ox++) {
            int div = avgpool_div(g, oy, ox);
            if (div > 0) acc += dp[oy * g->OW + ox] / (float)div;
        }
    dx[i] += acc;
}

/* LRP, pass 1, per output window o: f[o] = R_o / s_o (even[o] = 0), or
 * R_o / cells (even[o] = 1) when |s_o| < 1e-12; windows without a cell in
 * the image get f = 0. */
TS_BODY void avgpool_rel_window_at(size_t o, const cuda_pool_geom *g, const float *x, const float *R, float *f,
                                   float *even)
{
    int ox = (int)(o % (size_t)g->OW), oy = (int)(o / (size_t)g->OW % (size_t)g->OH);
    size_t pc = o / ((size_t)g->OW * g->OH);
    const float *xp = x + pc * g->H * g->W;
    int y0 = oy * g->S - g->pt, x0 = ox * g->S - g->pl;
    int y1 = y0 + g->KH < g->H ? y0 + g->KH : g->H, x1 = x0 + g->KW < g->W ? x0 + g->KW : g->W;
    if (y0 < 0) y0 = 0;
    if (x0 < 0) x0 = 0;
    if (y1 <= y0 || x1 <= x0) {
        f[o] = 0.0f;
        even[o] = 1.0f;
        return;
    }
    double s = 0;
    for (int y = y0; y < y1; y++)
        for (int xx = x0; xx < x1; xx++) s += xp[y * g->W + xx];
    float r = R[o];
    if (fabs(s) < 1e-12) {
        f[o] = r / (float)((y1 - y0) * (x1 - x0));
        even[o] = 1.0f;
    } else {
        f[o] = (float)(r / s);
        even[o] = 0.0f;
    }
}

/* LRP, pass 2, per input cell i: Rin[i] += sum over the windows covering
 * it of (even ? f : f * x[i]). */
TS_BODY void avgpool_rel_cell_at(size_t i, const cuda_pool_geom *g, const float *x, const float *f, const float *even,
                                 float *Rin)
{
    int ix = (int)(i % (size_t)g->W), iy = (int)(i / (size_t)g->W % (size_t)g->H);
    size_t pc = i / ((size_t)g->W * g->H);
    int y0, y1, x0, x1;
    pool_cover(iy, g->pt, g->KH, g->S, g->OH, &y0, &y1);
    pool_cover(ix, g->pl, g->KW, g->S, g->OW, &x0, &x1);
    const float *fp = f + pc * g->OH * g->OW, *ep = even + pc * g->OH * g->OW;
    float acc = 0.0f, xi = x[i];
    for (int oy = y0; oy <= y1; oy++)
        for (int ox = x0; ox <= x1; ox++) {
            int o = oy * g->OW + ox;
            acc += ep[o] != 0.0f ? fp[o] : fp[o] * xi;
        }
    Rin[i] += acc;
}

#endif
