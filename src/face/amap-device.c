/* amap-device.c - A(x,y) on a backend's device, falling back to the CPU
 * (amap-device.h).  The arguments are checked here with amap.c's rules
 * before anything runs, so both paths refuse the same inputs; after that a
 * device failure is not the caller's problem: the CPU makes the same bytes. */
#include "face/amap-device.h"

#include <math.h>

#include "backend/backend.h"
#include "face/amap.h"
#include "face/points.h"

ts_status ts_amap_compute_on(const struct ts_backend *be, void *ctx, const ts_points *pts, int width, int height,
                             uint8_t *out)
{
    TS_ASSERT(pts && out);
    if (be && be->amap) {
        /* amap.c's argument rules (its check_args), so that an input the
         * CPU refuses is refused here too, with TS_ERR_ARG. */
        int ok = pts->n >= 1 && pts->n <= TS_POINTS_MAX && width >= 1 && height >= 1 &&
                 width <= TS_IMAGE_MAX_SIDE && height <= TS_IMAGE_MAX_SIDE;
        for (int j = 0; ok && j < pts->n; j++)
            ok = isfinite(pts->x[j]) && isfinite(pts->y[j]) && fabsf(pts->x[j]) <= TS_POINTS_MAX_COORD &&
                 fabsf(pts->y[j]) <= TS_POINTS_MAX_COORD;
        if (ok && be->amap(ctx, pts->x, pts->y, pts->n, width, height, out) == TS_OK) return TS_OK;
        /* bad arguments: ts_amap_compute below reports them in its words;
         * a device failure: it makes the map instead */
    }
    return ts_amap_compute(pts, width, height, out);
}
