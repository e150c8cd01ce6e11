/* ts-face-list.c - see ts-face-list.h.
 *
 * Invariants:
 *   - store position == source row (items appended in row order);
 *   - workers never touch items' published state: results reach the main
 *     loop as idle sources (never run inline: g_main_context_invoke would
 *     run them on the worker whenever the main context is free), tagged
 *     with the generation of the source (gen) they belong to, and stale
 *     ones are dropped;
 *   - thumbnails: state 0 none, 1 queued, 2 loaded, 3 failed; only bound
 *     (visible) items are decoded.
 */
#include "app/ts-face-list.h"

#include <glib/gi18n.h>
#include <math.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "face/image.h"

#define THUMB_SIZE 96        /* texture side (the browser shows it at 64 logical pixels) */
#define THUMB_CACHE 3000     /* textures kept */
#define THUMB_THREADS 2
#define THUMB_MAX_PIXELS (64L << 20)
#define MAX_FILE_ERRORS 20   /* per-file errors signalled per source */

struct TsFaceSource {
    ts_dataset ds;
};

static void source_clear(gpointer p) { ts_dataset_clear(&((TsFaceSource *)p)->ds); }
TsFaceSource *ts_face_source_ref(TsFaceSource *s) { return s ? g_atomic_rc_box_acquire(s) : NULL; }
void ts_face_source_unref(TsFaceSource *s)
{
    if (s) g_atomic_rc_box_release_full(s, source_clear);
}
const ts_dataset *ts_face_source_get_dataset(const TsFaceSource *s) { return s ? &s->ds : NULL; }

struct _TsFaceList {
    GObject parent;
    GListStore *store;
    TsFaceSource *src;
    guint gen;
    GCancellable *load_cancel;
    gboolean loading, disposed;
    int file_errors;
    char *error;
    GThreadPool *thumbs;
    guint64 thumb_seq;
    GQueue thumb_lru; /* TsFaceItem (ref) holding a texture, oldest first */
};

G_DEFINE_FINAL_TYPE(TsFaceList, ts_face_list, G_TYPE_OBJECT)

enum { PROP_0, PROP_LOADING, PROP_ERROR, N_PROPS };
static GParamSpec *props[N_PROPS];
enum { SIG_ERROR, SIG_OPENED, N_SIGNALS };
static guint signals[N_SIGNALS];

void ts_lower_thread_priority(void)
{
#ifdef SYS_gettid
    static const int nice_value = 10;
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice_value) != 0) {
        /* not fatal: the work just competes with the UI at equal priority */
    }
#endif
}

/* ---- errors ---- */

void ts_face_list_report(TsFaceList *l, const char *message)
{
    g_free(l->error);
    l->error = g_strdup(message);
    g_object_notify_by_pspec(G_OBJECT(l), props[PROP_ERROR]);
    g_signal_emit(l, signals[SIG_ERROR], 0, message);
}

void ts_face_list_item_failed(TsFaceList *l, TsFaceItem *it, const char *message)
{
    if (ts_face_item_get_error(it)) return; /* already said */
    ts_face_item_set_error(it, message);
    if (l->file_errors++ < MAX_FILE_ERRORS) ts_face_list_report(l, message);
}

static void set_loading(TsFaceList *l, gboolean loading)
{
    l->loading = loading;
    g_object_notify_by_pspec(G_OBJECT(l), props[PROP_LOADING]);
}

/* ---- thumbnails ---- */

typedef struct ThumbTask {
    GWeakRef list;      /* weak: a queued picture never keeps the list alive */
    TsFaceItem *item;   /* ref */
    guint gen;
    guint64 seq;
    /* result */
    gboolean skipped;
    GBytes *pixels;
    int w, h;
    char *error;
} ThumbTask;

static void thumb_task_free(gpointer p)
{
    ThumbTask *t = p;
    g_weak_ref_clear(&t->list);
    g_object_unref(t->item);
    if (t->pixels) g_bytes_unref(t->pixels);
    g_free(t->error);
    g_free(t);
}

/* Newest request first: what was bound last is what the user looks at. */
static gint thumb_cmp(gconstpointer a, gconstpointer b, gpointer user)
{
    (void)user;
    const ThumbTask *x = a, *y = b;
    return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0;
}

