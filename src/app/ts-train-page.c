/* ts-train-page.c - see ts-train-page.h.
 *
 * Threads and ownership:
 *   - Run is reference counted (the page's list, the worker's GTask and
 *     each pending main-loop callback hold one).  Its settings are written
 *     on the main thread only while no worker uses them; the worker reads
 *     them.  abort / stop_after are atomics the main thread sets and the
 *     worker polls (should_abort, every step).
 *   - The worker never touches widgets or main-thread fields.  It pushes
 *     progress records and probe results into the run's mailbox (mu,
 *     pending_*) and schedules one idle callback that drains the mailbox on
 *     the main thread, so a burst of steps costs one redraw.
 *   - run->page is the page while the run is listed and the page lives;
 *     dispose and remove set it to NULL, and every main-loop callback of a
 *     run with page == NULL just drops its data.
 *   - At most one run has a worker (page->running).  The probe inspector
 *     is process-wide (its dlib model is 95 MB; loading it once per run
 *     would cost seconds) and used by one training thread at a time, under
 *     probe_lock.
 * Several processes (issue 17): a run with ranks > 1 is not trained in the
 *   worker's own thread but by `mpirun -np N traitscope-cli train
 *   --progress json` (docs/cluster.md), which the worker starts and
 *   follows: each progress line becomes the ts_train_progress the
 *   in-process run would report (so curves, probes and "stop after" work
 *   the same), the final JSON the outcome; cancel sends SIGINT to mpirun,
 *   which passes it to the ranks, and they stop at the same step.  The
 *   form offers it only where mpirun is on the PATH.
 * Curves: per step, the batch loss and accuracy are recovered from the
 * running epoch means job.c reports (k*m_k - (k-1)*m_{k-1}) and smoothed
 * with an exponential moving average; per epoch, the epoch means and the
 * test accuracy (eval_each_epoch) are plotted as dots.
 */
#include "ts-train-page.h"

#include <cjson/cJSON.h>
#include <gio/gunixinputstream.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <math.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "data/dataset.h"
#include "explain/colormap.h"
#include "explain/inspect.h"
#include "nn/arch.h"
#include "nn/model.h"
#include "ts-curve.h"

#define N_PROBES 4
/* Probes are looked for among the first rows only. */
#define PROBE_SEARCH_ROWS 2000

/* ---- runs ---- */

typedef struct ProbeView {
    cairo_surface_t *face, *heat; /* RGB24, NULL until known */
    char *truth;                  /* the label's class name */
    char *caption;                /* "Epoch 2 · male 87 %" */
} ProbeView;

/* One probe result as the worker hands it over. */
typedef struct ProbeItem {
    ts_image face, heat;
    char truth[64], pred[64];
    float prob;
    char error[256];
} ProbeItem;

typedef struct ProbeMsg {
    int epoch, n;
    ProbeItem item[N_PROBES];
} ProbeMsg;

typedef struct Run {
    gatomicrefcount ref;
    int id;                      /* 1, 2, ... in creation order (row title) */
    ts_train_settings s;         /* strings point into the fields below */
    char *data, *trait, *arch, *out, *cache_dir;
    int ranks;                   /* > 1: mpirun -np ranks traitscope-cli train (see the file comment) */
    gint abort;                  /* atomic: cancel at the next step */
    gint stop_after;             /* atomic: > 0 stop when that many epochs are done; -1 after the current one */
    gint worker_epochs;          /* worker: epochs done in this run */

    /* main thread */
    struct _TsTrainPage *page;
    TsTrainRunState state;
    ts_train_progress last;
    int epochs_done;
    float test_acc;
    char *error, *status;
    double seconds;
    GArray *loss_step, *loss_epoch, *acc_step, *acc_epoch, *test_epoch; /* (x, y) doubles */
    double ema_loss, ema_acc;
    float prev_loss, prev_acc;     /* running means at the last plotted step */
    int last_step, last_step_epoch;
    int have_ema;
    ProbeView probe[N_PROBES];
    int n_probes, n_probe_updates;
    GtkWidget *row, *title, *subtitle, *bar;
    GtkWidget *cancel_btn, *stop_btn, *resume_btn, *open_btn, *remove_btn;

    /* mailbox, worker -> main */
    GMutex mu;
    GArray *pending;             /* ts_train_progress */
    GPtrArray *pending_probes;   /* ProbeMsg* */
    int pending_n_probes;        /* -1: none posted */
    gboolean flush_scheduled;
    gboolean worker_alive;       /* under mu; worker_gone is signalled when it clears */
    GCond worker_gone;
} Run;

struct _TsTrainPage {
    GtkWidget parent;

    /* template */
    GtkWidget *root;
    GtkEntry *data_entry, *arch_entry, *out_entry;
    GtkButton *data_button, *arch_button, *out_button, *queue_button;
    GtkLabel *data_info, *form_error, *run_title, *progress_label, *probe_hint;
    GtkDropDown *trait_dropdown, *variant_dropdown, *arch_dropdown, *device_dropdown;
    GtkWidget *arch_file_box;
    GtkSpinButton *size_spin, *epochs_spin, *lr_spin, *batch_spin, *limit_spin, *ranks_spin;
    GtkSwitch *augment_switch;
    GtkListBox *run_list;
    GtkProgressBar *progress_bar;
    GtkBox *curve_box, *probe_box;

    TsCurve *loss_curve, *acc_curve;
    int s_loss_step, s_loss_epoch, s_acc_step, s_acc_epoch, s_test;
    GtkWidget *probe_area[N_PROBES], *probe_truth[N_PROBES], *probe_caption[N_PROBES];

    GPtrArray *runs;      /* Run*, list order */
    Run *running;         /* the run with a worker, or NULL */
    Run *selected;        /* shown in curves and probes */
    gboolean follow;      /* select a run when it starts */
    int next_id;
    int updating;         /* programmatic list selection */
    gboolean out_edited;  /* the user typed an output path */

    /* data preview */
    guint preview_timeout;
    guint preview_gen;
    GCancellable *preview_cancel;
    GtkStringList *trait_list;
    char **trait_counts;  /* per trait of the preview: "female 4,812 · male 5,188" */
    int preview_rows;
};

G_DEFINE_FINAL_TYPE(TsTrainPage, ts_train_page, GTK_TYPE_WIDGET)

