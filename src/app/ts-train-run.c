/* ts-train-run.c - see ts-train-run.h.
 *
 * Ownership: the run is a GObject; its worker's GTask holds a reference
 * (task data) and so does each pending idle callback, so a run lives while
 * its worker or a callback may still use it.  `detached` (main thread) is
 * set when its owner let go of it mid-run: callbacks then drop what they
 * bring.
 */
#include "app/ts-train-run.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "data/dataset.h"
#include "app/ts-train-ranks.h"

/* Probes are looked for among the first rows only. */
#define PROBE_SEARCH_ROWS 2000

struct _TsTrainRun {
    GObject parent;
    int id;
    ts_train_settings s;         /* strings point into the fields below */
    char *data, *trait, *arch, *out, *cache_dir;
    int ranks;                   /* > 1: mpirun -np ranks traitscope-cli train (ts-train-ranks.h) */
    gint abort;                  /* atomic: cancel at the next step */
    gint stop_after;             /* atomic: > 0 stop when that many epochs are done; -1 after the current one */
    gint worker_epochs;          /* atomic, worker: epochs done in this run */

    /* main thread */
    TsTrainRunState state;
    gboolean detached;
    guint launch_id;             /* the idle that starts the worker, 0 once it ran */
    ts_train_progress last;
    int epochs_done;
    float test_acc;
    char *error, *status, *title;
    double seconds;
    GArray *curve[TS_TRAIN_N_CURVES]; /* (x, y) doubles */
    double ema_loss, ema_acc;
    float prev_loss, prev_acc;   /* running means at the last plotted step */
    int last_step, last_step_epoch, have_ema;
    TsTrainProbe probe[TS_TRAIN_PROBES];
    ts_image probe_img[TS_TRAIN_PROBES];
    char *probe_truth[TS_TRAIN_PROBES + 1];
    int n_probes, n_probe_updates, probes_pending;
    ts_train_result result;      /* of the ended worker, until the run finishes */
    ts_status result_st;
    char *result_error;
    gboolean result_waiting;
    gboolean flags[6];           /* last notified: see flag_props */

    /* mailbox, worker -> main */
    GMutex mu;
    GArray *pending;             /* ts_train_progress */
    int pending_n_probes;        /* -1: none posted */
    ts_image pending_img[TS_TRAIN_PROBES];
    char pending_truth[TS_TRAIN_PROBES][64];
    gboolean flush_scheduled;
    gboolean worker_alive;       /* under mu; worker_gone is signalled when it clears */
    GCond worker_gone;
};

G_DEFINE_FINAL_TYPE(TsTrainRun, ts_train_run, G_TYPE_OBJECT)

enum {
    PROP_0,
    PROP_STATE,
    PROP_TITLE,
    PROP_STATUS,
    PROP_FRACTION,
    PROP_ACTIVE,
    PROP_STOPPED,
    PROP_CAN_STOP,
    PROP_CAN_OPEN,
    PROP_SHOW_PROGRESS,
    PROP_FAILED,
    N_PROPS
};
static GParamSpec *props[N_PROPS];
enum { SIG_STATE_CHANGED, SIG_CURVES_CHANGED, SIG_PROBES_CHANGED, SIG_EPOCH_DONE, SIG_FINISHED, N_SIGNALS };
static guint signals[N_SIGNALS];

const char *ts_train_run_state_name(TsTrainRunState s)
{
    static const char *const names[] = { "queued", "preparing", "training", "done", "cancelled", "failed" };
    return (unsigned)s < G_N_ELEMENTS(names) ? names[s] : "unknown";
}

void ts_train_probe_result_free(TsTrainProbeResult *r)
{
    if (!r) return;
    for (int k = 0; k < TS_TRAIN_PROBES; k++) ts_image_clear(&r->item[k].heat);
    g_free(r);
}

static void append_xy(GArray *a, double x, double y)
{
    if (!isfinite(x) || !isfinite(y)) return;
    double v[2] = { x, y };
    g_array_append_vals(a, v, 2);
}

/* Drops points right of x (a resumed run redoes an unfinished epoch). */
static void trim_xy(GArray *a, double x)
{
    guint n = a->len / 2;
    while (n > 0 && g_array_index(a, double, 2 * (n - 1)) > x + 1e-9) n--;
    g_array_set_size(a, 2 * n);
}

/* ---- text ---- */

static char *format_duration(double s)
{
    if (!(s >= 0)) return g_strdup("?");
    long t = lround(s);
    if (t < 60) return g_strdup_printf(_("%ld s"), t);
    if (t < 3600) return g_strdup_printf(_("%ld min %02ld s"), t / 60, t % 60);
    return g_strdup_printf(_("%ld h %02ld min"), t / 3600, (t / 60) % 60);
}