/* Area-average downscale of img into at most THUMB_SIZE x THUMB_SIZE,
 * aspect kept (never upscaled). */
static GBytes *thumb_scale(const ts_image *img, int *ow, int *oh)
{
    double s = fmin(1.0, fmin((double)THUMB_SIZE / img->width, (double)THUMB_SIZE / img->height));
    int w = (int)fmax(1, lround(img->width * s)), h = (int)fmax(1, lround(img->height * s));
    guint8 *out = g_malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++) {
        int y0 = (int)((long)y * img->height / h), y1 = (int)((long)(y + 1) * img->height / h);
        if (y1 <= y0) y1 = y0 + 1;
        for (int x = 0; x < w; x++) {
            int x0 = (int)((long)x * img->width / w), x1 = (int)((long)(x + 1) * img->width / w);
            if (x1 <= x0) x1 = x0 + 1;
            unsigned long sum[3] = { 0, 0, 0 }, n = 0;
            for (int yy = y0; yy < y1; yy++)
                for (int xx = x0; xx < x1; xx++, n++) {
                    const uint8_t *p = ts_image_pixel(img, xx, yy);
                    sum[0] += p[0], sum[1] += p[1], sum[2] += p[2];
                }
            for (int c = 0; c < 3; c++) out[((size_t)y * w + x) * 3 + c] = (guint8)((sum[c] + n / 2) / n);
        }
    }
    *ow = w;
    *oh = h;
    return g_bytes_new_take(out, (size_t)w * h * 3);
}

static void thumb_evict(TsFaceList *l)
{
    guint tries = l->thumb_lru.length;
    while (l->thumb_lru.length > THUMB_CACHE && tries-- > 0) {
        TsFaceItem *it = g_queue_pop_head(&l->thumb_lru);
        if (ts_face_item_is_bound(it)) { /* on screen: keep, look further */
            g_queue_push_tail(&l->thumb_lru, it);
            continue;
        }
        ts_face_item_set_thumbnail(it, NULL);
        ts_face_item_set_thumb_state(it, 0);
        g_object_unref(it);
    }
}

static gboolean thumb_done(gpointer data)
{
    ThumbTask *t = data;
    TsFaceList *l = g_weak_ref_get(&t->list);
    if (!l) return G_SOURCE_REMOVE;
    if (l->disposed || t->gen != l->gen) {
        g_object_unref(l);
        return G_SOURCE_REMOVE;
    }
    if (t->skipped) {
        ts_face_item_set_thumb_state(t->item, 0); /* asked again when bound again */
    } else if (t->error) {
        ts_face_item_set_thumb_state(t->item, 3);
        ts_face_list_item_failed(l, t->item, t->error);
    } else {
        GdkTexture *tex = gdk_memory_texture_new(t->w, t->h, GDK_MEMORY_R8G8B8, t->pixels, (gsize)t->w * 3);
        ts_face_item_set_thumbnail(t->item, GDK_PAINTABLE(tex));
        g_object_unref(tex);
        ts_face_item_set_thumb_state(t->item, 2);
        g_queue_push_tail(&l->thumb_lru, g_object_ref(t->item));
        thumb_evict(l);
    }
    g_object_unref(l);
    return G_SOURCE_REMOVE;
}

static void thumb_work(gpointer data, gpointer user)
{
    (void)user;
    ThumbTask *t = data;
    static GPrivate lowered;
    if (!g_private_get(&lowered)) { /* once per (exclusive) pool thread */
        ts_lower_thread_priority();
        g_private_set(&lowered, GINT_TO_POINTER(1));
    }
    if (!ts_face_item_is_bound(t->item)) {
        t->skipped = TRUE;
    } else {
        gchar *buf = NULL;
        gsize len = 0;
        GError *err = NULL;
        ts_image img = { 0 };
        const char *path = ts_face_item_get_path(t->item);
        if (!g_file_get_contents(path, &buf, &len, &err)) {
            t->error = g_strdup(err->message);
            g_error_free(err);
        } else if (ts_image_decode_limited((const uint8_t *)buf, len, path, THUMB_MAX_PIXELS, &img) != TS_OK) {
            t->error = g_strdup(ts_last_error());
        } else {
            t->pixels = thumb_scale(&img, &t->w, &t->h);
        }
        ts_image_clear(&img);
        g_free(buf);
    }
    g_idle_add_full(G_PRIORITY_DEFAULT_IDLE, thumb_done, t, thumb_task_free);
}

