/* depthwise-body.h - per-element bodies of depthwise.cu (body.h): the
 * depthwise convolution computed directly (backend/cpu/depthwise.c is the
 * reference).  A conv2d whose every group holds one input channel:
 * groups == C > 1, weight (O,1,KH,KW), O = M*C, output channel o reads
 * input channel o / M.  x (N,C,H,W), y and dy (N,O,OH,OW).  Padding is zero
 * and may be asymmetric: only the top/left pads enter the index arithmetic,
 * the output size says where the bottom/right ones end.
 *   depthwise_forward_at         y[i] = b[o] + the taps, row by row (b may
 *                                be NULL), one output element each
 *   depthwise_backward_data_at   dx[i] += the outputs input element i fed,
 *                                gathered (no atomics)
 *   depthwise_filter_partial_at  part[k*S + s] = sum over the elements
 *                                t = s, s+S, ... of weight k's N*OH*OW
 *                                products dy * x (k = o*KH*KW + tap)
 *   depthwise_filter_finish_at   dw[k] += part[k*S] + ... in order
 * The weight gradient is two passes of plain threads like conv2d-body.h's
 * bias gradient (S = bias_parts(N*OH*OW)), the same on every run.  Sums
 * are in float, taps in row order, as on the CPU. */
#ifndef TS_DEPTHWISE_BODY_H
#define TS_DEPTHWISE_BODY_H

#include "body.h"

typedef struct cuda_dw_geom {
    int N, C, H, W, M, OH, OW, KH, KW, S, pt, pl;
} cuda_dw_geom;

TS_BODY void depthwise_forward_at(size_t i, const cuda_dw_geom *g, const float *x, const float *w, const float *b,
                                  float *y)
{
    int ox = (int)(i % (size_t)g->OW), oy = (int)(i / (size_t)g->OW % (size_t)g->OH);
    size_t no = i / ((size_t)g->OW * g->OH), O = (size_t)g->C * g->M;
    int o = (int)(no % O), c = o / g->M;
    size_t n = no / O;
    const float *xp = x + (n * g->C + c) * (size_t)g->H * g->W;
    const float *wp = w + (size_t)o * g->KH * g->KW;
    float acc = b ? b[o] : 0.0f;
    for (int ky = 0; ky < g->KH; ky++) {
        int iy = oy * g->S - g->pt + ky;
        if (iy < 0 || iy >= g->H) continue;
        for (int kx = 0; kx < g->KW; kx++) {
            int ix = ox * g->S - g->pl + kx;
            if (ix >= 0 && ix < g->W) acc += wp[ky * g->KW + kx] * xp[(size_t)iy * g->W + ix];
        }
    }
    y[i] = acc;
}

TS_BODY void depthwise_backward_data_at(size_t i, const cuda_dw_geom *g, const float *w, const float *dy, float *dx)
{
    int ix = (int)(i % (size_t)g->W), iy = (int)(i / (size_t)g->W % (size_t)g->H);
    size_t nc = i / ((size_t)g->W * g->H);
    int c = (int)(nc % (size_t)g->C);
    size_t n = nc / (size_t)g->C;
    float acc = 0.0f;
    for (int m = 0; m < g->M; m++) {
        int o = c * g->M + m;
        const float *dyp = dy + (n * g->C * g->M + o) * (size_t)g->OH * g->OW;
        const float *wp = w + (size_t)o * g->KH * g->KW;
        for (int ky = 0; ky < g->KH; ky++) {
            int ty = iy + g->pt - ky; /* = oy * S */
            if (ty < 0 || ty % g->S) continue;
            int oy = ty / g->S;
            if (oy >= g->OH) continue;
            for (int kx = 0; kx < g->KW; kx++) {
                int tx = ix + g->pl - kx;
                if (tx < 0 || tx % g->S) continue;
                int ox = tx / g->S;
                if (ox < g->OW) acc += wp[ky * g->KW + kx] * dyp[(size_t)oy * g->OW + ox];
            }
        }
    }
    dx[i] += acc;
}

TS_BODY void depthwise_filter_partial_at(size_t t, const cuda_dw_geom *g, const float *x, const float *dy, float *part,
                                         int S)
{
    const int taps = g->KH * g->KW;
    size_t k = t / (size_t)S, s = t % (size_t)S;
    int o = (int)(k / (size_t)taps), tap = (int)(k % (size_t)taps), ky = tap / g->KW, kx = tap % g->KW;
    int c = o / g->M;
    size_t O = (size_t)g->C * g->M, plane = (size_t)g->OH * g->OW, total = (size_t)g->N * plane;
    float acc = 0.0f;
    for (size_t e = s; e < total; e += (size_t)S) {
        size_t n = e / plane, p = e % plane;
        int oy = (int)(p / (size_t)g->OW), ox = (int)(p % (size_t)g->OW);
        int iy = oy * g->S - g->pt + ky, ix = ox * g->S - g->pl + kx;
        if (iy < 0 || iy >= g->H || ix < 0 || ix >= g->W) continue;
        acc += dy[(n * O + o) * plane + p] * x[((n * g->C + c) * g->H + iy) * (size_t)g->W + ix];
    }
    part[t] = acc;
}

TS_BODY void depthwise_filter_finish_at(size_t k, const float *part, float *dw, int S)
{
    float acc = 0.0f;
    for (int s = 0; s < S; s++) acc += part[k * (size_t)S + s];
    dw[k] += acc;
}

#endif
