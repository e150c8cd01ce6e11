/* ts-window.c - see ts-window.h.  The window owns a TsSession; the panels
 * draw the session's result; every engine call happens in the session's
 * worker thread. */
#include "app/ts-window.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "figure/figure.h"
#include "app/ts-browser.h"
#include "app/ts-dataset-dialog.h"
#include "app/ts-export-dialog.h"
#include "app/ts-filter-view.h"
#include "app/ts-gl-view.h"
#include "app/ts-panel.h"
#include "app/ts-render.h"
#include "app/ts-rules-editor.h"
#include "app/ts-train-page.h"

struct _TsWindow {
    GtkApplicationWindow parent;
    GtkBox *browser_box;
    TsBrowser *browser;
    GtkWidget *train_page;
    TsFilterView *filter_view;
    TsRulesEditor *rules_editor;
    GtkMenuButton *rules_button;
    GtkWindow *map_window;   /* the zoomable GL map viewer, made on first use */
    TsGlView *map_view;
    ts_panel map_kind;
    gboolean select_first;   /* show the first face once the browser lists it */
    char *model_path[2];     /* the models the browser predicts with */
    guint browser_models_idle;
    GtkGrid *panel_grid;
    GtkLabel *status_label, *error_label;
    GtkToggleButton *points_toggle, *indices_toggle, *contours_toggle;
    GtkDropDown *method_dropdown, *target_dropdown;
    GtkStringList *target_labels;
    GtkEntry *rules_entry;
    int syncing_target;      /* the target control is being set, not picked */
    GtkStack *stack;
    GtkBox *train_box, *panels_menu;
    GtkPaned *paned;
    GtkWidget *export_button, *panels_button;

    TsSession *session;
    ts_draw_opts opts;
    GPtrArray *panels;       /* TsPanelWidget*, one per ts_panel kind; owned (ref) */
    gboolean shown[TS_PANEL_COUNT];
    char *hover_text;
};

G_DEFINE_FINAL_TYPE(TsWindow, ts_window, GTK_TYPE_APPLICATION_WINDOW)

/* ---- remembered state: last folder and models ---- */

static char *state_path(void) { return g_build_filename(g_get_user_config_dir(), "traitscope", "state.ini", NULL); }

/* Sets keys (NULL-terminated key, value pairs) with one read and one
 * write of the state file. */
static void state_set_pairs(const char *key, ...)
{
    char *path = state_path();
    GKeyFile *kf = g_key_file_new();
    g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, NULL);
    va_list ap;
    va_start(ap, key);
    for (const char *k = key; k; k = va_arg(ap, const char *)) g_key_file_set_string(kf, "state", k, va_arg(ap, const char *));
    va_end(ap);
    char *dir = g_path_get_dirname(path);
    g_mkdir_with_parents(dir, 0755);
    /* g_key_file_save_to_file writes through a temporary file and renames */
    g_key_file_save_to_file(kf, path, NULL);
    g_free(dir);
    g_key_file_unref(kf);
    g_free(path);
}

static void state_set(const char *key, const char *value) { state_set_pairs(key, value, NULL); }

static char *state_get(const char *key)
{
    char *path = state_path();
    GKeyFile *kf = g_key_file_new();
    char *v = NULL;
    if (g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, NULL)) v = g_key_file_get_string(kf, "state", key, NULL);
    g_key_file_unref(kf);
    g_free(path);
    return v;
}

static int state_get_int(const char *key, int fallback)
{
    char *v = state_get(key);
    int n = v ? atoi(v) : fallback;
    g_free(v);
    return v && n > 0 ? n : fallback;
}

static const char *translate(const char *msgid) { return gettext(msgid); }

/* ---- requests ---- */

/* The value of the target control ("" for the predicted class). */
static const char *current_target(TsWindow *w)
{
    const char *const *values = ts_session_get_target_values(w->session);
    guint i = gtk_drop_down_get_selected(w->target_dropdown);
    return values && i != GTK_INVALID_LIST_POSITION && i < g_strv_length((char **)values) ? values[i] : "";
}

/* Shows `target` in the control; FALSE when it is not offered. */
static gboolean show_target(TsWindow *w, const char *target)
{
    const char *const *values = ts_session_get_target_values(w->session);
    for (guint i = 0; values && values[i]; i++)
        if (!g_strcmp0(values[i], target ? target : "")) {
            w->syncing_target++;
            gtk_drop_down_set_selected(w->target_dropdown, i);
            w->syncing_target--;
            return TRUE;
        }
    return FALSE;
}

static void request(TsWindow *w, const char *image, const char *model_a, const char *model_b)
{
    TsRequest r = { 0 };
    r.image = (char *)(image ? image : ts_session_get_image(w->session));
    if (r.image && !r.image[0]) r.image = NULL;
    r.model[0] = (char *)model_a;
    r.model[1] = (char *)model_b;
    r.method = gtk_drop_down_get_selected(w->method_dropdown) == 1 ? TS_LANDMARKS_CNN : TS_LANDMARKS_ERT;
    r.rules = (char *)gtk_editable_get_text(GTK_EDITABLE(w->rules_entry));
    r.target = (char *)current_target(w);
    ts_session_request(w->session, &r);
}

static void settings_changed(TsWindow *w) { request(w, NULL, NULL, NULL); }

static void redraw_panels(TsWindow *w)
{
    for (guint i = 0; i < w->panels->len; i++) gtk_widget_queue_draw(g_ptr_array_index(w->panels, i));
}

