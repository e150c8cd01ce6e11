/* ts-browser.c - the face browser; see ts-browser.h for what it shows and
 * its threads.
 *
 * Invariants:
 *   - store position == source row: items are appended in row order, one
 *     per dataset row (or listed file), so a worker's row index finds its
 *     item directly;
 *   - workers never touch widgets or items' published state: results go to
 *     the main loop (as idle sources, never run inline) tagged with the generation of
 *     the source (source_gen) or of the prediction job (pred_gen) they
 *     belong to, and stale ones are dropped;
 *   - a Source (the loaded ts_dataset) is immutable once published and
 *     reference counted, so a prediction job that outlives it is safe;
 *   - thumbnails: state 0 none, 1 queued, 2 loaded, 3 failed; only bound
 *     (visible) items are decoded; at most THUMB_CACHE textures are kept,
 *     the least recently loaded unbound ones are dropped first.
 */
#include "ts-browser.h"

#include <glib/gi18n.h>
#include <math.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "data/dataset.h"
#include "face/image.h"
#include "nn/model.h"
#include "train/cache.h"
#include "train/eval.h"
#include "train/faceset.h"
#include "train/sample.h"
#include "ts-face-item.h"

#define THUMB_SIZE 96        /* texture side (shown at 64 logical pixels) */
#define THUMB_SHOWN 64
#define THUMB_CACHE 3000     /* textures kept */
#define THUMB_THREADS 2
#define THUMB_MAX_PIXELS (64L << 20)
#define PRED_CHUNK 16        /* faces per published prediction chunk */
#define MAX_FILE_ERRORS 20   /* per-file errors signalled per source */

/* ---- the loaded source, shared read-only with workers ---- */

typedef struct Source {
    ts_dataset ds;
} Source;

static void source_clear(gpointer p) { ts_dataset_clear(&((Source *)p)->ds); }
static Source *source_ref(Source *s) { return s ? g_atomic_rc_box_acquire(s) : NULL; }
static void source_unref(Source *s)
{
    if (s) g_atomic_rc_box_release_full(s, source_clear);
}

/* ---- a prediction job: one worker thread ---- */

typedef struct PredJob {
    gint ref;        /* atomic */
    gint cancelled;  /* atomic */
    gint hint;       /* atomic: the row to continue from (top of the view) */
    guint gen;
    Source *src;
    char *model_path[TS_FACE_ITEM_MODELS];
    ts_device device;   /* where its networks run (its own backend context) */
    GWeakRef browser;   /* weak: a job never keeps the browser alive; the
                         * browser's dispose cancels and joins it */
    GThread *thread;    /* joined by the main thread (job_reap) */
    gboolean joined;    /* main thread only */
} PredJob;

static PredJob *job_ref(PredJob *j)
{
    g_atomic_int_inc(&j->ref);
    return j;
}

static void job_unref(PredJob *j)
{
    if (!j || !g_atomic_int_dec_and_test(&j->ref)) return;
    source_unref(j->src);
    for (int m = 0; m < TS_FACE_ITEM_MODELS; m++) g_free(j->model_path[m]);
    g_weak_ref_clear(&j->browser);
    g_free(j);
}

struct _TsBrowser {
    GtkWidget parent;
    /* template */
    GtkWidget *filter_box, *scroller;
    GtkDropDown *trait_dropdown, *value_dropdown, *agree_dropdown;
    GtkLabel *count_label, *error_label;
    GtkProgressBar *progress;
    GtkListView *list;

    GListStore *store;
    GtkCustomFilter *filter;
    GtkFilterListModel *filtered;
    GtkMultiSelection *selection;
    GtkStringList *trait_names, *value_names;

    /* source */
    Source *src;
    guint source_gen;
    GCancellable *load_cancel;
    gboolean loading;
    int file_errors;

    /* thumbnails */
    GThreadPool *thumbs;
    guint64 thumb_seq;
    GQueue thumb_lru; /* TsFaceItem (ref) holding a texture, oldest first */

    /* predictions */
    char *model_path[TS_FACE_ITEM_MODELS];
    ts_device device;         /* where the jobs' networks run */
    PredJob *job;             /* the current one */
    GPtrArray *jobs;          /* PredJob (ref) whose threads are not joined yet */
    guint pred_gen;
    gboolean predicting;
    int n_done, n_total;
    char **model_classes[TS_FACE_ITEM_MODELS];
    char *model_name[TS_FACE_ITEM_MODELS];
    int model_trait[TS_FACE_ITEM_MODELS];  /* dataset trait index, -1 */
    int *class_map[TS_FACE_ITEM_MODELS];   /* model class -> dataset class, -1 */
    guint refilter_id;

    /* filters and selection */
    int filter_trait, filter_value; /* -1: any */
    TsAgreement agree;
    gboolean syncing_dropdowns;
    char *last_activated;
    char *error;
    gboolean disposed;
};

G_DEFINE_FINAL_TYPE(TsBrowser, ts_browser, GTK_TYPE_WIDGET)

enum { PROP_0, PROP_BUSY, PROP_PROGRESS, PROP_ERROR, N_PROPS };
static GParamSpec *props[N_PROPS];
enum { SIG_FACE_ACTIVATED, SIG_ERROR, SIG_PREDICTIONS_DONE, N_SIGNALS };
static guint signals[N_SIGNALS];

/* ---- small helpers ---- */

/* Background work yields to the main loop: the calling thread (and the
 * threads it starts later, which inherit it) runs at a lower priority.
 * Linux keeps a nice value per thread; elsewhere this is a no-op. */
static void lower_thread_priority(void)
{
#ifdef SYS_gettid
    static const int nice_value = 10;
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice_value) != 0) {
        /* not fatal: the work just competes with the UI at equal priority */
    }
#endif
}

static void post_error(TsBrowser *b, const char *raw)
{
    /* messages name files, whose names need not be UTF-8; labels (Pango)
     * and the "error" signal's listeners get valid UTF-8 */
    char *message = g_utf8_make_valid(raw, -1);
    g_free(b->error);
    b->error = g_strdup(message);
    gtk_label_set_text(b->error_label, message);
    gtk_widget_set_visible(GTK_WIDGET(b->error_label), TRUE);
    g_object_notify_by_pspec(G_OBJECT(b), props[PROP_ERROR]);
    g_signal_emit(b, signals[SIG_ERROR], 0, message);
    g_free(message);
}

static void clear_error(TsBrowser *b)
{
    gtk_widget_set_visible(GTK_WIDGET(b->error_label), FALSE);
    if (!b->error) return;
    g_clear_pointer(&b->error, g_free);
    g_object_notify_by_pspec(G_OBJECT(b), props[PROP_ERROR]);
}

/* A row whose image could not be read says so where predictions go. */
static void failed_markup(TsFaceItem *it)
{
    if (!ts_face_item_get_error(it) || ts_face_item_get_prediction(it, 0, NULL, NULL, NULL) ||
        ts_face_item_get_prediction(it, 1, NULL, NULL, NULL))
        return;
    char *m = g_markup_printf_escaped("<span foreground=\"#c01c28\">⚠ %s</span>", _("could not be read"));
    ts_face_item_set_predictions_markup(it, m);
    g_free(m);
}

/* An image that could not be read or predicted: on its row, and signalled
 * (the first MAX_FILE_ERRORS of a source). */
static void item_failed(TsBrowser *b, TsFaceItem *it, const char *message)
{
    if (ts_face_item_get_error(it)) return; /* already said */
    ts_face_item_set_error(it, message);
    failed_markup(it);
    if (b->file_errors++ < MAX_FILE_ERRORS) post_error(b, message);
}

