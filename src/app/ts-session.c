/* ts-session.c - see ts-session.h.
 *
 * Invariants: at most one GTask thread runs at a time (s->busy), and only
 * it touches s->inspector and s->models; everything else is main-thread
 * state.  Jobs wait in s->queue (Job*, FIFO).  The face chosen for the
 * current image and the settings of the newest request (s->want_*) are
 * resolved on the main thread when a request is made, so a request that
 * waits carries exactly what was asked. */
#include "app/ts-session.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <string.h>

#include "face/image.h"
#include "nn/model.h"

typedef struct ExportJob ExportJob;

typedef enum { JOB_INSPECT, JOB_EXPORT } JobKind;

typedef struct Job {
    JobKind kind;
    TsRequest *req;   /* JOB_INSPECT */
    GTask *task;      /* JOB_EXPORT: the caller's task; its data is an ExportJob */
} Job;

struct _TsSession {
    GObject parent;
    /* worker-owned while busy */
    ts_inspector *inspector;
    ts_model *models[TS_INSPECT_MODELS];
    /* main-thread state */
    ts_inspect *result;
    char **class_names[TS_INSPECT_MODELS];
    char *model_name[TS_INSPECT_MODELS], *model_path[TS_INSPECT_MODELS], *model_hash[TS_INSPECT_MODELS];
    ts_model_head *heads[TS_INSPECT_MODELS];
    int n_heads[TS_INSPECT_MODELS];
    char **target_labels, **target_values; /* the LRP targets the models offer; [0] = predicted */
    char *image;
    gboolean busy;
    char *status, *error;
    GQueue queue;       /* Job*, waiting */
    /* what the newest request asked for */
    char *want_image;
    int want_face;
    ts_landmark_method want_method;
    char *want_rules, *want_target;
    /* where the networks run (ts_session_set_device): asked on the main
     * thread, handed to the next job when it starts, applied by its worker */
    ts_device device;
    gboolean device_pending, device_apply;
    ts_detector_kind detector;
};

G_DEFINE_FINAL_TYPE(TsSession, ts_session, G_TYPE_OBJECT)

