/* caffe.c - Caffe import and export; see caffe.h for the conventions.
 *
 * Both encodings of a net decode into the same structs (cnet, clayer): the
 * text parser first builds a tree of `key: value` / `key { ... }` entries,
 * the binary parser walks protobuf fields; the layer parameters of both go
 * through one table (param_table) that ties each parameter's field number
 * to its text name, so the two readers cannot drift apart.  Everything
 * decoded lives in one ts_pool, freed at once.  The net is then turned into
 * layers of a ts_netbuild (netbuild.h), which writes the description text,
 * builds the model and checks every weight's shape.
 *
 * Field numbers (caffe.proto): NetParameter name 1, layers 2 (V1), input 3,
 * input_dim 4, input_shape 8, layer 100.  LayerParameter name 1, type 2,
 * bottom 3, top 4, blobs 7, include 8, exclude 9, concat_param 104,
 * convolution_param 106, dropout_param 108, eltwise_param 110,
 * inner_product_param 117, lrn_param 118, pooling_param 121, relu_param 123,
 * input_param 143 (InputParameter shape 1).  V1LayerParameter bottom 2,
 * top 3, name 4, type 5 (enum), blobs 6, concat_param 9, convolution_param
 * 10, dropout_param 12, inner_product_param 17, lrn_param 18, pooling_param
 * 19, eltwise_param 24, relu_param 30, include 32, exclude 33.
 * NetStateRule phase 1 (TRAIN 0, TEST 1).  BlobProto num 1, channels 2,
 * height 3, width 4, data 5 (packed float), double_data 8, shape 7;
 * BlobShape dim 1 (packed int64).
 */
#include "nn/strbuf.h"
#include "nn/caffe.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/fileio.h"
#include "nn/netbuild.h"
#include "nn/protobuf.h"
#include "nn/shape.h"

#define MAX_STR 4096
#define MAX_LIST 1000000
#define MAX_ELEMS ((size_t)1 << 30)
#define MAX_TEXT_NODES 2000000

/* ---- the layer parameter table ---- */

enum pmsg { M_CONV, M_POOL, M_LRN, M_IP, M_DROPOUT, M_RELU, M_ELTWISE, M_CONCAT, M_COUNT };
enum pkind { K_INT, K_FLOAT, K_BOOL, K_ENUM, K_REP };
enum pid {
    P_NUM_OUTPUT, P_BIAS_TERM, P_PAD, P_PAD_H, P_PAD_W, P_KERNEL, P_KERNEL_H, P_KERNEL_W, P_STRIDE,
    P_STRIDE_H, P_STRIDE_W, P_GROUP, P_DILATION, P_CONV_AXIS, P_POOL, P_GLOBAL, P_ROUND,
    P_LOCAL_SIZE, P_ALPHA, P_BETA, P_NORM_REGION, P_K, P_IP_AXIS, P_TRANSPOSE, P_DROPOUT, P_SLOPE,
    P_ELT_OP, P_COEFF, P_CONCAT_AXIS, P_CONCAT_DIM, P_COUNT
};

static const char *const pool_enum[] = { "MAX", "AVE", "STOCHASTIC", NULL };
static const char *const region_enum[] = { "ACROSS_CHANNELS", "WITHIN_CHANNEL", NULL };
static const char *const elt_enum[] = { "PROD", "SUM", "MAX", NULL };
static const char *const round_enum[] = { "CEIL", "FLOOR", NULL };

typedef struct pentry {
    enum pmsg msg;
    uint32_t num;
    const char *name;
    enum pid id;
    enum pkind kind;
    const char *const *enums;
} pentry;

static const pentry param_table[] = {
    { M_CONV, 1, "num_output", P_NUM_OUTPUT, K_INT, NULL },
    { M_CONV, 2, "bias_term", P_BIAS_TERM, K_BOOL, NULL },
    { M_CONV, 3, "pad", P_PAD, K_REP, NULL },
    { M_CONV, 4, "kernel_size", P_KERNEL, K_REP, NULL },
    { M_CONV, 5, "group", P_GROUP, K_INT, NULL },
    { M_CONV, 6, "stride", P_STRIDE, K_REP, NULL },
    { M_CONV, 9, "pad_h", P_PAD_H, K_INT, NULL },
    { M_CONV, 10, "pad_w", P_PAD_W, K_INT, NULL },
    { M_CONV, 11, "kernel_h", P_KERNEL_H, K_INT, NULL },
    { M_CONV, 12, "kernel_w", P_KERNEL_W, K_INT, NULL },
    { M_CONV, 13, "stride_h", P_STRIDE_H, K_INT, NULL },
    { M_CONV, 14, "stride_w", P_STRIDE_W, K_INT, NULL },
    { M_CONV, 16, "axis", P_CONV_AXIS, K_INT, NULL },
    { M_CONV, 18, "dilation", P_DILATION, K_REP, NULL },
    { M_POOL, 1, "pool", P_POOL, K_ENUM, pool_enum },
    { M_POOL, 2, "kernel_size", P_KERNEL, K_INT, NULL },
    { M_POOL, 3, "stride", P_STRIDE, K_INT, NULL },
    { M_POOL, 4, "pad", P_PAD, K_INT, NULL },
    { M_POOL, 5, "kernel_h", P_KERNEL_H, K_INT, NULL },
    { M_POOL, 6, "kernel_w", P_KERNEL_W, K_INT, NULL },
    { M_POOL, 7, "stride_h", P_STRIDE_H, K_INT, NULL },
    { M_POOL, 8, "stride_w", P_STRIDE_W, K_INT, NULL },
    { M_POOL, 9, "pad_h", P_PAD_H, K_INT, NULL },
    { M_POOL, 10, "pad_w", P_PAD_W, K_INT, NULL },
    { M_POOL, 12, "global_pooling", P_GLOBAL, K_BOOL, NULL },
    { M_POOL, 13, "round_mode", P_ROUND, K_ENUM, round_enum }, /* later Caffe versions */
    { M_LRN, 1, "local_size", P_LOCAL_SIZE, K_INT, NULL },
    { M_LRN, 2, "alpha", P_ALPHA, K_FLOAT, NULL },
    { M_LRN, 3, "beta", P_BETA, K_FLOAT, NULL },
    { M_LRN, 4, "norm_region", P_NORM_REGION, K_ENUM, region_enum },
    { M_LRN, 5, "k", P_K, K_FLOAT, NULL },
    { M_IP, 1, "num_output", P_NUM_OUTPUT, K_INT, NULL },
    { M_IP, 2, "bias_term", P_BIAS_TERM, K_BOOL, NULL },
    { M_IP, 5, "axis", P_IP_AXIS, K_INT, NULL },
    { M_IP, 6, "transpose", P_TRANSPOSE, K_BOOL, NULL },
    { M_DROPOUT, 1, "dropout_ratio", P_DROPOUT, K_FLOAT, NULL },
    { M_RELU, 1, "negative_slope", P_SLOPE, K_FLOAT, NULL },
    { M_ELTWISE, 1, "operation", P_ELT_OP, K_ENUM, elt_enum },
    { M_ELTWISE, 2, "coeff", P_COEFF, K_FLOAT, NULL },
    { M_CONCAT, 1, "concat_dim", P_CONCAT_DIM, K_INT, NULL },
    { M_CONCAT, 2, "axis", P_CONCAT_AXIS, K_INT, NULL },
};

/* Field numbers and text names of each parameter message in a layer. */
static const struct { const char *name; uint32_t num, v1_num; } param_msgs[M_COUNT] = {
    [M_CONV] = { "convolution_param", 106, 10 },   [M_POOL] = { "pooling_param", 121, 19 },
    [M_LRN] = { "lrn_param", 118, 18 },            [M_IP] = { "inner_product_param", 117, 17 },
    [M_DROPOUT] = { "dropout_param", 108, 12 },    [M_RELU] = { "relu_param", 123, 30 },
    [M_ELTWISE] = { "eltwise_param", 110, 24 },    [M_CONCAT] = { "concat_param", 104, 9 },
};

/* V1LayerParameter.LayerType values and the type strings they became. */
static const struct { int v; const char *name, *type; } v1_types[] = {
    { 35, "ABSVAL", "AbsVal" },        { 1, "ACCURACY", "Accuracy" },   { 30, "ARGMAX", "ArgMax" },
    { 2, "BNLL", "BNLL" },             { 3, "CONCAT", "Concat" },       { 37, "CONTRASTIVE_LOSS", "ContrastiveLoss" },
    { 4, "CONVOLUTION", "Convolution" }, { 5, "DATA", "Data" },         { 39, "DECONVOLUTION", "Deconvolution" },
    { 6, "DROPOUT", "Dropout" },       { 32, "DUMMY_DATA", "DummyData" }, { 7, "EUCLIDEAN_LOSS", "EuclideanLoss" },
    { 25, "ELTWISE", "Eltwise" },      { 38, "EXP", "Exp" },            { 8, "FLATTEN", "Flatten" },
    { 9, "HDF5_DATA", "HDF5Data" },    { 10, "HDF5_OUTPUT", "HDF5Output" }, { 28, "HINGE_LOSS", "HingeLoss" },
    { 11, "IM2COL", "Im2col" },        { 12, "IMAGE_DATA", "ImageData" }, { 13, "INFOGAIN_LOSS", "InfogainLoss" },
    { 14, "INNER_PRODUCT", "InnerProduct" }, { 15, "LRN", "LRN" },      { 29, "MEMORY_DATA", "MemoryData" },
    { 16, "MULTINOMIAL_LOGISTIC_LOSS", "MultinomialLogisticLoss" },     { 34, "MVN", "MVN" },
    { 17, "POOLING", "Pooling" },      { 26, "POWER", "Power" },        { 18, "RELU", "ReLU" },
    { 19, "SIGMOID", "Sigmoid" },      { 27, "SIGMOID_CROSS_ENTROPY_LOSS", "SigmoidCrossEntropyLoss" },
    { 36, "SILENCE", "Silence" },      { 20, "SOFTMAX", "Softmax" },    { 21, "SOFTMAX_LOSS", "SoftmaxWithLoss" },
    { 22, "SPLIT", "Split" },          { 33, "SLICE", "Slice" },        { 23, "TANH", "TanH" },
    { 24, "WINDOW_DATA", "WindowData" }, { 31, "THRESHOLD", "Threshold" },
};

/* ---- decoded net ---- */

typedef struct cblob {
    int ndim;
    int64_t dims[8];
    size_t count;
    float *data;
} cblob;

