/* ts-browser.c - the face browser; see ts-browser.h.
 *
 * The widget owns two model objects and binds to them: a TsFaceList (the
 * source, its items and thumbnails) and a TsPredictor over it (the models'
 * predictions, scored for the trait in focus).  It adds the filters, the
 * selection and the rows; every row binds its labels to its TsFaceItem's
 * properties.  Nothing here touches a thread or the engine.
 */
#include "app/ts-browser.h"

#include <glib/gi18n.h>
#include <math.h>
#include <string.h>

#include "app/ts-face-item.h"
#include "app/ts-face-list.h"
#include "app/ts-predictor.h"
#include "app/ts-render.h"

#define THUMB_SHOWN 64 /* logical pixels of a row's picture */

struct _TsBrowser {
    GtkWidget parent;
    /* template */
    GtkWidget *filter_box, *scroller;
    GtkDropDown *trait_dropdown, *value_dropdown, *agree_dropdown;
    GtkLabel *count_label, *error_label;
    GtkProgressBar *progress;
    GtkListView *list;

    TsFaceList *faces;
    TsPredictor *predictor;
    GtkCustomFilter *filter;
    GtkFilterListModel *filtered;
    GtkMultiSelection *selection;
    GtkStringList *trait_names, *value_names;
    guint refilter_id;

    /* filters and selection */
    int filter_trait, filter_value; /* -1: any */
    TsAgreement agree;
    gboolean syncing_dropdowns;
    char *last_activated;
    char *error;
};

G_DEFINE_FINAL_TYPE(TsBrowser, ts_browser, GTK_TYPE_WIDGET)

enum { PROP_0, PROP_BUSY, PROP_PROGRESS, PROP_ERROR, N_PROPS };
static GParamSpec *props[N_PROPS];
enum { SIG_FACE_ACTIVATED, SIG_ERROR, SIG_PREDICTIONS_DONE, N_SIGNALS };
static guint signals[N_SIGNALS];

static const ts_dataset *dataset(TsBrowser *b) { return b->faces ? ts_face_list_get_dataset(b->faces) : NULL; }

/* ---- errors, count, busy ---- */

static void post_error(TsBrowser *b, const char *raw)
{
    /* messages name files, whose names need not be UTF-8; labels (Pango)
     * and the "error" signal's listeners get valid UTF-8 */
    g_free(b->error);
    b->error = g_utf8_make_valid(raw, -1);
    g_object_notify_by_pspec(G_OBJECT(b), props[PROP_ERROR]);
    g_signal_emit(b, signals[SIG_ERROR], 0, b->error);
}

static void on_model_error(GObject *src, const char *message, TsBrowser *b)
{
    (void)src;
    post_error(b, message);
}

static void update_count(TsBrowser *b)
{
    guint n = g_list_model_get_n_items(G_LIST_MODEL(b->filtered));
    guint total = g_list_model_get_n_items(ts_face_list_get_items(b->faces));
    gboolean loading = ts_face_list_is_loading(b->faces);
    char *text;
    if (total == 0 && !loading) text = g_strdup(_("No faces"));
    else if (loading) text = g_strdup(_("Loading…"));
    /* TRANSLATORS: "12 of 40 faces" shown, after the filters */
    else text = g_strdup_printf(g_dngettext(NULL, "%u of %u face", "%u of %u faces", total), n, total);
    gtk_label_set_text(b->count_label, text);
    g_free(text);
}

static void notify_busy(GObject *src, GParamSpec *ps, TsBrowser *b)
{
    (void)src, (void)ps;
    g_object_notify_by_pspec(G_OBJECT(b), props[PROP_BUSY]);
}

static void notify_progress(GObject *src, GParamSpec *ps, TsBrowser *b)
{
    (void)src, (void)ps;
    g_object_notify_by_pspec(G_OBJECT(b), props[PROP_PROGRESS]);
}

static gboolean progress_text(GBinding *bind, const GValue *from, GValue *to, gpointer user)
{
    (void)bind, (void)from;
    int done = 0, total = 0;
    ts_predictor_get_counts(user, &done, &total);
    /* TRANSLATORS: prediction progress, "120 / 10000" faces */
    g_value_take_string(to, g_strdup_printf(_("Predicting %d / %d"), done, total));
    return TRUE;
}