enum { SIG_OPEN_MODEL, SIG_RUN_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

static GMutex probe_lock;
static ts_inspector *probe_inspector; /* process-wide, see the file comment */

static void start_next(TsTrainPage *p);
static void update_row(Run *r);
static void show_selected(TsTrainPage *p);
static void update_curves(TsTrainPage *p);
static void update_probes(TsTrainPage *p);

static const char *const arch_builtin[] = { "alexnet", "caffenet", "adiencenet", "vgg16", "googlenet" };
#define N_ARCH_BUILTIN 5

const char *ts_train_run_state_name(TsTrainRunState s)
{
    static const char *const names[] = { "queued", "preparing", "training", "done", "cancelled", "failed" };
    return (unsigned)s < G_N_ELEMENTS(names) ? names[s] : "unknown";
}

static Run *run_ref(Run *r)
{
    g_atomic_ref_count_inc(&r->ref);
    return r;
}

static void probe_msg_free(gpointer p)
{
    ProbeMsg *m = p;
    if (!m) return;
    for (int i = 0; i < N_PROBES; i++) {
        ts_image_clear(&m->item[i].face);
        ts_image_clear(&m->item[i].heat);
    }
    g_free(m);
}

static void probe_view_clear(ProbeView *v)
{
    g_clear_pointer(&v->face, cairo_surface_destroy);
    g_clear_pointer(&v->heat, cairo_surface_destroy);
    g_clear_pointer(&v->truth, g_free);
    g_clear_pointer(&v->caption, g_free);
}

static void run_unref(gpointer data)
{
    Run *r = data;
    if (!r || !g_atomic_ref_count_dec(&r->ref)) return;
    g_free(r->data);
    g_free(r->trait);
    g_free(r->arch);
    g_free(r->out);
    g_free(r->cache_dir);
    g_free(r->error);
    g_free(r->status);
    g_array_unref(r->loss_step);
    g_array_unref(r->loss_epoch);
    g_array_unref(r->acc_step);
    g_array_unref(r->acc_epoch);
    g_array_unref(r->test_epoch);
    for (int i = 0; i < N_PROBES; i++) probe_view_clear(&r->probe[i]);
    g_array_unref(r->pending);
    g_ptr_array_unref(r->pending_probes);
    g_mutex_clear(&r->mu);
    g_cond_clear(&r->worker_gone);
    g_free(r);
}

static Run *run_new(const ts_train_settings *s, int id)
{
    Run *r = g_new0(Run, 1);
    g_atomic_ref_count_init(&r->ref);
    r->id = id;
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
    r->ranks = 1;
    r->test_acc = -1;
    r->last.test_accuracy = -1;
    r->last.epochs = s->epochs;
    r->loss_step = g_array_new(FALSE, FALSE, sizeof(double));
    r->loss_epoch = g_array_new(FALSE, FALSE, sizeof(double));
    r->acc_step = g_array_new(FALSE, FALSE, sizeof(double));
    r->acc_epoch = g_array_new(FALSE, FALSE, sizeof(double));
    r->test_epoch = g_array_new(FALSE, FALSE, sizeof(double));
    g_mutex_init(&r->mu);
    g_cond_init(&r->worker_gone);
    r->pending = g_array_new(FALSE, FALSE, sizeof(ts_train_progress));
    r->pending_probes = g_ptr_array_new_with_free_func(probe_msg_free);
    r->pending_n_probes = -1;
    return r;
}

static int run_index(TsTrainPage *p, Run *r)
{
    guint i;
    return g_ptr_array_find(p->runs, r, &i) ? (int)i : -1;
}

static Run *run_at(TsTrainPage *p, int index)
{
    if (index < 0 || (guint)index >= p->runs->len) return NULL;
    return g_ptr_array_index(p->runs, index);
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

static char *run_title_text(const Run *r)
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

/* The one-line state of a run shown in its row and above the curves. */
static char *run_status_text(const Run *r)
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
            return g_strdup_printf(_("Epoch %d of %d · testing %d of %d faces"), pr->epoch, pr->epochs, pr->done,
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

/* ---- the worker ---- */

typedef struct Worker {
    Run *r;
    int n_probes;
    ts_image img[N_PROBES];
    char truth[N_PROBES][64];
    gint64 last_post;
} Worker;

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

static gboolean flush_cb(gpointer data);

/* Worker side: asks the main loop to drain the mailbox (at most one idle
 * callback pending per run).  Called with r->mu held. */
static void schedule_flush_locked(Run *r)
{
    if (r->flush_scheduled) return;
    r->flush_scheduled = TRUE;
    g_idle_add_full(G_PRIORITY_DEFAULT_IDLE, flush_cb, run_ref(r), run_unref);
}

static void post_progress(Run *r, const ts_train_progress *pr)
{
    g_mutex_lock(&r->mu);
    g_array_append_val(r->pending, *pr);
    schedule_flush_locked(r);
    g_mutex_unlock(&r->mu);
}

/* RGB8 copy of a ts_image (the probe messages own theirs). */
static void image_copy_or_clear(ts_image *dst, const ts_image *src)
{
    if (ts_image_copy(dst, src) != TS_OK) memset(dst, 0, sizeof *dst);
}

/* After an epoch: the checkpoint just written, inspected on every probe. */
static void compute_probes(Worker *w, int epoch)
{
    Run *r = w->r;
    if (w->n_probes == 0) return;
    ProbeMsg *msg = g_new0(ProbeMsg, 1);
    msg->epoch = epoch;
    msg->n = w->n_probes;
    ts_model *m = NULL;
    ts_status st = ts_model_load(r->s.out, &m);
    const char *why = st != TS_OK ? ts_last_error() : NULL;
    g_mutex_lock(&probe_lock);
    if (!probe_inspector && st == TS_OK) probe_inspector = ts_inspector_new();
    for (int k = 0; k < w->n_probes; k++) {
        ProbeItem *it = &msg->item[k];
        image_copy_or_clear(&it->face, &w->img[k]);
        g_strlcpy(it->truth, w->truth[k], sizeof it->truth);
        if (st != TS_OK) {
            g_strlcpy(it->error, why, sizeof it->error);
            continue;
        }
        ts_inspect res;
        ts_model *models[TS_INSPECT_MODELS] = { m, NULL };
        ts_inspect_opts o = { 0 };
        o.face = -1;
        o.method = TS_LANDMARKS_ERT;
        o.crop = TS_CROP_WHOLE; /* dataset images are face crops */
        ts_status rs = ts_inspector_run(probe_inspector, &w->img[k], models, &o, &res);
        if (rs != TS_OK) {
            g_strlcpy(it->error, ts_last_error(), sizeof it->error);
            continue;
        }
        const ts_inspect_model *im = &res.model[0];
        if (im->error[0] || !im->heat) {
            g_strlcpy(it->error, im->error[0] ? im->error : _("no heatmap"), sizeof it->error);
        } else {
            if (ts_colormap_relevance(im->heat, im->in_size, im->in_size, 0, &it->heat, NULL) != TS_OK)
                memset(&it->heat, 0, sizeof it->heat);
            int c = im->predicted;
            if (c >= 0 && c < m->meta.n_classes && c < (int)G_N_ELEMENTS(im->probs)) {
                g_strlcpy(it->pred, m->meta.classes[c], sizeof it->pred);
                it->prob = im->probs[c];
            }
        }
        ts_inspect_clear(&res);
    }
    g_mutex_unlock(&probe_lock);
    ts_model_free(m);
    g_mutex_lock(&r->mu);
    g_ptr_array_add(r->pending_probes, msg);
    schedule_flush_locked(r);
    g_mutex_unlock(&r->mu);
}

static void on_progress(const ts_train_progress *pr, void *user)
{
    Worker *w = user;
    Run *r = w->r;
    if (pr->epoch_end) {
        g_atomic_int_set(&r->worker_epochs, pr->epoch);
        /* "stop after this epoch": now we know which one that is */
        if (g_atomic_int_get(&r->stop_after) == -1) g_atomic_int_set(&r->stop_after, pr->epoch);
        post_progress(r, pr);
        compute_probes(w, pr->epoch);
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
    Run *r = ((Worker *)user)->r;
    if (g_atomic_int_get(&r->abort)) return true;
    int after = g_atomic_int_get(&r->stop_after);
    return after > 0 && g_atomic_int_get(&r->worker_epochs) >= after;
}

/* Checks what ts_train_run would only find late (an output folder it
 * cannot write, after a whole epoch) or name less clearly, and picks the
 * probes.  FALSE with *error set. */
static gboolean prepare(Worker *w, char **error)
{
    Run *r = w->r;
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

    ts_dataset ds;
    ts_dataset_init(&ds);
    if (!s->data || !*s->data) {
        *error = g_strdup(_("No data is given"));
        return FALSE;
    }
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
        g_free(first);
        ts_dataset_clear(&ds);
        return FALSE;
    }
    g_free(first);
    /* Probes: the first rows, the classes in turn, so both sides of a
     * binary trait show. */
    gboolean taken[PROBE_SEARCH_ROWS] = { 0 };
    for (int round = 0; w->n_probes < N_PROBES && round < N_PROBES; round++) {
        for (int c = 0; c < t->n_classes && w->n_probes < N_PROBES; c++) {
            for (int i = 0; i < ds.n_rows && i < (int)G_N_ELEMENTS(taken); i++) {
                if (taken[i] || t->labels[i] != c) continue;
                taken[i] = TRUE;
                if (ts_image_load(ds.paths[i], &w->img[w->n_probes]) == TS_OK) {
                    g_strlcpy(w->truth[w->n_probes], t->classes[c], sizeof w->truth[0]);
                    w->n_probes++;
                }
                break;
            }
        }
    }
    ts_dataset_clear(&ds);
    g_mutex_lock(&r->mu);
    r->pending_n_probes = w->n_probes;
    g_mutex_unlock(&r->mu);
    return TRUE;
}

/* ---- a run over several processes (mpirun) ---- */

/* traitscope-cli: TS_CLI, else beside this program (installed) or in the
 * build tree (src/app -> src/cli), else on the PATH.  transfer: full. */
static char *find_cli(void)
{
    const char *env = g_getenv("TS_CLI");
    if (env && *env) return g_strdup(env);
    char *self = g_file_read_link("/proc/self/exe", NULL);
    char *dir = self ? g_path_get_dirname(self) : NULL;
    g_free(self);
    const char *rel[] = { "traitscope-cli", "../cli/traitscope-cli" };
    for (size_t i = 0; dir && i < G_N_ELEMENTS(rel); i++) {
        char *c = g_build_filename(dir, rel[i], NULL);
        if (g_file_test(c, G_FILE_TEST_IS_EXECUTABLE)) {
            g_free(dir);
            return c;
        }
        g_free(c);
    }
    g_free(dir);
    return g_find_program_in_path("traitscope-cli");
}

static void add_arg(GPtrArray *a, const char *flag, const char *value)
{
    g_ptr_array_add(a, g_strdup(flag));
    if (value) g_ptr_array_add(a, g_strdup(value));
}

static void add_num(GPtrArray *a, const char *flag, double v)
{
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    add_arg(a, flag, g_ascii_dtostr(buf, sizeof buf, v));
}

/* `traitscope-cli train` with the run's settings (its flags, cmd-train.c). */
static void train_args(GPtrArray *a, const ts_train_settings *s)
{
    add_arg(a, "train", NULL);
    add_arg(a, "--data", s->data);
    add_arg(a, "--trait", s->trait);
    add_arg(a, "--variant", ts_variant_name(s->variant));
    add_arg(a, "--arch", s->arch);
    add_arg(a, "--out", s->out);
    add_num(a, "--size", s->size);
    add_num(a, "--epochs", s->epochs);
    add_num(a, "--batch", s->batch);
    add_num(a, "--lr", s->lr);
    add_num(a, "--momentum", s->momentum);
    add_num(a, "--weight-decay", s->weight_decay);
    add_num(a, "--lr-gamma", s->lr_gamma);
    add_num(a, "--lr-step", s->lr_step_epochs);
    add_arg(a, "--lr-policy", s->lr_policy == TS_LR_COSINE ? "cosine" : "step");
    add_num(a, "--warmup", s->warmup_epochs);
    add_arg(a, "--augment", ts_augment_name(s->augment));
    add_arg(a, "--class-weights", ts_class_weights_name(s->class_weights));
    add_arg(a, "--loss", s->loss == TS_LOSS_SIGMOID ? "sigmoid" : "softmax");
    add_arg(a, "--align", ts_alignment_name(s->align));
    add_arg(a, "--device", ts_device_name(s->device));
    add_num(a, "--limit", s->limit);
    char seed[32];
    g_snprintf(seed, sizeof seed, "%" G_GUINT64_FORMAT, (guint64)s->seed);
    add_arg(a, "--seed", seed);
    add_num(a, "--test-fraction", s->test_fraction);
    add_num(a, "--val-fraction", s->val_fraction);
    add_num(a, "--patience", s->patience);
    if (s->threads > 0) add_num(a, "--threads", s->threads);
    if (s->compute_threads > 0) add_num(a, "--compute-threads", s->compute_threads);
    if (s->cache_dir) add_arg(a, "--cache", s->cache_dir);
    if (s->eval_each_epoch) add_arg(a, "--eval-each-epoch", NULL);
    if (s->resume) add_arg(a, "--resume", NULL);
    add_arg(a, "--progress", "json");
}

/* "Stop after epoch N" known before the start: the CLI stops there itself
 * (exactly, as the in-process run does); asked later, the worker signals
 * mpirun as soon as the epoch's end is reported. */
static int stop_after_now(Run *r) { return g_atomic_int_get(&r->stop_after); }

static double jnum(const cJSON *o, const char *k, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* One "{"progress":{...}}" line of cmd-train.c into *pr. */
static gboolean parse_progress(const char *line, ts_train_progress *pr)
{
    cJSON *o = cJSON_Parse(line);
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, "progress");
    const cJSON *ph = cJSON_GetObjectItemCaseSensitive(j, "phase");
    gboolean ok = cJSON_IsObject(j) && cJSON_IsString(ph);
    if (ok) {
        memset(pr, 0, sizeof *pr);
        pr->phase = !strcmp(ph->valuestring, "training")     ? TS_TRAIN_TRAINING
                    : !strcmp(ph->valuestring, "evaluating") ? TS_TRAIN_EVALUATING
                    : !strcmp(ph->valuestring, "done")       ? TS_TRAIN_DONE
                                                             : TS_TRAIN_PREPARING;
        pr->epoch = (int)jnum(j, "epoch", 0);
        pr->epochs = (int)jnum(j, "epochs", 0);
        pr->step = (int)jnum(j, "step", 0);
        pr->steps = (int)jnum(j, "steps", 0);
        pr->done = (int)jnum(j, "done", 0);
        pr->total = (int)jnum(j, "total", 0);
        pr->loss = (float)jnum(j, "loss", 0);
        pr->accuracy = (float)jnum(j, "accuracy", 0);
        pr->lr = (float)jnum(j, "lr", 0);
        pr->images_per_s = jnum(j, "images_per_s", 0);
        pr->elapsed_s = jnum(j, "elapsed_s", 0);
        pr->eta_s = jnum(j, "eta_s", -1);
        pr->test_accuracy = (float)jnum(j, "test_accuracy", -1);
        pr->val_accuracy = (float)jnum(j, "val_accuracy", -1);
        pr->val_balanced = (float)jnum(j, "val_balanced", -1);
        pr->best_epoch = (int)jnum(j, "best_epoch", 0);
        pr->epoch_end = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "epoch_end"));
    }
    cJSON_Delete(o);
    return ok;
}

/* mpirun -np N traitscope-cli train ... (the file comment). */
static ts_status run_ranks(Worker *w, Outcome *o)
{
    Run *r = w->r;
    char *cli = find_cli(), *mpirun = g_find_program_in_path("mpirun");
    if (!cli || !mpirun) {
        o->error = g_strdup_printf(_("Training with %d processes needs %s, which was not found"), r->ranks,
                                   !mpirun ? "mpirun" : "traitscope-cli");
        g_free(cli);
        g_free(mpirun);
        return TS_ERR_UNSUPPORTED;
    }
    GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);
    add_arg(argv, mpirun, NULL);
    add_num(argv, "-np", r->ranks);
    /* one machine: more ranks than cores are allowed (and slower) */
    add_arg(argv, "--oversubscribe", NULL);
    if (geteuid() == 0) add_arg(argv, "--allow-run-as-root", NULL);
    add_arg(argv, cli, NULL);
    train_args(argv, &r->s);
    if (stop_after_now(r) > 0) add_num(argv, "--stop-after", stop_after_now(r));
    g_ptr_array_add(argv, NULL);
    g_free(cli);
    g_free(mpirun);
    GError *err = NULL;
    GSubprocess *sp = g_subprocess_newv((const char *const *)argv->pdata,
                                        G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &err);
    g_ptr_array_unref(argv);
    if (!sp) {
        o->error = g_strdup_printf(_("mpirun could not be started: %s"), err->message);
        g_error_free(err);
        return TS_ERR_IO;
    }
    /* stderr carries the progress lines; read them as they come, and look
     * at the cancel flag between reads. */
    int fd = g_unix_input_stream_get_fd(G_UNIX_INPUT_STREAM(g_subprocess_get_stderr_pipe(sp)));
    GString *buf = g_string_new(NULL);
    char *last_error = NULL;
    gboolean signalled = FALSE;
    for (;;) {
        if (!signalled && should_abort(w)) {
            g_subprocess_send_signal(sp, SIGINT);
            signalled = TRUE;
        }
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int n = poll(&pfd, 1, 100);
        if (n < 0 && errno != EINTR) break;
        if (n <= 0) continue;
        char chunk[4096];
        ssize_t got = read(fd, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        g_string_append_len(buf, chunk, got);
        char *nl;
        while ((nl = memchr(buf->str, '\n', buf->len))) {
            *nl = '\0';
            ts_train_progress pr;
            if (parse_progress(buf->str, &pr)) {
                if (pr.epoch_end && !signalled) {
                    /* before the probes, which take a while: the ranks are
                     * already in the next epoch */
                    int after = stop_after_now(r);
                    if (after == -1 || (after > 0 && pr.epoch >= after) || g_atomic_int_get(&r->abort)) {
                        g_atomic_int_set(&r->worker_epochs, pr.epoch);
                        if (after == -1) g_atomic_int_set(&r->stop_after, pr.epoch);
                        g_subprocess_send_signal(sp, SIGINT);
                        signalled = TRUE;
                    }
                }
                on_progress(&pr, w);
            } else if (g_str_has_prefix(buf->str, "traitscope-cli train: ")) {
                g_free(last_error);
                last_error = g_strdup(buf->str + strlen("traitscope-cli train: "));
            }
            g_string_erase(buf, 0, nl - buf->str + 1);
        }
    }
    g_string_free(buf, TRUE);
    g_subprocess_wait(sp, NULL, NULL);
    int code = g_subprocess_get_if_exited(sp) ? g_subprocess_get_exit_status(sp) : -1;
    /* the result: one JSON object on stdout */
    GBytes *out = NULL;
    GInputStream *so = g_subprocess_get_stdout_pipe(sp);
    GOutputStream *mem = g_memory_output_stream_new_resizable();
    if (g_output_stream_splice(mem, so, G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL, NULL) >= 0)
        out = g_memory_output_stream_steal_as_bytes(G_MEMORY_OUTPUT_STREAM(mem));
    g_object_unref(mem);
    cJSON *res = NULL;
    if (out) {
        gsize len;
        const char *text = g_bytes_get_data(out, &len);
        res = text ? cJSON_ParseWithLength(text, len) : NULL;
        g_bytes_unref(out);
    }
    ts_status st;
    if (code == 0 && cJSON_IsObject(res)) {
        o->res.epochs_done = (int)jnum(res, "epochs_done", 0);
        o->res.best_epoch = (int)jnum(res, "best_epoch", 0);
        o->res.test_accuracy = (float)jnum(res, "test_accuracy", -1);
        o->res.final_loss = (float)jnum(res, "final_loss", 0);
        o->res.train_accuracy = (float)jnum(res, "train_accuracy", 0);
        o->res.seconds = jnum(res, "seconds", 0);
        o->res.images_per_s = jnum(res, "images_per_s", 0);
        o->res.ranks = (int)jnum(res, "ranks", r->ranks);
        st = TS_OK;
    } else if (signalled || (stop_after_now(r) > 0 && g_atomic_int_get(&r->worker_epochs) >= stop_after_now(r))) {
        /* asked for (the CLI may have stopped itself at --stop-after) */
        o->res.epochs_done = g_atomic_int_get(&r->worker_epochs);
        st = TS_CANCELLED;
    } else {
        o->res.epochs_done = g_atomic_int_get(&r->worker_epochs);
        o->error = last_error ? g_strdup(last_error)
                              : g_strdup_printf(_("mpirun ended with status %d and no message"), code);
        st = TS_ERR_IO;
    }
    cJSON_Delete(res);
    g_free(last_error);
    g_object_unref(sp);
    return st;
}

static void worker_main(GTask *task, gpointer source, gpointer data, GCancellable *cancel)
{
    (void)source;
    (void)cancel;
    Run *r = data;
    Worker w = { .r = r };
    Outcome *o = g_new0(Outcome, 1);
    o->res.test_accuracy = -1;
    if (!prepare(&w, &o->error)) {
        o->st = TS_ERR_ARG;
    } else if (g_atomic_int_get(&r->abort)) {
        o->st = TS_CANCELLED; /* cancelled while the data loaded */
    } else if (r->ranks > 1) {
        o->st = run_ranks(&w, o);
    } else {
        ts_train_callbacks cb = { on_progress, should_abort, &w };
        o->st = ts_train_run(&r->s, &cb, &o->res);
        if (o->st != TS_OK) o->error = g_utf8_make_valid(ts_last_error(), -1); /* shown in labels */
    }
    for (int k = 0; k < N_PROBES; k++) ts_image_clear(&w.img[k]);
    g_mutex_lock(&r->mu);
    r->worker_alive = FALSE;
    g_cond_broadcast(&r->worker_gone);
    g_mutex_unlock(&r->mu);
    g_task_return_pointer(task, o, outcome_free);
}

/* ---- main thread: draining the mailbox ---- */

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

static void apply_progress(Run *r, const ts_train_progress *pr)
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
        append_xy(r->loss_epoch, pr->epoch, pr->loss);
        append_xy(r->acc_epoch, pr->epoch, pr->accuracy);
        if (pr->test_accuracy >= 0) {
            r->test_acc = pr->test_accuracy;
            append_xy(r->test_epoch, pr->epoch, pr->test_accuracy);
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
    append_xy(r->loss_step, x, r->ema_loss);
    append_xy(r->acc_step, x, CLAMP(r->ema_acc, 0, 1));
}

static void apply_probes(Run *r, const ProbeMsg *m)
{
    r->n_probes = m->n;
    for (int k = 0; k < m->n && k < N_PROBES; k++) {
        const ProbeItem *it = &m->item[k];
        ProbeView *v = &r->probe[k];
        if (!v->face) v->face = surface_from_image(&it->face);
        g_free(v->truth);
        v->truth = g_strdup(it->truth);
        g_free(v->caption);
        if (it->error[0]) {
            v->caption = g_strdup_printf(_("Epoch %d · %s"), m->epoch, it->error);
        } else {
            cairo_surface_t *h = surface_from_image(&it->heat);
            if (h) {
                if (v->heat) cairo_surface_destroy(v->heat);
                v->heat = h;
            }
            v->caption = g_strdup_printf(_("Epoch %d · %s %.0f %%"), m->epoch, it->pred, 100.0 * it->prob);
        }
    }
    r->n_probe_updates++;
}

static gboolean flush_cb(gpointer data)
{
    Run *r = data;
    g_mutex_lock(&r->mu);
    r->flush_scheduled = FALSE;
    GArray *prog = r->pending;
    GPtrArray *probes = r->pending_probes;
    int n_probes = r->pending_n_probes;
    r->pending = g_array_new(FALSE, FALSE, sizeof(ts_train_progress));
    r->pending_probes = g_ptr_array_new_with_free_func(probe_msg_free);
    r->pending_n_probes = -1;
    g_mutex_unlock(&r->mu);

    TsTrainPage *p = r->page;
    if (p && (r->state == TS_TRAIN_RUN_PREPARING || r->state == TS_TRAIN_RUN_TRAINING)) {
        TsTrainRunState before = r->state;
        if (n_probes >= 0) r->n_probes = n_probes;
        for (guint i = 0; i < prog->len; i++) apply_progress(r, &g_array_index(prog, ts_train_progress, i));
        for (guint i = 0; i < probes->len; i++) apply_probes(r, g_ptr_array_index(probes, i));
        update_row(r);
        if (r == p->selected) {
            show_selected(p);
            if (prog->len) update_curves(p);
            if (probes->len || n_probes >= 0) update_probes(p);
        }
        if (r->state != before) g_signal_emit(p, signals[SIG_RUN_CHANGED], 0, run_index(p, r));
    }
    g_array_unref(prog);
    g_ptr_array_unref(probes);
    return G_SOURCE_REMOVE;
}

/* A worker ended (main thread). */
static void worker_done(GObject *source, GAsyncResult *res, gpointer data)
{
    (void)source;
    Run *r = data;
    Outcome *o = g_task_propagate_pointer(G_TASK(res), NULL);
    /* progress still in the mailbox comes first */
    flush_cb(r);
    TsTrainPage *p = r->page;
    if (p && o) {
        if (p->running == r) p->running = NULL;
        r->seconds += o->res.seconds;
        if (o->res.epochs_done > r->epochs_done) r->epochs_done = o->res.epochs_done;
        if (o->st == TS_OK) {
            r->state = TS_TRAIN_RUN_DONE;
            if (o->res.test_accuracy >= 0) r->test_acc = o->res.test_accuracy;
        } else if (o->st == TS_CANCELLED) {
            r->state = TS_TRAIN_RUN_CANCELLED;
        } else {
            r->state = TS_TRAIN_RUN_FAILED;
            g_free(r->error);
            r->error = g_strdup(o->error ? o->error : _("unknown error"));
        }
        update_row(r);
        if (r == p->selected) {
            show_selected(p);
            update_curves(p);
            update_probes(p);
        }
        g_signal_emit(p, signals[SIG_RUN_CHANGED], 0, run_index(p, r));
        start_next(p);
    } else if (p && p->running == r) {
        p->running = NULL;
    }
    outcome_free(o);
    run_unref(r);
}

static void select_run(TsTrainPage *p, Run *r)
{
    p->selected = r;
    p->updating++;
    gtk_list_box_select_row(p->run_list, r ? GTK_LIST_BOX_ROW(r->row) : NULL);
    p->updating--;
    show_selected(p);
    update_curves(p);
    update_probes(p);
}

static void start_next(TsTrainPage *p)
{
    if (p->running) return;
    for (guint i = 0; i < p->runs->len; i++) {
        Run *r = g_ptr_array_index(p->runs, i);
        if (r->state != TS_TRAIN_RUN_QUEUED) continue;
        p->running = r;
        r->state = TS_TRAIN_RUN_PREPARING;
        r->last = (ts_train_progress){ .phase = TS_TRAIN_PREPARING, .epochs = r->s.epochs, .test_accuracy = -1,
                                       .eta_s = -1 };
        g_atomic_int_set(&r->abort, 0);
        g_atomic_int_set(&r->worker_epochs, r->s.resume ? r->epochs_done : 0);
        r->have_ema = 0;
        r->last_step = r->last_step_epoch = 0;
        g_clear_pointer(&r->error, g_free);
        r->worker_alive = TRUE; /* no worker yet: no lock needed */
        GTask *task = g_task_new(NULL, NULL, worker_done, run_ref(r));
        g_task_set_task_data(task, run_ref(r), run_unref);
        g_task_set_name(task, "traitscope training run");
        g_task_run_in_thread(task, worker_main);
        g_object_unref(task);
        update_row(r);
        if (p->follow || !p->selected) select_run(p, r);
        g_signal_emit(p, signals[SIG_RUN_CHANGED], 0, (int)i);
        return;
    }
}

/* ---- the selected run: progress, curves, probes ---- */

static void show_selected(TsTrainPage *p)
{
    Run *r = p->selected;
    if (!r) {
        gtk_label_set_text(p->run_title, _("No run selected"));
        gtk_label_set_text(p->progress_label, _("Queue a run with the form on the left; its curves and probe "
                                                "faces appear here while it trains."));
        gtk_progress_bar_set_fraction(p->progress_bar, 0);
        return;
    }
    char *t = run_title_text(r);
    gtk_label_set_text(p->run_title, t);
    g_free(t);
    g_free(r->status);
    r->status = run_status_text(r);
    gtk_label_set_text(p->progress_label, r->status);
    double f = 0;
    const ts_train_progress *pr = &r->last;
    if (r->state == TS_TRAIN_RUN_DONE) f = 1;
    else if (r->state == TS_TRAIN_RUN_PREPARING && pr->total > 0) f = (double)pr->done / pr->total;
    else if (r->state == TS_TRAIN_RUN_TRAINING && pr->epochs > 0 && pr->steps > 0)
        f = ((pr->epoch - 1) + (double)pr->step / pr->steps) / pr->epochs;
    else if (r->s.epochs > 0) f = (double)r->epochs_done / r->s.epochs;
    gtk_progress_bar_set_fraction(p->progress_bar, CLAMP(f, 0, 1));
}

static void update_curves(TsTrainPage *p)
{
    Run *r = p->selected;
    if (!r) {
        ts_curve_clear(p->loss_curve);
        ts_curve_clear(p->acc_curve);
        return;
    }
    ts_curve_set_x_range(p->loss_curve, 0, r->s.epochs);
    ts_curve_set_x_range(p->acc_curve, 0, r->s.epochs);
#define SET(c, s, a) ts_curve_set_points(c, s, (const double *)(a)->data, (int)(a)->len / 2)
    SET(p->loss_curve, p->s_loss_step, r->loss_step);
    SET(p->loss_curve, p->s_loss_epoch, r->loss_epoch);
    SET(p->acc_curve, p->s_acc_step, r->acc_step);
    SET(p->acc_curve, p->s_acc_epoch, r->acc_epoch);
    SET(p->acc_curve, p->s_test, r->test_epoch);
#undef SET
}

static void update_probes(TsTrainPage *p)
{
    Run *r = p->selected;
    int n = r ? r->n_probes : 0;
    for (int k = 0; k < N_PROBES; k++) {
        gboolean on = k < n || (!r && k < N_PROBES);
        gtk_widget_set_visible(gtk_widget_get_parent(p->probe_area[k]), on);
        const ProbeView *v = r ? &r->probe[k] : NULL;
        char *truth = v && v->truth ? g_strdup_printf(_("Label: %s"), v->truth) : g_strdup("");
        gtk_label_set_text(GTK_LABEL(p->probe_truth[k]), truth);
        gtk_label_set_text(GTK_LABEL(p->probe_caption[k]),
                           v && v->caption ? v->caption : (r ? _("After the first epoch") : ""));
        char *acc = g_strdup_printf(_("Probe face %d: %s %s"), k + 1, truth, v && v->caption ? v->caption : "");
        gtk_accessible_update_property(GTK_ACCESSIBLE(p->probe_area[k]), GTK_ACCESSIBLE_PROPERTY_LABEL, acc, -1);
        g_free(acc);
        g_free(truth);
        gtk_widget_queue_draw(p->probe_area[k]);
    }
    if (r && r->n_probes == 0 && r->state == TS_TRAIN_RUN_QUEUED)
        gtk_label_set_text(p->probe_hint, _("The probe faces are chosen when the run starts."));
    else
        gtk_label_set_text(p->probe_hint, _("The first faces of the data, each with the LRP relevance of the "
                                            "checkpoint after every epoch: red speaks for the predicted class, "
                                            "blue against it."));
}

/* A probe card: the face and its heatmap side by side. */
static void draw_probe(GtkDrawingArea *area, cairo_t *cr, int W, int H, gpointer data)
{
    TsTrainPage *p = data;
    int k = GPOINTER_TO_INT(g_object_get_data(G_OBJECT(area), "probe"));
    Run *r = p->selected;
    const ProbeView *v = r && k < r->n_probes ? &r->probe[k] : NULL;
    double gap = 6, side = MIN((W - gap) / 2.0, (double)H);
    double x0 = (W - 2 * side - gap) / 2, y0 = (H - side) / 2;
    cairo_surface_t *pics[2] = { v ? v->face : NULL, v ? v->heat : NULL };
    for (int i = 0; i < 2; i++) {
        double x = x0 + i * (side + gap);
        cairo_save(cr);
        cairo_rectangle(cr, x, y0, side, side);
        cairo_clip(cr);
        if (pics[i]) {
            double sw = cairo_image_surface_get_width(pics[i]), sh = cairo_image_surface_get_height(pics[i]);
            cairo_translate(cr, x, y0);
            cairo_scale(cr, side / sw, side / sh);
            cairo_set_source_surface(cr, pics[i], 0, 0);
            /* heatmaps are shown pixel for pixel (figure.h's rule) */
            cairo_pattern_set_filter(cairo_get_source(cr), i ? CAIRO_FILTER_NEAREST : CAIRO_FILTER_GOOD);
            cairo_paint(cr);
        } else {
            cairo_set_source_rgba(cr, 0.5, 0.5, 0.5, 0.15);
            cairo_paint(cr);
        }
        cairo_restore(cr);
    }
}

/* ---- rows of the queue ---- */

static void update_row(Run *r)
{
    if (!r->row) return;
    char *t = run_title_text(r);
    gtk_label_set_text(GTK_LABEL(r->title), t);
    g_free(t);
    g_free(r->status);
    r->status = run_status_text(r);
    gtk_label_set_text(GTK_LABEL(r->subtitle), r->status);
    gtk_widget_set_tooltip_text(r->subtitle, r->status);
    if (r->state == TS_TRAIN_RUN_FAILED) gtk_widget_add_css_class(r->subtitle, "ts-error");
    else gtk_widget_remove_css_class(r->subtitle, "ts-error");
    double f = 0;
    const ts_train_progress *pr = &r->last;
    if (r->state == TS_TRAIN_RUN_DONE) f = 1;
    else if (r->state == TS_TRAIN_RUN_TRAINING && pr->epochs > 0 && pr->steps > 0)
        f = ((pr->epoch - 1) + (double)pr->step / pr->steps) / pr->epochs;
    else if (r->s.epochs > 0) f = (double)r->epochs_done / r->s.epochs;
    gtk_progress_bar_set_fraction(GTK_PROGRESS_BAR(r->bar), CLAMP(f, 0, 1));
    gboolean active = r->state == TS_TRAIN_RUN_PREPARING || r->state == TS_TRAIN_RUN_TRAINING;
    gboolean stopped = r->state == TS_TRAIN_RUN_CANCELLED || r->state == TS_TRAIN_RUN_FAILED;
    gtk_widget_set_visible(r->bar, active || (stopped && r->epochs_done > 0));
    gtk_widget_set_visible(r->cancel_btn, active); /* a queued run is removed instead */
    gtk_widget_set_visible(r->stop_btn, active);
    gtk_widget_set_sensitive(r->stop_btn, g_atomic_int_get(&r->stop_after) == 0 && !g_atomic_int_get(&r->abort));
    gtk_widget_set_visible(r->resume_btn, stopped);
    gtk_widget_set_visible(r->open_btn, r->epochs_done > 0 && !active);
    gtk_widget_set_visible(r->remove_btn, !active);
}

static Run *run_of_widget(GtkWidget *w)
{
    GtkWidget *row = gtk_widget_get_ancestor(w, GTK_TYPE_LIST_BOX_ROW);
    return row ? g_object_get_data(G_OBJECT(row), "run") : NULL;
}

static void on_row_cancel(GtkButton *b, gpointer data)
{
    TsTrainPage *p = data;
    Run *r = run_of_widget(GTK_WIDGET(b));
    if (r) ts_train_page_cancel(p, run_index(p, r));
}

static void on_row_stop(GtkButton *b, gpointer data)
{
    TsTrainPage *p = data;
    Run *r = run_of_widget(GTK_WIDGET(b));
    if (r) ts_train_page_stop_after_epoch(p, run_index(p, r), 0);
}

static void on_row_resume(GtkButton *b, gpointer data)
{
    TsTrainPage *p = data;
    Run *r = run_of_widget(GTK_WIDGET(b));
    if (r) ts_train_page_resume(p, run_index(p, r));
}

static void on_row_remove(GtkButton *b, gpointer data)
{
    TsTrainPage *p = data;
    Run *r = run_of_widget(GTK_WIDGET(b));
    if (r) ts_train_page_remove(p, run_index(p, r));
}

static void on_row_open(GtkButton *b, gpointer data)
{
    TsTrainPage *p = data;
    Run *r = g_object_get_data(G_OBJECT(b), "run");
    int slot = GPOINTER_TO_INT(g_object_get_data(G_OBJECT(b), "slot"));
    GtkWidget *pop = gtk_widget_get_ancestor(GTK_WIDGET(b), GTK_TYPE_POPOVER);
    if (pop) gtk_popover_popdown(GTK_POPOVER(pop));
    if (r && r->page == p) g_signal_emit(p, signals[SIG_OPEN_MODEL], 0, r->out, slot);
}

static GtkWidget *icon_button(const char *icon, const char *tip, GCallback cb, TsTrainPage *p)
{
    GtkWidget *b = gtk_button_new_from_icon_name(icon);
    gtk_widget_add_css_class(b, "flat");
    gtk_widget_set_valign(b, GTK_ALIGN_CENTER);
    gtk_widget_set_tooltip_text(b, tip);
    gtk_accessible_update_property(GTK_ACCESSIBLE(b), GTK_ACCESSIBLE_PROPERTY_LABEL, tip, -1);
    g_signal_connect(b, "clicked", cb, p);
    return b;
}

static void make_row(TsTrainPage *p, Run *r)
{
    GtkWidget *grid = gtk_grid_new();
    gtk_grid_set_column_spacing(GTK_GRID(grid), 6);
    gtk_grid_set_row_spacing(GTK_GRID(grid), 3);
    gtk_widget_set_margin_start(grid, 10);
    gtk_widget_set_margin_end(grid, 6);
    gtk_widget_set_margin_top(grid, 6);
    gtk_widget_set_margin_bottom(grid, 6);
    r->title = gtk_label_new("");
    gtk_label_set_xalign(GTK_LABEL(r->title), 0);
    gtk_label_set_ellipsize(GTK_LABEL(r->title), PANGO_ELLIPSIZE_END);
    gtk_widget_add_css_class(r->title, "heading");
    gtk_widget_set_hexpand(r->title, TRUE);
    r->subtitle = gtk_label_new("");
    gtk_label_set_xalign(GTK_LABEL(r->subtitle), 0);
    gtk_label_set_ellipsize(GTK_LABEL(r->subtitle), PANGO_ELLIPSIZE_END);
    gtk_widget_add_css_class(r->subtitle, "dim-label");
    gtk_widget_add_css_class(r->subtitle, "caption");
    r->bar = gtk_progress_bar_new();
    gtk_widget_set_valign(r->bar, GTK_ALIGN_CENTER);

    GtkWidget *buttons = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 2);
    gtk_widget_set_valign(buttons, GTK_ALIGN_CENTER);
    r->stop_btn = icon_button("media-playback-pause-symbolic",
                              _("Stop after this epoch (its checkpoint is written first)"),
                              G_CALLBACK(on_row_stop), p);
    r->cancel_btn = icon_button("process-stop-symbolic",
                                _("Cancel now; the last finished epoch's checkpoint stays valid"),
                                G_CALLBACK(on_row_cancel), p);
    r->resume_btn = icon_button("media-playback-start-symbolic",
                                _("Resume: continue from the last finished epoch"), G_CALLBACK(on_row_resume), p);
    r->remove_btn = icon_button("user-trash-symbolic", _("Remove from the list (the model files stay)"),
                                G_CALLBACK(on_row_remove), p);
    /* "Open in explorer" as model A or B */
    r->open_btn = gtk_menu_button_new();
    gtk_menu_button_set_icon_name(GTK_MENU_BUTTON(r->open_btn), "document-open-symbolic");
    gtk_menu_button_set_has_frame(GTK_MENU_BUTTON(r->open_btn), FALSE);
    gtk_widget_set_valign(r->open_btn, GTK_ALIGN_CENTER);
    gtk_widget_set_tooltip_text(r->open_btn, _("Open this model in the explorer"));
    gtk_accessible_update_property(GTK_ACCESSIBLE(r->open_btn), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                   _("Open this model in the explorer"), -1);
    GtkWidget *pop_box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 2);
    const char *slot_label[2] = { _("Open as Model _A"), _("Open as Model _B") };
    for (int i = 0; i < 2; i++) {
        GtkWidget *b = gtk_button_new_with_mnemonic(slot_label[i]);
        gtk_widget_add_css_class(b, "flat");
        g_object_set_data(G_OBJECT(b), "run", r);
        g_object_set_data(G_OBJECT(b), "slot", GINT_TO_POINTER(i));
        g_signal_connect(b, "clicked", G_CALLBACK(on_row_open), p);
        gtk_box_append(GTK_BOX(pop_box), b);
    }
    GtkWidget *pop = gtk_popover_new();
    gtk_popover_set_child(GTK_POPOVER(pop), pop_box);
    gtk_menu_button_set_popover(GTK_MENU_BUTTON(r->open_btn), pop);
    gtk_box_append(GTK_BOX(buttons), r->open_btn);
    gtk_box_append(GTK_BOX(buttons), r->resume_btn);
    gtk_box_append(GTK_BOX(buttons), r->stop_btn);
    gtk_box_append(GTK_BOX(buttons), r->cancel_btn);
    gtk_box_append(GTK_BOX(buttons), r->remove_btn);

    gtk_grid_attach(GTK_GRID(grid), r->title, 0, 0, 1, 1);
    gtk_grid_attach(GTK_GRID(grid), buttons, 1, 0, 1, 3);
    gtk_grid_attach(GTK_GRID(grid), r->subtitle, 0, 1, 1, 1);
    gtk_grid_attach(GTK_GRID(grid), r->bar, 0, 2, 1, 1);
    r->row = gtk_list_box_row_new();
    gtk_list_box_row_set_child(GTK_LIST_BOX_ROW(r->row), grid);
    g_object_set_data(G_OBJECT(r->row), "run", r);
    char *acc = run_title_text(r);
    gtk_accessible_update_property(GTK_ACCESSIBLE(r->row), GTK_ACCESSIBLE_PROPERTY_LABEL, acc, -1);
    g_free(acc);
    gtk_list_box_append(p->run_list, r->row);
    update_row(r);
}