typedef struct clayer {
    const char *name, *type;
    const char **bottom, **top;
    int n_bottom, n_top;
    bool skip; /* training-only (include TRAIN / exclude TEST) */
    double pv[P_COUNT][2];
    int pn[P_COUNT];
    int64_t in_dims[8]; /* Input layer shape */
    int in_ndim;
    cblob *blobs;
    int n_blobs;
    int line; /* text: where the layer starts; binary: 0 */
    size_t offset;
} clayer;

typedef struct cnet {
    ts_pool *pool;
    const char *src;
    const char *name;
    clayer *layers;
    int n_layers;
    const char *input;
    int64_t in_dims[8];
    int in_ndim;
    /* "# traitscope.KEY: value" comments (text only) */
    const char **mkeys, **mvals;
    int n_meta, cap_meta;
} cnet;

static void set_param(clayer *l, enum pid id, double x)
{
    if (id == P_COEFF) {
        /* Only whether some coefficient differs from 1 matters. */
        if (x != 1.0) l->pv[P_COEFF][0] = 1;
        l->pn[P_COEFF] = 1;
        return;
    }
    if (l->pn[id] < 2) l->pv[id][l->pn[id]] = x;
    if (l->pn[id] < 1000) l->pn[id]++;
}

static double param(const clayer *l, enum pid id, double def)
{
    return l->pn[id] ? l->pv[id][0] : def;
}

static const pentry *find_entry(enum pmsg msg, uint32_t num, const char *name)
{
    for (size_t i = 0; i < sizeof param_table / sizeof param_table[0]; i++) {
        const pentry *e = &param_table[i];
        if (e->msg == msg && (name ? !strcmp(e->name, name) : e->num == num)) return e;
    }
    return NULL;
}

static const char *v1_type_name(int v)
{
    for (size_t i = 0; i < sizeof v1_types / sizeof v1_types[0]; i++)
        if (v1_types[i].v == v) return v1_types[i].type;
    return NULL;
}

static const char *v1_type_from_ident(const char *ident)
{
    for (size_t i = 0; i < sizeof v1_types / sizeof v1_types[0]; i++)
        if (!strcmp(v1_types[i].name, ident)) return v1_types[i].type;
    return NULL;
}

/* ---- binary reading ---- */

static ts_status count_field(ts_pb r, uint32_t num, int *count)
{
    ts_pb_field f;
    bool got;
    *count = 0;
    for (;;) {
        TS_TRY(ts_pb_next(&r, &f, &got));
        if (!got) return TS_OK;
        if (f.num == num) {
            if (*count >= MAX_LIST) return ts_error(TS_ERR_FORMAT, "%s: too many repeated fields", r.name);
            (*count)++;
        }
    }
}

static ts_status get_string(ts_pool *pool, const ts_pb *r, const ts_pb_field *f, const char *what,
                            const char **out)
{
    char *s;
    TS_TRY(ts_pb_string(r, f, what, MAX_STR, &s));
    if (!ts_pool_keep(pool, s)) return TS_ERR_OOM;
    *out = s;
    return TS_OK;
}

static ts_status parse_blob_shape(ts_pb r, int64_t *dims, int *ndim)
{
    ts_pb_field f;
    bool got;
    ts_pb_ints v = { 0 };
    ts_status st = TS_OK;
    while (st == TS_OK) {
        if ((st = ts_pb_next(&r, &f, &got)) != TS_OK || !got) break;
        if (f.num == 1) st = ts_pb_append_ints(&r, &f, "BlobShape.dim", 8, &v);
    }
    if (st == TS_OK) {
        *ndim = (int)v.n;
        for (size_t k = 0; k < v.n; k++) dims[k] = v.v[k];
    }
    free(v.v);
    return st;
}

/* A BlobProto: shape (or the legacy num/channels/height/width) and data. */
static ts_status parse_blob(ts_pool *pool, ts_pb r, size_t off, cblob *b)
{
    ts_pb_field f;
    bool got;
    ts_pb_floats data = { 0 };
    int64_t legacy[4] = { 0, 0, 0, 0 };
    bool has_legacy = false, has_shape = false;
    ts_status st = TS_OK;
    memset(b, 0, sizeof *b);
    while (st == TS_OK) {
        if ((st = ts_pb_next(&r, &f, &got)) != TS_OK || !got) break;
        ts_pb sub;
        switch (f.num) {
        case 1: case 2: case 3: case 4:
            st = ts_pb_int(&r, &f, "BlobProto.num/channels/height/width", 0, 1 << 30, &legacy[f.num - 1]);
            has_legacy = true;
            break;
        case 5: st = ts_pb_append_floats(&r, &f, "BlobProto.data", MAX_ELEMS, &data); break;
        case 8: st = ts_pb_append_doubles(&r, &f, "BlobProto.double_data", MAX_ELEMS, &data); break;
        case 7:
            if ((st = ts_pb_sub(&r, &f, "BlobProto.shape", &sub)) == TS_OK)
                st = parse_blob_shape(sub, b->dims, &b->ndim);
            has_shape = true;
            break;
        default: break;
        }
    }
    if (st == TS_OK && !has_shape && has_legacy) {
        b->ndim = 4;
        memcpy(b->dims, legacy, sizeof legacy);
    }
    if (st == TS_OK) {
        b->count = 1;
        for (int k = 0; k < b->ndim && st == TS_OK; k++) {
            int64_t d = b->dims[k];
            if (d < 0 || d > (int64_t)MAX_ELEMS || (d && b->count > MAX_ELEMS / (size_t)d))
                st = ts_error(TS_ERR_FORMAT, "%s: offset %zu: blob dimensions out of range", r.name, off);
            else b->count *= (size_t)d;
        }
        if (st == TS_OK && (!has_shape && !has_legacy)) b->count = data.n, b->ndim = 1, b->dims[0] = (int64_t)data.n;
        if (st == TS_OK && data.n != b->count)
            st = ts_error(TS_ERR_FORMAT, "%s: offset %zu: blob holds %zu values but its shape says %zu",
                          r.name, off, data.n, b->count);
    }
    if (st == TS_OK) {
        b->data = data.v ? ts_pool_keep(pool, data.v) : ts_pool_alloc(pool, sizeof(float));
        if (!b->data) st = TS_ERR_OOM;
        data.v = NULL;
    }
    free(data.v);
    return st;
}

static ts_status parse_param_msg(ts_pb r, enum pmsg msg, clayer *l)
{
    ts_pb_field f;
    bool got;
    for (;;) {
        TS_TRY(ts_pb_next(&r, &f, &got));
        if (!got) return TS_OK;
        const pentry *e = find_entry(msg, f.num, NULL);
        if (!e) continue;
        if (e->kind == K_FLOAT) {
            ts_pb_floats v = { 0 };
            ts_status st = ts_pb_append_floats(&r, &f, e->name, 4096, &v);
            for (size_t k = 0; st == TS_OK && k < v.n; k++) set_param(l, e->id, v.v[k]);
            free(v.v);
            TS_TRY(st);
        } else {
            ts_pb_ints v = { 0 };
            ts_status st = ts_pb_append_ints(&r, &f, e->name, 4096, &v);
            for (size_t k = 0; st == TS_OK && k < v.n; k++) {
                /* uint32/int32 fields: anything outside int32 is damage */
                if (v.v[k] < INT32_MIN || v.v[k] > INT32_MAX)
                    st = ts_error(TS_ERR_FORMAT, "%s: offset %zu: %s out of range", r.name, f.offset, e->name);
                else set_param(l, e->id, (double)v.v[k]);
            }
            free(v.v);
            TS_TRY(st);
        }
    }
}

/* NetStateRule: phase TRAIN (0) or TEST (1); -1 when unset. */
static ts_status rule_phase(ts_pb r, int *phase)
{
    ts_pb_field f;
    bool got;
    *phase = -1;
    for (;;) {
        TS_TRY(ts_pb_next(&r, &f, &got));
        if (!got) return TS_OK;
        int64_t v;
        if (f.num == 1) {
            TS_TRY(ts_pb_int(&r, &f, "NetStateRule.phase", 0, 1, &v));
            *phase = (int)v;
        }
    }
}

static ts_status parse_layer_bin(cnet *net, ts_pb r, bool v1, clayer *l)
{
    ts_pool *pool = net->pool;
    uint32_t f_name = v1 ? 4 : 1, f_bottom = v1 ? 2 : 3, f_top = v1 ? 3 : 4, f_blobs = v1 ? 6 : 7,
             f_inc = v1 ? 32 : 8, f_exc = v1 ? 33 : 9;
    TS_TRY(count_field(r, f_bottom, &l->n_bottom));
    TS_TRY(count_field(r, f_top, &l->n_top));
    TS_TRY(count_field(r, f_blobs, &l->n_blobs));
    l->bottom = ts_pool_alloc(pool, (size_t)(l->n_bottom + 1) * sizeof *l->bottom);
    l->top = ts_pool_alloc(pool, (size_t)(l->n_top + 1) * sizeof *l->top);
    l->blobs = ts_pool_alloc(pool, (size_t)(l->n_blobs + 1) * sizeof *l->blobs);
    if (!l->bottom || !l->top || !l->blobs) return TS_ERR_OOM;
    l->name = l->type = "";
    int kb = 0, kt = 0, kbl = 0;
    ts_pb_field f;
    bool got;
    for (;;) {
        TS_TRY(ts_pb_next(&r, &f, &got));
        if (!got) break;
        ts_pb sub;
        int64_t v;
        int phase;
        if (f.num == f_name) TS_TRY(get_string(pool, &r, &f, "layer name", &l->name));
        else if (f.num == f_bottom) TS_TRY(get_string(pool, &r, &f, "layer bottom", &l->bottom[kb++]));
        else if (f.num == f_top) TS_TRY(get_string(pool, &r, &f, "layer top", &l->top[kt++]));
        else if (f.num == f_blobs) {
            TS_TRY(ts_pb_sub(&r, &f, "layer blobs", &sub));
            TS_TRY(parse_blob(pool, sub, f.offset, &l->blobs[kbl++]));
        } else if (f.num == f_inc || f.num == f_exc) {
            TS_TRY(ts_pb_sub(&r, &f, "layer include/exclude", &sub));
            TS_TRY(rule_phase(sub, &phase));
            if ((f.num == f_inc && phase == 0) || (f.num == f_exc && phase == 1)) l->skip = true;
        } else if (!v1 && f.num == 2) {
            TS_TRY(get_string(pool, &r, &f, "layer type", &l->type));
        } else if (v1 && f.num == 5) {
            TS_TRY(ts_pb_int(&r, &f, "V1 layer type", 0, 1000, &v));
            const char *t = v1_type_name((int)v);
            l->type = t ? t : "(unknown V1 type)";
        } else if (!v1 && f.num == 143) {
            /* InputParameter: the first shape */
            TS_TRY(ts_pb_sub(&r, &f, "input_param", &sub));
            ts_pb_field g;
            for (;;) {
                TS_TRY(ts_pb_next(&sub, &g, &got));
                if (!got) break;
                ts_pb shape;
                if (g.num == 1 && !l->in_ndim) {
                    TS_TRY(ts_pb_sub(&sub, &g, "input_param.shape", &shape));
                    TS_TRY(parse_blob_shape(shape, l->in_dims, &l->in_ndim));
                }
            }
        } else {
            for (int m = 0; m < M_COUNT; m++)
                if (f.num == (v1 ? param_msgs[m].v1_num : param_msgs[m].num)) {
                    TS_TRY(ts_pb_sub(&r, &f, param_msgs[m].name, &sub));
                    TS_TRY(parse_param_msg(sub, (enum pmsg)m, l));
                }
        }
    }
    return TS_OK;
}

