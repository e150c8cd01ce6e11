/* batchnorm-body.h - per-element bodies of batchnorm.cu (body.h); the
 * per-channel sums are the kernels' own block reductions.  The reference
 * is backend/cpu/batchnorm.c.  Channel c of flat NCHW index i is
 * (i / hw) % C.  coef holds per-channel values made by the reductions:
 *   apply       coef[c] = gamma r, coef[C+c] = beta - gamma r mu:
 *               y = coef[c] x + coef[C+c]
 *   input grad  k[c] = gamma r, k[C+c] = mu, k[2C+c] = sum(dy)/M,
 *               k[3C+c] = r sum(dy xh)/M (0 and 0 in evaluation):
 *               dx += k[c] (dy - k[2C+c] - (x - k[C+c]) k[3C+c])
 *   relevance   s[c] = gamma r (running statistics):
 *               R_in += s x / (y + 1e-6 sign(y)) R, sign(0) = +1 */
#ifndef TS_BATCHNORM_BODY_H
#define TS_BATCHNORM_BODY_H

#include "body.h"

TS_BODY void bn_coef_at(int c, int C, const float *gamma, const float *beta, float mu, float r, float *coef)
{
    float a = gamma[c] * r;
    coef[c] = a;
    coef[C + c] = beta[c] - a * mu;
}

TS_BODY void bn_apply_at(size_t i, size_t hw, int C, const float *x, const float *coef, float *y)
{
    int c = (int)((i / hw) % (size_t)C);
    y[i] = coef[c] * x[i] + coef[C + c];
}

TS_BODY void bn_dx_at(size_t i, size_t hw, int C, const float *x, const float *dy, const float *k, float *dx)
{
    int c = (int)((i / hw) % (size_t)C);
    dx[i] += k[c] * (dy[i] - k[2 * C + c] - (x[i] - k[C + c]) * k[3 * C + c]);
}

TS_BODY void bn_relevance_at(size_t i, size_t hw, int C, const float *x, const float *y, const float *R,
                             const float *s, float *Rin)
{
    int c = (int)((i / hw) % (size_t)C);
    float z = y[i] + (y[i] >= 0.0f ? 1e-6f : -1e-6f);
    Rin[i] += s[c] * x[i] / z * R[i];
}

#endif
