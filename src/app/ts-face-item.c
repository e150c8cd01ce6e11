/* ts-face-item.c - see ts-face-item.h.  Setters run on the main thread and
 * notify the properties a list row shows; only `bound` is touched by other
 * threads (atomically). */
#include "ts-face-item.h"

#include <glib/gi18n.h>
#include <string.h>

typedef struct Pred {
    gboolean has;
    float *probs;
    int k, predicted, correct;
} Pred;

struct _TsFaceItem {
    GObject parent;
    char *path, *name, *labels_text, *error, *markup;
    int row, n_labels, *labels;
    GdkPaintable *thumb;
    int thumb_state;
    gint bound; /* atomic */
    Pred pred[TS_FACE_ITEM_MODELS];
};

G_DEFINE_FINAL_TYPE(TsFaceItem, ts_face_item, G_TYPE_OBJECT)

enum { PROP_0, PROP_THUMBNAIL, PROP_TITLE, PROP_SUBTITLE, PROP_PREDICTIONS, PROP_TOOLTIP, N_PROPS };
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
    case PROP_PREDICTIONS: g_value_set_string(v, it->markup ? it->markup : ""); break;
    case PROP_TOOLTIP: g_value_take_string(v, tooltip_text(it)); break;
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
    g_free(it->markup);
    g_free(it->labels);
    g_clear_object(&it->thumb);
    for (int m = 0; m < TS_FACE_ITEM_MODELS; m++) g_free(it->pred[m].probs);
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
    props[PROP_PREDICTIONS] = g_param_spec_string("predictions", NULL, NULL, NULL,
                                                  G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    props[PROP_TOOLTIP] = g_param_spec_string("tooltip", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
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

void ts_face_item_set_error(TsFaceItem *it, const char *message)
{
    if (g_strcmp0(it->error, message) == 0) return;
    g_free(it->error);
    it->error = g_strdup(message);
    g_object_notify_by_pspec(G_OBJECT(it), props[PROP_TOOLTIP]);
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

void ts_face_item_set_prediction(TsFaceItem *it, int m, const float *probs, int k, int correct)
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
}

void ts_face_item_set_predictions_markup(TsFaceItem *it, const char *markup)
{
    if (g_strcmp0(it->markup, markup) == 0) return;
    g_free(it->markup);
    it->markup = g_strdup(markup);
    g_object_notify_by_pspec(G_OBJECT(it), props[PROP_PREDICTIONS]);
}

void ts_face_item_clear_predictions(TsFaceItem *it)
{
    for (int m = 0; m < TS_FACE_ITEM_MODELS; m++) {
        g_clear_pointer(&it->pred[m].probs, g_free);
        it->pred[m].has = FALSE;
        it->pred[m].correct = -1;
    }
    ts_face_item_set_predictions_markup(it, NULL);
}

void ts_face_item_bound(TsFaceItem *it, gboolean bound)
{
    if (bound) g_atomic_int_inc(&it->bound);
    else g_atomic_int_add(&it->bound, -1);
}

gboolean ts_face_item_is_bound(TsFaceItem *it) { return g_atomic_int_get(&it->bound) > 0; }
int ts_face_item_get_thumb_state(TsFaceItem *it) { return it->thumb_state; }
void ts_face_item_set_thumb_state(TsFaceItem *it, int state) { it->thumb_state = state; }