static ts_status parse_net_bin(cnet *net, const uint8_t *buf, size_t len, const char *name)
{
    ts_pb r;
    ts_pb_init(&r, buf, len, name);
    if (!len) return ts_error(TS_ERR_FORMAT, "%s: empty file", name);
    int n_new, n_v1;
    TS_TRY(count_field(r, 100, &n_new));
    TS_TRY(count_field(r, 2, &n_v1));
    net->n_layers = n_new + n_v1;
    net->layers = ts_pool_alloc(net->pool, (size_t)(net->n_layers + 1) * sizeof *net->layers);
    if (!net->layers) return TS_ERR_OOM;
    int k = 0;
    ts_pb_ints dims = { 0 };
    ts_pb_field f;
    bool got;
    ts_status st = TS_OK;
    while (st == TS_OK) {
        if ((st = ts_pb_next(&r, &f, &got)) != TS_OK || !got) break;
        ts_pb sub;
        if (f.num == 1) st = get_string(net->pool, &r, &f, "NetParameter.name", &net->name);
        else if (f.num == 3 && !net->input) st = get_string(net->pool, &r, &f, "NetParameter.input", &net->input);
        else if (f.num == 4) st = ts_pb_append_ints(&r, &f, "NetParameter.input_dim", 8, &dims);
        else if (f.num == 8 && !net->in_ndim) {
            if ((st = ts_pb_sub(&r, &f, "NetParameter.input_shape", &sub)) == TS_OK)
                st = parse_blob_shape(sub, net->in_dims, &net->in_ndim);
        } else if (f.num == 100 || f.num == 2) {
            clayer *l = &net->layers[k++];
            l->offset = f.offset;
            if ((st = ts_pb_sub(&r, &f, "NetParameter.layer", &sub)) == TS_OK)
                st = parse_layer_bin(net, sub, f.num == 2, l);
        }
    }
    if (st == TS_OK && !net->in_ndim && dims.n) {
        net->in_ndim = (int)dims.n;
        memcpy(net->in_dims, dims.v, dims.n * sizeof *dims.v);
    }
    free(dims.v);
    return st;
}

/* ---- text reading ---- */

typedef struct tnode {
    const char *key, *val; /* val NULL for a message */
    bool quoted;
    int line;
    struct tnode *kids, *next;
} tnode;

typedef struct tparser {
    const char *p, *end, *name;
    int line, depth;
    size_t n_nodes;
    cnet *net;
} tparser;

static ts_status terr(const tparser *t, const char *what)
{
    return ts_error(TS_ERR_FORMAT, "%s:%d: %s", t->name, t->line, what);
}

static ts_status add_meta(cnet *net, const char *k, size_t kl, const char *v, size_t vl)
{
    if (net->n_meta == net->cap_meta) {
        int cap = net->cap_meta ? net->cap_meta * 2 : 8;
        if (cap > 64) return TS_OK; /* a few keys are known; ignore floods */
        const char **nk = ts_pool_alloc(net->pool, (size_t)cap * sizeof *nk);
        const char **nv = ts_pool_alloc(net->pool, (size_t)cap * sizeof *nv);
        if (!nk || !nv) return TS_ERR_OOM;
        if (net->n_meta) {
            memcpy(nk, net->mkeys, (size_t)net->n_meta * sizeof *nk);
            memcpy(nv, net->mvals, (size_t)net->n_meta * sizeof *nv);
        }
        net->mkeys = nk, net->mvals = nv, net->cap_meta = cap;
    }
    char *ks = ts_pool_alloc(net->pool, kl + 1), *vs = ts_pool_alloc(net->pool, vl + 1);
    if (!ks || !vs) return TS_ERR_OOM;
    memcpy(ks, k, kl);
    memcpy(vs, v, vl);
    net->mkeys[net->n_meta] = ks;
    net->mvals[net->n_meta++] = vs;
    return TS_OK;
}

static ts_status skip_space(tparser *t)
{
    while (t->p < t->end) {
        char c = *t->p;
        if (c == '\n') {
            t->line++;
            t->p++;
        } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
            t->p++;
        } else if (c == '#') {
            const char *eol = memchr(t->p, '\n', (size_t)(t->end - t->p));
            if (!eol) eol = t->end;
            static const char tag[] = "# traitscope.";
            size_t n = (size_t)(eol - t->p);
            if (n > sizeof tag - 1 && !memcmp(t->p, tag, sizeof tag - 1)) {
                const char *k = t->p + 2, *colon = memchr(k, ':', (size_t)(eol - k));
                if (colon) {
                    const char *v = colon + 1;
                    while (v < eol && *v == ' ') v++;
                    const char *ve = eol;
                    while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ')) ve--;
                    TS_TRY(add_meta(t->net, k, (size_t)(colon - k), v, (size_t)(ve - v)));
                }
            }
            t->p = eol;
        } else {
            break;
        }
    }
    return TS_OK;
}

static bool ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-' || c == '+';
}

/* A quoted string (adjacent strings join) into pool memory. */
static ts_status read_string(tparser *t, const char **out)
{
    size_t cap = 64, n = 0;
    char *s = malloc(cap);
    if (!s) return ts_error(TS_ERR_OOM, "out of memory");
    while (t->p < t->end && (*t->p == '"' || *t->p == '\'')) {
        char q = *t->p++;
        for (;;) {
            if (t->p >= t->end || *t->p == '\n') {
                free(s);
                return terr(t, "unterminated string");
            }
            char c = *t->p++;
            if (c == q) break;
            if (c == '\\') {
                if (t->p >= t->end) {
                    free(s);
                    return terr(t, "unterminated string");
                }
                char e = *t->p++;
                c = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
            }
            if (!c || n + 2 > MAX_STR) {
                free(s);
                return terr(t, c ? "string too long" : "string contains a NUL byte");
            }
            if (n + 2 > cap) {
                char *ns = realloc(s, cap *= 2);
                if (!ns) {
                    free(s);
                    return ts_error(TS_ERR_OOM, "out of memory");
                }
                s = ns;
            }
            s[n++] = c;
        }
        TS_TRY(skip_space(t));
    }
    s[n] = '\0';
    if (!ts_pool_keep(t->net->pool, s)) return TS_ERR_OOM;
    *out = s;
    return TS_OK;
}

static ts_status read_token(tparser *t, const char **out)
{
    const char *s = t->p;
    while (t->p < t->end && ident_char(*t->p)) t->p++;
    size_t n = (size_t)(t->p - s);
    if (!n) return terr(t, "expected a value");
    if (n > MAX_STR) return terr(t, "token too long");
    char *c = ts_pool_alloc(t->net->pool, n + 1);
    if (!c) return TS_ERR_OOM;
    memcpy(c, s, n);
    *out = c;
    return TS_OK;
}

static ts_status new_node(tparser *t, const char *key, tnode ***tail, tnode **out)
{
    if (++t->n_nodes > MAX_TEXT_NODES) return terr(t, "too many entries");
    tnode *n = ts_pool_alloc(t->net->pool, sizeof *n);
    if (!n) return TS_ERR_OOM;
    n->key = key;
    n->line = t->line;
    **tail = n;
    *tail = &n->next;
    *out = n;
    return TS_OK;
}

static ts_status parse_fields(tparser *t, char close, tnode **first)
{
    tnode **tail = first;
    for (;;) {
        TS_TRY(skip_space(t));
        if (t->p >= t->end) {
            if (close) return terr(t, "missing '}' at the end of the file");
            return TS_OK;
        }
        if (*t->p == close) {
            t->p++;
            return TS_OK;
        }
        const char *key;
        if (!isalpha((unsigned char)*t->p) && *t->p != '_') return terr(t, "expected a field name");
        TS_TRY(read_token(t, &key));
        TS_TRY(skip_space(t));
        bool colon = t->p < t->end && *t->p == ':';
        if (colon) {
            t->p++;
            TS_TRY(skip_space(t));
        }
        if (t->p >= t->end) return terr(t, "a field without a value at the end of the file");
        tnode *n;
        if (*t->p == '{' || *t->p == '<') {
            char cl = *t->p == '{' ? '}' : '>';
            t->p++;
            if (++t->depth > TS_PB_MAX_DEPTH) return terr(t, "messages nested too deeply");
            TS_TRY(new_node(t, key, &tail, &n));
            TS_TRY(parse_fields(t, cl, &n->kids));
            t->depth--;
        } else if (!colon) {
            return terr(t, "expected ':' or '{' after a field name");
        } else if (*t->p == '[') {
            t->p++;
            for (;;) {
                TS_TRY(skip_space(t));
                if (t->p < t->end && *t->p == ']') {
                    t->p++;
                    break;
                }
                TS_TRY(new_node(t, key, &tail, &n));
                if (t->p < t->end && (*t->p == '"' || *t->p == '\'')) {
                    n->quoted = true;
                    TS_TRY(read_string(t, &n->val));
                } else {
                    TS_TRY(read_token(t, &n->val));
                }
                TS_TRY(skip_space(t));
                if (t->p < t->end && *t->p == ',') t->p++;
                else if (t->p >= t->end || *t->p != ']') return terr(t, "expected ',' or ']' in a list");
            }
        } else {
            TS_TRY(new_node(t, key, &tail, &n));
            if (*t->p == '"' || *t->p == '\'') {
                n->quoted = true;
                TS_TRY(read_string(t, &n->val));
            } else {
                TS_TRY(read_token(t, &n->val));
            }
        }
        TS_TRY(skip_space(t));
        if (t->p < t->end && (*t->p == ';' || *t->p == ',')) t->p++;
    }
}

