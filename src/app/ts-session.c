/* ts-session.c - see ts-session.h. */
#include "ts-session.h"

#include <gio/gio.h>
#include <glib/gi18n.h>
#include <string.h>

#include "face/image.h"
#include "nn/model.h"

struct _TsSession {
    GObject parent;
    /* worker-owned while busy */
    ts_inspector *inspector;
    ts_model *models[TS_INSPECT_MODELS];
    /* main-thread state */
    ts_inspect *result;
    char **class_names[TS_INSPECT_MODELS];
    char *model_name[TS_INSPECT_MODELS], *model_path[TS_INSPECT_MODELS], *model_hash[TS_INSPECT_MODELS];
    char *image;
    gboolean busy;
    char *status, *error;
    TsRequest *pending;
};

G_DEFINE_FINAL_TYPE(TsSession, ts_session, G_TYPE_OBJECT)

enum { PROP_0, PROP_BUSY, PROP_STATUS, PROP_ERROR, N_PROPS };
static GParamSpec *props[N_PROPS];
enum { SIG_RESULT_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

static TsRequest *request_copy(const TsRequest *r)
{
    TsRequest *c = g_new0(TsRequest, 1);
    c->image = g_strdup(r->image);
    for (int i = 0; i < TS_INSPECT_MODELS; i++) c->model[i] = g_strdup(r->model[i]);
    c->method = r->method;
    c->rules = g_strdup(r->rules);
    c->target = g_strdup(r->target);
    return c;
}

static void request_free(TsRequest *r)
{
    if (!r) return;
    g_free(r->image);
    for (int i = 0; i < TS_INSPECT_MODELS; i++) g_free(r->model[i]);
    g_free(r->rules);
    g_free(r->target);
    g_free(r);
}

/* What the worker hands back. */
typedef struct Outcome {
    ts_inspect *result;         /* NULL on failure */
    char *error;                /* NULL on success */
    gboolean models_changed;
    char **class_names[TS_INSPECT_MODELS];
    char *model_name[TS_INSPECT_MODELS], *model_hash[TS_INSPECT_MODELS];
    double ms_total;
} Outcome;

static void outcome_free(Outcome *o)
{
    if (!o) return;
    if (o->result) {
        ts_inspect_clear(o->result);
        g_free(o->result);
    }
    g_free(o->error);
    for (int i = 0; i < TS_INSPECT_MODELS; i++) {
        g_strfreev(o->class_names[i]);
        g_free(o->model_name[i]);
        g_free(o->model_hash[i]);
    }
    g_free(o);
}

static void worker(GTask *task, gpointer source, gpointer data, GCancellable *cancel)
{
    TsSession *s = source;
    TsRequest *req = data;
    Outcome *o = g_new0(Outcome, 1);
    gint64 t0 = g_get_monotonic_time();
    GString *err = g_string_new(NULL);
    for (int i = 0; i < TS_INSPECT_MODELS; i++) {
        if (!req->model[i]) continue;
        o->models_changed = TRUE;
        ts_model_free(s->models[i]);
        s->models[i] = NULL;
        if (!req->model[i][0]) continue;
        ts_status st = ts_model_load_any(req->model[i], &s->models[i]);
        if (st != TS_OK) g_string_append_printf(err, "%s\n", ts_last_error());
    }
    for (int i = 0; i < TS_INSPECT_MODELS; i++) {
        ts_model *m = s->models[i];
        if (!m) continue;
        o->class_names[i] = g_new0(char *, m->meta.n_classes + 1);
        for (int k = 0; k < m->meta.n_classes; k++) o->class_names[i][k] = g_strdup(m->meta.classes[k]);
        o->model_name[i] = g_strdup_printf("%s%s%s", m->meta.in_channels == 4 ? "LACNN" : "baseline",
                                           m->meta.trait[0] ? " · " : "", m->meta.trait);
        o->model_hash[i] = g_strdup(m->meta.hash);
    }
    if (req->image && !g_cancellable_is_cancelled(cancel)) {
        ts_image img = { 0 };
        ts_status st = ts_image_load(req->image, &img);
        ts_inspect_opts io = { 0 };
        io.method = req->method;
        io.face = -1;
        io.rules = req->rules && req->rules[0] ? req->rules : NULL;
        io.target = req->target;
        if (st == TS_OK) {
            o->result = g_new0(ts_inspect, 1);
            st = ts_inspector_run(s->inspector, &img, s->models, &io, o->result);
            if (st != TS_OK) g_clear_pointer(&o->result, g_free);
        }
        if (st != TS_OK) g_string_append_printf(err, "%s\n", ts_last_error());
        ts_image_clear(&img);
    }
    if (err->len) {
        g_strchomp(err->str);
        o->error = g_string_free(err, FALSE);
    } else {
        g_string_free(err, TRUE);
    }
    o->ms_total = (g_get_monotonic_time() - t0) / 1000.0;
    g_task_return_pointer(task, o, (GDestroyNotify)outcome_free);
}

static void start(TsSession *s, TsRequest *req);

static void set_string(char **field, const char *v) { g_free(*field); *field = g_strdup(v ? v : ""); }

static void finished(GObject *source, GAsyncResult *res, gpointer user)
{
    TsSession *s = TS_SESSION(source);
    Outcome *o = g_task_propagate_pointer(G_TASK(res), NULL);
    if (o) {
        if (o->models_changed)
            for (int i = 0; i < TS_INSPECT_MODELS; i++) {
                g_strfreev(s->class_names[i]);
                s->class_names[i] = g_steal_pointer(&o->class_names[i]);
                g_free(s->model_name[i]);
                s->model_name[i] = g_steal_pointer(&o->model_name[i]);
                g_free(s->model_hash[i]);
                s->model_hash[i] = g_steal_pointer(&o->model_hash[i]);
            }
        if (o->result) {
            if (s->result) {
                ts_inspect_clear(s->result);
                g_free(s->result);
            }
            s->result = g_steal_pointer(&o->result);
        }
        set_string(&s->error, o->error);
        if (s->result) {
            const ts_inspect *r = s->result;
            GString *st = g_string_new(NULL);
            g_string_append_printf(st, _("%s · %d face(s) · detect %.0f ms · landmarks %.1f ms"), r->device,
                                   r->n_faces, r->ms_detect, r->ms_landmarks);
            for (int i = 0; i < TS_INSPECT_MODELS; i++)
                if (r->model[i].present)
                    g_string_append_printf(st, _(" · model %c %.0f ms"), 'A' + i, r->model[i].ms);
            g_string_append_printf(st, _(" · total %.0f ms"), o->ms_total);
            set_string(&s->status, st->str);
            g_string_free(st, TRUE);
        }
        g_object_notify_by_pspec(G_OBJECT(s), props[PROP_STATUS]);
        g_object_notify_by_pspec(G_OBJECT(s), props[PROP_ERROR]);
        outcome_free(o);
    }
    s->busy = FALSE;
    g_signal_emit(s, signals[SIG_RESULT_CHANGED], 0);
    if (s->pending) {
        TsRequest *next = g_steal_pointer(&s->pending);
        start(s, next);
    } else {
        g_object_notify_by_pspec(G_OBJECT(s), props[PROP_BUSY]);
    }
}

static void start(TsSession *s, TsRequest *req)
{
    s->busy = TRUE;
    for (int i = 0; i < TS_INSPECT_MODELS; i++)
        if (req->model[i]) set_string(&s->model_path[i], req->model[i]);
    if (req->image) set_string(&s->image, req->image);
    g_object_notify_by_pspec(G_OBJECT(s), props[PROP_BUSY]);
    GTask *task = g_task_new(s, NULL, finished, NULL);
    g_task_set_task_data(task, req, (GDestroyNotify)request_free);
    g_task_run_in_thread(task, worker);
    g_object_unref(task);
}

void ts_session_request(TsSession *s, const TsRequest *req)
{
    TsRequest *c = request_copy(req);
    if (!s->busy) {
        start(s, c);
        return;
    }
    /* Merge into the waiting request: model changes accumulate, the newest
     * image and settings win. */
    if (s->pending) {
        for (int i = 0; i < TS_INSPECT_MODELS; i++)
            if (!c->model[i] && s->pending->model[i]) c->model[i] = g_strdup(s->pending->model[i]);
        if (!c->image) c->image = g_strdup(s->pending->image);
        request_free(s->pending);
    }
    s->pending = c;
}

const ts_inspect *ts_session_get_result(TsSession *s) { return s->result; }
const char *const *ts_session_get_class_names(TsSession *s, int i) { return (const char *const *)s->class_names[i]; }
const char *ts_session_get_model_name(TsSession *s, int i) { return s->model_name[i]; }
const char *ts_session_get_model_path(TsSession *s, int i) { return s->model_path[i]; }
const char *ts_session_get_model_hash(TsSession *s, int i) { return s->model_hash[i]; }
const char *ts_session_get_image(TsSession *s) { return s->image; }
gboolean ts_session_get_busy(TsSession *s) { return s->busy; }

static void get_property(GObject *obj, guint id, GValue *v, GParamSpec *pspec)
{
    TsSession *s = TS_SESSION(obj);
    switch (id) {
    case PROP_BUSY: g_value_set_boolean(v, s->busy); break;
    case PROP_STATUS: g_value_set_string(v, s->status); break;
    case PROP_ERROR: g_value_set_string(v, s->error); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(obj, id, pspec);
    }
}

static void finalize(GObject *obj)
{
    TsSession *s = TS_SESSION(obj);
    /* A running task holds a reference, so the worker is done here. */
    for (int i = 0; i < TS_INSPECT_MODELS; i++) {
        ts_model_free(s->models[i]);
        g_strfreev(s->class_names[i]);
        g_free(s->model_name[i]);
        g_free(s->model_path[i]);
        g_free(s->model_hash[i]);
    }
    ts_inspector_free(s->inspector);
    if (s->result) {
        ts_inspect_clear(s->result);
        g_free(s->result);
    }
    request_free(s->pending);
    g_free(s->image);
    g_free(s->status);
    g_free(s->error);
    G_OBJECT_CLASS(ts_session_parent_class)->finalize(obj);
}

static void ts_session_class_init(TsSessionClass *klass)
{
    GObjectClass *oc = G_OBJECT_CLASS(klass);
    oc->get_property = get_property;
    oc->finalize = finalize;
    props[PROP_BUSY] = g_param_spec_boolean("busy", NULL, NULL, FALSE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    props[PROP_STATUS] = g_param_spec_string("status", NULL, NULL, "", G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    props[PROP_ERROR] = g_param_spec_string("error", NULL, NULL, "", G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    g_object_class_install_properties(oc, N_PROPS, props);
    signals[SIG_RESULT_CHANGED] = g_signal_new("result-changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                               NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void ts_session_init(TsSession *s)
{
    s->inspector = ts_inspector_new();
    ts_inspector_preload(s->inspector);
    s->status = g_strdup("");
    s->error = g_strdup("");
}

TsSession *ts_session_new(void) { return g_object_new(TS_TYPE_SESSION, NULL); }
