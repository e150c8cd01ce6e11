/* model.h - a network plus everything needed to use it again: ts_model.
 *
 * A ts_model is a ts_graph (the layers and their parameters) and a
 * ts_model_meta that says how the network was built and what it expects:
 * the architecture (name AND full description text, so a custom
 * architecture reloads exactly), the trait and its class names, the input
 * (channels, size, per-channel normalisation, how the A(x,y) channel of a
 * LACNN model is encoded), the landmark method and face alignment the
 * training data went through, the training settings and the test accuracy.
 * ARCHITECTURE.md: model metadata is read in one place and decides how an
 * image becomes an input tensor (face/input.h), so a model always gets the
 * input it was trained with.
 *
 * Input values (what the first layer sees), channel c of the input tensor:
 *     x = (v - mean[c]) / std[c]
 * where v = pixel / 255 for the R, G, B channels (in that order) and, for a
 * 4-channel LACNN model, v = the A(x,y) value encoded as meta.amap_encoding
 * says ("index/67": landmark index 0..67 divided by 67).
 *
 * Checkpoints (checkpoint.c) are safetensors files, the format of the
 * Hugging Face `safetensors` library:
 *     u64 little-endian N | N bytes of JSON header | data section
 * The header maps each tensor name to {"dtype", "shape", "data_offsets"}
 * (offsets relative to the data section) plus "__metadata__" (string to
 * string).  Tensors are named "<node>.weight" / "<node>.bias" with PyTorch's
 * shapes (conv2d weight (O,C/groups,KH,KW), fc weight (O,K), bias (O)), so
 * `safetensors.torch.load_file()` gives a state dict a PyTorch user can load.
 * Metadata keys (all values are strings, JSON where structured):
 *     format            "pt"
 *     traitscope        checkpoint layout version, "1"
 *     arch, arch_text   name and full description (arch.h language)
 *     trait             e.g. "gender"
 *     classes           JSON array of class names, one per output
 *     in_channels       "3" (RGB) or "4" (RGB + A(x,y))
 *     input_size        side of the square input, e.g. "150"
 *     channel_order     "RGB" or "RGB+A"
 *     pixel_scale       "1/255"
 *     input_mean, input_std   JSON arrays, one number per channel
 *     amap_encoding     4-channel models only, e.g. "index/67"
 *     landmarks         "none" | "ert" | "cnn"
 *     alignment         "none" | "rotation" | "affine"
 *     training          JSON object (optimizer, epochs, data split...)
 *     test_accuracy     optional, a number in [0,1]
 *     content_hash      "sha256:" + hex SHA-256 of the data section bytes
 *                       exactly as stored (check: skip 8+N bytes, sha256sum)
 *
 * Reading treats the file as untrusted: every length, offset, dtype, shape
 * and metadata field is checked; any failure is TS_ERR_FORMAT (or _IO,
 * _OOM) with a message naming the file and what is wrong.
 */
#ifndef TS_MODEL_H
#define TS_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nn/graph.h"
#include "nn/sha256.h"
#include "nn/status.h"

typedef enum ts_landmark_method {
    TS_LANDMARKS_NONE = 0, /* no landmarks (3-channel baseline) */
    TS_LANDMARKS_ERT,      /* dlib ensemble of regression trees */
    TS_LANDMARKS_CNN,      /* face-api 68-point landmark net */
} ts_landmark_method;

typedef enum ts_alignment {
    TS_ALIGN_NONE = 0,
    TS_ALIGN_ROTATION, /* rotate so the eyes are level */
    TS_ALIGN_AFFINE,   /* affine warp to a template */
    TS_ALIGN_SIMILARITY, /* the canonical face frame: rotation + scale + shift (face/align.h) */
} ts_alignment;

#define TS_MODEL_MAX_CHANNELS 4
#define TS_MODEL_MAX_CLASSES 1000
#define TS_MODEL_MIN_SIZE 8
#define TS_MODEL_MAX_SIZE 1024
/* Default encoding of the A(x,y) channel (face/amap.h documents it). */
#define TS_AMAP_ENCODING_DEFAULT "index/67"