static void toggles_changed(GtkToggleButton *b, TsWindow *w)
{
    w->opts.points = gtk_toggle_button_get_active(w->points_toggle);
    w->opts.indices = gtk_toggle_button_get_active(w->indices_toggle);
    w->opts.contours = gtk_toggle_button_get_active(w->contours_toggle);
    redraw_panels(w);
}

static void update_status(TsWindow *w)
{
    char *status = NULL, *error = NULL;
    g_object_get(w->session, "status", &status, "error", &error, NULL);
    const char *busy = ts_session_get_busy(w->session) ? _("computing… · ") : "";
    char *text = g_strdup_printf("%s%s%s%s", busy, status ? status : "", w->hover_text ? " · " : "",
                                 w->hover_text ? w->hover_text : "");
    char *valid = g_utf8_make_valid(text, -1), *valid_error = g_utf8_make_valid(error ? error : "", -1);
    gtk_label_set_text(w->status_label, valid);
    gtk_label_set_text(w->error_label, valid_error);
    g_free(valid);
    g_free(valid_error);
    gtk_widget_set_visible(GTK_WIDGET(w->error_label), error && error[0]);
    g_free(text);
    g_free(status);
    g_free(error);
}

static void session_notify(GObject *obj, GParamSpec *pspec, TsWindow *w) { update_status(w); }

/* Map-view pixels per crop pixel: heatmaps live in the model's input
 * frame, A(x,y) in the crop's; 0 when there is nothing to map. */
static double map_per_crop(TsWindow *w, const ts_inspect *r)
{
    if (!r || r->crop.width <= 0) return 0;
    if (w->map_kind == TS_PANEL_AMAP) return 1;
    int in_size = r->model[w->map_kind == TS_PANEL_LRP_B ? 1 : 0].in_size;
    return in_size > 0 ? (double)in_size / r->crop.width : 0;
}

/* The crosshair follows the pointer at the same face pixel in every panel. */
static void panel_hover(TsPanelWidget *p, double cx, double cy, TsWindow *w)
{
    w->opts.cross_x = cx;
    w->opts.cross_y = cy;
    const ts_inspect *r = ts_session_get_result(w->session);
    double k = map_per_crop(w, r);
    if (w->map_view && p && k > 0) /* p NULL: the hover came from the map view itself */
        ts_gl_view_set_crosshair(w->map_view, cx >= 0 ? (cx + 0.5) * k - 0.5 : -1, cy >= 0 ? (cy + 0.5) * k - 0.5 : -1);
    g_clear_pointer(&w->hover_text, g_free);
    if (r && cx >= 0) {
        int k = ts_inspect_landmark_at(r, (int)(cx + 0.5), (int)(cy + 0.5));
        if (k >= 0)
            w->hover_text = g_strdup_printf(_("pixel (%d, %d) · nearest landmark %d (%s)"), (int)(cx + 0.5),
                                            (int)(cy + 0.5), k, ts_part_name(ts_part_of_landmark(k)));
    }
    update_status(w);
    redraw_panels(w);
}

static void map_view_hover(TsGlView *v, double x, double y, TsWindow *w)
{
    const ts_inspect *r = ts_session_get_result(w->session);
    double k = map_per_crop(w, r);
    if (x >= 0 && k > 0) {
        x = (x + 0.5) / k - 0.5;
        y = (y + 0.5) / k - 0.5;
    }
    panel_hover(NULL, x, y, w);
}
/* ---- panel layout: which panels show, remembered between runs ---- */

/* Rows of the panel grid: the face, then activations, then relevance. */
static const ts_panel layout_rows[3][4] = {
    { TS_PANEL_PHOTO, TS_PANEL_FACE, TS_PANEL_AMAP, TS_PANEL_PRED },
    { TS_PANEL_ACT_A, TS_PANEL_ACT_B, TS_PANEL_TABLE, TS_PANEL_COUNT },
    { TS_PANEL_LRP_A, TS_PANEL_LRP_B, TS_PANEL_LRP_DIFF, TS_PANEL_COUNT },
};

/* The grid has 12 columns so that rows of 1, 2, 3 or 4 panels share the
 * width evenly. */
static void relayout(TsWindow *w)
{
    for (guint i = 0; i < w->panels->len; i++) {
        GtkWidget *p = g_ptr_array_index(w->panels, i);
        if (gtk_widget_get_parent(p)) gtk_grid_remove(w->panel_grid, p);
    }
    int row = 0;
    for (int r = 0; r < 3; r++) {
        ts_panel kinds[4];
        int n = 0;
        for (int c = 0; c < 4 && layout_rows[r][c] != TS_PANEL_COUNT; c++)
            if (w->shown[layout_rows[r][c]]) kinds[n++] = layout_rows[r][c];
        for (int c = 0; c < n; c++)
            gtk_grid_attach(w->panel_grid, g_ptr_array_index(w->panels, kinds[c]), c * (12 / n), row, 12 / n, 1);
        if (n) row++;
    }
}

static void save_layout(TsWindow *w)
{
    GString *v = g_string_new(NULL);
    for (int k = 0; k < TS_PANEL_COUNT; k++)
        if (w->shown[k]) g_string_append_printf(v, "%s%s", v->len ? "," : "", ts_panel_name((ts_panel)k));
    state_set("panels", v->str);
    g_string_free(v, TRUE);
}