static ts_status text_int(const tparser *t, const tnode *n, int64_t lo, int64_t hi, int64_t *out)
{
    char msg[160];
    if (!n->val) {
        snprintf(msg, sizeof msg, "line %d: %s: expected a number, not a message", n->line, n->key);
        return ts_error(TS_ERR_FORMAT, "%s: %s", t->name, msg);
    }
    char *end;
    errno = 0;
    long long v = strtoll(n->val, &end, 0);
    if (errno || end == n->val || *end || v < lo || v > hi) {
        snprintf(msg, sizeof msg, "%s: '%.40s' is not an integer in %lld..%lld", n->key, n->val,
                 (long long)lo, (long long)hi);
        return ts_error(TS_ERR_FORMAT, "%s:%d: %s", t->name, n->line, msg);
    }
    *out = v;
    return TS_OK;
}

static ts_status text_scalar(const tparser *t, const tnode *n, const pentry *e, double *out)
{
    if (!n->val) return ts_error(TS_ERR_FORMAT, "%s:%d: %s: expected a value", t->name, n->line, n->key);
    if (e->kind == K_BOOL) {
        if (!strcmp(n->val, "true") || !strcmp(n->val, "1")) *out = 1;
        else if (!strcmp(n->val, "false") || !strcmp(n->val, "0")) *out = 0;
        else return ts_error(TS_ERR_FORMAT, "%s:%d: %s: expected true or false", t->name, n->line, n->key);
        return TS_OK;
    }
    if (e->kind == K_ENUM) {
        for (int k = 0; e->enums[k]; k++)
            if (!strcmp(n->val, e->enums[k])) {
                *out = k;
                return TS_OK;
            }
    }
    if (e->kind == K_FLOAT) {
        char *end;
        errno = 0;
        double v = strtod(n->val, &end);
        if (end != n->val && (*end == 'f' || *end == 'F')) end++;
        if (end == n->val || *end || !isfinite(v))
            return ts_error(TS_ERR_FORMAT, "%s:%d: %s: '%.40s' is not a number", t->name, n->line, n->key, n->val);
        *out = v;
        return TS_OK;
    }
    int64_t v;
    TS_TRY(text_int(t, n, INT32_MIN, INT32_MAX, &v));
    *out = (double)v;
    return TS_OK;
}

static ts_status text_shape(const tparser *t, const tnode *shape, int64_t *dims, int *ndim)
{
    *ndim = 0;
    for (const tnode *d = shape->kids; d; d = d->next) {
        if (strcmp(d->key, "dim")) continue;
        if (*ndim == 8) return ts_error(TS_ERR_FORMAT, "%s:%d: more than 8 dimensions", t->name, d->line);
        TS_TRY(text_int(t, d, 0, 1 << 30, &dims[(*ndim)++]));
    }
    return TS_OK;
}

static ts_status text_layer(tparser *t, const tnode *ln, bool v1, clayer *l)
{
    ts_pool *pool = t->net->pool;
    l->name = l->type = "";
    l->line = ln->line;
    for (const tnode *n = ln->kids; n; n = n->next) {
        l->n_bottom += !strcmp(n->key, "bottom");
        l->n_top += !strcmp(n->key, "top");
    }
    l->bottom = ts_pool_alloc(pool, (size_t)(l->n_bottom + 1) * sizeof *l->bottom);
    l->top = ts_pool_alloc(pool, (size_t)(l->n_top + 1) * sizeof *l->top);
    if (!l->bottom || !l->top) return TS_ERR_OOM;
    int kb = 0, kt = 0;
    for (const tnode *n = ln->kids; n; n = n->next) {
        const char *k = n->key;
        if (!n->val && (!strcmp(k, "name") || !strcmp(k, "type") || !strcmp(k, "bottom") || !strcmp(k, "top")))
            return ts_error(TS_ERR_FORMAT, "%s:%d: %s: expected a value", t->name, n->line, k);
        if (!strcmp(k, "name")) l->name = n->val;
        else if (!strcmp(k, "bottom")) l->bottom[kb++] = n->val;
        else if (!strcmp(k, "top")) l->top[kt++] = n->val;
        else if (!strcmp(k, "type")) {
            if (v1 && !n->quoted) {
                const char *ty = v1_type_from_ident(n->val);
                l->type = ty ? ty : n->val;
            } else {
                l->type = n->val;
            }
        } else if ((!strcmp(k, "include") || !strcmp(k, "exclude")) && !n->val) {
            for (const tnode *p = n->kids; p; p = p->next)
                if (!strcmp(p->key, "phase") && p->val) {
                    bool train = !strcmp(p->val, "TRAIN") || !strcmp(p->val, "0");
                    bool test = !strcmp(p->val, "TEST") || !strcmp(p->val, "1");
                    if ((k[0] == 'i' && train) || (k[0] == 'e' && test)) l->skip = true;
                }
        } else if (!strcmp(k, "input_param") && !n->val) {
            for (const tnode *s = n->kids; s; s = s->next)
                if (!strcmp(s->key, "shape") && !s->val && !l->in_ndim) TS_TRY(text_shape(t, s, l->in_dims, &l->in_ndim));
        } else if (!n->val) {
            for (int m = 0; m < M_COUNT; m++) {
                if (strcmp(k, param_msgs[m].name)) continue;
                for (const tnode *p = n->kids; p; p = p->next) {
                    const pentry *e = find_entry((enum pmsg)m, 0, p->key);
                    if (!e) continue;
                    double x = 0;
                    TS_TRY(text_scalar(t, p, e, &x));
                    set_param(l, e->id, x);
                }
            }
        }
    }
    return TS_OK;
}

static ts_status parse_net_text(cnet *net, const char *text, size_t len, const char *name)
{
    tparser t = { .p = text, .end = text + len, .name = name, .line = 1, .net = net };
    tnode *root = NULL;
    TS_TRY(parse_fields(&t, 0, &root));
    int n = 0;
    for (tnode *k = root; k; k = k->next) n += !k->val && (!strcmp(k->key, "layer") || !strcmp(k->key, "layers"));
    net->layers = ts_pool_alloc(net->pool, (size_t)(n + 1) * sizeof *net->layers);
    if (!net->layers) return TS_ERR_OOM;
    int64_t dims[8];
    int n_dims = 0;
    for (tnode *k = root; k; k = k->next) {
        if (!strcmp(k->key, "name") && k->val) net->name = k->val;
        else if (!strcmp(k->key, "input") && k->val && !net->input) net->input = k->val;
        else if (!strcmp(k->key, "input_dim")) {
            if (n_dims == 8) return ts_error(TS_ERR_FORMAT, "%s:%d: more than 8 input_dim", name, k->line);
            TS_TRY(text_int(&t, k, 0, 1 << 30, &dims[n_dims++]));
        } else if (!strcmp(k->key, "input_shape") && !k->val && !net->in_ndim) {
            TS_TRY(text_shape(&t, k, net->in_dims, &net->in_ndim));
        } else if (!k->val && (!strcmp(k->key, "layer") || !strcmp(k->key, "layers"))) {
            TS_TRY(text_layer(&t, k, k->key[5] == 's', &net->layers[net->n_layers++]));
        }
    }
    if (!net->in_ndim && n_dims) {
        net->in_ndim = n_dims;
        memcpy(net->in_dims, dims, (size_t)n_dims * sizeof *dims);
    }
    return TS_OK;
}

/* ---- from the net to layers ---- */

typedef struct cval {
    const char *name;
    int node;
    bool flat;    /* seen through a Flatten */
    bool softmax; /* after a dropped Softmax: nothing may read it */
} cval;

typedef struct cimport {
    cnet *net;     /* structure */
    cnet *weights; /* blobs (may be the same net, or NULL) */
    const char *src;
    ts_netbuild nb;
    cval *vals;
    int n_vals, cap_vals;
    int last;      /* node of the last layer's top */
} cimport;

static ts_status lerr(const cimport *ci, const clayer *l, ts_status st, const char *why)
{
    if (l->line)
        return ts_error(st, "%s:%d: layer '%s' (%s): %s", ci->src, l->line, l->name, l->type, why);
    return ts_error(st, "%s: layer '%s' (%s): %s", ci->src, l->name, l->type, why);
}

static cval *find_cval(cimport *ci, const char *name)
{
    for (int i = ci->n_vals - 1; i >= 0; i--)
        if (!strcmp(ci->vals[i].name, name)) return &ci->vals[i];
    return NULL;
}

/* Binds blob `name` to a node (in-place layers rebind the same name). */
static ts_status bind(cimport *ci, const char *name, int node, bool flat, bool softmax)
{
    cval *v = find_cval(ci, name);
    if (!v) {
        if (ci->n_vals == ci->cap_vals) {
            int cap = ci->cap_vals ? ci->cap_vals * 2 : 64;
            cval *nv = realloc(ci->vals, (size_t)cap * sizeof *nv);
            if (!nv) return ts_error(TS_ERR_OOM, "out of memory");
            ci->vals = nv;
            ci->cap_vals = cap;
        }
        v = &ci->vals[ci->n_vals++];
        v->name = name;
    }
    v->node = node;
    v->flat = flat;
    v->softmax = softmax;
    ci->last = node;
    return TS_OK;
}

static ts_status bottom(cimport *ci, const clayer *l, int k, bool allow_flat, int *node, bool *flat)
{
    if (k >= l->n_bottom) return lerr(ci, l, TS_ERR_FORMAT, "missing bottom");
    cval *v = find_cval(ci, l->bottom[k]);
    if (!v) {
        char why[MAX_STR + 64];
        snprintf(why, sizeof why, "bottom '%s' is not produced by an earlier layer", l->bottom[k]);
        return lerr(ci, l, TS_ERR_FORMAT, why);
    }
    if (v->softmax) return lerr(ci, l, TS_ERR_UNSUPPORTED, "reads the output of a Softmax (only a final Softmax is read, and dropped)");
    const ts_node *src = &ci->nb.nodes[v->node];
    bool one = src->op == TS_OP_FC || ((src->op == TS_OP_MAXPOOL || src->op == TS_OP_AVGPOOL) && src->global);
    if (v->flat && !allow_flat && !one) return lerr(ci, l, TS_ERR_UNSUPPORTED, "reads a flattened blob; only InnerProduct may");
    *node = v->node;
    if (flat) *flat = v->flat;
    return TS_OK;
}

