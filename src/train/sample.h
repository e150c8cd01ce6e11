/* sample.h - one face image (+ its landmarks) to one network input, with
 * the geometry of training and evaluation: alignment, the LACNN paper's
 * rotation augmentation, mirroring and the ten-crop oversampling.
 *
 * Two stages, both built on face/align.h (one affine map per warp, applied
 * to image and landmarks alike) and ending in face/input.h's
 * ts_model_input_from_image, the one place where an image becomes a
 * model's input (ARCHITECTURE.md):
 *
 *  1. the base: the face in the model's frame (input.h's ts_face_to_frame:
 *     the whole image scaled for alignment "none"; align.h's crop for the
 *     others), at the model's pixel scale, with `extra` pixels of margin on
 *     every side for the canonical frame ("similarity"), so that views can
 *     move and zoom out without running out of picture.  Bases are made
 *     once per image (ts_sample_base).
 *  2. the view of a base: rotation by `angle` degrees about the frame's
 *     centre (positive = counter-clockwise on screen; black corners as in
 *     the paper's Fig. 2), then the crop window (x, y, w, h as fractions of
 *     the frame, which is the centred in_size square of the base; w, h may
 *     exceed 1 to zoom out), scaled to in_size x in_size, then an optional
 *     mirror with the 68-point renumbering (align.h's ts_face_mirror), so
 *     A(x,y) of a mirrored face is what the localizer would give on the
 *     mirrored picture; then photometric jitter (contrast about mid-grey,
 *     brightness) and `keep`: pixels outside that box (fractions of the
 *     view) turn black, as a tight crop of a face (UTKFace's chips) leaves
 *     part of the canonical frame empty.  A(x,y) is recomputed from the
 *     moved landmarks (input.h) and is not touched by `keep`: the
 *     landmarks of a tight crop still say where the face is.
 */
#ifndef TS_SAMPLE_H
#define TS_SAMPLE_H

#include <stdbool.h>
#include <stdint.h>

#include "face/image.h"
#include "nn/model.h"

typedef struct ts_view {
    float angle;      /* degrees */
    bool mirror;
    float crop[4];    /* x, y, w, h as fractions of the frame; w, h in (0,2] */
    float brightness; /* added to every RGB value, in units of 255; 0 */
    float contrast;   /* factor about 127.5; 1 */
    float keep[4];    /* x0, y0, x1, y1 fractions of the view; {0,0,1,1} keeps all */
    float saturation; /* 1 keeps the colours, 0 grey, > 1 more vivid */
    float blur;       /* radius in pixels of the view of a box blur, twice (~ Gaussian); 0 none */
} ts_view;

/* No rotation, no crop, no mirror, no jitter. */
ts_view ts_view_identity(void);

/* The ten crops of Levi & Hassner / Lapuschkin et al.: the four corners and
 * the centre of a window 227/256 of the base, and the same five mirrored. */
#define TS_OVERSAMPLE_CROPS 10
#define TS_OVERSAMPLE_FRACTION (227.0f / 256.0f)
void ts_view_ten_crops(ts_view views[TS_OVERSAMPLE_CROPS]);

/* The margin ts_sample_base keeps for an alignment at input side S:
 * 12.5% of S on every side for "similarity", none for the others. */
int ts_sample_margin(ts_alignment align, int S);

/* The base of `img` for a model of input side S: (S + 2 * margin)^2 with
 * margin = ts_sample_margin(align, S).  pts: 68 landmarks in image
 * coordinates (needed by every alignment but "none", where NULL is fine).
 * out_pts (may be NULL) receives the landmarks in base coordinates.
 * transfer: full (out, ts_image_clear). */
ts_status ts_sample_base(const ts_image *img, const ts_points *pts, ts_alignment align, int S,
                         ts_image *out, ts_points *out_pts);

/* Fills `out`, one (1,C,S,S) sample view, from a base made for this model
 * and its landmarks (pts may be NULL for a 3-channel model).  The identity
 * view gives exactly ts_model_input_from_image of the original image, up
 * to the rounding of the one extra resampling. */
ts_status ts_sample_make(const ts_model *m, const ts_image *base, const ts_points *pts, const ts_view *v,
                         ts_tensor *out);

#endif