static char *title_text(const TsTrainRun *r)
{
    char *arch_name = g_path_get_basename(r->arch ? r->arch : "");
    char *dot = strrchr(arch_name, '.');
    if (dot && dot != arch_name) *dot = '\0';
    char *t = g_strdup_printf(_("#%d  %s · %s · %s · %d px"), r->id, r->trait ? r->trait : "?",
                              r->s.variant == TS_VARIANT_LACNN ? "LACNN" : _("baseline"), arch_name, r->s.size);
    g_free(arch_name);
    if (r->ranks > 1) {
        char *more = g_strdup_printf(_("%s · %d processes"), t, r->ranks);
        g_free(t);
        t = more;
    }
    return t;
}

static char *status_text(const TsTrainRun *r)
{
    const ts_train_progress *pr = &r->last;
    switch (r->state) {
    case TS_TRAIN_RUN_QUEUED:
        return g_strdup(r->s.resume ? _("Queued to resume") : _("Queued"));
    case TS_TRAIN_RUN_PREPARING:
        if (pr->total > 0)
            return g_strdup_printf(_("Preparing faces: %d of %d (landmarks and A(x,y), cached for the next run)"),
                                   pr->done, pr->total);
        return g_strdup(_("Loading the data…"));
    case TS_TRAIN_RUN_TRAINING: {
        if (pr->phase == TS_TRAIN_EVALUATING)
            return g_strdup_printf(pr->validating ? _("Epoch %d of %d · validating %d of %d faces")
                                                  : _("Epoch %d of %d · testing %d of %d faces"),
                                   pr->epoch, pr->epochs, pr->done,
                                   pr->total);
        char *eta = pr->eta_s >= 0 ? format_duration(pr->eta_s) : g_strdup(_("unknown"));
        char *t = g_strdup_printf(_("Epoch %d of %d · step %d of %d · loss %.3f · %.0f images/s · %s left"),
                                  pr->epoch, pr->epochs, pr->step, pr->steps, pr->loss, pr->images_per_s, eta);
        g_free(eta);
        return t;
    }
    case TS_TRAIN_RUN_DONE: {
        char *d = format_duration(r->seconds);
        char *t = r->test_acc >= 0
                      ? g_strdup_printf(_("Done in %s · %d epochs · test accuracy %.1f %%"), d, r->epochs_done,
                                        100.0 * r->test_acc)
                      : g_strdup_printf(_("Done in %s · %d epochs"), d, r->epochs_done);
        g_free(d);
        return t;
    }
    case TS_TRAIN_RUN_CANCELLED:
        if (r->epochs_done > 0)
            return g_strdup_printf(_("Cancelled after epoch %d of %d; its checkpoint is kept (Resume continues)"),
                                   r->epochs_done, r->s.epochs);
        return g_strdup(_("Cancelled before the first epoch ended"));
    case TS_TRAIN_RUN_FAILED:
        return g_strdup_printf(_("Failed: %s"), r->error ? r->error : _("unknown error"));
    }
    return g_strdup("");
}

/* Publishes what changed: status and progress always, the flags when they
 * flip, "state-changed" when the state did. */
static void publish(TsTrainRun *r, TsTrainRunState before)
{
    g_free(r->status);
    r->status = status_text(r);
    g_object_notify_by_pspec(G_OBJECT(r), props[PROP_STATUS]);
    g_object_notify_by_pspec(G_OBJECT(r), props[PROP_FRACTION]);
    gboolean active = ts_train_run_is_active(r);
    gboolean stopped = r->state == TS_TRAIN_RUN_CANCELLED || r->state == TS_TRAIN_RUN_FAILED;
    gboolean now[6] = {
        active,
        stopped,
        active && g_atomic_int_get(&r->stop_after) == 0 && !g_atomic_int_get(&r->abort),
        r->epochs_done > 0 && !active,
        active || (stopped && r->epochs_done > 0),
        r->state == TS_TRAIN_RUN_FAILED,
    };
    for (int i = 0; i < 6; i++)
        if (now[i] != r->flags[i]) {
            r->flags[i] = now[i];
            g_object_notify_by_pspec(G_OBJECT(r), props[PROP_ACTIVE + i]);
        }
    if (r->state != before) {
        g_object_notify_by_pspec(G_OBJECT(r), props[PROP_STATE]);
        g_signal_emit(r, signals[SIG_STATE_CHANGED], 0);
    }
}

/* ---- the worker ---- */

typedef struct Worker {
    TsTrainRun *r;
    gint64 last_post;
} Worker;

static gboolean flush_cb(gpointer data);

/* Worker side: asks the main loop to drain the mailbox (at most one idle
 * callback pending).  Called with r->mu held. */