static void on_row_selected(GtkListBox *box, GtkListBoxRow *row, gpointer data)
{
    (void)box;
    TsTrainPage *p = data;
    if (p->updating || !row) return;
    Run *r = g_object_get_data(G_OBJECT(row), "run");
    if (!r || r == p->selected) return;
    /* picking the running run (again) follows the queue; any other stays */
    p->follow = r == p->running;
    select_run(p, r);
}

/* ---- public: runs ---- */

int ts_train_page_queue(TsTrainPage *p, const ts_train_settings *s)
{
    return ts_train_page_queue_ranks(p, s, 1);
}

int ts_train_page_queue_ranks(TsTrainPage *p, const ts_train_settings *s, int ranks)
{
    g_return_val_if_fail(TS_IS_TRAIN_PAGE(p) && s && ranks >= 1, -1);
    Run *r = run_new(s, ++p->next_id);
    r->ranks = ranks;
    r->page = p;
    g_ptr_array_add(p->runs, r);
    make_row(p, r);
    int index = (int)p->runs->len - 1;
    g_signal_emit(p, signals[SIG_RUN_CHANGED], 0, index);
    if (!p->selected) select_run(p, r);
    start_next(p);
    return index;
}

int ts_train_page_get_n_runs(TsTrainPage *p)
{
    g_return_val_if_fail(TS_IS_TRAIN_PAGE(p), 0);
    return (int)p->runs->len;
}

