/* netbuild.c - from imported layers to a ts_model; see netbuild.h.
 *
 * Invariants: nodes[0] is the input; every node's inputs are smaller than
 * its own index; names are unique, at most TS_NAME_MAX-1 bytes, and contain
 * none of the characters the description language splits on.  Numbers are
 * written with %.9g so every float reads back to the same bits.
 */
#include "nn/strbuf.h"
#include "nn/netbuild.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "nn/arch.h"
#include "nn/shape.h"

ts_status ts_netbuild_init(ts_netbuild *nb, int c, int h, int w)
{
    memset(nb, 0, sizeof *nb);
    nb->output = -1;
    if (ts_netbuild_add(nb, TS_OP_INPUT, "data", 0, NULL) != 0) return TS_ERR_OOM;
    nb->nodes[0].c = c;
    nb->nodes[0].h = h;
    nb->nodes[0].w = w;
    return TS_OK;
}

void ts_netbuild_clear(ts_netbuild *nb)
{
    for (int i = 0; i < nb->n; i++) {
        free(nb->w[i]);
        free(nb->b[i]);
    }
    free(nb->nodes);
    free(nb->w);
    free(nb->b);
    free(nb->wshape);
    memset(nb, 0, sizeof *nb);
}

static bool name_taken(const ts_netbuild *nb, const char *name)
{
    for (int i = 0; i < nb->n; i++)
        if (!strcmp(nb->nodes[i].name, name)) return true;
    return false;
}

/* A valid, unused layer name derived from `name`. */
static void make_name(const ts_netbuild *nb, const char *name, char out[TS_NAME_MAX])
{
    char base[TS_NAME_MAX - 8];
    size_t k = 0;
    for (const char *p = name ? name : ""; *p && k < sizeof base - 1; p++) {
        unsigned char ch = (unsigned char)*p;
        base[k++] = (ch <= ' ' || ch >= 0x7f || ch == ',' || ch == '=' || ch == '#') ? '_' : (char)ch;
    }
    base[k] = '\0';
    if (!k) snprintf(base, sizeof base, "layer");
    snprintf(out, TS_NAME_MAX, "%s", base);
    for (int n = 1; name_taken(nb, out); n++) snprintf(out, TS_NAME_MAX, "%s_%d", base, n);
}

int ts_netbuild_add(ts_netbuild *nb, ts_op op, const char *name, int n_inputs, const int *inputs)
{
    if (n_inputs > TS_MAX_INPUTS) {
        ts_error(TS_ERR_UNSUPPORTED, "layer '%s' joins %d inputs; at most %d are supported",
                 name, n_inputs, TS_MAX_INPUTS);
        return -1;
    }
    for (int k = 0; k < n_inputs; k++)
        if (inputs[k] < 0 || inputs[k] >= nb->n) {
            ts_error(TS_ERR_FORMAT, "layer '%s' reads a layer that does not come before it", name);
            return -1;
        }
    if (nb->n == nb->cap) {
        int cap = nb->cap ? nb->cap * 2 : 32;
        ts_node *nodes = realloc(nb->nodes, (size_t)cap * sizeof *nodes);
        if (nodes) nb->nodes = nodes;
        float **w = realloc(nb->w, (size_t)cap * sizeof *w);
        if (w) nb->w = w;
        float **b = realloc(nb->b, (size_t)cap * sizeof *b);
        if (b) nb->b = b;
        int(*ws)[4] = realloc(nb->wshape, (size_t)cap * sizeof *ws);
        if (ws) nb->wshape = ws;
        if (!nodes || !w || !b || !ws) {
            ts_error(TS_ERR_OOM, "out of memory for the layer list");
            return -1;
        }
        nb->cap = cap;
    }
    ts_node *n = &nb->nodes[nb->n];
    memset(n, 0, sizeof *n);
    n->op = op;
    make_name(nb, name, n->name);
    n->n_inputs = n_inputs;
    if (n_inputs) memcpy(n->inputs, inputs, (size_t)n_inputs * sizeof *inputs);
    else if (op != TS_OP_INPUT) n->n_inputs = 1, n->inputs[0] = nb->n - 1;
    /* the graph's defaults, so unset fields mean the same thing */
    ts_node_defaults(n);
    nb->w[nb->n] = nb->b[nb->n] = NULL;
    memset(nb->wshape[nb->n], 0, sizeof nb->wshape[nb->n]);
    return nb->n++;
}

