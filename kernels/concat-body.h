/* concat-body.h - per-element body of concat.cu (body.h): input i
 * (N, Ci, HW) occupies channels [c0, c0+Ci) of the output (N, Ctot, HW).
 * k runs over the input's elements; plane = Ci*HW, yplane = Ctot*HW,
 * off = c0*HW.  Backward (and LRP's rule for concat) adds the slice of dy
 * into dx: then x is dy (the big tensor) and y is dx (the slice). */
#ifndef TS_CONCAT_BODY_H
#define TS_CONCAT_BODY_H

#include "body.h"

TS_BODY void concat_at(size_t k, const float *x, float *y, size_t plane, size_t yplane, size_t off, int backward)
{
    size_t s = k / plane, r = k % plane, j = s * yplane + off + r;
    if (backward)
        y[k] += x[j];
    else
        y[j] = x[k];
}

#endif
