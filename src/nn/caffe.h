/* caffe.h - Caffe models in (prototxt + caffemodel + mean file) and out.
 *
 * Spec: BVLC Caffe's caffe.proto (NetParameter, LayerParameter, the legacy
 * V1LayerParameter, BlobProto, BlobShape and the layer parameter messages,
 * with their published field numbers), in its two encodings: the protobuf
 * text format of deploy.prototxt and the binary wire format of .caffemodel
 * and .binaryproto files (protobuf.h).  No protobuf library is used.
 *
 * Layer types read: Input (or input/input_shape/input_dim in the net),
 * Convolution, ReLU (negative_slope: leaky), LRN (ACROSS_CHANNELS),
 * Pooling (MAX, AVE, global), InnerProduct, Dropout, Concat (channels),
 * Eltwise SUM (unit coefficients), Split, Flatten (before InnerProduct),
 * and Softmax as the last layer (dropped: models output logits).  Layers of
 * a training net (data, loss and accuracy layers, include { phase: TRAIN })
 * are skipped.  Both `layer` (type strings) and the legacy `layers` (type
 * enums, as in Levi & Hassner's published age/gender nets) are read.
 * In-place layers (top == bottom) are followed.  Any other type is
 * TS_ERR_UNSUPPORTED naming the type and the layer.
 *
 * Input convention.  A Caffe model sees z[j] = (p[j] - M[j]) * scale, with
 * p the pixel in 0..255 in BGR order (OpenCV's), M the mean (mean file
 * averaged per channel, or mean values), scale usually 1.  A Traitscope
 * model sees x[c] = (p[c]/255 - mean[c]) / std[c] in RGB order.  The import
 * makes the Caffe model an ordinary Traitscope model:
 *   - the input channels of every convolution reading the input are
 *     reversed (BGR -> RGB), so the model takes RGB like all others;
 *   - mean[c] = M[BGR index of c] / 255 and std[c] = 1 / (255 * scale),
 *     so x[c] equals the z the Caffe layer saw;
 * and records what was done in meta.training ("imported_from": "caffe").
 * With `rgb` set (a model trained on RGB input) no channel is reversed.
 * The export does the reverse: it folds 1/(255*std[c]) into the weights of
 * the convolutions reading the input, reverses their channels to BGR and
 * writes the mean (255*mean, BGR) as a .binaryproto, so the files run in
 * Caffe with the usual BGR 0..255 minus mean input.  Our metadata (classes,
 * trait...) goes into "# traitscope.KEY: value" comment lines of the
 * prototxt, which Caffe ignores and the import reads back.
 *
 * Untrusted input: every length, count and shape is checked; errors are
 * TS_ERR_FORMAT naming the file and the byte offset (binary) or line (text).
 */
#ifndef TS_CAFFE_H
#define TS_CAFFE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nn/model.h"

#define TS_CAFFE_MAX_FILE ((size_t)4 << 30)
#define TS_PROTOTXT_MAX_FILE ((size_t)16 << 20)

typedef struct ts_caffe_options {
    const char *prototxt;  /* deploy description; NULL: the layers stored in the caffemodel */
    const char *mean_file; /* .binaryproto mean image; NULL: mean_values or 0 */
    float mean_values[4];  /* per channel, Caffe (BGR) order, when n_mean_values > 0 */
    int n_mean_values;     /* 0, 1 (all channels) or the channel count */
    float scale;           /* Caffe's transform_param scale; 0 means 1 */
    bool rgb;              /* the model takes RGB input (no channel reversal) */
} ts_caffe_options;

/* Imports a caffemodel (weights, and the layers if no prototxt is given).
 * transfer: full (*out). */
ts_status ts_caffe_import(const char *caffemodel, const ts_caffe_options *opts, ts_model **out);

/* The same from memory: `model` may be NULL (structure only: the weights
 * stay zero), `prototxt` may be NULL (structure from the model), `mean`
 * may be NULL.  The names appear in messages.  (The fuzz entry point.) */
ts_status ts_caffe_import_buffers(const uint8_t *model, size_t model_len, const char *model_name,
                                  const char *prototxt, size_t prototxt_len, const char *prototxt_name,
                                  const uint8_t *mean, size_t mean_len, const char *mean_name,
                                  const ts_caffe_options *opts, ts_model **out);

/* The architecture description (arch.h language) of a prototxt, without
 * building anything.  transfer: full (*arch_text, free()). */
ts_status ts_caffe_prototxt_to_arch(const char *text, size_t len, const char *name, char **arch_text);

/* Per-channel mean (Caffe channel order) of a .binaryproto mean blob with
 * `channels` channels. */
ts_status ts_caffe_read_mean(const uint8_t *buf, size_t len, const char *name, int channels,
                             float *mean);

/* Writes `m` as prototxt + caffemodel (+ the mean .binaryproto when
 * mean_path is not NULL) as one set (fileio.h, ts_write_files_atomic):
 * on any failure every old file stays as it was.  TS_ERR_UNSUPPORTED for what
 * Caffe cannot express (asymmetric padding, floor-rounded pooling whose
 * size differs from Caffe's, an input read by a layer other than a
 * convolution) naming the layer. */
ts_status ts_caffe_export(const ts_model *m, const char *caffemodel_path, const char *prototxt_path,
                          const char *mean_path);

#endif
