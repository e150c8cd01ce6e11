/* ert.h - the `ert` 68-point landmark localizer: an ensemble of regression
 * trees (Kazemi & Sullivan, "One Millisecond Face Alignment with an Ensemble
 * of Regression Trees", CVPR 2014), read from dlib's shape predictor files
 * (shape_predictor_68_face_landmarks.dat of Debian's libdlib-data).
 *
 * The predictor reproduces dlib's shape_predictor::operator() step by step:
 * the same grey conversion ((r+g+b)/3, integer division), the same pixel
 * lookup (round half up, pixels outside the image read as 0), the same
 * similarity transform from the mean shape to the current shape and the
 * same mapping of the unit square onto the face box, in the same float and
 * double arithmetic.  Its points are dlib's points before dlib rounds them
 * to whole pixels.
 *
 * Models are untrusted files: every count, length and index is checked, and
 * a bad file gives TS_ERR_FORMAT with the file name, the byte offset and
 * the field; nothing in a model can make ts_ert_predict read out of bounds.
 *
 * Thread safety: a loaded ts_ert is read-only; ts_ert_predict may run on
 * the same model from several threads at once.
 */
#ifndef TS_ERT_H
#define TS_ERT_H

#include <stddef.h>
#include <stdint.h>

#include "nn/status.h"
#include "face/image.h"

typedef struct ts_ert ts_ert;

/* File name looked up with ts_model_path_find when no path is given. */
#define TS_ERT_DEFAULT_FILE "shape_predictor_68_face_landmarks.dat"
#define TS_ERT_INSTALL_HINT "apt-get install libdlib-data"

/* Loads a dlib shape predictor.  path NULL: TS_ERT_DEFAULT_FILE in the model
 * search path (model-path.h); missing -> TS_ERR_IO naming the package to
 * install.  transfer: full (*out, free with ts_ert_free).
 * Errors: TS_ERR_IO, TS_ERR_FORMAT (file, offset, field), TS_ERR_OOM. */
ts_status ts_ert_load(const char *path_or_NULL, ts_ert **out);

/* Same from memory (the fuzz target's entry point); `name` appears in error
 * messages.  The buffer is not kept. */
ts_status ts_ert_load_memory(const uint8_t *buf, size_t len, const char *name, ts_ert **out);

/* Landmarks of the face in `box` (x, y, w, h in image pixels; as a dlib
 * rectangle left = x, top = y, right = x+w-1, bottom = y+h-1).  out->n is the
 * model's part count (68 for the iBUG model), coordinates in image pixels,
 * pixel centres at integers.  Points may lie outside the image.
 * Errors: TS_ERR_ARG for a box that is not finite or has w or h < 1 or lies
 * absurdly far from the image (|coordinate| > 1e6); TS_ERR_OOM. */
ts_status ts_ert_predict(const ts_ert *m, const ts_image *img, const float box[4], ts_points *out);

/* The same, for a box from another detector than the one the model was
 * trained with (dlib's HOG boxes are tighter and sit lower than face-api's
 * or a dataset's): after each prediction the box is refitted as the square
 * that carries the model's mean shape closest (least squares, scale and
 * shift) onto the predicted points, and the prediction is repeated from it,
 * `rounds` times (0 = ts_ert_predict).  *fitted (may be NULL) receives the
 * last box used. */
ts_status ts_ert_predict_refit(const ts_ert *m, const ts_image *img, const float box[4], int rounds,
                               ts_points *out, float fitted[4]);

/* The same for a face turned in the image plane: `box` is the face's box in
 * its own frame (a w x h rectangle centred at (x + (w-1)/2, y + (h-1)/2) in
 * dlib's pixel-centre coordinates, turned by `roll` degrees counter-
 * clockwise on screen about that centre; detector.h's ts_face_box.roll).
 * The trees then read their feature pixels along the turned frame, which
 * is what they would read on the image turned upright (nearest pixel, no
 * resampling), and the points come back in image coordinates.  roll 0 is
 * ts_ert_predict exactly.  TS_ERR_ARG also for |roll| > 360. */
ts_status ts_ert_predict_rotated(const ts_ert *m, const ts_image *img, const float box[4], float roll,
                                 ts_points *out);
/* ts_ert_predict_refit in a turned frame: the refit happens in the face's
 * frame, `fitted` is the last box used, in that frame (as `box`). */
ts_status ts_ert_predict_refit_rotated(const ts_ert *m, const ts_image *img, const float box[4], float roll,
                                       int rounds, ts_points *out, float fitted[4]);

/* Number of landmarks the model predicts. */
int ts_ert_num_parts(const ts_ert *m);

void ts_ert_free(ts_ert *m);

#endif