static const clayer *weights_of(const cimport *ci, const clayer *l)
{
    if (!ci->weights) return NULL;
    if (ci->weights->layers && ci->weights == ci->net) return l;
    for (int i = 0; i < ci->weights->n_layers; i++)
        if (!strcmp(ci->weights->layers[i].name, l->name) && ci->weights->layers[i].n_blobs) return &ci->weights->layers[i];
    return NULL;
}

static ts_status add(cimport *ci, const clayer *l, ts_op op, int n_in, const int *in, bool flat, int *index)
{
    int i = ts_netbuild_add(&ci->nb, op, l->name, n_in, in);
    if (i < 0) return ts_error_prefix(TS_ERR_FORMAT, "%s: ", ci->src);
    if (l->n_top < 1) return lerr(ci, l, TS_ERR_FORMAT, "no top");
    *index = i;
    return bind(ci, l->top[0], i, flat, false);
}

/* Kernel, stride and padding (h and w) of a Convolution or Pooling. */
static ts_status geometry(cimport *ci, const clayer *l, bool conv, ts_node *d)
{
    int kh = 0, kw = 0, sh = 1, sw = 1, ph = 0, pw = 0;
    if (l->pn[P_KERNEL] > 2 || l->pn[P_STRIDE] > 2 || l->pn[P_PAD] > 2)
        return lerr(ci, l, TS_ERR_UNSUPPORTED, "only 2-D kernels are supported");
    if (l->pn[P_KERNEL]) kh = (int)l->pv[P_KERNEL][0], kw = (int)l->pv[P_KERNEL][l->pn[P_KERNEL] > 1];
    if (l->pn[P_KERNEL_H]) kh = (int)l->pv[P_KERNEL_H][0];
    if (l->pn[P_KERNEL_W]) kw = (int)l->pv[P_KERNEL_W][0];
    if (l->pn[P_STRIDE]) sh = (int)l->pv[P_STRIDE][0], sw = (int)l->pv[P_STRIDE][l->pn[P_STRIDE] > 1];
    if (l->pn[P_STRIDE_H]) sh = (int)l->pv[P_STRIDE_H][0];
    if (l->pn[P_STRIDE_W]) sw = (int)l->pv[P_STRIDE_W][0];
    if (l->pn[P_PAD]) ph = (int)l->pv[P_PAD][0], pw = (int)l->pv[P_PAD][l->pn[P_PAD] > 1];
    if (l->pn[P_PAD_H]) ph = (int)l->pv[P_PAD_H][0];
    if (l->pn[P_PAD_W]) pw = (int)l->pv[P_PAD_W][0];
    if (conv)
        for (int k = 0; k < l->pn[P_DILATION] && k < 2; k++)
            if (l->pv[P_DILATION][k] != 1) return lerr(ci, l, TS_ERR_UNSUPPORTED, "dilated kernels are not supported");
    if (sh != sw) return lerr(ci, l, TS_ERR_UNSUPPORTED, "strides differ in height and width");
    if (kh < 1 || kw < 1 || kh > 4096 || kw > 4096 || sh < 1 || sh > 4096 || ph < 0 || pw < 0 || ph > 4096 || pw > 4096)
        return lerr(ci, l, TS_ERR_FORMAT, "kernel size, stride or padding missing or out of range");
    d->kh = kh, d->kw = kw, d->stride = sh;
    d->pad_t = d->pad_b = ph;
    d->pad_l = d->pad_r = pw;
    return TS_OK;
}

static float *blob_copy(const cblob *b)
{
    float *c = malloc((b->count ? b->count : 1) * sizeof *c);
    if (c && b->count) memcpy(c, b->data, b->count * sizeof *c);
    return c;
}

/* Weights (and bias) of a Convolution or InnerProduct layer, node i. */
static ts_status take_params(cimport *ci, const clayer *l, int i, bool conv)
{
    ts_node *d = &ci->nb.nodes[i];
    const clayer *wl = weights_of(ci, l);
    int O = d->out_c;
    float *w = NULL, *b = NULL;
    int shape[4];
    if (!wl) {
        if (ci->weights) return lerr(ci, l, TS_ERR_FORMAT, "no weights for this layer in the caffemodel");
        /* Structure only: zero weights of the right shape are made later. */
        return TS_OK;
    }
    int want = 1 + (d->has_bias ? 1 : 0);
    if (wl->n_blobs != want) return lerr(ci, l, TS_ERR_FORMAT, d->has_bias ? "expected two blobs (weights, bias)" : "expected one blob (weights)");
    const cblob *wb = &wl->blobs[0];
    if (conv) {
        /* (O, C/g, KH, KW), possibly with leading 1s in legacy blobs */
        if (wb->ndim != 4 || wb->dims[0] != O || wb->dims[2] != d->kh || wb->dims[3] != d->kw || wb->dims[1] < 1 || wb->dims[1] > 65536)
            return lerr(ci, l, TS_ERR_FORMAT, "weight blob shape does not match num_output and the kernel");
        shape[0] = O, shape[1] = (int)wb->dims[1], shape[2] = d->kh, shape[3] = d->kw;
    } else {
        if (!wb->count || wb->count % (size_t)O || wb->count / (size_t)O > (size_t)1 << 30)
            return lerr(ci, l, TS_ERR_FORMAT, "weight blob size is not a multiple of num_output");
        shape[0] = O, shape[1] = (int)(wb->count / (size_t)O), shape[2] = shape[3] = 1;
    }
    w = blob_copy(wb);
    if (!w) return ts_error(TS_ERR_OOM, "out of memory");
    if (!conv && param(l, P_TRANSPOSE, 0)) {
        /* stored (K, O): transpose to (O, K) */
        size_t K = (size_t)shape[1];
        float *t = malloc(wb->count * sizeof *t);
        if (!t) {
            free(w);
            return ts_error(TS_ERR_OOM, "out of memory");
        }
        for (size_t o = 0; o < (size_t)O; o++)
            for (size_t k = 0; k < K; k++) t[o * K + k] = w[k * (size_t)O + o];
        free(w);
        w = t;
    }
    if (d->has_bias) {
        if (wl->blobs[1].count != (size_t)O) {
            free(w);
            return lerr(ci, l, TS_ERR_FORMAT, "bias blob does not have num_output values");
        }
        if (!(b = blob_copy(&wl->blobs[1]))) {
            free(w);
            return ts_error(TS_ERR_OOM, "out of memory");
        }
    }
    ts_netbuild_set_params(&ci->nb, i, w, shape, b);
    return TS_OK;
}

static bool is_data_type(const char *t)
{
    static const char *const data[] = { "Data", "ImageData", "MemoryData", "HDF5Data", "DummyData",
                                        "WindowData", "AnnotatedData", "VideoData", "Python", NULL };
    for (int k = 0; data[k]; k++)
        if (!strcmp(t, data[k])) return true;
    return false;
}

static bool is_training_type(const char *t)
{
    return strstr(t, "Loss") || !strcmp(t, "Accuracy") || !strcmp(t, "Silence") || !strcmp(t, "HDF5Output");
}

static ts_status do_layer(cimport *ci, const clayer *l)
{
    const char *t = l->type;
    int x, i;
    bool flat;
    if (l->skip || is_training_type(t) || is_data_type(t) || !strcmp(t, "Input")) return TS_OK;
    if (l->n_top < 1) return lerr(ci, l, TS_ERR_FORMAT, "no top");
    if (!strcmp(t, "Convolution")) {
        TS_TRY(bottom(ci, l, 0, false, &x, NULL));
        ts_node d = { 0 };
        TS_TRY(geometry(ci, l, true, &d));
        double O = param(l, P_NUM_OUTPUT, 0), G = param(l, P_GROUP, 1);
        if (O < 1 || O > 65536 || G < 1 || G > 65536) return lerr(ci, l, TS_ERR_FORMAT, "num_output or group missing or out of range");
        if (param(l, P_CONV_AXIS, 1) != 1) return lerr(ci, l, TS_ERR_UNSUPPORTED, "axis other than 1");
        TS_TRY(add(ci, l, TS_OP_CONV2D, 1, &x, false, &i));
        ts_node *c = &ci->nb.nodes[i];
        c->out_c = (int)O, c->groups = (int)G, c->has_bias = param(l, P_BIAS_TERM, 1) != 0;
        c->kh = d.kh, c->kw = d.kw, c->stride = d.stride;
        c->pad_t = d.pad_t, c->pad_b = d.pad_b, c->pad_l = d.pad_l, c->pad_r = d.pad_r;
        return take_params(ci, l, i, true);
    }
    if (!strcmp(t, "InnerProduct")) {
        TS_TRY(bottom(ci, l, 0, true, &x, NULL));
        double O = param(l, P_NUM_OUTPUT, 0);
        if (O < 1 || O > (1 << 20)) return lerr(ci, l, TS_ERR_FORMAT, "num_output missing or out of range");
        if (param(l, P_IP_AXIS, 1) != 1) return lerr(ci, l, TS_ERR_UNSUPPORTED, "axis other than 1");
        TS_TRY(add(ci, l, TS_OP_FC, 1, &x, false, &i));
        ci->nb.nodes[i].out_c = (int)O;
        ci->nb.nodes[i].has_bias = param(l, P_BIAS_TERM, 1) != 0;
        return take_params(ci, l, i, false);
    }
    if (!strcmp(t, "Pooling")) {
        TS_TRY(bottom(ci, l, 0, false, &x, NULL));
        int method = (int)param(l, P_POOL, 0);
        if (method != 0 && method != 1) return lerr(ci, l, TS_ERR_UNSUPPORTED, "only MAX and AVE pooling are supported");
        bool global = param(l, P_GLOBAL, 0) != 0;
        ts_node d = { 0 };
        if (!global) TS_TRY(geometry(ci, l, false, &d));
        TS_TRY(add(ci, l, method ? TS_OP_AVGPOOL : TS_OP_MAXPOOL, 1, &x, false, &i));
        ts_node *p = &ci->nb.nodes[i];
        p->global = global;
        if (!global) {
            p->kh = d.kh, p->kw = d.kw, p->stride = d.stride;
            p->pad_t = d.pad_t, p->pad_b = d.pad_b, p->pad_l = d.pad_l, p->pad_r = d.pad_r;
            p->pool_floor = param(l, P_ROUND, 0) == 1;
        }
        return TS_OK;
    }
    if (!strcmp(t, "LRN")) {
        TS_TRY(bottom(ci, l, 0, false, &x, NULL));
        if (param(l, P_NORM_REGION, 0) != 0) return lerr(ci, l, TS_ERR_UNSUPPORTED, "only ACROSS_CHANNELS normalisation is supported");
        double size = param(l, P_LOCAL_SIZE, 5);
        if (size < 1 || size > 1023 || fmod(size, 2) == 0) return lerr(ci, l, TS_ERR_UNSUPPORTED, "local_size must be odd");
        TS_TRY(add(ci, l, TS_OP_LRN, 1, &x, false, &i));
        ts_node *d = &ci->nb.nodes[i];
        d->lrn_size = (int)size;
        d->lrn_alpha = (float)param(l, P_ALPHA, 1.0);
        d->lrn_beta = (float)param(l, P_BETA, 0.75);
        d->lrn_k = (float)param(l, P_K, 1.0);
        return TS_OK;
    }
    if (!strcmp(t, "ReLU")) {
        TS_TRY(bottom(ci, l, 0, true, &x, &flat));
        double slope = param(l, P_SLOPE, 0);
        TS_TRY(add(ci, l, slope != 0 ? TS_OP_LEAKY_RELU : TS_OP_RELU, 1, &x, flat, &i));
        ci->nb.nodes[i].slope = (float)slope;
        return TS_OK;
    }
    if (!strcmp(t, "Dropout")) {
        TS_TRY(bottom(ci, l, 0, true, &x, &flat));
        double p = param(l, P_DROPOUT, 0.5);
        if (!(p >= 0 && p < 1)) return lerr(ci, l, TS_ERR_FORMAT, "dropout_ratio outside [0,1)");
        TS_TRY(add(ci, l, TS_OP_DROPOUT, 1, &x, flat, &i));
        ci->nb.nodes[i].p = (float)p;
        return TS_OK;
    }
    if (!strcmp(t, "Concat") || !strcmp(t, "Eltwise")) {
        bool cat = t[0] == 'C';
        if (l->n_bottom < 1 || l->n_bottom > TS_MAX_INPUTS) return lerr(ci, l, TS_ERR_UNSUPPORTED, "needs 1 to 8 bottoms");
        if (cat && param(l, P_CONCAT_AXIS, param(l, P_CONCAT_DIM, 1)) != 1)
            return lerr(ci, l, TS_ERR_UNSUPPORTED, "concatenation along an axis other than the channels");
        if (!cat && (param(l, P_ELT_OP, 1) != 1 || param(l, P_COEFF, 0) != 0))
            return lerr(ci, l, TS_ERR_UNSUPPORTED, "only Eltwise SUM with unit coefficients is supported");
        int in[TS_MAX_INPUTS];
        bool any_flat = false, f;
        for (int k = 0; k < l->n_bottom; k++) {
            TS_TRY(bottom(ci, l, k, !cat, &in[k], &f));
            any_flat = any_flat || f;
        }
        if (l->n_bottom == 1) return bind(ci, l->top[0], in[0], any_flat, false);
        return add(ci, l, cat ? TS_OP_CONCAT : TS_OP_ADD, l->n_bottom, in, any_flat, &i);
    }
    if (!strcmp(t, "Split") || !strcmp(t, "Flatten") || !strcmp(t, "Softmax")) {
        TS_TRY(bottom(ci, l, 0, true, &x, &flat));
        if (t[0] == 'F') flat = true;
        for (int k = 0; k < l->n_top; k++) TS_TRY(bind(ci, l->top[k], x, flat, t[1] == 'o'));
        ci->last = x;
        return TS_OK;
    }
    char why[128];
    snprintf(why, sizeof why, "unsupported layer type '%.40s' (supported: Convolution, ReLU, LRN, Pooling, "
             "InnerProduct, Dropout, Concat, Eltwise SUM, Split, Flatten, final Softmax)", t);
    return lerr(ci, l, TS_ERR_UNSUPPORTED, why);
}