void ts_face_list_request_thumbnail(TsFaceList *l, TsFaceItem *it)
{
    if (ts_face_item_get_thumb_state(it) != 0 || !l->thumbs) return;
    ts_face_item_set_thumb_state(it, 1);
    ThumbTask *t = g_new0(ThumbTask, 1);
    g_weak_ref_init(&t->list, l);
    t->item = g_object_ref(it);
    t->gen = l->gen;
    t->seq = ++l->thumb_seq;
    g_thread_pool_push(l->thumbs, t, NULL);
}

static void thumb_lru_clear(TsFaceList *l)
{
    TsFaceItem *it;
    while ((it = g_queue_pop_head(&l->thumb_lru))) g_object_unref(it);
}

/* ---- sources ---- */

typedef struct OpenReq {
    char *spec;
    int limit;
    char **paths;
    guint gen;
} OpenReq;

typedef struct OpenResult {
    TsFaceSource *src;
    GPtrArray *items;    /* TsFaceItem */
    GPtrArray *problems; /* char*: what could not be listed */
    int n_problems;
} OpenResult;

static void open_req_free(gpointer p)
{
    OpenReq *r = p;
    g_free(r->spec);
    g_strfreev(r->paths);
    g_free(r);
}

static void open_result_free(gpointer p)
{
    OpenResult *r = p;
    if (!r) return;
    ts_face_source_unref(r->src);
    if (r->items) g_ptr_array_unref(r->items);
    if (r->problems) g_ptr_array_unref(r->problems);
    g_free(r);
}

/* Appends a path to a dataset built here (kind "folder", no traits). */
static void ds_append(ts_dataset *ds, const char *path)
{
    if (ds->n_rows == ds->cap_rows) {
        ds->cap_rows = ds->cap_rows ? 2 * ds->cap_rows : 64;
        /* ts_dataset_clear frees with free(): allocate with the C library */
        char **p = realloc(ds->paths, (size_t)ds->cap_rows * sizeof *p);
        g_assert(p);
        ds->paths = p;
    }
    char *copy = strdup(path);
    g_assert(copy);
    ds->paths[ds->n_rows++] = copy;
}

static void open_paths_into(ts_dataset *ds, char **paths, GPtrArray *problems)
{
    ds->kind = strdup("folder");
    for (int i = 0; paths && paths[i]; i++) {
        const char *p = paths[i];
        if (g_file_test(p, G_FILE_TEST_IS_DIR)) {
            char *spec = g_strconcat("folder:", p, NULL);
            ts_dataset sub;
            if (ts_dataset_load(&sub, spec, 0) != TS_OK) {
                g_ptr_array_add(problems, g_strdup(ts_last_error()));
            } else if (sub.n_rows == 0) {
                g_ptr_array_add(problems, g_strdup_printf(_("%s: no images (.jpg, .jpeg, .png) in this folder"), p));
            } else {
                for (int r = 0; r < sub.n_rows; r++) ds_append(ds, sub.paths[r]);
            }
            ts_dataset_clear(&sub);
            g_free(spec);
        } else if (g_file_test(p, G_FILE_TEST_IS_REGULAR)) {
            ds_append(ds, p);
        } else {
            g_ptr_array_add(problems, g_strdup_printf(_("%s: no such image or folder"), p));
        }
    }
}

/* "a: x · b: y · c: z · d: w" -> "a: x · b: y\nc: z · d: w": the labels of
 * a row on two lines of about equal length (rows do not wrap). */
static void two_lines(GString *text)
{
    const char *sep = " · ";
    size_t half = text->len / 2, best = 0, best_d = G_MAXSIZE;
    for (const char *p = strstr(text->str, sep); p; p = strstr(p + 1, sep)) {
        size_t at = (size_t)(p - text->str), d = at > half ? at - half : half - at;
        if (d < best_d) best_d = d, best = at;
    }
    if (best_d == G_MAXSIZE || text->len < 40) return;
    g_string_erase(text, (gssize)best, (gssize)strlen(sep));
    g_string_insert_c(text, (gssize)best, '\n');
}

