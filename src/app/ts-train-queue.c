/* ts-train-queue.c - see ts-train-queue.h.
 *
 * Invariants: `running` is the one run whose worker may be alive; probe
 * work waits in `probes` (FIFO) and one probe task runs at a time
 * (`probing`), the only user of `inspector`.  The probe task holds copies
 * of the faces and a reference to its run, so removing or finishing a run
 * never pulls data from under it; its result is handed to the run on the
 * main thread.
 */
#include "app/ts-train-queue.h"

#include <cjson/cJSON.h>
#include <glib/gi18n.h>
#include <string.h>

#include "explain/colormap.h"
#include "explain/inspect.h"
#include "nn/model.h"

typedef struct ProbeReq {
    TsTrainRun *run;  /* ref */
    char *out;        /* the checkpoint */
    int epoch, n;
    ts_image img[TS_TRAIN_PROBES];
    TsTrainProbeResult *result;
} ProbeReq;

static void probe_req_free(gpointer p)
{
    ProbeReq *q = p;
    if (!q) return;
    g_object_unref(q->run);
    g_free(q->out);
    for (int k = 0; k < TS_TRAIN_PROBES; k++) ts_image_clear(&q->img[k]);
    ts_train_probe_result_free(q->result);
    g_free(q);
}

struct _TsTrainQueue {
    GObject parent;
    GPtrArray *runs;      /* TsTrainRun (ref), queue order */
    TsTrainRun *running;
    int next_id;
    gboolean disposed;
    GQueue probes;        /* ProbeReq*, waiting */
    gboolean probing;     /* main thread: a probe task is out */
    ts_inspector *inspector;
    GMutex mu;            /* probe_alive */
    GCond probe_gone;
    gboolean probe_alive;
};

static void list_model_init(GListModelInterface *iface);
G_DEFINE_FINAL_TYPE_WITH_CODE(TsTrainQueue, ts_train_queue, G_TYPE_OBJECT,
                              G_IMPLEMENT_INTERFACE(G_TYPE_LIST_MODEL, list_model_init))

enum { SIG_RUN_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

static GType get_item_type(GListModel *m)
{
    (void)m;
    return TS_TYPE_TRAIN_RUN;
}

static guint get_n_items(GListModel *m) { return TS_TRAIN_QUEUE(m)->runs->len; }

static gpointer get_item(GListModel *m, guint i)
{
    TsTrainQueue *q = TS_TRAIN_QUEUE(m);
    return i < q->runs->len ? g_object_ref(g_ptr_array_index(q->runs, i)) : NULL;
}

static void list_model_init(GListModelInterface *iface)
{
    iface->get_item_type = get_item_type;
    iface->get_n_items = get_n_items;
    iface->get_item = get_item;
}

int ts_train_queue_index_of(TsTrainQueue *q, TsTrainRun *r)
{
    guint i;
    return r && g_ptr_array_find(q->runs, r, &i) ? (int)i : -1;
}

TsTrainRun *ts_train_queue_get_run(TsTrainQueue *q, int index)
{
    return index >= 0 && (guint)index < q->runs->len ? g_ptr_array_index(q->runs, index) : NULL;
}

TsTrainRun *ts_train_queue_get_running(TsTrainQueue *q) { return q->running; }

gboolean ts_train_queue_writes(TsTrainQueue *q, const char *out)
{
    for (guint i = 0; i < q->runs->len; i++) {
        TsTrainRun *r = g_ptr_array_index(q->runs, i);
        TsTrainRunState s = ts_train_run_get_state(r);
        if (!g_strcmp0(ts_train_run_get_settings(r)->out, out) && s != TS_TRAIN_RUN_DONE &&
            s != TS_TRAIN_RUN_FAILED && s != TS_TRAIN_RUN_CANCELLED)
            return TRUE;
    }
    return FALSE;
}

/* ---- one run at a time ---- */

static void start_next(TsTrainQueue *q)
{
    if (q->running || q->disposed) return;
    for (guint i = 0; i < q->runs->len; i++) {
        TsTrainRun *r = g_ptr_array_index(q->runs, i);
        if (ts_train_run_get_state(r) != TS_TRAIN_RUN_QUEUED) continue;
        q->running = r;
        ts_train_run_start(r); /* "state-changed" tells the listeners */
        return;
    }
}

static void run_state_changed(TsTrainRun *r, TsTrainQueue *q)
{
    int i = ts_train_queue_index_of(q, r);
    if (i >= 0) g_signal_emit(q, signals[SIG_RUN_CHANGED], 0, i);
    if (ts_train_run_get_state(r) == TS_TRAIN_RUN_QUEUED) start_next(q); /* resumed */
}

static void run_finished(TsTrainRun *r, TsTrainQueue *q)
{
    if (q->running == r) q->running = NULL;
    start_next(q);
}

/* ---- probes: the checkpoint of an epoch on the probe faces ---- */

static void probe_next(TsTrainQueue *q);

/* The epoch a checkpoint holds (its training metadata), or `fallback`. */
static int checkpoint_epoch(const ts_model *m, int fallback)
{
    cJSON *j = m->meta.training ? cJSON_Parse(m->meta.training) : NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "epochs_done");
    int epoch = cJSON_IsNumber(e) && e->valueint > 0 ? e->valueint : fallback;
    cJSON_Delete(j);
    return epoch;
}