/* The input blob name and (C, H, W) from the net, an Input layer, or a
 * data layer of a training net (whose size is unknown). */
static ts_status find_input(cimport *ci, const char **name, int64_t *c, int64_t *h, int64_t *w)
{
    const cnet *net = ci->net;
    const int64_t *dims = NULL;
    int ndim = 0;
    *name = NULL;
    if (net->input) {
        *name = net->input;
        dims = net->in_dims, ndim = net->in_ndim;
    }
    for (int i = 0; i < net->n_layers && !*name; i++) {
        const clayer *l = &net->layers[i];
        if (l->skip || l->n_top < 1) continue;
        if (!strcmp(l->type, "Input")) *name = l->top[0], dims = l->in_dims, ndim = l->in_ndim;
        else if (is_data_type(l->type)) *name = l->top[0];
    }
    if (!*name) return ts_error(TS_ERR_FORMAT, "%s: no input (input:, an Input layer or a data layer)", ci->src);
    if (ndim != 4)
        return ts_error(TS_ERR_FORMAT, "%s: the input '%s' has no 4-D shape (give the deploy prototxt, "
                        "with input_shape, input_dim or an Input layer)", ci->src, *name);
    *c = dims[1], *h = dims[2], *w = dims[3];
    if (*c < 1 || *h < 1 || *w < 1 || *c > 4096 || *h > 8192 || *w > 8192)
        return ts_error(TS_ERR_FORMAT, "%s: input shape out of range", ci->src);
    return TS_OK;
}

/* The Caffe -> Traitscope input conversion of caffe.h. */
static ts_status convert_input(cimport *ci, const ts_caffe_options *o, const float *mean_bgr,
                               const char *mean_src, ts_model *m)
{
    ts_graph *g = m->graph;
    int C = g->nodes[0].c;
    float scale = o && o->scale > 0 ? o->scale : 1.0f;
    bool rgb = o && o->rgb;
    for (int i = 1; i < g->n_nodes && !rgb; i++) {
        ts_node *n = &g->nodes[i];
        bool reads = false;
        for (int k = 0; k < n->n_inputs; k++) reads = reads || n->inputs[k] == 0;
        if (!reads) continue;
        if (n->op != TS_OP_CONV2D || n->groups != 1)
            return ts_error(TS_ERR_UNSUPPORTED, "%s: layer '%s' reads the BGR input directly; only "
                            "ungrouped convolutions can be turned to RGB (import with rgb set if the model takes RGB)",
                            ci->src, n->name);
        size_t plane = (size_t)n->kh * n->kw;
        for (int oc = 0; oc < n->out_c; oc++) {
            float *w = n->weight.data + (size_t)oc * C * plane;
            for (size_t k = 0; k < plane; k++) {
                float t = w[k];
                w[k] = w[2 * plane + k];
                w[2 * plane + k] = t;
            }
        }
    }
    for (int c = 0; c < C; c++) {
        int j = (!rgb && c < 3) ? 2 - c : c;
        m->meta.mean[c] = mean_bgr[j] / 255.0f;
        m->meta.std[c] = 1.0f / (255.0f * scale);
    }
    char json[512];
    snprintf(json, sizeof json,
             "{\"imported_from\":\"caffe\",\"caffe_input\":\"%s, pixels 0..255, minus the mean, times %g\","
             "\"mean_source\":\"%s\",\"conversion\":\"%s\"}",
             rgb ? "RGB" : "BGR", (double)scale, mean_src,
             rgb ? "input_mean = caffe mean / 255, input_std = 1 / (255 * scale)"
                 : "input channels of the first convolutions reversed (BGR to RGB); input_mean = caffe mean / 255 (RGB order), input_std = 1 / (255 * scale)");
    return ts_model_set_training(m, json);
}

ts_status ts_caffe_read_mean(const uint8_t *buf, size_t len, const char *name, int channels, float *mean)
{
    ts_pool pool = { 0 };
    ts_pb r;
    ts_pb_init(&r, buf, len, name);
    cblob b;
    ts_status st = len ? parse_blob(&pool, r, 0, &b) : ts_error(TS_ERR_FORMAT, "%s: empty file", name);
    if (st == TS_OK) {
        /* (1, C, H, W), (C, H, W) or one value per channel */
        int64_t C = b.ndim == 4 ? b.dims[1] : b.ndim == 3 ? b.dims[0] : b.ndim == 1 ? b.dims[0] : -1;
        if (C != channels || (b.ndim == 4 && b.dims[0] != 1) || !b.count) {
            st = ts_error(TS_ERR_FORMAT, "%s: the mean blob is not (1, %d, H, W)", name, channels);
        } else {
            size_t per = b.count / (size_t)channels;
            for (int c = 0; c < channels; c++) {
                double s = 0;
                for (size_t k = 0; k < per; k++) s += b.data[(size_t)c * per + k];
                mean[c] = (float)(s / (double)per);
                if (!isfinite(mean[c])) st = ts_error(TS_ERR_FORMAT, "%s: the mean is not finite", name);
            }
        }
    }
    ts_pool_clear(&pool);
    return st;
}

/* A model Traitscope exported keeps its mean in NAME.binaryproto and
 * records the model's input_mean in the prototxt's comments.  Imported
 * without that file, it would silently see every input off by the mean
 * (7 points of accuracy on CelebA-HQ gender): refused, saying what to give. */
static ts_status check_own_mean(const cimport *ci, int C)
{
    const char *recorded = NULL;
    for (int i = 0; i < ci->net->n_meta; i++)
        if (!strcmp(ci->net->mkeys[i], "traitscope.input_mean")) recorded = ci->net->mvals[i];
    if (!recorded) return TS_OK;
    cJSON *a = cJSON_Parse(recorded);
    double rgb[4] = { 0, 0, 0, 0 };
    bool nonzero = false;
    int n = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : 0;
    for (int c = 0; c < n && c < 4; c++) {
        const cJSON *v = cJSON_GetArrayItem(a, c);
        rgb[c] = cJSON_IsNumber(v) ? v->valuedouble : 0;
        nonzero = nonzero || rgb[c] != 0;
    }
    cJSON_Delete(a);
    if (!nonzero) return TS_OK; /* a zero mean needs no file */
    char values[128] = "";
    size_t at = 0;
    for (int j = 0; j < C && j < 4 && at < sizeof values; j++) {
        int c = j < 3 ? 2 - j : j; /* Caffe's BGR order */
        at += (size_t)snprintf(values + at, sizeof values - at, "%s%.9g", j ? "," : "", 255.0 * rgb[c]);
    }
    const char *model = ci->weights ? ci->weights->src : ci->src;
    return ts_error(TS_ERR_FORMAT,
                    "%s: exported by Traitscope with its input mean in a .binaryproto beside it (NAME.binaryproto), "
                    "which was not found; without it every input would be off by the mean. Put the .binaryproto "
                    "back beside the model, or give the mean values (convert --mean %s)", model, values);
}

