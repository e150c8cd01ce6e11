/* lrp-body.h - per-element bodies of lrp.cu (body.h): the elementwise
 * parts of LRP's linear-layer step (backend/cpu/lrp.c and explain/lrp.c are
 * the reference; the convolutions and GEMMs around them are cuDNN's and
 * cuBLAS's):
 *   lrp_divide_at    z = r / stab(z) in place: use_eps: z + eps*sign(z),
 *                    sign(0) = +1; otherwise; a zero denominator gives 0
 *   lrp_mul_add_at   rin += coef * x * d
 *   lrp_split_at     pos = max(x,0), neg = min(x,0); returns x < 0
 *   lrp_square_at    out = w*w, or 1 for the flat rule
 *   fill_channels_at out (N,C,HW) = v[c]   (the planes 1, -l and -h) */
#ifndef TS_LRP_BODY_H
#define TS_LRP_BODY_H

#include "body.h"

/* fill_channels' values by value when they fit (no copy, no wait). */
#define LRP_FILL_MAX 16
typedef struct lrp_fill_values {
    float v[LRP_FILL_MAX];
} lrp_fill_values;

TS_BODY void lrp_divide_at(size_t i, float *z, const float *r, int use_eps, float eps)
{
    float d = z[i];
    if (use_eps) d = d + (d >= 0.0f ? eps : -eps);
    z[i] = d != 0.0f ? r[i] / d : 0.0f;
}

TS_BODY void lrp_mul_add_at(size_t i, const float *x, const float *d, float *rin, float coef)
{
    rin[i] += coef * x[i] * d[i];
}

TS_BODY int lrp_split_at(size_t i, const float *x, float *pos, float *neg)
{
    float v = x[i];
    pos[i] = v > 0.0f ? v : 0.0f;
    neg[i] = v < 0.0f ? v : 0.0f;
    return v < 0.0f;
}

TS_BODY void lrp_square_at(size_t i, const float *w, float *out, int flat) { out[i] = flat ? 1.0f : w[i] * w[i]; }

TS_BODY void fill_channels_at(size_t i, float *out, const float *v, int C, size_t HW)
{
    out[i] = v[(i / HW) % (size_t)C];
}

#endif