static void panel_check_toggled(GtkCheckButton *b, TsWindow *w)
{
    int k = GPOINTER_TO_INT(g_object_get_data(G_OBJECT(b), "panel"));
    w->shown[k] = gtk_check_button_get_active(b);
    relayout(w);
    save_layout(w);
}

static void load_layout(TsWindow *w)
{
    char *v = state_get("panels");
    for (int k = 0; k < TS_PANEL_COUNT; k++) w->shown[k] = v == NULL;
    if (v) {
        ts_panel list[TS_PANEL_COUNT];
        int n = ts_panel_list_parse(v, list, TS_PANEL_COUNT);
        for (int i = 0; i < n; i++) w->shown[list[i]] = TRUE;
        if (n <= 0)
            for (int k = 0; k < TS_PANEL_COUNT; k++) w->shown[k] = TRUE;
    }
    g_free(v);
}

void ts_window_set_panels(TsWindow *w, const ts_panel *panels, int n)
{
    for (int k = 0; k < TS_PANEL_COUNT; k++) w->shown[k] = FALSE;
    for (int i = 0; i < n; i++) w->shown[panels[i]] = TRUE;
    for (GtkWidget *c = gtk_widget_get_first_child(GTK_WIDGET(w->panels_menu)); c; c = gtk_widget_get_next_sibling(c)) {
        int k = GPOINTER_TO_INT(g_object_get_data(G_OBJECT(c), "panel"));
        g_signal_handlers_block_by_func(c, panel_check_toggled, w);
        gtk_check_button_set_active(GTK_CHECK_BUTTON(c), w->shown[k]);
        g_signal_handlers_unblock_by_func(c, panel_check_toggled, w);
    }
    relayout(w);
    save_layout(w);
}

int ts_window_get_panels(TsWindow *w, ts_panel *out)
{
    int n = 0;
    for (int k = 0; k < TS_PANEL_COUNT; k++)
        if (w->shown[k]) out[n++] = (ts_panel)k;
    return n;
}

/* ---- clicks in panels: enlarge a map, open the zoomable view ---- */

static void map_view_hover(TsGlView *v, double x, double y, TsWindow *w);

/* The zoomable GPU view (TsGlView) of the A(x,y) map or a heatmap, over
 * the face, in its own window; it follows the inspected face. */
static void map_view_update(TsWindow *w)
{
    const ts_inspect *r = ts_session_get_result(w->session);
    if (!w->map_view || !r) return;
    ts_gl_view_set_image(w->map_view, &r->crop, w->map_kind != TS_PANEL_AMAP);
    if (w->map_kind == TS_PANEL_AMAP) {
        ts_gl_view_set_amap(w->map_view, r->amap, r->crop.width, r->crop.height);
    } else {
        int m = w->map_kind == TS_PANEL_LRP_B ? 1 : 0;
        const ts_inspect_model *im = &r->model[m];
        if (im->present && im->heat)
            ts_gl_view_set_heat(w->map_view, im->heat, im->in_size, im->in_size, ts_figure_lrp_scale(r));
    }
    const char *name = ts_session_get_model_name(w->session, w->map_kind == TS_PANEL_LRP_B ? 1 : 0);
    char *title = w->map_kind == TS_PANEL_AMAP ? g_strdup(_("A(x,y) nearest landmark"))
                                               : g_strdup_printf(_("Relevance: %s"), name ? name : "");
    gtk_window_set_title(w->map_window, title);
    g_free(title);
}

static void open_map_view(TsWindow *w, ts_panel kind)
{
    if (!w->map_window) {
        w->map_window = GTK_WINDOW(gtk_window_new());
        gtk_window_set_transient_for(w->map_window, GTK_WINDOW(w));
        gtk_window_set_default_size(w->map_window, 720, 720);
        gtk_window_set_hide_on_close(w->map_window, TRUE);
        w->map_view = TS_GL_VIEW(ts_gl_view_new());
        gtk_widget_set_tooltip_text(GTK_WIDGET(w->map_view),
                                    _("Drag to pan, scroll to zoom, double-click to fit; + - 0 on the keyboard"));
        g_signal_connect(w->map_view, "hover", G_CALLBACK(map_view_hover), w);
        gtk_window_set_child(w->map_window, GTK_WIDGET(w->map_view));
    }
    w->map_kind = kind;
    map_view_update(w);
    ts_gl_view_fit(w->map_view);
    gtk_window_present(w->map_window);
}

static void panel_pressed(TsPanelWidget *p, int n_press, double x, double y, TsWindow *w)
{
    const ts_inspect *r = ts_session_get_result(w->session);
    if (!r) return;
    ts_panel kind = ts_panel_widget_get_kind(p);
    double width = gtk_widget_get_width(GTK_WIDGET(p)), height = gtk_widget_get_height(GTK_WIDGET(p));
    if (kind == TS_PANEL_PHOTO) {
        ts_session_pick_face_at(w->session, width, height, x, y);
    } else if (kind == TS_PANEL_ACT_A || kind == TS_PANEL_ACT_B) {
        int map = ts_figure_act_map_at(r, kind, width, height, x, y);
        int m = kind == TS_PANEL_ACT_B ? 1 : 0;
        if (map < 0) return;
        ts_filter_view_set_model_name(w->filter_view, ts_session_get_model_name(w->session, m));
        ts_filter_view_show(w->filter_view, r, m, map);
        ts_filter_view_popup_at(w->filter_view, GTK_WIDGET(p), x, y);
    } else if (n_press == 2 && (kind == TS_PANEL_AMAP || kind == TS_PANEL_LRP_A || kind == TS_PANEL_LRP_B)) {
        open_map_view(w, kind);
    }
}

