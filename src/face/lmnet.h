/* lmnet.h - the `cnn` 68-point landmark localizer: face-api's FaceLandmark68Net
 * on our engine.
 *
 * Weights: face_landmark_68_model-weights_manifest.json + .bin of the npm
 * package @vladmandic/face-api (TF.js, uint8-quantized).  Network (face-api's
 * FaceFeatureExtractor + a dense layer), run as a ts_graph on the CPU
 * backend:
 *   input (3,112,112): the face crop zero-padded to a square (the padding
 *   split between both sides, the larger half after), resized bilinearly to
 *   112, minus the mean RGB (122.782, 117.001, 104.298), divided by 255;
 *   4 dense blocks (32, 64, 128, 256 channels), each: a stride-2 conv
 *   (block 0: plain 3x3 conv; others: depthwise-separable) + bias + ReLU =
 *   o1; then three depthwise-separable convs c1..c3 (no activation), each
 *   fed with ReLU of the running sum: o2 = c1(o1), o3 = c2(relu(o1+o2)),
 *   o4 = c3(relu(o1+o2+o3)); block output relu(o1+o2+o3+o4);
 *   average pooling 7x7 -> (256,1,1); dense 256 -> 136 = 68 (x,y) pairs in
 *   units of the 112 input.
 * Points follow the iBUG 68-point scheme (0-16 jaw, 17-26 brows, 27-35 nose,
 * 36-47 eyes, 48-67 mouth).  They are returned in image pixel coordinates
 * exactly as face-api computes them (relative position in the crop times the
 * crop size plus the crop's origin), without any half-pixel shift.
 *
 * Threads: a ts_lmnet holds its activations; use one per thread.
 */
#ifndef TS_LMNET_H
#define TS_LMNET_H

#include "face/image.h"

typedef struct ts_lmnet ts_lmnet;

#define TS_LMNET_MODEL "face_landmark_68_model-weights_manifest.json"
#define TS_LMNET_INPUT 112

/* Loads the net from a manifest path, or, with NULL, finds TS_LMNET_MODEL
 * through ts_model_path_find (missing: TS_ERR_IO naming the file and the
 * npm set-up).  transfer: full (ts_lmnet_free). */
ts_status ts_lmnet_load(const char *path_or_NULL, ts_lmnet **out);

/* 68 landmarks of the face in `box` (x, y, w, h in image pixels, e.g. from
 * ts_detector_detect).  As face-api does, the box is clipped to the image
 * and its x, y, w, h floored to whole pixels to crop the face.  out->n = 68.
 * TS_ERR_ARG when the clipped box is empty. */
ts_status ts_lmnet_predict(ts_lmnet *n, const ts_image *img, const float box[4], ts_points *out);

/* Runs the network on backend be (ts_backend_select; NULL: the CPU).  Move
 * it back (NULL) or free the net before closing be's context. */
struct ts_backend;
ts_status ts_lmnet_set_backend(ts_lmnet *n, const struct ts_backend *be, void *ctx);

void ts_lmnet_free(ts_lmnet *n);

#endif