static ts_status import_nets(cimport *ci, const ts_caffe_options *o, const uint8_t *mean,
                             size_t mean_len, const char *mean_name, ts_model **out)
{
    const char *in_name;
    int64_t C, H, W;
    TS_TRY(find_input(ci, &in_name, &C, &H, &W));
    if (o && !(isfinite(o->scale) && o->scale >= 0)) return ts_error(TS_ERR_ARG, "the scale must be a finite number > 0");
    float mean_bgr[4] = { 0, 0, 0, 0 };
    const char *mean_src = "none (0)";
    if (mean) {
        if (C > 4) return ts_error(TS_ERR_UNSUPPORTED, "%s: %lld input channels", ci->src, (long long)C);
        TS_TRY(ts_caffe_read_mean(mean, mean_len, mean_name, (int)C, mean_bgr));
        mean_src = "mean file (per-channel average)";
    } else if (o && o->n_mean_values) {
        if (o->n_mean_values != 1 && o->n_mean_values != C)
            return ts_error(TS_ERR_ARG, "%d mean values for %lld channels", o->n_mean_values, (long long)C);
        for (int c = 0; c < o->n_mean_values && c < 4; c++)
            if (!isfinite(o->mean_values[c])) return ts_error(TS_ERR_ARG, "mean value %d is not a finite number", c + 1);
        for (int c = 0; c < C && c < 4; c++) mean_bgr[c] = o->mean_values[o->n_mean_values == 1 ? 0 : c];
        mean_src = "mean values";
    } else {
        TS_TRY(check_own_mean(ci, (int)C));
    }
    TS_TRY(ts_netbuild_init(&ci->nb, (int)C, (int)H, (int)W));
    TS_TRY(bind(ci, in_name, 0, false, false));
    ci->last = -1;
    for (int i = 0; i < ci->net->n_layers; i++) TS_TRY(do_layer(ci, &ci->net->layers[i]));
    if (ci->last < 1) return ts_error(TS_ERR_FORMAT, "%s: the net has no layers", ci->src);
    ci->nb.output = ci->last;
    /* Structure only: zero weights so the model can still be built. */
    for (int i = 1; i < ci->nb.n; i++) {
        ts_node *d = &ci->nb.nodes[i];
        if ((d->op == TS_OP_CONV2D || d->op == TS_OP_FC) && !ci->nb.w[i]) {
            if (ci->weights) return ts_error(TS_ERR_FORMAT, "%s: layer '%s' has no weights", ci->src, d->name);
            return ts_error(TS_ERR_ARG, "%s: no caffemodel: the weights are unknown", ci->src);
        }
    }
    const char *arch = ci->net->name && ci->net->name[0] ? ci->net->name : "caffe";
    TS_TRY(ts_netbuild_finish(&ci->nb, arch, ci->src, out));
    ts_status st = convert_input(ci, o, mean_bgr, mean_src, *out);
    /* The input normalisation comes from the conversion above, never from
     * the comments (they describe the model before it was written). */
    for (int i = 0; i < ci->net->n_meta && st == TS_OK; i++) {
        const char *k = ci->net->mkeys[i];
        if (strcmp(k, "traitscope.input_mean") && strcmp(k, "traitscope.input_std") && strcmp(k, "traitscope.training"))
            st = ts_netbuild_meta_apply(*out, k, ci->net->mvals[i], ci->src);
    }
    if (st != TS_OK) {
        ts_model_free(*out);
        *out = NULL;
    }
    return st;
}

ts_status ts_caffe_import_buffers(const uint8_t *model, size_t model_len, const char *model_name,
                                  const char *prototxt, size_t prototxt_len, const char *prototxt_name,
                                  const uint8_t *mean, size_t mean_len, const char *mean_name,
                                  const ts_caffe_options *opts, ts_model **out)
{
    *out = NULL;
    ts_pool pool = { 0 };
    cnet text = { .pool = &pool, .src = prototxt_name }, bin = { .pool = &pool, .src = model_name };
    cimport ci = { 0 };
    ts_status st = TS_OK;
    if (!model && !prototxt) return ts_error(TS_ERR_ARG, "neither a caffemodel nor a prototxt");
    if (model) st = parse_net_bin(&bin, model, model_len, model_name);
    if (st == TS_OK && prototxt) st = parse_net_text(&text, prototxt, prototxt_len, prototxt_name);
    if (st == TS_OK) {
        ci.net = prototxt ? &text : &bin;
        ci.weights = model ? &bin : NULL;
        ci.src = prototxt ? prototxt_name : model_name;
        st = import_nets(&ci, opts, mean, mean_len, mean_name, out);
    }
    ts_netbuild_clear(&ci.nb);
    free(ci.vals);
    ts_pool_clear(&pool);
    return st;
}

ts_status ts_caffe_import(const char *caffemodel, const ts_caffe_options *opts, ts_model **out)
{
    *out = NULL;
    uint8_t *model = NULL, *text = NULL, *mean = NULL;
    size_t model_len = 0, text_len = 0, mean_len = 0;
    ts_status st = ts_read_file(caffemodel, TS_CAFFE_MAX_FILE, &model, &model_len);
    if (st == TS_OK && opts && opts->prototxt) st = ts_read_file(opts->prototxt, TS_PROTOTXT_MAX_FILE, &text, &text_len);
    if (st == TS_OK && opts && opts->mean_file) st = ts_read_file(opts->mean_file, 1 << 30, &mean, &mean_len);
    if (st == TS_OK)
        st = ts_caffe_import_buffers(model, model_len, caffemodel, (const char *)text, text_len,
                                     opts ? opts->prototxt : NULL, mean, mean_len,
                                     opts ? opts->mean_file : NULL, opts, out);
    free(model);
    free(text);
    free(mean);
    return st;
}

ts_status ts_caffe_prototxt_to_arch(const char *text, size_t len, const char *name, char **arch_text)
{
    *arch_text = NULL;
    ts_pool pool = { 0 };
    cnet net = { .pool = &pool, .src = name };
    cimport ci = { .net = &net, .src = name };
    ts_status st = parse_net_text(&net, text, len, name);
    const char *in_name;
    int64_t C, H, W;
    if (st == TS_OK) st = find_input(&ci, &in_name, &C, &H, &W);
    if (st == TS_OK) st = ts_netbuild_init(&ci.nb, (int)C, (int)H, (int)W);
    if (st == TS_OK) st = bind(&ci, in_name, 0, false, false);
    ci.last = -1;
    for (int i = 0; st == TS_OK && i < net.n_layers; i++) st = do_layer(&ci, &net.layers[i]);
    if (st == TS_OK && ci.last < 1) st = ts_error(TS_ERR_FORMAT, "%s: the net has no layers", name);
    if (st == TS_OK) {
        ci.nb.output = ci.last;
        if (!(*arch_text = ts_netbuild_text(&ci.nb))) st = ts_error(TS_ERR_OOM, "out of memory");
    }
    ts_netbuild_clear(&ci.nb);
    free(ci.vals);
    ts_pool_clear(&pool);
    return st;
}

/* ---- export ---- */


static ts_status check_exportable(const ts_graph *g)
{
    for (int i = 1; i < g->n_nodes; i++) {
        const ts_node *n = &g->nodes[i];
        const ts_node *in = &g->nodes[n->inputs[0]];
        bool geo = n->op == TS_OP_CONV2D || ((n->op == TS_OP_MAXPOOL || n->op == TS_OP_AVGPOOL) && !n->global);
        if (geo && (n->pad_t != n->pad_b || n->pad_l != n->pad_r))
            return ts_error(TS_ERR_UNSUPPORTED, "layer '%s': asymmetric padding has no Caffe counterpart", n->name);
        if (geo && n->op != TS_OP_CONV2D && n->pool_floor &&
            /* Caffe always rounds up: the size it would give */
            (ts_pool_out_size(in->h, n->kh, n->stride, n->pad_t, n->pad_b, 0) != n->h ||
             ts_pool_out_size(in->w, n->kw, n->stride, n->pad_l, n->pad_r, 0) != n->w))
            return ts_error(TS_ERR_UNSUPPORTED, "layer '%s': floor-rounded pooling gives a different size in Caffe (which rounds up)", n->name);
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] == 0 && (n->op != TS_OP_CONV2D || n->groups != 1))
                return ts_error(TS_ERR_UNSUPPORTED, "layer '%s' reads the input; Caffe export folds the "
                                "input scaling into ungrouped convolutions only", n->name);
    }
    return TS_OK;
}

/* The weights of layer n as Caffe stores them: input-reading convolutions
 * get 1/(255*std) folded in and their channels reversed to BGR. */
static float *caffe_weights(const ts_model *m, const ts_node *n)
{
    const ts_tensor *t = &n->weight;
    size_t count = ts_tensor_numel(t);
    float *w = malloc(count * sizeof *w);
    if (!w) return NULL;
    memcpy(w, t->data, count * sizeof *w);
    if (n->op == TS_OP_CONV2D && n->inputs[0] == 0) {
        int C = t->c;
        size_t plane = (size_t)t->h * t->w;
        for (int o = 0; o < t->n; o++)
            for (int j = 0; j < C; j++) {
                int c = j < 3 ? 2 - j : j; /* Caffe channel j is our channel c */
                const float *src = t->data + ((size_t)o * C + c) * plane;
                float *dst = w + ((size_t)o * C + j) * plane;
                float f = 1.0f / (255.0f * m->meta.std[c]);
                for (size_t k = 0; k < plane; k++) dst[k] = src[k] * f;
            }
    }
    return w;
}

static void pb_blob(ts_pbw *w, uint32_t field, const int64_t *dims, int ndim, const float *data, size_t count)
{
    size_t b = ts_pbw_begin(w, field);
    size_t s = ts_pbw_begin(w, 7);
    ts_pbw_packed_ints(w, 1, dims, (size_t)ndim);
    ts_pbw_end(w, s);
    ts_pbw_packed_floats(w, 5, data, count);
    ts_pbw_end(w, b);
}

