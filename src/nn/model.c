/* model.c - building a ts_model and keeping its metadata; see model.h.
 *
 * Invariants of a live model: graph != NULL and finalized; meta.arch,
 * arch_text, trait, amap_encoding and training are non-NULL strings;
 * meta.n_classes == the output node's channels, with that many names;
 * meta.in_channels and in_size match the graph's input node.
 *
 * Default normalisation (for models trained from scratch): the ImageNet
 * per-channel statistics on v = pixel/255, which give the first layer
 * inputs of roughly unit variance; the A(x,y) channel, an index scaled into
 * [0,1], gets mean 0.5 and the standard deviation of a uniform variable
 * (0.2887).  A checkpoint records whatever was used, so changing these
 * defaults never changes how an existing model reads its input.
 */
#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "nn/arch.h"
#include "nn/safetext.h"

static const float default_mean[TS_MODEL_MAX_CHANNELS] = { 0.485f, 0.456f, 0.406f, 0.5f };
static const float default_std[TS_MODEL_MAX_CHANNELS] = { 0.229f, 0.224f, 0.225f, 0.2887f };

static const char *const landmark_names[] = { "none", "ert", "cnn" };
static const char *const alignment_names[] = { "none", "rotation", "affine", "similarity" };

const char *ts_landmark_method_name(ts_landmark_method m)
{
    return (m >= 0 && m <= TS_LANDMARKS_CNN) ? landmark_names[m] : "unknown";
}

const char *ts_alignment_name(ts_alignment a)
{
    return (a >= 0 && a <= TS_ALIGN_SIMILARITY) ? alignment_names[a] : "unknown";
}

bool ts_landmark_method_parse(const char *s, ts_landmark_method *out)
{
    for (int i = 0; i <= TS_LANDMARKS_CNN; i++)
        if (!strcmp(s, landmark_names[i])) {
            *out = (ts_landmark_method)i;
            return true;
        }
    return false;
}

bool ts_alignment_parse(const char *s, ts_alignment *out)
{
    for (int i = 0; i <= TS_ALIGN_SIMILARITY; i++)
        if (!strcmp(s, alignment_names[i])) {
            *out = (ts_alignment)i;
            return true;
        }
    return false;
}

/* Metadata strings are valid UTF-8 whatever they were imported from (an
 * ONNX or Caffe file, a dataset header): they are written into JSON
 * (checkpoint headers, CLI output) and shown in widgets.  Invalid bytes
 * become U+FFFD (safetext.h). */
static char *dup_or_null(const char *s)
{
    return ts_utf8_repair(s ? s : "");
}

/* Replaces *slot with a copy of s. */
static ts_status set_string(char **slot, const char *s, const char *what)
{
    char *copy = dup_or_null(s);
    if (!copy) return ts_error(TS_ERR_OOM, "out of memory copying the %s", what);
    free(*slot);
    *slot = copy;
    return TS_OK;
}

ts_status ts_model_set_trait(ts_model *m, const char *trait)
{
    return set_string(&m->meta.trait, trait, "trait name");
}

ts_status ts_model_set_training(ts_model *m, const char *json)
{
    return set_string(&m->meta.training, json && json[0] ? json : "{}", "training settings");
}

static void free_classes(ts_model_meta *meta)
{
    if (meta->classes)
        for (int i = 0; i < meta->n_classes; i++) free(meta->classes[i]);
    free(meta->classes);
    meta->classes = NULL;
}

ts_status ts_model_set_classes(ts_model *m, int n, const char *const *names)
{
    const ts_node *out = &m->graph->nodes[m->graph->output];
    if (n != out->c)
        return ts_error(TS_ERR_ARG, "%d class names for a network with %d outputs", n, out->c);
    char **v = calloc((size_t)n, sizeof *v);
    if (!v) return ts_error(TS_ERR_OOM, "out of memory for class names");
    for (int i = 0; i < n; i++) {
        char num[16];
        snprintf(num, sizeof num, "%d", i);
        v[i] = dup_or_null(names ? names[i] : num);
        if (!v[i]) {
            for (int j = 0; j < i; j++) free(v[j]);
            free(v);
            return ts_error(TS_ERR_OOM, "out of memory for class names");
        }
    }
    free_classes(&m->meta);
    m->meta.classes = v;
    m->meta.n_classes = n;
    return TS_OK;
}