static void schedule_flush_locked(TsTrainRun *r)
{
    if (r->flush_scheduled) return;
    r->flush_scheduled = TRUE;
    g_idle_add_full(G_PRIORITY_DEFAULT_IDLE, flush_cb, g_object_ref(r), g_object_unref);
}

static void post_progress(TsTrainRun *r, const ts_train_progress *pr)
{
    g_mutex_lock(&r->mu);
    g_array_append_val(r->pending, *pr);
    schedule_flush_locked(r);
    g_mutex_unlock(&r->mu);
}

static void on_progress(const ts_train_progress *pr, void *user)
{
    Worker *w = user;
    TsTrainRun *r = w->r;
    if (pr->epoch_end) {
        g_atomic_int_set(&r->worker_epochs, pr->epoch);
        /* "stop after this epoch": now we know which one that is */
        if (g_atomic_int_get(&r->stop_after) == -1) g_atomic_int_set(&r->stop_after, pr->epoch);
        post_progress(r, pr);
        return;
    }
    /* Steps can come hundreds a second: post at most ~20 a second, but
     * every phase change and the last step of an epoch (the curves want
     * the epoch's end). */
    gint64 now = g_get_monotonic_time();
    if (pr->phase == TS_TRAIN_TRAINING && pr->step != pr->steps && pr->step != 1 && now - w->last_post < 50000)
        return;
    w->last_post = now;
    post_progress(r, pr);
}

static bool should_abort(void *user)
{
    TsTrainRun *r = ((Worker *)user)->r;
    if (g_atomic_int_get(&r->abort)) return true;
    int after = g_atomic_int_get(&r->stop_after);
    return after > 0 && g_atomic_int_get(&r->worker_epochs) >= after;
}

/* Picks the probes: the first rows, the classes of the (first) trait in
 * turn, so both sides of a binary trait show.  Posts them. */
static void pick_probes(TsTrainRun *r, const ts_dataset *ds, const ts_trait *t)
{
    ts_image img[TS_TRAIN_PROBES] = { 0 };
    char truth[TS_TRAIN_PROBES][64];
    int n = 0;
    gboolean taken[PROBE_SEARCH_ROWS] = { 0 };
    for (int round = 0; n < TS_TRAIN_PROBES && round < TS_TRAIN_PROBES; round++)
        for (int c = 0; c < t->n_classes && n < TS_TRAIN_PROBES; c++)
            for (int i = 0; i < ds->n_rows && i < (int)G_N_ELEMENTS(taken); i++) {
                if (taken[i] || t->labels[i] != c) continue;
                taken[i] = TRUE;
                if (ts_image_load(ds->paths[i], &img[n]) == TS_OK) g_strlcpy(truth[n++], t->classes[c], 64);
                break;
            }
    g_mutex_lock(&r->mu);
    for (int k = 0; k < n; k++) {
        ts_image_clear(&r->pending_img[k]);
        r->pending_img[k] = img[k];
        g_strlcpy(r->pending_truth[k], truth[k], 64);
    }
    r->pending_n_probes = n;
    schedule_flush_locked(r);
    g_mutex_unlock(&r->mu);
}

/* Checks what ts_train_run would only find late (an output folder it
 * cannot write, after a whole epoch) or name less clearly, and picks the
 * probes.  FALSE with *error set. */
static gboolean prepare(Worker *w, char **error)
{
    TsTrainRun *r = w->r;
    const ts_train_settings *s = &r->s;
    if (!s->out || !*s->out) {
        *error = g_strdup(_("No output model file is given"));
        return FALSE;
    }
    if (g_file_test(s->out, G_FILE_TEST_IS_DIR)) {
        *error = g_strdup_printf(_("The output %s is a folder; give a model file name"), s->out);
        return FALSE;
    }
    char *dir = g_path_get_dirname(s->out);
    if (g_mkdir_with_parents(dir, 0755) != 0 || access(dir, W_OK) != 0) {
        *error = g_strdup_printf(_("The output folder %s cannot be written: %s"), dir, g_strerror(errno));
        g_free(dir);
        return FALSE;
    }
    g_free(dir);

    ts_train_progress pr = { 0 };
    pr.phase = TS_TRAIN_PREPARING;
    pr.epochs = s->epochs;
    pr.test_accuracy = -1;
    post_progress(r, &pr);

    if (!s->data || !*s->data) {
        *error = g_strdup(_("No data is given"));
        return FALSE;
    }
    ts_dataset ds;
    ts_dataset_init(&ds);
    if (ts_dataset_load(&ds, s->data, s->limit) != TS_OK) {
        char *raw = g_strdup_printf(_("The data “%s” cannot be read: %s"), s->data, ts_last_error());
        *error = g_utf8_make_valid(raw, -1); /* shown in labels; names need not be UTF-8 */
        g_free(raw);
        return FALSE;
    }
    /* the probes' trait: the first of a comma list (sigmoid nets) */
    char *first = g_strdup(s->trait ? s->trait : "");
    char *comma = strchr(first, ',');
    if (comma) *comma = '\0';
    const ts_trait *t = ts_dataset_trait(&ds, first);
    if (!t) {
        GString *have = g_string_new(NULL);
        for (int i = 0; i < ds.n_traits; i++) g_string_append_printf(have, "%s%s", i ? ", " : "", ds.traits[i].name);
        *error = ds.n_traits
                     ? g_strdup_printf(_("The data “%s” has no trait “%s” (it has: %s)"), s->data, first, have->str)
                     : g_strdup_printf(_("The data “%s” has no traits to train on"), s->data);
        g_string_free(have, TRUE);
    } else {
        pick_probes(r, &ds, t);
    }
    g_free(first);
    ts_dataset_clear(&ds);
    return t != NULL;
}

