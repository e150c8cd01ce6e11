/* conv2d-body.h - per-element bodies of conv2d.cu (body.h): what cuDNN's
 * convolution needs around it (backend/cpu/conv2d.c is the reference):
 *   bias_forward_at    y (N,C,HW) += b[c]                (conv2d and fc)
 *   bias_partial_at    part[c*S + s] = sum of dy (N,C,HW) over channel c's
 *                      elements k = s, s+S, s+2S, ... of its N*HW
 *   bias_finish_at     db[c] += part[c*S] + ... + part[c*S + S-1], in order
 *   pad_at             xp (NC, H+pt+pb, W+pl+pr) = x zero-padded
 *   unpad_add_at       dx (NC,H,W) += the interior of dxp
 * The bias gradient is two passes of plain threads (issue 14, finding 11:
 * one block per channel left most of a big GPU idle): S threads per
 * channel, adjacent threads reading adjacent elements, then one thread per
 * channel adding its S partial sums in a fixed order, so the result is the
 * same on every run (no atomics) and the host can reproduce it. */
#ifndef TS_CONV2D_BODY_H
#define TS_CONV2D_BODY_H

#include "body.h"

TS_BODY void bias_forward_at(size_t i, float *y, const float *b, int C, size_t HW) { y[i] += b[(i / HW) % C]; }

/* Threads per channel for N*HW elements: enough to fill the GPU, a few
 * dozen elements each, at most 1024. */
TS_BODY int bias_parts(size_t per_channel)
{
    size_t s = per_channel / 32;
    return s < 1 ? 1 : s > 1024 ? 1024 : (int)s;
}

TS_BODY void bias_partial_at(size_t t, const float *dy, float *part, int N, int C, size_t HW, int S)
{
    size_t c = t / (size_t)S, s = t % (size_t)S, total = (size_t)N * HW;
    float acc = 0.0f;
    for (size_t k = s; k < total; k += (size_t)S) {
        size_t n = k / HW, p = k % HW;
        acc += dy[(n * C + c) * HW + p];
    }
    part[t] = acc;
}

TS_BODY void bias_finish_at(size_t c, const float *part, float *db, int S)
{
    float acc = 0.0f;
    for (int s = 0; s < S; s++) acc += part[c * (size_t)S + s];
    db[c] += acc;
}

TS_BODY void pad_at(size_t i, const float *x, float *xp, int H, int W, int pt, int pl, int HP, int WP)
{
    int xx = (int)(i % (size_t)WP) - pl, yy = (int)(i / (size_t)WP % (size_t)HP) - pt;
    size_t pc = i / ((size_t)WP * HP);
    xp[i] = (yy >= 0 && yy < H && xx >= 0 && xx < W) ? x[(pc * H + yy) * W + xx] : 0.0f;
}

TS_BODY void unpad_add_at(size_t i, const float *dxp, float *dx, int H, int W, int pt, int pl, int HP, int WP)
{
    int xx = (int)(i % (size_t)W), yy = (int)(i / (size_t)W % (size_t)H);
    size_t pc = i / ((size_t)W * H);
    dx[i] += dxp[(pc * HP + yy + pt) * WP + xx + pl];
}

#endif
