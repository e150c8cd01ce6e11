/* locate.h - THE entry point for "the face and its 68 landmarks in this
 * image": detector, then a landmark localizer that follows the head's
 * in-plane turn (roll), with a fallback when no face is found.
 *
 *     ts_locator *loc;
 *     ts_locator_new(NULL, &loc);            // SSD detector, ert landmarks
 *     ts_located_face f;
 *     ts_locate_face(loc, &img, &f);         // the largest face
 *     // f.pts: 68 iBUG points in image pixels (pixel centres at integers);
 *     // f.detected false: no face was found, f.box is the fallback box
 *     ts_locator_free(loc);
 *
 * What happens:
 *   1. detection: ts_detector_find (detector.h): face-api's SSD MobileNet v1
 *      (or the tiny detector), plus, when a plain pass finds nothing, passes
 *      for close-ups and turned heads; the largest face is taken.
 *   2. the face's frame, read by face-api's 68-point net (lmnet.h): the
 *      net runs on the square crop of side max(w, h) on the detector box's
 *      centre (the crop face-api itself would give it), turned upright by
 *      the detector's roll (0 unless a turned pass found the face); the
 *      roll is read from its points' eye line (the centres of points 36-41
 *      and 42-47), and the next crop is the one the SSD detector would give
 *      for these points (1.09 x their width, 1.25 x their height, centred
 *      0.13 of their height above theirs, in their own frame; measured on
 *      CelebA-HQ), up to three times, until crop and roll settle.  ert
 *      alone, started 45 degrees off, settles on a wrong shape whose eye
 *      line points anywhere; the net reads a 45-degree eye line within a
 *      few degrees, and a crop made from its own points does not depend on
 *      how loose the detector's box was.
 *   3. landmarks in that frame: `cnn` returns the net's points from step
 *      2.  `ert` (dlib's trees, ert.h) starts from the square of side
 *      min(1.09 w, 1.25 h) of the points' box on the crop's centre, reads
 *      its feature pixels along the turned frame (as on the crop turned
 *      upright: nearest pixel, no resampling), refits its box twice (ert.h),
 *      re-reads the roll from its own eye line and repeats in the new frame
 *      until the roll moves by less than TS_LOCATE_ROLL_TOL degrees (at
 *      most TS_LOCATE_ROLL_ROUNDS frames).  The points come back in image
 *      coordinates.  For a face turned by up to 45 degrees they then match
 *      those of the upright face turned along (tests/face/test-locate.c:
 *      mean error about 0.01 of the outer-eye-corner distance at every
 *      angle, where ert held upright is off by 0.6 at 45 degrees).
 *   Fallback (no face found, e.g. a face crop too tight for the detector):
 *   the image is taken to be a face crop framed like CelebA-HQ's: the
 *   square of side 0.6 * min(W, H) centred at (W/2, 0.6 H); steps 3-4 run
 *   from it, so the points still settle on the face when there is one.
 *
 * Threads: a ts_locator holds the detector's and the networks' activations:
 * one per thread.  Models load on first use.
 */
#ifndef TS_LOCATE_H
#define TS_LOCATE_H

#include <stdbool.h>

#include "nn/model.h" /* ts_landmark_method */
#include "face/detector.h"
#include "face/image.h"

#define TS_LOCATE_ROLL_TOL 1.0f
#define TS_LOCATE_ROLL_ROUNDS 4

typedef struct ts_locator_opts {
    ts_detector_kind detector;  /* TS_DETECTOR_SSD (0) by default */
    ts_landmark_method method;  /* TS_LANDMARKS_ERT; NONE means ERT */
    float min_score;            /* detector threshold; 0 means TS_DETECTOR_MIN_SCORE */
    bool no_roll;               /* landmarks in the upright frame only (the old way; for comparison) */
    const char *ert_model;      /* dlib model file; NULL: found in the model path (ert.h) */
    const char *cnn_model;      /* face-api's landmark manifest; NULL: found (lmnet.h) */
    const char *detector_model; /* the detector's manifest; NULL: found (detector.h) */
    /* (the three paths are borrowed: they must outlive the locator) */
} ts_locator_opts;

typedef struct ts_located_face {
    bool detected;      /* false: no face found, `box` is the fallback box */
    ts_face_box box;    /* the detector's box (detector.h), or the fallback */
    float roll;         /* degrees, counter-clockwise on screen: the frame the points were found in */
    float frame[4];     /* the landmark box in that frame (ert: its last refitted box; x, y, w, h) */
    ts_points pts;      /* 68 points, image pixels */
} ts_located_face;