typedef struct Outcome {
    ts_status st;
    char *error;
    ts_train_result res;
} Outcome;

static void outcome_free(gpointer p)
{
    Outcome *o = p;
    if (!o) return;
    g_free(o->error);
    g_free(o);
}

static void worker_main(GTask *task, gpointer source, gpointer data, GCancellable *cancel)
{
    (void)source, (void)cancel;
    TsTrainRun *r = data;
    Worker w = { .r = r };
    Outcome *o = g_new0(Outcome, 1);
    o->res.test_accuracy = -1;
    if (!prepare(&w, &o->error)) {
        o->st = TS_ERR_ARG;
    } else if (g_atomic_int_get(&r->abort)) {
        o->st = TS_CANCELLED; /* cancelled while the data loaded */
    } else if (r->ranks > 1) {
        TsRanksHooks h = { on_progress, should_abort, &r->stop_after, &r->abort, &r->worker_epochs, &w };
        o->st = ts_train_ranks_run(&r->s, r->ranks, &h, &o->res, &o->error);
    } else {
        ts_train_callbacks cb = { on_progress, should_abort, &w };
        o->st = ts_train_run(&r->s, &cb, &o->res);
        if (o->st != TS_OK) o->error = g_utf8_make_valid(ts_last_error(), -1); /* shown in labels */
    }
    g_mutex_lock(&r->mu);
    r->worker_alive = FALSE;
    g_cond_broadcast(&r->worker_gone);
    g_mutex_unlock(&r->mu);
    g_task_return_pointer(task, o, outcome_free);
}

/* ---- main thread: the mailbox ---- */

static cairo_surface_t *surface_from_image(const ts_image *img)
{
    if (!img->data || img->width < 1 || img->height < 1) return NULL;
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, img->width, img->height);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        return NULL;
    }
    cairo_surface_flush(s);
    unsigned char *d = cairo_image_surface_get_data(s);
    int ds = cairo_image_surface_get_stride(s);
    for (int y = 0; y < img->height; y++) {
        const uint8_t *src = img->data + (size_t)y * img->stride;
        uint32_t *dst = (uint32_t *)(d + (size_t)y * ds);
        for (int x = 0; x < img->width; x++)
            dst[x] = (uint32_t)src[3 * x] << 16 | (uint32_t)src[3 * x + 1] << 8 | src[3 * x + 2];
    }
    cairo_surface_mark_dirty(s);
    return s;
}

static void apply_progress(TsTrainRun *r, const ts_train_progress *pr)
{
    r->last = *pr;
    if (pr->phase == TS_TRAIN_PREPARING) {
        r->state = TS_TRAIN_RUN_PREPARING;
        return;
    }
    if (pr->phase == TS_TRAIN_DONE) return;
    r->state = TS_TRAIN_RUN_TRAINING;
    if (pr->epoch_end) {
        r->epochs_done = pr->epoch;
        append_xy(r->curve[TS_TRAIN_CURVE_LOSS_EPOCH], pr->epoch, pr->loss);
        append_xy(r->curve[TS_TRAIN_CURVE_ACC_EPOCH], pr->epoch, pr->accuracy);
        if (pr->test_accuracy >= 0) {
            r->test_acc = pr->test_accuracy;
            append_xy(r->curve[TS_TRAIN_CURVE_TEST_EPOCH], pr->epoch, pr->test_accuracy);
        }
        return;
    }
    if (pr->phase != TS_TRAIN_TRAINING || pr->steps < 1 || pr->step < 1) return;
    /* batch values from the running means (posted steps may skip some:
     * then this is the mean of the skipped batches, still unbiased) */
    int k = pr->step;
    int prev_step = (r->last_step_epoch == pr->epoch) ? r->last_step : 0;
    float bl = pr->loss, ba = pr->accuracy;
    if (prev_step > 0 && k > prev_step) {
        bl = (k * pr->loss - prev_step * r->prev_loss) / (k - prev_step);
        ba = (k * pr->accuracy - prev_step * r->prev_acc) / (k - prev_step);
    }
    double a = CLAMP(8.0 / pr->steps, 0.1, 0.6);
    if (!r->have_ema) {
        r->ema_loss = bl;
        r->ema_acc = ba;
        r->have_ema = 1;
    } else {
        r->ema_loss += a * (bl - r->ema_loss);
        r->ema_acc += a * (ba - r->ema_acc);
    }
    r->prev_loss = pr->loss;
    r->prev_acc = pr->accuracy;
    r->last_step = k;
    r->last_step_epoch = pr->epoch;
    double x = pr->epoch - 1 + (double)k / pr->steps;
    append_xy(r->curve[TS_TRAIN_CURVE_LOSS_STEP], x, r->ema_loss);
    append_xy(r->curve[TS_TRAIN_CURVE_ACC_STEP], x, CLAMP(r->ema_acc, 0, 1));
}