enum { PROP_0, PROP_BUSY, PROP_STATUS, PROP_ERROR, N_PROPS };
static GParamSpec *props[N_PROPS];
enum { SIG_RESULT_CHANGED, SIG_EXPORT_PROGRESS, SIG_MODELS_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void run_next(TsSession *s);

static TsRequest *request_copy(const TsRequest *r)
{
    TsRequest *c = g_new0(TsRequest, 1);
    c->image = g_strdup(r->image);
    for (int i = 0; i < TS_INSPECT_MODELS; i++) c->model[i] = g_strdup(r->model[i]);
    c->method = r->method;
    c->rules = g_strdup(r->rules);
    c->target = g_strdup(r->target);
    c->pick_face = r->pick_face;
    c->face = r->face;
    c->detector = r->detector;
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

static void job_free(Job *j)
{
    if (!j) return;
    request_free(j->req);
    if (j->task) g_object_unref(j->task);
    g_free(j);
}

static void set_string(char **field, const char *v) { g_free(*field); *field = g_strdup(v ? v : ""); }

/* "LACNN · gender", "baseline · 7 traits": what panels and figures call
 * model m (a multi-label net's trait list would not fit a panel title). */
static char *model_display_name(const ts_model *m)
{
    const char *kind = m->meta.in_channels == 4 ? "LACNN" : "baseline";
    if (!m->meta.trait[0]) return g_strdup(kind);
    int n = 1;
    for (const char *c = m->meta.trait; *c; c++) n += *c == ',';
    if (n > 1) return g_strdup_printf(g_dngettext(NULL, "%s · %d trait", "%s · %d traits", n), kind, n);
    return g_strdup_printf("%s · %s", kind, m->meta.trait);
}

/* ---- inspections ---- */

/* What the worker hands back. */
typedef struct Outcome {
    ts_inspect *result;         /* NULL on failure */
    char *error;                /* NULL on success */
    gboolean models_changed;
    char **class_names[TS_INSPECT_MODELS];
    char *model_name[TS_INSPECT_MODELS], *model_hash[TS_INSPECT_MODELS];
    ts_model_head *heads[TS_INSPECT_MODELS];
    int n_heads[TS_INSPECT_MODELS];
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
        g_free(o->heads[i]);
    }
    g_free(o);
}

/* Worker side of ts_session_set_device: the models come back to the CPU
 * before the inspector's old context closes; the next run moves them to
 * the new device.  The fallback line goes to stderr, as the CLI's does. */
static void apply_device(TsSession *s)
{
    if (!s->device_apply) return;
    s->device_apply = FALSE;
    for (int i = 0; i < TS_INSPECT_MODELS; i++)
        if (s->models[i]) (void)ts_graph_to_backend(s->models[i]->graph, ts_backend_cpu(), NULL);
    char why[512];
    ts_inspector_set_device(s->inspector, s->device, why, sizeof why);
    if (why[0]) g_printerr("traitscope: %s\n", why);
}

static void inspect_worker(GTask *task, gpointer source, gpointer data, GCancellable *cancel)
{
    TsSession *s = source;
    TsRequest *req = data;
    apply_device(s);
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
        o->model_name[i] = model_display_name(m);
        o->model_hash[i] = g_strdup(m->meta.hash);
        o->heads[i] = g_new0(ts_model_head, TS_MODEL_MAX_HEADS);
        o->n_heads[i] = ts_model_heads(m, o->heads[i], TS_MODEL_MAX_HEADS);
    }
    if (req->image && !g_cancellable_is_cancelled(cancel)) {
        ts_image img = { 0 };
        ts_status st = ts_image_load(req->image, &img);
        ts_inspect_opts io = { 0 };
        io.method = req->method;
        io.detector = req->detector;
        /* resolved by ts_session_request: always pick_face here */
        io.face = req->pick_face ? req->face : -1;
        io.rules = req->rules && req->rules[0] ? req->rules : NULL;
        io.target = req->target;
        if (st == TS_OK) {
            o->result = g_new0(ts_inspect, 1);
            st = ts_inspector_run(s->inspector, &img, s->models, &io, o->result);
            if (st != TS_OK) g_clear_pointer(&o->result, g_free);
        }
        /* "ert: face box 0.6x0.6 must be at least 1" alone does not say which image */
        if (st != TS_OK) {
            ts_error_about(st, req->image);
            g_string_append_printf(err, "%s\n", ts_last_error());
        }
        ts_image_clear(&img);
    }
    if (err->len) {
        g_strchomp(err->str);
        /* file names need not be UTF-8; the window's labels (Pango) must be */
        o->error = g_utf8_make_valid(err->str, -1);
        g_string_free(err, TRUE);
    } else {
        g_string_free(err, TRUE);
    }
    o->ms_total = (g_get_monotonic_time() - t0) / 1000.0;
    g_task_return_pointer(task, o, (GDestroyNotify)outcome_free);
}

/* The LRP targets of the loaded models, for the window's target control
 * and the rules editor: "predicted" first, then, when a model is
 * multi-label, each trait ("TRAIT": its predicted class) with its classes
 * ("TRAIT=CLASS"), traits of A then new ones of B; otherwise the class
 * names of A then new ones of B.  Every value is one that
 * ts_lrp_target_for_model reads for a model that has the trait. */
static gboolean listed(GPtrArray *values, const char *v)
{
    for (guint i = 0; i < values->len; i++)
        if (!strcmp(values->pdata[i], v)) return TRUE;
    return FALSE;
}

static void build_targets(TsSession *s)
{
    gboolean multi = FALSE;
    for (int i = 0; i < TS_INSPECT_MODELS; i++) multi |= s->n_heads[i] > 0 && s->heads[i][0].sigmoid;
    GPtrArray *labels = g_ptr_array_new(), *values = g_ptr_array_new();
    g_ptr_array_add(labels, g_strdup(multi ? _("predicted class of the first trait") : _("predicted class")));
    g_ptr_array_add(values, g_strdup(""));
    for (int i = 0; i < TS_INSPECT_MODELS; i++)
        for (int k = 0; k < s->n_heads[i]; k++) {
            const ts_model_head *h = &s->heads[i][k];
            if (multi) {
                if (listed(values, h->trait)) continue; /* B's head of a trait A has */
                g_ptr_array_add(labels, g_strdup_printf(_("%s: predicted class"), h->trait));
                g_ptr_array_add(values, g_strdup(h->trait));
            }
            guint n_names = s->class_names[i] ? g_strv_length(s->class_names[i]) : 0;
            for (int c = 0; c < h->n_classes; c++) {
                const char *name = h->sigmoid ? h->classes[c] : (guint)c < n_names ? s->class_names[i][c] : "?";
                char *value = multi ? g_strdup_printf("%s=%s", h->trait, name) : g_strdup(name);
                if (listed(values, value)) {
                    g_free(value);
                    continue;
                }
                g_ptr_array_add(labels, multi ? g_strdup_printf("%s = %s", h->trait, name) : g_strdup(name));
                g_ptr_array_add(values, value);
            }
        }
    g_ptr_array_add(labels, NULL);
    g_ptr_array_add(values, NULL);
    g_strfreev(s->target_labels);
    g_strfreev(s->target_values);
    s->target_labels = (char **)g_ptr_array_free(labels, FALSE);
    s->target_values = (char **)g_ptr_array_free(values, FALSE);
}

