/* dropout-body.h - per-element bodies of dropout.cu (body.h): inverted
 * dropout with the counter-based mask of dropout-mask.h, bit-identical to
 * the CPU (backend/cpu/dropout.c): mask[i] = keep(seed,i,p) ? scale : 0,
 * y = x * mask; backward dx += dy * mask. */
#ifndef TS_DROPOUT_BODY_H
#define TS_DROPOUT_BODY_H

#include "body.h"

#include "backend/dropout-mask.h"

TS_BODY void dropout_forward_at(size_t i, const float *x, float *y, float *mask, uint64_t seed, float p, float scale)
{
    float m = ts_dropout_keep(seed, (uint64_t)i, p) ? scale : 0.0f;
    mask[i] = m;
    y[i] = x[i] * m;
}

TS_BODY void dropout_backward_at(size_t i, const float *dy, const float *mask, float *dx) { dx[i] += dy[i] * mask[i]; }

#endif
