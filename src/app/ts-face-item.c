/* ts-face-item.c - see ts-face-item.h.  Setters run on the main thread and
 * notify the properties a list row shows; only `bound` is touched by other
 * threads (atomically). */
#include "app/ts-face-item.h"

#include <glib/gi18n.h>
#include <string.h>

typedef struct Pred {
    float *outputs;     /* every output of the model, NULL until predicted */
    int n_outputs;
    gboolean has;       /* the prediction shown below is set */
    float *probs;       /* the head in focus: its class probabilities */
    int k, predicted, correct;
    char *text;
} Pred;

struct _TsFaceItem {
    GObject parent;
    char *path, *name, *labels_text, *error;
    int row, n_labels, *labels;
    GdkPaintable *thumb;
    int thumb_state;
    gint bound; /* atomic */
    Pred pred[TS_FACE_ITEM_MODELS];
};

G_DEFINE_FINAL_TYPE(TsFaceItem, ts_face_item, G_TYPE_OBJECT)

enum {
    PROP_0,
    PROP_THUMBNAIL,
    PROP_TITLE,
    PROP_SUBTITLE,
    PROP_TOOLTIP,
    PROP_PREDICTION_A,
    PROP_PREDICTION_B,
    PROP_CORRECT_A,
    PROP_CORRECT_B,
    N_PROPS
};
static GParamSpec *props[N_PROPS];

static char *tooltip_text(TsFaceItem *it)
{
    /* Pango takes UTF-8 only; a file name is bytes */
    char *shown = g_filename_display_name(it->path);
    GString *s = g_string_new(shown);
    g_free(shown);
    if (it->labels_text && it->labels_text[0]) g_string_append_printf(s, "\n%s", it->labels_text);
    if (it->error) g_string_append_printf(s, "\n%s", it->error);
    char *raw = g_string_free(s, FALSE), *valid = g_utf8_make_valid(raw, -1);
    g_free(raw);
    return valid;
}

static void get_property(GObject *o, guint id, GValue *v, GParamSpec *ps)
{
    TsFaceItem *it = TS_FACE_ITEM(o);
    switch (id) {
    case PROP_THUMBNAIL: g_value_set_object(v, it->thumb); break;
    case PROP_TITLE: g_value_set_string(v, it->name); break;
    case PROP_SUBTITLE: g_value_set_string(v, it->labels_text); break;
    case PROP_TOOLTIP: g_value_take_string(v, tooltip_text(it)); break;
    case PROP_PREDICTION_A:
    case PROP_PREDICTION_B: g_value_set_string(v, ts_face_item_get_prediction_text(it, id - PROP_PREDICTION_A)); break;
    case PROP_CORRECT_A:
    case PROP_CORRECT_B: g_value_set_int(v, ts_face_item_get_correct(it, id - PROP_CORRECT_A)); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps);
    }
}

static void finalize(GObject *o)
{
    TsFaceItem *it = TS_FACE_ITEM(o);
    g_free(it->path);
    g_free(it->name);
    g_free(it->labels_text);
    g_free(it->error);
    g_free(it->labels);
    g_clear_object(&it->thumb);
    for (int m = 0; m < TS_FACE_ITEM_MODELS; m++) {
        g_free(it->pred[m].outputs);
        g_free(it->pred[m].probs);
        g_free(it->pred[m].text);
    }
    G_OBJECT_CLASS(ts_face_item_parent_class)->finalize(o);
}

