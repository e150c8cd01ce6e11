/* align.h - face crops, alignments and the geometric augmentations.
 *
 * Coordinates follow image.h: pixel centres at integer coordinates, x to the
 * right, y down.  Every geometric operation here is one 2-D affine map
 * (ts_affine) applied both to the image (by inverse mapping with bilinear
 * sampling) and to the landmarks (forward), so image and points can never
 * disagree: a dot drawn at a landmark lands where the transformed landmark
 * says (tests/face/test-align.c checks that).
 *
 * Alignments (LRP/Adience paper, section 3.2; recorded in a model's
 * metadata as model.h's ts_alignment):
 *   TS_ALIGN_NONE      the detector's box (or, without one, the landmarks'
 *                      bounding box) enlarged to a square of side
 *                      enlarge * max(W,H) around its centre, scaled to
 *                      size x size;
 *   TS_ALIGN_ROTATION  the same square, rotated about the eye centre so the
 *                      eyes are level (needs the 68 points; eye centre =
 *                      mean of points 36-41 and 42-47);
 *   TS_ALIGN_AFFINE    least-squares affine map (6 parameters, in-plane,
 *                      as the Adience "affine in-plane alignment" of
 *                      Eidinger et al.) of the 68 points onto a reference
 *                      68-point frame: OpenFace's mean dlib shape (see
 *                      align.c), min-max normalised and placed in
 *                      [pad, 1-pad] * size with pad = TS_ALIGN_REF_PAD;
 *   TS_ALIGN_SIMILARITY the canonical face frame: the least-squares
 *                      similarity (rotation, uniform scale, shift; Umeyama)
 *                      of the 51 inner points (17-67: brows, nose, eyes,
 *                      mouth; the jaw line moves with pose and build) onto
 *                      ts_align_canonical68.  That reference is CelebA-HQ's
 *                      own framing, measured: the mean dlib-ERT points of
 *                      799 CelebA-HQ crops (256 x 256), seen through the
 *                      window x in [0.14, 0.86], y in [0.24, 0.96] of the
 *                      crop.  The window is the part that UTKFace's tighter
 *                      chips also cover (their median extent in that frame
 *                      is x 0.19-0.82, y 0.30-0.93), so a face from either
 *                      source, or from a photo, reaches a model in the same
 *                      place and scale; it keeps the forehead, the hairline
 *                      and hair at the sides (the hair trait).  The 68
 *                      points' box spans about 76% of the side.
 *
 * Augmentation (LACNN paper, section 3: rotations by -40, -20, +20, +40
 * degrees; mirroring with the left/right landmark permutation).  Positive
 * angles turn the picture counter-clockwise on screen (PIL's and OpenCV's
 * convention).
 */
#ifndef TS_ALIGN_H
#define TS_ALIGN_H

#include "face/image.h"
#include "nn/model.h" /* ts_alignment */

/* x' = m[0]*x + m[1]*y + m[2];  y' = m[3]*x + m[4]*y + m[5] */
typedef struct ts_affine {
    double m[6];
} ts_affine;

ts_affine ts_affine_identity(void);
/* Rotation by `deg` degrees (counter-clockwise on screen) about (cx,cy). */
ts_affine ts_affine_rotation(double deg, double cx, double cy);
/* a after b: (a*b)(p) = a(b(p)). */
ts_affine ts_affine_mul(const ts_affine *a, const ts_affine *b);
/* TS_ERR_ARG when a is singular (|det| < 1e-12). */
ts_status ts_affine_invert(const ts_affine *a, ts_affine *inv);
void ts_affine_apply(const ts_affine *a, double x, double y, double *ox, double *oy);
/* Transforms every point in place. */
void ts_points_transform(ts_points *pts, const ts_affine *a);

