/* ts-predictor.c - see ts-predictor.h.
 *
 * Threads: one worker per prediction job, a GThread of the job's own (not
 * a GTask: the worker lowers its scheduling priority so the window stays
 * responsive, and a pooled thread would carry that into whatever GTask
 * work it runs next).  The worker owns its copies of the models and reads
 * the job's source (immutable, reference counted).  It never touches items
 * or predictor state: results go to the main loop as idle sources tagged
 * with the job, and a result whose job is not the current one is dropped.
 * Jobs are weakly linked to the predictor, so a job never keeps it alive;
 * every job's thread is joined, when it says it is done or, in dispose,
 * after it is told to stop: no worker outlives the predictor.
 */
#include "app/ts-predictor.h"

#include <glib/gi18n.h>
#include <math.h>
#include <string.h>

#include "nn/model.h"
#include "train/cache.h"
#include "train/eval.h"
#include "train/faceset.h"

#define PRED_CHUNK 16 /* faces per published chunk */
#define MAX_SHOWN_CLASSES 64
#define N_MODELS TS_FACE_ITEM_MODELS

/* ---- a prediction job ---- */

typedef struct Job {
    gint ref;        /* atomic */
    gint cancelled;  /* atomic */
    gint hint;       /* atomic: the row to continue from */
    TsFaceSource *src;
    char *model_path[N_MODELS];
    ts_device device;  /* where its networks run (its own backend context) */
    GWeakRef predictor;
    GThread *thread;
    gboolean joined; /* main thread only */
} Job;

static Job *job_ref(Job *j)
{
    g_atomic_int_inc(&j->ref);
    return j;
}

static void job_unref(Job *j)
{
    if (!j || !g_atomic_int_dec_and_test(&j->ref)) return;
    ts_face_source_unref(j->src);
    for (int m = 0; m < N_MODELS; m++) g_free(j->model_path[m]);
    g_weak_ref_clear(&j->predictor);
    g_free(j);
}

/* What the worker found out about a model. */
typedef struct ModelInfo {
    gboolean present;
    int channels, n_outputs, n_heads;
    ts_model_head *heads;
    char **classes; /* the model's class names (a softmax head's) */
} ModelInfo;

static void model_info_clear(ModelInfo *mi)
{
    g_free(mi->heads);
    g_strfreev(mi->classes);
    memset(mi, 0, sizeof *mi);
}

/* The head in focus of one model. */
typedef struct View {
    int head;        /* -1: none */
    int trait;       /* its dataset trait, -1 */
    int *class_map;  /* head class -> dataset class, -1 */
    char **classes;  /* the head's class names */
} View;

static void view_clear(View *v)
{
    g_clear_pointer(&v->class_map, g_free);
    g_clear_pointer(&v->classes, g_strfreev);
    v->head = v->trait = -1;
}

struct _TsPredictor {
    GObject parent;
    TsFaceList *list;
    char *model_path[N_MODELS];
    ts_device device; /* where the jobs' networks run */
    Job *job;        /* the current one */
    GPtrArray *jobs; /* Job (ref) whose threads are not joined yet */
    gboolean predicting, disposed;
    int n_done, n_total;
    ModelInfo info[N_MODELS];
    char *name[N_MODELS];
    View view[N_MODELS];
    char *focus;
};

G_DEFINE_FINAL_TYPE(TsPredictor, ts_predictor, G_TYPE_OBJECT)

enum { PROP_0, PROP_BUSY, PROP_PROGRESS, N_PROPS };
static GParamSpec *props[N_PROPS];
enum { SIG_ERROR, SIG_UPDATED, SIG_RESCORED, SIG_DONE, N_SIGNALS };
static guint signals[N_SIGNALS];

/* ---- the worker ---- */

typedef enum { MSG_MODELS, MSG_CHUNK, MSG_ERROR, MSG_DONE } MsgKind;

typedef struct Msg {
    MsgKind kind;
    Job *job; /* ref */
    ModelInfo info[N_MODELS];          /* MSG_MODELS */
    int n, rows[PRED_CHUNK];           /* MSG_CHUNK */
    int k[N_MODELS];
    float *probs[N_MODELS];            /* n*k outputs, NaN where a row failed */
    char *row_error[PRED_CHUNK];
    char *text;                        /* MSG_ERROR */
} Msg;

