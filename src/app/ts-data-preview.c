/* ts-data-preview.c - see ts-data-preview.h.  The worker only fills its
 * Preview record; the main thread publishes it when the task returns and
 * the read is still the newest (gen). */
#include "app/ts-data-preview.h"

#include <glib/gi18n.h>

#include "data/dataset.h"

struct _TsDataPreview {
    GObject parent;
    GtkStringList *traits;
    char **counts;        /* per trait */
    int n_rows;
    char *error;
    gboolean loading;
    char *spec;
    guint timeout, gen;
    GCancellable *cancel;
};

G_DEFINE_FINAL_TYPE(TsDataPreview, ts_data_preview, G_TYPE_OBJECT)

enum { PROP_0, PROP_LOADING, PROP_ERROR, PROP_N_ROWS, N_PROPS };
static GParamSpec *props[N_PROPS];
enum { SIG_READY, N_SIGNALS };
static guint signals[N_SIGNALS];

typedef struct Preview {
    char *spec, *error;
    int n_rows;
    char **names;   /* NULL-terminated */
    char **counts;  /* per trait */
    guint gen;
} Preview;

static void preview_free(gpointer data)
{
    Preview *v = data;
    g_free(v->spec);
    g_free(v->error);
    g_strfreev(v->names);
    g_strfreev(v->counts);
    g_free(v);
}

static void preview_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
    (void)src, (void)cancel;
    Preview *v = data;
    ts_dataset ds;
    ts_dataset_init(&ds);
    if (ts_dataset_load(&ds, v->spec, 0) != TS_OK) {
        v->error = g_utf8_make_valid(ts_last_error(), -1); /* shown in a label */
    } else {
        v->n_rows = ds.n_rows;
        v->names = g_new0(char *, ds.n_traits + 1);
        v->counts = g_new0(char *, ds.n_traits + 1);
        for (int i = 0; i < ds.n_traits; i++) {
            const ts_trait *t = &ds.traits[i];
            v->names[i] = g_strdup(t->name);
            int *c = g_new0(int, t->n_classes);
            int excluded = ts_trait_class_counts(t, ds.n_rows, c);
            GString *s = g_string_new(NULL);
            for (int k = 0; k < t->n_classes && k < 12; k++)
                g_string_append_printf(s, "%s%s %d", k ? ", " : "", t->classes[k], c[k]);
            if (t->n_classes > 12) g_string_append(s, ", …");
            if (excluded > 0) g_string_append_printf(s, _(" (%d without a label)"), excluded);
            v->counts[i] = g_string_free(s, FALSE);
            g_free(c);
        }
    }
    ts_dataset_clear(&ds);
    g_task_return_boolean(task, TRUE);
}

static void set_loading(TsDataPreview *p, gboolean on)
{
    if (p->loading == on) return;
    p->loading = on;
    g_object_notify_by_pspec(G_OBJECT(p), props[PROP_LOADING]);
}

/* Publishes a result (NULL: the empty preview). */
static void publish(TsDataPreview *p, Preview *v)
{
    g_strfreev(p->counts);
    p->counts = v && !v->error ? g_strdupv(v->counts) : NULL;
    p->n_rows = v ? v->n_rows : 0;
    g_free(p->error);
    p->error = v ? g_strdup(v->error) : NULL;
    /* the list changes while "loading" still holds, so a view that keeps
     * the user's choice can tell this change from the user's */
    p->loading = TRUE;
    guint old = g_list_model_get_n_items(G_LIST_MODEL(p->traits));
    gtk_string_list_splice(p->traits, 0, old, v && !v->error ? (const char *const *)v->names : NULL);
    set_loading(p, FALSE);
    g_object_notify_by_pspec(G_OBJECT(p), props[PROP_N_ROWS]);
    g_object_notify_by_pspec(G_OBJECT(p), props[PROP_ERROR]);
    g_signal_emit(p, signals[SIG_READY], 0);
}

static void preview_done(GObject *src, GAsyncResult *res, gpointer data)
{
    (void)data;
    GTask *task = G_TASK(res);
    if (g_cancellable_is_cancelled(g_task_get_cancellable(task))) return; /* a newer spec was given */
    TsDataPreview *p = TS_DATA_PREVIEW(src);
    Preview *v = g_task_get_task_data(task);
    if (v->gen == p->gen) publish(p, v);
}