static void probe_worker(GTask *task, gpointer source, gpointer data, GCancellable *cancel)
{
    (void)cancel;
    TsTrainQueue *q = source;
    ProbeReq *req = data;
    TsTrainProbeResult *res = g_new0(TsTrainProbeResult, 1);
    res->epoch = req->epoch;
    res->n = req->n;
    ts_model *m = NULL;
    ts_status st = ts_model_load(req->out, &m);
    if (st == TS_OK) {
        res->epoch = checkpoint_epoch(m, req->epoch);
        if (!q->inspector) q->inspector = ts_inspector_new();
    }
    for (int k = 0; k < req->n; k++) {
        if (st != TS_OK) {
            g_strlcpy(res->item[k].error, ts_last_error(), sizeof res->item[k].error);
            continue;
        }
        ts_inspect ins;
        ts_model *models[TS_INSPECT_MODELS] = { m, NULL };
        ts_inspect_opts o = { 0 };
        o.face = -1;
        o.method = TS_LANDMARKS_ERT;
        o.crop = TS_CROP_WHOLE; /* dataset images are face crops */
        if (ts_inspector_run(q->inspector, &req->img[k], models, &o, &ins) != TS_OK) {
            g_strlcpy(res->item[k].error, ts_last_error(), sizeof res->item[k].error);
            continue;
        }
        const ts_inspect_model *im = &ins.model[0];
        if (im->error[0] || !im->heat) {
            g_strlcpy(res->item[k].error, im->error[0] ? im->error : _("no heatmap"), sizeof res->item[k].error);
        } else {
            if (ts_colormap_relevance(im->heat, im->in_size, im->in_size, 0, &res->item[k].heat, NULL) != TS_OK)
                memset(&res->item[k].heat, 0, sizeof res->item[k].heat);
            /* the marked row: the predicted class, or the explained trait
             * of a multi-label model ("gender: male") */
            for (int i = 0; i < im->n_rows; i++)
                if (im->rows[i].mark) {
                    g_strlcpy(res->item[k].pred, im->rows[i].label, sizeof res->item[k].pred);
                    res->item[k].prob = im->rows[i].p;
                }
        }
        ts_inspect_clear(&ins);
    }
    ts_model_free(m);
    req->result = res;
    g_mutex_lock(&q->mu);
    q->probe_alive = FALSE;
    g_cond_broadcast(&q->probe_gone);
    g_mutex_unlock(&q->mu);
    g_task_return_boolean(task, TRUE);
}

static void probe_done(GObject *source, GAsyncResult *res, gpointer data)
{
    (void)data;
    TsTrainQueue *q = TS_TRAIN_QUEUE(source);
    ProbeReq *req = g_task_get_task_data(G_TASK(res));
    q->probing = FALSE;
    if (!q->disposed) {
        ts_train_run_add_probes(req->run, g_steal_pointer(&req->result));
        probe_next(q);
    }
}

static void probe_next(TsTrainQueue *q)
{
    if (q->probing || q->disposed) return;
    ProbeReq *req = g_queue_pop_head(&q->probes);
    if (!req) return;
    q->probing = TRUE;
    q->probe_alive = TRUE; /* no probe thread yet: no lock needed */
    GTask *task = g_task_new(q, NULL, probe_done, NULL);
    g_task_set_task_data(task, req, probe_req_free);
    g_task_set_name(task, "traitscope training probes");
    g_task_run_in_thread(task, probe_worker);
    g_object_unref(task);
}