static void msg_free(gpointer p)
{
    Msg *m = p;
    for (int i = 0; i < N_MODELS; i++) {
        model_info_clear(&m->info[i]);
        g_free(m->probs[i]);
    }
    for (int i = 0; i < PRED_CHUNK; i++) g_free(m->row_error[i]);
    g_free(m->text);
    job_unref(m->job);
    g_free(m);
}

static gboolean msg_handle(gpointer data);

static void post(Job *j, Msg *m)
{
    m->job = job_ref(j);
    g_idle_add_full(G_PRIORITY_DEFAULT, msg_handle, m, msg_free); /* never inline, see ts-face-list.c */
}

/* transfer: full (text). */
static void post_text(Job *j, char *text)
{
    Msg *m = g_new0(Msg, 1);
    m->kind = MSG_ERROR;
    m->text = text;
    post(j, m);
}

static bool job_abort(void *user) { return g_atomic_int_get(&((Job *)user)->cancelled) != 0; }

/* Faces prepared once per chunk for the models of one size and alignment. */
typedef struct Prep {
    ts_faceset_options fo; /* fo.cache: open while landmarks are needed */
} Prep;

static gboolean needs_landmarks(const ts_model *m)
{
    return m->meta.in_channels == 4 || m->meta.alignment != TS_ALIGN_NONE;
}

/* One chunk of rows through one preparation and its models.  Rows the
 * face set leaves out get their own reason. */
static void predict_chunk(Job *j, const ts_dataset *ds, const Prep *prep, ts_model *const *model, const int *uses,
                          int p, Msg *m)
{
    ts_faceset fs;
    ts_status st = ts_faceset_build(&fs, ds, m->rows, m->n, &prep->fo, NULL, job_abort, j);
    if (st == TS_CANCELLED || job_abort(j)) {
        if (st == TS_OK) ts_faceset_clear(&fs);
        return;
    }
    int slot[PRED_CHUNK], f = 0;
    for (int q = 0; q < m->n; q++) {
        if (st == TS_OK && f < fs.n && fs.rows[f] == m->rows[q]) {
            slot[f++] = q;
            continue;
        }
        if (m->row_error[q]) continue;
        ts_image base = { 0 };
        ts_points pts;
        if (ts_faceset_face(&prep->fo, ds->paths[m->rows[q]], &base, &pts) != TS_OK)
            m->row_error[q] = g_strdup(ts_last_error());
        else
            m->row_error[q] = g_strdup(st == TS_OK ? fs.first_error : ts_last_error());
        ts_image_clear(&base);
    }
    if (st != TS_OK) return;
    for (int i = 0; i < N_MODELS; i++) {
        if (uses[i] != p) continue;
        int k = m->k[i];
        float *pr = g_new(float, (size_t)fs.n * k);
        if (ts_eval_predict(model[i], &fs, false, fs.n, pr, NULL, job_abort, j) == TS_OK) {
            for (int r = 0; r < fs.n; r++)
                memcpy(m->probs[i] + (size_t)slot[r] * k, pr + (size_t)r * k, sizeof(float) * k);
        } else if (!job_abort(j)) {
            post_text(j, g_strdup_printf(_("Model %s: %s"), j->model_path[i], ts_last_error()));
        }
        g_free(pr);
    }
    ts_faceset_clear(&fs);
}