void ts_model_free(ts_model *m)
{
    if (!m) return;
    ts_graph_free(m->graph);
    free(m->meta.arch);
    free(m->meta.arch_text);
    free(m->meta.trait);
    free_classes(&m->meta);
    free(m->meta.amap_encoding);
    free(m->meta.training);
    free(m);
}

/* Checks the graph's input and output against what the metadata will say. */
static ts_status check_graph(const ts_graph *g, int in_channels, int size, int classes)
{
    const ts_node *in = &g->nodes[0], *out = &g->nodes[g->output];
    if (in->c != in_channels || in->h != size || in->w != size)
        return ts_error(TS_ERR_FORMAT,
                        "the architecture takes (%d,%d,%d) inputs, not (%d,%d,%d)"
                        " (%d channels of %dx%d)", in->c, in->h, in->w, in_channels, size, size,
                        in_channels, size, size);
    if (out->c != classes || out->h != 1 || out->w != 1)
        return ts_error(TS_ERR_FORMAT,
                        "the architecture's output '%s' is (%d,%d,%d), not one logit for each of"
                        " %d classes", out->name, out->c, out->h, out->w, classes);
    return TS_OK;
}

/* A model around graph `g` (taken) with default metadata. */
static ts_status wrap(ts_graph *g, const char *arch_name, char *text_take, ts_model **out)
{
    ts_model *m = calloc(1, sizeof *m);
    if (!m) {
        ts_graph_free(g);
        free(text_take);
        return ts_error(TS_ERR_OOM, "out of memory");
    }
    m->graph = g;
    m->meta.arch_text = text_take;
    m->meta.arch = dup_or_null(arch_name);
    m->meta.trait = dup_or_null("");
    m->meta.training = dup_or_null("{}");
    m->meta.in_channels = g->nodes[0].c;
    m->meta.in_size = g->nodes[0].h;
    m->meta.amap_encoding = dup_or_null(m->meta.in_channels == 4 ? TS_AMAP_ENCODING_DEFAULT : "");
    m->meta.test_accuracy = -1;
    m->meta.landmarks = m->meta.in_channels == 4 ? TS_LANDMARKS_ERT : TS_LANDMARKS_NONE;
    for (int c = 0; c < TS_MODEL_MAX_CHANNELS; c++) {
        m->meta.mean[c] = default_mean[c];
        m->meta.std[c] = default_std[c];
    }
    if (!m->meta.arch_text || !m->meta.arch || !m->meta.trait || !m->meta.training ||
        !m->meta.amap_encoding) {
        ts_model_free(m);
        return ts_error(TS_ERR_OOM, "out of memory");
    }
    ts_status st = ts_model_set_classes(m, g->nodes[g->output].c, NULL);
    if (st != TS_OK) {
        ts_model_free(m);
        return st;
    }
    *out = m;
    return TS_OK;
}

static ts_status check_options(int in_channels, int size, int classes)
{
    if (in_channels != 3 && in_channels != 4)
        return ts_error(TS_ERR_ARG, "input channels must be 3 (RGB) or 4 (RGB + A(x,y)), not %d",
                        in_channels);
    if (size < TS_MODEL_MIN_SIZE || size > TS_MODEL_MAX_SIZE)
        return ts_error(TS_ERR_ARG, "input size %d is outside %d..%d", size, TS_MODEL_MIN_SIZE,
                        TS_MODEL_MAX_SIZE);
    if (classes < 1 || classes > TS_MODEL_MAX_CLASSES)
        return ts_error(TS_ERR_ARG, "number of classes %d is outside 1..%d", classes,
                        TS_MODEL_MAX_CLASSES);
    return TS_OK;
}