typedef struct ts_locator ts_locator;

/* opts NULL: the defaults.  Loads nothing yet (models load on first use,
 * and a missing one is reported then).  transfer: full (ts_locator_free). */
ts_status ts_locator_new(const ts_locator_opts *opts, ts_locator **out);
void ts_locator_free(ts_locator *l);

/* The largest face and its landmarks, or, when none is found, the fallback
 * (out->detected false).  Errors: a model missing or unreadable (TS_ERR_IO,
 * TS_ERR_FORMAT), an empty image (TS_ERR_ARG), TS_ERR_OOM. */
ts_status ts_locate_face(ts_locator *l, const ts_image *img, ts_located_face *out);

/* Every face found (best score first, at most max_faces; *n_found may be
 * larger), each with its landmarks; none found gives *n_found = 0 (no
 * fallback). */
ts_status ts_locate_faces(ts_locator *l, const ts_image *img, ts_located_face *faces, int max_faces,
                          int *n_found);

/* Landmarks for a face box chosen elsewhere (a detector box, a user's
 * box: then roll 0).  out->detected is set true. */
ts_status ts_locate_landmarks(ts_locator *l, const ts_image *img, const ts_face_box *box,
                              ts_located_face *out);

/* Landmarks for a fixed box taken as it is, as the training's landmark
 * cache computes them for dataset crops (train/cache.h): ert one
 * prediction from the box (no refit, no roll), cnn the net on the box.
 * box: x, y, w, h. */
ts_status ts_locate_landmarks_fixed(ts_locator *l, const ts_image *img, const float box[4], ts_located_face *out);

/* Face crops.  A dataset's images (CelebA-HQ's and the crops of the
 * models trained on it) put the face at a fixed box of the image, and the
 * training's landmark cache (train/cache.h) finds their landmarks from it
 * with ts_locate_landmarks_fixed.  An image is taken as such a crop when no
 * face is found in it or it is at most TS_FACE_CROP_RATIO times the
 * shorter side of its largest face (largest: NULL when none); box gets the
 * fixed box (0.20, 0.30, 0.60, 0.60) of a W x H image.  The explorer
 * (explain/inspect.h) and every command that finds a face itself
 * (explain.h's ts_landmarker) decide with these, so that a model gets the
 * landmarks, and the input, it was trained and evaluated with. */
#define TS_FACE_CROP_RATIO 2.5f
bool ts_image_is_face_crop(int W, int H, const ts_face_box *largest);
void ts_face_crop_box(int W, int H, float box[4]);

/* The detector's largest face, and: when the image is a face crop (above),
 * the landmarks of its fixed box (out->box; out->detected whether a face
 * was found), else those of that face as ts_locate_face finds them. */
ts_status ts_locate_face_or_crop(ts_locator *l, const ts_image *img, ts_located_face *out);

/* Runs the detector and face-api's net on backend be (ts_backend_select;
 * NULL or the CPU backend: the CPU), the ones loaded now and those loaded
 * later; ert always runs on the CPU.  Move back (NULL) or free the locator
 * before closing be's context.  Errors of the move (TS_ERR_OOM,
 * TS_ERR_DEVICE) leave the networks where they were. */
struct ts_backend;
ts_status ts_locator_set_backend(ts_locator *l, const struct ts_backend *be, void *ctx);

/* The detector the locator uses (loading it now if needed), e.g. to list
 * boxes without landmarks.  transfer: none. */
ts_status ts_locator_detector(ts_locator *l, ts_detector **out);

/* Loads the landmark models the current method needs (ert: dlib's model
 * and face-api's net for the roll; cnn: the net).  Apart from the first
 * call of the functions above, the only call that loads them, so a caller
 * may run it on another thread while this thread detects with the
 * ts_locator_detector it got before (the app's start-up does). */
ts_status ts_locator_load_landmarks(ts_locator *l);

/* Switches the localizer or the detector for the next calls (models already
 * loaded are kept; a detector of another kind is freed).  The current
 * settings: ts_locator_options. */
void ts_locator_set_method(ts_locator *l, ts_landmark_method method);
void ts_locator_set_detector(ts_locator *l, ts_detector_kind kind);
const ts_locator_opts *ts_locator_options(const ts_locator *l);

/* The roll (degrees, counter-clockwise on screen) of 68 points' eye line. */
float ts_points_roll68(const ts_points *pts);

#endif