static gpointer pred_thread(gpointer data)
{
    Job *j = data;
    ts_lower_thread_priority();
    const ts_dataset *ds = ts_face_source_get_dataset(j->src);
    ts_model *model[N_MODELS] = { 0 };
    const ts_backend *be;
    void *be_ctx;
    (void)ts_backend_select_or_cpu(j->device, &be, &be_ctx, NULL, 0);
    for (int i = 0; i < N_MODELS; i++) {
        if (!j->model_path[i] || !j->model_path[i][0]) continue;
        if (ts_model_load_any(j->model_path[i], &model[i]) != TS_OK ||
            (be->device != TS_DEVICE_CPU && ts_graph_to_backend(model[i]->graph, be, be_ctx) != TS_OK)) {
            post_text(j, g_strdup_printf(_("Model %s: %s"), j->model_path[i], ts_last_error()));
            ts_model_free(model[i]);
            model[i] = NULL;
        }
    }
    /* Models with the same size and alignment share a preparation. */
    Prep prep[N_MODELS] = { 0 };
    int uses[N_MODELS], n_prep = 0;
    for (int i = 0; i < N_MODELS; i++) {
        uses[i] = -1;
        if (!model[i]) continue;
        const ts_model_meta *me = &model[i]->meta;
        int p = 0;
        while (p < n_prep && !(prep[p].fo.size == me->in_size && prep[p].fo.align == me->alignment)) p++;
        if (p == n_prep) {
            prep[p].fo.size = me->in_size;
            prep[p].fo.align = me->alignment;
            prep[p].fo.threads = 1;
            n_prep++;
        }
        prep[p].fo.landmarks |= needs_landmarks(model[i]);
        uses[i] = p;
    }
    for (int p = 0; p < n_prep; p++) {
        if (!prep[p].fo.landmarks) continue;
        ts_lmcache_policy pol = ts_lmcache_policy_for(ds->kind);
        if (ts_lmcache_open(NULL, &pol, prep[p].fo.size, &prep[p].fo.cache) == TS_OK) continue;
        post_text(j, g_strdup_printf(_("Landmarks for the LACNN model: %s"), ts_last_error()));
        prep[p].fo.cache = NULL;
        prep[p].fo.landmarks = FALSE;
        for (int i = 0; i < N_MODELS; i++)
            if (uses[i] == p && needs_landmarks(model[i])) {
                ts_model_free(model[i]);
                model[i] = NULL;
                uses[i] = -1;
            }
    }
    Msg *mm = g_new0(Msg, 1);
    mm->kind = MSG_MODELS;
    for (int i = 0; i < N_MODELS; i++) {
        if (!model[i]) continue;
        const ts_model_meta *me = &model[i]->meta;
        ModelInfo *mi = &mm->info[i];
        mi->present = TRUE;
        mi->channels = me->in_channels;
        mi->n_outputs = me->n_classes;
        mi->heads = g_new0(ts_model_head, TS_MODEL_MAX_HEADS);
        mi->n_heads = ts_model_heads(model[i], mi->heads, TS_MODEL_MAX_HEADS);
        mi->classes = g_new0(char *, me->n_classes + 1);
        for (int c = 0; c < me->n_classes; c++) mi->classes[c] = g_strdup(me->classes[c]);
    }
    post(j, mm);

    int n = ds->n_rows, cursor = 0;
    guint8 *done = g_malloc0((size_t)n + 1);
    gboolean any = FALSE;
    for (int i = 0; i < N_MODELS; i++) any |= model[i] != NULL;
    while (any && !job_abort(j)) {
        /* the next rows not done, from the top of the view on */
        int hint = g_atomic_int_get(&j->hint);
        if (hint >= 0 && hint < n) {
            cursor = hint;
            g_atomic_int_set(&j->hint, -1);
        }
        Msg *m = g_new0(Msg, 1);
        m->kind = MSG_CHUNK;
        for (int s = 0; s < n && m->n < PRED_CHUNK; s++) {
            int r = (cursor + s) % n;
            if (!done[r]) {
                done[r] = 1;
                m->rows[m->n++] = r;
            }
        }
        if (m->n == 0) {
            msg_free(m);
            break;
        }
        cursor = (m->rows[m->n - 1] + 1) % n;
        for (int i = 0; i < N_MODELS; i++) {
            if (!model[i]) continue;
            m->k[i] = model[i]->meta.n_classes;
            m->probs[i] = g_new(float, (size_t)m->n * m->k[i]);
            for (size_t q = 0; q < (size_t)m->n * m->k[i]; q++) m->probs[i][q] = NAN;
        }
        for (int p = 0; p < n_prep && !job_abort(j); p++) predict_chunk(j, ds, &prep[p], model, uses, p, m);
        post(j, m);
    }
    g_free(done);
    Msg *d = g_new0(Msg, 1);
    d->kind = MSG_DONE;
    post(j, d);
    for (int i = 0; i < N_MODELS; i++) ts_model_free(model[i]);
    ts_backend_close(be, be_ctx); /* after the networks that used it */
    for (int p = 0; p < n_prep; p++) ts_lmcache_free(prep[p].fo.cache);
    job_unref(j);
    return NULL;
}

