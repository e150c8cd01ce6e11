/* sample.c - bases and views of face images for training and evaluation;
 * see sample.h for the geometry.
 *
 * A view is one warp of the base (rotation and crop composed into a single
 * affine map, so the image is resampled once), then an in-place mirror.
 */
#include "train/sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "face/align.h"
#include "face/input.h"
#include "face/points.h"

ts_view ts_view_identity(void)
{
    return (ts_view){ .angle = 0, .mirror = false, .crop = { 0, 0, 1, 1 }, .brightness = 0, .contrast = 1,
                      .keep = { 0, 0, 1, 1 }, .saturation = 1, .blur = 0 };
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

int ts_sample_margin(ts_alignment align, int S)
{
    return align == TS_ALIGN_SIMILARITY ? (S + 4) / 8 : 0;
}

ts_status ts_sample_base(const ts_image *img, const ts_points *pts, ts_alignment align, int S, ts_image *out,
                         ts_points *out_pts)
{
    return ts_face_to_frame(img, pts, align, S, ts_sample_margin(align, S), out, out_pts);
}

static bool is_identity(const ts_view *v)
{
    return v->angle == 0 && v->crop[0] == 0 && v->crop[1] == 0 && v->crop[2] == 1 && v->crop[3] == 1;
}

/* One pass of a box blur of radius r (fractional: the two nearest integer
 * radii mixed) along n_lines lines of len pixels: rows (line_step = the
 * stride, px_step = 3) or columns (3, the stride). */
static void box_pass(uint8_t *data, int n_lines, int len, size_t line_step, size_t px_step, float r, float *tmp)
{
    int r0 = (int)r;
    float f = r - (float)r0;
    for (int l = 0; l < n_lines; l++) {
        uint8_t *line = data + (size_t)l * line_step;
        for (int c = 0; c < 3; c++) {
            for (int i = 0; i < len; i++) tmp[i] = line[(size_t)i * px_step + c];
            for (int i = 0; i < len; i++) {
                float a = 0, b = 0;
                for (int k = -r0 - 1; k <= r0 + 1; k++) {
                    int j = i + k < 0 ? 0 : i + k >= len ? len - 1 : i + k; /* edge pixels repeat */
                    if (k >= -r0 && k <= r0) a += tmp[j];
                    b += tmp[j];
                }
                float m = (1 - f) * a / (2 * r0 + 1) + f * b / (2 * r0 + 3);
                line[(size_t)i * px_step + c] = (uint8_t)lrintf(m);
            }
        }
    }
}

/* Box blur of radius r, twice per axis (close to a Gaussian of sigma ~ r). */
static ts_status blur_image(ts_image *img, float r)
{
    int W = img->width, H = img->height;
    float *tmp = malloc((size_t)(W > H ? W : H) * sizeof *tmp);
    if (!tmp) return ts_error(TS_ERR_OOM, "sample: out of memory");
    for (int pass = 0; pass < 2; pass++) {
        box_pass(img->data, H, W, img->stride, 3, r, tmp);
        box_pass(img->data, W, H, 3, img->stride, r, tmp);
    }
    free(tmp);
    return TS_OK;
}

/* Photometric jitter and the kept box, on the view's pixels. */
static void jitter(ts_image *img, const ts_view *v)
{
    bool sat = v->saturation != 1;
    bool photo = v->brightness != 0 || v->contrast != 1 || sat;
    bool keep = v->keep[0] > 0 || v->keep[1] > 0 || v->keep[2] < 1 || v->keep[3] < 1;
    if (!photo && !keep) return;
    int W = img->width, H = img->height;
    int x0 = (int)lroundf(v->keep[0] * W), y0 = (int)lroundf(v->keep[1] * H);
    int x1 = (int)lroundf(v->keep[2] * W), y1 = (int)lroundf(v->keep[3] * H);
    for (int y = 0; y < H; y++) {
        uint8_t *row = img->data + (size_t)y * img->stride;
        for (int x = 0; x < W; x++) {
            uint8_t *px = row + 3 * x;
            if (keep && (x < x0 || x >= x1 || y < y0 || y >= y1)) {
                px[0] = px[1] = px[2] = 0;
                continue;
            }
            if (!photo) continue;
            if (sat) {
                float g = 0.299f * px[0] + 0.587f * px[1] + 0.114f * px[2];
                for (int c = 0; c < 3; c++) {
                    float t = g + v->saturation * ((float)px[c] - g);
                    px[c] = (uint8_t)(t <= 0 ? 0 : t >= 255 ? 255 : lrintf(t));
                }
            }
            for (int c = 0; c < 3; c++) {
                float t = ((float)px[c] - 127.5f) * v->contrast + 127.5f + v->brightness;
                px[c] = (uint8_t)(t <= 0 ? 0 : t >= 255 ? 255 : lrintf(t));
            }
        }
    }
}

ts_status ts_sample_make(const ts_model *m, const ts_image *base, const ts_points *pts, const ts_view *v,
                         ts_tensor *out)
{
    const int S = m->meta.in_size, Sb = base->width;
    if (base->height != Sb || Sb < S || (Sb - S) % 2 != 0)
        return ts_error(TS_ERR_ARG, "sample: a %dx%d base does not fit a model of input side %d", base->width,
                        base->height, S);
    if (!(v->crop[2] > 0 && v->crop[2] <= 2 && v->crop[3] > 0 && v->crop[3] <= 2))
        return ts_error(TS_ERR_ARG, "sample: crop size outside (0,2]");
    const double off = 0.5 * (Sb - S);
    bool photo = v->brightness != 0 || v->contrast != 1 || v->keep[0] > 0 || v->keep[1] > 0 || v->keep[2] < 1 ||
                 v->keep[3] < 1 || v->saturation != 1 || v->blur > 0;
    if (Sb == S && is_identity(v) && !v->mirror && !photo) return ts_model_input_from_frame(m, base, pts, out);
    ts_image img = { 0 };
    ts_points p = { 0 };
    if (pts) p = *pts;
    if (Sb != S || !is_identity(v)) {
        /* Rotate about the frame's centre, then map the crop window
         * (base pixels X0.. X0 + w*S) onto S pixels. */
        double half = 0.5 * (Sb - 1);
        ts_affine rot = ts_affine_rotation(v->angle, half, half);
        double kx = 1.0 / v->crop[2], ky = 1.0 / v->crop[3];
        double X0 = off + v->crop[0] * S, Y0 = off + v->crop[1] * S;
        ts_affine crop = { { kx, 0, (0.5 - X0) * kx - 0.5, 0, ky, (0.5 - Y0) * ky - 0.5 } };
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
    if (st == TS_OK && v->blur > 0) st = blur_image(&img, v->blur);
    jitter(&img, v);
    if (st == TS_OK) st = ts_model_input_from_frame(m, &img, pts ? &p : NULL, out);
    ts_image_clear(&img);
    return st;
}