gboolean ts_train_page_get_run_info(TsTrainPage *p, int index, TsTrainRunInfo *out)
{
    g_return_val_if_fail(TS_IS_TRAIN_PAGE(p) && out, FALSE);
    Run *r = run_at(p, index);
    if (!r) return FALSE;
    memset(out, 0, sizeof *out);
    out->state = r->state;
    out->epoch = r->last.epoch;
    out->epochs = r->s.epochs;
    out->epochs_done = r->epochs_done;
    out->test_accuracy = r->test_acc;
    out->n_loss_points = (int)r->loss_step->len / 2;
    out->n_epoch_points = (int)r->loss_epoch->len / 2;
    out->n_test_points = (int)r->test_epoch->len / 2;
    out->n_probe_updates = r->n_probe_updates;
    out->n_probes = r->n_probes;
    out->ranks = r->ranks;
    out->out = r->out;
    out->error = r->state == TS_TRAIN_RUN_FAILED ? r->error : NULL;
    g_free(r->status);
    r->status = run_status_text(r);
    out->status = r->status;
    return TRUE;
}

gboolean ts_train_page_cancel(TsTrainPage *p, int index)
{
    g_return_val_if_fail(TS_IS_TRAIN_PAGE(p), FALSE);
    Run *r = run_at(p, index);
    if (!r) return FALSE;
    if (r->state == TS_TRAIN_RUN_QUEUED) {
        r->state = TS_TRAIN_RUN_CANCELLED;
    } else if (r == p->running) {
        g_atomic_int_set(&r->abort, 1);
    } else {
        return FALSE;
    }
    update_row(r);
    if (r == p->selected) show_selected(p);
    g_signal_emit(p, signals[SIG_RUN_CHANGED], 0, index);
    return TRUE;
}