/* "path/to/my-net.arch" -> "my-net"; a built-in name stays as it is. */
static char *arch_label(const char *name_or_path)
{
    const char *base = strrchr(name_or_path, '/');
    base = base ? base + 1 : name_or_path;
    char *s = strdup(base);
    if (s) {
        char *dot = strrchr(s, '.');
        if (dot && dot != s) *dot = '\0';
    }
    return s;
}

ts_status ts_model_new(const char *arch, const ts_model_options *opts, ts_model **out)
{
    *out = NULL;
    ts_model_options o = opts ? *opts : (ts_model_options){ 0 };
    if (!o.in_channels) o.in_channels = 3;
    if (!o.size) o.size = 150;
    if (!o.classes) o.classes = 2;
    TS_TRY(check_options(o.in_channels, o.size, o.classes));

    ts_graph *g = NULL;
    char *text = NULL;
    TS_TRY(ts_arch_build(arch, &(ts_arch_opts){ o.in_channels, o.size, o.classes }, &g, &text));
    ts_status st = check_graph(g, o.in_channels, o.size, o.classes);
    if (st != TS_OK) {
        ts_graph_free(g);
        free(text);
        return ts_error_prefix(st, "%s: ", arch);
    }
    ts_graph_init_params(g, o.seed);

    char *label = arch_label(arch);
    ts_model *m = NULL;
    st = wrap(g, label, text, &m);
    free(label);
    if (st != TS_OK) return st;
    /* Landmarks feed A(x,y) (4 channels) and face alignment. */
    bool needs_landmarks = o.in_channels == 4 || o.alignment != TS_ALIGN_NONE;
    m->meta.landmarks = o.landmarks != TS_LANDMARKS_NONE ? o.landmarks
                        : needs_landmarks               ? TS_LANDMARKS_ERT
                                                        : TS_LANDMARKS_NONE;
    m->meta.alignment = o.alignment;
    if ((st = ts_model_set_trait(m, o.trait)) != TS_OK ||
        (st = ts_model_set_classes(m, o.classes, o.class_names)) != TS_OK) {
        ts_model_free(m);
        return st;
    }
    *out = m;
    return TS_OK;
}

ts_status ts_model_new_from_text(const char *arch_name, const char *arch_text,
                                 int in_channels, int size, int classes, ts_model **out)
{
    *out = NULL;
    TS_TRY(check_options(in_channels, size, classes));
    ts_graph *g = NULL;
    TS_TRY(ts_arch_parse(arch_text, "arch_text", &g));
    ts_status st = check_graph(g, in_channels, size, classes);
    if (st != TS_OK) {
        ts_graph_free(g);
        return st;
    }
    char *text = strdup(arch_text);
    if (!text) {
        ts_graph_free(g);
        return ts_error(TS_ERR_OOM, "out of memory");
    }
    return wrap(g, arch_name, text, out);
}

/* ---- heads ------------------------------------------------------------- */

bool ts_model_multilabel(const ts_model *m)
{
    cJSON *j = m->meta.training ? cJSON_Parse(m->meta.training) : NULL;
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(j, "loss");
    bool yes = cJSON_IsString(l) && !strcmp(l->valuestring, "sigmoid");
    cJSON_Delete(j);
    return yes;
}

int ts_model_heads(const ts_model *m, ts_model_head *heads, int max)
{
    const ts_model_meta *md = &m->meta;
    if (max < 1) return 0;
    if (!ts_model_multilabel(m)) {
        memset(&heads[0], 0, sizeof heads[0]);
        snprintf(heads[0].trait, sizeof heads[0].trait, "%s", md->trait && md->trait[0] ? md->trait : "class");
        heads[0].n_classes = md->n_classes;
        return 1;
    }
    cJSON *j = cJSON_Parse(md->training);
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(j, "outputs");
    int n = 0;
    for (int k = 0; k < md->n_classes && n < max; k++, n++) {
        ts_model_head *h = &heads[n];
        memset(h, 0, sizeof *h);
        h->output = k;
        h->n_classes = 2;
        h->sigmoid = true;
        snprintf(h->trait, sizeof h->trait, "%s", md->classes[k]);
        snprintf(h->classes[0], sizeof h->classes[0], "no");
        snprintf(h->classes[1], sizeof h->classes[1], "yes");
        const cJSON *o = cJSON_GetArrayItem(outs, k);
        const cJSON *cl = cJSON_GetObjectItemCaseSensitive(o, "classes");
        if (cJSON_GetArraySize(cl) == 2 && cJSON_IsString(cJSON_GetArrayItem(cl, 0)) &&
            cJSON_IsString(cJSON_GetArrayItem(cl, 1)))
            for (int c = 0; c < 2; c++)
                snprintf(h->classes[c], sizeof h->classes[c], "%s", cJSON_GetArrayItem(cl, c)->valuestring);
    }
    cJSON_Delete(j);
    return n;
}