static void update_busy(TsBrowser *b)
{
    g_object_notify_by_pspec(G_OBJECT(b), props[PROP_BUSY]);
}

static void update_count(TsBrowser *b)
{
    guint n = g_list_model_get_n_items(G_LIST_MODEL(b->filtered));
    guint total = g_list_model_get_n_items(G_LIST_MODEL(b->store));
    char *text;
    if (total == 0 && !b->loading) text = g_strdup(_("No faces"));
    else if (b->loading) text = g_strdup(_("Loading…"));
    /* TRANSLATORS: "12 of 40 faces" shown, after the filters */
    else text = g_strdup_printf(g_dngettext(NULL, "%u of %u face", "%u of %u faces", total), n, total);
    gtk_label_set_text(b->count_label, text);
    g_free(text);
}

static void update_progress(TsBrowser *b)
{
    gtk_widget_set_visible(GTK_WIDGET(b->progress), b->predicting);
    if (!b->predicting) return;
    double f = b->n_total > 0 ? (double)b->n_done / b->n_total : 0;
    gtk_progress_bar_set_fraction(b->progress, f);
    /* TRANSLATORS: prediction progress, "120 / 10000" faces */
    char *text = g_strdup_printf(_("Predicting %d / %d"), b->n_done, b->n_total);
    gtk_progress_bar_set_text(b->progress, text);
    g_free(text);
    g_object_notify_by_pspec(G_OBJECT(b), props[PROP_PROGRESS]);
}

/* ---- filters ---- */

static gboolean filter_func(gpointer item, gpointer data)
{
    TsBrowser *b = data;
    TsFaceItem *it = item;
    if (b->filter_trait >= 0 && b->filter_value >= 0 && ts_face_item_get_label(it, b->filter_trait) != b->filter_value)
        return FALSE;
    int a = ts_face_item_get_correct(it, 0), c = ts_face_item_get_correct(it, 1);
    switch (b->agree) {
    case TS_AGREE_ALL: return TRUE;
    case TS_AGREE_A_WRONG_B_RIGHT: return a == 0 && c == 1;
    case TS_AGREE_A_RIGHT_B_WRONG: return a == 1 && c == 0;
    case TS_AGREE_BOTH_WRONG: return a == 0 && c == 0;
    }
    return TRUE;
}

static void refilter(TsBrowser *b)
{
    if (b->refilter_id) {
        g_source_remove(b->refilter_id);
        b->refilter_id = 0;
    }
    gtk_filter_changed(GTK_FILTER(b->filter), GTK_FILTER_CHANGE_DIFFERENT);
}

static gboolean refilter_timeout(gpointer data)
{
    TsBrowser *b = data;
    b->refilter_id = 0;
    refilter(b);
    return G_SOURCE_REMOVE;
}

/* Predictions change what the agreement filter lets through; re-running it
 * for every chunk would redo thousands of rows each time, so at most a few
 * times a second. */
static void refilter_soon(TsBrowser *b)
{
    if (b->agree == TS_AGREE_ALL || b->refilter_id) return;
    b->refilter_id = g_timeout_add(300, refilter_timeout, b);
}

static void fill_values(TsBrowser *b)
{
    b->syncing_dropdowns = TRUE;
    guint old = g_list_model_get_n_items(G_LIST_MODEL(b->value_names));
    const ts_trait *t = b->src && b->filter_trait >= 0 ? &b->src->ds.traits[b->filter_trait] : NULL;
    GPtrArray *v = g_ptr_array_new();
    g_ptr_array_add(v, (gpointer)_("Any value"));
    for (int c = 0; t && c < t->n_classes; c++) g_ptr_array_add(v, t->classes[c]);
    g_ptr_array_add(v, NULL);
    gtk_string_list_splice(b->value_names, 0, old, (const char *const *)v->pdata);
    g_ptr_array_free(v, TRUE);
    gtk_drop_down_set_selected(b->value_dropdown, b->filter_value >= 0 ? (guint)b->filter_value + 1 : 0);
    gtk_widget_set_sensitive(GTK_WIDGET(b->value_dropdown), t != NULL);
    b->syncing_dropdowns = FALSE;
}

static void fill_traits(TsBrowser *b)
{
    b->syncing_dropdowns = TRUE;
    guint old = g_list_model_get_n_items(G_LIST_MODEL(b->trait_names));
    GPtrArray *v = g_ptr_array_new();
    g_ptr_array_add(v, (gpointer)_("Any trait"));
    for (int t = 0; b->src && t < b->src->ds.n_traits; t++) g_ptr_array_add(v, b->src->ds.traits[t].name);
    g_ptr_array_add(v, NULL);
    gtk_string_list_splice(b->trait_names, 0, old, (const char *const *)v->pdata);
    g_ptr_array_free(v, TRUE);
    gtk_drop_down_set_selected(b->trait_dropdown, b->filter_trait >= 0 ? (guint)b->filter_trait + 1 : 0);
    gtk_widget_set_sensitive(GTK_WIDGET(b->trait_dropdown), b->src && b->src->ds.n_traits > 0);
    b->syncing_dropdowns = FALSE;
    fill_values(b);
}

static void on_trait_selected(GtkDropDown *dd, GParamSpec *ps, TsBrowser *b)
{
    (void)ps;
    if (b->syncing_dropdowns) return;
    guint i = gtk_drop_down_get_selected(dd);
    b->filter_trait = i == GTK_INVALID_LIST_POSITION || i == 0 ? -1 : (int)i - 1;
    b->filter_value = -1;
    fill_values(b);
    refilter(b);
}

static void on_value_selected(GtkDropDown *dd, GParamSpec *ps, TsBrowser *b)
{
    (void)ps;
    if (b->syncing_dropdowns) return;
    guint i = gtk_drop_down_get_selected(dd);
    b->filter_value = i == GTK_INVALID_LIST_POSITION || i == 0 ? -1 : (int)i - 1;
    refilter(b);
}

static void on_agree_selected(GtkDropDown *dd, GParamSpec *ps, TsBrowser *b)
{
    (void)ps;
    if (b->syncing_dropdowns) return;
    guint i = gtk_drop_down_get_selected(dd);
    b->agree = i <= TS_AGREE_BOTH_WRONG ? (TsAgreement)i : TS_AGREE_ALL;
    refilter(b);
}

void ts_browser_set_device(TsBrowser *b, ts_device device)
{
    g_return_if_fail(TS_IS_BROWSER(b));
    b->device = device; /* the next prediction job's */
}

gboolean ts_browser_set_trait_filter(TsBrowser *b, const char *trait, const char *value)
{
    g_return_val_if_fail(TS_IS_BROWSER(b), FALSE);
    int t = -1, v = -1;
    if (trait && value) {
        t = b->src ? ts_dataset_trait_index(&b->src->ds, trait) : -1;
        if (t < 0) return FALSE;
        const ts_trait *tr = &b->src->ds.traits[t];
        for (int c = 0; c < tr->n_classes; c++)
            if (!strcmp(tr->classes[c], value)) v = c;
        if (v < 0) return FALSE;
    }
    b->filter_trait = t;
    b->filter_value = v;
    fill_traits(b);
    refilter(b);
    return TRUE;
}

void ts_browser_set_agreement_filter(TsBrowser *b, TsAgreement a)
{
    g_return_if_fail(TS_IS_BROWSER(b));
    b->agree = a;
    b->syncing_dropdowns = TRUE;
    gtk_drop_down_set_selected(b->agree_dropdown, (guint)a);
    b->syncing_dropdowns = FALSE;
    refilter(b);
}

/* ---- thumbnails ---- */