static void open_worker(GTask *task, gpointer source, gpointer data, GCancellable *cancel)
{
    (void)source, (void)cancel;
    OpenReq *req = data;
    OpenResult *r = g_new0(OpenResult, 1);
    r->src = g_atomic_rc_box_new0(TsFaceSource);
    r->problems = g_ptr_array_new_with_free_func(g_free);
    ts_dataset *ds = &r->src->ds;
    if (req->spec) {
        if (ts_dataset_load(ds, req->spec, req->limit) != TS_OK) {
            /* The loader's message names the file; say which spec it was. */
            char *msg = g_strdup_printf(_("Could not open %s: %s"), req->spec, ts_last_error());
            open_result_free(r);
            g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", msg);
            g_free(msg);
            return;
        }
        for (int w = 0; w < ds->n_warnings; w++) g_ptr_array_add(r->problems, g_strdup(ds->warnings[w]));
        r->n_problems = ds->n_warnings_total;
    } else {
        ts_dataset_init(ds);
        open_paths_into(ds, req->paths, r->problems);
        r->n_problems = (int)r->problems->len;
    }
    /* Items are made here: for 10,000 rows the label texts add up. */
    r->items = g_ptr_array_new_full((guint)ds->n_rows, g_object_unref);
    int *labels = g_new(int, ds->n_traits + 1);
    GString *text = g_string_new(NULL);
    for (int i = 0; i < ds->n_rows; i++) {
        g_string_truncate(text, 0);
        for (int t = 0; t < ds->n_traits; t++) {
            const ts_trait *tr = &ds->traits[t];
            labels[t] = tr->labels[i];
            if (labels[t] < 0) continue;
            if (text->len) g_string_append(text, " · ");
            g_string_append_printf(text, "%s: %s", tr->name, tr->classes[labels[t]]);
        }
        two_lines(text);
        g_ptr_array_add(r->items, ts_face_item_new(ds->paths[i], i, labels, ds->n_traits, text->str));
    }
    g_string_free(text, TRUE);
    g_free(labels);
    g_task_return_pointer(task, r, open_result_free);
}

static void open_done(GObject *obj, GAsyncResult *res, gpointer data)
{
    (void)data;
    TsFaceList *l = TS_FACE_LIST(obj);
    OpenReq *req = g_task_get_task_data(G_TASK(res));
    GError *err = NULL;
    OpenResult *r = g_task_propagate_pointer(G_TASK(res), &err);
    if (l->disposed || req->gen != l->gen) {
        g_clear_error(&err);
        open_result_free(r);
        return;
    }
    if (!r) {
        ts_face_list_report(l, err->message);
        g_error_free(err);
    } else {
        l->src = g_steal_pointer(&r->src);
        g_list_store_splice(l->store, 0, 0, r->items->pdata, r->items->len);
        if (r->problems->len > 0) {
            const char *first = r->problems->pdata[0];
            char *msg = r->n_problems > 1 ? g_strdup_printf(g_dngettext(NULL, "%s (and %d more problem)",
                                                                        "%s (and %d more problems)",
                                                                        r->n_problems - 1),
                                                            first, r->n_problems - 1)
                                          : g_strdup(first);
            ts_face_list_report(l, msg);
            g_free(msg);
        }
        open_result_free(r);
    }
    set_loading(l, FALSE);
    g_signal_emit(l, signals[SIG_OPENED], 0);
}

static void open_start(TsFaceList *l, OpenReq *req)
{
    if (l->load_cancel) g_cancellable_cancel(l->load_cancel);
    g_clear_object(&l->load_cancel);
    l->load_cancel = g_cancellable_new();
    req->gen = ++l->gen;
    thumb_lru_clear(l);
    ts_face_source_unref(l->src);
    l->src = NULL;
    l->file_errors = 0;
    if (l->error) {
        g_clear_pointer(&l->error, g_free);
        g_object_notify_by_pspec(G_OBJECT(l), props[PROP_ERROR]);
    }
    /* "loading" first: whoever works on the old items stops before they go */
    set_loading(l, TRUE);
    g_list_store_remove_all(l->store);
    GTask *task = g_task_new(l, l->load_cancel, open_done, NULL);
    g_task_set_task_data(task, req, open_req_free);
    g_task_run_in_thread(task, open_worker);
    g_object_unref(task);
}