/* ---- scoring: the head in focus ---- */

/* Picks each model's head for the focus and matches its classes to the
 * dataset trait's by name. */
static void choose_views(TsPredictor *p)
{
    const ts_dataset *ds = ts_face_list_get_dataset(p->list);
    for (int m = 0; m < N_MODELS; m++) {
        View *v = &p->view[m];
        const ModelInfo *mi = &p->info[m];
        view_clear(v);
        if (!mi->present || mi->n_heads < 1) continue;
        int h = -1;
        if (mi->heads[0].sigmoid) {
            for (int k = 0; k < mi->n_heads && p->focus && h < 0; k++)
                if (!strcmp(mi->heads[k].trait, p->focus)) h = k;
            for (int k = 0; k < mi->n_heads && ds && h < 0; k++)
                if (ts_dataset_trait_index(ds, mi->heads[k].trait) >= 0) h = k;
        }
        v->head = h < 0 ? 0 : h;
        const ts_model_head *hd = &mi->heads[v->head];
        int k = MIN(hd->n_classes, MAX_SHOWN_CLASSES);
        v->classes = g_new0(char *, k + 1);
        for (int c = 0; c < k; c++)
            v->classes[c] = g_strdup(hd->sigmoid ? hd->classes[c] : c < mi->n_outputs ? mi->classes[c] : "?");
        v->trait = ds ? ts_dataset_trait_index(ds, hd->trait) : -1;
        if (v->trait < 0) continue;
        const ts_trait *tr = &ds->traits[v->trait];
        v->class_map = g_new(int, k);
        for (int c = 0; c < k; c++) {
            v->class_map[c] = -1;
            for (int d = 0; d < tr->n_classes; d++)
                if (!strcmp(tr->classes[d], v->classes[c])) v->class_map[c] = d;
        }
    }
}

/* The item's prediction of model m for the head in focus. */
static void score(TsPredictor *p, TsFaceItem *it, int m)
{
    const float *out;
    int K;
    const View *v = &p->view[m];
    if (v->head < 0 || !ts_face_item_get_outputs(it, m, &out, &K) || isnan(out[0])) return;
    const ts_model_head *h = &p->info[m].heads[v->head];
    float probs[MAX_SHOWN_CLASSES];
    int k;
    if (h->sigmoid) {
        probs[1] = h->output < K ? out[h->output] : NAN;
        probs[0] = 1 - probs[1];
        k = 2;
    } else {
        k = MIN(MIN(h->n_classes, K), MAX_SHOWN_CLASSES);
        memcpy(probs, out, sizeof(float) * k);
    }
    int best = 0;
    for (int c = 1; c < k; c++)
        if (probs[c] > probs[best]) best = c;
    int correct = -1;
    if (v->class_map) {
        int label = ts_face_item_get_label(it, v->trait);
        if (label >= 0 && v->class_map[best] >= 0) correct = v->class_map[best] == label;
    }
    char *text = h->sigmoid
                     /* TRANSLATORS: a multi-label model's prediction of one trait: "LACNN: makeup yes 71%" */
                     ? g_strdup_printf(_("%s: %s %s %.0f%%"), p->name[m], h->trait, v->classes[best],
                                       100.0 * probs[best])
                     /* TRANSLATORS: a model's prediction: "baseline: female 93%" */
                     : g_strdup_printf(_("%s: %s %.0f%%"), p->name[m], v->classes[best], 100.0 * probs[best]);
    if (correct >= 0) {
        char *t = g_strconcat(text, correct ? " ✓" : " ✗", NULL);
        g_free(text);
        text = t;
    }
    ts_face_item_set_prediction(it, m, probs, k, correct, text);
    g_free(text);
}

