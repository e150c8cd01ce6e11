/* faceapi-net.h - pieces shared by the face-api networks on our engine
 * (detector-tiny.c: Tiny Face Detector; detector-ssd.c: SSD MobileNet v1;
 * lmnet.c: FaceLandmark68Net).  Private to
 * src/face; not part of the public API.
 *
 * face-api (npm @vladmandic/face-api, a fork of face-api.js) runs its nets
 * in TensorFlow.js: NHWC tensors, TensorFlow's filter layouts and its
 * "same" padding.  These helpers translate each of those to our NCHW graph:
 *   - conv filters (KH,KW,C,O) -> weight (O,C,KH,KW);
 *   - depthwise filters (KH,KW,C,1) -> weight (C,1,KH,KW), groups = C;
 *   - dense weights (K,O) (y = x W) -> weight (O,K,1,1);
 *   - "same" padding: out = ceil(in/stride), the total padding
 *     max((out-1)*stride + k - in, 0) split with the smaller half first
 *     (TensorFlow puts the odd pixel at the bottom/right);
 *   - the input image as face-api builds it from an image tensor
 *     (NetInput.toBatchTensor): the image (or a face crop of it) is
 *     zero-padded to a square, resized with tf.image.resizeBilinear
 *     (align_corners = false, half_pixel_centers = false), then a per-channel
 *     mean is subtracted and the result divided by 255.
 */
#ifndef TS_FACEAPI_NET_H
#define TS_FACEAPI_NET_H

#include "nn/graph.h"
#include "face/image.h"
#include "face/tfjs.h"

/* How to get the weights, for ts_model_path_find's message. */
#define TS_FACEAPI_INSTALL_HINT                                             \
    "run .ci/npm-setup.sh (npm ci --omit=dev) in the source folder to install "  \
    "@vladmandic/face-api, or point TRAITSCOPE_MODELS at its model/ folder"

/* TensorFlow "same" padding along one axis. */
void ts_faceapi_same_pad(int in, int k, int stride, int *lo, int *hi);

/* Fills n->weight (and n->bias when `bias` is not NULL) of a finalized
 * conv2d node from TF.js weights, checking their shapes against the node.
 * `depthwise` reads a (KH,KW,C,1) depthwise filter for a groups == C node. */
ts_status ts_faceapi_load_conv(ts_node *n, int in_c, const ts_tfjs *t, const char *filters,
                               const char *bias, int depthwise);
/* Fills a finalized fc node from (K,O) weights and (O) bias. */
ts_status ts_faceapi_load_fc(ts_node *n, int in_k, const ts_tfjs *t, const char *weights,
                             const char *bias);

/* Builds the network input (3,S,S) (CHW floats in `out`) from the crop
 * (x0,y0,w,h) of `img` (inside the image), zero-padded to a square of side
 * max(w,h) with `pad_x` columns / `pad_y` rows before the crop, resized to
 * S x S and normalised as (v - mean[c]) / 255. */
void ts_faceapi_make_input(const ts_image *img, int x0, int y0, int w, int h, int pad_x, int pad_y,
                           int S, const float mean[3], float *out /* (3,S,S) */);

/* The SSD detector's input (3,S,S): the whole image zero-padded at the
 * bottom/right to a square, resized to S x S as above, then v / 127.5 - 1
 * (face-api's SsdMobilenetv1.forwardInput). */
void ts_faceapi_make_input_unit(const ts_image *img, int S, float *out /* (3,S,S) */);

#endif
