/* add-body.h - per-element bodies of add.cu (body.h): the add op
 * (backend/cpu/join.c) built pairwise, y = a + b then y += x; every
 * backward and LRP's pass-through rule are y += x too.  add_relevance_at is
 * LRP's rule for add (explain/lrp.h): R_k = x_k / sum_k x_k * R, split
 * evenly when |sum| < 1e-12, the sum in double as on the CPU. */
#ifndef TS_ADD_BODY_H
#define TS_ADD_BODY_H

#include "body.h"

#define TS_ADD_MAX_INPUTS 8 /* TS_MAX_INPUTS of graph.h */

/* The inputs of one add node, by value (kernel argument). */
typedef struct add_inputs {
    int n;
    const float *x[TS_ADD_MAX_INPUTS]; /* forward outputs of the inputs */
    float *r[TS_ADD_MAX_INPUTS];       /* their relevance, or NULL */
} add_inputs;

TS_BODY void add_forward_at(size_t i, const float *a, const float *b, float *y) { y[i] = a[i] + b[i]; }

TS_BODY void add_inplace_at(size_t i, const float *x, float *y) { y[i] += x[i]; }

TS_BODY void add_relevance_at(size_t q, const add_inputs *in, const float *R)
{
    double s = 0;
    for (int k = 0; k < in->n; k++) s += in->x[k][q];
    for (int k = 0; k < in->n; k++) {
        if (!in->r[k]) continue;
        if (fabs(s) < 1e-12) in->r[k][q] += R[q] / (float)in->n;
        else in->r[k][q] += (float)(in->x[k][q] / s) * R[q];
    }
}

#endif