void ts_netbuild_set_params(ts_netbuild *nb, int i, float *w_take, const int wshape[4], float *b_take)
{
    TS_ASSERT(i > 0 && i < nb->n);
    free(nb->w[i]);
    free(nb->b[i]);
    nb->w[i] = w_take;
    nb->b[i] = b_take;
    memcpy(nb->wshape[i], wshape, sizeof nb->wshape[i]);
}

int ts_netbuild_consumers(const ts_netbuild *nb, int i)
{
    int count = 0;
    for (int j = i + 1; j < nb->n; j++)
        for (int k = 0; k < nb->nodes[j].n_inputs; k++) count += nb->nodes[j].inputs[k] == i;
    return count;
}


static void geometry(ts_strbuf *b, const ts_node *n, bool pool)
{
    if (pool && n->global) {
        ts_strbuf_printf(b, " global=1");
        return;
    }
    if (n->kh == n->kw) ts_strbuf_printf(b, " k=%d", n->kh);
    else ts_strbuf_printf(b, " kh=%d kw=%d", n->kh, n->kw);
    if (n->stride != 1) ts_strbuf_printf(b, " stride=%d", n->stride);
    if (n->pad_t == n->pad_b && n->pad_t == n->pad_l && n->pad_t == n->pad_r) {
        if (n->pad_t) ts_strbuf_printf(b, " pad=%d", n->pad_t);
    } else {
        ts_strbuf_printf(b, " pad=%d,%d,%d,%d", n->pad_t, n->pad_b, n->pad_l, n->pad_r);
    }
    if (pool && n->pool_floor) ts_strbuf_printf(b, " round=floor");
}