/* ---- the rules editor: rules and target as the LRP panels use them ---- */

static void rules_changed(TsRulesEditor *e, const char *rules, const char *target, TsWindow *w)
{
    gtk_editable_set_text(GTK_EDITABLE(w->rules_entry), rules ? rules : "");
    if (!show_target(w, target)) show_target(w, "");
    request(w, NULL, NULL, NULL);
}

/* The target control: both models' heatmaps explain what it names. */
static void target_picked(GtkDropDown *dd, GParamSpec *ps, TsWindow *w)
{
    if (w->syncing_target) return;
    ts_rules_editor_set_target(w->rules_editor, current_target(w));
    request(w, NULL, NULL, NULL);
}

/* New models offer other targets: the list follows, the choice stays
 * when the new models offer it too. */
static void models_changed(TsSession *s, TsWindow *w)
{
    char *keep = g_strdup(ts_rules_editor_get_target(w->rules_editor));
    const char *const *labels = ts_session_get_target_labels(s);
    w->syncing_target++;
    gtk_string_list_splice(w->target_labels, 0, g_list_model_get_n_items(G_LIST_MODEL(w->target_labels)), labels);
    w->syncing_target--;
    ts_rules_editor_set_targets(w->rules_editor, labels, ts_session_get_target_values(s));
    if (!show_target(w, keep)) {
        show_target(w, "");
        ts_rules_editor_set_target(w->rules_editor, "");
        /* the target asked for is gone: explain the predicted class */
        if (keep && keep[0]) request(w, NULL, NULL, NULL);
    }
    g_free(keep);
}

static void result_changed(TsSession *s, TsWindow *w)
{
    const ts_inspect *r = ts_session_get_result(s);
    if (r) {
        /* the editor lists the layers of model B (LACNN), else of A */
        int m = r->model[1].present && !r->model[1].error[0] ? 1 : 0;
        if (r->model[m].present && r->model[m].rules[0])
            ts_rules_editor_set_layers(w->rules_editor, r->model[m].rules, NULL);
    }
    map_view_update(w);
}

/* ---- the training page ---- */

/* The header's view controls belong to the explorer page. */
static void page_changed(GtkStack *stack, GParamSpec *pspec, TsWindow *w)
{
    gboolean explore = g_strcmp0(gtk_stack_get_visible_child_name(stack), "explore") == 0;
    GtkWidget *ws[] = { GTK_WIDGET(w->points_toggle), GTK_WIDGET(w->indices_toggle), GTK_WIDGET(w->contours_toggle),
                        w->panels_button, w->export_button };
    for (size_t i = 0; i < G_N_ELEMENTS(ws); i++) gtk_widget_set_visible(ws[i], explore);
}

static void open_trained_model(GtkWidget *page, const char *path, int slot, TsWindow *w)
{
    ts_window_load_model(w, slot ? 1 : 0, path);
    gtk_stack_set_visible_child_name(w->stack, "explore");
}

/* ---- images: the browser on the left ---- */

/* A dataset spec (data/dataset.h): "celeba:DIR", "utkface:DIR", ... */
static gboolean is_spec(const char *arg)
{
    static const char *const kinds[] = { "celeba:", "utkface:", "adience:", "csv:", "folder:" };
    for (size_t i = 0; i < G_N_ELEMENTS(kinds); i++)
        if (g_str_has_prefix(arg, kinds[i])) return TRUE;
    return FALSE;
}

void ts_window_open_spec(TsWindow *w, const char *spec, int limit)
{
    w->select_first = TRUE;
    ts_browser_open_spec(w->browser, spec, limit);
    state_set("last-dataset", spec);
    /* the training page starts from the data being looked at */
    ts_train_page_set_data(TS_TRAIN_PAGE(w->train_page), spec);
}

void ts_window_open(TsWindow *w, GFile **files, int n)
{
    GPtrArray *paths = g_ptr_array_new_with_free_func(g_free);
    for (int i = 0; i < n; i++) {
        char *path = g_file_get_path(files[i]);
        if (path) g_ptr_array_add(paths, path);
    }
    if (paths->len == 0) {
        g_ptr_array_unref(paths);
        return;
    }
    const char *first = g_ptr_array_index(paths, 0);
    char *dir = g_file_test(first, G_FILE_TEST_IS_DIR) ? g_strdup(first) : g_path_get_dirname(first);
    state_set("last-folder", dir);
    g_free(dir);
    w->select_first = TRUE;
    ts_browser_open_paths(w->browser, (const char *const *)paths->pdata, (int)paths->len);
    g_ptr_array_unref(paths);
}

void ts_window_open_args(TsWindow *w, char **args)
{
    if (args && args[0] && is_spec(args[0])) {
        ts_window_open_spec(w, args[0], 0);
        return;
    }
    GPtrArray *files = g_ptr_array_new_with_free_func(g_object_unref);
    for (char **a = args; a && *a; a++) g_ptr_array_add(files, g_file_new_for_commandline_arg(*a));
    ts_window_open(w, (GFile **)files->pdata, (int)files->len);
    g_ptr_array_unref(files);
}