typedef struct ts_model_meta {
    char *arch;          /* "alexnet", or the name of a custom description */
    char *arch_text;     /* the full description the graph was built from */
    char *trait;         /* "gender", "age"... ("" if not set) */
    int n_classes;       /* == the graph's output channels */
    char **classes;      /* n_classes names */
    int in_channels;     /* 3 (RGB) or 4 (RGB + A(x,y)) */
    int in_size;         /* input is in_size x in_size */
    float mean[TS_MODEL_MAX_CHANNELS]; /* per channel, see the file comment */
    float std[TS_MODEL_MAX_CHANNELS];  /* per channel, > 0 */
    char *amap_encoding; /* "index/67" for 4-channel models, "" otherwise */
    ts_landmark_method landmarks;
    ts_alignment alignment;
    char *training;      /* JSON object text, "{}" when none */
    double test_accuracy; /* in [0,1]; negative when unknown */
    /* Hex SHA-256 of the data section of the file this model was last saved
     * to or loaded from; "" for a model that has never been on disk. */
    char hash[TS_SHA256_HEX_LEN + 1];
} ts_model_meta;

typedef struct ts_model {
    ts_graph *graph; /* owned */
    ts_model_meta meta;
} ts_model;

/* Options of ts_model_new; zero values mean the defaults. */
typedef struct ts_model_options {
    int in_channels;  /* 3 (default) or 4 */
    int size;         /* input side, default 150 */
    int classes;      /* outputs, default 2 */
    const char *const *class_names; /* `classes` names; NULL: "0", "1", ... */
    const char *trait;              /* NULL: "" */
    uint64_t seed;                  /* parameter initialisation */
    ts_landmark_method landmarks;   /* default: ert when there are 4 channels or an
                                     * alignment (both need landmarks), else none */
    ts_alignment alignment;
} ts_model_options;

/* Builds `arch` (a built-in name or a path to a description file, see
 * arch.h) with freshly initialised parameters and default normalisation.
 * TS_ERR_ARG for bad options, the arch parser's errors otherwise.
 * transfer: full (*out, ts_model_free). */
ts_status ts_model_new(const char *arch, const ts_model_options *opts, ts_model **out);

/* Builds a model whose graph comes from description text (used by the
 * checkpoint reader; `arch_name` only labels it).  Parameters are left
 * zero.  transfer: full. */
ts_status ts_model_new_from_text(const char *arch_name, const char *arch_text,
                                 int in_channels, int size, int classes, ts_model **out);

void ts_model_free(ts_model *m);

/* Metadata helpers.  Each setter copies its argument. */
ts_status ts_model_set_trait(ts_model *m, const char *trait);
ts_status ts_model_set_classes(ts_model *m, int n, const char *const *names);
ts_status ts_model_set_training(ts_model *m, const char *json);
const char *ts_landmark_method_name(ts_landmark_method m); /* "none", "ert", "cnn" */
const char *ts_alignment_name(ts_alignment a); /* "none", "rotation", "affine", "similarity" */
/* false when `s` names no method. */
bool ts_landmark_method_parse(const char *s, ts_landmark_method *out);
bool ts_alignment_parse(const char *s, ts_alignment *out);

/* ---- what the outputs mean -------------------------------------------- */

/* A head: the outputs that predict one trait.  A softmax model has one head
 * over all its outputs (meta.trait, meta.classes).  A multi-label model
 * (trained with the sigmoid loss; its training metadata says
 * "loss":"sigmoid") has one head per output: output k is the logit of
 * class 1 of trait k (P = sigmoid(z)); the classes come from the training
 * metadata's "outputs" (models trained before it existed: "no", "yes"). */
#define TS_MODEL_MAX_HEADS 64
typedef struct ts_model_head {
    char trait[64];
    int output;        /* first output of the head */
    int n_classes;     /* softmax: the model's classes; sigmoid: 2 */
    bool sigmoid;
    char classes[2][64]; /* sigmoid heads; softmax heads use meta.classes */
} ts_model_head;

/* Fills up to `max` heads; returns the count (>= 1 for any model). */
int ts_model_heads(const ts_model *m, ts_model_head *heads, int max);
bool ts_model_multilabel(const ts_model *m);
/* Name of class c of a head. */
const char *ts_model_head_class(const ts_model *m, const ts_model_head *h, int c);
/* Class probabilities of one head from the model's output logits z (all
 * K of them): softmax over a softmax head, (1 - s, s) for a sigmoid head.
 * probs: h->n_classes floats.  Returns the most probable class. */
int ts_model_head_probs(const ts_model_head *h, const float *z, int K, float *probs);

/* ---- checkpoints (checkpoint.c) ---------------------------------------- */

typedef enum ts_dtype {
    TS_DTYPE_F32 = 0,
    TS_DTYPE_F16,  /* IEEE half, round to nearest even; halves the file */
    TS_DTYPE_BF16, /* read only */
} ts_dtype;