static void rescore_all(TsPredictor *p)
{
    GListModel *items = ts_face_list_get_items(p->list);
    guint n = g_list_model_get_n_items(items);
    for (guint i = 0; i < n; i++) {
        TsFaceItem *it = g_list_model_get_item(items, i);
        for (int m = 0; m < N_MODELS; m++) score(p, it, m);
        g_object_unref(it);
    }
    g_signal_emit(p, signals[SIG_RESCORED], 0);
}

void ts_predictor_set_focus(TsPredictor *p, const char *trait)
{
    g_return_if_fail(TS_IS_PREDICTOR(p));
    if (!g_strcmp0(p->focus, trait)) return;
    g_free(p->focus);
    p->focus = g_strdup(trait);
    int before[N_MODELS];
    for (int m = 0; m < N_MODELS; m++) before[m] = p->view[m].head;
    choose_views(p);
    gboolean changed = FALSE;
    for (int m = 0; m < N_MODELS; m++) changed |= before[m] != p->view[m].head;
    if (changed) rescore_all(p);
}

/* ---- the main-thread side ---- */

static void models_known(TsPredictor *p, Msg *msg)
{
    for (int m = 0; m < N_MODELS; m++) {
        model_info_clear(&p->info[m]);
        p->info[m] = msg->info[m];
        memset(&msg->info[m], 0, sizeof msg->info[m]);
        g_clear_pointer(&p->name[m], g_free);
        if (p->info[m].present) p->name[m] = g_strdup(p->info[m].channels == 4 ? "LACNN" : _("baseline"));
    }
    /* two models of the same kind: tell them apart */
    if (p->name[0] && p->name[1] && !strcmp(p->name[0], p->name[1]))
        for (int m = 0; m < N_MODELS; m++) {
            char *s = g_strdup_printf("%s %c", p->name[m], 'A' + m);
            g_free(p->name[m]);
            p->name[m] = s;
        }
    choose_views(p);
    g_signal_emit(p, signals[SIG_RESCORED], 0);
}

static void chunk_arrived(TsPredictor *p, Msg *msg)
{
    GListModel *items = ts_face_list_get_items(p->list);
    for (int q = 0; q < msg->n; q++) {
        TsFaceItem *it = g_list_model_get_item(items, (guint)msg->rows[q]);
        if (!it) continue;
        for (int m = 0; m < N_MODELS; m++) {
            if (!msg->probs[m]) continue;
            const float *out = msg->probs[m] + (size_t)q * msg->k[m];
            if (isnan(out[0])) continue;
            ts_face_item_set_outputs(it, m, out, msg->k[m]);
            score(p, it, m);
        }
        if (msg->row_error[q]) ts_face_list_item_failed(p->list, it, msg->row_error[q]);
        g_object_unref(it);
    }
    p->n_done += msg->n;
    g_object_notify_by_pspec(G_OBJECT(p), props[PROP_PROGRESS]);
    g_signal_emit(p, signals[SIG_UPDATED], 0);
}

static void set_predicting(TsPredictor *p, gboolean on)
{
    if (p->predicting == on) return;
    p->predicting = on;
    g_object_notify_by_pspec(G_OBJECT(p), props[PROP_BUSY]);
}

/* Joins a job's thread once it has said it is done (or, in dispose, after
 * cancelling it). */
static void job_reap(TsPredictor *p, Job *j)
{
    if (!j->joined) {
        g_thread_join(j->thread);
        j->joined = TRUE;
    }
    if (p->jobs) g_ptr_array_remove(p->jobs, j);
}

static gboolean msg_handle(gpointer data)
{
    Msg *m = data;
    TsPredictor *p = g_weak_ref_get(&m->job->predictor);
    if (!p) return G_SOURCE_REMOVE;
    if (m->kind == MSG_DONE && !p->disposed) job_reap(p, m->job);
    if (!p->disposed && m->job == p->job) {
        switch (m->kind) {
        case MSG_ERROR: g_signal_emit(p, signals[SIG_ERROR], 0, m->text); break;
        case MSG_MODELS: models_known(p, m); break;
        case MSG_CHUNK: chunk_arrived(p, m); break;
        case MSG_DONE:
            g_clear_pointer(&p->job, job_unref);
            set_predicting(p, FALSE);
            g_signal_emit(p, signals[SIG_DONE], 0);
            break;
        }
    }
    g_object_unref(p);
    return G_SOURCE_REMOVE;
}

