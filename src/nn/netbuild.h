/* netbuild.h - building a ts_model from a network read in another format
 * (internal to the Caffe and ONNX importers).
 *
 * An importer appends layers (ts_node records used as plain descriptions:
 * op, name, inputs, hyper-parameters) and their weights in the shapes our
 * graph uses (conv2d weight (O, C/groups, KH, KW), fc weight (O, K, 1, 1),
 * biases (1, O, 1, 1); batchnorm: gamma, running mean and running
 * variance one after the other as a (3, C, 1, 1) weight, beta as the
 * bias).  ts_netbuild_finish writes the architecture text
 * (arch.h language), builds the model from it, so an imported model is
 * stored like any other, and copies the weights after checking each shape
 * against the graph.  Index 0 is the input; inputs refer to earlier
 * indices.
 */
#ifndef TS_NETBUILD_H
#define TS_NETBUILD_H

#include "nn/model.h"

typedef struct ts_netbuild {
    ts_node *nodes;   /* n; nodes[0] is the input */
    float **w, **b;   /* per node: weights and bias (owned, NULL if none) */
    int (*wshape)[4]; /* per node: weight shape as our graph lays it out */
    int n, cap;
    int output;       /* index of the logits; -1: the last node */
} ts_netbuild;

/* Starts a network whose input is (c, h, w). */
ts_status ts_netbuild_init(ts_netbuild *nb, int c, int h, int w);
void ts_netbuild_clear(ts_netbuild *nb);

/* Appends a layer; `name` is made a valid, unique layer name (characters
 * the description language would split on become '_', long names are cut,
 * duplicates get a suffix).  Hyper-parameters get ts_graph_add's defaults.
 * Returns the index, or -1 (TS_ERR_OOM / TS_ERR_FORMAT set) on failure.
 * The returned index stays valid; pointers into nodes do not. */
int ts_netbuild_add(ts_netbuild *nb, ts_op op, const char *name, int n_inputs, const int *inputs);

/* Gives layer i its weights (taken: freed by the builder) with the shape
 * of our graph's tensor; b may be NULL (no bias). */
void ts_netbuild_set_params(ts_netbuild *nb, int i, float *w_take, const int wshape[4],
                            float *b_take);

/* Number of layers reading layer i. */
int ts_netbuild_consumers(const ts_netbuild *nb, int i);

/* Description text of the network (arch.h language).  transfer: full. */
char *ts_netbuild_text(const ts_netbuild *nb);

/* Builds the model: parses the text, checks the input is 3 or 4 channels
 * and square and the output is (classes, 1, 1), copies every weight.
 * `source` names the original file in errors.  transfer: full (*out). */
ts_status ts_netbuild_finish(ts_netbuild *nb, const char *arch_name, const char *source,
                             ts_model **out);

/* Model metadata as "traitscope.KEY" string pairs (the safetensors keys of
 * model.h: arch, trait, classes, input_mean, input_std, amap_encoding,
 * landmarks, alignment, training, test_accuracy), for formats with a
 * string-to-string metadata table (ONNX metadata_props, prototxt comments).
 * Returns the count (at most TS_NETBUILD_META_MAX); keys and values are
 * heap strings (ts_netbuild_meta_free). */
#define TS_NETBUILD_META_MAX 12
int ts_netbuild_meta_pairs(const ts_model *m, char *keys[], char *values[]);
void ts_netbuild_meta_free(char *keys[], char *values[], int n);
/* Applies one pair read back from a file (untrusted: values are checked;
 * unknown keys are ignored).  TS_ERR_FORMAT naming `source` and the key. */
ts_status ts_netbuild_meta_apply(ts_model *m, const char *key, const char *value,
                                 const char *source);

/* A list of heap blocks freed together (parsers of untrusted files). */
typedef struct ts_pool { void **p; size_t n, cap; } ts_pool;
/* Zeroed memory owned by the pool; NULL (TS_ERR_OOM set) on failure. */
void *ts_pool_alloc(ts_pool *pool, size_t size);
/* Hands a malloc'd block to the pool (freed at once if that fails). */
void *ts_pool_keep(ts_pool *pool, void *block);
void ts_pool_clear(ts_pool *pool);

#endif