static gboolean flush_cb(gpointer data)
{
    TsTrainRun *r = data;
    g_mutex_lock(&r->mu);
    r->flush_scheduled = FALSE;
    GArray *prog = r->pending;
    r->pending = g_array_new(FALSE, FALSE, sizeof(ts_train_progress));
    int n_probes = r->pending_n_probes;
    r->pending_n_probes = -1;
    ts_image img[TS_TRAIN_PROBES];
    char truth[TS_TRAIN_PROBES][64];
    for (int k = 0; k < n_probes; k++) {
        img[k] = r->pending_img[k];
        memset(&r->pending_img[k], 0, sizeof r->pending_img[k]);
        memcpy(truth[k], r->pending_truth[k], 64);
    }
    g_mutex_unlock(&r->mu);

    if (!r->detached && ts_train_run_is_active(r)) {
        TsTrainRunState before = r->state;
        if (n_probes >= 0) {
            for (int k = 0; k < TS_TRAIN_PROBES; k++) {
                ts_image_clear(&r->probe_img[k]);
                g_clear_pointer(&r->probe_truth[k], g_free);
                g_clear_pointer(&r->probe[k].face, cairo_surface_destroy);
                if (k >= n_probes) continue;
                r->probe_img[k] = img[k];
                r->probe_truth[k] = g_strdup(truth[k]);
                r->probe[k].face = surface_from_image(&img[k]);
                g_free(r->probe[k].truth);
                r->probe[k].truth = g_strdup(truth[k]);
            }
            r->n_probes = n_probes;
            g_signal_emit(r, signals[SIG_PROBES_CHANGED], 0);
        }
        for (guint i = 0; i < prog->len; i++) {
            const ts_train_progress *pr = &g_array_index(prog, ts_train_progress, i);
            apply_progress(r, pr);
            if (pr->epoch_end && r->n_probes > 0) {
                r->probes_pending++;
                g_signal_emit(r, signals[SIG_EPOCH_DONE], 0, pr->epoch);
            }
        }
        publish(r, before);
        if (prog->len) g_signal_emit(r, signals[SIG_CURVES_CHANGED], 0);
    } else {
        for (int k = 0; k < n_probes; k++) ts_image_clear(&img[k]);
    }
    g_array_unref(prog);
    return G_SOURCE_REMOVE;
}

/* The worker ended and its probe work came back: the run's end. */
static void finish(TsTrainRun *r)
{
    TsTrainRunState before = r->state;
    r->result_waiting = FALSE;
    r->seconds += r->result.seconds;
    if (r->result.epochs_done > r->epochs_done) r->epochs_done = r->result.epochs_done;
    if (r->result_st == TS_OK) {
        r->state = TS_TRAIN_RUN_DONE;
        if (r->result.test_accuracy >= 0) r->test_acc = r->result.test_accuracy;
    } else if (r->result_st == TS_CANCELLED) {
        r->state = TS_TRAIN_RUN_CANCELLED;
    } else {
        r->state = TS_TRAIN_RUN_FAILED;
        g_free(r->error);
        r->error = g_strdup(r->result_error ? r->result_error : _("unknown error"));
    }
    g_clear_pointer(&r->result_error, g_free);
    publish(r, before);
    g_signal_emit(r, signals[SIG_CURVES_CHANGED], 0);
    g_signal_emit(r, signals[SIG_FINISHED], 0);
}