static void cancel(TsPredictor *p)
{
    if (p->job) {
        g_atomic_int_set(&p->job->cancelled, 1);
        g_clear_pointer(&p->job, job_unref);
    }
    set_predicting(p, FALSE);
}

/* Predicts the listed source with the current models (when there are
 * both). */
static void start(TsPredictor *p)
{
    cancel(p);
    for (int m = 0; m < N_MODELS; m++) {
        model_info_clear(&p->info[m]);
        view_clear(&p->view[m]);
        g_clear_pointer(&p->name[m], g_free);
    }
    GListModel *items = ts_face_list_get_items(p->list);
    guint n = g_list_model_get_n_items(items);
    for (guint i = 0; i < n; i++) {
        TsFaceItem *it = g_list_model_get_item(items, i);
        ts_face_item_clear_predictions(it);
        g_object_unref(it);
    }
    p->n_done = p->n_total = 0;
    g_object_notify_by_pspec(G_OBJECT(p), props[PROP_PROGRESS]);
    TsFaceSource *src = ts_face_list_get_source(p->list);
    gboolean any = FALSE;
    for (int m = 0; m < N_MODELS; m++) any |= p->model_path[m] != NULL;
    if (!src || ts_face_source_get_dataset(src)->n_rows == 0 || !any) {
        g_signal_emit(p, signals[SIG_RESCORED], 0);
        return;
    }
    Job *j = g_new0(Job, 1);
    j->ref = 2; /* the predictor's and the thread's */
    j->hint = -1;
    j->src = ts_face_source_ref(src);
    for (int m = 0; m < N_MODELS; m++) j->model_path[m] = g_strdup(p->model_path[m]);
    j->device = p->device;
    g_weak_ref_init(&j->predictor, p);
    p->job = j;
    p->n_total = ts_face_source_get_dataset(src)->n_rows;
    set_predicting(p, TRUE);
    g_object_notify_by_pspec(G_OBJECT(p), props[PROP_PROGRESS]); /* its text counts n_total */
    j->thread = g_thread_new("ts-predict", pred_thread, j);
    g_ptr_array_add(p->jobs, job_ref(j));
    g_signal_emit(p, signals[SIG_RESCORED], 0);
}

void ts_predictor_set_models(TsPredictor *p, const char *model_a, const char *model_b)
{
    g_return_if_fail(TS_IS_PREDICTOR(p));
    const char *v[N_MODELS] = { model_a, model_b };
    for (int m = 0; m < N_MODELS; m++) {
        g_free(p->model_path[m]);
        p->model_path[m] = v[m] && v[m][0] ? g_strdup(v[m]) : NULL;
    }
    if (!ts_face_list_is_loading(p->list)) start(p);
}

void ts_predictor_set_device(TsPredictor *p, ts_device device)
{
    g_return_if_fail(TS_IS_PREDICTOR(p));
    p->device = device; /* the next job's */
}

void ts_predictor_set_hint(TsPredictor *p, int row)
{
    if (p->job) g_atomic_int_set(&p->job->hint, row);
}

static void list_loading(TsFaceList *l, GParamSpec *ps, TsPredictor *p)
{
    (void)ps;
    if (ts_face_list_is_loading(l)) cancel(p);
}

static void list_opened(TsFaceList *l, TsPredictor *p)
{
    (void)l;
    start(p);
}

const char *ts_predictor_get_head_trait(TsPredictor *p, int m)
{
    if (m < 0 || m >= N_MODELS || p->view[m].head < 0) return NULL;
    return p->info[m].heads[p->view[m].head].trait;
}

const char *const *ts_predictor_get_classes(TsPredictor *p, int m)
{
    return m >= 0 && m < N_MODELS ? (const char *const *)p->view[m].classes : NULL;
}