void ts_face_list_open_spec(TsFaceList *l, const char *spec, int limit)
{
    g_return_if_fail(TS_IS_FACE_LIST(l) && spec);
    OpenReq *req = g_new0(OpenReq, 1);
    req->spec = g_strdup(spec);
    req->limit = limit;
    open_start(l, req);
}

void ts_face_list_open_paths(TsFaceList *l, const char *const *paths, int n)
{
    g_return_if_fail(TS_IS_FACE_LIST(l));
    OpenReq *req = g_new0(OpenReq, 1);
    req->paths = g_new0(char *, n + 1);
    for (int i = 0; i < n; i++) req->paths[i] = g_strdup(paths[i]);
    open_start(l, req);
}

GListModel *ts_face_list_get_items(TsFaceList *l) { return G_LIST_MODEL(l->store); }
TsFaceSource *ts_face_list_get_source(TsFaceList *l) { return l->src; }
const ts_dataset *ts_face_list_get_dataset(TsFaceList *l) { return l->src ? &l->src->ds : NULL; }
gboolean ts_face_list_is_loading(TsFaceList *l) { return l->loading; }
const char *ts_face_list_get_error(TsFaceList *l) { return l->error; }

/* ---- GObject ---- */

static void get_property(GObject *o, guint id, GValue *v, GParamSpec *ps)
{
    TsFaceList *l = TS_FACE_LIST(o);
    switch (id) {
    case PROP_LOADING: g_value_set_boolean(v, l->loading); break;
    case PROP_ERROR: g_value_set_string(v, l->error); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps);
    }
}

static void dispose(GObject *o)
{
    TsFaceList *l = TS_FACE_LIST(o);
    l->disposed = TRUE;
    if (l->load_cancel) g_cancellable_cancel(l->load_cancel);
    g_clear_object(&l->load_cancel);
    if (l->thumbs) {
        /* queued requests are dropped (freed); running ones finish */
        g_thread_pool_free(l->thumbs, TRUE, TRUE);
        l->thumbs = NULL;
    }
    thumb_lru_clear(l);
    g_clear_object(&l->store);
    ts_face_source_unref(l->src);
    l->src = NULL;
    G_OBJECT_CLASS(ts_face_list_parent_class)->dispose(o);
}

static void finalize(GObject *o)
{
    g_free(TS_FACE_LIST(o)->error);
    G_OBJECT_CLASS(ts_face_list_parent_class)->finalize(o);
}

static void ts_face_list_class_init(TsFaceListClass *k)
{
    GObjectClass *oc = G_OBJECT_CLASS(k);
    oc->get_property = get_property;
    oc->dispose = dispose;
    oc->finalize = finalize;
    props[PROP_LOADING] = g_param_spec_boolean("loading", NULL, NULL, FALSE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    props[PROP_ERROR] = g_param_spec_string("error", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    g_object_class_install_properties(oc, N_PROPS, props);
    signals[SIG_ERROR] = g_signal_new("error", G_TYPE_FROM_CLASS(k), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                      G_TYPE_NONE, 1, G_TYPE_STRING);
    signals[SIG_OPENED] = g_signal_new("opened", G_TYPE_FROM_CLASS(k), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                       G_TYPE_NONE, 0);
}

static void ts_face_list_init(TsFaceList *l)
{
    l->store = g_list_store_new(TS_TYPE_FACE_ITEM);
    /* Exclusive threads: they lower their priority, which a thread shared
     * with other pools (GTask's) would carry into their work. */
    l->thumbs = g_thread_pool_new_full(thumb_work, NULL, thumb_task_free, THUMB_THREADS, TRUE, NULL);
    g_thread_pool_set_sort_function(l->thumbs, thumb_cmp, NULL);
}

TsFaceList *ts_face_list_new(void) { return g_object_new(TS_TYPE_FACE_LIST, NULL); }
