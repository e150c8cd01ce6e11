/* amap-device.h - A(x,y) on the device of a backend when it has one
 * (issue 5), the CPU otherwise.
 *
 * Same contract and byte-identical output as ts_amap_compute (amap.h: the
 * nearest-landmark index map of LACNN Fig. 3, float squared distances
 * without FMA, ties to the lowest index).  With a backend that has an
 * `amap` entry (the CUDA backend: kernels/amap.cu) the map is made there;
 * with any other backend, or when the device fails (out of memory, a
 * device error) it is ts_amap_compute on the CPU, so the caller always
 * gets the map.  Safe to call from another thread than the one running the
 * backend's graph (backend.h).  The GPU pays for itself on large images (photos, full-HD frames);
 * for 150x150 face crops the CPU's pruned version is as fast as the copies.
 */
#ifndef TS_AMAP_DEVICE_H
#define TS_AMAP_DEVICE_H

#include <stdint.h>

#include "face/image.h"

struct ts_backend;

/* be/ctx: a backend from ts_backend_select (NULL be: the CPU).  out:
 * width*height bytes, row-major (H,W).  TS_ERR_ARG exactly when
 * ts_amap_compute would refuse the arguments. */
ts_status ts_amap_compute_on(const struct ts_backend *be, void *ctx, const ts_points *pts, int width, int height,
                             uint8_t *out);

#endif
