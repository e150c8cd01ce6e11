/* onnx.c - ONNX import and export; see onnx.h for what is supported.
 *
 * Reading is in two steps.  First the protobuf messages are decoded into
 * plain structs (every repeated field is counted in a first pass over its
 * message, then filled, so no count comes from the file unchecked); all of
 * it lives in one ts_pool and is freed at once.  Then the nodes are walked
 * in file order (ONNX requires topological order) with a table from value
 * names to what produced them: one of our layers (possibly seen through a
 * Flatten, "flat"), or a constant (initializer or Constant node).  Layers go
 * to a ts_netbuild (netbuild.h), which writes the description text, builds
 * the model and copies the weights after checking their shapes.
 *
 * Field numbers (onnx.proto): ModelProto ir_version 1, graph 7, opset_import
 * 8 (OperatorSetIdProto domain 1, version 2), metadata_props 14
 * (StringStringEntryProto key 1, value 2); GraphProto node 1, name 2,
 * initializer 5, doc_string 10, input 11, output 12; NodeProto input 1,
 * output 2, name 3, op_type 4, attribute 5, domain 7; AttributeProto name 1,
 * f 2, i 3, s 4, t 5, floats 7, ints 8, type 20; TensorProto dims 1,
 * data_type 2, float_data 4, int32_data 5, int64_data 7, name 8, raw_data 9,
 * double_data 10, external_data 13, data_location 14; ValueInfoProto name 1,
 * type 2; TypeProto tensor_type 1; TypeProto.Tensor elem_type 1, shape 2;
 * TensorShapeProto dim 1; Dimension dim_value 1, dim_param 2.
 *
 * Floats in raw_data are little-endian; this file assumes a little-endian
 * host (checked at compile time where the compiler says).
 */
#include "nn/onnx.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/fileio.h"
#include "nn/netbuild.h"
#include "nn/protobuf.h"
#include "ts-config.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "onnx.c reads and writes raw little-endian floats"
#endif

enum { DT_FLOAT = 1, DT_INT32 = 6, DT_INT64 = 7, DT_DOUBLE = 11 };
enum { AT_FLOAT = 1, AT_INT = 2, AT_STRING = 3, AT_TENSOR = 4, AT_FLOATS = 6, AT_INTS = 7 };

#define MAX_DIMS 8
#define MAX_STR 4096
#define MAX_ELEMS ((size_t)1 << 30) /* elements of one tensor */
#define MAX_LIST 1000000            /* nodes, inputs, attributes... of one message */
#define OPSET_EXPORT 13
#define IR_EXPORT 7

typedef struct otensor {
    const char *name;
    int dtype, ndim;
    int64_t dims[MAX_DIMS];
    size_t count;
    float *f;   /* FLOAT and DOUBLE tensors */
    int64_t *i; /* INT64 and INT32 tensors */
} otensor;

typedef struct oattr {
    const char *name;
    int type;
    float f;
    int64_t i;
    const char *s;
    otensor *t;
    int64_t *ints;
    size_t n_ints;
    float *floats;
    size_t n_floats;
    bool has_f, has_i;
} oattr;

typedef struct onode {
    const char *op, *name, *domain;
    const char **in, **out;
    int n_in, n_out;
    oattr *attrs;
    int n_attrs;
} onode;

typedef struct ovalue {
    const char *name;
    int ndim; /* -1: no shape */
    int64_t dims[MAX_DIMS]; /* -1: symbolic */
} ovalue;

typedef struct omodel {
    ts_pool pool;
    int64_t opset;
    onode *nodes;
    otensor *inits;
    ovalue *inputs, *outputs;
    const char **mkeys, **mvals;
    int n_nodes, n_inits, n_inputs, n_outputs, n_meta;
} omodel;

/* ---- decoding ---- */

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