gboolean ts_train_page_stop_after_epoch(TsTrainPage *p, int index, int epoch)
{
    g_return_val_if_fail(TS_IS_TRAIN_PAGE(p), FALSE);
    Run *r = run_at(p, index);
    if (!r || r->state == TS_TRAIN_RUN_DONE || r->state == TS_TRAIN_RUN_FAILED ||
        r->state == TS_TRAIN_RUN_CANCELLED)
        return FALSE;
    g_atomic_int_set(&r->stop_after, epoch > 0 ? epoch : -1);
    update_row(r);
    return TRUE;
}

gboolean ts_train_page_resume(TsTrainPage *p, int index)
{
    g_return_val_if_fail(TS_IS_TRAIN_PAGE(p), FALSE);
    Run *r = run_at(p, index);
    if (!r || (r->state != TS_TRAIN_RUN_CANCELLED && r->state != TS_TRAIN_RUN_FAILED)) return FALSE;
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
    trim_xy(r->loss_step, keep);
    trim_xy(r->acc_step, keep);
    trim_xy(r->loss_epoch, keep);
    trim_xy(r->acc_epoch, keep);
    trim_xy(r->test_epoch, keep);
    g_atomic_int_set(&r->stop_after, 0);
    g_atomic_int_set(&r->abort, 0);
    r->state = TS_TRAIN_RUN_QUEUED;
    g_clear_pointer(&r->error, g_free);
    update_row(r);
    if (r == p->selected) {
        show_selected(p);
        update_curves(p);
    }
    g_signal_emit(p, signals[SIG_RUN_CHANGED], 0, index);
    start_next(p);
    return TRUE;
}

