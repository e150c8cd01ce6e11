/* detector.h - face detection: face-api's detectors on our engine.
 *
 * Two networks of the npm package @vladmandic/face-api (weights read by
 * tfjs.h, run as ts_graphs on the CPU backend or the one set with
 * ts_detector_set_backend; details in
 * detector-nets.h, detector-ssd.c, detector-tiny.c):
 *   TS_DETECTOR_SSD   SSD MobileNet v1, input 512 x 512 (the default: it
 *                     finds faces the tiny one misses: small, turned,
 *                     looking down);
 *   TS_DETECTOR_TINY  the Tiny Face Detector (TinyYOLOv2 variant), input
 *                     S x S, S a multiple of 32 (default 416).
 *
 * Two ways to detect:
 *   ts_detector_detect  one pass of the network on the image, exactly as
 *                       face-api's locateFaces (input building, decoding,
 *                       non-maximum suppression): the same boxes and scores
 *                       up to float rounding (tests/face/test-faceapi.c);
 *   ts_detector_find    what Traitscope uses: that pass, and, where it
 *                       finds nothing, passes on the image shrunk inside a
 *                       zero border (a face that fills the frame: close-ups,
 *                       dataset crops) and on the image turned by +-30 and
 *                       +-60 degrees (tilted heads); the boxes of every pass
 *                       mapped back and merged by non-maximum suppression.
 *
 * Boxes are in image pixel coordinates (left x, top y, width, height; the
 * image's top-left corner is (0,0), so pixel i spans [i,i+1)).  A box may
 * extend past the image border; callers clip as they need.  A box found on
 * a turned image keeps the face's frame: `roll` is the angle (degrees,
 * counter-clockwise on screen, align.h's convention) by which the face is
 * turned, and (x, y, w, h) is the box in the face's frame: a w x h
 * rectangle centred at (x + w/2, y + h/2), turned by `roll` about its
 * centre.  ts_face_box_bounds gives its axis-aligned bounding box.
 *
 * Threads: a ts_detector holds its activations; use one per thread.
 */
#ifndef TS_DETECTOR_H
#define TS_DETECTOR_H

#include "face/image.h"

typedef struct ts_face_box {
    float x, y, w, h, score;
    float roll; /* degrees; 0 for an upright box (every ts_detector_detect box) */
} ts_face_box;

typedef enum ts_detector_kind {
    TS_DETECTOR_SSD = 0,
    TS_DETECTOR_TINY,
    TS_DETECTOR_KINDS
} ts_detector_kind;

typedef struct ts_detector ts_detector;

#define TS_DETECTOR_SSD_MODEL "ssd_mobilenetv1_model-weights_manifest.json"
#define TS_DETECTOR_TINY_MODEL "tiny_face_detector_model-weights_manifest.json"
/* face-api's default score threshold, for both detectors. */
#define TS_DETECTOR_MIN_SCORE 0.5f

/* "ssd" / "tiny".  transfer: none. */
const char *ts_detector_kind_name(ts_detector_kind kind);
/* Parses "ssd" or "tiny"; TS_ERR_ARG quoting the text otherwise. */
ts_status ts_detector_kind_parse(const char *text, ts_detector_kind *out);

/* Loads a detector of `kind` from a manifest path, or, with NULL, finds its
 * model file through ts_model_path_find (a missing model is TS_ERR_IO
 * naming the file and how to install it).  A manifest that is not of that
 * kind is TS_ERR_FORMAT naming the missing weight.
 * transfer: full (ts_detector_free). */
ts_status ts_detector_load(ts_detector_kind kind, const char *path_or_NULL, ts_detector **out);

ts_detector_kind ts_detector_get_kind(const ts_detector *d);

/* Network input size S.  Tiny: a multiple of 32 in [32, 2048] (face-api's
 * default 416; larger finds smaller faces, slower).  SSD: 512 only (its
 * prior boxes are made for it).  TS_ERR_ARG otherwise. */
ts_status ts_detector_set_input_size(ts_detector *d, int size);
int ts_detector_input_size(const ts_detector *d);

/* One pass of the network, as face-api: faces with score > min_score
 * (face-api's default TS_DETECTOR_MIN_SCORE), best first.  Writes at most
 * max_boxes boxes; *n_found is the number found (may exceed max_boxes).
 * TS_ERR_ARG for an empty image or min_score outside [0,1). */
ts_status ts_detector_detect(ts_detector *d, const ts_image *img, float min_score,
                             ts_face_box *boxes, int max_boxes, int *n_found);

/* Every face Traitscope can find (see above), best first; same arguments
 * and errors as ts_detector_detect. */
ts_status ts_detector_find(ts_detector *d, const ts_image *img, float min_score,
                           ts_face_box *boxes, int max_boxes, int *n_found);

/* Runs the detector's network on backend be (ts_backend_select; NULL: the
 * CPU), now and after every input size change.  Move it back (NULL) or
 * free the detector before closing be's context. */
struct ts_backend;
ts_status ts_detector_set_backend(ts_detector *d, const struct ts_backend *be, void *ctx);

/* The axis-aligned bounding box (x, y, w, h) of a possibly turned box. */
void ts_face_box_bounds(const ts_face_box *b, float out[4]);

void ts_detector_free(ts_detector *d);

#endif