/* Largest header and file the reader accepts. */
#define TS_CHECKPOINT_MAX_HEADER (100u << 20)
#define TS_CHECKPOINT_MAX_FILE ((size_t)8 << 30)

/* Writes the model to `path` atomically (temporary file, fsync, rename: on
 * failure the previous file is untouched) with tensors stored as `dtype`
 * (F32 or F16), and sets m->meta.hash to the new content hash. */
ts_status ts_model_save(ts_model *m, const char *path, ts_dtype dtype);

/* Reads a checkpoint, rebuilds its architecture from the stored text,
 * checks every tensor against it and the content hash.  transfer: full. */
ts_status ts_model_load(const char *path, ts_model **out);
/* Opens any model file the app accepts, by extension: .onnx (onnx.h),
 * .caffemodel (caffe.h; NAME.prototxt or deploy.prototxt and a mean
 * .binaryproto are looked for beside it), otherwise a safetensors
 * checkpoint.  Imported models become ordinary models (architecture text +
 * weights + metadata).  (model-any.c)  transfer: full. */
ts_status ts_model_load_any(const char *path, ts_model **out);
/* Same from memory; `name` is used in error messages (the fuzz target's
 * entry point). */
ts_status ts_model_load_buffer(const uint8_t *buf, size_t len, const char *name, ts_model **out);

/* TS_ERR_FORMAT naming `name`, the tensor and the index when a parameter
 * (weight or bias) or the input normalisation is NaN or infinite: such a
 * model would predict plausible-looking numbers from garbage.  Every
 * loader (checkpoint, ONNX, Caffe) runs it. */
ts_status ts_model_check_finite(const ts_model *m, const char *name);

/* A copy of m (on the host) with every batchnorm that stands right behind
 * a conv2d or fc read by nothing else folded into that layer (weight s w,
 * bias s (b - mean) + beta, s = gamma / sqrt(var + eps), the evaluation's
 * map; the layer gains a bias): the same outputs in evaluation, fewer ops,
 * and an architecture without those layers (a model to deploy or export
 * to Caffe; it can no longer be trained as a batch-normalised net).  Other
 * batchnorm layers stay.  The metadata is m's.  *folded (may be NULL): how
 * many were folded.  transfer: full (*out). */
ts_status ts_model_fold_batchnorm(const ts_model *m, ts_model **out, int *folded);

/* The conv2d or fc node that batchnorm node i of g folds into (its input,
 * when nothing else reads it and it is not the output), or -1: the rule of
 * ts_model_fold_batchnorm and of LRP's canonisation (explain/lrp.c). */
int ts_batchnorm_fold_target(const ts_graph *g, int i);
/* Folds a batchnorm (gamma, beta, mean, var, eps: O values each) into the
 * layer before it, host arrays: w (O rows of `per` weights) becomes s w
 * and b (O) becomes s (b - mean) + beta, s = gamma / sqrt(var + eps). */
void ts_batchnorm_fold(int O, size_t per, const float *gamma, const float *beta, const float *mean,
                       const float *var, float eps, float *w, float *b);

/* m's parameters become the mean of its own and those of others[0..n-1]
 * (equal weights; nn/soup.c): a model soup or a weight average.  The models
 * must be alike (architecture text, input, outputs, preprocessing, tensors
 * and shapes): TS_ERR_ARG naming the first that is not (names[k] for
 * others[k], name for m), and m is left unchanged.  m's metadata stays
 * (its hash is cleared); the caller records the soup. */
ts_status ts_model_average(ts_model *m, const ts_model *const *others, int n, const char *name,
                           const char *const *names);
/* Why b cannot be averaged with a ("another input (channels or size)"...),
 * from their metadata; NULL when it can (tensors aside). */
const char *ts_model_unlike(const ts_model *a, const ts_model *b);

/* One stored tensor, as listed by ts_model_tensors. */
typedef struct ts_model_tensor {
    char name[TS_NAME_MAX + 8]; /* "conv1.weight" */
    int ndim;
    int shape[4];               /* PyTorch shape */
    const ts_tensor *t;         /* view into the graph's parameters */
} ts_model_tensor;

/* The tensors a checkpoint of this model holds, in file order.  Returns the
 * count; writes at most `max` entries (call with max 0 to size). */
int ts_model_tensors(const ts_model *m, ts_model_tensor *out, int max);

#endif