static gboolean start(gpointer data)
{
    TsDataPreview *p = data;
    p->timeout = 0;
    if (p->cancel) g_cancellable_cancel(p->cancel);
    g_clear_object(&p->cancel);
    p->gen++;
    if (!p->spec || !p->spec[0]) {
        publish(p, NULL);
        return G_SOURCE_REMOVE;
    }
    set_loading(p, TRUE);
    p->cancel = g_cancellable_new();
    Preview *v = g_new0(Preview, 1);
    v->spec = g_strdup(p->spec);
    v->gen = p->gen;
    GTask *task = g_task_new(p, p->cancel, preview_done, NULL);
    g_task_set_task_data(task, v, preview_free);
    g_task_run_in_thread(task, preview_thread);
    g_object_unref(task);
    return G_SOURCE_REMOVE;
}

void ts_data_preview_set_spec(TsDataPreview *p, const char *spec, guint delay_ms)
{
    g_return_if_fail(TS_IS_DATA_PREVIEW(p));
    g_free(p->spec);
    p->spec = g_strdup(spec ? spec : "");
    g_clear_handle_id(&p->timeout, g_source_remove);
    if (delay_ms == 0 || !p->spec[0]) start(p);
    else p->timeout = g_timeout_add(delay_ms, start, p);
}

GListModel *ts_data_preview_get_traits(TsDataPreview *p) { return G_LIST_MODEL(p->traits); }
int ts_data_preview_get_n_rows(TsDataPreview *p) { return p->n_rows; }
const char *ts_data_preview_get_error(TsDataPreview *p) { return p->error; }
gboolean ts_data_preview_is_loading(TsDataPreview *p) { return p->loading; }

const char *ts_data_preview_get_counts(TsDataPreview *p, guint t)
{
    return p->counts && t < g_strv_length(p->counts) ? p->counts[t] : NULL;
}

static void get_property(GObject *o, guint id, GValue *v, GParamSpec *ps)
{
    TsDataPreview *p = TS_DATA_PREVIEW(o);
    switch (id) {
    case PROP_LOADING: g_value_set_boolean(v, p->loading); break;
    case PROP_ERROR: g_value_set_string(v, p->error); break;
    case PROP_N_ROWS: g_value_set_int(v, p->n_rows); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps);
    }
}

static void dispose(GObject *o)
{
    TsDataPreview *p = TS_DATA_PREVIEW(o);
    g_clear_handle_id(&p->timeout, g_source_remove);
    if (p->cancel) g_cancellable_cancel(p->cancel);
    g_clear_object(&p->cancel);
    G_OBJECT_CLASS(ts_data_preview_parent_class)->dispose(o);
}

static void finalize(GObject *o)
{
    TsDataPreview *p = TS_DATA_PREVIEW(o);
    g_clear_object(&p->traits);
    g_strfreev(p->counts);
    g_free(p->error);
    g_free(p->spec);
    G_OBJECT_CLASS(ts_data_preview_parent_class)->finalize(o);
}

static void ts_data_preview_class_init(TsDataPreviewClass *k)
{
    GObjectClass *oc = G_OBJECT_CLASS(k);
    oc->get_property = get_property;
    oc->dispose = dispose;
    oc->finalize = finalize;
    const GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS;
    props[PROP_LOADING] = g_param_spec_boolean("loading", NULL, NULL, FALSE, ro);
    props[PROP_ERROR] = g_param_spec_string("error", NULL, NULL, NULL, ro);
    props[PROP_N_ROWS] = g_param_spec_int("n-rows", NULL, NULL, 0, G_MAXINT, 0, ro);
    g_object_class_install_properties(oc, N_PROPS, props);
    signals[SIG_READY] =
        g_signal_new("ready", G_TYPE_FROM_CLASS(k), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void ts_data_preview_init(TsDataPreview *p) { p->traits = gtk_string_list_new(NULL); }

TsDataPreview *ts_data_preview_new(void) { return g_object_new(TS_TYPE_DATA_PREVIEW, NULL); }