static void browser_items_changed(GListModel *m, guint pos, guint removed, guint added, TsWindow *w)
{
    if (w->select_first && added > 0) {
        w->select_first = FALSE;
        ts_browser_select_next(w->browser);
    }
}

static void face_activated(TsBrowser *b, const char *path, TsWindow *w) { request(w, path, NULL, NULL); }

static void browser_error(TsBrowser *b, const char *message, TsWindow *w)
{
    gtk_label_set_text(w->error_label, message); /* valid UTF-8: the browser made it so */
    gtk_widget_set_visible(GTK_WIDGET(w->error_label), message && message[0]);
}

static gboolean browser_models_sync(gpointer user)
{
    TsWindow *w = user;
    w->browser_models_idle = 0;
    ts_browser_set_models(w->browser, w->model_path[0], w->model_path[1]);
    return G_SOURCE_REMOVE;
}

void ts_window_load_model(TsWindow *w, int i, const char *path)
{
    request(w, NULL, i == 0 ? path : NULL, i == 1 ? path : NULL);
    state_set(i == 0 ? "model-a" : "model-b", path);
    /* the browser predicts every listed face with both models: loading A
     * and B back to back (start-up) gives it one change, not two */
    g_free(w->model_path[i]);
    w->model_path[i] = g_strdup(path);
    if (!w->browser_models_idle) w->browser_models_idle = g_idle_add(browser_models_sync, w);
}

/* ---- file choosers ---- */

typedef enum { PICK_IMAGES, PICK_MODEL_A, PICK_MODEL_B } pick_kind;

static void chooser_response(GtkNativeDialog *d, int response, gpointer user)
{
    TsWindow *w = g_object_get_data(G_OBJECT(d), "window");
    pick_kind kind = GPOINTER_TO_INT(user);
    if (response == GTK_RESPONSE_ACCEPT) {
        GListModel *files = gtk_file_chooser_get_files(GTK_FILE_CHOOSER(d));
        guint n = g_list_model_get_n_items(files);
        if (kind == PICK_IMAGES) {
            GFile **arr = g_new0(GFile *, n);
            for (guint i = 0; i < n; i++) arr[i] = g_list_model_get_item(files, i);
            ts_window_open(w, arr, (int)n);
            for (guint i = 0; i < n; i++) g_object_unref(arr[i]);
            g_free(arr);
        } else if (n > 0) {
            GFile *f = g_list_model_get_item(files, 0);
            char *path = g_file_get_path(f);
            ts_window_load_model(w, kind == PICK_MODEL_A ? 0 : 1, path);
            g_free(path);
            g_object_unref(f);
        }
        g_object_unref(files);
    }
    gtk_native_dialog_destroy(d);
    g_object_unref(d);
}

static void pick(TsWindow *w, pick_kind kind)
{
    static const char *const titles[] = { N_("Open Faces"), N_("Load Model A"), N_("Load Model B") };
    GtkFileChooserAction action = GTK_FILE_CHOOSER_ACTION_OPEN;
    GtkFileChooserNative *d = gtk_file_chooser_native_new(_(titles[kind]), GTK_WINDOW(w), action, NULL, NULL);
    GtkFileFilter *f = gtk_file_filter_new();
    if (kind == PICK_IMAGES) {
        gtk_file_chooser_set_select_multiple(GTK_FILE_CHOOSER(d), TRUE);
        gtk_file_filter_set_name(f, _("Face images"));
        gtk_file_filter_add_mime_type(f, "image/png");
        gtk_file_filter_add_mime_type(f, "image/jpeg");
    } else {
        gtk_file_filter_set_name(f, _("Models (safetensors, ONNX, Caffe)"));
        gtk_file_filter_add_suffix(f, "safetensors");
        gtk_file_filter_add_suffix(f, "onnx");
        gtk_file_filter_add_suffix(f, "caffemodel");
    }
    gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(d), f);
    g_object_unref(f);
    char *last = state_get("last-folder");
    if (last && kind == PICK_IMAGES) {
        GFile *dir = g_file_new_for_path(last);
        gtk_file_chooser_set_current_folder(GTK_FILE_CHOOSER(d), dir, NULL);
        g_object_unref(dir);
    }
    g_free(last);
    g_object_set_data(G_OBJECT(d), "window", w);
    g_signal_connect(d, "response", G_CALLBACK(chooser_response), GINT_TO_POINTER(kind));
    gtk_native_dialog_show(GTK_NATIVE_DIALOG(d));
}

/* "Open Dataset…" (TsDatasetDialog): the last spec opened, filled in. */
static void dataset_chosen(TsDatasetDialog *d, const char *spec, int limit, TsWindow *w)
{
    ts_window_open_spec(w, spec, limit);
}

static void act_open_dataset(GtkWidget *wid, const char *name, GVariant *p)
{
    TsWindow *w = TS_WINDOW(wid);
    char *last = state_get("last-dataset");
    TsDatasetDialog *d = ts_dataset_dialog_new(GTK_WINDOW(w), last);
    g_free(last);
    g_signal_connect_object(d, "open", G_CALLBACK(dataset_chosen), w, 0);
    gtk_window_present(GTK_WINDOW(d));
}

static void act_open(GtkWidget *wid, const char *name, GVariant *p) { pick(TS_WINDOW(wid), PICK_IMAGES); }
static void act_model_a(GtkWidget *wid, const char *name, GVariant *p) { pick(TS_WINDOW(wid), PICK_MODEL_A); }
static void act_model_b(GtkWidget *wid, const char *name, GVariant *p) { pick(TS_WINDOW(wid), PICK_MODEL_B); }