gboolean ts_train_page_remove(TsTrainPage *p, int index)
{
    g_return_val_if_fail(TS_IS_TRAIN_PAGE(p), FALSE);
    Run *r = run_at(p, index);
    if (!r || r == p->running) return FALSE;
    r->page = NULL;
    gtk_list_box_remove(p->run_list, r->row);
    r->row = NULL;
    gboolean was_selected = r == p->selected;
    g_ptr_array_remove_index(p->runs, index); /* unrefs */
    if (was_selected) {
        Run *next = p->running ? p->running : run_at(p, MIN(index, (int)p->runs->len - 1));
        p->selected = NULL;
        select_run(p, next);
    }
    return TRUE;
}

void ts_train_page_select(TsTrainPage *p, int index)
{
    g_return_if_fail(TS_IS_TRAIN_PAGE(p));
    Run *r = run_at(p, index);
    if (!r) return;
    p->follow = r == p->running;
    select_run(p, r);
}

/* ---- the form ---- */

static void form_error(TsTrainPage *p, const char *msg)
{
    gtk_label_set_text(p->form_error, msg ? msg : "");
    gtk_widget_set_visible(GTK_WIDGET(p->form_error), msg && *msg);
}

static const char *selected_trait(TsTrainPage *p)
{
    guint i = gtk_drop_down_get_selected(p->trait_dropdown);
    if (i == GTK_INVALID_LIST_POSITION) return NULL;
    return gtk_string_list_get_string(p->trait_list, i);
}

/* The architecture as ts_train_settings wants it: a built-in name or a
 * file path; NULL when the file field is empty.  transfer: none. */
static const char *selected_arch(TsTrainPage *p)
{
    guint i = gtk_drop_down_get_selected(p->arch_dropdown);
    if (i < N_ARCH_BUILTIN) return arch_builtin[i];
    const char *f = gtk_editable_get_text(GTK_EDITABLE(p->arch_entry));
    return *f ? f : NULL;
}

static gboolean out_in_use(TsTrainPage *p, const char *path)
{
    for (guint i = 0; i < p->runs->len; i++) {
        Run *r = g_ptr_array_index(p->runs, i);
        if (!g_strcmp0(r->out, path) && r->state != TS_TRAIN_RUN_DONE && r->state != TS_TRAIN_RUN_FAILED &&
            r->state != TS_TRAIN_RUN_CANCELLED)
            return TRUE;
    }
    return FALSE;
}

/* Suggests ~/traitscope-runs/TRAIT-VARIANT-ARCH[-N].safetensors, a name no
 * file and no waiting run has, unless the user typed a path. */
static void suggest_out(TsTrainPage *p)
{
    if (p->out_edited) return;
    const char *trait = selected_trait(p);
    const char *arch = selected_arch(p);
    char *arch_base = g_path_get_basename(arch ? arch : "net");
    char *dot = strrchr(arch_base, '.');
    if (dot && dot != arch_base) *dot = '\0';
    guint v = gtk_drop_down_get_selected(p->variant_dropdown);
    char *dir = g_build_filename(g_get_home_dir(), "traitscope-runs", NULL);
    char *path = NULL;
    for (int n = 1; n < 1000; n++) {
        char *name = n == 1 ? g_strdup_printf("%s-%s-%s.safetensors", trait ? trait : "model",
                                              v == 1 ? "lacnn" : "baseline", arch_base)
                            : g_strdup_printf("%s-%s-%s-%d.safetensors", trait ? trait : "model",
                                              v == 1 ? "lacnn" : "baseline", arch_base, n);
        g_free(path);
        path = g_build_filename(dir, name, NULL);
        g_free(name);
        if (!g_file_test(path, G_FILE_TEST_EXISTS) && !out_in_use(p, path)) break;
    }
    p->updating++;
    gtk_editable_set_text(GTK_EDITABLE(p->out_entry), path);
    p->updating--;
    g_free(path);
    g_free(dir);
    g_free(arch_base);
}

static void on_out_changed(GtkEditable *e, gpointer data)
{
    (void)e;
    TsTrainPage *p = data;
    if (!p->updating) p->out_edited = TRUE;
}

static void on_choice_changed(GObject *o, GParamSpec *ps, gpointer data)
{
    (void)o;
    (void)ps;
    TsTrainPage *p = data;
    gtk_widget_set_visible(p->arch_file_box, gtk_drop_down_get_selected(p->arch_dropdown) >= N_ARCH_BUILTIN);
    /* the class counts of the chosen trait */
    guint t = gtk_drop_down_get_selected(p->trait_dropdown);
    if (p->trait_counts && t != GTK_INVALID_LIST_POSITION && t < g_strv_length(p->trait_counts)) {
        char *info = g_strdup_printf(_("%d faces · %s"), p->preview_rows,
                                     p->trait_counts[t]);
        gtk_label_set_text(p->data_info, info);
        g_free(info);
    }
    suggest_out(p);
}

static void on_arch_entry_changed(GtkEditable *e, gpointer data)
{
    (void)e;
    suggest_out(data);
}

/* The settings of the form; FALSE with the reason in the form. */
static gboolean form_settings(TsTrainPage *p, ts_train_settings *s)
{
    ts_train_settings_default(s);
    const char *data = gtk_editable_get_text(GTK_EDITABLE(p->data_entry));
    const char *out = gtk_editable_get_text(GTK_EDITABLE(p->out_entry));
    const char *trait = selected_trait(p);
    const char *arch = selected_arch(p);
    if (!*data) {
        form_error(p, _("Give the data: a dataset spec such as utkface:/path/to/utkface, or choose a folder."));
        return FALSE;
    }
    if (!trait) {
        form_error(p, _("Choose a trait: the list fills once the data has been read."));
        return FALSE;
    }
    if (!arch) {
        form_error(p, _("Give the network description file, or choose a built-in architecture."));
        return FALSE;
    }
    if (gtk_drop_down_get_selected(p->arch_dropdown) >= N_ARCH_BUILTIN && !g_file_test(arch, G_FILE_TEST_IS_REGULAR)) {
        char *m = g_strdup_printf(_("The network description file %s does not exist."), arch);
        form_error(p, m);
        g_free(m);
        return FALSE;
    }
    if (!*out) {
        form_error(p, _("Give the model file the run writes."));
        return FALSE;
    }
    if (out_in_use(p, out)) {
        char *m = g_strdup_printf(_("Another run in the queue writes %s; choose another model file."), out);
        form_error(p, m);
        g_free(m);
        return FALSE;
    }
    s->data = data;
    s->trait = trait;
    s->arch = arch;
    s->out = out;
    s->variant = gtk_drop_down_get_selected(p->variant_dropdown) == 1 ? TS_VARIANT_LACNN : TS_VARIANT_BASELINE;
    s->size = gtk_spin_button_get_value_as_int(p->size_spin);
    s->epochs = gtk_spin_button_get_value_as_int(p->epochs_spin);
    s->batch = gtk_spin_button_get_value_as_int(p->batch_spin);
    s->lr = (float)gtk_spin_button_get_value(p->lr_spin);
    s->limit = gtk_spin_button_get_value_as_int(p->limit_spin);
    s->augment = gtk_switch_get_active(p->augment_switch);
    guint d = gtk_drop_down_get_selected(p->device_dropdown);
    s->device = d == 1 ? TS_DEVICE_CPU : d == 2 ? TS_DEVICE_CUDA : TS_DEVICE_AUTO;
    s->eval_each_epoch = true;
    return TRUE;
}

static void on_queue(GtkButton *b, gpointer data)
{
    (void)b;
    TsTrainPage *p = data;
    ts_train_settings s;
    if (!form_settings(p, &s)) return;
    form_error(p, NULL);
    /* the strings point into the form's widgets: queue copies them */
    int ranks = gtk_widget_get_sensitive(GTK_WIDGET(p->ranks_spin)) ? gtk_spin_button_get_value_as_int(p->ranks_spin)
                                                                    : 1;
    int index = ts_train_page_queue_ranks(p, &s, ranks);
    p->follow = TRUE;
    if (!p->running || run_index(p, p->running) == index) ts_train_page_select(p, index);
    suggest_out(p); /* the next run gets a fresh name */
}

/* ---- the data preview (a GTask: labels files can be large) ---- */