const char *ts_model_head_class(const ts_model *m, const ts_model_head *h, int c)
{
    if (c < 0 || c >= h->n_classes) return "?";
    return h->sigmoid ? h->classes[c] : m->meta.classes[c];
}

int ts_model_head_probs(const ts_model_head *h, const float *z, int K, float *probs)
{
    if (h->sigmoid) {
        float v = z[h->output];
        float s = v >= 0 ? 1.0f / (1.0f + expf(-v)) : expf(v) / (1.0f + expf(v));
        probs[0] = 1 - s;
        probs[1] = s;
        return s > 0.5f;
    }
    int n = h->n_classes < K ? h->n_classes : K, best = 0;
    float mx = -INFINITY;
    double sum = 0;
    for (int c = 0; c < n; c++) mx = fmaxf(mx, z[c]);
    for (int c = 0; c < n; c++) sum += (probs[c] = expf(z[c] - mx));
    for (int c = 0; c < n; c++) {
        probs[c] = (float)(probs[c] / sum);
        if (probs[c] > probs[best]) best = c;
    }
    return best;
}

ts_status ts_model_check_finite(const ts_model *m, const char *name)
{
    for (int c = 0; c < m->meta.in_channels && c < TS_MODEL_MAX_CHANNELS; c++)
        if (!isfinite(m->meta.mean[c]) || !isfinite(m->meta.std[c]))
            return ts_error(TS_ERR_FORMAT, "%s: the input normalisation of channel %d is not finite (mean %g, std %g)",
                            name, c, (double)m->meta.mean[c], (double)m->meta.std[c]);
    int n = ts_model_tensors(m, NULL, 0);
    ts_model_tensor *ts = calloc((size_t)n + 1, sizeof *ts);
    if (!ts) return ts_error(TS_ERR_OOM, "%s: out of memory", name);
    ts_model_tensors(m, ts, n);
    ts_status st = TS_OK;
    for (int i = 0; i < n && st == TS_OK; i++) {
        const ts_tensor *t = ts[i].t;
        size_t k = ts_tensor_numel(t), bad = 0, first = k;
        /* counted, not stopped at: "3 of 4096 values" says more than "one" */
        for (size_t j = 0; j < k; j++)
            if (!isfinite(t->data[j])) {
                if (first == k) first = j;
                bad++;
            }
        if (bad)
            st = ts_error(TS_ERR_FORMAT, "%s: tensor '%s' holds %zu non-finite value(s) (NaN or infinity; the first"
                          " at index %zu of %zu): the model is damaged", name, ts[i].name, bad, first, k);
    }
    free(ts);
    /* a negative variance would make NaN of every output */
    const ts_graph *g = m->graph;
    for (int i = 1; i < g->n_nodes && st == TS_OK; i++) {
        const ts_tensor *v = &g->nodes[i].run_var;
        if (!v->data) continue;
        for (int c = 0; c < v->c; c++)
            if (v->data[c] < 0.0f) {
                st = ts_error(TS_ERR_FORMAT, "%s: tensor '%s.running_var' holds a negative variance (%g at index %d):"
                              " the model is damaged", name, g->nodes[i].name, (double)v->data[c], c);
                break;
            }
    }
    return st;
}
