/* points.h - landmark files and the 68-point iBUG scheme as data.
 *
 * The landmarks JSON is what `traitscope-cli landmarks` prints and what
 * `traitscope-cli amap --landmarks` reads (a CLI contract, issue 3):
 *
 *     {"method":"ert","box":[X,Y,W,H],"landmarks":[[x,y],[x,y],...]}
 *
 *   - "landmarks" (required): 1..TS_POINTS_MAX pairs of finite numbers,
 *     image pixel coordinates, pixel centres at integer coordinates; points
 *     may lie outside the image but |x|,|y| <= TS_POINTS_MAX_COORD;
 *   - "method" (optional): 1..31 characters from [A-Za-z0-9_.-];
 *   - "box" (optional): 4 finite numbers, left X, top Y, width W > 0,
 *     height H > 0 (dlib's rectangle: right = X+W-1, bottom = Y+H-1);
 *   - other keys are ignored (forward compatibility); a key given twice, a
 *     wrong type or a value out of range is an error naming the file and
 *     the field ("f.json: landmarks[3][1]: not a number").
 *
 * The 68-point scheme is iBUG 300-W's (Sagonas et al. 2013), the one dlib's
 * shape predictor and face-api's landmark net return, 0-based:
 *     jaw 0-16, right brow 17-21, left brow 22-26, nose 27-35,
 *     right eye 36-41, left eye 42-47, mouth 48-67 (outer 48-59, inner 60-67)
 * "right" is the subject's right, i.e. the left side of a frontal photo.
 */
#ifndef TS_POINTS_H
#define TS_POINTS_H

#include <stddef.h>

#include "face/image.h"

/* Largest |coordinate| accepted in a landmark file or by A(x,y). */
#define TS_POINTS_MAX_COORD 1e7f

typedef struct ts_landmarks {
    char method[32];  /* "" when the file had none */
    int has_box;      /* box[] valid */
    float box[4];     /* X, Y, W, H */
    ts_points pts;
} ts_landmarks;

/* Parses landmarks JSON text (len bytes, need not be NUL-terminated).
 * `name` (a file name) prefixes every error.  TS_ERR_FORMAT on any
 * violation of the format above. */
ts_status ts_landmarks_parse(const char *text, size_t len, const char *name, ts_landmarks *out);
ts_status ts_landmarks_load(const char *path, ts_landmarks *out);

/* The JSON text, one line, no trailing newline; numbers are printed with
 * the fewest digits that read back to the same float.  transfer: full
 * (free() it).  NULL only when out of memory.  Aborts on a method name
 * outside the allowed characters (a caller bug). */
char *ts_landmarks_to_json(const ts_landmarks *lm);
/* Writes the JSON plus a newline atomically. */
ts_status ts_landmarks_save(const char *path, const ts_landmarks *lm);

/* ---- the 68-point scheme ---- */

typedef enum ts_face_part {
    TS_PART_JAW = 0,
    TS_PART_RIGHT_BROW,
    TS_PART_LEFT_BROW,
    TS_PART_NOSE,
    TS_PART_RIGHT_EYE,
    TS_PART_LEFT_EYE,
    TS_PART_MOUTH,
    TS_PART_COUNT
} ts_face_part;

/* First and last landmark index (inclusive) of each part. */
extern const int ts_part_range[TS_PART_COUNT][2];
/* "jaw", "right_brow", "left_brow", "nose", "right_eye", "left_eye",
 * "mouth".  transfer: none. */
const char *ts_part_name(ts_face_part part);
/* Part of landmark i (0..67); TS_PART_COUNT for i outside 0..67. */
ts_face_part ts_part_of_landmark(int i);

/* Left/right mirror permutation: after mirroring an image horizontally,
 * the point that was landmark i plays the role of landmark
 * ts_mirror_perm68[i] (jaw 0<->16, eye corner 36<->45, ...).  An
 * involution: perm[perm[i]] == i. */
extern const int ts_mirror_perm68[TS_LANDMARKS];

/* Mirrors 68 landmarks for an image `width` pixels wide flipped left to
 * right: x -> (width-1) - x (pixel centres), then renumbers with
 * ts_mirror_perm68.  TS_ERR_ARG when pts->n != 68. */
ts_status ts_points_mirror68(ts_points *pts, int width);

/* Centre of each eye (mean of its six points); needs n == 68. */
void ts_points_eye_centres(const ts_points *pts, float right[2], float left[2]);

#endif