gboolean ts_predictor_is_multilabel(TsPredictor *p, int m)
{
    return m >= 0 && m < N_MODELS && p->info[m].present && p->info[m].n_heads > 0 && p->info[m].heads[0].sigmoid;
}

gboolean ts_predictor_is_busy(TsPredictor *p) { return p->predicting; }
double ts_predictor_get_progress(TsPredictor *p) { return p->n_total > 0 ? (double)p->n_done / p->n_total : 0; }

void ts_predictor_get_counts(TsPredictor *p, int *done, int *total)
{
    if (done) *done = p->n_done;
    if (total) *total = p->n_total;
}

/* ---- GObject ---- */

static void get_property(GObject *o, guint id, GValue *v, GParamSpec *ps)
{
    TsPredictor *p = TS_PREDICTOR(o);
    switch (id) {
    case PROP_BUSY: g_value_set_boolean(v, p->predicting); break;
    case PROP_PROGRESS: g_value_set_double(v, ts_predictor_get_progress(p)); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps);
    }
}

static void dispose(GObject *o)
{
    TsPredictor *p = TS_PREDICTOR(o);
    p->disposed = TRUE;
    if (p->list) g_signal_handlers_disconnect_by_data(p->list, p);
    cancel(p);
    /* every worker was told to stop; each finishes its chunk and returns */
    while (p->jobs && p->jobs->len > 0) {
        Job *j = p->jobs->pdata[p->jobs->len - 1];
        g_atomic_int_set(&j->cancelled, 1);
        job_reap(p, j);
    }
    g_clear_pointer(&p->jobs, g_ptr_array_unref);
    g_clear_object(&p->list);
    G_OBJECT_CLASS(ts_predictor_parent_class)->dispose(o);
}

static void finalize(GObject *o)
{
    TsPredictor *p = TS_PREDICTOR(o);
    for (int m = 0; m < N_MODELS; m++) {
        g_free(p->model_path[m]);
        g_free(p->name[m]);
        model_info_clear(&p->info[m]);
        view_clear(&p->view[m]);
    }
    g_free(p->focus);
    G_OBJECT_CLASS(ts_predictor_parent_class)->finalize(o);
}

static void ts_predictor_class_init(TsPredictorClass *k)
{
    GObjectClass *oc = G_OBJECT_CLASS(k);
    oc->get_property = get_property;
    oc->dispose = dispose;
    oc->finalize = finalize;
    props[PROP_BUSY] = g_param_spec_boolean("busy", NULL, NULL, FALSE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    props[PROP_PROGRESS] = g_param_spec_double("progress", NULL, NULL, 0, 1, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    g_object_class_install_properties(oc, N_PROPS, props);
    signals[SIG_ERROR] = g_signal_new("error", G_TYPE_FROM_CLASS(k), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                      G_TYPE_NONE, 1, G_TYPE_STRING);
    signals[SIG_UPDATED] = g_signal_new("updated", G_TYPE_FROM_CLASS(k), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                        G_TYPE_NONE, 0);
    signals[SIG_RESCORED] = g_signal_new("rescored", G_TYPE_FROM_CLASS(k), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                         G_TYPE_NONE, 0);
    signals[SIG_DONE] = g_signal_new("done", G_TYPE_FROM_CLASS(k), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                     G_TYPE_NONE, 0);
}

static void ts_predictor_init(TsPredictor *p)
{
    p->device = TS_DEVICE_CPU; /* until ts_predictor_set_device */
    p->jobs = g_ptr_array_new_with_free_func((GDestroyNotify)job_unref);
    for (int m = 0; m < N_MODELS; m++) p->view[m].head = p->view[m].trait = -1;
}

TsPredictor *ts_predictor_new(TsFaceList *list)
{
    TsPredictor *p = g_object_new(TS_TYPE_PREDICTOR, NULL);
    p->list = g_object_ref(list);
    g_signal_connect(list, "notify::loading", G_CALLBACK(list_loading), p);
    g_signal_connect(list, "opened", G_CALLBACK(list_opened), p);
    return p;
}