typedef struct ThumbTask {
    GWeakRef browser;   /* weak, like a prediction job's */
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
    g_weak_ref_clear(&t->browser);
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

static void thumb_evict(TsBrowser *b)
{
    guint tries = b->thumb_lru.length;
    while (b->thumb_lru.length > THUMB_CACHE && tries-- > 0) {
        TsFaceItem *it = g_queue_pop_head(&b->thumb_lru);
        if (ts_face_item_is_bound(it)) { /* on screen: keep, look further */
            g_queue_push_tail(&b->thumb_lru, it);
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
    TsBrowser *b = g_weak_ref_get(&t->browser);
    if (!b) return G_SOURCE_REMOVE;
    if (b->disposed || t->gen != b->source_gen) {
        g_object_unref(b);
        return G_SOURCE_REMOVE;
    }
    if (t->skipped) {
        ts_face_item_set_thumb_state(t->item, 0); /* asked again when bound again */
    } else if (t->error) {
        ts_face_item_set_thumb_state(t->item, 3);
        item_failed(b, t->item, t->error);
    } else {
        GdkTexture *tex = gdk_memory_texture_new(t->w, t->h, GDK_MEMORY_R8G8B8, t->pixels, (gsize)t->w * 3);
        ts_face_item_set_thumbnail(t->item, GDK_PAINTABLE(tex));
        g_object_unref(tex);
        ts_face_item_set_thumb_state(t->item, 2);
        g_queue_push_tail(&b->thumb_lru, g_object_ref(t->item));
        thumb_evict(b);
    }
    g_object_unref(b);
    return G_SOURCE_REMOVE;
}

static void thumb_work(gpointer data, gpointer user)
{
    (void)user;
    ThumbTask *t = data;
    static GPrivate lowered;
    if (!g_private_get(&lowered)) { /* once per pool thread */
        lower_thread_priority();
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
    /* an idle, not g_main_context_invoke: that runs the callback right here,
     * on this worker, whenever the main context happens to be free */
    g_idle_add_full(G_PRIORITY_DEFAULT_IDLE, thumb_done, t, thumb_task_free);
}

static void thumb_request(TsBrowser *b, TsFaceItem *it)
{
    if (ts_face_item_get_thumb_state(it) != 0 || !b->thumbs) return;
    ts_face_item_set_thumb_state(it, 1);
    ThumbTask *t = g_new0(ThumbTask, 1);
    g_weak_ref_init(&t->browser, b);
    t->item = g_object_ref(it);
    t->gen = b->source_gen;
    t->seq = ++b->thumb_seq;
    g_thread_pool_push(b->thumbs, t, NULL);
}

static void thumb_lru_clear(TsBrowser *b)
{
    TsFaceItem *it;
    while ((it = g_queue_pop_head(&b->thumb_lru))) g_object_unref(it);
}

/* ---- rows ---- */

static void row_setup(GtkSignalListItemFactory *f, GtkListItem *li, gpointer data)
{
    (void)f, (void)data;
    GtkWidget *row = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 8);
    gtk_widget_set_margin_start(row, 4);
    gtk_widget_set_margin_end(row, 4);
    gtk_widget_set_margin_top(row, 2);
    gtk_widget_set_margin_bottom(row, 2);
    /* GtkImage draws the (larger) texture at THUMB_SHOWN pixels, aspect kept */
    GtkWidget *pic = gtk_image_new();
    gtk_image_set_pixel_size(GTK_IMAGE(pic), THUMB_SHOWN);
    gtk_widget_set_valign(pic, GTK_ALIGN_CENTER);
    gtk_box_append(GTK_BOX(row), pic);
    GtkWidget *col = gtk_box_new(GTK_ORIENTATION_VERTICAL, 1);
    gtk_widget_set_valign(col, GTK_ALIGN_CENTER);
    gtk_widget_set_hexpand(col, TRUE);
    /* file name, labels, then one line per model */
    GtkWidget *lab[2 + TS_FACE_ITEM_MODELS];
    for (int i = 0; i < 2 + TS_FACE_ITEM_MODELS; i++) {
        GtkWidget *l = lab[i] = gtk_label_new(NULL);
        gtk_label_set_xalign(GTK_LABEL(l), 0);
        gtk_widget_set_halign(l, GTK_ALIGN_START);
        if (i == 0) {
            gtk_label_set_ellipsize(GTK_LABEL(l), PANGO_ELLIPSIZE_MIDDLE);
            gtk_widget_add_css_class(l, "heading");
        } else {
            /* No wrapping: a wrapped label makes every row measure its
             * height for its width, which stalls GtkListView for most of a
             * second on thousands of rows.  Lines are broken beforehand
             * (face_item labels text) and ellipsized; the tooltip has all. */
            gtk_label_set_ellipsize(GTK_LABEL(l), PANGO_ELLIPSIZE_END);
            gtk_widget_add_css_class(l, "ts-thumb-label");
        }
        gtk_box_append(GTK_BOX(col), l);
    }
    gtk_box_append(GTK_BOX(row), col);
    gtk_list_item_set_child(li, row);
}

static GtkWidget *row_child(GtkListItem *li, int which)
{
    GtkWidget *row = gtk_list_item_get_child(li);
    GtkWidget *pic = gtk_widget_get_first_child(row);
    if (which == 0) return pic;
    GtkWidget *l = gtk_widget_get_first_child(gtk_widget_get_next_sibling(pic));
    for (int i = 1; i < which; i++) l = gtk_widget_get_next_sibling(l);
    return l;
}

/* One line per model: "baseline: female 93% ✓", coloured by CSS class
 * (ts-right / ts-wrong) so a selected row can recolour it; or why the
 * image could not be read. */
static void row_update_predictions(TsBrowser *b, GtkListItem *li, TsFaceItem *it)
{
    for (int m = 0; m < TS_FACE_ITEM_MODELS; m++) {
        GtkWidget *l = row_child(li, 3 + m);
        const float *p;
        int k, c;
        char *text = NULL;
        int ok = -1;
        if (ts_face_item_get_prediction(it, m, &p, &k, &c)) {
            ok = ts_face_item_get_correct(it, m);
            const char *cls = b->model_classes[m] && c < (int)g_strv_length(b->model_classes[m]) ? b->model_classes[m][c] : "?";
            /* TRANSLATORS: a model's prediction: "baseline: female 93%" */
            text = g_strdup_printf(_("%s: %s %.0f%%"), b->model_name[m] ? b->model_name[m] : "?", cls, 100.0 * p[c]);
            if (ok >= 0) {
                char *t = g_strconcat(text, ok ? " ✓" : " ✗", NULL);
                g_free(text);
                text = t;
            }
        } else if (m == 0 && ts_face_item_get_error(it)) {
            text = g_strdup_printf("⚠ %s", _("could not be read"));
            ok = 0;
        }
        gtk_label_set_text(GTK_LABEL(l), text ? text : "");
        gtk_widget_set_visible(l, text != NULL);
        if (ok == 1) gtk_widget_add_css_class(l, "ts-right");
        else gtk_widget_remove_css_class(l, "ts-right");
        if (ok == 0) gtk_widget_add_css_class(l, "ts-wrong");
        else gtk_widget_remove_css_class(l, "ts-wrong");
        g_free(text);
    }
}

static void row_predictions_changed(TsFaceItem *it, GParamSpec *ps, GtkListItem *li)
{
    (void)ps;
    row_update_predictions(g_object_get_data(G_OBJECT(li), "ts-browser"), li, it);
}

static void row_bind(GtkSignalListItemFactory *f, GtkListItem *li, gpointer data)
{
    (void)f;
    TsBrowser *b = data;
    TsFaceItem *it = gtk_list_item_get_item(li);
    GtkWidget *row = gtk_list_item_get_child(li);
    GBinding *bind[4];
    bind[0] = g_object_bind_property(it, "thumbnail", row_child(li, 0), "paintable", G_BINDING_SYNC_CREATE);
    bind[1] = g_object_bind_property(it, "title", row_child(li, 1), "label", G_BINDING_SYNC_CREATE);
    bind[2] = g_object_bind_property(it, "subtitle", row_child(li, 2), "label", G_BINDING_SYNC_CREATE);
    bind[3] = g_object_bind_property(it, "tooltip", row, "tooltip-text", G_BINDING_SYNC_CREATE);
    GPtrArray *held = g_ptr_array_new_full(4, g_object_unref);
    for (int i = 0; i < 4; i++) g_ptr_array_add(held, g_object_ref(bind[i]));
    g_object_set_data_full(G_OBJECT(li), "ts-bindings", held, (GDestroyNotify)g_ptr_array_unref);
    g_object_set_data(G_OBJECT(li), "ts-browser", b);
    gulong id = g_signal_connect(it, "notify::predictions", G_CALLBACK(row_predictions_changed), li);
    g_object_set_data(G_OBJECT(li), "ts-notify", GSIZE_TO_POINTER(id));
    row_update_predictions(b, li, it);
    gtk_widget_set_visible(row_child(li, 2), ts_face_item_get_labels_text(it)[0] != '\0');
    gtk_accessible_update_property(GTK_ACCESSIBLE(row), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                   ts_face_item_get_name(it), -1);
    ts_face_item_bound(it, TRUE);
    thumb_request(b, it);
}

static void row_unbind(GtkSignalListItemFactory *f, GtkListItem *li, gpointer data)
{
    (void)f, (void)data;
    GPtrArray *held = g_object_get_data(G_OBJECT(li), "ts-bindings");
    for (guint i = 0; held && i < held->len; i++) g_binding_unbind(held->pdata[i]);
    g_object_set_data(G_OBJECT(li), "ts-bindings", NULL);
    TsFaceItem *it = gtk_list_item_get_item(li);
    if (!it) return;
    gulong id = GPOINTER_TO_SIZE(g_object_get_data(G_OBJECT(li), "ts-notify"));
    if (id) g_signal_handler_disconnect(it, id);
    g_object_set_data(G_OBJECT(li), "ts-notify", NULL);
    ts_face_item_bound(it, FALSE);
}

/* ---- predictions: the worker ---- */

typedef enum { MSG_MODELS, MSG_CHUNK, MSG_ERROR, MSG_DONE } MsgKind;

typedef struct Msg {
    MsgKind kind;
    PredJob *job; /* ref */
    /* MSG_MODELS */
    char **classes[TS_FACE_ITEM_MODELS];
    char *trait[TS_FACE_ITEM_MODELS];
    int channels[TS_FACE_ITEM_MODELS];
    /* MSG_CHUNK */
    int n;
    int rows[PRED_CHUNK];
    int k[TS_FACE_ITEM_MODELS];
    float *probs[TS_FACE_ITEM_MODELS]; /* n*k, NaN where a row failed */
    char *row_error[PRED_CHUNK];
    /* MSG_ERROR */
    char *text;
} Msg;

static void msg_free(gpointer p)
{
    Msg *m = p;
    for (int i = 0; i < TS_FACE_ITEM_MODELS; i++) {
        g_strfreev(m->classes[i]);
        g_free(m->trait[i]);
        g_free(m->probs[i]);
    }
    for (int i = 0; i < PRED_CHUNK; i++) g_free(m->row_error[i]);
    g_free(m->text);
    job_unref(m->job);
    g_free(m);
}

static gboolean msg_handle(gpointer data);

static void post(PredJob *j, Msg *m)
{
    m->job = job_ref(j);
    g_idle_add_full(G_PRIORITY_DEFAULT, msg_handle, m, msg_free); /* never inline: see thumb_done's post */
}

static void post_text(PredJob *j, const char *text)
{
    Msg *m = g_new0(Msg, 1);
    m->kind = MSG_ERROR;
    m->text = g_strdup(text);
    post(j, m);
}

/* How faces are prepared for one or more models: the side of the base, the
 * alignment, and whether landmarks (the cache) are needed. */
typedef struct Prep {
    int size;
    ts_alignment align;
    gboolean landmarks;
    ts_lmcache *cache;
} Prep;

/* One face as the training loader makes it (faceset.c): landmarks from the
 * cache when needed, then the base at the model's size. */
static ts_status prep_face(Prep *p, const char *path, ts_image *base, ts_points *pts)
{
    ts_image img = { 0 };
    ts_lm_entry e = { 0 };
    ts_status st = p->cache ? ts_lmcache_get(p->cache, path, &e, &img, NULL) : ts_image_load(path, &img);
    if (st == TS_OK) st = ts_sample_base(&img, p->cache ? &e.pts : NULL, p->align, p->size, base, pts);
    if (st == TS_OK && !p->cache) pts->n = 0;
    ts_image_clear(&img);
    ts_lm_entry_clear(&e);
    return st == TS_OK ? st : ts_error_about(st, path); /* the message names the image */
}

static bool job_abort(void *user) { return g_atomic_int_get(&((PredJob *)user)->cancelled) != 0; }

static gpointer pred_thread(gpointer data)
{
    PredJob *j = data;
    lower_thread_priority();
    const ts_dataset *ds = &j->src->ds;
    ts_model *model[TS_FACE_ITEM_MODELS] = { 0 };
    /* the job's own context: the session's worker may use the GPU at the
     * same time, and a context serves one thread (backend.h) */
    const ts_backend *be;
    void *be_ctx;
    (void)ts_backend_select_or_cpu(j->device, &be, &be_ctx, NULL, 0);
    Msg *mm = g_new0(Msg, 1);
    mm->kind = MSG_MODELS;
    for (int i = 0; i < TS_FACE_ITEM_MODELS; i++) {
        if (!j->model_path[i] || !j->model_path[i][0]) continue;
        if (ts_model_load_any(j->model_path[i], &model[i]) != TS_OK) {
            char *t = g_strdup_printf(_("Model %s: %s"), j->model_path[i], ts_last_error());
            post_text(j, t);
            g_free(t);
            model[i] = NULL;
            continue;
        }
        model[i]->graph->training = false;
        if (be->device != TS_DEVICE_CPU && ts_graph_to_backend(model[i]->graph, be, be_ctx) != TS_OK) {
            char *t = g_strdup_printf(_("Model %s: %s"), j->model_path[i], ts_last_error());
            post_text(j, t);
            g_free(t);
            ts_model_free(model[i]);
            model[i] = NULL;
        }
    }
    /* Preparations: models with the same size and alignment share one. */
    Prep prep[TS_FACE_ITEM_MODELS] = { 0 };
    int uses[TS_FACE_ITEM_MODELS], n_prep = 0;
    for (int i = 0; i < TS_FACE_ITEM_MODELS; i++) {
        uses[i] = -1;
        if (!model[i]) continue;
        const ts_model_meta *me = &model[i]->meta;
        gboolean lm = me->in_channels == 4 || me->alignment != TS_ALIGN_NONE;
        int p = 0;
        while (p < n_prep && !(prep[p].size == me->in_size && prep[p].align == me->alignment)) p++;
        if (p == n_prep) {
            prep[p].size = me->in_size;
            prep[p].align = me->alignment;
            n_prep++;
        }
        prep[p].landmarks |= lm;
        uses[i] = p;
    }
    for (int p = 0; p < n_prep; p++) {
        if (!prep[p].landmarks) continue;
        ts_lmcache_policy pol = ts_lmcache_policy_for(ds->kind);
        if (ts_lmcache_open(NULL, &pol, prep[p].size, &prep[p].cache) != TS_OK) {
            char *t = g_strdup_printf(_("Landmarks for the LACNN model: %s"), ts_last_error());
            post_text(j, t);
            g_free(t);
            prep[p].cache = NULL;
            prep[p].landmarks = FALSE;
            for (int i = 0; i < TS_FACE_ITEM_MODELS; i++)
                if (uses[i] == p && (model[i]->meta.in_channels == 4 || model[i]->meta.alignment != TS_ALIGN_NONE)) {
                    ts_model_free(model[i]);
                    model[i] = NULL;
                    uses[i] = -1;
                }
        }
    }
    for (int i = 0; i < TS_FACE_ITEM_MODELS; i++) {
        if (!model[i]) continue;
        const ts_model_meta *me = &model[i]->meta;
        mm->classes[i] = g_new0(char *, me->n_classes + 1);
        for (int c = 0; c < me->n_classes; c++) mm->classes[i][c] = g_strdup(me->classes[c]);
        mm->trait[i] = g_strdup(me->trait ? me->trait : "");
        mm->channels[i] = me->in_channels;
    }
    post(j, mm);

    int n = ds->n_rows;
    guint8 *done = g_malloc0((size_t)n + 1);
    gboolean any = FALSE;
    for (int i = 0; i < TS_FACE_ITEM_MODELS; i++) any |= model[i] != NULL;
    int cursor = 0;
    while (any && !job_abort(j)) {
        /* The next rows not done, from the top of the view on. */
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
        for (int i = 0; i < TS_FACE_ITEM_MODELS; i++) {
            if (!model[i]) continue;
            m->k[i] = model[i]->meta.n_classes;
            m->probs[i] = g_new(float, (size_t)m->n * m->k[i]);
            for (size_t q = 0; q < (size_t)m->n * m->k[i]; q++) m->probs[i][q] = NAN;
        }
        for (int p = 0; p < n_prep && !job_abort(j); p++) {
            ts_faceset fs = { 0 };
            fs.size = prep[p].size;
            fs.align = prep[p].align;
            fs.landmarks = prep[p].landmarks;
            fs.base = calloc(PRED_CHUNK, sizeof *fs.base);
            fs.pts = calloc(PRED_CHUNK, sizeof *fs.pts);
            fs.rows = calloc(PRED_CHUNK, sizeof *fs.rows);
            int slot[PRED_CHUNK];
            for (int q = 0; fs.base && fs.pts && fs.rows && q < m->n && !job_abort(j); q++) {
                if (prep_face(&prep[p], ds->paths[m->rows[q]], &fs.base[fs.n], &fs.pts[fs.n]) != TS_OK) {
                    if (!m->row_error[q]) m->row_error[q] = g_strdup(ts_last_error());
                    continue;
                }
                fs.rows[fs.n] = m->rows[q];
                slot[fs.n++] = q;
            }
            for (int i = 0; i < TS_FACE_ITEM_MODELS && fs.n > 0; i++) {
                if (uses[i] != p) continue;
                int k = m->k[i];
                float *pr = g_new(float, (size_t)fs.n * k);
                if (ts_eval_predict(model[i], &fs, false, fs.n, pr, NULL, job_abort, j) == TS_OK) {
                    for (int f = 0; f < fs.n; f++)
                        memcpy(m->probs[i] + (size_t)slot[f] * k, pr + (size_t)f * k, sizeof(float) * k);
                } else if (!job_abort(j)) {
                    char *t = g_strdup_printf(_("Model %s: %s"), j->model_path[i], ts_last_error());
                    post_text(j, t);
                    g_free(t);
                }
                g_free(pr);
            }
            ts_faceset_clear(&fs);
        }
        post(j, m);
    }
    g_free(done);
    Msg *d = g_new0(Msg, 1);
    d->kind = MSG_DONE;
    post(j, d);
    for (int i = 0; i < TS_FACE_ITEM_MODELS; i++) ts_model_free(model[i]);
    ts_backend_close(be, be_ctx);
    for (int p = 0; p < n_prep; p++) ts_lmcache_free(prep[p].cache);
    job_unref(j);
    return NULL;
}

/* ---- predictions: the main-thread side ---- */

static void models_forget(TsBrowser *b)
{
    for (int i = 0; i < TS_FACE_ITEM_MODELS; i++) {
        g_clear_pointer(&b->model_classes[i], g_strfreev);
        g_clear_pointer(&b->model_name[i], g_free);
        g_clear_pointer(&b->class_map[i], g_free);
        b->model_trait[i] = -1;
    }
}

/* Maps each model's classes onto its trait's dataset classes, by name. */
static void models_map(TsBrowser *b, Msg *m)
{
    models_forget(b);
    for (int i = 0; i < TS_FACE_ITEM_MODELS; i++) {
        if (!m->classes[i]) continue;
        b->model_classes[i] = g_strdupv(m->classes[i]);
        const char *kind = m->channels[i] == 4 ? "LACNN" : _("baseline");
        b->model_name[i] = g_strdup(kind);
        int t = b->src ? ts_dataset_trait_index(&b->src->ds, m->trait[i]) : -1;
        if (t < 0) continue;
        const ts_trait *tr = &b->src->ds.traits[t];
        int k = (int)g_strv_length(m->classes[i]);
        b->model_trait[i] = t;
        b->class_map[i] = g_new(int, k);
        for (int c = 0; c < k; c++) {
            b->class_map[i][c] = -1;
            for (int d = 0; d < tr->n_classes; d++)
                if (!strcmp(tr->classes[d], m->classes[i][c])) b->class_map[i][c] = d;
        }
    }
    /* Two models of the same kind: tell them apart. */
    if (b->model_name[0] && b->model_name[1] && !strcmp(b->model_name[0], b->model_name[1]))
        for (int i = 0; i < TS_FACE_ITEM_MODELS; i++) {
            char *s = g_strdup_printf("%s %c", b->model_name[i], 'A' + i);
            g_free(b->model_name[i]);
            b->model_name[i] = s;
        }
}

static char *predictions_markup(TsBrowser *b, TsFaceItem *it)
{
    GString *s = g_string_new(NULL);
    for (int i = 0; i < TS_FACE_ITEM_MODELS; i++) {
        const float *p;
        int k, c;
        if (!ts_face_item_get_prediction(it, i, &p, &k, &c)) continue;
        int ok = ts_face_item_get_correct(it, i);
        const char *cls = b->model_classes[i] && c < (int)g_strv_length(b->model_classes[i]) ? b->model_classes[i][c] : "?";
        char *one;
        if (ok < 0)
            one = g_markup_printf_escaped("%s: %s %.0f%%", b->model_name[i], cls, 100.0 * p[c]);
        else
            one = g_markup_printf_escaped("<span foreground=\"%s\">%s: %s %.0f%% %s</span>",
                                          ok ? "#26a269" : "#c01c28", b->model_name[i], cls, 100.0 * p[c],
                                          ok ? "✓" : "✗");
        if (s->len) g_string_append(s, "\n");
        g_string_append(s, one);
        g_free(one);
    }
    return g_string_free(s, FALSE);
}

static void pred_finish(TsBrowser *b)
{
    if (!b->predicting) return;
    b->predicting = FALSE;
    update_progress(b);
    update_busy(b);
}

/* Joins a job's thread once it has said it is done (or, in dispose, after
 * cancelling it): no worker outlives the browser, so none is left running
 * when the process exits. */
static void job_reap(TsBrowser *b, PredJob *j)
{
    if (!j->joined) {
        g_thread_join(j->thread);
        j->joined = TRUE;
    }
    if (b->jobs) g_ptr_array_remove(b->jobs, j);
}

static void msg_dispatch(TsBrowser *b, Msg *m);

static gboolean msg_handle(gpointer data)
{
    Msg *m = data;
    TsBrowser *b = g_weak_ref_get(&m->job->browser);
    if (!b) return G_SOURCE_REMOVE;
    if (m->kind == MSG_DONE && !b->disposed) job_reap(b, m->job);
    if (!b->disposed && m->job == b->job && m->job->gen == b->pred_gen) msg_dispatch(b, m);
    g_object_unref(b);
    return G_SOURCE_REMOVE;
}

static void msg_dispatch(TsBrowser *b, Msg *m)
{
    switch (m->kind) {
    case MSG_ERROR:
        post_error(b, m->text);
        break;
    case MSG_MODELS:
        models_map(b, m);
        break;
    case MSG_CHUNK:
        for (int q = 0; q < m->n; q++) {
            TsFaceItem *it = g_list_model_get_item(G_LIST_MODEL(b->store), (guint)m->rows[q]);
            if (!it) continue;
            for (int i = 0; i < TS_FACE_ITEM_MODELS; i++) {
                if (!m->probs[i]) continue;
                const float *p = m->probs[i] + (size_t)q * m->k[i];
                if (isnan(p[0])) continue;
                int best = 0;
                for (int c = 1; c < m->k[i]; c++)
                    if (p[c] > p[best]) best = c;
                int correct = -1;
                if (b->class_map[i]) {
                    int label = ts_face_item_get_label(it, b->model_trait[i]);
                    if (label >= 0 && b->class_map[i][best] >= 0) correct = b->class_map[i][best] == label;
                }
                ts_face_item_set_prediction(it, i, p, m->k[i], correct);
            }
            char *mk = predictions_markup(b, it);
            if (mk[0]) ts_face_item_set_predictions_markup(it, mk);
            g_free(mk);
            if (m->row_error[q]) item_failed(b, it, m->row_error[q]);
            g_object_unref(it);
        }
        b->n_done += m->n;
        update_progress(b);
        refilter_soon(b);
        break;
    case MSG_DONE:
        /* the job holds the browser: let go of it now */
        g_clear_pointer(&b->job, job_unref);
        pred_finish(b);
        if (b->agree != TS_AGREE_ALL) refilter(b);
        g_signal_emit(b, signals[SIG_PREDICTIONS_DONE], 0);
        break;
    }
}

static void pred_cancel(TsBrowser *b)
{
    b->pred_gen++;
    if (b->job) {
        g_atomic_int_set(&b->job->cancelled, 1);
        g_clear_pointer(&b->job, job_unref);
    }
    pred_finish(b);
}

/* Starts predicting the current source with the current models (when
 * there are both). */
static void pred_start(TsBrowser *b)
{
    pred_cancel(b);
    models_forget(b);
    guint n = g_list_model_get_n_items(G_LIST_MODEL(b->store));
    for (guint i = 0; i < n; i++) {
        TsFaceItem *it = g_list_model_get_item(G_LIST_MODEL(b->store), i);
        ts_face_item_clear_predictions(it);
        failed_markup(it);
        g_object_unref(it);
    }
    b->n_done = b->n_total = 0;
    g_object_notify_by_pspec(G_OBJECT(b), props[PROP_PROGRESS]);
    gboolean any = FALSE;
    for (int i = 0; i < TS_FACE_ITEM_MODELS; i++) any |= b->model_path[i] && b->model_path[i][0];
    if (!b->src || b->src->ds.n_rows == 0 || !any) {
        refilter(b);
        return;
    }
    PredJob *j = g_new0(PredJob, 1);
    j->ref = 2; /* the browser's and the thread's */
    j->hint = -1;
    j->gen = b->pred_gen;
    j->src = source_ref(b->src);
    for (int i = 0; i < TS_FACE_ITEM_MODELS; i++) j->model_path[i] = g_strdup(b->model_path[i]);
    j->device = b->device;
    g_weak_ref_init(&j->browser, b);
    b->job = j;
    b->predicting = TRUE;
    b->n_done = 0;
    b->n_total = b->src->ds.n_rows;
    update_progress(b);
    update_busy(b);
    j->thread = g_thread_new("ts-browser-predict", pred_thread, j);
    g_ptr_array_add(b->jobs, job_ref(j));
    refilter(b);
}

void ts_browser_set_models(TsBrowser *b, const char *model_a, const char *model_b)
{
    g_return_if_fail(TS_IS_BROWSER(b));
    const char *v[TS_FACE_ITEM_MODELS] = { model_a, model_b };
    for (int i = 0; i < TS_FACE_ITEM_MODELS; i++) {
        g_free(b->model_path[i]);
        b->model_path[i] = v[i] && v[i][0] ? g_strdup(v[i]) : NULL;
    }
    if (!b->loading) pred_start(b);
}

/* Tells the worker where the user is looking: the top row of the view. */
static void on_scrolled(GtkAdjustment *adj, TsBrowser *b)
{
    if (!b->job) return;
    guint n = g_list_model_get_n_items(G_LIST_MODEL(b->filtered));
    double upper = gtk_adjustment_get_upper(adj);
    if (n == 0 || upper <= 0) return;
    guint pos = (guint)fmin(n - 1, floor(gtk_adjustment_get_value(adj) / upper * n));
    TsFaceItem *it = g_list_model_get_item(G_LIST_MODEL(b->filtered), pos);
    if (!it) return;
    g_atomic_int_set(&b->job->hint, ts_face_item_get_row(it));
    g_object_unref(it);
}

/* ---- sources ---- */

typedef struct OpenReq {
    char *spec;
    int limit;
    char **paths;
    guint gen;
} OpenReq;

typedef struct OpenResult {
    Source *src;
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
    source_unref(r->src);
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
    r->src = g_atomic_rc_box_new0(Source);
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

static void store_clear(TsBrowser *b)
{
    thumb_lru_clear(b);
    g_list_store_remove_all(b->store);
    source_unref(b->src);
    b->src = NULL;
    g_clear_pointer(&b->last_activated, g_free);
}

static void open_done(GObject *obj, GAsyncResult *res, gpointer data)
{
    (void)data;
    TsBrowser *b = TS_BROWSER(obj);
    OpenReq *req = g_task_get_task_data(G_TASK(res));
    GError *err = NULL;
    OpenResult *r = g_task_propagate_pointer(G_TASK(res), &err);
    gboolean current = !b->disposed && req->gen == b->source_gen;
    if (!current) {
        g_clear_error(&err);
        open_result_free(r);
        return;
    }
    b->loading = FALSE;
    if (!r) {
        post_error(b, err->message);
        g_error_free(err);
        fill_traits(b);
        update_count(b);
        update_busy(b);
        return;
    }
    b->src = r->src;
    r->src = NULL;
    g_list_store_splice(b->store, 0, 0, r->items->pdata, r->items->len);
    fill_traits(b);
    update_count(b);
    if (r->problems->len > 0) {
        const char *first = r->problems->pdata[0];
        char *msg = r->n_problems > 1
                        ? g_strdup_printf(g_dngettext(NULL, "%s (and %d more problem)", "%s (and %d more problems)",
                                                      r->n_problems - 1),
                                          first, r->n_problems - 1)
                        : g_strdup(first);
        post_error(b, msg);
        g_free(msg);
    }
    open_result_free(r);
    update_busy(b);
    pred_start(b);
}

static void open_start(TsBrowser *b, OpenReq *req)
{
    if (b->load_cancel) g_cancellable_cancel(b->load_cancel);
    g_clear_object(&b->load_cancel);
    b->load_cancel = g_cancellable_new();
    pred_cancel(b);
    models_forget(b);
    store_clear(b);
    clear_error(b);
    b->file_errors = 0;
    b->filter_trait = b->filter_value = -1;
    fill_traits(b);
    req->gen = ++b->source_gen;
    b->loading = TRUE;
    update_count(b);
    update_busy(b);
    GTask *task = g_task_new(b, b->load_cancel, open_done, NULL);
    g_task_set_task_data(task, req, open_req_free);
    g_task_run_in_thread(task, open_worker);
    g_object_unref(task);
}

void ts_browser_open_spec(TsBrowser *b, const char *spec, int limit)
{
    g_return_if_fail(TS_IS_BROWSER(b) && spec);
    OpenReq *req = g_new0(OpenReq, 1);
    req->spec = g_strdup(spec);
    req->limit = limit;
    open_start(b, req);
}

void ts_browser_open_paths(TsBrowser *b, const char *const *paths, int n)
{
    g_return_if_fail(TS_IS_BROWSER(b));
    OpenReq *req = g_new0(OpenReq, 1);
    req->paths = g_new0(char *, n + 1);
    for (int i = 0; i < n; i++) req->paths[i] = g_strdup(paths[i]);
    open_start(b, req);
}

/* ---- selection ---- */

static void activate_path(TsBrowser *b, const char *path)
{
    g_free(b->last_activated);
    b->last_activated = g_strdup(path);
    g_signal_emit(b, signals[SIG_FACE_ACTIVATED], 0, path);
}

static void on_selection_changed(GtkSelectionModel *sel, guint position, guint n_items, TsBrowser *b)
{
    GtkBitset *set = gtk_selection_model_get_selection(sel);
    if (gtk_bitset_is_empty(set)) {
        gtk_bitset_unref(set);
        return;
    }
    /* The face the user just picked: a selected one in the changed range
     * that is not the one shown already. */
    char *pick = NULL;
    for (guint p = position; p < position + n_items; p++) {
        if (!gtk_bitset_contains(set, p)) continue;
        TsFaceItem *it = g_list_model_get_item(G_LIST_MODEL(sel), p);
        if (!it) continue;
        const char *path = ts_face_item_get_path(it);
        if (!pick || g_strcmp0(pick, b->last_activated) == 0) {
            g_free(pick);
            pick = g_strdup(path);
        }
        g_object_unref(it);
    }
    gtk_bitset_unref(set);
    if (pick && g_strcmp0(pick, b->last_activated) != 0) activate_path(b, pick);
    g_free(pick);
}

static void on_list_activate(GtkListView *list, guint position, TsBrowser *b)
{
    (void)list;
    TsFaceItem *it = g_list_model_get_item(G_LIST_MODEL(b->filtered), position);
    if (!it) return;
    activate_path(b, ts_face_item_get_path(it));
    g_object_unref(it);
}

char **ts_browser_get_selected_paths(TsBrowser *b)
{
    g_return_val_if_fail(TS_IS_BROWSER(b), NULL);
    GtkBitset *set = gtk_selection_model_get_selection(GTK_SELECTION_MODEL(b->selection));
    GStrvBuilder *sb = g_strv_builder_new();
    GtkBitsetIter iter;
    guint p;
    for (gboolean ok = gtk_bitset_iter_init_first(&iter, set, &p); ok; ok = gtk_bitset_iter_next(&iter, &p)) {
        TsFaceItem *it = g_list_model_get_item(G_LIST_MODEL(b->selection), p);
        if (!it) continue;
        g_strv_builder_add(sb, ts_face_item_get_path(it));
        g_object_unref(it);
    }
    gtk_bitset_unref(set);
    char **v = g_strv_builder_end(sb);
    g_strv_builder_unref(sb);
    return v;
}

static gboolean select_step(TsBrowser *b, int dir)
{
    guint n = g_list_model_get_n_items(G_LIST_MODEL(b->filtered));
    if (n == 0) return FALSE;
    GtkBitset *set = gtk_selection_model_get_selection(GTK_SELECTION_MODEL(b->selection));
    gint64 pos;
    if (gtk_bitset_is_empty(set)) pos = dir > 0 ? 0 : (gint64)n - 1;
    else pos = dir > 0 ? (gint64)gtk_bitset_get_maximum(set) + 1 : (gint64)gtk_bitset_get_minimum(set) - 1;
    gtk_bitset_unref(set);
    if (pos < 0 || pos >= n) return FALSE;
    gtk_selection_model_select_item(GTK_SELECTION_MODEL(b->selection), (guint)pos, TRUE);
    gtk_widget_activate_action(GTK_WIDGET(b->list), "list.scroll-to-item", "u", (guint)pos);
    return TRUE;
}

gboolean ts_browser_select_next(TsBrowser *b) { return select_step(b, +1); }
gboolean ts_browser_select_prev(TsBrowser *b) { return select_step(b, -1); }

/* ---- accessors ---- */

GListModel *ts_browser_get_items(TsBrowser *b) { return G_LIST_MODEL(b->store); }
GListModel *ts_browser_get_filtered(TsBrowser *b) { return G_LIST_MODEL(b->filtered); }
GtkSelectionModel *ts_browser_get_selection(TsBrowser *b) { return GTK_SELECTION_MODEL(b->selection); }
int ts_browser_get_n_traits(TsBrowser *b) { return b->src ? b->src->ds.n_traits : 0; }
gboolean ts_browser_is_busy(TsBrowser *b) { return b->loading || b->predicting; }
const char *ts_browser_get_error(TsBrowser *b) { return b->error; }

const char *ts_browser_get_trait_name(TsBrowser *b, int t)
{
    return b->src && t >= 0 && t < b->src->ds.n_traits ? b->src->ds.traits[t].name : NULL;
}

int ts_browser_get_trait_n_classes(TsBrowser *b, int t)
{
    return b->src && t >= 0 && t < b->src->ds.n_traits ? b->src->ds.traits[t].n_classes : 0;
}

const char *ts_browser_get_trait_class(TsBrowser *b, int t, int c)
{
    if (!b->src || t < 0 || t >= b->src->ds.n_traits) return NULL;
    const ts_trait *tr = &b->src->ds.traits[t];
    return c >= 0 && c < tr->n_classes ? tr->classes[c] : NULL;
}

const char *const *ts_browser_get_model_classes(TsBrowser *b, int m)
{
    return m >= 0 && m < TS_FACE_ITEM_MODELS ? (const char *const *)b->model_classes[m] : NULL;
}

/* ---- GObject ---- */

static void on_items_changed(GListModel *m, guint pos, guint removed, guint added, TsBrowser *b)
{
    (void)m, (void)pos, (void)removed, (void)added;
    update_count(b);
}

static void get_property(GObject *o, guint id, GValue *v, GParamSpec *ps)
{
    TsBrowser *b = TS_BROWSER(o);
    switch (id) {
    case PROP_BUSY: g_value_set_boolean(v, ts_browser_is_busy(b)); break;
    case PROP_PROGRESS: g_value_set_double(v, b->n_total > 0 ? (double)b->n_done / b->n_total : 0); break;
    case PROP_ERROR: g_value_set_string(v, b->error); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps);
    }
}

static void dispose(GObject *o)
{
    TsBrowser *b = TS_BROWSER(o);
    b->disposed = TRUE;
    if (b->load_cancel) g_cancellable_cancel(b->load_cancel);
    g_clear_object(&b->load_cancel);
    pred_cancel(b);
    /* every worker was told to stop; each finishes its face and returns */
    while (b->jobs && b->jobs->len > 0) {
        PredJob *j = b->jobs->pdata[b->jobs->len - 1];
        g_atomic_int_set(&j->cancelled, 1);
        job_reap(b, j);
    }
    g_clear_pointer(&b->jobs, g_ptr_array_unref);
    if (b->refilter_id) g_source_remove(b->refilter_id);
    b->refilter_id = 0;
    if (b->thumbs) {
        /* queued requests are dropped (freed); running ones finish */
        g_thread_pool_free(b->thumbs, TRUE, TRUE);
        b->thumbs = NULL;
    }
    thumb_lru_clear(b);
    gtk_widget_dispose_template(GTK_WIDGET(b), TS_TYPE_BROWSER);
    g_clear_object(&b->selection);
    g_clear_object(&b->filtered);
    g_clear_object(&b->filter);
    g_clear_object(&b->store);
    g_clear_object(&b->trait_names);
    g_clear_object(&b->value_names);
    source_unref(b->src);
    b->src = NULL;
    G_OBJECT_CLASS(ts_browser_parent_class)->dispose(o);
}

static void finalize(GObject *o)
{
    TsBrowser *b = TS_BROWSER(o);
    models_forget(b);
    for (int i = 0; i < TS_FACE_ITEM_MODELS; i++) g_free(b->model_path[i]);
    g_free(b->last_activated);
    g_free(b->error);
    G_OBJECT_CLASS(ts_browser_parent_class)->finalize(o);
}

static void ts_browser_class_init(TsBrowserClass *k)
{
    GObjectClass *oc = G_OBJECT_CLASS(k);
    GtkWidgetClass *wc = GTK_WIDGET_CLASS(k);
    oc->get_property = get_property;
    oc->dispose = dispose;
    oc->finalize = finalize;
    props[PROP_BUSY] = g_param_spec_boolean("busy", NULL, NULL, FALSE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    props[PROP_PROGRESS] = g_param_spec_double("progress", NULL, NULL, 0, 1, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    props[PROP_ERROR] = g_param_spec_string("error", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    g_object_class_install_properties(oc, N_PROPS, props);
    signals[SIG_FACE_ACTIVATED] = g_signal_new("face-activated", G_TYPE_FROM_CLASS(k), G_SIGNAL_RUN_LAST, 0, NULL,
                                               NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
    signals[SIG_ERROR] = g_signal_new("error", G_TYPE_FROM_CLASS(k), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                      G_TYPE_NONE, 1, G_TYPE_STRING);
    signals[SIG_PREDICTIONS_DONE] = g_signal_new("predictions-done", G_TYPE_FROM_CLASS(k), G_SIGNAL_RUN_LAST, 0,
                                                 NULL, NULL, NULL, G_TYPE_NONE, 0);
    gtk_widget_class_set_template_from_resource(wc, "/org/traitscope/Traitscope/ts-browser.ui");
    gtk_widget_class_bind_template_child(wc, TsBrowser, filter_box);
    gtk_widget_class_bind_template_child(wc, TsBrowser, scroller);
    gtk_widget_class_bind_template_child(wc, TsBrowser, trait_dropdown);
    gtk_widget_class_bind_template_child(wc, TsBrowser, value_dropdown);
    gtk_widget_class_bind_template_child(wc, TsBrowser, agree_dropdown);
    gtk_widget_class_bind_template_child(wc, TsBrowser, count_label);
    gtk_widget_class_bind_template_child(wc, TsBrowser, error_label);
    gtk_widget_class_bind_template_child(wc, TsBrowser, progress);
    gtk_widget_class_bind_template_child(wc, TsBrowser, list);
    gtk_widget_class_set_layout_manager_type(wc, GTK_TYPE_BOX_LAYOUT);
    gtk_widget_class_set_css_name(wc, "tsbrowser");
    gtk_widget_class_set_accessible_role(wc, GTK_ACCESSIBLE_ROLE_GROUP);
}

/* Right / wrong colours (GNOME palette), plain text on a selected row.
 * Once per display. */
static void install_css(void)
{
    static gboolean done;
    GdkDisplay *d = gdk_display_get_default();
    if (done || !d) return;
    done = TRUE;
    GtkCssProvider *css = gtk_css_provider_new();
    gtk_css_provider_load_from_data(css,
                                    "tsbrowser .ts-right { color: #26a269; }\n"
                                    "tsbrowser .ts-wrong { color: #c01c28; }\n"
                                    "tsbrowser row:selected .ts-right, tsbrowser row:selected .ts-wrong { color: inherit; }\n",
                                    -1);
    gtk_style_context_add_provider_for_display(d, GTK_STYLE_PROVIDER(css), GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
    g_object_unref(css);
}

static void ts_browser_init(TsBrowser *b)
{
    b->device = TS_DEVICE_CPU; /* until ts_browser_set_device */
    install_css();
    gtk_widget_init_template(GTK_WIDGET(b));
    gtk_orientable_set_orientation(GTK_ORIENTABLE(gtk_widget_get_layout_manager(GTK_WIDGET(b))),
                                   GTK_ORIENTATION_VERTICAL);
    for (int i = 0; i < TS_FACE_ITEM_MODELS; i++) b->model_trait[i] = -1;
    b->filter_trait = b->filter_value = -1;

    b->jobs = g_ptr_array_new_with_free_func((GDestroyNotify)job_unref);
    b->store = g_list_store_new(TS_TYPE_FACE_ITEM);
    b->filter = gtk_custom_filter_new(filter_func, b, NULL);
    b->filtered = gtk_filter_list_model_new(g_object_ref(G_LIST_MODEL(b->store)), g_object_ref(GTK_FILTER(b->filter)));
    b->selection = gtk_multi_selection_new(g_object_ref(G_LIST_MODEL(b->filtered)));
    g_signal_connect(b->filtered, "items-changed", G_CALLBACK(on_items_changed), b);
    g_signal_connect(b->selection, "selection-changed", G_CALLBACK(on_selection_changed), b);

    GtkListItemFactory *f = gtk_signal_list_item_factory_new();
    g_signal_connect(f, "setup", G_CALLBACK(row_setup), b);
    g_signal_connect(f, "bind", G_CALLBACK(row_bind), b);
    g_signal_connect(f, "unbind", G_CALLBACK(row_unbind), b);
    gtk_list_view_set_factory(b->list, f);
    g_object_unref(f);
    gtk_list_view_set_model(b->list, GTK_SELECTION_MODEL(b->selection));
    g_signal_connect(b->list, "activate", G_CALLBACK(on_list_activate), b);
    g_signal_connect(gtk_scrolled_window_get_vadjustment(GTK_SCROLLED_WINDOW(b->scroller)), "value-changed",
                     G_CALLBACK(on_scrolled), b);

    b->trait_names = gtk_string_list_new(NULL);
    b->value_names = gtk_string_list_new(NULL);
    gtk_drop_down_set_model(b->trait_dropdown, G_LIST_MODEL(b->trait_names));
    gtk_drop_down_set_model(b->value_dropdown, G_LIST_MODEL(b->value_names));
    g_signal_connect(b->trait_dropdown, "notify::selected", G_CALLBACK(on_trait_selected), b);
    g_signal_connect(b->value_dropdown, "notify::selected", G_CALLBACK(on_value_selected), b);
    g_signal_connect(b->agree_dropdown, "notify::selected", G_CALLBACK(on_agree_selected), b);
    fill_traits(b);
    update_count(b);

    b->thumbs = g_thread_pool_new_full(thumb_work, NULL, thumb_task_free, THUMB_THREADS, FALSE, NULL);
    g_thread_pool_set_sort_function(b->thumbs, thumb_cmp, NULL);
}

GtkWidget *ts_browser_new(void) { return g_object_new(TS_TYPE_BROWSER, NULL); }