static void inspect_finished(GObject *source, GAsyncResult *res, gpointer user)
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
                g_free(s->heads[i]);
                s->heads[i] = g_steal_pointer(&o->heads[i]);
                s->n_heads[i] = o->n_heads[i];
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
        if (o->models_changed) {
            build_targets(s);
            g_signal_emit(s, signals[SIG_MODELS_CHANGED], 0);
        }
        outcome_free(o);
    }
    s->busy = FALSE;
    g_signal_emit(s, signals[SIG_RESULT_CHANGED], 0);
    run_next(s);
}

static void start_inspect(TsSession *s, TsRequest *req)
{
    for (int i = 0; i < TS_INSPECT_MODELS; i++)
        if (req->model[i]) set_string(&s->model_path[i], req->model[i]);
    if (req->image) set_string(&s->image, req->image);
    GTask *task = g_task_new(s, NULL, inspect_finished, NULL);
    g_task_set_task_data(task, req, (GDestroyNotify)request_free);
    g_task_run_in_thread(task, inspect_worker);
    g_object_unref(task);
}

void ts_session_request(TsSession *s, const TsRequest *req)
{
    TsRequest *c = request_copy(req);
    /* Resolve the face now: a new image starts with its largest face, the
     * same image keeps the one picked, an explicit pick wins. */
    if (c->pick_face) s->want_face = c->face;
    else if (c->image && g_strcmp0(c->image, s->want_image) != 0) s->want_face = -1;
    c->pick_face = TRUE;
    c->face = s->want_face;
    if (c->image) set_string(&s->want_image, c->image);
    c->detector = s->detector;
    s->want_method = c->method;
    set_string(&s->want_rules, c->rules);
    set_string(&s->want_target, c->target);

    /* Merge into a waiting inspection at the tail of the queue: model
     * changes accumulate, the newest image and settings win. */
    Job *tail = g_queue_peek_tail(&s->queue);
    if (tail && tail->kind == JOB_INSPECT) {
        TsRequest *p = tail->req;
        for (int i = 0; i < TS_INSPECT_MODELS; i++)
            if (!c->model[i] && p->model[i]) c->model[i] = g_strdup(p->model[i]);
        if (!c->image) c->image = g_strdup(p->image);
        request_free(p);
        tail->req = c;
    } else {
        Job *j = g_new0(Job, 1);
        j->kind = JOB_INSPECT;
        j->req = c;
        g_queue_push_tail(&s->queue, j);
    }
    run_next(s);
}

void ts_session_pick_face(TsSession *s, int face)
{
    if (!s->want_image || !s->want_image[0]) return;
    TsRequest r = { 0 };
    r.image = s->want_image;
    r.method = s->want_method;
    r.rules = s->want_rules;
    r.target = s->want_target;
    r.pick_face = TRUE;
    r.face = face < 0 ? -1 : face;
    ts_session_request(s, &r);
}

int ts_session_pick_face_at(TsSession *s, double w, double h, double x, double y)
{
    if (!s->result) return -1;
    int k = ts_figure_photo_face_at(s->result, w, h, x, y);
    /* the face on show, with no other pick waiting: nothing to do */
    if (k < 0 || (k == s->result->face && (s->want_face == k || s->want_face == -1))) return -1;
    ts_session_pick_face(s, k);
    return k;
}

int ts_session_get_face(TsSession *s) { return s->want_face; }

void ts_session_set_detector(TsSession *s, ts_detector_kind kind)
{
    g_return_if_fail(kind >= 0 && kind < TS_DETECTOR_KINDS);
    s->detector = kind;
}

/* ---- exports ---- */

struct ExportJob {
    char **images;          /* n_images paths */
    int n_images;
    ts_panel *panels;
    int n_panels;
    ts_draw_opts opts;      /* toggles and translate only */
    double dpi;
    char *out;
    ts_landmark_method method;
    ts_detector_kind detector;
    char *rules, *target;
    char *current_image;    /* gets `face`; the others their largest */
    int face;
    char *model_path[TS_INSPECT_MODELS]; /* filled when the job starts */
};