static void worker_done(GObject *source, GAsyncResult *res, gpointer data)
{
    (void)source, (void)data;
    TsTrainRun *r = g_task_get_task_data(G_TASK(res));
    Outcome *o = g_task_propagate_pointer(G_TASK(res), NULL);
    flush_cb(r); /* progress still in the mailbox comes first */
    if (o && !r->detached) {
        r->result = o->res;
        r->result_st = o->st;
        r->result_error = g_steal_pointer(&o->error);
        r->result_waiting = TRUE;
        if (r->probes_pending == 0) finish(r);
    }
    outcome_free(o);
}

void ts_train_run_add_probes(TsTrainRun *r, TsTrainProbeResult *m)
{
    if (r->detached) {
        ts_train_probe_result_free(m);
        return;
    }
    for (int k = 0; m && k < m->n && k < r->n_probes; k++) {
        TsTrainProbe *v = &r->probe[k];
        g_free(v->caption);
        if (m->item[k].error[0]) {
            v->caption = g_strdup_printf(_("Epoch %d · %s"), m->epoch, m->item[k].error);
            continue;
        }
        cairo_surface_t *h = surface_from_image(&m->item[k].heat);
        if (h) {
            if (v->heat) cairo_surface_destroy(v->heat);
            v->heat = h;
        }
        v->caption = g_strdup_printf(_("Epoch %d · %s %.0f %%"), m->epoch, m->item[k].pred, 100.0 * m->item[k].prob);
    }
    if (m) r->n_probe_updates++;
    ts_train_probe_result_free(m);
    if (r->probes_pending > 0) r->probes_pending--;
    g_signal_emit(r, signals[SIG_PROBES_CHANGED], 0);
    if (r->result_waiting && r->probes_pending == 0) finish(r);
}

/* ---- control ---- */

static gboolean launch(gpointer data)
{
    TsTrainRun *r = data;
    r->launch_id = 0;
    GTask *task = g_task_new(NULL, NULL, worker_done, NULL);
    g_task_set_task_data(task, g_object_ref(r), g_object_unref);
    g_task_set_name(task, "traitscope training run");
    g_task_run_in_thread(task, worker_main);
    g_object_unref(task);
    return G_SOURCE_REMOVE;
}

void ts_train_run_start(TsTrainRun *r)
{
    g_return_if_fail(r->state == TS_TRAIN_RUN_QUEUED);
    TsTrainRunState before = r->state;
    r->state = TS_TRAIN_RUN_PREPARING;
    r->last = (ts_train_progress){ .phase = TS_TRAIN_PREPARING, .epochs = r->s.epochs, .test_accuracy = -1,
                                   .eta_s = -1 };
    g_atomic_int_set(&r->abort, 0);
    g_atomic_int_set(&r->worker_epochs, r->s.resume ? r->epochs_done : 0);
    r->have_ema = 0;
    r->last_step = r->last_step_epoch = 0;
    r->probes_pending = 0;
    g_clear_pointer(&r->error, g_free);
    r->worker_alive = TRUE; /* no worker yet: no lock needed */
    /* The worker is launched from the main loop's next turn: what the
     * caller asks in this turn (a stop after epoch N, right after
     * queueing) is known when it starts, which a run over several
     * processes needs (the CLI's --stop-after is exact, a signal later is
     * not). */
    r->launch_id = g_idle_add_full(G_PRIORITY_DEFAULT, launch, g_object_ref(r), g_object_unref);
    publish(r, before);
}

gboolean ts_train_run_cancel(TsTrainRun *r)
{
    TsTrainRunState before = r->state;
    if (r->state == TS_TRAIN_RUN_QUEUED) r->state = TS_TRAIN_RUN_CANCELLED;
    else if (ts_train_run_is_active(r)) g_atomic_int_set(&r->abort, 1);
    else return FALSE;
    publish(r, before);
    /* the queue hears of a cancel even when the state changes later */
    if (r->state == before) g_signal_emit(r, signals[SIG_STATE_CHANGED], 0);
    return TRUE;
}

gboolean ts_train_run_stop_after_epoch(TsTrainRun *r, int epoch)
{
    if (r->state == TS_TRAIN_RUN_DONE || r->state == TS_TRAIN_RUN_FAILED || r->state == TS_TRAIN_RUN_CANCELLED)
        return FALSE;
    g_atomic_int_set(&r->stop_after, epoch > 0 ? epoch : -1);
    publish(r, r->state);
    return TRUE;
}