char *ts_netbuild_text(const ts_netbuild *nb)
{
    ts_strbuf b = { 0 };
    const ts_node *in = &nb->nodes[0];
    ts_strbuf_printf(&b, "# imported network\n");
    if (in->h == in->w) ts_strbuf_printf(&b, "input channels=%d size=%d\n", in->c, in->h);
    else ts_strbuf_printf(&b, "input channels=%d height=%d width=%d\n", in->c, in->h, in->w);
    for (int i = 1; i < nb->n; i++) {
        const ts_node *n = &nb->nodes[i];
        ts_strbuf_printf(&b, "%-8s %s", ts_op_name(n->op), n->name);
        if (n->n_inputs > 1 || n->inputs[0] != i - 1) {
            for (int k = 0; k < n->n_inputs; k++)
                ts_strbuf_printf(&b, "%s%s", k ? "," : " in=", nb->nodes[n->inputs[k]].name);
        }
        switch (n->op) {
        case TS_OP_CONV2D:
            ts_strbuf_printf(&b, " out=%d", n->out_c);
            geometry(&b, n, false);
            if (n->groups != 1) ts_strbuf_printf(&b, " groups=%d", n->groups);
            if (!n->has_bias) ts_strbuf_printf(&b, " bias=0");
            break;
        case TS_OP_MAXPOOL:
        case TS_OP_AVGPOOL:
            geometry(&b, n, true);
            break;
        case TS_OP_FC:
            ts_strbuf_printf(&b, " out=%d", n->out_c);
            if (!n->has_bias) ts_strbuf_printf(&b, " bias=0");
            break;
        case TS_OP_LRN:
            ts_strbuf_printf(&b, " size=%d alpha=%.9g beta=%.9g k=%.9g", n->lrn_size, n->lrn_alpha,
                      n->lrn_beta, n->lrn_k);
            break;
        case TS_OP_DROPOUT:
            ts_strbuf_printf(&b, " p=%.9g", n->p);
            break;
        case TS_OP_LEAKY_RELU:
            ts_strbuf_printf(&b, " slope=%.9g", n->slope);
            break;
        case TS_OP_BATCHNORM:
            ts_strbuf_printf(&b, " eps=%.9g momentum=%.9g", n->bn_eps, n->bn_momentum);
            break;
        default:
            break;
        }
        ts_strbuf_printf(&b, "\n");
    }
    if (nb->output > 0 && nb->output != nb->n - 1)
        ts_strbuf_printf(&b, "output %s\n", nb->nodes[nb->output].name);
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* Output shapes of every layer (shape.h's rules, on a copy of the layer
 * list), and each weight checked against them, before the graph allocates
 * anything: the parameters a graph allocates then never exceed the weights
 * the file holds (an untrusted file cannot make us allocate more than it is
 * large).  A layer the rules refuse ends the check: ts_graph_finalize then
 * reports it, naming the file, before it allocates. */
static ts_status check_shapes(const ts_netbuild *nb, const char *source)
{
    ts_node *nodes = malloc((size_t)nb->n * sizeof *nodes);
    if (!nodes) return ts_error(TS_ERR_OOM, "out of memory");
    memcpy(nodes, nb->nodes, (size_t)nb->n * sizeof *nodes);
    ts_status st = TS_OK;
    for (int i = 0; i < nb->n && st == TS_OK; i++) {
        if (ts_node_infer_shape(nodes, i) != TS_OK) break;
        const ts_node *n = &nodes[i], *in = i ? &nodes[n->inputs[0]] : NULL;
        const int *s = nb->wshape[i];
        if (n->op == TS_OP_CONV2D) {
            if (s[0] != n->out_c || s[1] != in->c / n->groups || s[2] != n->kh || s[3] != n->kw)
                st = ts_error(TS_ERR_FORMAT, "%s: layer '%s': weights are (%d,%d,%d,%d) but the network needs "
                              "(%d,%d,%d,%d)", source, n->name, s[0], s[1], s[2], s[3], n->out_c,
                              in->c / n->groups, n->kh, n->kw);
        } else if (n->op == TS_OP_FC) {
            int64_t k = (int64_t)in->c * in->h * in->w;
            if (s[0] != n->out_c || s[1] != k || s[2] != 1 || s[3] != 1)
                st = ts_error(TS_ERR_FORMAT, "%s: layer '%s': weights are (%d,%d) but the network needs "
                              "(%d,%lld)", source, n->name, s[0], s[1], n->out_c, (long long)k);
        } else if (n->op == TS_OP_BATCHNORM) {
            if (s[0] != 3 || s[1] != in->c || s[2] != 1 || s[3] != 1)
                st = ts_error(TS_ERR_FORMAT, "%s: layer '%s': %d values per parameter but the layer it reads has %d"
                              " channels", source, n->name, s[1], in->c);
        }
    }
    free(nodes);
    return st;
}

ts_status ts_netbuild_finish(ts_netbuild *nb, const char *arch_name, const char *source,
                             ts_model **out)
{
    *out = NULL;
    if (nb->n < 2) return ts_error(TS_ERR_FORMAT, "%s: the network has no layers", source);
    char *text = ts_netbuild_text(nb);
    if (!text) return ts_error(TS_ERR_OOM, "%s: out of memory", source);
    const ts_node *in = &nb->nodes[0];
    if (in->c != 3 && in->c != 4) {
        free(text);
        return ts_error(TS_ERR_UNSUPPORTED, "%s: the network takes %d input channels; "
                        "Traitscope models take 3 (RGB) or 4 (RGB + A(x,y))", source, in->c);
    }
    if (in->h != in->w) {
        free(text);
        return ts_error(TS_ERR_UNSUPPORTED, "%s: the input is %dx%d; Traitscope models take "
                        "square inputs", source, in->h, in->w);
    }
    if (in->h < TS_MODEL_MIN_SIZE || in->h > TS_MODEL_MAX_SIZE) {
        free(text);
        return ts_error(TS_ERR_UNSUPPORTED, "%s: input size %d is outside %d..%d", source, in->h,
                        TS_MODEL_MIN_SIZE, TS_MODEL_MAX_SIZE);
    }
    for (int i = 1; i < nb->n; i++)
        if ((nb->nodes[i].op == TS_OP_CONV2D || nb->nodes[i].op == TS_OP_FC || nb->nodes[i].op == TS_OP_BATCHNORM) &&
            !nb->w[i]) {
            free(text);
            return ts_error(TS_ERR_FORMAT, "%s: layer '%s' has no weights", source, nb->nodes[i].name);
        }
    ts_status st = check_shapes(nb, source);
    if (st != TS_OK) {
        free(text);
        return st;
    }
    /* Parse once to learn the output size (the class count). */
    ts_graph *g = NULL;
    st = ts_arch_parse(text, source, &g);
    if (st != TS_OK) {
        free(text);
        return st;
    }
    const ts_node *o = &g->nodes[g->output];
    int classes = o->c;
    if (o->h != 1 || o->w != 1) {
        st = ts_error(TS_ERR_UNSUPPORTED, "%s: the output '%s' is (%d,%d,%d), not one logit per "
                      "class (end the network with a fully connected layer or global pooling)",
                      source, o->name, o->c, o->h, o->w);
        ts_graph_free(g);
        free(text);
        return st;
    }
    ts_graph_free(g);
    if (classes > TS_MODEL_MAX_CLASSES) {
        free(text);
        return ts_error(TS_ERR_UNSUPPORTED, "%s: %d outputs, more than the %d classes a model "
                        "may have", source, classes, TS_MODEL_MAX_CLASSES);
    }
    ts_model *m = NULL;
    st = ts_model_new_from_text(arch_name, text, in->c, in->h, classes, &m);
    free(text);
    if (st != TS_OK) return ts_error_prefix(st, "%s: ", source);
    for (int i = 1; i < nb->n; i++) {
        const ts_node *d = &nb->nodes[i];
        if (d->op != TS_OP_CONV2D && d->op != TS_OP_FC && d->op != TS_OP_BATCHNORM) continue;
        ts_node *gn = ts_graph_find(m->graph, d->name);
        TS_ASSERT(gn);
        const int *s = nb->wshape[i];
        const ts_tensor *w = &gn->weight;
        if (!nb->w[i]) {
            st = ts_error(TS_ERR_FORMAT, "%s: layer '%s' has no weights", source, d->name);
            break;
        }
        if (d->op == TS_OP_BATCHNORM) { /* gamma, mean, variance (3,C,1,1) and beta */
            TS_ASSERT(s[0] == 3 && s[1] == w->c && nb->b[i]); /* check_shapes */
            size_t C = (size_t)w->c;
            memcpy(w->data, nb->w[i], C * sizeof(float));
            memcpy(gn->run_mean.data, nb->w[i] + C, C * sizeof(float));
            memcpy(gn->run_var.data, nb->w[i] + 2 * C, C * sizeof(float));
            memcpy(gn->bias.data, nb->b[i], C * sizeof(float));
            continue;
        }
        if (w->n != s[0] || w->c != s[1] || w->h != s[2] || w->w != s[3]) {
            st = ts_error(TS_ERR_FORMAT, "%s: layer '%s': weights are (%d,%d,%d,%d) but the "
                          "network needs (%d,%d,%d,%d)", source, d->name, s[0], s[1], s[2], s[3],
                          w->n, w->c, w->h, w->w);
            break;
        }
        memcpy(w->data, nb->w[i], ts_tensor_numel(w) * sizeof(float));
        if (d->has_bias && nb->b[i]) memcpy(gn->bias.data, nb->b[i], (size_t)d->out_c * sizeof(float));
    }
    if (st == TS_OK) st = ts_model_check_finite(m, source);
    if (st != TS_OK) {
        ts_model_free(m);
        return st;
    }
    *out = m;
    return TS_OK;
}

/* ---- metadata pairs ---- */

static char *float_list(const float *v, int n)
{
    char *s = malloc((size_t)n * 24 + 3);
    if (!s) return NULL;
    size_t k = 0;
    s[k++] = '[';
    for (int i = 0; i < n; i++) k += (size_t)sprintf(s + k, "%s%.9g", i ? "," : "", v[i]);
    s[k++] = ']';
    s[k] = '\0';
    return s;
}

int ts_netbuild_meta_pairs(const ts_model *m, char *keys[], char *values[])
{
    const ts_model_meta *md = &m->meta;
    int n = 0;
    char num[64];
#define PAIR(k, v)                                          \
    do {                                                    \
        char *v_ = (v);                                     \
        if (v_) {                                           \
            keys[n] = strdup("traitscope." k);              \
            values[n] = v_;                                 \
            if (!keys[n]) free(values[n]);                  \
            else n++;                                       \
        }                                                   \
    } while (0)
    PAIR("arch", strdup(md->arch));
    PAIR("trait", strdup(md->trait));
    cJSON *classes = cJSON_CreateStringArray((const char *const *)md->classes, md->n_classes);
    PAIR("classes", classes ? cJSON_PrintUnformatted(classes) : NULL);
    cJSON_Delete(classes);
    PAIR("input_mean", float_list(md->mean, md->in_channels));
    PAIR("input_std", float_list(md->std, md->in_channels));
    if (md->in_channels == 4) PAIR("amap_encoding", strdup(md->amap_encoding));
    PAIR("landmarks", strdup(ts_landmark_method_name(md->landmarks)));
    PAIR("alignment", strdup(ts_alignment_name(md->alignment)));
    PAIR("training", strdup(md->training));
    if (md->test_accuracy >= 0) {
        snprintf(num, sizeof num, "%.17g", md->test_accuracy);
        PAIR("test_accuracy", strdup(num));
    }
#undef PAIR
    return n;
}

void ts_netbuild_meta_free(char *keys[], char *values[], int n)
{
    for (int i = 0; i < n; i++) {
        free(keys[i]);
        free(values[i]);
    }
}

static ts_status meta_bad(const char *source, const char *key, const char *why)
{
    return ts_error(TS_ERR_FORMAT, "%s: metadata %s: %s", source, key, why);
}

ts_status ts_netbuild_meta_apply(ts_model *m, const char *key, const char *value, const char *source)
{
    if (strncmp(key, "traitscope.", 11)) return TS_OK;
    key += 11;
    ts_model_meta *md = &m->meta;
    if (!strcmp(key, "arch")) {
        char *s = strdup(value);
        if (!s) return ts_error(TS_ERR_OOM, "out of memory");
        free(md->arch);
        md->arch = s;
        return TS_OK;
    }
    if (!strcmp(key, "trait")) return ts_model_set_trait(m, value);
    if (!strcmp(key, "landmarks"))
        return ts_landmark_method_parse(value, &md->landmarks) ? TS_OK
               : meta_bad(source, key, "expected none, ert or cnn");
    if (!strcmp(key, "alignment"))
        return ts_alignment_parse(value, &md->alignment) ? TS_OK
               : meta_bad(source, key, "expected none, rotation or affine");
    if (!strcmp(key, "amap_encoding")) {
        char *s = strdup(value);
        if (!s) return ts_error(TS_ERR_OOM, "out of memory");
        free(md->amap_encoding);
        md->amap_encoding = s;
        return TS_OK;
    }
    if (!strcmp(key, "test_accuracy")) {
        char *end;
        double v = strtod(value, &end);
        if (end == value || *end || !(v >= 0 && v <= 1)) return meta_bad(source, key, "expected a number in [0,1]");
        md->test_accuracy = v;
        return TS_OK;
    }
    cJSON *j = cJSON_Parse(value);
    ts_status st = TS_OK;
    if (!strcmp(key, "training")) {
        st = cJSON_IsObject(j) ? ts_model_set_training(m, value) : meta_bad(source, key, "expected a JSON object");
    } else if (!strcmp(key, "classes")) {
        int n = cJSON_GetArraySize(j);
        if (!cJSON_IsArray(j) || n != md->n_classes) {
            st = meta_bad(source, key, "expected a JSON array with one name per output");
        } else {
            const char **names = calloc((size_t)n + 1, sizeof *names);
            if (!names) st = ts_error(TS_ERR_OOM, "out of memory");
            for (int i = 0; i < n && st == TS_OK; i++) {
                const cJSON *e = cJSON_GetArrayItem(j, i);
                if (!cJSON_IsString(e) || !e->valuestring[0]) st = meta_bad(source, key, "class names must be non-empty strings");
                else names[i] = e->valuestring;
            }
            if (st == TS_OK) st = ts_model_set_classes(m, n, names);
            free(names);
        }
    } else if (!strcmp(key, "input_mean") || !strcmp(key, "input_std")) {
        bool is_std = key[6] == 's';
        float v[TS_MODEL_MAX_CHANNELS];
        if (!cJSON_IsArray(j) || cJSON_GetArraySize(j) != md->in_channels) {
            st = meta_bad(source, key, "expected a JSON array with one number per input channel");
        } else {
            for (int c = 0; c < md->in_channels && st == TS_OK; c++) {
                const cJSON *e = cJSON_GetArrayItem(j, c);
                if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble) || (is_std && !(e->valuedouble > 0)))
                    st = meta_bad(source, key, is_std ? "standard deviations must be numbers > 0" : "means must be finite numbers");
                else v[c] = (float)e->valuedouble;
            }
            if (st == TS_OK) memcpy(is_std ? md->std : md->mean, v, (size_t)md->in_channels * sizeof *v);
        }
    }
    cJSON_Delete(j);
    return st;
}

/* ---- pool ---- */

void *ts_pool_keep(ts_pool *pool, void *block)
{
    if (!block) {
        ts_error(TS_ERR_OOM, "out of memory");
        return NULL;
    }
    if (pool->n == pool->cap) {
        size_t cap = pool->cap ? pool->cap * 2 : 64;
        void **p = realloc(pool->p, cap * sizeof *p);
        if (!p) {
            free(block);
            ts_error(TS_ERR_OOM, "out of memory");
            return NULL;
        }
        pool->p = p;
        pool->cap = cap;
    }
    pool->p[pool->n++] = block;
    return block;
}

void *ts_pool_alloc(ts_pool *pool, size_t size)
{
    return ts_pool_keep(pool, calloc(1, size ? size : 1));
}

void ts_pool_clear(ts_pool *pool)
{
    for (size_t i = 0; i < pool->n; i++) free(pool->p[i]);
    free(pool->p);
    memset(pool, 0, sizeof *pool);
}
