/* model-any.c - ts_model_load_any: one entry point for every model file the
 * app and the CLI open (see model.h).
 *
 * The format comes from the file name's extension: .onnx (onnx.h),
 * .caffemodel (caffe.h; its description is NAME.prototxt beside it, else
 * deploy.prototxt in the same folder, else the layers stored in the
 * caffemodel; its mean is NAME.binaryproto, NAME-mean.binaryproto or
 * mean.binaryproto in the same folder when one exists), anything else a
 * safetensors checkpoint (checkpoint.c).  Caffe models are read as BGR
 * models trained with Caffe's usual input (caffe.h); the companion files
 * found are recorded in meta.training by the importer.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "nn/caffe.h"
#include "nn/model.h"
#include "nn/onnx.h"

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcasecmp(s + n - k, suffix);
}

/* dir/NAME with NAME = the base of `path` without `ext`, plus `tail`; or
 * dir/tail when `same_dir` is set.  transfer: full. */
static char *sibling(const char *path, const char *ext, const char *tail, bool same_dir)
{
    size_t n = strlen(path), k = strlen(ext);
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path + 1) : 0;
    size_t stem = same_dir ? dir_len : n - k;
    char *s = malloc(stem + strlen(tail) + 1);
    if (!s) return NULL;
    memcpy(s, path, stem);
    strcpy(s + stem, tail);
    return s;
}

static char *first_existing(const char *path, const char *ext, const char *const *tails, const bool *same_dir, int n)
{
    for (int i = 0; i < n; i++) {
        char *p = sibling(path, ext, tails[i], same_dir[i]);
        if (p && access(p, R_OK) == 0) return p;
        free(p);
    }
    return NULL;
}

ts_status ts_model_load_any(const char *path, ts_model **out)
{
    *out = NULL;
    if (has_suffix(path, ".onnx")) return ts_onnx_import(path, out);
    if (!has_suffix(path, ".caffemodel")) return ts_model_load(path, out);
    static const char *const proto[] = { ".prototxt", "deploy.prototxt" };
    static const bool proto_dir[] = { false, true };
    static const char *const mean[] = { ".binaryproto", "-mean.binaryproto", "mean.binaryproto" };
    static const bool mean_dir[] = { false, false, true };
    ts_caffe_options o = { 0 };
    char *p = first_existing(path, ".caffemodel", proto, proto_dir, 2);
    char *mp = first_existing(path, ".caffemodel", mean, mean_dir, 3);
    o.prototxt = p;
    o.mean_file = mp;
    ts_status st = ts_caffe_import(path, &o, out);
    free(p);
    free(mp);
    return st;
}