static void export_job_free(ExportJob *e)
{
    g_strfreev(e->images);
    g_free(e->panels);
    g_free(e->out);
    g_free(e->rules);
    g_free(e->target);
    g_free(e->current_image);
    for (int i = 0; i < TS_INSPECT_MODELS; i++) g_free(e->model_path[i]);
    g_free(e);
}

typedef struct Progress {
    TsSession *s;
    int done, total;
} Progress;

static gboolean progress_main(gpointer data)
{
    Progress *p = data;
    g_signal_emit(p->s, signals[SIG_EXPORT_PROGRESS], 0, p->done, p->total);
    return G_SOURCE_REMOVE;
}

static void progress_free(gpointer data)
{
    Progress *p = data;
    g_object_unref(p->s);
    g_free(p);
}

static void report_progress(GTask *task, TsSession *s, int done, int total)
{
    Progress *p = g_new0(Progress, 1);
    p->s = g_object_ref(s);
    p->done = done;
    p->total = total;
    /* a source on the task's context, never run inline on this worker (as
     * g_main_context_invoke would when that context is free) */
    GSource *src = g_idle_source_new();
    g_source_set_priority(src, G_PRIORITY_DEFAULT);
    g_source_set_callback(src, progress_main, p, progress_free);
    g_source_attach(src, g_task_get_context(task));
    g_source_unref(src);
}

/* A folder that is missing or read-only fails before minutes of
 * inspection, with the message the user needs. */
static gboolean check_writable(const char *path, GError **error)
{
    char *dir = g_path_get_dirname(path);
    gboolean ok = TRUE;
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, _("%s: the folder %s does not exist"), path, dir);
        ok = FALSE;
    } else if (g_access(dir, W_OK) != 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED, _("%s: the folder %s is not writable"), path,
                    dir);
        ok = FALSE;
    } else if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_IS_DIRECTORY, _("%s: is a folder"), path);
        ok = FALSE;
    }
    g_free(dir);
    return ok;
}