static void ts_face_item_class_init(TsFaceItemClass *k)
{
    GObjectClass *oc = G_OBJECT_CLASS(k);
    oc->get_property = get_property;
    oc->finalize = finalize;
    props[PROP_THUMBNAIL] = g_param_spec_object("thumbnail", NULL, NULL, GDK_TYPE_PAINTABLE,
                                                G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    props[PROP_TITLE] = g_param_spec_string("title", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    props[PROP_SUBTITLE] = g_param_spec_string("subtitle", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    props[PROP_TOOLTIP] = g_param_spec_string("tooltip", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    props[PROP_PREDICTION_A] = g_param_spec_string("prediction-a", NULL, NULL, "",
                                                   G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    props[PROP_PREDICTION_B] = g_param_spec_string("prediction-b", NULL, NULL, "",
                                                   G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    props[PROP_CORRECT_A] = g_param_spec_int("correct-a", NULL, NULL, -1, 1, -1, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    props[PROP_CORRECT_B] = g_param_spec_int("correct-b", NULL, NULL, -1, 1, -1, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    g_object_class_install_properties(oc, N_PROPS, props);
}

static void ts_face_item_init(TsFaceItem *it)
{
    for (int m = 0; m < TS_FACE_ITEM_MODELS; m++) it->pred[m].correct = -1;
}

TsFaceItem *ts_face_item_new(const char *path, int row, const int *labels, int n_labels, const char *labels_text)
{
    TsFaceItem *it = g_object_new(TS_TYPE_FACE_ITEM, NULL);
    it->path = g_strdup(path);
    it->name = g_filename_display_basename(path); /* valid UTF-8 for the labels, whatever the bytes */
    it->row = row;
    it->n_labels = n_labels > 0 ? n_labels : 0;
    if (it->n_labels) it->labels = g_memdup2(labels, sizeof(int) * (size_t)n_labels);
    it->labels_text = g_strdup(labels_text ? labels_text : "");
    return it;
}

const char *ts_face_item_get_path(TsFaceItem *it) { return it->path; }
const char *ts_face_item_get_name(TsFaceItem *it) { return it->name; }
int ts_face_item_get_row(TsFaceItem *it) { return it->row; }
int ts_face_item_get_n_labels(TsFaceItem *it) { return it->n_labels; }
const char *ts_face_item_get_labels_text(TsFaceItem *it) { return it->labels_text; }
GdkPaintable *ts_face_item_get_thumbnail(TsFaceItem *it) { return it->thumb; }
const char *ts_face_item_get_error(TsFaceItem *it) { return it->error; }

int ts_face_item_get_label(TsFaceItem *it, int t)
{
    return t >= 0 && t < it->n_labels ? it->labels[t] : -1;
}

void ts_face_item_set_thumbnail(TsFaceItem *it, GdkPaintable *thumb)
{
    if (g_set_object(&it->thumb, thumb)) g_object_notify_by_pspec(G_OBJECT(it), props[PROP_THUMBNAIL]);
}

/* Model m's row text and right/wrong changed. */
static void notify_prediction(TsFaceItem *it, int m)
{
    g_object_notify_by_pspec(G_OBJECT(it), props[PROP_PREDICTION_A + m]);
    g_object_notify_by_pspec(G_OBJECT(it), props[PROP_CORRECT_A + m]);
}

void ts_face_item_set_error(TsFaceItem *it, const char *message)
{
    if (g_strcmp0(it->error, message) == 0) return;
    g_free(it->error);
    it->error = g_strdup(message);
    g_object_notify_by_pspec(G_OBJECT(it), props[PROP_TOOLTIP]);
    notify_prediction(it, 0); /* model A's line says the image failed */
}

gboolean ts_face_item_get_outputs(TsFaceItem *it, int m, const float **outputs, int *n_outputs)
{
    if (m < 0 || m >= TS_FACE_ITEM_MODELS || !it->pred[m].outputs) return FALSE;
    if (outputs) *outputs = it->pred[m].outputs;
    if (n_outputs) *n_outputs = it->pred[m].n_outputs;
    return TRUE;
}

void ts_face_item_set_outputs(TsFaceItem *it, int m, const float *outputs, int n)
{
    g_return_if_fail(m >= 0 && m < TS_FACE_ITEM_MODELS && n >= 1);
    Pred *p = &it->pred[m];
    g_free(p->outputs);
    p->outputs = g_memdup2(outputs, sizeof(float) * (size_t)n);
    p->n_outputs = n;
    p->has = FALSE;
    p->correct = -1;
    g_clear_pointer(&p->text, g_free);
}

gboolean ts_face_item_get_prediction(TsFaceItem *it, int m, const float **probs, int *n_classes, int *predicted)
{
    if (m < 0 || m >= TS_FACE_ITEM_MODELS || !it->pred[m].has) return FALSE;
    if (probs) *probs = it->pred[m].probs;
    if (n_classes) *n_classes = it->pred[m].k;
    if (predicted) *predicted = it->pred[m].predicted;
    return TRUE;
}

int ts_face_item_get_correct(TsFaceItem *it, int m)
{
    return m >= 0 && m < TS_FACE_ITEM_MODELS ? it->pred[m].correct : -1;
}

const char *ts_face_item_get_prediction_text(TsFaceItem *it, int m)
{
    if (m < 0 || m >= TS_FACE_ITEM_MODELS) return "";
    if (it->pred[m].has && it->pred[m].text) return it->pred[m].text;
    if (m == 0 && !it->pred[1].has && it->error) {
        static char *failed;
        if (!failed) failed = g_strdup_printf("⚠ %s", _("could not be read")); /* main thread only */
        return failed;
    }
    return "";
}

void ts_face_item_set_prediction(TsFaceItem *it, int m, const float *probs, int k, int correct, const char *text)
{
    g_return_if_fail(m >= 0 && m < TS_FACE_ITEM_MODELS && k >= 1);
    Pred *p = &it->pred[m];
    g_free(p->probs);
    p->probs = g_memdup2(probs, sizeof(float) * (size_t)k);
    p->k = k;
    p->predicted = 0;
    for (int c = 1; c < k; c++)
        if (probs[c] > probs[p->predicted]) p->predicted = c;
    p->correct = correct;
    p->has = TRUE;
    g_free(p->text);
    p->text = g_strdup(text);
    notify_prediction(it, m);
    if (m == 1 && it->error) notify_prediction(it, 0);
}

void ts_face_item_clear_predictions(TsFaceItem *it)
{
    for (int m = 0; m < TS_FACE_ITEM_MODELS; m++) {
        Pred *p = &it->pred[m];
        gboolean had = p->has;
        g_clear_pointer(&p->outputs, g_free);
        g_clear_pointer(&p->probs, g_free);
        g_clear_pointer(&p->text, g_free);
        p->has = FALSE;
        p->correct = -1;
        if (had) notify_prediction(it, m);
    }
}

void ts_face_item_bound(TsFaceItem *it, gboolean bound)
{
    if (bound) g_atomic_int_inc(&it->bound);
    else g_atomic_int_add(&it->bound, -1);
}

gboolean ts_face_item_is_bound(TsFaceItem *it) { return g_atomic_int_get(&it->bound) > 0; }
int ts_face_item_get_thumb_state(TsFaceItem *it) { return it->thumb_state; }
void ts_face_item_set_thumb_state(TsFaceItem *it, int state) { it->thumb_state = state; }