static void act_step(GtkWidget *wid, const char *name, GVariant *p)
{
    TsWindow *w = TS_WINDOW(wid);
    if (strcmp(name, "win.next") == 0) ts_browser_select_next(w->browser);
    else ts_browser_select_prev(w->browser);
}

static void act_indices(GtkWidget *wid, const char *name, GVariant *p)
{
    TsWindow *w = TS_WINDOW(wid);
    gtk_toggle_button_set_active(w->indices_toggle, !gtk_toggle_button_get_active(w->indices_toggle));
}

static void act_page(GtkWidget *wid, const char *name, GVariant *p)
{
    gtk_stack_set_visible_child_name(TS_WINDOW(wid)->stack, strcmp(name, "win.page-train") == 0 ? "train" : "explore");
}

void ts_window_show_page(TsWindow *w, const char *page)
{
    if (gtk_stack_get_child_by_name(w->stack, page)) gtk_stack_set_visible_child_name(w->stack, page);
}

static void act_shortcuts(GtkWidget *wid, const char *name, GVariant *p)
{
    GtkBuilder *b = gtk_builder_new_from_resource("/org/traitscope/Traitscope/ts-shortcuts.ui");
    GtkWindow *sw = GTK_WINDOW(gtk_builder_get_object(b, "shortcuts"));
    gtk_window_set_transient_for(sw, GTK_WINDOW(wid));
    gtk_window_present(sw);
    g_object_unref(b);
}

/* ---- export and screenshot ---- */

static void export_done(GObject *src, GAsyncResult *res, gpointer user)
{
    GTask *task = user;
    GError *err = NULL;
    if (ts_session_export_finish(TS_SESSION(src), res, &err)) g_task_return_boolean(task, TRUE);
    else g_task_return_error(task, err);
    g_object_unref(task);
}

/* The panels shown, through the session's worker (the same figure and
 * sidecar as the Export dialog's). */
void ts_window_export_async(TsWindow *w, const char *path, GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data)
{
    GTask *task = g_task_new(w, cancellable, callback, user_data);
    g_task_set_source_tag(task, ts_window_export_async);
    if (!ts_session_get_result(w->session)) {
        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_FAILED, _("%s: there is no face to export yet"), path);
        g_object_unref(task);
        return;
    }
    ts_panel panels[TS_PANEL_COUNT];
    int n = ts_window_get_panels(w, panels);
    ts_session_export_async(w->session, NULL, 0, panels, n, &w->opts, 300, path, cancellable, export_done, task);
}

gboolean ts_window_export_finish(TsWindow *w, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, w), FALSE);
    return g_task_propagate_boolean(G_TASK(result), error);
}

static void remember_export(TsExportDialog *d, const char *path, gpointer user) { state_set("last-export", path); }

static void export_dialog_done(TsExportDialog *d, const char *path, TsWindow *w)
{
    char *msg = g_strdup_printf(_("wrote %s and %s.json"), path, path);
    g_free(w->hover_text);
    w->hover_text = msg;
    update_status(w);
}

static void act_export(GtkWidget *wid, const char *name, GVariant *p)
{
    TsWindow *w = TS_WINDOW(wid);
    ts_panel panels[TS_PANEL_COUNT];
    int n = ts_window_get_panels(w, panels);
    char **selected = ts_browser_get_selected_paths(w->browser);
    TsExportDialog *d = ts_export_dialog_new(GTK_WINDOW(w), w->session, panels, n, (const char *const *)selected, &w->opts);
    g_strfreev(selected);
    char *last = state_get("last-export");
    if (last) ts_export_dialog_set_path(d, last);
    g_free(last);
    g_signal_connect(d, "exported", G_CALLBACK(export_dialog_done), w);
    g_signal_connect(d, "exported", G_CALLBACK(remember_export), NULL);
    gtk_window_present(GTK_WINDOW(d));
}

gboolean ts_window_screenshot(TsWindow *w, const char *path, GError **error)
{
    return ts_widget_save_png(GTK_WIDGET(w), path, error);
}

TsSession *ts_window_get_session(TsWindow *w) { return w->session; }

void ts_window_set_device(TsWindow *w, ts_device device)
{
    ts_session_set_device(w->session, device);
    ts_browser_set_device(w->browser, device);
    ts_train_page_set_device(TS_TRAIN_PAGE(w->train_page), device);
}

char *ts_window_get_remembered_model(TsWindow *w, int i)
{
    char *p = state_get(i == 0 ? "model-a" : "model-b");
    if (p && !g_file_test(p, G_FILE_TEST_IS_REGULAR)) g_clear_pointer(&p, g_free);
    return p;
}
GtkWidget *ts_window_get_panel(TsWindow *w, ts_panel kind) { return g_ptr_array_index(w->panels, kind); }
GtkWidget *ts_window_get_browser(TsWindow *w) { return GTK_WIDGET(w->browser); }
GtkWidget *ts_window_get_train_page(TsWindow *w) { return w->train_page; }
GtkWidget *ts_window_get_filter_view(TsWindow *w) { return GTK_WIDGET(w->filter_view); }
GtkWidget *ts_window_get_map_view(TsWindow *w) { return GTK_WIDGET(w->map_view); }
GtkWidget *ts_window_get_rules_editor(TsWindow *w) { return GTK_WIDGET(w->rules_editor); }
GtkWidget *ts_window_get_target_control(TsWindow *w) { return GTK_WIDGET(w->target_dropdown); }