static void export_worker(GTask *task, gpointer source, gpointer data, GCancellable *cancel)
{
    TsSession *s = source;
    ExportJob *e = data;
    GError *err = NULL;
    apply_device(s);
    ts_inspect *res = g_new0(ts_inspect, e->n_images);
    const ts_inspect **rows = g_new0(const ts_inspect *, e->n_images);
    int n = 0;
    char *names[TS_INSPECT_MODELS] = { NULL };
    if (!check_writable(e->out, &err)) goto done;
    ts_inspect_opts io = { 0 };
    io.method = e->method;
    io.detector = e->detector;
    io.rules = e->rules && e->rules[0] ? e->rules : NULL;
    io.target = e->target;
    for (int k = 0; k < e->n_images; k++) {
        report_progress(task, s, k, e->n_images);
        if (g_cancellable_set_error_if_cancelled(cancel, &err)) goto done;
        ts_image img = { 0 };
        ts_status st = ts_image_load(e->images[k], &img);
        io.face = e->current_image && strcmp(e->images[k], e->current_image) == 0 ? e->face : -1;
        if (st == TS_OK) st = ts_inspector_run(s->inspector, &img, s->models, &io, &res[k]);
        ts_image_clear(&img);
        if (st != TS_OK) {
            /* the image loader's messages name the file already */
            const char *msg = ts_last_error();
            if (strstr(msg, e->images[k])) g_set_error_literal(&err, G_IO_ERROR, G_IO_ERROR_FAILED, msg);
            else g_set_error(&err, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", e->images[k], msg);
            goto done;
        }
        rows[n++] = &res[k];
    }
    report_progress(task, s, e->n_images, e->n_images);
    if (g_cancellable_set_error_if_cancelled(cancel, &err)) goto done;

    ts_draw_opts o = e->opts;
    ts_figure_record rec = { 0 };
    for (int i = 0; i < TS_INSPECT_MODELS; i++) {
        const ts_model *m = s->models[i];
        if (!m) continue;
        names[i] = model_display_name(m);
        o.model_name[i] = names[i];
        o.class_names[i] = (const char *const *)m->meta.classes;
        rec.models[i] = m;
        rec.model_path[i] = e->model_path[i];
        rec.model_name[i] = names[i];
    }
    rec.tool = "traitscope";
    rec.n_rows = n;
    rec.images = (const char *const *)e->images;
    rec.faces = rows;
    rec.method = e->method;
    rec.detector = e->detector;
    rec.rules = e->rules;
    rec.target = e->target;
    rec.face = e->face;
    rec.panels = e->panels;
    rec.n_panels = e->n_panels;
    rec.opts = &o;
    rec.dpi = e->dpi;
    char *json = ts_figure_sidecar_json(&rec);
    ts_status st = json ? ts_figure_export(e->out, rows, n, e->panels, e->n_panels, &o, e->dpi, json)
                        : ts_error(TS_ERR_OOM, "%s: out of memory", e->out);
    free(json);
    if (st != TS_OK) g_set_error_literal(&err, G_IO_ERROR, G_IO_ERROR_FAILED, ts_last_error());
done:
    for (int k = 0; k < e->n_images; k++) ts_inspect_clear(&res[k]);
    g_free(res);
    g_free(rows);
    for (int i = 0; i < TS_INSPECT_MODELS; i++) g_free(names[i]);
    if (err) g_task_return_error(task, err);
    else g_task_return_boolean(task, TRUE);
}

/* The worker's task finished: hand its outcome to the caller's task, then
 * run what waits. */
static void export_finished(GObject *source, GAsyncResult *res, gpointer user)
{
    TsSession *s = TS_SESSION(source);
    GTask *caller = user;
    GError *err = NULL;
    gboolean ok = g_task_propagate_boolean(G_TASK(res), &err);
    s->busy = FALSE;
    if (ok) g_task_return_boolean(caller, TRUE);
    else g_task_return_error(caller, err);
    g_object_unref(caller);
    run_next(s);
}

static void start_export(TsSession *s, GTask *caller)
{
    ExportJob *e = g_task_get_task_data(caller);
    /* the models of the jobs before this one are the ones it uses */
    for (int i = 0; i < TS_INSPECT_MODELS; i++) e->model_path[i] = g_strdup(s->model_path[i]);
    GTask *task = g_task_new(s, g_task_get_cancellable(caller), export_finished, caller);
    g_task_set_task_data(task, e, NULL); /* owned by the caller's task */
    g_task_run_in_thread(task, export_worker);
    g_object_unref(task);
}

void ts_session_export_async(TsSession *s, const char *const *images, int n_images, const ts_panel *panels,
                             int n_panels, const ts_draw_opts *opts, double dpi, const char *out_path,
                             GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task = g_task_new(s, cancellable, callback, user_data);
    g_task_set_source_tag(task, ts_session_export_async);
    const char *current = s->want_image && s->want_image[0] ? s->want_image : NULL;
    if (!out_path || !out_path[0]) {
        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, _("no file name given for the figure"));
        g_object_unref(task);
        return;
    }
    const char *dot = strrchr(out_path, '.');
    gboolean png = dot && !g_ascii_strcasecmp(dot, ".png");
    if (!dot || !(png || !g_ascii_strcasecmp(dot, ".svg") || !g_ascii_strcasecmp(dot, ".pdf"))) {
        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                _("%s: unknown figure format (use .png, .svg or .pdf)"), out_path);
    } else if (png && !(dpi >= 30 && dpi <= 1200)) {
        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, _("%s: %.0f dpi is out of range 30..1200"),
                                out_path, dpi);
    } else if (!panels || n_panels < 1) {
        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, _("%s: no panels chosen"), out_path);
    } else if ((!images || n_images < 1) && !current) {
        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, _("%s: there is no face to export yet"),
                                out_path);
    } else {
        ExportJob *e = g_new0(ExportJob, 1);
        if (images && n_images > 0) {
            e->images = g_new0(char *, n_images + 1);
            for (int k = 0; k < n_images; k++) e->images[k] = g_strdup(images[k]);
            e->n_images = n_images;
        } else {
            e->images = g_new0(char *, 2);
            e->images[0] = g_strdup(current);
            e->n_images = 1;
        }
        e->panels = g_memdup2(panels, sizeof *panels * (gsize)n_panels);
        e->n_panels = n_panels;
        if (opts) e->opts = *opts;
        else ts_draw_opts_init(&e->opts);
        for (int i = 0; i < TS_INSPECT_MODELS; i++) {
            e->opts.model_name[i] = NULL;
            e->opts.class_names[i] = NULL;
        }
        e->opts.dark = false;
        e->opts.cross_x = e->opts.cross_y = -1;
        e->dpi = dpi;
        e->out = g_strdup(out_path);
        e->method = s->want_method;
        e->detector = s->detector;
        e->rules = g_strdup(s->want_rules);
        e->target = g_strdup(s->want_target);
        e->current_image = g_strdup(current);
        e->face = s->want_face;
        g_task_set_task_data(task, e, (GDestroyNotify)export_job_free);
        Job *j = g_new0(Job, 1);
        j->kind = JOB_EXPORT;
        j->task = task; /* the queue holds our reference */
        g_queue_push_tail(&s->queue, j);
        run_next(s);
        return;
    }
    g_object_unref(task);
}