gboolean ts_train_run_resume(TsTrainRun *r)
{
    if (r->state != TS_TRAIN_RUN_CANCELLED && r->state != TS_TRAIN_RUN_FAILED) return FALSE;
    /* Without a training state (stopped before the first checkpoint) the
     * run starts afresh. */
    char *state = ts_train_state_path(r->out);
    r->s.resume = r->epochs_done > 0 && state && g_file_test(state, G_FILE_TEST_EXISTS);
    free(state);
    if (!r->s.resume) {
        r->epochs_done = 0;
        r->n_probe_updates = 0;
    }
    double keep = r->s.resume ? r->epochs_done : 0;
    for (int c = 0; c < TS_TRAIN_N_CURVES; c++) trim_xy(r->curve[c], keep);
    g_atomic_int_set(&r->stop_after, 0);
    g_atomic_int_set(&r->abort, 0);
    TsTrainRunState before = r->state;
    r->state = TS_TRAIN_RUN_QUEUED;
    g_clear_pointer(&r->error, g_free);
    publish(r, before);
    g_signal_emit(r, signals[SIG_CURVES_CHANGED], 0);
    return TRUE;
}

void ts_train_run_abort_and_wait(TsTrainRun *r)
{
    r->detached = TRUE;
    g_atomic_int_set(&r->abort, 1);
    if (r->launch_id) { /* not launched yet: it never will be */
        g_source_remove(r->launch_id);
        r->launch_id = 0;
        r->worker_alive = FALSE;
    }
    g_mutex_lock(&r->mu);
    while (r->worker_alive) g_cond_wait(&r->worker_gone, &r->mu);
    g_mutex_unlock(&r->mu);
}

/* ---- accessors ---- */

int ts_train_run_get_id(TsTrainRun *r) { return r->id; }
int ts_train_run_get_ranks(TsTrainRun *r) { return r->ranks; }
TsTrainRunState ts_train_run_get_state(TsTrainRun *r) { return r->state; }
const ts_train_settings *ts_train_run_get_settings(TsTrainRun *r) { return &r->s; }
const ts_train_progress *ts_train_run_get_progress(TsTrainRun *r) { return &r->last; }
const char *ts_train_run_get_title(TsTrainRun *r) { return r->title; }
const char *ts_train_run_get_status(TsTrainRun *r) { return r->status; }
const char *ts_train_run_get_error(TsTrainRun *r) { return r->state == TS_TRAIN_RUN_FAILED ? r->error : NULL; }
int ts_train_run_get_epochs_done(TsTrainRun *r) { return r->epochs_done; }
float ts_train_run_get_test_accuracy(TsTrainRun *r) { return r->test_acc; }
int ts_train_run_get_n_probes(TsTrainRun *r) { return r->n_probes; }
int ts_train_run_get_n_probe_updates(TsTrainRun *r) { return r->n_probe_updates; }

gboolean ts_train_run_is_active(TsTrainRun *r)
{
    return r->state == TS_TRAIN_RUN_PREPARING || r->state == TS_TRAIN_RUN_TRAINING;
}

double ts_train_run_get_fraction(TsTrainRun *r)
{
    const ts_train_progress *pr = &r->last;
    double f = 0;
    if (r->state == TS_TRAIN_RUN_DONE) f = 1;
    else if (r->state == TS_TRAIN_RUN_PREPARING && pr->total > 0) f = (double)pr->done / pr->total;
    else if (r->state == TS_TRAIN_RUN_TRAINING && pr->epochs > 0 && pr->steps > 0)
        f = ((pr->epoch - 1) + (double)pr->step / pr->steps) / pr->epochs;
    else if (r->s.epochs > 0) f = (double)r->epochs_done / r->s.epochs;
    return CLAMP(f, 0, 1);
}

const double *ts_train_run_get_curve(TsTrainRun *r, TsTrainCurve c, int *n)
{
    *n = (int)r->curve[c]->len / 2;
    return (const double *)r->curve[c]->data;
}

const TsTrainProbe *ts_train_run_get_probe(TsTrainRun *r, int k)
{
    return k >= 0 && k < r->n_probes ? &r->probe[k] : NULL;
}

const ts_image *ts_train_run_get_probe_images(TsTrainRun *r, int *n, const char *const **truths)
{
    *n = r->n_probes;
    if (truths) *truths = (const char *const *)r->probe_truth;
    return r->n_probes > 0 ? r->probe_img : NULL;
}

/* ---- GObject ---- */

static void get_property(GObject *o, guint id, GValue *v, GParamSpec *ps)
{
    TsTrainRun *r = TS_TRAIN_RUN(o);
    switch (id) {
    case PROP_STATE: g_value_set_int(v, r->state); break;
    case PROP_TITLE: g_value_set_string(v, r->title); break;
    case PROP_STATUS: g_value_set_string(v, r->status); break;
    case PROP_FRACTION: g_value_set_double(v, ts_train_run_get_fraction(r)); break;
    case PROP_ACTIVE:
    case PROP_STOPPED:
    case PROP_CAN_STOP:
    case PROP_CAN_OPEN:
    case PROP_SHOW_PROGRESS:
    case PROP_FAILED: g_value_set_boolean(v, r->flags[id - PROP_ACTIVE]); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps);
    }
}