/* ---- life cycle ---- */

static gboolean close_request(GtkWindow *win)
{
    TsWindow *w = TS_WINDOW(win);
    gboolean max = gtk_window_is_maximized(win);
    int width = 0, height = 0;
    gtk_window_get_default_size(win, &width, &height);
    char ws[16], hs[16], side[16];
    g_snprintf(ws, sizeof ws, "%d", width);
    g_snprintf(hs, sizeof hs, "%d", height);
    g_snprintf(side, sizeof side, "%d", gtk_paned_get_position(w->paned));
    /* a maximized window keeps the size it had before */
    if (!max && width > 0 && height > 0)
        state_set_pairs("maximized", "0", "sidebar", side, "width", ws, "height", hs, NULL);
    else
        state_set_pairs("maximized", max ? "1" : "0", "sidebar", side, NULL);
    return GTK_WINDOW_CLASS(ts_window_parent_class)->close_request
               ? GTK_WINDOW_CLASS(ts_window_parent_class)->close_request(win)
               : FALSE;
}
static void dispose(GObject *obj)
{
    TsWindow *w = TS_WINDOW(obj);
    if (w->session) g_signal_handlers_disconnect_by_data(w->session, w);
    if (w->browser) g_signal_handlers_disconnect_by_data(ts_browser_get_items(w->browser), w);
    g_clear_handle_id(&w->browser_models_idle, g_source_remove);
    if (w->map_window) gtk_window_destroy(w->map_window);
    w->map_window = NULL;
    w->map_view = NULL;
    g_clear_object(&w->filter_view);
    gtk_widget_dispose_template(GTK_WIDGET(w), TS_TYPE_WINDOW);
    if (w->panels) g_ptr_array_set_size(w->panels, 0);
    g_clear_object(&w->session);
    G_OBJECT_CLASS(ts_window_parent_class)->dispose(obj);
}

static void finalize(GObject *obj)
{
    TsWindow *w = TS_WINDOW(obj);
    g_ptr_array_unref(w->panels);
    g_free(w->hover_text);
    g_free(w->model_path[0]);
    g_free(w->model_path[1]);
    G_OBJECT_CLASS(ts_window_parent_class)->finalize(obj);
}

static void ts_window_class_init(TsWindowClass *klass)
{
    GtkWidgetClass *wc = GTK_WIDGET_CLASS(klass);
    G_OBJECT_CLASS(klass)->dispose = dispose;
    G_OBJECT_CLASS(klass)->finalize = finalize;
    GTK_WINDOW_CLASS(klass)->close_request = close_request;
    gtk_widget_class_set_template_from_resource(wc, "/org/traitscope/Traitscope/ts-window.ui");
    gtk_widget_class_bind_template_child(wc, TsWindow, browser_box);
    gtk_widget_class_bind_template_child(wc, TsWindow, rules_button);
    gtk_widget_class_bind_template_child(wc, TsWindow, export_button);
    gtk_widget_class_bind_template_child(wc, TsWindow, panels_button);
    gtk_widget_class_bind_template_child(wc, TsWindow, panel_grid);
    gtk_widget_class_bind_template_child(wc, TsWindow, status_label);
    gtk_widget_class_bind_template_child(wc, TsWindow, error_label);
    gtk_widget_class_bind_template_child(wc, TsWindow, points_toggle);
    gtk_widget_class_bind_template_child(wc, TsWindow, indices_toggle);
    gtk_widget_class_bind_template_child(wc, TsWindow, contours_toggle);
    gtk_widget_class_bind_template_child(wc, TsWindow, method_dropdown);
    gtk_widget_class_bind_template_child(wc, TsWindow, rules_entry);
    gtk_widget_class_bind_template_child(wc, TsWindow, target_dropdown);
    gtk_widget_class_bind_template_child(wc, TsWindow, target_labels);
    gtk_widget_class_bind_template_child(wc, TsWindow, stack);
    gtk_widget_class_bind_template_child(wc, TsWindow, train_box);
    gtk_widget_class_bind_template_child(wc, TsWindow, panels_menu);
    gtk_widget_class_bind_template_child(wc, TsWindow, paned);
    gtk_widget_class_install_action(wc, "win.open", NULL, act_open);
    gtk_widget_class_install_action(wc, "win.open-dataset", NULL, act_open_dataset);
    gtk_widget_class_install_action(wc, "win.page-explore", NULL, act_page);
    gtk_widget_class_install_action(wc, "win.page-train", NULL, act_page);
    gtk_widget_class_add_binding_action(wc, GDK_KEY_1, GDK_CONTROL_MASK, "win.page-explore", NULL);
    gtk_widget_class_add_binding_action(wc, GDK_KEY_2, GDK_CONTROL_MASK, "win.page-train", NULL);
    gtk_widget_class_install_action(wc, "win.model-a", NULL, act_model_a);
    gtk_widget_class_install_action(wc, "win.model-b", NULL, act_model_b);
    gtk_widget_class_install_action(wc, "win.export", NULL, act_export);
    gtk_widget_class_install_action(wc, "win.next", NULL, act_step);
    gtk_widget_class_install_action(wc, "win.prev", NULL, act_step);
    gtk_widget_class_install_action(wc, "win.toggle-indices", NULL, act_indices);
    gtk_widget_class_install_action(wc, "win.shortcuts", NULL, act_shortcuts);
    gtk_widget_class_add_binding_action(wc, GDK_KEY_o, GDK_CONTROL_MASK, "win.open", NULL);
    gtk_widget_class_add_binding_action(wc, GDK_KEY_o, GDK_CONTROL_MASK | GDK_SHIFT_MASK, "win.open-dataset", NULL);
    gtk_widget_class_add_binding_action(wc, GDK_KEY_e, GDK_CONTROL_MASK, "win.export", NULL);
    gtk_widget_class_add_binding_action(wc, GDK_KEY_Page_Down, 0, "win.next", NULL);
    gtk_widget_class_add_binding_action(wc, GDK_KEY_Page_Up, 0, "win.prev", NULL);
    gtk_widget_class_add_binding_action(wc, GDK_KEY_i, GDK_CONTROL_MASK, "win.toggle-indices", NULL);
    gtk_widget_class_add_binding_action(wc, GDK_KEY_question, GDK_CONTROL_MASK, "win.shortcuts", NULL);
}

