/* sample.c - bases and views of face images for training and evaluation;
 * see sample.h for the geometry.
 *
 * A view is one warp of the base (rotation and crop composed into a single
 * affine map, so the image is resampled once), then an in-place mirror.
 */
#include "sample.h"

#include <math.h>
#include <string.h>

#include "../face/align.h"
#include "../face/input.h"
#include "../face/points.h"

ts_view ts_view_identity(void)
{
    return (ts_view){ .angle = 0, .mirror = false, .crop = { 0, 0, 1, 1 } };
}

void ts_view_ten_crops(ts_view views[TS_OVERSAMPLE_CROPS])
{
    const float f = TS_OVERSAMPLE_FRACTION, r = 1.0f - f;
    const float origin[5][2] = { { 0, 0 }, { r, 0 }, { 0, r }, { r, r }, { r / 2, r / 2 } };
    for (int i = 0; i < TS_OVERSAMPLE_CROPS; i++) {
        views[i] = ts_view_identity();
        views[i].crop[0] = origin[i % 5][0];
        views[i].crop[1] = origin[i % 5][1];
        views[i].crop[2] = f;
        views[i].crop[3] = f;
        views[i].mirror = i >= 5;
    }
}

ts_status ts_sample_base(const ts_image *img, const ts_points *pts, ts_alignment align, int S, ts_image *out,
                         ts_points *out_pts)
{
    if (align == TS_ALIGN_NONE) {
        /* input.h's pixel-centre scaling: x' = (x + 0.5) * S / W - 0.5. */
        double sx = (double)S / img->width, sy = (double)S / img->height;
        ts_affine xf = { { sx, 0, 0.5 * sx - 0.5, 0, sy, 0.5 * sy - 0.5 } };
        TS_TRY(ts_image_warp(img, &xf, S, S, TS_BORDER_REPLICATE, out));
        if (out_pts && pts) {
            *out_pts = *pts;
            ts_points_transform(out_pts, &xf);
        } else if (out_pts) {
            out_pts->n = 0;
        }
        return TS_OK;
    }
    float box[4] = { 0, 0, (float)img->width, (float)img->height };
    ts_crop_options o = { .alignment = align, .size = S, .enlarge = 1.0f, .border = TS_BORDER_REPLICATE };
    return ts_face_crop(img, box, pts, &o, out, out_pts, NULL);
}

ts_status ts_sample_make(const ts_model *m, const ts_image *base, const ts_points *pts, const ts_view *v,
                         ts_tensor *out)
{
    const int S = base->width;
    bool moved = v->angle != 0 || v->crop[0] != 0 || v->crop[1] != 0 || v->crop[2] != 1 || v->crop[3] != 1;
    if (!moved && !v->mirror) return ts_model_input_from_image(m, base, pts, out);
    if (!(v->crop[2] > 0 && v->crop[2] <= 1 && v->crop[3] > 0 && v->crop[3] <= 1))
        return ts_error(TS_ERR_ARG, "sample: crop size outside (0,1]");
    ts_image img = { 0 };
    ts_points p = { 0 };
    if (pts) p = *pts;
    if (moved) {
        double half = 0.5 * (S - 1);
        ts_affine rot = ts_affine_rotation(v->angle, half, half);
        double sx = 1.0 / v->crop[2], sy = 1.0 / v->crop[3];
        ts_affine crop = { { sx, 0, (0.5 - v->crop[0] * S) * sx - 0.5, 0, sy, (0.5 - v->crop[1] * S) * sy - 0.5 } };
        ts_affine xf = ts_affine_mul(&crop, &rot);
        TS_TRY(ts_image_warp(base, &xf, S, S, TS_BORDER_ZERO, &img));
        if (pts) ts_points_transform(&p, &xf);
    } else {
        TS_TRY(ts_image_copy(&img, base));
    }
    ts_status st = TS_OK;
    if (v->mirror) {
        /* ts_face_mirror renumbers 68 points; other counts flip the image
         * only (such points are not used by any model). */
        st = ts_face_mirror(&img, (pts && p.n == TS_LANDMARKS) ? &p : NULL);
    }
    if (st == TS_OK) st = ts_model_input_from_image(m, &img, pts ? &p : NULL, out);
    ts_image_clear(&img);
    return st;
}