static void finalize(GObject *o)
{
    TsTrainRun *r = TS_TRAIN_RUN(o);
    g_free(r->data);
    g_free(r->trait);
    g_free(r->arch);
    g_free(r->out);
    g_free(r->cache_dir);
    g_free(r->error);
    g_free(r->status);
    g_free(r->title);
    g_free(r->result_error);
    for (int c = 0; c < TS_TRAIN_N_CURVES; c++) g_array_unref(r->curve[c]);
    for (int k = 0; k < TS_TRAIN_PROBES; k++) {
        g_clear_pointer(&r->probe[k].face, cairo_surface_destroy);
        g_clear_pointer(&r->probe[k].heat, cairo_surface_destroy);
        g_free(r->probe[k].truth);
        g_free(r->probe[k].caption);
        ts_image_clear(&r->probe_img[k]);
        ts_image_clear(&r->pending_img[k]);
        g_free(r->probe_truth[k]);
    }
    g_array_unref(r->pending);
    g_mutex_clear(&r->mu);
    g_cond_clear(&r->worker_gone);
    G_OBJECT_CLASS(ts_train_run_parent_class)->finalize(o);
}

static void ts_train_run_class_init(TsTrainRunClass *k)
{
    GObjectClass *oc = G_OBJECT_CLASS(k);
    oc->get_property = get_property;
    oc->finalize = finalize;
    const GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS;
    props[PROP_STATE] = g_param_spec_int("state", NULL, NULL, 0, TS_TRAIN_RUN_FAILED, 0, ro);
    props[PROP_TITLE] = g_param_spec_string("title", NULL, NULL, "", ro);
    props[PROP_STATUS] = g_param_spec_string("status", NULL, NULL, "", ro);
    props[PROP_FRACTION] = g_param_spec_double("fraction", NULL, NULL, 0, 1, 0, ro);
    props[PROP_ACTIVE] = g_param_spec_boolean("active", NULL, NULL, FALSE, ro);
    props[PROP_STOPPED] = g_param_spec_boolean("stopped", NULL, NULL, FALSE, ro);
    props[PROP_CAN_STOP] = g_param_spec_boolean("can-stop", NULL, NULL, FALSE, ro);
    props[PROP_CAN_OPEN] = g_param_spec_boolean("can-open", NULL, NULL, FALSE, ro);
    props[PROP_SHOW_PROGRESS] = g_param_spec_boolean("show-progress", NULL, NULL, FALSE, ro);
    props[PROP_FAILED] = g_param_spec_boolean("failed", NULL, NULL, FALSE, ro);
    g_object_class_install_properties(oc, N_PROPS, props);
    GType t = G_TYPE_FROM_CLASS(k);
    signals[SIG_STATE_CHANGED] = g_signal_new("state-changed", t, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
    signals[SIG_CURVES_CHANGED] =
        g_signal_new("curves-changed", t, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
    signals[SIG_PROBES_CHANGED] =
        g_signal_new("probes-changed", t, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
    signals[SIG_EPOCH_DONE] =
        g_signal_new("epoch-done", t, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT);
    signals[SIG_FINISHED] = g_signal_new("finished", t, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void ts_train_run_init(TsTrainRun *r)
{
    g_mutex_init(&r->mu);
    g_cond_init(&r->worker_gone);
    r->pending = g_array_new(FALSE, FALSE, sizeof(ts_train_progress));
    r->pending_n_probes = -1;
    for (int c = 0; c < TS_TRAIN_N_CURVES; c++) r->curve[c] = g_array_new(FALSE, FALSE, sizeof(double));
    r->test_acc = -1;
    r->last.test_accuracy = -1;
}

TsTrainRun *ts_train_run_new(const ts_train_settings *s, int id, int ranks)
{
    TsTrainRun *r = g_object_new(TS_TYPE_TRAIN_RUN, NULL);
    r->id = id;
    r->ranks = ranks > 1 ? ranks : 1;
    r->s = *s;
    r->data = g_strdup(s->data);
    r->trait = g_strdup(s->trait);
    r->arch = g_strdup(s->arch);
    r->out = g_strdup(s->out);
    r->cache_dir = g_strdup(s->cache_dir);
    r->s.data = r->data;
    r->s.trait = r->trait;
    r->s.arch = r->arch;
    r->s.out = r->out;
    r->s.cache_dir = r->cache_dir;
    r->s.eval_each_epoch = true;
    r->last.epochs = s->epochs;
    r->title = title_text(r);
    r->status = status_text(r);
    return r;
}