static void ts_window_init(TsWindow *w)
{
    ts_style_ensure();
    gtk_widget_init_template(GTK_WIDGET(w));
    w->session = ts_session_new();
    w->panels = g_ptr_array_new_with_free_func(g_object_unref);
    ts_draw_opts_init(&w->opts);
    w->opts.dark = TRUE;
    w->opts.translate = translate;
    /* One widget per panel kind; the Panels menu chooses which show. */
    load_layout(w);
    for (int k = 0; k < TS_PANEL_COUNT; k++) {
        GtkWidget *p = ts_panel_widget_new(w->session, (ts_panel)k, &w->opts);
        g_signal_connect(p, "hover", G_CALLBACK(panel_hover), w);
        g_signal_connect(p, "pressed", G_CALLBACK(panel_pressed), w);
        g_ptr_array_add(w->panels, g_object_ref_sink(p));
        GtkWidget *check = gtk_check_button_new_with_label(_(ts_panel_title((ts_panel)k)));
        gtk_check_button_set_active(GTK_CHECK_BUTTON(check), w->shown[k]);
        g_object_set_data(G_OBJECT(check), "panel", GINT_TO_POINTER(k));
        g_signal_connect(check, "toggled", G_CALLBACK(panel_check_toggled), w);
        gtk_box_append(w->panels_menu, check);
    }
    relayout(w);
    int width = state_get_int("width", 1500), height = state_get_int("height", 940);
    gtk_window_set_default_size(GTK_WINDOW(w), width, height);
    char *max = state_get("maximized");
    if (max && strcmp(max, "1") == 0) gtk_window_maximize(GTK_WINDOW(w));
    g_free(max);
    gtk_paned_set_position(w->paned, state_get_int("sidebar", 220));
    w->browser = TS_BROWSER(ts_browser_new());
    gtk_widget_set_vexpand(GTK_WIDGET(w->browser), TRUE);
    gtk_box_append(w->browser_box, GTK_WIDGET(w->browser));
    g_signal_connect(w->browser, "face-activated", G_CALLBACK(face_activated), w);
    g_signal_connect(w->browser, "error", G_CALLBACK(browser_error), w);
    g_signal_connect(ts_browser_get_items(w->browser), "items-changed", G_CALLBACK(browser_items_changed), w);
    g_signal_connect(w->points_toggle, "toggled", G_CALLBACK(toggles_changed), w);
    g_signal_connect(w->indices_toggle, "toggled", G_CALLBACK(toggles_changed), w);
    g_signal_connect(w->contours_toggle, "toggled", G_CALLBACK(toggles_changed), w);
    g_signal_connect_swapped(w->method_dropdown, "notify::selected", G_CALLBACK(settings_changed), w);
    g_signal_connect_swapped(w->rules_entry, "activate", G_CALLBACK(settings_changed), w);
    g_signal_connect(w->target_dropdown, "notify::selected", G_CALLBACK(target_picked), w);
    g_signal_connect(w->session, "result-changed", G_CALLBACK(result_changed), w);
    g_signal_connect(w->session, "models-changed", G_CALLBACK(models_changed), w);
    w->filter_view = TS_FILTER_VIEW(g_object_ref_sink(ts_filter_view_new()));
    w->rules_editor = TS_RULES_EDITOR(ts_rules_editor_new());
    gtk_popover_set_child(gtk_menu_button_get_popover(w->rules_button), GTK_WIDGET(w->rules_editor));
    g_signal_connect(w->rules_editor, "changed", G_CALLBACK(rules_changed), w);
    models_changed(w->session, w); /* no models yet: "predicted" alone */
    w->train_page = ts_train_page_new();
    gtk_widget_set_vexpand(w->train_page, TRUE);
    gtk_box_append(w->train_box, w->train_page);
    g_signal_connect(w->train_page, "open-model", G_CALLBACK(open_trained_model), w);
    g_signal_connect(w->stack, "notify::visible-child-name", G_CALLBACK(page_changed), w);
    g_signal_connect(w->session, "notify::status", G_CALLBACK(session_notify), w);
    g_signal_connect(w->session, "notify::error", G_CALLBACK(session_notify), w);
    g_signal_connect(w->session, "notify::busy", G_CALLBACK(session_notify), w);
}

TsWindow *ts_window_new(GtkApplication *app) { return g_object_new(TS_TYPE_WINDOW, "application", app, NULL); }