static gboolean nonempty(GBinding *bind, const GValue *from, GValue *to, gpointer user)
{
    (void)bind, (void)user;
    const char *s = g_value_get_string(from);
    g_value_set_boolean(to, s && s[0]);
    return TRUE;
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
    g_clear_handle_id(&b->refilter_id, g_source_remove);
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

static void on_predictions_updated(TsPredictor *p, TsBrowser *b)
{
    (void)p;
    refilter_soon(b);
}

static void on_rescored(TsPredictor *p, TsBrowser *b)
{
    (void)p;
    if (b->agree != TS_AGREE_ALL) refilter(b);
}

static void on_predictions_done(TsPredictor *p, TsBrowser *b)
{
    (void)p;
    if (b->agree != TS_AGREE_ALL) refilter(b);
    g_signal_emit(b, signals[SIG_PREDICTIONS_DONE], 0);
}

static void fill_values(TsBrowser *b)
{
    b->syncing_dropdowns = TRUE;
    const ts_dataset *ds = dataset(b);
    guint old = g_list_model_get_n_items(G_LIST_MODEL(b->value_names));
    const ts_trait *t = ds && b->filter_trait >= 0 ? &ds->traits[b->filter_trait] : NULL;
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
    const ts_dataset *ds = dataset(b);
    guint old = g_list_model_get_n_items(G_LIST_MODEL(b->trait_names));
    GPtrArray *v = g_ptr_array_new();
    g_ptr_array_add(v, (gpointer)_("Any trait"));
    for (int t = 0; ds && t < ds->n_traits; t++) g_ptr_array_add(v, ds->traits[t].name);
    g_ptr_array_add(v, NULL);
    gtk_string_list_splice(b->trait_names, 0, old, (const char *const *)v->pdata);
    g_ptr_array_free(v, TRUE);
    gtk_drop_down_set_selected(b->trait_dropdown, b->filter_trait >= 0 ? (guint)b->filter_trait + 1 : 0);
    gtk_widget_set_sensitive(GTK_WIDGET(b->trait_dropdown), ds && ds->n_traits > 0);
    b->syncing_dropdowns = FALSE;
    fill_values(b);
}

/* The trait filter is also the trait in focus: the rows show and score
 * a multi-label model's prediction of that trait. */
static void set_trait(TsBrowser *b, int t, int v)
{
    b->filter_trait = t;
    b->filter_value = v;
    const ts_dataset *ds = dataset(b);
    ts_predictor_set_focus(b->predictor, ds && t >= 0 ? ds->traits[t].name : NULL);
}

static void on_trait_selected(GtkDropDown *dd, GParamSpec *ps, TsBrowser *b)
{
    (void)ps;
    if (b->syncing_dropdowns) return;
    guint i = gtk_drop_down_get_selected(dd);
    set_trait(b, i == GTK_INVALID_LIST_POSITION || i == 0 ? -1 : (int)i - 1, -1);
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

gboolean ts_browser_set_trait_filter(TsBrowser *b, const char *trait, const char *value)
{
    g_return_val_if_fail(TS_IS_BROWSER(b), FALSE);
    const ts_dataset *ds = dataset(b);
    int t = -1, v = -1;
    if (trait) {
        t = ds ? ts_dataset_trait_index(ds, trait) : -1;
        if (t < 0) return FALSE;
    }
    if (trait && value) {
        const ts_trait *tr = &ds->traits[t];
        for (int c = 0; c < tr->n_classes; c++)
            if (!strcmp(tr->classes[c], value)) v = c;
        if (v < 0) return FALSE;
    }
    set_trait(b, t, v);
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
    for (int i = 0; i < 2 + TS_FACE_ITEM_MODELS; i++) {
        GtkWidget *l = gtk_label_new(NULL);
        gtk_label_set_xalign(GTK_LABEL(l), 0);
        gtk_widget_set_halign(l, GTK_ALIGN_START);
        if (i == 0) {
            gtk_label_set_ellipsize(GTK_LABEL(l), PANGO_ELLIPSIZE_MIDDLE);
            gtk_widget_add_css_class(l, "heading");
        } else {
            /* No wrapping: a wrapped label makes every row measure its
             * height for its width, which stalls GtkListView for most of a
             * second on thousands of rows.  Lines are broken beforehand
             * (the labels text) and ellipsized; the tooltip has all. */
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

/* A model's line is green when right, red when wrong or when the image
 * could not be read (style.css: .ts-right, .ts-wrong). */
static gboolean line_classes(GBinding *bind, const GValue *from, GValue *to, gpointer user)
{
    int m = GPOINTER_TO_INT(user);
    int ok = g_value_get_int(from);
    if (ok < 0 && m == 0) {
        TsFaceItem *it = TS_FACE_ITEM(g_binding_dup_source(bind));
        if (it && ts_face_item_get_error(it) && !ts_face_item_get_prediction(it, 0, NULL, NULL, NULL) &&
            !ts_face_item_get_prediction(it, 1, NULL, NULL, NULL))
            ok = 0;
        g_clear_object(&it);
    }
    const char *v[] = { "ts-thumb-label", ok == 1 ? "ts-right" : ok == 0 ? "ts-wrong" : NULL, NULL };
    g_value_set_boxed(to, v);
    return TRUE;
}

static void row_bind(GtkSignalListItemFactory *f, GtkListItem *li, gpointer data)
{
    (void)f;
    TsBrowser *b = data;
    TsFaceItem *it = gtk_list_item_get_item(li);
    GtkWidget *row = gtk_list_item_get_child(li);
    GPtrArray *held = g_ptr_array_new_with_free_func(g_object_unref);
#define HOLD(x) g_ptr_array_add(held, g_object_ref(x))
    HOLD(g_object_bind_property(it, "thumbnail", row_child(li, 0), "paintable", G_BINDING_SYNC_CREATE));
    HOLD(g_object_bind_property(it, "title", row_child(li, 1), "label", G_BINDING_SYNC_CREATE));
    HOLD(g_object_bind_property(it, "subtitle", row_child(li, 2), "label", G_BINDING_SYNC_CREATE));
    HOLD(g_object_bind_property_full(it, "subtitle", row_child(li, 2), "visible", G_BINDING_SYNC_CREATE, nonempty,
                                     NULL, NULL, NULL));
    HOLD(g_object_bind_property(it, "tooltip", row, "tooltip-text", G_BINDING_SYNC_CREATE));
    static const char *const text[] = { "prediction-a", "prediction-b" }, *const ok[] = { "correct-a", "correct-b" };
    for (int m = 0; m < TS_FACE_ITEM_MODELS; m++) {
        GtkWidget *l = row_child(li, 3 + m);
        HOLD(g_object_bind_property(it, text[m], l, "label", G_BINDING_SYNC_CREATE));
        HOLD(g_object_bind_property_full(it, text[m], l, "visible", G_BINDING_SYNC_CREATE, nonempty, NULL, NULL,
                                         NULL));
        HOLD(g_object_bind_property_full(it, ok[m], l, "css-classes", G_BINDING_SYNC_CREATE, line_classes, NULL,
                                         GINT_TO_POINTER(m), NULL));
    }
#undef HOLD
    g_object_set_data_full(G_OBJECT(li), "ts-bindings", held, (GDestroyNotify)g_ptr_array_unref);
    gtk_accessible_update_property(GTK_ACCESSIBLE(row), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                   ts_face_item_get_name(it), -1);
    ts_face_item_bound(it, TRUE);
    ts_face_list_request_thumbnail(b->faces, it);
}

static void row_unbind(GtkSignalListItemFactory *f, GtkListItem *li, gpointer data)
{
    (void)f, (void)data;
    GPtrArray *held = g_object_get_data(G_OBJECT(li), "ts-bindings");
    for (guint i = 0; held && i < held->len; i++) g_binding_unbind(held->pdata[i]);
    g_object_set_data(G_OBJECT(li), "ts-bindings", NULL);
    TsFaceItem *it = gtk_list_item_get_item(li);
    if (it) ts_face_item_bound(it, FALSE);
}

/* ---- sources and models ---- */

static void on_list_loading(TsFaceList *l, GParamSpec *ps, TsBrowser *b)
{
    (void)ps;
    if (!ts_face_list_is_loading(l)) return;
    g_clear_pointer(&b->last_activated, g_free);
    if (b->error) {
        g_clear_pointer(&b->error, g_free);
        g_object_notify_by_pspec(G_OBJECT(b), props[PROP_ERROR]);
    }
    b->filter_trait = b->filter_value = -1;
    ts_predictor_set_focus(b->predictor, NULL);
    fill_traits(b);
    update_count(b);
}

static void on_list_opened(TsFaceList *l, TsBrowser *b)
{
    (void)l;
    fill_traits(b);
    update_count(b);
}

void ts_browser_open_spec(TsBrowser *b, const char *spec, int limit)
{
    g_return_if_fail(TS_IS_BROWSER(b) && spec);
    ts_face_list_open_spec(b->faces, spec, limit);
}

void ts_browser_open_paths(TsBrowser *b, const char *const *paths, int n)
{
    g_return_if_fail(TS_IS_BROWSER(b));
    ts_face_list_open_paths(b->faces, paths, n);
}

void ts_browser_set_models(TsBrowser *b, const char *model_a, const char *model_b)
{
    g_return_if_fail(TS_IS_BROWSER(b));
    ts_predictor_set_models(b->predictor, model_a, model_b);
}

void ts_browser_set_device(TsBrowser *b, ts_device device)
{
    g_return_if_fail(TS_IS_BROWSER(b));
    ts_predictor_set_device(b->predictor, device);
}

/* Tells the predictor where the user is looking: the top row of the view. */
static void on_scrolled(GtkAdjustment *adj, TsBrowser *b)
{
    if (!ts_predictor_is_busy(b->predictor)) return;
    guint n = g_list_model_get_n_items(G_LIST_MODEL(b->filtered));
    double upper = gtk_adjustment_get_upper(adj);
    if (n == 0 || upper <= 0) return;
    guint pos = (guint)fmin(n - 1, floor(gtk_adjustment_get_value(adj) / upper * n));
    TsFaceItem *it = g_list_model_get_item(G_LIST_MODEL(b->filtered), pos);
    if (!it) return;
    ts_predictor_set_hint(b->predictor, ts_face_item_get_row(it));
    g_object_unref(it);
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

GListModel *ts_browser_get_items(TsBrowser *b) { return ts_face_list_get_items(b->faces); }
GListModel *ts_browser_get_filtered(TsBrowser *b) { return G_LIST_MODEL(b->filtered); }
GtkSelectionModel *ts_browser_get_selection(TsBrowser *b) { return GTK_SELECTION_MODEL(b->selection); }
TsFaceList *ts_browser_get_face_list(TsBrowser *b) { return b->faces; }
TsPredictor *ts_browser_get_predictor(TsBrowser *b) { return b->predictor; }
const char *ts_browser_get_error(TsBrowser *b) { return b->error; }

gboolean ts_browser_is_busy(TsBrowser *b)
{
    return ts_face_list_is_loading(b->faces) || ts_predictor_is_busy(b->predictor);
}

int ts_browser_get_n_traits(TsBrowser *b)
{
    const ts_dataset *ds = dataset(b);
    return ds ? ds->n_traits : 0;
}

const char *ts_browser_get_trait_name(TsBrowser *b, int t)
{
    const ts_dataset *ds = dataset(b);
    return ds && t >= 0 && t < ds->n_traits ? ds->traits[t].name : NULL;
}

int ts_browser_get_trait_n_classes(TsBrowser *b, int t)
{
    const ts_dataset *ds = dataset(b);
    return ds && t >= 0 && t < ds->n_traits ? ds->traits[t].n_classes : 0;
}

const char *ts_browser_get_trait_class(TsBrowser *b, int t, int c)
{
    const ts_dataset *ds = dataset(b);
    if (!ds || t < 0 || t >= ds->n_traits) return NULL;
    const ts_trait *tr = &ds->traits[t];
    return c >= 0 && c < tr->n_classes ? tr->classes[c] : NULL;
}

const char *const *ts_browser_get_model_classes(TsBrowser *b, int m)
{
    return ts_predictor_get_classes(b->predictor, m);
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
    case PROP_PROGRESS: g_value_set_double(v, ts_predictor_get_progress(b->predictor)); break;
    case PROP_ERROR: g_value_set_string(v, b->error); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps);
    }
}

static void dispose(GObject *o)
{
    TsBrowser *b = TS_BROWSER(o);
    g_clear_handle_id(&b->refilter_id, g_source_remove);
    if (b->faces) g_signal_handlers_disconnect_by_data(b->faces, b);
    if (b->predictor) g_signal_handlers_disconnect_by_data(b->predictor, b);
    /* the predictor joins its workers here: none outlives the browser */
    if (b->predictor) g_object_run_dispose(G_OBJECT(b->predictor));
    g_clear_object(&b->predictor);
    gtk_widget_dispose_template(GTK_WIDGET(b), TS_TYPE_BROWSER);
    g_clear_object(&b->selection);
    g_clear_object(&b->filtered);
    g_clear_object(&b->filter);
    g_clear_object(&b->trait_names);
    g_clear_object(&b->value_names);
    if (b->faces) g_object_run_dispose(G_OBJECT(b->faces));
    g_clear_object(&b->faces);
    G_OBJECT_CLASS(ts_browser_parent_class)->dispose(o);
}

static void finalize(GObject *o)
{
    TsBrowser *b = TS_BROWSER(o);
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

static void ts_browser_init(TsBrowser *b)
{
    ts_style_ensure();
    gtk_widget_init_template(GTK_WIDGET(b));
    gtk_orientable_set_orientation(GTK_ORIENTABLE(gtk_widget_get_layout_manager(GTK_WIDGET(b))),
                                   GTK_ORIENTATION_VERTICAL);
    b->filter_trait = b->filter_value = -1;

    b->faces = ts_face_list_new();
    b->predictor = ts_predictor_new(b->faces);
    GListModel *items = ts_face_list_get_items(b->faces);
    b->filter = gtk_custom_filter_new(filter_func, b, NULL);
    b->filtered = gtk_filter_list_model_new(g_object_ref(items), g_object_ref(GTK_FILTER(b->filter)));
    b->selection = gtk_multi_selection_new(g_object_ref(G_LIST_MODEL(b->filtered)));
    g_signal_connect(b->filtered, "items-changed", G_CALLBACK(on_items_changed), b);
    g_signal_connect(b->selection, "selection-changed", G_CALLBACK(on_selection_changed), b);
    g_signal_connect(b->faces, "notify::loading", G_CALLBACK(on_list_loading), b);
    g_signal_connect(b->faces, "opened", G_CALLBACK(on_list_opened), b);
    g_signal_connect(b->faces, "error", G_CALLBACK(on_model_error), b);
    g_signal_connect(b->faces, "notify::loading", G_CALLBACK(notify_busy), b);
    g_signal_connect(b->predictor, "error", G_CALLBACK(on_model_error), b);
    g_signal_connect(b->predictor, "notify::busy", G_CALLBACK(notify_busy), b);
    g_signal_connect(b->predictor, "notify::progress", G_CALLBACK(notify_progress), b);
    g_signal_connect(b->predictor, "updated", G_CALLBACK(on_predictions_updated), b);
    g_signal_connect(b->predictor, "rescored", G_CALLBACK(on_rescored), b);
    g_signal_connect(b->predictor, "done", G_CALLBACK(on_predictions_done), b);

    /* what the widgets show, bound to the models */
    g_object_bind_property(b->predictor, "busy", b->progress, "visible", G_BINDING_SYNC_CREATE);
    g_object_bind_property(b->predictor, "progress", b->progress, "fraction", G_BINDING_SYNC_CREATE);
    g_object_bind_property_full(b->predictor, "progress", b->progress, "text", G_BINDING_SYNC_CREATE, progress_text,
                                NULL, b->predictor, NULL);
    g_object_bind_property(b, "error", b->error_label, "label", G_BINDING_SYNC_CREATE);
    g_object_bind_property_full(b, "error", b->error_label, "visible", G_BINDING_SYNC_CREATE, nonempty, NULL, NULL,
                                NULL);

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
}

GtkWidget *ts_browser_new(void) { return g_object_new(TS_TYPE_BROWSER, NULL); }
