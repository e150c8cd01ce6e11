/* detector.h - face detection: face-api's Tiny Face Detector on our engine.
 *
 * The network is the Tiny Face Detector of face-api.js / @vladmandic/face-api
 * (a TinyYOLOv2 variant with depthwise-separable convolutions), weights from
 * the npm package's tiny_face_detector_model-weights_manifest.json + .bin
 * (TF.js, uint8-quantized), run as a ts_graph on the CPU backend:
 *   input (3,S,S), S = input size (multiple of 32, default 416): the image
 *   zero-padded at the bottom/right to a square, resized bilinearly to S,
 *   minus the mean RGB (117.001, 114.697, 97.404), divided by 255;
 *   conv 3x3 3->16 (valid) + leaky ReLU(0.1), maxpool 2/2;
 *   4 x [depthwise 3x3 (pad 1) + pointwise 1x1 + bias + leaky, maxpool 2/2]
 *     (16->32->64->128->256);
 *   depthwise-separable 256->512 + leaky, maxpool 2/1 ("same");
 *   conv 1x1 512->25: per cell of the S/32 grid, 5 anchors x (x,y,w,h,score).
 * Decoding (YOLOv2): centre = (cell + sigmoid(t)) / grid, size =
 * exp(t) * anchor / grid, score = sigmoid(t_score) > min_score, then greedy
 * non-maximum suppression at IoU 0.4, highest score first.
 *
 * Boxes are in image pixel coordinates (left x, top y, width, height; the
 * image's top-left corner is (0,0), so pixel i spans [i,i+1)).  A box may
 * extend past the image border; callers clip as they need.
 *
 * Threads: a ts_detector holds its activations; use one per thread.
 */
#ifndef TS_DETECTOR_H
#define TS_DETECTOR_H

#include "image.h"

typedef struct ts_face_box {
    float x, y, w, h, score;
} ts_face_box;

typedef struct ts_detector ts_detector;

#define TS_DETECTOR_MODEL "tiny_face_detector_model-weights_manifest.json"
/* Loads the detector from a manifest path, or, with NULL, finds
 * TS_DETECTOR_MODEL through ts_model_path_find (a missing model is TS_ERR_IO
 * naming the file and how to install it).  transfer: full (ts_detector_free). */
ts_status ts_detector_load(const char *path_or_NULL, ts_detector **out);

/* Network input size S (multiple of 32 in [32, 2048]; face-api's default
 * 416; larger finds smaller faces, slower).  TS_ERR_ARG otherwise. */
ts_status ts_detector_set_input_size(ts_detector *d, int size);
int ts_detector_input_size(const ts_detector *d);

/* Detects faces in `img` with score > min_score (face-api's default 0.5),
 * best first.  Writes at most max_boxes boxes; *n_found is the number found
 * (may exceed max_boxes).  TS_ERR_ARG for an empty image or min_score
 * outside [0,1). */
ts_status ts_detector_detect(ts_detector *d, const ts_image *img, float min_score,
                             ts_face_box *boxes, int max_boxes, int *n_found);

/* Runs the detector's network on backend be (ts_backend_select; NULL: the
 * CPU), now and after every input size change.  Move it back (NULL) or
 * free the detector before closing be's context. */
struct ts_backend;
ts_status ts_detector_set_backend(ts_detector *d, const struct ts_backend *be, void *ctx);

void ts_detector_free(ts_detector *d);

#endif
