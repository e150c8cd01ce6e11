/* amap-body.h - per-pixel body of amap.cu (body.h): A(x,y), the
 * nearest-landmark index map (face/amap.h, LACNN section 3.1, Fig. 3),
 * byte-identical to ts_amap_reference.  Pixel i = y*W + x evaluates the
 * reference's float expression
 *     dx = (float)x - px[j], dy = (float)y - py[j], d = dx*dx + dy*dy
 * rounding every operation (TS_FSUB/TS_FMUL/TS_FADD: no fused multiply-add,
 * which would round once less than the CPU and break ties differently),
 * scanning j = 0..k-1 with a strict < so ties go to the lowest index.
 * (float)x is exact: sides are at most 16384 < 2^24. */
#ifndef TS_AMAP_BODY_H
#define TS_AMAP_BODY_H

#include "body.h"

TS_BODY uint8_t amap_at(size_t i, const float *px, const float *py, int k, int W)
{
    float fx = (float)(int)(i % (size_t)W), fy = (float)(int)(i / (size_t)W);
    int best_j = 0;
    float best = 0.0f;
    for (int j = 0; j < k; j++) {
        float dx = TS_FSUB(fx, px[j]), dy = TS_FSUB(fy, py[j]);
        float d = TS_FADD(TS_FMUL(dx, dx), TS_FMUL(dy, dy));
        if (j == 0 || d < best) {
            best = d;
            best_j = j;
        }
    }
    return (uint8_t)best_j;
}

#endif