gboolean ts_session_export_finish(TsSession *s, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, s), FALSE);
    return g_task_propagate_boolean(G_TASK(result), error);
}

/* ---- the queue ---- */

static void run_next(TsSession *s)
{
    if (s->busy) return;
    Job *j = g_queue_pop_head(&s->queue);
    if (!j) {
        g_object_notify_by_pspec(G_OBJECT(s), props[PROP_BUSY]);
        return;
    }
    s->busy = TRUE;
    /* the worker applies a device change asked for since the last job */
    s->device_apply = s->device_pending;
    s->device_pending = FALSE;
    if (j->kind == JOB_INSPECT) start_inspect(s, g_steal_pointer(&j->req));
    else start_export(s, g_steal_pointer(&j->task));
    job_free(j);
    g_object_notify_by_pspec(G_OBJECT(s), props[PROP_BUSY]);
}

void ts_session_set_device(TsSession *s, ts_device device)
{
    g_return_if_fail(TS_IS_SESSION(s));
    s->device = device;
    s->device_pending = TRUE;
}

const ts_inspect *ts_session_get_result(TsSession *s) { return s->result; }
const char *const *ts_session_get_class_names(TsSession *s, int i) { return (const char *const *)s->class_names[i]; }
const char *ts_session_get_model_name(TsSession *s, int i) { return s->model_name[i]; }
const char *ts_session_get_model_path(TsSession *s, int i) { return s->model_path[i]; }
const char *ts_session_get_model_hash(TsSession *s, int i) { return s->model_hash[i]; }
const char *ts_session_get_image(TsSession *s) { return s->image; }
const char *const *ts_session_get_target_labels(TsSession *s) { return (const char *const *)s->target_labels; }
const char *const *ts_session_get_target_values(TsSession *s) { return (const char *const *)s->target_values; }

gboolean ts_session_is_multilabel(TsSession *s, int i)
{
    return i >= 0 && i < TS_INSPECT_MODELS && s->n_heads[i] > 0 && s->heads[i][0].sigmoid;
}
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
    /* A running task holds a reference, so the worker is done here; a
     * waiting export holds one too, so only inspections can wait here. */
    /* the models before the inspector: they may live in its GPU context */
    for (int i = 0; i < TS_INSPECT_MODELS; i++) {
        ts_model_free(s->models[i]);
        g_strfreev(s->class_names[i]);
        g_free(s->model_name[i]);
        g_free(s->model_path[i]);
        g_free(s->model_hash[i]);
        g_free(s->heads[i]);
    }
    g_strfreev(s->target_labels);
    g_strfreev(s->target_values);
    ts_inspector_free(s->inspector);
    if (s->result) {
        ts_inspect_clear(s->result);
        g_free(s->result);
    }
    g_queue_clear_full(&s->queue, (GDestroyNotify)job_free);
    g_free(s->image);
    g_free(s->status);
    g_free(s->error);
    g_free(s->want_image);
    g_free(s->want_rules);
    g_free(s->want_target);
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
    signals[SIG_MODELS_CHANGED] = g_signal_new("models-changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                               NULL, NULL, NULL, G_TYPE_NONE, 0);
    signals[SIG_EXPORT_PROGRESS] = g_signal_new("export-progress", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                                NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_INT, G_TYPE_INT);
}

static void ts_session_init(TsSession *s)
{
    s->inspector = ts_inspector_new();
    s->device = TS_DEVICE_CPU; /* the inspector's, until ts_session_set_device */
    ts_inspector_preload(s->inspector);
    s->status = g_strdup("");
    s->error = g_strdup("");
    s->want_face = -1;
    s->want_method = TS_LANDMARKS_ERT;
    g_queue_init(&s->queue);
    build_targets(s);
}

TsSession *ts_session_new(void) { return g_object_new(TS_TYPE_SESSION, NULL); }
