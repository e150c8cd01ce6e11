/* detector-nets.h - the two networks behind detector.h, one pass each.
 * Private to src/face; the public API is detector.h.
 *
 * Each reproduces one face-api detector's locateFaces() on an image:
 * input building, the network as a ts_graph on the CPU backend, box
 * decoding and non-maximum suppression as face-api does them, so that
 * boxes and scores equal face-api's up to float32 summation order
 * (tests/face/test-faceapi.c).  The graph runs on the CPU backend, or on
 * the one given with *_set_backend (outputs are read back with
 * ts_graph_read).  Boxes are in image pixels, best first,
 * angle 0.  Threads: an object holds its activations; one per thread.
 *
 *   tiny (detector-tiny.c): Tiny Face Detector, input S x S (S a multiple
 *        of 32, default 416), face-api's TinyFaceDetectorOptions;
 *   ssd  (detector-ssd.c): SSD MobileNet v1, input 512 x 512,
 *        face-api's SsdMobilenetv1Options (maxResults 100).
 */
#ifndef TS_DETECTOR_NETS_H
#define TS_DETECTOR_NETS_H

#include "face/detector.h"

struct ts_backend;

typedef struct ts_tiny ts_tiny;
/* transfer: full (ts_tiny_free).  TS_ERR_IO / TS_ERR_FORMAT from the
 * weights reader (tfjs.h). */
ts_status ts_tiny_load(const char *manifest, ts_tiny **out);
ts_status ts_tiny_set_input_size(ts_tiny *t, int size);
int ts_tiny_input_size(const ts_tiny *t);
/* Runs the network on backend be (NULL: the CPU); see detector.h. */
ts_status ts_tiny_set_backend(ts_tiny *t, const struct ts_backend *be, void *ctx);
ts_status ts_tiny_detect(ts_tiny *t, const ts_image *img, float min_score, ts_face_box *boxes, int max_boxes,
                         int *n_found);
void ts_tiny_free(ts_tiny *t);

#define TS_SSD_INPUT 512
#define TS_SSD_MAX_RESULTS 100
typedef struct ts_ssd ts_ssd;
ts_status ts_ssd_load(const char *manifest, ts_ssd **out);
ts_status ts_ssd_set_backend(ts_ssd *s, const struct ts_backend *be, void *ctx);
ts_status ts_ssd_detect(ts_ssd *s, const ts_image *img, float min_score, ts_face_box *boxes, int max_boxes,
                        int *n_found);
void ts_ssd_free(ts_ssd *s);

#endif
