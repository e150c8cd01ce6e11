/* lrn-body.h - per-element bodies of lrn.cu (body.h): Caffe's
 * cross-channel LRN (backend/cpu/lrn.c is the reference, with the formulas):
 *   scale[c] = k + alpha/size * sum_{c'=c-pre}^{c+post} x[c']^2,  y = x * scale^-beta
 *   dx[c] += dy[c] scale[c]^-beta
 *            - 2 alpha beta/size * x[c] * sum_{c'=c-post}^{c+pre} dy[c'] x[c'] scale[c']^(-beta-1)
 * pre = (size-1)/2, post = size-1-pre, channels outside [0,C) count as 0.
 * Each element sums its window directly (no running sum that could drift).
 * coef is alpha/size forward and 2*alpha*beta/size backward. */
#ifndef TS_LRN_BODY_H
#define TS_LRN_BODY_H

#include "body.h"

TS_BODY void lrn_forward_at(size_t i, const float *x, float *y, float *scale, int C, size_t HW, int pre, int post,
                            float coef, float beta, float k)
{
    size_t p = i % HW, nc = i / HW;
    int c = (int)(nc % (size_t)C);
    const float *xs = x + (nc - (size_t)c) * HW + p; /* channel 0 of this sample and pixel */
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

TS_BODY void lrn_backward_at(size_t i, const float *x, const float *dy, const float *scale, float *dx, int C,
                             size_t HW, int pre, int post, float coef, float beta)
{
    size_t p = i % HW, nc = i / HW;
    int c = (int)(nc % (size_t)C);
    size_t base = (nc - (size_t)c) * HW + p;
    int c0 = c - post < 0 ? 0 : c - post, c1 = c + pre >= C ? C - 1 : c + pre;
    float acc = 0.0f;
    for (int cc = c0; cc <= c1; cc++) {
        size_t j = base + (size_t)cc * HW;
        float s = scale[j];
        acc += dy[j] * x[j] * powf(s, -beta) / s;
    }
    dx[i] += dy[i] * powf(scale[i], -beta) - coef * x[i] * acc;
}

#endif