/* Writes one layer to both the prototxt and the caffemodel. */
static ts_status export_layer(const ts_model *m, int i, ts_strbuf *t, ts_pbw *w)
{
    const ts_graph *g = m->graph;
    const ts_node *n = &g->nodes[i];
    const char *type = NULL;
    switch (n->op) {
    case TS_OP_CONV2D: type = "Convolution"; break;
    case TS_OP_RELU: case TS_OP_LEAKY_RELU:
        if (n->op == TS_OP_RELU && n->clip > 0)
            return ts_error(TS_ERR_UNSUPPORTED, "layer '%s': a clipped relu (ReLU6) has no Caffe counterpart", n->name);
        type = "ReLU";
        break;
    case TS_OP_LRN: type = "LRN"; break;
    case TS_OP_MAXPOOL: case TS_OP_AVGPOOL: type = "Pooling"; break;
    case TS_OP_FC: type = "InnerProduct"; break;
    case TS_OP_DROPOUT: type = "Dropout"; break;
    case TS_OP_CONCAT: type = "Concat"; break;
    case TS_OP_ADD: type = "Eltwise"; break;
    default: return ts_error(TS_ERR_UNSUPPORTED, "layer '%s': %s has no Caffe counterpart", n->name, ts_op_name(n->op));
    }
    size_t lm = ts_pbw_begin(w, 100);
    ts_pbw_string(w, 1, n->name);
    ts_pbw_string(w, 2, type);
    ts_strbuf_printf(t, "layer {\n  name: \"%s\"\n  type: \"%s\"\n", n->name, type);
    for (int k = 0; k < n->n_inputs; k++) {
        ts_pbw_string(w, 3, g->nodes[n->inputs[k]].name);
        ts_strbuf_printf(t, "  bottom: \"%s\"\n", g->nodes[n->inputs[k]].name);
    }
    ts_pbw_string(w, 4, n->name);
    ts_strbuf_printf(t, "  top: \"%s\"\n", n->name);
    size_t pm;
    switch (n->op) {
    case TS_OP_CONV2D: {
        const ts_tensor *wt = &n->weight;
        float *cw = caffe_weights(m, n);
        if (!cw) return ts_error(TS_ERR_OOM, "out of memory");
        pb_blob(w, 7, (int64_t[]){ wt->n, wt->c, wt->h, wt->w }, 4, cw, ts_tensor_numel(wt));
        free(cw);
        if (n->has_bias) pb_blob(w, 7, (int64_t[]){ n->out_c }, 1, n->bias.data, (size_t)n->out_c);
        pm = ts_pbw_begin(w, 106);
        ts_pbw_varint(w, 1, (uint64_t)n->out_c);
        ts_pbw_varint(w, 2, (uint64_t)n->has_bias);
        ts_pbw_varint(w, 5, (uint64_t)n->groups);
        ts_pbw_varint(w, 9, (uint64_t)n->pad_t);
        ts_pbw_varint(w, 10, (uint64_t)n->pad_l);
        ts_pbw_varint(w, 11, (uint64_t)n->kh);
        ts_pbw_varint(w, 12, (uint64_t)n->kw);
        ts_pbw_varint(w, 13, (uint64_t)n->stride);
        ts_pbw_varint(w, 14, (uint64_t)n->stride);
        ts_pbw_end(w, pm);
        ts_strbuf_printf(t, "  convolution_param {\n    num_output: %d\n    bias_term: %s\n    group: %d\n"
                     "    pad_h: %d\n    pad_w: %d\n    kernel_h: %d\n    kernel_w: %d\n    stride: %d\n  }\n",
                  n->out_c, n->has_bias ? "true" : "false", n->groups, n->pad_t, n->pad_l, n->kh, n->kw, n->stride);
        break;
    }
    case TS_OP_FC: {
        const ts_tensor *wt = &n->weight;
        pb_blob(w, 7, (int64_t[]){ wt->n, wt->c }, 2, wt->data, ts_tensor_numel(wt));
        if (n->has_bias) pb_blob(w, 7, (int64_t[]){ n->out_c }, 1, n->bias.data, (size_t)n->out_c);
        pm = ts_pbw_begin(w, 117);
        ts_pbw_varint(w, 1, (uint64_t)n->out_c);
        ts_pbw_varint(w, 2, (uint64_t)n->has_bias);
        ts_pbw_end(w, pm);
        ts_strbuf_printf(t, "  inner_product_param {\n    num_output: %d\n    bias_term: %s\n  }\n", n->out_c,
                  n->has_bias ? "true" : "false");
        break;
    }
    case TS_OP_LEAKY_RELU:
        pm = ts_pbw_begin(w, 123);
        ts_pbw_float(w, 1, n->slope);
        ts_pbw_end(w, pm);
        ts_strbuf_printf(t, "  relu_param {\n    negative_slope: %.9g\n  }\n", n->slope);
        break;
    case TS_OP_LRN:
        pm = ts_pbw_begin(w, 118);
        ts_pbw_varint(w, 1, (uint64_t)n->lrn_size);
        ts_pbw_float(w, 2, n->lrn_alpha);
        ts_pbw_float(w, 3, n->lrn_beta);
        ts_pbw_float(w, 5, n->lrn_k);
        ts_pbw_end(w, pm);
        ts_strbuf_printf(t, "  lrn_param {\n    local_size: %d\n    alpha: %.9g\n    beta: %.9g\n    k: %.9g\n  }\n",
                  n->lrn_size, n->lrn_alpha, n->lrn_beta, n->lrn_k);
        break;
    case TS_OP_MAXPOOL:
    case TS_OP_AVGPOOL: {
        int method = n->op == TS_OP_AVGPOOL;
        pm = ts_pbw_begin(w, 121);
        ts_pbw_varint(w, 1, (uint64_t)method);
        if (n->global) {
            ts_pbw_varint(w, 12, 1);
        } else {
            ts_pbw_varint(w, 3, (uint64_t)n->stride);
            ts_pbw_varint(w, 5, (uint64_t)n->kh);
            ts_pbw_varint(w, 6, (uint64_t)n->kw);
            ts_pbw_varint(w, 9, (uint64_t)n->pad_t);
            ts_pbw_varint(w, 10, (uint64_t)n->pad_l);
        }
        ts_pbw_end(w, pm);
        if (n->global)
            ts_strbuf_printf(t, "  pooling_param {\n    pool: %s\n    global_pooling: true\n  }\n", method ? "AVE" : "MAX");
        else
            ts_strbuf_printf(t, "  pooling_param {\n    pool: %s\n    kernel_h: %d\n    kernel_w: %d\n    stride: %d\n"
                         "    pad_h: %d\n    pad_w: %d\n  }\n", method ? "AVE" : "MAX", n->kh, n->kw, n->stride,
                      n->pad_t, n->pad_l);
        break;
    }
    case TS_OP_DROPOUT:
        pm = ts_pbw_begin(w, 108);
        ts_pbw_float(w, 1, n->p);
        ts_pbw_end(w, pm);
        ts_strbuf_printf(t, "  dropout_param {\n    dropout_ratio: %.9g\n  }\n", n->p);
        break;
    case TS_OP_ADD:
        pm = ts_pbw_begin(w, 110);
        ts_pbw_varint(w, 1, 1);
        ts_pbw_end(w, pm);
        ts_strbuf_printf(t, "  eltwise_param {\n    operation: SUM\n  }\n");
        break;
    default:
        break;
    }
    ts_strbuf_printf(t, "}\n");
    ts_pbw_end(w, lm);
    return TS_OK;
}

ts_status ts_caffe_export(const ts_model *m, const char *caffemodel_path, const char *prototxt_path,
                          const char *mean_path)
{
    const ts_graph *g = m->graph;
    TS_TRY(check_exportable(g));
    ts_strbuf t = { 0 };
    ts_pbw w = { 0 };
    const ts_node *in = &g->nodes[0];
    char *keys[TS_NETBUILD_META_MAX], *values[TS_NETBUILD_META_MAX];
    int n_meta = ts_netbuild_meta_pairs(m, keys, values);
    ts_strbuf_printf(&t, "# Written by Traitscope.  Input: %s, pixels 0..255 minus the mean (%s).\n",
              in->c == 4 ? "B, G, R, then A(x,y) scaled like a pixel" : "B, G, R", mean_path ? "mean file beside" : "mean 0");
    for (int i = 0; i < n_meta; i++) {
        for (char *p = values[i]; *p; p++)
            if (*p == '\n' || *p == '\r') *p = ' ';
        ts_strbuf_printf(&t, "# %s: %s\n", keys[i], values[i]);
    }
    ts_netbuild_meta_free(keys, values, n_meta);
    ts_strbuf_printf(&t, "name: \"%s\"\ninput: \"%s\"\ninput_shape {\n  dim: 1\n  dim: %d\n  dim: %d\n  dim: %d\n}\n",
              m->meta.arch, in->name, in->c, in->h, in->w);
    ts_pbw_string(&w, 1, m->meta.arch);
    ts_pbw_string(&w, 3, in->name);
    size_t s = ts_pbw_begin(&w, 8);
    ts_pbw_packed_ints(&w, 1, (int64_t[]){ 1, in->c, in->h, in->w }, 4);
    ts_pbw_end(&w, s);
    ts_status st = TS_OK;
    for (int i = 1; i < g->n_nodes && st == TS_OK; i++) st = export_layer(m, i, &t, &w);
    if (st == TS_OK && g->output != g->n_nodes - 1)
        st = ts_error(TS_ERR_UNSUPPORTED, "the output '%s' is not the last layer", g->nodes[g->output].name);
    if (st == TS_OK && t.oom) st = ts_error(TS_ERR_OOM, "out of memory");
    if (st == TS_OK) st = ts_pbw_status(&w);
    /* The mean image Caffe subtracts: 255 * mean, BGR, constant per plane. */
    ts_pbw mb = { 0 };
    float *mv = NULL;
    if (st == TS_OK && mean_path) {
        size_t plane = (size_t)in->h * in->w;
        mv = malloc((size_t)in->c * plane * sizeof *mv);
        if (!mv) {
            st = ts_error(TS_ERR_OOM, "out of memory");
        } else {
            for (int j = 0; j < in->c; j++) {
                int c = j < 3 ? 2 - j : j;
                for (size_t k = 0; k < plane; k++) mv[(size_t)j * plane + k] = 255.0f * m->meta.mean[c];
            }
            ts_pbw_varint(&mb, 1, 1);
            ts_pbw_varint(&mb, 2, (uint64_t)in->c);
            ts_pbw_varint(&mb, 3, (uint64_t)in->h);
            ts_pbw_varint(&mb, 4, (uint64_t)in->w);
            ts_pbw_packed_floats(&mb, 5, mv, (size_t)in->c * plane);
            st = ts_pbw_status(&mb);
        }
    }
    /* The files only make sense together: written as a set, so that a
     * failure (a full disk) leaves the previous export whole. */
    if (st == TS_OK) {
        ts_file_part parts[3] = { { prototxt_path, t.s, t.len }, { caffemodel_path, w.buf, w.len },
                                  { mean_path, mb.buf, mb.len } };
        st = ts_write_files_atomic(parts, mean_path ? 3 : 2);
    }
    free(mv);
    ts_pbw_clear(&mb);
    free(t.s);
    ts_pbw_clear(&w);
    return st;
}
