/* sample.h - one face image (+ its landmarks) to one network input, with
 * the geometry of training and evaluation: alignment, the LACNN paper's
 * rotation augmentation, mirroring and the ten-crop oversampling.
 *
 * Two stages, both built on face/align.h (one affine map per warp, applied
 * to image and landmarks alike) and ending in face/input.h's
 * ts_model_input_from_image, the one place where an image becomes a
 * model's input (ARCHITECTURE.md):
 *
 *  1. the base: the image at the model's input size S x S, under an
 *     alignment (model.h's ts_alignment):
 *       none      the whole image scaled to S x S (pixel-centre rule of
 *                 input.h, edges replicated): the images of CelebA-HQ,
 *                 UTKFace and Adience are already face crops, and the LACNN
 *                 paper scaled every FAD image to 150 x 150 the same way;
 *       rotation  align.h's crop with the whole image as the box
 *                 (enlarge 1), rotated about the eyes so they are level;
 *       affine    align.h's least-squares affine map of the 68 points onto
 *                 its reference frame.
 *     Bases are made once per image (ts_sample_base).
 *  2. the view of a base: rotation by `angle` degrees about the centre
 *     (positive = counter-clockwise on screen; black corners as in the
 *     paper's Fig. 2), then the crop window (x, y, w, h fractions of S,
 *     scaled back up to S x S), then an optional mirror with the 68-point
 *     renumbering (align.h's ts_face_mirror), so A(x,y) of a mirrored face
 *     is what the localizer would give on the mirrored picture.  A(x,y) is
 *     recomputed from the moved landmarks (input.h).
 */
#ifndef TS_SAMPLE_H
#define TS_SAMPLE_H

#include <stdbool.h>
#include <stdint.h>

#include "../face/image.h"
#include "../nn/model.h"

typedef struct ts_view {
    float angle;    /* degrees */
    bool mirror;
    float crop[4];  /* x, y, w, h as fractions of S; w, h in (0,1] */
} ts_view;

/* No rotation, no crop, no mirror. */
ts_view ts_view_identity(void);

/* The ten crops of Levi & Hassner / Lapuschkin et al.: the four corners and
 * the centre of a window 227/256 of the base, and the same five mirrored. */
#define TS_OVERSAMPLE_CROPS 10
#define TS_OVERSAMPLE_FRACTION (227.0f / 256.0f)
void ts_view_ten_crops(ts_view views[TS_OVERSAMPLE_CROPS]);

/* The base of `img` for a model of input side S.  box: the face box used
 * by the landmark localizer (x, y, w, h; NULL = whole image); pts: 68
 * landmarks in image coordinates (needed by rotation and affine; NULL is
 * fine for none).  out_pts (may be NULL) receives the landmarks in base
 * coordinates.  transfer: full (out, ts_image_clear). */
ts_status ts_sample_base(const ts_image *img, const ts_points *pts, ts_alignment align, int S,
                         ts_image *out, ts_points *out_pts);

/* Fills `out`, one (1,C,S,S) sample view, from a base and its landmarks
 * (pts may be NULL for a 3-channel model). */
ts_status ts_sample_make(const ts_model *m, const ts_image *base, const ts_points *pts, const ts_view *v,
                         ts_tensor *out);

#endif