/* Least-squares map of src onto (dst_x,dst_y) (n points each):
 * similarity = 1 gives rotation + uniform scale + translation (4
 * parameters, Umeyama's closed form), 0 gives a full affine map.
 * TS_ERR_ARG for fewer than 2 (similarity) / 3 (affine) points or a
 * degenerate (collinear) source. */
ts_status ts_affine_fit(const ts_points *src, const float *dst_x, const float *dst_y,
                        int similarity, ts_affine *out);

typedef enum ts_border {
    TS_BORDER_ZERO = 0, /* samples outside the source are black */
    TS_BORDER_REPLICATE, /* ... take the nearest edge pixel */
} ts_border;

/* out (out_w x out_h, allocated here) = src warped by xf (src -> out
 * coordinates), bilinear; when xf shrinks by more than 2x the source is
 * first box-filtered by an integer factor so small crops do not alias.
 * transfer: full (out). */
ts_status ts_image_warp(const ts_image *src, const ts_affine *xf, int out_w, int out_h,
                        ts_border border, ts_image *out);

/* The reference 68-point frame for a size x size crop (TS_ALIGN_AFFINE). */
#define TS_ALIGN_REF_PAD 0.15
void ts_align_reference68(int size, float x[TS_LANDMARKS], float y[TS_LANDMARKS]);

/* The canonical frame's 68 points for a size x size crop
 * (TS_ALIGN_SIMILARITY; pixel centres at integers). */
void ts_align_canonical68(int size, float x[TS_LANDMARKS], float y[TS_LANDMARKS]);

/* The image -> crop map of TS_ALIGN_SIMILARITY for a size x size crop that
 * shows `margin` (>= 1) times the canonical window about its centre
 * (margin 1: exactly the canonical frame; training keeps a margin to move
 * views in).  TS_ERR_ARG unless pts holds 68 finite, non-degenerate points. */
ts_status ts_align_similarity_map(const ts_points *pts, int size, double margin, ts_affine *xf);

#define TS_CROP_SIZE_DEFAULT 150
#define TS_CROP_ENLARGE_DEFAULT 1.4f

typedef struct ts_crop_options {
    ts_alignment alignment; /* TS_ALIGN_NONE by default */
    int size;               /* output side; 0 means TS_CROP_SIZE_DEFAULT */
    float enlarge;          /* square side / max(box W,H); 0 means default */
    ts_border border;
} ts_crop_options;

/* Crops the face to size x size.  box = {X,Y,W,H} (may be NULL when pts
 * has points); pts (may be NULL for TS_ALIGN_NONE with a box; 68 points
 * for ROTATION, AFFINE and SIMILARITY; SIMILARITY ignores the box and takes
 * `enlarge` as its margin, 0 meaning 1).  out_pts (optional) receives pts in crop
 * coordinates, xf (optional) the image -> crop map.  TS_ERR_ARG when the
 * alignment lacks what it needs.  transfer: full (out). */
ts_status ts_face_crop(const ts_image *img, const float *box, const ts_points *pts,
                       const ts_crop_options *opt, ts_image *out, ts_points *out_pts,
                       ts_affine *xf);

/* Only the image -> crop map of ts_face_crop (same arguments, same
 * errors), without warping. */
ts_status ts_face_crop_map(const ts_image *img, const float *box, const ts_points *pts,
                           const ts_crop_options *opt, ts_affine *xf);

/* Rotation augmentation: img rotated by `deg` about its centre
 * ((W-1)/2, (H-1)/2), same size, with pts (optional, in place) moved by the
 * same map.  transfer: full (out). */
ts_status ts_face_rotate(const ts_image *img, ts_points *pts, double deg, ts_border border,
                         ts_image *out);

/* Mirror augmentation, in place: the image flipped left to right and, when
 * pts is given, the 68 points mirrored and renumbered with
 * ts_mirror_perm68 (points.h).  TS_ERR_ARG when pts->n != 68 (the image is
 * then left unchanged). */
ts_status ts_face_mirror(ts_image *img, ts_points *pts);

#endif