typedef struct Preview {
    char *spec;
    char *error;
    int n_rows;
    char **names;   /* NULL-terminated */
    char **counts;  /* per trait */
    int n_warnings;
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
    (void)src;
    (void)cancel;
    Preview *v = data;
    ts_dataset ds;
    ts_dataset_init(&ds);
    if (ts_dataset_load(&ds, v->spec, 0) != TS_OK) {
        v->error = g_utf8_make_valid(ts_last_error(), -1); /* shown in a label */
    } else {
        v->n_rows = ds.n_rows;
        v->n_warnings = ds.n_warnings_total;
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

static void preview_done(GObject *src, GAsyncResult *res, gpointer data)
{
    (void)src;
    (void)data;
    GTask *task = G_TASK(res);
    if (g_cancellable_is_cancelled(g_task_get_cancellable(task))) return; /* a newer spec was typed */
    TsTrainPage *p = g_task_get_source_object(task);
    Preview *v = g_task_get_task_data(task);
    if (GPOINTER_TO_UINT(g_object_get_data(G_OBJECT(task), "gen")) != p->preview_gen) return;
    char *keep = g_strdup(selected_trait(p));
    g_strfreev(p->trait_counts);
    p->trait_counts = NULL;
    p->preview_rows = v->n_rows;
    if (v->error) {
        gtk_string_list_splice(p->trait_list, 0, g_list_model_get_n_items(G_LIST_MODEL(p->trait_list)), NULL);
        gtk_label_set_text(p->data_info, v->error);
        gtk_widget_add_css_class(GTK_WIDGET(p->data_info), "ts-error");
        gtk_widget_remove_css_class(GTK_WIDGET(p->data_info), "dim-label");
    } else {
        gtk_widget_remove_css_class(GTK_WIDGET(p->data_info), "ts-error");
        gtk_widget_add_css_class(GTK_WIDGET(p->data_info), "dim-label");
        p->trait_counts = g_strdupv(v->counts);
        gtk_string_list_splice(p->trait_list, 0, g_list_model_get_n_items(G_LIST_MODEL(p->trait_list)),
                               (const char *const *)v->names);
        /* keep the trait the user had, else gender, else the first */
        guint pick = 0;
        for (guint i = 0; v->names[i]; i++)
            if (!g_strcmp0(v->names[i], keep ? keep : "gender")) pick = i;
        if (v->names[0]) gtk_drop_down_set_selected(p->trait_dropdown, pick);
        if (!v->names[0]) {
            char *info = g_strdup_printf(_("%d faces, but no traits to train on"), v->n_rows);
            gtk_label_set_text(p->data_info, info);
            g_free(info);
        } else {
            on_choice_changed(NULL, NULL, p);
        }
    }
    g_free(keep);
}

static gboolean preview_start(gpointer data)
{
    TsTrainPage *p = data;
    p->preview_timeout = 0;
    if (p->preview_cancel) g_cancellable_cancel(p->preview_cancel);
    g_clear_object(&p->preview_cancel);
    const char *spec = gtk_editable_get_text(GTK_EDITABLE(p->data_entry));
    p->preview_gen++;
    if (!*spec) {
        gtk_label_set_text(p->data_info, _("celeba:DIR, utkface:DIR, adience:DIR or csv:FILE"));
        gtk_string_list_splice(p->trait_list, 0, g_list_model_get_n_items(G_LIST_MODEL(p->trait_list)), NULL);
        return G_SOURCE_REMOVE;
    }
    gtk_label_set_text(p->data_info, _("Reading the labels…"));
    p->preview_cancel = g_cancellable_new();
    Preview *v = g_new0(Preview, 1);
    v->spec = g_strdup(spec);
    GTask *task = g_task_new(p, p->preview_cancel, preview_done, NULL);
    g_object_set_data(G_OBJECT(task), "gen", GUINT_TO_POINTER(p->preview_gen));
    g_task_set_task_data(task, v, preview_free);
    g_task_run_in_thread(task, preview_thread);
    g_object_unref(task);
    return G_SOURCE_REMOVE;
}

static void on_data_changed(GtkEditable *e, gpointer data)
{
    (void)e;
    TsTrainPage *p = data;
    if (p->preview_timeout) g_source_remove(p->preview_timeout);
    /* wait for the typing to pause */
    p->preview_timeout = g_timeout_add(350, preview_start, p);
}

void ts_train_page_set_device(TsTrainPage *p, ts_device device)
{
    gtk_drop_down_set_selected(p->device_dropdown, device == TS_DEVICE_CPU ? 1 : device == TS_DEVICE_CUDA ? 2 : 0);
}

void ts_train_page_set_data(TsTrainPage *p, const char *spec)
{
    g_return_if_fail(TS_IS_TRAIN_PAGE(p));
    gtk_editable_set_text(GTK_EDITABLE(p->data_entry), spec ? spec : "");
    if (p->preview_timeout) g_source_remove(p->preview_timeout);
    preview_start(p);
}

/* The row limit shows "all" for 0. */
static gboolean on_limit_output(GtkSpinButton *sb, gpointer data)
{
    (void)data;
    int v = gtk_spin_button_get_value_as_int(sb);
    char *t = v == 0 ? g_strdup(_("all")) : g_strdup_printf("%d", v);
    if (g_strcmp0(t, gtk_editable_get_text(GTK_EDITABLE(sb)))) gtk_editable_set_text(GTK_EDITABLE(sb), t);
    g_free(t);
    return TRUE;
}

static int on_limit_input(GtkSpinButton *sb, double *value, gpointer data)
{
    (void)data;
    const char *t = gtk_editable_get_text(GTK_EDITABLE(sb));
    if (!g_ascii_strcasecmp(t, _("all")) || !*t) {
        *value = 0;
        return TRUE;
    }
    char *end;
    double v = g_ascii_strtod(t, &end);
    if (*end) return GTK_INPUT_ERROR;
    *value = v;
    return TRUE;
}

/* ---- file choosers ---- */

/* A dataset spec for a chosen folder, from the files it holds. */
static char *spec_for_folder(const char *dir)
{
    static const struct {
        const char *file, *kind;
    } marks[] = { { "attributes.txt", "celeba" }, { "labels.csv", "utkface" }, { "fold_0_data.txt", "adience" },
                  { "fold_frontal_0_data.txt", "adience" } };
    for (guint i = 0; i < G_N_ELEMENTS(marks); i++) {
        char *f = g_build_filename(dir, marks[i].file, NULL);
        gboolean ok = g_file_test(f, G_FILE_TEST_IS_REGULAR);
        g_free(f);
        if (ok) return g_strdup_printf("%s:%s", marks[i].kind, dir);
    }
    /* UTKFace names (AGE_GENDER_RACE_DATE.jpg.chip.jpg) in images/ or here */
    char *img = g_build_filename(dir, "images", NULL);
    const char *look = g_file_test(img, G_FILE_TEST_IS_DIR) ? img : dir;
    GDir *d = g_dir_open(look, 0, NULL);
    gboolean utk = FALSE;
    if (d) {
        for (const char *n; !utk && (n = g_dir_read_name(d));) utk = g_str_has_suffix(n, ".chip.jpg");
        g_dir_close(d);
    }
    g_free(img);
    return g_strdup_printf("%s:%s", utk ? "utkface" : "folder", dir);
}

G_GNUC_BEGIN_IGNORE_DEPRECATIONS
typedef enum { CHOOSE_DATA, CHOOSE_ARCH, CHOOSE_OUT } ChooseWhat;

static void on_chooser_response(GtkNativeDialog *d, int response, gpointer data)
{
    TsTrainPage *p = data;
    ChooseWhat what = GPOINTER_TO_INT(g_object_get_data(G_OBJECT(d), "what"));
    if (response == GTK_RESPONSE_ACCEPT) {
        GFile *f = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(d));
        char *path = f ? g_file_get_path(f) : NULL;
        if (path && what == CHOOSE_DATA) {
            char *spec = g_str_has_suffix(path, ".csv") && g_file_test(path, G_FILE_TEST_IS_REGULAR)
                             ? g_strdup_printf("csv:%s", path)
                             : spec_for_folder(path);
            ts_train_page_set_data(p, spec);
            g_free(spec);
        } else if (path && what == CHOOSE_ARCH) {
            gtk_editable_set_text(GTK_EDITABLE(p->arch_entry), path);
        } else if (path) {
            p->out_edited = TRUE;
            gtk_editable_set_text(GTK_EDITABLE(p->out_entry), path);
        }
        g_free(path);
        if (f) g_object_unref(f);
    }
    gtk_native_dialog_destroy(d);
    g_object_unref(d);
}

static void choose(TsTrainPage *p, ChooseWhat what)
{
    GtkRoot *root = gtk_widget_get_root(GTK_WIDGET(p));
    GtkWindow *parent = GTK_IS_WINDOW(root) ? GTK_WINDOW(root) : NULL;
    static const GtkFileChooserAction action[] = { GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
                                                   GTK_FILE_CHOOSER_ACTION_OPEN, GTK_FILE_CHOOSER_ACTION_SAVE };
    const char *title[] = { _("Choose the Dataset Folder"), _("Choose a Network Description"),
                            _("Save the Model As") };
    GtkFileChooserNative *d = gtk_file_chooser_native_new(title[what], parent, action[what], NULL, NULL);
    gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(d), TRUE);
    if (what == CHOOSE_ARCH) {
        GtkFileFilter *f = gtk_file_filter_new();
        gtk_file_filter_set_name(f, _("Network descriptions (.arch, .prototxt)"));
        gtk_file_filter_add_pattern(f, "*.arch");
        gtk_file_filter_add_pattern(f, "*.prototxt");
        gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(d), f);
        g_object_unref(f);
    } else if (what == CHOOSE_OUT) {
        char *base = g_path_get_basename(gtk_editable_get_text(GTK_EDITABLE(p->out_entry)));
        gtk_file_chooser_set_current_name(GTK_FILE_CHOOSER(d), base);
        g_free(base);
    }
    g_object_set_data(G_OBJECT(d), "what", GINT_TO_POINTER(what));
    g_signal_connect(d, "response", G_CALLBACK(on_chooser_response), p);
    gtk_native_dialog_show(GTK_NATIVE_DIALOG(d));
}
G_GNUC_END_IGNORE_DEPRECATIONS

static void on_data_button(GtkButton *b, gpointer p) { (void)b; choose(p, CHOOSE_DATA); }
static void on_arch_button(GtkButton *b, gpointer p) { (void)b; choose(p, CHOOSE_ARCH); }
static void on_out_button(GtkButton *b, gpointer p) { (void)b; choose(p, CHOOSE_OUT); }

/* ---- life cycle ---- */

GtkWidget *ts_train_page_new(void) { return g_object_new(TS_TYPE_TRAIN_PAGE, NULL); }

static void ts_train_page_dispose(GObject *o)
{
    TsTrainPage *p = TS_TRAIN_PAGE(o);
    if (p->preview_timeout) {
        g_source_remove(p->preview_timeout);
        p->preview_timeout = 0;
    }
    if (p->preview_cancel) g_cancellable_cancel(p->preview_cancel);
    g_clear_object(&p->preview_cancel);
    if (p->runs) {
        /* A running worker stops at its next step (its checkpoint of the
         * last finished epoch stays); its callbacks find page == NULL and
         * drop what they bring.  Wait for it: the page goes away when the
         * window closes, often just before the process exits, and a
         * training thread must not outlive the libraries it runs on. */
        for (guint i = 0; i < p->runs->len; i++) {
            Run *r = g_ptr_array_index(p->runs, i);
            r->page = NULL;
            r->row = NULL;
            if (r == p->running) {
                g_atomic_int_set(&r->abort, 1);
                g_mutex_lock(&r->mu);
                while (r->worker_alive) g_cond_wait(&r->worker_gone, &r->mu);
                g_mutex_unlock(&r->mu);
            }
        }
        g_clear_pointer(&p->runs, g_ptr_array_unref);
    }
    p->running = p->selected = NULL;
    gtk_widget_dispose_template(GTK_WIDGET(p), TS_TYPE_TRAIN_PAGE);
    G_OBJECT_CLASS(ts_train_page_parent_class)->dispose(o);
}