static void *pool_array(ts_pool *pool, int n, size_t size)
{
    return ts_pool_alloc(pool, (size_t)(n > 0 ? n : 1) * size);
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

static ts_status tensor_error(const ts_pb *r, size_t off, const char *name, const char *why)
{
    return ts_error(TS_ERR_FORMAT, "%s: offset %zu: tensor '%s': %s", r->name, off,
                    name ? name : "", why);
}

static ts_status parse_tensor(ts_pool *pool, ts_pb r, size_t off, otensor *t)
{
    ts_pb_field f;
    bool got;
    ts_pb_ints dims = { 0 }, ints = { 0 };
    ts_pb_floats floats = { 0 };
    const uint8_t *raw = NULL;
    size_t raw_len = 0;
    bool external = false;
    ts_status st = TS_OK;
    memset(t, 0, sizeof *t);
    t->name = "";
    while (st == TS_OK) {
        if ((st = ts_pb_next(&r, &f, &got)) != TS_OK || !got) break;
        int64_t v;
        switch (f.num) {
        case 1: st = ts_pb_append_ints(&r, &f, "TensorProto.dims", MAX_DIMS, &dims); break;
        case 2:
            if ((st = ts_pb_int(&r, &f, "TensorProto.data_type", 0, 64, &v)) == TS_OK) t->dtype = (int)v;
            break;
        case 4: st = ts_pb_append_floats(&r, &f, "TensorProto.float_data", MAX_ELEMS, &floats); break;
        case 5:
        case 7: st = ts_pb_append_ints(&r, &f, "TensorProto.int_data", MAX_ELEMS, &ints); break;
        case 8: st = get_string(pool, &r, &f, "TensorProto.name", &t->name); break;
        case 9:
            if (f.wire != TS_PB_LEN) st = tensor_error(&r, f.offset, t->name, "raw_data is not bytes");
            raw = f.data, raw_len = f.len;
            break;
        case 10: st = ts_pb_append_doubles(&r, &f, "TensorProto.double_data", MAX_ELEMS, &floats); break;
        case 13: external = true; break;
        case 14:
            if ((st = ts_pb_int(&r, &f, "TensorProto.data_location", 0, 1, &v)) == TS_OK && v == 1)
                external = true;
            break;
        default: break;
        }
    }
    if (st == TS_OK && external)
        st = ts_error(TS_ERR_UNSUPPORTED, "%s: tensor '%s' keeps its data in an external file; "
                      "save the model with the weights inside", r.name, t->name);
    if (st == TS_OK) {
        t->ndim = (int)dims.n;
        t->count = 1;
        for (size_t k = 0; k < dims.n && st == TS_OK; k++) {
            if (dims.v[k] < 0 || dims.v[k] > (int64_t)MAX_ELEMS || (dims.v[k] && t->count > MAX_ELEMS / (size_t)dims.v[k]))
                st = tensor_error(&r, off, t->name, "dimensions out of range");
            else t->dims[k] = dims.v[k], t->count *= (size_t)dims.v[k];
        }
    }
    if (st == TS_OK) {
        bool is_float = t->dtype == DT_FLOAT || t->dtype == DT_DOUBLE;
        bool is_int = t->dtype == DT_INT64 || t->dtype == DT_INT32;
        size_t esize = (t->dtype == DT_FLOAT || t->dtype == DT_INT32) ? 4 : 8;
        if (raw && (is_float || is_int)) {
            if (raw_len / esize != t->count || raw_len % esize)
                st = tensor_error(&r, off, t->name, "raw_data size does not match the dimensions");
            else if (is_float && !(t->f = ts_pool_alloc(pool, t->count * sizeof *t->f))) st = TS_ERR_OOM;
            else if (is_int && !(t->i = ts_pool_alloc(pool, t->count * sizeof *t->i))) st = TS_ERR_OOM;
            for (size_t k = 0; st == TS_OK && k < t->count; k++) {
                const uint8_t *p = raw + k * esize;
                if (t->dtype == DT_FLOAT) memcpy(&t->f[k], p, 4);
                else if (t->dtype == DT_DOUBLE) {
                    double d;
                    memcpy(&d, p, 8);
                    t->f[k] = (float)d;
                } else if (t->dtype == DT_INT32) {
                    int32_t x;
                    memcpy(&x, p, 4);
                    t->i[k] = x;
                } else {
                    memcpy(&t->i[k], p, 8);
                }
            }
        } else if (is_float) {
            if (floats.n != t->count) st = tensor_error(&r, off, t->name, "number of values does not match the dimensions");
            else if (!(t->f = ts_pool_alloc(pool, t->count * sizeof *t->f))) st = TS_ERR_OOM;
            else if (t->count) memcpy(t->f, floats.v, t->count * sizeof *t->f);
        } else if (is_int) {
            if (ints.n != t->count) st = tensor_error(&r, off, t->name, "number of values does not match the dimensions");
            else if (!(t->i = ts_pool_alloc(pool, t->count * sizeof *t->i))) st = TS_ERR_OOM;
            else if (t->count) memcpy(t->i, ints.v, t->count * sizeof *t->i);
        }
        /* Other data types stay without values; using them is an error. */
    }
    free(dims.v);
    free(ints.v);
    free(floats.v);
    return st;
}

static ts_status parse_attr(ts_pool *pool, ts_pb r, oattr *a)
{
    ts_pb_field f;
    bool got;
    ts_pb_ints ints = { 0 };
    ts_pb_floats floats = { 0 };
    ts_status st = TS_OK;
    a->name = "";
    while (st == TS_OK) {
        if ((st = ts_pb_next(&r, &f, &got)) != TS_OK || !got) break;
        int64_t v;
        switch (f.num) {
        case 1: st = get_string(pool, &r, &f, "AttributeProto.name", &a->name); break;
        case 2: st = ts_pb_float(&r, &f, "AttributeProto.f", &a->f), a->has_f = true; break;
        case 3:
            st = ts_pb_int(&r, &f, "AttributeProto.i", INT64_MIN, INT64_MAX, &a->i);
            a->has_i = true;
            break;
        case 4: st = get_string(pool, &r, &f, "AttributeProto.s", &a->s); break;
        case 5: {
            ts_pb sub;
            if ((st = ts_pb_sub(&r, &f, "AttributeProto.t", &sub)) != TS_OK) break;
            if (!(a->t = ts_pool_alloc(pool, sizeof *a->t))) st = TS_ERR_OOM;
            else st = parse_tensor(pool, sub, f.offset, a->t);
            break;
        }
        case 7: st = ts_pb_append_floats(&r, &f, "AttributeProto.floats", 4096, &floats); break;
        case 8: st = ts_pb_append_ints(&r, &f, "AttributeProto.ints", 4096, &ints); break;
        case 20:
            if ((st = ts_pb_int(&r, &f, "AttributeProto.type", 0, 64, &v)) == TS_OK) a->type = (int)v;
            break;
        default: break;
        }
    }
    if (st == TS_OK && ints.n) {
        if (ts_pool_keep(pool, ints.v)) a->ints = ints.v, a->n_ints = ints.n;
        else st = TS_ERR_OOM;
        ints.v = NULL;
    }
    if (st == TS_OK && floats.n) {
        if (ts_pool_keep(pool, floats.v)) a->floats = floats.v, a->n_floats = floats.n;
        else st = TS_ERR_OOM;
        floats.v = NULL;
    }
    free(ints.v);
    free(floats.v);
    return st;
}

static ts_status parse_node(ts_pool *pool, ts_pb r, onode *n)
{
    TS_TRY(count_field(r, 1, &n->n_in));
    TS_TRY(count_field(r, 2, &n->n_out));
    TS_TRY(count_field(r, 5, &n->n_attrs));
    n->in = pool_array(pool, n->n_in, sizeof *n->in);
    n->out = pool_array(pool, n->n_out, sizeof *n->out);
    n->attrs = pool_array(pool, n->n_attrs, sizeof *n->attrs);
    if (!n->in || !n->out || !n->attrs) return TS_ERR_OOM;
    n->op = n->name = n->domain = "";
    int ki = 0, ko = 0, ka = 0;
    ts_pb_field f;
    bool got;
    for (;;) {
        TS_TRY(ts_pb_next(&r, &f, &got));
        if (!got) return TS_OK;
        ts_pb sub;
        switch (f.num) {
        case 1: TS_TRY(get_string(pool, &r, &f, "NodeProto.input", &n->in[ki++])); break;
        case 2: TS_TRY(get_string(pool, &r, &f, "NodeProto.output", &n->out[ko++])); break;
        case 3: TS_TRY(get_string(pool, &r, &f, "NodeProto.name", &n->name)); break;
        case 4: TS_TRY(get_string(pool, &r, &f, "NodeProto.op_type", &n->op)); break;
        case 7: TS_TRY(get_string(pool, &r, &f, "NodeProto.domain", &n->domain)); break;
        case 5:
            TS_TRY(ts_pb_sub(&r, &f, "NodeProto.attribute", &sub));
            TS_TRY(parse_attr(pool, sub, &n->attrs[ka++]));
            break;
        default: break;
        }
    }
}

static ts_status parse_shape(ts_pb r, ovalue *v)
{
    ts_pb_field f;
    bool got;
    v->ndim = 0;
    for (;;) {
        TS_TRY(ts_pb_next(&r, &f, &got));
        if (!got) return TS_OK;
        if (f.num != 1) continue;
        ts_pb dim;
        TS_TRY(ts_pb_sub(&r, &f, "TensorShapeProto.dim", &dim));
        if (v->ndim == MAX_DIMS) return ts_error(TS_ERR_FORMAT, "%s: a value with more than %d dimensions", r.name, MAX_DIMS);
        int64_t d = -1;
        ts_pb_field g;
        for (;;) {
            TS_TRY(ts_pb_next(&dim, &g, &got));
            if (!got) break;
            if (g.num == 1) TS_TRY(ts_pb_int(&dim, &g, "Dimension.dim_value", 0, 1 << 30, &d));
        }
        v->dims[v->ndim++] = d;
    }
}

static ts_status parse_value_info(ts_pool *pool, ts_pb r, ovalue *v)
{
    ts_pb_field f, g, h;
    bool got;
    v->name = "";
    v->ndim = -1;
    for (;;) {
        TS_TRY(ts_pb_next(&r, &f, &got));
        if (!got) return TS_OK;
        if (f.num == 1) TS_TRY(get_string(pool, &r, &f, "ValueInfoProto.name", &v->name));
        if (f.num != 2) continue;
        ts_pb type, tensor, shape;
        TS_TRY(ts_pb_sub(&r, &f, "ValueInfoProto.type", &type));
        for (;;) {
            TS_TRY(ts_pb_next(&type, &g, &got));
            if (!got) break;
            if (g.num != 1) continue;
            TS_TRY(ts_pb_sub(&type, &g, "TypeProto.tensor_type", &tensor));
            for (;;) {
                TS_TRY(ts_pb_next(&tensor, &h, &got));
                if (!got) break;
                if (h.num != 2) continue;
                TS_TRY(ts_pb_sub(&tensor, &h, "TypeProto.Tensor.shape", &shape));
                TS_TRY(parse_shape(shape, v));
            }
        }
    }
}

static ts_status parse_graph(omodel *m, ts_pb r)
{
    ts_pool *pool = &m->pool;
    TS_TRY(count_field(r, 1, &m->n_nodes));
    TS_TRY(count_field(r, 5, &m->n_inits));
    TS_TRY(count_field(r, 11, &m->n_inputs));
    TS_TRY(count_field(r, 12, &m->n_outputs));
    m->nodes = pool_array(pool, m->n_nodes, sizeof *m->nodes);
    m->inits = pool_array(pool, m->n_inits, sizeof *m->inits);
    m->inputs = pool_array(pool, m->n_inputs, sizeof *m->inputs);
    m->outputs = pool_array(pool, m->n_outputs, sizeof *m->outputs);
    if (!m->nodes || !m->inits || !m->inputs || !m->outputs) return TS_ERR_OOM;
    int kn = 0, kt = 0, ki = 0, ko = 0;
    ts_pb_field f;
    bool got;
    for (;;) {
        TS_TRY(ts_pb_next(&r, &f, &got));
        if (!got) return TS_OK;
        ts_pb sub;
        switch (f.num) {
        case 1:
            TS_TRY(ts_pb_sub(&r, &f, "GraphProto.node", &sub));
            TS_TRY(parse_node(pool, sub, &m->nodes[kn++]));
            break;
        case 5:
            TS_TRY(ts_pb_sub(&r, &f, "GraphProto.initializer", &sub));
            TS_TRY(parse_tensor(pool, sub, f.offset, &m->inits[kt++]));
            break;
        case 11:
            TS_TRY(ts_pb_sub(&r, &f, "GraphProto.input", &sub));
            TS_TRY(parse_value_info(pool, sub, &m->inputs[ki++]));
            break;
        case 12:
            TS_TRY(ts_pb_sub(&r, &f, "GraphProto.output", &sub));
            TS_TRY(parse_value_info(pool, sub, &m->outputs[ko++]));
            break;
        default: break;
        }
    }
}

static ts_status parse_model(omodel *m, ts_pb r)
{
    int n_graphs = 0;
    TS_TRY(count_field(r, 14, &m->n_meta));
    m->mkeys = pool_array(&m->pool, m->n_meta, sizeof *m->mkeys);
    m->mvals = pool_array(&m->pool, m->n_meta, sizeof *m->mvals);
    if (!m->mkeys || !m->mvals) return TS_ERR_OOM;
    int km = 0;
    ts_pb_field f, g;
    bool got;
    for (;;) {
        TS_TRY(ts_pb_next(&r, &f, &got));
        if (!got) break;
        ts_pb sub;
        if (f.num == 7) {
            if (n_graphs++) return ts_error(TS_ERR_FORMAT, "%s: offset %zu: a second graph", r.name, f.offset);
            TS_TRY(ts_pb_sub(&r, &f, "ModelProto.graph", &sub));
            TS_TRY(parse_graph(m, sub));
        } else if (f.num == 8) {
            TS_TRY(ts_pb_sub(&r, &f, "ModelProto.opset_import", &sub));
            const char *domain = "";
            int64_t version = 0;
            for (;;) {
                TS_TRY(ts_pb_next(&sub, &g, &got));
                if (!got) break;
                if (g.num == 1) TS_TRY(get_string(&m->pool, &sub, &g, "OperatorSetIdProto.domain", &domain));
                if (g.num == 2) TS_TRY(ts_pb_int(&sub, &g, "OperatorSetIdProto.version", 1, 1000, &version));
            }
            if (!domain[0] || !strcmp(domain, "ai.onnx")) m->opset = version;
        } else if (f.num == 14) {
            TS_TRY(ts_pb_sub(&r, &f, "ModelProto.metadata_props", &sub));
            m->mkeys[km] = m->mvals[km] = "";
            for (;;) {
                TS_TRY(ts_pb_next(&sub, &g, &got));
                if (!got) break;
                if (g.num == 1) TS_TRY(get_string(&m->pool, &sub, &g, "StringStringEntryProto.key", &m->mkeys[km]));
                if (g.num == 2) TS_TRY(get_string(&m->pool, &sub, &g, "StringStringEntryProto.value", &m->mvals[km]));
            }
            km++;
        }
    }
    if (!n_graphs) return ts_error(TS_ERR_FORMAT, "%s: no graph (not an ONNX model?)", r.name);
    return TS_OK;
}

/* ---- from ONNX nodes to layers ---- */

enum { V_NODE, V_CONST };

typedef struct oval {
    const char *name;
    int kind;
    int node;  /* V_NODE: our layer */
    bool flat; /* V_NODE seen through Flatten/Reshape: (N, C*H*W) */
    bool padded;  /* V_NODE after a zero Pad, folded into the next Conv/AveragePool */
    int pad[4];   /* top, left, bottom, right */
    const otensor *t; /* V_CONST */
} oval;

typedef struct importer {
    omodel *m;
    const char *src;
    ts_netbuild nb;
    oval *vals;
    int n_vals, cap_vals;
} importer;

static oval *find_val(importer *im, const char *name)
{
    for (int i = im->n_vals - 1; i >= 0; i--)
        if (!strcmp(im->vals[i].name, name)) return &im->vals[i];
    return NULL;
}

static ts_status put_val(importer *im, const char *name, oval v)
{
    if (!name[0]) return TS_OK;
    if (find_val(im, name))
        return ts_error(TS_ERR_FORMAT, "%s: value '%s' is produced twice", im->src, name);
    if (im->n_vals == im->cap_vals) {
        int cap = im->cap_vals ? im->cap_vals * 2 : 64;
        oval *nv = realloc(im->vals, (size_t)cap * sizeof *nv);
        if (!nv) return ts_error(TS_ERR_OOM, "out of memory");
        im->vals = nv;
        im->cap_vals = cap;
    }
    v.name = name;
    im->vals[im->n_vals++] = v;
    return TS_OK;
}

static int uses_of(const importer *im, const char *name)
{
    int n = 0;
    for (int i = 0; i < im->m->n_nodes; i++)
        for (int k = 0; k < im->m->nodes[i].n_in; k++) n += !strcmp(im->m->nodes[i].in[k], name);
    for (int i = 0; i < im->m->n_outputs; i++) n += !strcmp(im->m->outputs[i].name, name);
    return n;
}

static const oattr *attr(const onode *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (!strcmp(n->attrs[i].name, name)) return &n->attrs[i];
    return NULL;
}

static int64_t attr_int(const onode *n, const char *name, int64_t def)
{
    const oattr *a = attr(n, name);
    return a && a->has_i ? a->i : def;
}

static float attr_float(const onode *n, const char *name, float def)
{
    const oattr *a = attr(n, name);
    return a && a->has_f ? a->f : def;
}

static const char *layer_name(const onode *n)
{
    return n->name[0] ? n->name : n->n_out ? n->out[0] : n->op;
}

static ts_status unsupported(const importer *im, const onode *n, const char *why)
{
    return ts_error(TS_ERR_UNSUPPORTED, "%s: node '%s' (%s): %s", im->src, layer_name(n), n->op, why);
}


/* Input k of n as a layer (not a constant); flat tells whether it was
 * flattened.  Spatial operators pass allow_flat = false. */
static ts_status in_node(importer *im, const onode *n, int k, bool allow_flat, int *node, bool *flat)
{
    if (k >= n->n_in || !n->in[k][0]) return unsupported(im, n, "missing input");
    const oval *v = find_val(im, n->in[k]);
    if (!v) {
        char why[MAX_STR + 64];
        snprintf(why, sizeof why, "input '%s' is not produced by an earlier node", n->in[k]);
        return ts_error(TS_ERR_FORMAT, "%s: node '%s' (%s): %s", im->src, layer_name(n), n->op, why);
    }
    if (v->kind != V_NODE) return unsupported(im, n, "a constant where a tensor computed by the network is expected");
    if (v->padded) return unsupported(im, n, "reads the output of a Pad; a zero Pad is read only before Conv or AveragePool");
    const ts_node *src = &im->nb.nodes[v->node];
    bool one_by_one = src->op == TS_OP_FC || ((src->op == TS_OP_MAXPOOL || src->op == TS_OP_AVGPOOL) && src->global);
    if (v->flat && !allow_flat && !one_by_one)
        return unsupported(im, n, "reads a flattened tensor; only fully connected layers may");
    *node = v->node;
    if (flat) *flat = v->flat;
    return TS_OK;
}

/* Input 0 of a Conv or AveragePool, which may come through a zero Pad;
 * the Pad's amounts are added to pads (t, l, b, r). */
static ts_status in_node_padded(importer *im, const onode *n, int *node, int pads[4])
{
    memset(pads, 0, 4 * sizeof *pads);
    const oval *v = n->n_in ? find_val(im, n->in[0]) : NULL;
    if (v && v->kind == V_NODE && v->padded) {
        memcpy(pads, v->pad, 4 * sizeof *pads);
        *node = v->node;
        return TS_OK;
    }
    return in_node(im, n, 0, false, node, NULL);
}

static const otensor *in_const(importer *im, const onode *n, int k)
{
    if (k >= n->n_in || !n->in[k][0]) return NULL;
    const oval *v = find_val(im, n->in[k]);
    if (!v || v->kind != V_CONST) {
        /* initializers are looked up lazily: they can be listed anywhere */
        for (int i = 0; i < im->m->n_inits; i++)
            if (!strcmp(im->m->inits[i].name, n->in[k])) return &im->m->inits[i];
        return NULL;
    }
    return v->t;
}

static ts_status const_floats(importer *im, const onode *n, const otensor *t, const char *what)
{
    if (!t) {
        char why[128];
        snprintf(why, sizeof why, "%s must be a constant (an initializer)", what);
        return unsupported(im, n, why);
    }
    if (!t->f) {
        char why[128];
        snprintf(why, sizeof why, "%s has data type %d; only float tensors are read", what, t->dtype);
        return unsupported(im, n, why);
    }
    return TS_OK;
}

static float *dup_floats(const float *v, size_t n)
{
    float *c = malloc((n ? n : 1) * sizeof *c);
    if (c && n) memcpy(c, v, n * sizeof *c);
    return c;
}

/* kernel_shape/strides/pads/dilations/auto_pad of Conv and the pools. */
static ts_status geometry(importer *im, const onode *n, ts_node *d, bool need_kernel)
{
    const oattr *ks = attr(n, "kernel_shape"), *st = attr(n, "strides"), *pd = attr(n, "pads"),
                *dl = attr(n, "dilations"), *ap = attr(n, "auto_pad");
    if (ap && ap->s && strcmp(ap->s, "NOTSET") && strcmp(ap->s, "VALID"))
        return unsupported(im, n, "auto_pad other than NOTSET or VALID");
    if (ks) {
        if (ks->n_ints != 2 || ks->ints[0] < 1 || ks->ints[1] < 1 || ks->ints[0] > 4096 || ks->ints[1] > 4096)
            return unsupported(im, n, "kernel_shape must be two sizes (2-D)");
        d->kh = (int)ks->ints[0], d->kw = (int)ks->ints[1];
    } else if (need_kernel) {
        return unsupported(im, n, "no kernel_shape");
    }
    if (st) {
        if (st->n_ints != 2 || st->ints[0] != st->ints[1] || st->ints[0] < 1 || st->ints[0] > 4096)
            return unsupported(im, n, "strides must be equal in height and width");
        d->stride = (int)st->ints[0];
    }
    if (pd && !(ap && ap->s && !strcmp(ap->s, "VALID"))) {
        if (pd->n_ints != 4) return unsupported(im, n, "pads must have four values (2-D)");
        for (int k = 0; k < 4; k++)
            if (pd->ints[k] < 0 || pd->ints[k] > 4096) return unsupported(im, n, "pads out of range");
        /* ONNX order: begins (top, left), then ends (bottom, right). */
        d->pad_t = (int)pd->ints[0], d->pad_l = (int)pd->ints[1];
        d->pad_b = (int)pd->ints[2], d->pad_r = (int)pd->ints[3];
    }
    if (dl)
        for (size_t k = 0; k < dl->n_ints; k++)
            if (dl->ints[k] != 1) return unsupported(im, n, "dilated kernels are not supported");
    return TS_OK;
}

static ts_status add_layer(importer *im, const onode *n, ts_op op, int n_in, const int *inputs,
                           bool flat, int *index)
{
    int i = ts_netbuild_add(&im->nb, op, layer_name(n), n_in, inputs);
    if (i < 0) return ts_error_prefix(TS_ERR_FORMAT, "%s: ", im->src);
    if (index) *index = i;
    if (n->n_out < 1) return unsupported(im, n, "no output");
    return put_val(im, n->out[0], (oval){ .kind = V_NODE, .node = i, .flat = flat });
}

static ts_status do_conv(importer *im, const onode *n)
{
    int x, extra[4];
    TS_TRY(in_node_padded(im, n, &x, extra));
    const otensor *w = in_const(im, n, 1), *b = in_const(im, n, 2);
    TS_TRY(const_floats(im, n, w, "the weight"));
    if (w->ndim != 4 || w->dims[0] < 1 || w->dims[1] < 1) return unsupported(im, n, "the weight is not 4-D (only 2-D convolutions)");
    if (n->n_in > 2 && n->in[2][0]) {
        TS_TRY(const_floats(im, n, b, "the bias"));
        if (b->count != (size_t)w->dims[0]) return unsupported(im, n, "the bias does not have one value per output channel");
    }
    ts_node d = { 0 };
    d.stride = 1;
    d.kh = (int)w->dims[2], d.kw = (int)w->dims[3];
    TS_TRY(geometry(im, n, &d, false));
    if (d.kh != w->dims[2] || d.kw != w->dims[3]) return unsupported(im, n, "kernel_shape differs from the weight's shape");
    d.pad_t += extra[0], d.pad_l += extra[1], d.pad_b += extra[2], d.pad_r += extra[3];
    int64_t group = attr_int(n, "group", 1);
    if (group < 1 || group > 65536 || w->dims[0] > 65536) return unsupported(im, n, "group or output channels out of range");
    int i;
    TS_TRY(add_layer(im, n, TS_OP_CONV2D, 1, &x, false, &i));
    ts_node *c = &im->nb.nodes[i];
    c->out_c = (int)w->dims[0];
    c->kh = d.kh, c->kw = d.kw, c->stride = d.stride;
    c->pad_t = d.pad_t, c->pad_b = d.pad_b, c->pad_l = d.pad_l, c->pad_r = d.pad_r;
    c->groups = (int)group;
    c->has_bias = 1;
    float *wc = dup_floats(w->f, w->count);
    float *bc = b && b->f ? dup_floats(b->f, b->count) : calloc((size_t)c->out_c, sizeof *bc);
    if (!wc || !bc) {
        free(wc);
        free(bc);
        return ts_error(TS_ERR_OOM, "out of memory");
    }
    ts_netbuild_set_params(&im->nb, i, wc, (int[4]){ c->out_c, (int)w->dims[1], d.kh, d.kw }, bc);
    return TS_OK;
}

/* BatchNormalization (inference form: scale, B, input_mean, input_var)
 * becomes a batchnorm layer, wherever it stands (after a Conv, a Gemm, a
 * pooling...); LRP folds it into a linear layer before it (explain/lrp.c). */
static ts_status do_batchnorm(importer *im, const onode *n)
{
    int x;
    bool flat;
    TS_TRY(in_node(im, n, 0, true, &x, &flat));
    for (int k = 1; k < n->n_out; k++)
        if (n->out[k][0] && uses_of(im, n->out[k])) return unsupported(im, n, "training outputs (running mean/var) are used");
    if (attr_int(n, "training_mode", 0) != 0) return unsupported(im, n, "training_mode = 1");
    const otensor *p[4];
    static const char *const names[4] = { "scale", "B", "input_mean", "input_var" };
    for (int k = 0; k < 4; k++) {
        p[k] = in_const(im, n, k + 1);
        TS_TRY(const_floats(im, n, p[k], names[k]));
        if (p[k]->count != p[0]->count || p[k]->count < 1 || p[k]->count > 65536)
            return unsupported(im, n, "parameters do not have one value per channel");
    }
    size_t C = p[0]->count;
    for (size_t c = 0; c < C; c++)
        if (!(p[3]->f[c] >= 0.0f)) return unsupported(im, n, "a variance is negative or NaN");
    float eps = attr_float(n, "epsilon", 1e-5f);
    if (!(eps > 0.0f) || !isfinite(eps)) return unsupported(im, n, "epsilon must be > 0");
    float mom = attr_float(n, "momentum", 0.9f); /* ONNX: running = mom * running + (1 - mom) * batch */
    int i;
    TS_TRY(add_layer(im, n, TS_OP_BATCHNORM, 1, &x, flat, &i));
    ts_node *d = &im->nb.nodes[i];
    d->bn_eps = eps;
    d->bn_momentum = mom >= 0.0f && mom <= 1.0f ? 1.0f - mom : 0.1f;
    float *w = malloc(3 * C * sizeof *w), *b = dup_floats(p[1]->f, C);
    if (!w || !b) {
        free(w);
        free(b);
        return ts_error(TS_ERR_OOM, "out of memory");
    }
    memcpy(w, p[0]->f, C * sizeof *w);
    memcpy(w + C, p[2]->f, C * sizeof *w);
    memcpy(w + 2 * C, p[3]->f, C * sizeof *w);
    ts_netbuild_set_params(&im->nb, i, w, (int[4]){ 3, (int)C, 1, 1 }, b);
    return TS_OK;
}

static ts_status do_pool(importer *im, const onode *n, ts_op op, bool global)
{
    int x, extra[4];
    if (op == TS_OP_AVGPOOL && !global) TS_TRY(in_node_padded(im, n, &x, extra));
    else TS_TRY(in_node(im, n, 0, false, &x, NULL));
    for (int k = 1; k < n->n_out; k++)
        if (n->out[k][0] && uses_of(im, n->out[k])) return unsupported(im, n, "the Indices output is used");
    ts_node d = { 0 };
    d.stride = 1;
    if (!global) {
        TS_TRY(geometry(im, n, &d, true));
        if (attr_int(n, "storage_order", 0) != 0) return unsupported(im, n, "storage_order 1");
        bool padded = d.pad_t || d.pad_b || d.pad_l || d.pad_r;
        if (op == TS_OP_AVGPOOL && padded && attr_int(n, "count_include_pad", 0) == 0)
            return unsupported(im, n, "average pooling over padding with count_include_pad = 0 (the engine counts padded cells, like Caffe)");
        /* A zero Pad before it: padded cells count, as in our average. */
        if (op == TS_OP_AVGPOOL) d.pad_t += extra[0], d.pad_l += extra[1], d.pad_b += extra[2], d.pad_r += extra[3];
    }
    int i;
    TS_TRY(add_layer(im, n, op, 1, &x, false, &i));
    ts_node *p = &im->nb.nodes[i];
    p->global = global;
    if (!global) {
        p->kh = d.kh, p->kw = d.kw, p->stride = d.stride;
        p->pad_t = d.pad_t, p->pad_b = d.pad_b, p->pad_l = d.pad_l, p->pad_r = d.pad_r;
        p->pool_floor = attr_int(n, "ceil_mode", 0) == 0;
    }
    return TS_OK;
}

/* Gemm and MatMul: a fully connected layer. */
static ts_status do_fc(importer *im, const onode *n, bool gemm)
{
    int x;
    TS_TRY(in_node(im, n, 0, true, &x, NULL));
    const otensor *w = in_const(im, n, 1), *c = gemm ? in_const(im, n, 2) : NULL;
    TS_TRY(const_floats(im, n, w, "B (the weight)"));
    if (w->ndim != 2 || w->dims[0] < 1 || w->dims[1] < 1) return unsupported(im, n, "the weight is not a 2-D constant");
    if (gemm && attr_int(n, "transA", 0)) return unsupported(im, n, "transA = 1");
    bool trans = gemm && attr_int(n, "transB", 0);
    float alpha = gemm ? attr_float(n, "alpha", 1.0f) : 1.0f, beta = gemm ? attr_float(n, "beta", 1.0f) : 1.0f;
    int64_t O = trans ? w->dims[0] : w->dims[1], K = trans ? w->dims[1] : w->dims[0];
    if (O > (1 << 20) || K > (1 << 30)) return unsupported(im, n, "weight too large");
    if (gemm && n->n_in > 2 && n->in[2][0]) {
        TS_TRY(const_floats(im, n, c, "C (the bias)"));
        if (c->count != (size_t)O && c->count != 1) return unsupported(im, n, "C is not one value per output");
    }
    int i;
    TS_TRY(add_layer(im, n, TS_OP_FC, 1, &x, false, &i));
    ts_node *d = &im->nb.nodes[i];
    d->out_c = (int)O;
    d->has_bias = 1;
    float *wc = malloc((size_t)O * (size_t)K * sizeof *wc);
    float *bc = calloc((size_t)O, sizeof *bc);
    if (!wc || !bc) {
        free(wc);
        free(bc);
        return ts_error(TS_ERR_OOM, "out of memory");
    }
    for (int64_t o = 0; o < O; o++)
        for (int64_t k = 0; k < K; k++)
            wc[o * K + k] = alpha * (trans ? w->f[o * K + k] : w->f[k * O + o]);
    if (c && c->f)
        for (int64_t o = 0; o < O; o++) bc[o] = beta * c->f[c->count == 1 ? 0 : o];
    ts_netbuild_set_params(&im->nb, i, wc, (int[4]){ (int)O, (int)K, 1, 1 }, bc);
    return TS_OK;
}

/* Does constant t broadcast as one value per channel of layer d's output? */
static bool is_channel_bias(const otensor *t, const ts_node *d, bool flat)
{
    if (t->count == 1) return true;
    if (t->count != (size_t)d->out_c) return false;
    bool two_d = flat || d->op == TS_OP_FC;
    /* (O), (1,O) on a 2-D output; (O,1,1), (1,O,1,1) on a 4-D one. */
    int trailing = two_d ? 0 : 2;
    if (t->ndim < 1 + trailing) return false;
    for (int k = t->ndim - trailing; k < t->ndim; k++)
        if (t->dims[k] != 1) return false;
    for (int k = 0; k < t->ndim - trailing - 1; k++)
        if (t->dims[k] != 1) return false;
    return true;
}

static ts_status do_add(importer *im, const onode *n)
{
    if (n->n_in == 2) {
        for (int k = 0; k < 2; k++) {
            const oval *v = find_val(im, n->in[k]);
            const otensor *t = in_const(im, n, 1 - k);
            if (!v || v->kind != V_NODE || !t) continue;
            ts_node *d = &im->nb.nodes[v->node];
            TS_TRY(const_floats(im, n, t, "the added constant"));
            if ((d->op != TS_OP_CONV2D && d->op != TS_OP_FC) || uses_of(im, n->in[k]) != 1 ||
                !is_channel_bias(t, d, v->flat))
                return unsupported(im, n, "adds a constant that is not the bias of the Conv, Gemm or MatMul before it");
            float *b = im->nb.b[v->node];
            for (int o = 0; o < d->out_c; o++) b[o] += t->f[t->count == 1 ? 0 : o];
            if (n->n_out < 1) return unsupported(im, n, "no output");
            return put_val(im, n->out[0], (oval){ .kind = V_NODE, .node = v->node, .flat = v->flat });
        }
    }
    if (n->n_in == 1) {
        int x;
        bool flat;
        TS_TRY(in_node(im, n, 0, true, &x, &flat));
        return put_val(im, n->n_out ? n->out[0] : "", (oval){ .kind = V_NODE, .node = x, .flat = flat });
    }
    if (n->n_in < 2 || n->n_in > TS_MAX_INPUTS) return unsupported(im, n, "needs 2 to 8 inputs");
    int in[TS_MAX_INPUTS];
    bool flat = false, f;
    for (int k = 0; k < n->n_in; k++) {
        TS_TRY(in_node(im, n, k, true, &in[k], &f));
        if (k && f != flat) return unsupported(im, n, "adds a flattened and a 4-D tensor");
        flat = f;
    }
    return add_layer(im, n, TS_OP_ADD, n->n_in, in, flat, NULL);
}

static ts_status do_concat(importer *im, const onode *n)
{
    if (n->n_in < 1 || n->n_in > TS_MAX_INPUTS) return unsupported(im, n, "needs 1 to 8 inputs");
    int in[TS_MAX_INPUTS];
    bool flat = false, f;
    for (int k = 0; k < n->n_in; k++) {
        TS_TRY(in_node(im, n, k, false, &in[k], &f));
        flat = flat || f;
    }
    int64_t axis = attr_int(n, "axis", 1);
    if (axis != 1 && !(axis == -3 && !flat) && !(axis == -1 && flat))
        return unsupported(im, n, "concatenation along an axis other than the channels");
    if (n->n_in == 1) return put_val(im, n->n_out ? n->out[0] : "", (oval){ .kind = V_NODE, .node = in[0], .flat = flat });
    return add_layer(im, n, TS_OP_CONCAT, n->n_in, in, flat, NULL);
}

static ts_status do_reshape(importer *im, const onode *n, bool is_flatten)
{
    int x;
    bool flat;
    TS_TRY(in_node(im, n, 0, true, &x, &flat));
    if (is_flatten) {
        if (attr_int(n, "axis", 1) != 1) return unsupported(im, n, "Flatten with axis other than 1");
    } else {
        const otensor *s = in_const(im, n, 1);
        if (!s || !s->i || s->count != 2 || s->ndim != 1)
            return unsupported(im, n, "only a Reshape to (batch, -1) by a constant shape is read");
        int64_t a = s->i[0], b = s->i[1];
        bool batch_kept = (a == 0 || a == -1 || a == 1) && (b == -1 || b > 0) && !(a == -1 && b == -1);
        if (!batch_kept) return unsupported(im, n, "only a Reshape to (batch, -1) is read");
    }
    if (n->n_out < 1) return unsupported(im, n, "no output");
    return put_val(im, n->out[0], (oval){ .kind = V_NODE, .node = x, .flat = true });
}

/* A constant zero Pad of height and width; read by the next Conv or
 * AveragePool as its padding. */
static ts_status do_pad(importer *im, const onode *n)
{
    int x;
    TS_TRY(in_node(im, n, 0, false, &x, NULL));
    const oattr *mode = attr(n, "mode");
    if (mode && mode->s && strcmp(mode->s, "constant")) return unsupported(im, n, "only constant padding is read");
    int64_t p[8];
    const otensor *pt = in_const(im, n, 1);
    const oattr *pa = attr(n, "pads");
    if (pt && pt->i && pt->count == 8) memcpy(p, pt->i, sizeof p);
    else if (!pt && pa && pa->n_ints == 8) memcpy(p, pa->ints, sizeof p);
    else return unsupported(im, n, "pads must be a constant with 8 values (4-D)");
    const otensor *cv = in_const(im, n, 2);
    float value = attr_float(n, "value", 0.0f);
    if (cv && cv->f && cv->count == 1) value = cv->f[0];
    if (n->n_in > 2 && n->in[2][0] && !(cv && cv->f && cv->count == 1)) return unsupported(im, n, "the pad value must be a constant");
    if (value != 0.0f) return unsupported(im, n, "only zero padding is read");
    if (p[0] || p[1] || p[4] || p[5]) return unsupported(im, n, "pads the batch or channel axis");
    for (int k = 0; k < 8; k++)
        if (p[k] < 0 || p[k] > 4096) return unsupported(im, n, "pads out of range");
    if (n->n_out < 1) return unsupported(im, n, "no output");
    return put_val(im, n->out[0], (oval){ .kind = V_NODE, .node = x, .padded = true,
                                          .pad = { (int)p[2], (int)p[3], (int)p[6], (int)p[7] } });
}

static ts_status do_node(importer *im, const onode *n)
{
    const char *op = n->op;
    if (n->domain[0] && strcmp(n->domain, "ai.onnx"))
        return unsupported(im, n, "operator from a custom domain");
    if (!strcmp(op, "Conv")) return do_conv(im, n);
    if (!strcmp(op, "BatchNormalization")) return do_batchnorm(im, n);
    if (!strcmp(op, "MaxPool")) return do_pool(im, n, TS_OP_MAXPOOL, false);
    if (!strcmp(op, "AveragePool")) return do_pool(im, n, TS_OP_AVGPOOL, false);
    if (!strcmp(op, "GlobalMaxPool")) return do_pool(im, n, TS_OP_MAXPOOL, true);
    if (!strcmp(op, "GlobalAveragePool")) return do_pool(im, n, TS_OP_AVGPOOL, true);
    if (!strcmp(op, "Gemm")) return do_fc(im, n, true);
    if (!strcmp(op, "MatMul")) return do_fc(im, n, false);
    if (!strcmp(op, "Add") || !strcmp(op, "Sum")) return do_add(im, n);
    if (!strcmp(op, "Concat")) return do_concat(im, n);
    if (!strcmp(op, "Pad")) return do_pad(im, n);
    if (!strcmp(op, "Flatten")) return do_reshape(im, n, true);
    if (!strcmp(op, "Reshape")) return do_reshape(im, n, false);
    if (!strcmp(op, "Constant")) {
        const oattr *a = attr(n, "value");
        if (!a || !a->t || n->n_out < 1) return unsupported(im, n, "only a Constant with a tensor 'value' is read");
        return put_val(im, n->out[0], (oval){ .kind = V_CONST, .t = a->t });
    }
    int x;
    bool flat;
    if (!strcmp(op, "Identity") || !strcmp(op, "Softmax") || !strcmp(op, "LogSoftmax")) {
        TS_TRY(in_node(im, n, 0, true, &x, &flat));
        if (op[0] != 'I') {
            /* Dropped: the model's output is the logits before it. */
            bool is_output = false;
            for (int k = 0; k < im->m->n_outputs; k++)
                is_output = is_output || (n->n_out && !strcmp(im->m->outputs[k].name, n->out[0]));
            if (!is_output || uses_of(im, n->out[0]) != 1)
                return unsupported(im, n, "Softmax is read only as the last operator (it is dropped: models output logits)");
        }
        if (n->n_out < 1) return unsupported(im, n, "no output");
        return put_val(im, n->out[0], (oval){ .kind = V_NODE, .node = x, .flat = flat });
    }
    if (!strcmp(op, "Relu") || !strcmp(op, "LeakyRelu") || !strcmp(op, "Dropout")) {
        TS_TRY(in_node(im, n, 0, true, &x, &flat));
        int i;
        if (!strcmp(op, "Dropout")) {
            for (int k = 1; k < n->n_out; k++)
                if (n->out[k][0] && uses_of(im, n->out[k])) return unsupported(im, n, "the dropout mask is used");
            float p = attr_float(n, "ratio", 0.5f);
            const otensor *r = in_const(im, n, 1);
            if (r && r->f && r->count == 1) p = r->f[0];
            if (!(p >= 0.0f && p < 1.0f)) return unsupported(im, n, "ratio outside [0,1)");
            TS_TRY(add_layer(im, n, TS_OP_DROPOUT, 1, &x, flat, &i));
            im->nb.nodes[i].p = p;
            return TS_OK;
        }
        bool leaky = op[0] == 'L';
        TS_TRY(add_layer(im, n, leaky ? TS_OP_LEAKY_RELU : TS_OP_RELU, 1, &x, flat, &i));
        if (leaky) {
            float a = attr_float(n, "alpha", 0.01f);
            if (!isfinite(a)) return unsupported(im, n, "alpha is not finite");
            im->nb.nodes[i].slope = a;
        }
        return TS_OK;
    }
    if (!strcmp(op, "LRN")) {
        TS_TRY(in_node(im, n, 0, false, &x, NULL));
        int64_t size = attr_int(n, "size", 0);
        if (size < 1 || size > 1023 || size % 2 == 0) return unsupported(im, n, "size must be odd, 1..1023");
        int i;
        TS_TRY(add_layer(im, n, TS_OP_LRN, 1, &x, false, &i));
        ts_node *d = &im->nb.nodes[i];
        d->lrn_size = (int)size;
        d->lrn_alpha = attr_float(n, "alpha", 1e-4f);
        d->lrn_beta = attr_float(n, "beta", 0.75f);
        d->lrn_k = attr_float(n, "bias", 1.0f);
        return TS_OK;
    }
    char why[MAX_STR + 64];
    snprintf(why, sizeof why, "unsupported operator '%s' (supported: Conv, BatchNormalization, Relu, "
             "LeakyRelu, LRN, MaxPool, AveragePool, GlobalMaxPool, GlobalAveragePool, Gemm, MatMul, Add, "
             "Sum, Concat, Flatten, Reshape, Pad before Conv/AveragePool, Dropout, Identity, Constant, Softmax at the end)", op);
    return unsupported(im, n, why);
}

static bool is_initializer(const omodel *m, const char *name)
{
    for (int i = 0; i < m->n_inits; i++)
        if (!strcmp(m->inits[i].name, name)) return true;
    return false;
}

static ts_status import_graph(importer *im, ts_model **out)
{
    omodel *m = im->m;
    const ovalue *input = NULL;
    for (int i = 0; i < m->n_inputs; i++)
        if (!is_initializer(m, m->inputs[i].name)) {
            if (input) return ts_error(TS_ERR_UNSUPPORTED, "%s: the graph has more than one input ('%s', '%s')", im->src, input->name, m->inputs[i].name);
            input = &m->inputs[i];
        }
    if (!input) return ts_error(TS_ERR_FORMAT, "%s: the graph has no input", im->src);
    if (input->ndim != 4 || input->dims[1] < 1 || input->dims[2] < 1 || input->dims[3] < 1)
        return ts_error(TS_ERR_UNSUPPORTED, "%s: input '%s' must be a (N, C, H, W) tensor with fixed C, H and W",
                        im->src, input->name);
    if (input->dims[1] > 4096 || input->dims[2] > 8192 || input->dims[3] > 8192)
        return ts_error(TS_ERR_UNSUPPORTED, "%s: input '%s' is too large", im->src, input->name);
    if (m->n_outputs < 1) return ts_error(TS_ERR_FORMAT, "%s: the graph has no output", im->src);
    TS_TRY(ts_netbuild_init(&im->nb, (int)input->dims[1], (int)input->dims[2], (int)input->dims[3]));
    TS_TRY(put_val(im, input->name, (oval){ .kind = V_NODE, .node = 0 }));
    for (int i = 0; i < m->n_nodes; i++) TS_TRY(do_node(im, &m->nodes[i]));
    const oval *o = find_val(im, m->outputs[0].name);
    if (!o || o->kind != V_NODE || o->node == 0)
        return ts_error(TS_ERR_FORMAT, "%s: the graph output '%s' is not computed by the network", im->src, m->outputs[0].name);
    im->nb.output = o->node;
    TS_TRY(ts_netbuild_finish(&im->nb, "onnx", im->src, out));
    for (int i = 0; i < m->n_meta; i++) {
        ts_status st = ts_netbuild_meta_apply(*out, m->mkeys[i], m->mvals[i], im->src);
        if (st != TS_OK) {
            ts_model_free(*out);
            *out = NULL;
            return st;
        }
    }
    return TS_OK;
}

ts_status ts_onnx_import_buffer(const uint8_t *buf, size_t len, const char *name, ts_model **out)
{
    *out = NULL;
    omodel m = { 0 };
    importer im = { .m = &m, .src = name };
    ts_pb r;
    ts_pb_init(&r, buf, len, name);
    ts_status st = len ? parse_model(&m, r) : ts_error(TS_ERR_FORMAT, "%s: empty file", name);
    if (st == TS_ERR_OOM && !strstr(ts_last_error(), name)) ts_error_prefix(st, "%s: ", name);
    if (st == TS_OK) st = import_graph(&im, out);
    ts_netbuild_clear(&im.nb);
    free(im.vals);
    ts_pool_clear(&m.pool);
    return st;
}

ts_status ts_onnx_import(const char *path, ts_model **out)
{
    *out = NULL;
    uint8_t *data;
    size_t len;
    TS_TRY(ts_read_file(path, TS_ONNX_MAX_FILE, &data, &len));
    ts_status st = ts_onnx_import_buffer(data, len, path, out);
    free(data);
    return st;
}

/* ---- export ---- */

static void w_attr_int(ts_pbw *w, const char *name, int64_t v)
{
    size_t a = ts_pbw_begin(w, 5);
    ts_pbw_string(w, 1, name);
    ts_pbw_int(w, 3, v);
    ts_pbw_varint(w, 20, AT_INT);
    ts_pbw_end(w, a);
}

static void w_attr_float(ts_pbw *w, const char *name, float v)
{
    size_t a = ts_pbw_begin(w, 5);
    ts_pbw_string(w, 1, name);
    ts_pbw_float(w, 2, v);
    ts_pbw_varint(w, 20, AT_FLOAT);
    ts_pbw_end(w, a);
}

static void w_attr_ints(ts_pbw *w, const char *name, const int64_t *v, size_t n)
{
    size_t a = ts_pbw_begin(w, 5);
    ts_pbw_string(w, 1, name);
    ts_pbw_packed_ints(w, 8, v, n);
    ts_pbw_varint(w, 20, AT_INTS);
    ts_pbw_end(w, a);
}

/* Opens a NodeProto; the caller adds attributes and closes it. */
static size_t w_node(ts_pbw *w, const char *op, const char *name, const char *const *in, int n_in,
                     const char *out)
{
    size_t mark = ts_pbw_begin(w, 1);
    for (int k = 0; k < n_in; k++) ts_pbw_string(w, 1, in[k]);
    ts_pbw_string(w, 2, out);
    ts_pbw_string(w, 3, name);
    ts_pbw_string(w, 4, op);
    return mark;
}

static void w_tensor(ts_pbw *w, uint32_t field, const char *name, const int64_t *dims, int ndim,
                     const float *f, const int64_t *ints, size_t count)
{
    size_t t = ts_pbw_begin(w, field);
    ts_pbw_packed_ints(w, 1, dims, (size_t)ndim);
    ts_pbw_varint(w, 2, f ? DT_FLOAT : DT_INT64);
    ts_pbw_string(w, 8, name);
    if (f) ts_pbw_bytes(w, 9, f, count * sizeof *f);
    else ts_pbw_packed_ints(w, 7, ints, count);
    ts_pbw_end(w, t);
}

static void w_value_info(ts_pbw *w, uint32_t field, const char *name, const int64_t *dims, int ndim)
{
    size_t v = ts_pbw_begin(w, field);
    ts_pbw_string(w, 1, name);
    size_t type = ts_pbw_begin(w, 2);
    size_t tt = ts_pbw_begin(w, 1);
    ts_pbw_varint(w, 1, DT_FLOAT);
    size_t shape = ts_pbw_begin(w, 2);
    for (int k = 0; k < ndim; k++) {
        size_t d = ts_pbw_begin(w, 1);
        if (dims[k] < 0) ts_pbw_string(w, 2, "N");
        else ts_pbw_int(w, 1, dims[k]);
        ts_pbw_end(w, d);
    }
    ts_pbw_end(w, shape);
    ts_pbw_end(w, tt);
    ts_pbw_end(w, type);
    ts_pbw_end(w, v);
}

typedef struct exporter {
    ts_pbw *w;
    const ts_graph *g;
    char (*val)[TS_NAME_MAX + 16]; /* ONNX value name of each layer's output */
    int *rank;                     /* 2 or 4 */
    bool need_4d_shape;
} exporter;

/* The value of layer i as a 4-D tensor (reshaping a 2-D one). */
static const char *as_4d(exporter *e, int i, char *buf, size_t len)
{
    if (e->rank[i] == 4) return e->val[i];
    snprintf(buf, len, "%s_4d", e->val[i]);
    const char *in[2] = { e->val[i], "traitscope_shape_4d" };
    size_t n = w_node(e->w, "Reshape", buf, in, 2, buf);
    ts_pbw_end(e->w, n);
    e->need_4d_shape = true;
    return buf;
}

static void w_geometry(ts_pbw *w, const ts_node *n)
{
    w_attr_ints(w, "kernel_shape", (int64_t[]){ n->kh, n->kw }, 2);
    w_attr_ints(w, "strides", (int64_t[]){ n->stride, n->stride }, 2);
    w_attr_ints(w, "pads", (int64_t[]){ n->pad_t, n->pad_l, n->pad_b, n->pad_r }, 4);
}

static ts_status export_node(exporter *e, int i)
{
    const ts_graph *g = e->g;
    const ts_node *n = &g->nodes[i];
    ts_pbw *w = e->w;
    char b0[TS_NAME_MAX + 32], wname[TS_NAME_MAX + 16], bname[TS_NAME_MAX + 16];
    int x = n->inputs[0];
    snprintf(e->val[i], sizeof e->val[i], "%s", n->name);
    e->rank[i] = e->rank[x];
    snprintf(wname, sizeof wname, "%s.weight", n->name);
    snprintf(bname, sizeof bname, "%s.bias", n->name);
    size_t mark;
    switch (n->op) {
    case TS_OP_CONV2D: {
        const char *in[3] = { as_4d(e, x, b0, sizeof b0), wname, bname };
        mark = w_node(w, "Conv", n->name, in, n->has_bias ? 3 : 2, e->val[i]);
        w_geometry(w, n);
        w_attr_int(w, "group", n->groups);
        ts_pbw_end(w, mark);
        e->rank[i] = 4;
        break;
    }
    case TS_OP_RELU:
    case TS_OP_LEAKY_RELU: {
        if (n->op == TS_OP_RELU && n->clip > 0)
            return ts_error(TS_ERR_UNSUPPORTED, "layer '%s': a clipped relu (ReLU6) is not exported", n->name);
        const char *in[1] = { e->val[x] };
        mark = w_node(w, n->op == TS_OP_RELU ? "Relu" : "LeakyRelu", n->name, in, 1, e->val[i]);
        if (n->op == TS_OP_LEAKY_RELU) w_attr_float(w, "alpha", n->slope);
        ts_pbw_end(w, mark);
        break;
    }
    case TS_OP_LRN: {
        const char *in[1] = { as_4d(e, x, b0, sizeof b0) };
        mark = w_node(w, "LRN", n->name, in, 1, e->val[i]);
        w_attr_int(w, "size", n->lrn_size);
        w_attr_float(w, "alpha", n->lrn_alpha);
        w_attr_float(w, "beta", n->lrn_beta);
        w_attr_float(w, "bias", n->lrn_k);
        ts_pbw_end(w, mark);
        e->rank[i] = 4;
        break;
    }
    case TS_OP_MAXPOOL:
    case TS_OP_AVGPOOL: {
        const char *in[1] = { as_4d(e, x, b0, sizeof b0) };
        bool max = n->op == TS_OP_MAXPOOL;
        if (n->global) {
            mark = w_node(w, max ? "GlobalMaxPool" : "GlobalAveragePool", n->name, in, 1, e->val[i]);
        } else {
            mark = w_node(w, max ? "MaxPool" : "AveragePool", n->name, in, 1, e->val[i]);
            w_geometry(w, n);
            if (!n->pool_floor) w_attr_int(w, "ceil_mode", 1);
            if (!max && (n->pad_t || n->pad_b || n->pad_l || n->pad_r)) w_attr_int(w, "count_include_pad", 1);
        }
        ts_pbw_end(w, mark);
        e->rank[i] = 4;
        break;
    }
    case TS_OP_FC: {
        const char *src = e->val[x];
        if (e->rank[x] == 4) {
            snprintf(b0, sizeof b0, "%s_flat", n->name);
            const char *in[1] = { e->val[x] };
            mark = w_node(w, "Flatten", b0, in, 1, b0);
            w_attr_int(w, "axis", 1);
            ts_pbw_end(w, mark);
            src = b0;
        }
        const char *in[3] = { src, wname, bname };
        mark = w_node(w, "Gemm", n->name, in, n->has_bias ? 3 : 2, e->val[i]);
        w_attr_int(w, "transB", 1);
        ts_pbw_end(w, mark);
        e->rank[i] = 2;
        break;
    }
    case TS_OP_BATCHNORM: {
        char mname[TS_NAME_MAX + 16], vname[TS_NAME_MAX + 16];
        snprintf(mname, sizeof mname, "%s.running_mean", n->name);
        snprintf(vname, sizeof vname, "%s.running_var", n->name);
        const char *in[5] = { e->val[x], wname, bname, mname, vname };
        mark = w_node(w, "BatchNormalization", n->name, in, 5, e->val[i]);
        w_attr_float(w, "epsilon", n->bn_eps);
        w_attr_float(w, "momentum", 1.0f - n->bn_momentum);
        ts_pbw_end(w, mark);
        break;
    }
    case TS_OP_DROPOUT:
        /* The identity at inference: the layer's value is its input's. */
        memcpy(e->val[i], e->val[x], sizeof e->val[i]);
        break;
    case TS_OP_CONCAT:
    case TS_OP_ADD: {
        bool all2 = true;
        for (int k = 0; k < n->n_inputs; k++) all2 = all2 && e->rank[n->inputs[k]] == 2;
        char bufs[TS_MAX_INPUTS][TS_NAME_MAX + 32];
        const char *in[TS_MAX_INPUTS];
        for (int k = 0; k < n->n_inputs; k++)
            in[k] = all2 ? e->val[n->inputs[k]] : as_4d(e, n->inputs[k], bufs[k], sizeof bufs[k]);
        mark = w_node(w, n->op == TS_OP_CONCAT ? "Concat" : "Sum", n->name, in, n->n_inputs, e->val[i]);
        if (n->op == TS_OP_CONCAT) w_attr_int(w, "axis", 1);
        ts_pbw_end(w, mark);
        e->rank[i] = all2 ? 2 : 4;
        break;
    }
    default:
        return ts_error(TS_ERR_UNSUPPORTED, "layer '%s': %s has no ONNX counterpart", n->name, ts_op_name(n->op));
    }
    return TS_OK;
}

ts_status ts_onnx_export_buffer(const ts_model *m, uint8_t **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    const ts_graph *g = m->graph;
    ts_pbw w = { 0 };
    exporter e = { .w = &w, .g = g };
    e.val = calloc((size_t)g->n_nodes, sizeof *e.val);
    e.rank = calloc((size_t)g->n_nodes, sizeof *e.rank);
    if (!e.val || !e.rank) {
        free(e.val);
        free(e.rank);
        return ts_error(TS_ERR_OOM, "out of memory");
    }
    ts_pbw_int(&w, 1, IR_EXPORT);
    ts_pbw_string(&w, 2, "traitscope");
    ts_pbw_string(&w, 3, TS_VERSION);
    ts_pbw_string(&w, 6, "Traitscope model. Input 'data' (N,C,H,W): RGB channels (+ A(x,y) for "
                         "4-channel models), x = (pixel/255 - mean[c]) / std[c] with mean and std "
                         "in metadata traitscope.input_mean / traitscope.input_std. Output "
                         "'logits' (N, classes), class names in traitscope.classes.");
    size_t graph = ts_pbw_begin(&w, 7);
    ts_pbw_string(&w, 2, m->meta.arch);
    const ts_node *in = &g->nodes[0];
    snprintf(e.val[0], sizeof e.val[0], "%s", in->name);
    e.rank[0] = 4;
    ts_status st = TS_OK;
    for (int i = 1; i < g->n_nodes && st == TS_OK; i++) st = export_node(&e, i);
    if (st == TS_OK) {
        const char *lin[1] = { e.val[g->output] };
        /* "logits" unless a layer already has that name. */
        const char *out_name = ts_graph_index(g, "logits") >= 0 ? "traitscope_logits" : "logits";
        size_t mark = w_node(&w, "Flatten", out_name, lin, 1, out_name);
        w_attr_int(&w, "axis", 1);
        ts_pbw_end(&w, mark);
        /* Initializers: every parameter, in layer order. */
        for (int i = 1; i < g->n_nodes; i++) {
            const ts_node *n = &g->nodes[i];
            char name[TS_NAME_MAX + 16];
            if (n->op == TS_OP_BATCHNORM) {
                const ts_tensor *t4[4] = { &n->weight, &n->bias, &n->run_mean, &n->run_var };
                static const char *const what[4] = { "weight", "bias", "running_mean", "running_var" };
                for (int k = 0; k < 4; k++) {
                    snprintf(name, sizeof name, "%s.%s", n->name, what[k]);
                    w_tensor(&w, 5, name, (int64_t[]){ t4[k]->c }, 1, t4[k]->data, NULL, (size_t)t4[k]->c);
                }
                continue;
            }
            if (n->op != TS_OP_CONV2D && n->op != TS_OP_FC) continue;
            const ts_tensor *t = &n->weight;
            snprintf(name, sizeof name, "%s.weight", n->name);
            if (n->op == TS_OP_CONV2D)
                w_tensor(&w, 5, name, (int64_t[]){ t->n, t->c, t->h, t->w }, 4, t->data, NULL, ts_tensor_numel(t));
            else
                w_tensor(&w, 5, name, (int64_t[]){ t->n, t->c }, 2, t->data, NULL, ts_tensor_numel(t));
            if (n->has_bias) {
                snprintf(name, sizeof name, "%s.bias", n->name);
                w_tensor(&w, 5, name, (int64_t[]){ n->out_c }, 1, n->bias.data, NULL, (size_t)n->out_c);
            }
        }
        if (e.need_4d_shape)
            w_tensor(&w, 5, "traitscope_shape_4d", (int64_t[]){ 4 }, 1, NULL, (int64_t[]){ 0, -1, 1, 1 }, 4);
        w_value_info(&w, 11, in->name, (int64_t[]){ -1, in->c, in->h, in->w }, 4);
        w_value_info(&w, 12, out_name, (int64_t[]){ -1, g->nodes[g->output].c }, 2);
    }
    ts_pbw_end(&w, graph);
    size_t op = ts_pbw_begin(&w, 8);
    ts_pbw_string(&w, 1, "");
    ts_pbw_int(&w, 2, OPSET_EXPORT);
    ts_pbw_end(&w, op);
    char *keys[TS_NETBUILD_META_MAX], *values[TS_NETBUILD_META_MAX];
    int n_meta = ts_netbuild_meta_pairs(m, keys, values);
    for (int i = 0; i < n_meta; i++) {
        size_t p = ts_pbw_begin(&w, 14);
        ts_pbw_string(&w, 1, keys[i]);
        ts_pbw_string(&w, 2, values[i]);
        ts_pbw_end(&w, p);
    }
    ts_netbuild_meta_free(keys, values, n_meta);
    free(e.val);
    free(e.rank);
    if (st == TS_OK) st = ts_pbw_status(&w);
    if (st != TS_OK) {
        ts_pbw_clear(&w);
        return st;
    }
    *buf = w.buf;
    *len = w.len;
    return TS_OK;
}

ts_status ts_onnx_export(const ts_model *m, const char *path)
{
    uint8_t *buf;
    size_t len;
    ts_status st = ts_onnx_export_buffer(m, &buf, &len);
    if (st != TS_OK) return ts_error_prefix(st, "%s: ", path);
    st = ts_write_file_atomic(path, buf, len);
    free(buf);
    return st;
}