static void run_epoch_done(TsTrainRun *r, int epoch, TsTrainQueue *q)
{
    ProbeReq *req = g_new0(ProbeReq, 1);
    req->run = g_object_ref(r);
    req->out = g_strdup(ts_train_run_get_settings(r)->out);
    req->epoch = epoch;
    const ts_image *img = ts_train_run_get_probe_images(r, &req->n, NULL);
    for (int k = 0; k < req->n; k++)
        if (ts_image_copy(&req->img[k], &img[k]) != TS_OK) memset(&req->img[k], 0, sizeof req->img[k]);
    g_queue_push_tail(&q->probes, req);
    probe_next(q);
}

/* ---- public ---- */

TsTrainRun *ts_train_queue_add(TsTrainQueue *q, const ts_train_settings *s, int ranks)
{
    g_return_val_if_fail(TS_IS_TRAIN_QUEUE(q) && s && ranks >= 1, NULL);
    TsTrainRun *r = ts_train_run_new(s, ++q->next_id, ranks);
    g_signal_connect(r, "state-changed", G_CALLBACK(run_state_changed), q);
    g_signal_connect(r, "finished", G_CALLBACK(run_finished), q);
    g_signal_connect(r, "epoch-done", G_CALLBACK(run_epoch_done), q);
    g_ptr_array_add(q->runs, r);
    guint index = q->runs->len - 1;
    g_list_model_items_changed(G_LIST_MODEL(q), index, 0, 1);
    g_signal_emit(q, signals[SIG_RUN_CHANGED], 0, (int)index);
    start_next(q);
    return r;
}

gboolean ts_train_queue_remove(TsTrainQueue *q, TsTrainRun *r)
{
    int i = ts_train_queue_index_of(q, r);
    if (i < 0 || r == q->running) return FALSE;
    g_signal_handlers_disconnect_by_data(r, q);
    g_ptr_array_remove_index(q->runs, (guint)i); /* unrefs */
    g_list_model_items_changed(G_LIST_MODEL(q), (guint)i, 1, 0);
    return TRUE;
}

/* ---- GObject ---- */

static void dispose(GObject *o)
{
    TsTrainQueue *q = TS_TRAIN_QUEUE(o);
    q->disposed = TRUE;
    if (q->runs) {
        for (guint i = 0; i < q->runs->len; i++) g_signal_handlers_disconnect_by_data(q->runs->pdata[i], q);
        /* A running worker stops at its next step (its checkpoint of the
         * last finished epoch stays); a training thread must not outlive
         * the libraries it runs on. */
        if (q->running) ts_train_run_abort_and_wait(q->running);
        q->running = NULL;
        g_clear_pointer(&q->runs, g_ptr_array_unref);
    }
    g_queue_clear_full(&q->probes, probe_req_free);
    g_mutex_lock(&q->mu);
    while (q->probe_alive) g_cond_wait(&q->probe_gone, &q->mu);
    g_mutex_unlock(&q->mu);
    G_OBJECT_CLASS(ts_train_queue_parent_class)->dispose(o);
}

static void finalize(GObject *o)
{
    TsTrainQueue *q = TS_TRAIN_QUEUE(o);
    ts_inspector_free(q->inspector);
    g_mutex_clear(&q->mu);
    g_cond_clear(&q->probe_gone);
    G_OBJECT_CLASS(ts_train_queue_parent_class)->finalize(o);
}

static void ts_train_queue_class_init(TsTrainQueueClass *k)
{
    GObjectClass *oc = G_OBJECT_CLASS(k);
    oc->dispose = dispose;
    oc->finalize = finalize;
    signals[SIG_RUN_CHANGED] = g_signal_new("run-changed", G_TYPE_FROM_CLASS(k), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                            NULL, G_TYPE_NONE, 1, G_TYPE_INT);
}

static void ts_train_queue_init(TsTrainQueue *q)
{
    q->runs = g_ptr_array_new_with_free_func(g_object_unref);
    g_queue_init(&q->probes);
    g_mutex_init(&q->mu);
    g_cond_init(&q->probe_gone);
}

TsTrainQueue *ts_train_queue_new(void) { return g_object_new(TS_TYPE_TRAIN_QUEUE, NULL); }