static void ts_train_page_finalize(GObject *o)
{
    TsTrainPage *p = TS_TRAIN_PAGE(o);
    g_strfreev(p->trait_counts);
    g_clear_object(&p->trait_list);
    G_OBJECT_CLASS(ts_train_page_parent_class)->finalize(o);
}

static void ts_train_page_class_init(TsTrainPageClass *k)
{
    GObjectClass *oc = G_OBJECT_CLASS(k);
    GtkWidgetClass *wc = GTK_WIDGET_CLASS(k);
    oc->dispose = ts_train_page_dispose;
    oc->finalize = ts_train_page_finalize;

    signals[SIG_OPEN_MODEL] = g_signal_new("open-model", G_TYPE_FROM_CLASS(k), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                           NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_INT);
    signals[SIG_RUN_CHANGED] = g_signal_new("run-changed", G_TYPE_FROM_CLASS(k), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                            NULL, G_TYPE_NONE, 1, G_TYPE_INT);

    gtk_widget_class_set_template_from_resource(wc, "/org/traitscope/Traitscope/ts-train-page.ui");
#define BIND(x) gtk_widget_class_bind_template_child(wc, TsTrainPage, x)
    BIND(root);
    BIND(data_entry);
    BIND(arch_entry);
    BIND(out_entry);
    BIND(data_button);
    BIND(arch_button);
    BIND(out_button);
    BIND(queue_button);
    BIND(data_info);
    BIND(form_error);
    BIND(run_title);
    BIND(progress_label);
    BIND(probe_hint);
    BIND(trait_dropdown);
    BIND(variant_dropdown);
    BIND(arch_dropdown);
    BIND(device_dropdown);
    BIND(arch_file_box);
    BIND(size_spin);
    BIND(epochs_spin);
    BIND(lr_spin);
    BIND(batch_spin);
    BIND(limit_spin);
    BIND(ranks_spin);
    BIND(augment_switch);
    BIND(run_list);
    BIND(progress_bar);
    BIND(curve_box);
    BIND(probe_box);
#undef BIND
    gtk_widget_class_set_layout_manager_type(wc, GTK_TYPE_BIN_LAYOUT);
    gtk_widget_class_set_css_name(wc, "tstrainpage");
    gtk_widget_class_set_accessible_role(wc, GTK_ACCESSIBLE_ROLE_GROUP);
}

/* Styles of the page's own parts (cards for curves and probes). */
static void install_css(void)
{
    static gboolean done;
    GdkDisplay *dpy = gdk_display_get_default();
    if (done || !dpy) return;
    done = TRUE;
    GtkCssProvider *css = gtk_css_provider_new();
    gtk_css_provider_load_from_data(css,
                                    "tstrainpage tscurve, tstrainpage .ts-probe-card {"
                                    "  background-color: alpha(currentColor, 0.04);"
                                    "  border-radius: 8px; padding: 6px; }"
                                    "tstrainpage .ts-probe-card label.caption { font-size: smaller; }",
                                    -1);
    gtk_style_context_add_provider_for_display(dpy, GTK_STYLE_PROVIDER(css), GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
    g_object_unref(css);
}

static void ts_train_page_init(TsTrainPage *p)
{
    g_type_ensure(TS_TYPE_CURVE);
    gtk_widget_init_template(GTK_WIDGET(p));
    install_css();
    p->runs = g_ptr_array_new_with_free_func(run_unref);
    p->follow = TRUE;

    /* form defaults: job.h's (the LACNN paper's) */
    ts_train_settings d;
    ts_train_settings_default(&d);
    p->trait_list = gtk_string_list_new(NULL);
    gtk_drop_down_set_model(p->trait_dropdown, G_LIST_MODEL(p->trait_list));
    gtk_spin_button_set_value(p->size_spin, d.size);
    gtk_spin_button_set_value(p->epochs_spin, d.epochs);
    gtk_spin_button_set_value(p->lr_spin, d.lr);
    gtk_spin_button_set_value(p->batch_spin, d.batch);
    gtk_spin_button_set_value(p->limit_spin, d.limit);
    gtk_switch_set_active(p->augment_switch, d.augment);
    gtk_drop_down_set_selected(p->variant_dropdown, d.variant == TS_VARIANT_LACNN ? 1 : 0);
    ts_train_page_set_device(p, d.device);
    gtk_drop_down_set_selected(p->arch_dropdown, 0);
    gtk_widget_set_visible(p->arch_file_box, FALSE);
    gtk_label_set_text(p->data_info, _("celeba:DIR, utkface:DIR, adience:DIR or csv:FILE"));

    g_signal_connect(p->data_entry, "changed", G_CALLBACK(on_data_changed), p);
    g_signal_connect(p->out_entry, "changed", G_CALLBACK(on_out_changed), p);
    g_signal_connect(p->arch_entry, "changed", G_CALLBACK(on_arch_entry_changed), p);
    g_signal_connect(p->trait_dropdown, "notify::selected", G_CALLBACK(on_choice_changed), p);
    g_signal_connect(p->variant_dropdown, "notify::selected", G_CALLBACK(on_choice_changed), p);
    g_signal_connect(p->arch_dropdown, "notify::selected", G_CALLBACK(on_choice_changed), p);
    g_signal_connect(p->data_button, "clicked", G_CALLBACK(on_data_button), p);
    g_signal_connect(p->arch_button, "clicked", G_CALLBACK(on_arch_button), p);
    g_signal_connect(p->out_button, "clicked", G_CALLBACK(on_out_button), p);
    g_signal_connect(p->queue_button, "clicked", G_CALLBACK(on_queue), p);
    g_signal_connect(p->data_entry, "activate", G_CALLBACK(preview_start), p);
    g_signal_connect(p->run_list, "row-selected", G_CALLBACK(on_row_selected), p);
    g_signal_connect(p->limit_spin, "output", G_CALLBACK(on_limit_output), NULL);
    g_signal_connect(p->limit_spin, "input", G_CALLBACK(on_limit_input), NULL);
    gtk_spin_button_update(p->limit_spin);
    on_limit_output(p->limit_spin, NULL);
    /* Several processes: only where MPI's launcher is installed. */
    char *mpirun = g_find_program_in_path("mpirun");
    gtk_widget_set_sensitive(GTK_WIDGET(p->ranks_spin), mpirun != NULL);
    gtk_widget_set_tooltip_text(GTK_WIDGET(p->ranks_spin),
                                mpirun ? _("Processes that train this one model together, each on its share of "
                                           "every batch (mpirun); 1 trains inside the app")
                                       : _("Training with several processes needs MPI (mpirun), which is not "
                                           "installed"));
    g_free(mpirun);

    /* curves */
    p->loss_curve = TS_CURVE(ts_curve_new());
    p->acc_curve = TS_CURVE(ts_curve_new());
    ts_curve_set_title(p->loss_curve, _("Training Loss"));
    ts_curve_set_axis_labels(p->loss_curve, _("epoch"), _("cross-entropy"));
    ts_curve_set_title(p->acc_curve, _("Accuracy"));
    ts_curve_set_axis_labels(p->acc_curve, _("epoch"), _("fraction correct"));
    ts_curve_set_y_range(p->acc_curve, 0, 1);
    ts_curve_set_ignore_outliers(p->loss_curve, TRUE);
    GdkRGBA c;
    gdk_rgba_parse(&c, "#3584e4");
    p->s_loss_step = ts_curve_add_series(p->loss_curve, _("per step, smoothed"), &c, TS_CURVE_LINE);
    gdk_rgba_parse(&c, "#1a5fb4");
    p->s_loss_epoch = ts_curve_add_series(p->loss_curve, _("epoch mean"), &c, TS_CURVE_MARKERS);
    gdk_rgba_parse(&c, "#2ec27e");
    p->s_acc_step = ts_curve_add_series(p->acc_curve, _("training, smoothed"), &c, TS_CURVE_LINE);
    gdk_rgba_parse(&c, "#26a269");
    p->s_acc_epoch = ts_curve_add_series(p->acc_curve, _("training"), &c, TS_CURVE_MARKERS);
    gdk_rgba_parse(&c, "#e66100");
    p->s_test = ts_curve_add_series(p->acc_curve, _("test"), &c, TS_CURVE_MARKERS);
    gtk_widget_set_tooltip_text(GTK_WIDGET(p->loss_curve),
                                _("Training loss: a smoothed value per step and the mean of each epoch"));
    gtk_widget_set_tooltip_text(GTK_WIDGET(p->acc_curve),
                                _("Accuracy on the training views and on the held-out test split after each epoch"));
    gtk_box_append(p->curve_box, GTK_WIDGET(p->loss_curve));
    gtk_box_append(p->curve_box, GTK_WIDGET(p->acc_curve));

    /* probe cards */
    for (int k = 0; k < N_PROBES; k++) {
        GtkWidget *card = gtk_box_new(GTK_ORIENTATION_VERTICAL, 2);
        gtk_widget_add_css_class(card, "ts-probe-card");
        GtkWidget *area = gtk_drawing_area_new();
        gtk_drawing_area_set_content_width(GTK_DRAWING_AREA(area), 176);
        gtk_drawing_area_set_content_height(GTK_DRAWING_AREA(area), 86);
        gtk_widget_set_hexpand(area, TRUE);
        g_object_set_data(G_OBJECT(area), "probe", GINT_TO_POINTER(k));
        gtk_drawing_area_set_draw_func(GTK_DRAWING_AREA(area), draw_probe, p, NULL);
        gtk_accessible_update_property(GTK_ACCESSIBLE(area), GTK_ACCESSIBLE_PROPERTY_LABEL, _("Probe face"), -1);
        GtkWidget *truth = gtk_label_new("");
        gtk_widget_add_css_class(truth, "dim-label");
        gtk_widget_add_css_class(truth, "caption");
        gtk_label_set_ellipsize(GTK_LABEL(truth), PANGO_ELLIPSIZE_END);
        GtkWidget *cap = gtk_label_new("");
        gtk_widget_add_css_class(cap, "caption");
        gtk_label_set_ellipsize(GTK_LABEL(cap), PANGO_ELLIPSIZE_END);
        gtk_box_append(GTK_BOX(card), area);
        gtk_box_append(GTK_BOX(card), cap);
        gtk_box_append(GTK_BOX(card), truth);
        gtk_box_append(p->probe_box, card);
        p->probe_area[k] = area;
        p->probe_caption[k] = cap;
        p->probe_truth[k] = truth;
    }
    suggest_out(p);
    show_selected(p);
    update_probes(p);
}
