/* tfjs.h - reader for TensorFlow.js weights: a JSON manifest plus binary shards.
 *
 * Format (TensorFlow.js "weights manifest", tfjs-core io, as written by
 * tensorflowjs_converter and shipped by face-api):
 *   - the manifest is either a JSON array of weight groups or an object whose
 *     "weightsManifest" member is that array (model.json);
 *   - a group is {"paths": [shard file names, relative to the manifest's
 *     folder], "weights": [{"name", "shape": [d0..], "dtype",
 *     "quantization"?: {"dtype", "scale", "min"} | {"dtype": "float16"}}]};
 *   - the shards of a group, concatenated in order, hold the group's weights
 *     back to back, little-endian, each numel * (bytes of the stored dtype);
 *   - stored dtypes: float32, int32 (raw), uint8/uint16 (affine-quantized:
 *     value = q * scale + min), float16 (IEEE half).  All values are
 *     converted to float32 here.
 *
 * Invariants of a loaded ts_tfjs: every weight's data holds exactly numel
 * floats; rank <= TS_TFJS_MAX_RANK; names are unique within the file (a
 * duplicate is a format error).  Every byte count, offset, shape and
 * element count of the untrusted manifest is checked against the shard
 * sizes and against overflow before use; errors name the manifest file and
 * the weight.
 */
#ifndef TS_TFJS_H
#define TS_TFJS_H

#include <stddef.h>
#include <stdint.h>

#include "nn/status.h"

#define TS_TFJS_MAX_RANK 6
#define TS_TFJS_NAME_MAX 128
/* Caps that keep a hostile manifest from asking for absurd memory. */
#define TS_TFJS_MAX_MANIFEST (16u << 20)      /* bytes of JSON */
#define TS_TFJS_MAX_SHARD ((size_t)1 << 31)   /* bytes per shard file */
#define TS_TFJS_MAX_WEIGHTS 100000

typedef struct ts_tfjs_weight {
    char name[TS_TFJS_NAME_MAX];
    int rank;
    int shape[TS_TFJS_MAX_RANK]; /* TensorFlow order, e.g. (KH,KW,C,O) for conv filters */
    size_t numel;
    float *data;                 /* numel floats, owned by the ts_tfjs */
} ts_tfjs_weight;

typedef struct ts_tfjs {
    char source[256];            /* manifest file name, for error messages */
    int n;
    ts_tfjs_weight *weights;     /* n entries, manifest order */
    float *values;               /* one block holding every weight's data */
} ts_tfjs;

/* Loads a manifest file and its shards (looked up beside the manifest).
 * TS_ERR_IO when a file cannot be read, TS_ERR_FORMAT for a bad manifest or
 * shard, TS_ERR_UNSUPPORTED for a dtype this reader does not convert.
 * transfer: full (*out, ts_tfjs_free). */
ts_status ts_tfjs_load(const char *manifest_path, ts_tfjs **out);

/* Same from memory: `json` is the manifest, `bins` the concatenation of all
 * shards of all groups in manifest order (the shards' individual sizes are
 * not checked, only the total per group).  `name` is used in messages.
 * This is the entry point of the fuzz target. */
ts_status ts_tfjs_parse(const char *json, size_t json_len, const uint8_t *bins, size_t bins_len,
                        const char *name, ts_tfjs **out);

/* transfer: none.  The weight called `name`, or NULL. */
const ts_tfjs_weight *ts_tfjs_find(const ts_tfjs *t, const char *name);

/* The weight called `name`, checked to have exactly the given rank and
 * shape; TS_ERR_FORMAT naming the file, the weight and both shapes
 * otherwise.  transfer: none (*out). */
ts_status ts_tfjs_get(const ts_tfjs *t, const char *name, int rank, const int *shape,
                      const ts_tfjs_weight **out);

void ts_tfjs_free(ts_tfjs *t);

/* IEEE 754 binary16 to float (exported for tests). */
float ts_tfjs_half_to_float(uint16_t h);

#endif
