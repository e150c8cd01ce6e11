/* sgd-body.h - per-element body of sgd.cu (body.h): momentum SGD with
 * weight decay in train/sgd.h's form (the CPU backend's sgd):
 *   v = momentum * v - lr * (g + decay * w);   w += v */
#ifndef TS_SGD_BODY_H
#define TS_SGD_BODY_H

#include "body.h"

TS_BODY void sgd_at(size_t i, float *w, const float *g, float *v, float lr, float momentum, float decay)
{
    float vi = momentum * v[i] - lr * (g[i] + decay * w[i]);
    v[i] = vi;
    w[i] += vi;
}

#endif
