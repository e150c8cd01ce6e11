/* ts-window.c - see ts-window.h.  The window owns a TsSession; the panels
 * draw the session's result; every engine call happens in the session's
 * worker thread. */
#include "ts-window.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

#include "figure/figure.h"
#include "ts-panel.h"

struct _TsWindow {
    GtkApplicationWindow parent;
    GtkListBox *image_list;
    GtkGrid *panel_grid;
    GtkLabel *status_label, *error_label;
    GtkToggleButton *points_toggle, *indices_toggle, *contours_toggle;
    GtkDropDown *method_dropdown;
    GtkEntry *rules_entry, *target_entry;
    GtkStack *stack;
    GtkBox *train_box, *panels_menu;
    GtkPaned *paned;

    TsSession *session;
    ts_draw_opts opts;
    GPtrArray *paths;        /* char*, one per row of image_list */
    GPtrArray *panels;       /* TsPanelWidget*, one per ts_panel kind; owned (ref) */
    gboolean shown[TS_PANEL_COUNT];
    char *hover_text;
};

G_DEFINE_FINAL_TYPE(TsWindow, ts_window, GTK_TYPE_APPLICATION_WINDOW)

/* ---- remembered state: last folder and models ---- */

static char *state_path(void) { return g_build_filename(g_get_user_config_dir(), "traitscope", "state.ini", NULL); }

static void state_set(const char *key, const char *value)
{
    char *path = state_path();
    GKeyFile *kf = g_key_file_new();
    g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, NULL);
    g_key_file_set_string(kf, "state", key, value);
    char *dir = g_path_get_dirname(path);
    g_mkdir_with_parents(dir, 0755);
    /* g_key_file_save_to_file writes through a temporary file and renames */
    g_key_file_save_to_file(kf, path, NULL);
    g_free(dir);
    g_key_file_unref(kf);
    g_free(path);
}

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

static void state_set_int(const char *key, int value)
{
    char buf[32];
    g_snprintf(buf, sizeof buf, "%d", value);
    state_set(key, buf);
}

static const char *translate(const char *msgid) { return gettext(msgid); }

/* ---- requests ---- */

static void request(TsWindow *w, const char *image, const char *model_a, const char *model_b)
{
    TsRequest r = { 0 };
    r.image = (char *)(image ? image : ts_session_get_image(w->session));
    if (r.image && !r.image[0]) r.image = NULL;
    r.model[0] = (char *)model_a;
    r.model[1] = (char *)model_b;
    r.method = gtk_drop_down_get_selected(w->method_dropdown) == 1 ? TS_LANDMARKS_CNN : TS_LANDMARKS_ERT;
    r.rules = (char *)gtk_editable_get_text(GTK_EDITABLE(w->rules_entry));
    r.target = (char *)gtk_editable_get_text(GTK_EDITABLE(w->target_entry));
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
    gtk_label_set_text(w->status_label, text);
    gtk_label_set_text(w->error_label, error ? error : "");
    gtk_widget_set_visible(GTK_WIDGET(w->error_label), error && error[0]);
    g_free(text);
    g_free(status);
    g_free(error);
}

static void session_notify(GObject *obj, GParamSpec *pspec, TsWindow *w) { update_status(w); }

/* The crosshair follows the pointer at the same face pixel in every panel. */
static void panel_hover(TsPanelWidget *p, double cx, double cy, TsWindow *w)
{
    w->opts.cross_x = cx;
    w->opts.cross_y = cy;
    g_clear_pointer(&w->hover_text, g_free);
    const ts_inspect *r = ts_session_get_result(w->session);
    if (r && cx >= 0) {
        int k = ts_inspect_landmark_at(r, (int)(cx + 0.5), (int)(cy + 0.5));
        if (k >= 0)
            w->hover_text = g_strdup_printf(_("pixel (%d, %d) · nearest landmark %d (%s)"), (int)(cx + 0.5),
                                            (int)(cy + 0.5), k, ts_part_name(ts_part_of_landmark(k)));
    }
    update_status(w);
    redraw_panels(w);
}

/* ---- panel layout: which panels show, remembered between runs ---- */

/* Rows of the panel grid: the face, then activations, then relevance.  A
 * name that is not a panel kind of this build is skipped. */
static const char *const layout_rows[3][4] = {
    { "photo", "face", "amap", "pred" },
    { "act-a", "act-b", "table", NULL },
    { "lrp-a", "lrp-b", "lrp-diff", NULL },
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
        for (int c = 0; c < 4 && layout_rows[r][c]; c++) {
            ts_panel k;
            if (ts_panel_parse(layout_rows[r][c], &k) && w->shown[k]) kinds[n++] = k;
        }
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

/* ---- images ---- */

static gboolean is_image_name(const char *name)
{
    char *low = g_ascii_strdown(name, -1);
    gboolean ok = g_str_has_suffix(low, ".jpg") || g_str_has_suffix(low, ".jpeg") || g_str_has_suffix(low, ".png");
    g_free(low);
    return ok;
}

static void add_row(TsWindow *w, const char *path)
{
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    GtkWidget *pic = gtk_picture_new_for_filename(path);
    gtk_picture_set_can_shrink(GTK_PICTURE(pic), TRUE);
    gtk_widget_set_size_request(pic, 56, 56);
    char *base = g_path_get_basename(path);
    GtkWidget *label = gtk_label_new(base);
    gtk_label_set_ellipsize(GTK_LABEL(label), PANGO_ELLIPSIZE_MIDDLE);
    gtk_label_set_xalign(GTK_LABEL(label), 0);
    gtk_widget_add_css_class(label, "ts-thumb-label");
    gtk_box_append(GTK_BOX(box), pic);
    gtk_box_append(GTK_BOX(box), label);
    gtk_widget_set_tooltip_text(box, path);
    gtk_list_box_append(w->image_list, box);
    g_ptr_array_add(w->paths, g_strdup(path));
    g_free(base);
}

static int compare_names(gconstpointer a, gconstpointer b)
{
    return g_utf8_collate(*(char *const *)a, *(char *const *)b);
}

void ts_window_open(TsWindow *w, GFile **files, int n)
{
    guint first = w->paths->len;
    for (int i = 0; i < n; i++) {
        char *path = g_file_get_path(files[i]);
        if (!path) continue;
        if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
            GDir *dir = g_dir_open(path, 0, NULL);
            GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
            const char *name;
            while (dir && (name = g_dir_read_name(dir)))
                if (is_image_name(name)) g_ptr_array_add(names, g_build_filename(path, name, NULL));
            if (dir) g_dir_close(dir);
            g_ptr_array_sort(names, compare_names);
            /* a browser of thousands of dataset faces: the first 500 keep it quick */
            for (guint k = 0; k < names->len && k < 500; k++) add_row(w, g_ptr_array_index(names, k));
            g_ptr_array_unref(names);
            state_set("last-folder", path);
        } else {
            add_row(w, path);
            char *dir = g_path_get_dirname(path);
            state_set("last-folder", dir);
            g_free(dir);
        }
        g_free(path);
    }
    if (w->paths->len > first)
        gtk_list_box_select_row(w->image_list, gtk_list_box_get_row_at_index(w->image_list, (int)first));
}

static void row_selected(GtkListBox *box, GtkListBoxRow *row, TsWindow *w)
{
    if (!row) return;
    int i = gtk_list_box_row_get_index(row);
    if (i >= 0 && (guint)i < w->paths->len) request(w, g_ptr_array_index(w->paths, i), NULL, NULL);
}

void ts_window_load_model(TsWindow *w, int i, const char *path)
{
    request(w, NULL, i == 0 ? path : NULL, i == 1 ? path : NULL);
    state_set(i == 0 ? "model-a" : "model-b", path);
}

/* ---- file choosers ---- */

typedef enum { PICK_IMAGES, PICK_MODEL_A, PICK_MODEL_B, PICK_EXPORT } pick_kind;

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
            if (kind == PICK_EXPORT) {
                GError *err = NULL;
                if (!ts_window_export(w, path, &err)) {
                    gtk_label_set_text(w->error_label, err->message);
                    gtk_widget_set_visible(GTK_WIDGET(w->error_label), TRUE);
                    g_error_free(err);
                }
            } else {
                ts_window_load_model(w, kind == PICK_MODEL_A ? 0 : 1, path);
            }
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
    static const char *const titles[] = { N_("Open Faces"), N_("Load Model A"), N_("Load Model B"), N_("Export Figure") };
    GtkFileChooserAction action = kind == PICK_EXPORT ? GTK_FILE_CHOOSER_ACTION_SAVE : GTK_FILE_CHOOSER_ACTION_OPEN;
    GtkFileChooserNative *d = gtk_file_chooser_native_new(_(titles[kind]), GTK_WINDOW(w), action, NULL, NULL);
    GtkFileFilter *f = gtk_file_filter_new();
    if (kind == PICK_IMAGES) {
        gtk_file_chooser_set_select_multiple(GTK_FILE_CHOOSER(d), TRUE);
        gtk_file_filter_set_name(f, _("Face images"));
        gtk_file_filter_add_mime_type(f, "image/png");
        gtk_file_filter_add_mime_type(f, "image/jpeg");
    } else if (kind == PICK_EXPORT) {
        gtk_file_chooser_set_current_name(GTK_FILE_CHOOSER(d), "figure.pdf");
        gtk_file_filter_set_name(f, _("Figures (PNG, SVG, PDF)"));
        gtk_file_filter_add_suffix(f, "png");
        gtk_file_filter_add_suffix(f, "svg");
        gtk_file_filter_add_suffix(f, "pdf");
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

static void act_open(GtkWidget *wid, const char *name, GVariant *p) { pick(TS_WINDOW(wid), PICK_IMAGES); }
static void act_model_a(GtkWidget *wid, const char *name, GVariant *p) { pick(TS_WINDOW(wid), PICK_MODEL_A); }
static void act_model_b(GtkWidget *wid, const char *name, GVariant *p) { pick(TS_WINDOW(wid), PICK_MODEL_B); }
static void act_export(GtkWidget *wid, const char *name, GVariant *p) { pick(TS_WINDOW(wid), PICK_EXPORT); }

static void act_step(GtkWidget *wid, const char *name, GVariant *p)
{
    TsWindow *w = TS_WINDOW(wid);
    GtkListBoxRow *row = gtk_list_box_get_selected_row(w->image_list);
    int i = row ? gtk_list_box_row_get_index(row) : -1;
    i += strcmp(name, "win.next") == 0 ? 1 : -1;
    GtkListBoxRow *next = gtk_list_box_get_row_at_index(w->image_list, i);
    if (next) gtk_list_box_select_row(w->image_list, next);
}

static void act_indices(GtkWidget *wid, const char *name, GVariant *p)
{
    TsWindow *w = TS_WINDOW(wid);
    gtk_toggle_button_set_active(w->indices_toggle, !gtk_toggle_button_get_active(w->indices_toggle));
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

gboolean ts_window_export(TsWindow *w, const char *path, GError **error)
{
    const ts_inspect *r = ts_session_get_result(w->session);
    if (!r) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, _("%s: there is no face to export yet"), path);
        return FALSE;
    }
    ts_panel panels[TS_PANEL_COUNT];
    for (int i = 0; i < TS_PANEL_COUNT; i++) panels[i] = (ts_panel)i;
    ts_draw_opts o = w->opts;
    for (int i = 0; i < TS_INSPECT_MODELS; i++) {
        o.class_names[i] = ts_session_get_class_names(w->session, i);
        if (ts_session_get_model_name(w->session, i)) o.model_name[i] = ts_session_get_model_name(w->session, i);
    }
    /* The sidecar: enough to remake the figure. */
    GString *j = g_string_new("{\n  \"tool\": \"traitscope\",\n");
    char *img = g_strescape(ts_session_get_image(w->session) ? ts_session_get_image(w->session) : "", NULL);
    g_string_append_printf(j, "  \"image\": \"%s\",\n  \"box\": [%.2f, %.2f, %.2f, %.2f],\n  \"models\": [", img,
                           r->box[0], r->box[1], r->box[2], r->box[3]);
    g_free(img);
    for (int i = 0; i < TS_INSPECT_MODELS; i++) {
        char *mp = g_strescape(ts_session_get_model_path(w->session, i) ? ts_session_get_model_path(w->session, i) : "", NULL);
        char *rules = g_strescape(r->model[i].rules, NULL);
        g_string_append_printf(j, "%s\n    {\"path\": \"%s\", \"sha256\": \"%s\", \"lrp_rules\": \"%s\"}", i ? "," : "", mp,
                               ts_session_get_model_hash(w->session, i) ? ts_session_get_model_hash(w->session, i) : "",
                               rules);
        g_free(mp);
        g_free(rules);
    }
    char *rules = g_strescape(gtk_editable_get_text(GTK_EDITABLE(w->rules_entry)), NULL);
    char *target = g_strescape(gtk_editable_get_text(GTK_EDITABLE(w->target_entry)), NULL);
    g_string_append_printf(j, "\n  ],\n  \"settings\": {\"landmarks\": \"%s\", \"rules\": \"%s\", \"target\": \"%s\", "
                              "\"points\": %s, \"indices\": %s, \"contours\": %s, \"dpi\": 300}\n}\n",
                           ts_landmark_method_name(r->method), rules, target, o.points ? "true" : "false",
                           o.indices ? "true" : "false", o.contours ? "true" : "false");
    g_free(rules);
    g_free(target);
    const ts_inspect *rows[1] = { r };
    ts_status st = ts_figure_export(path, rows, 1, panels, TS_PANEL_COUNT, &o, 300, j->str);
    g_string_free(j, TRUE);
    if (st != TS_OK) {
        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_FAILED, ts_last_error());
        return FALSE;
    }
    return TRUE;
}

gboolean ts_window_screenshot(TsWindow *w, const char *path, GError **error)
{
    GtkWidget *wid = GTK_WIDGET(w);
    GdkPaintable *paintable = gtk_widget_paintable_new(wid);
    int width = gtk_widget_get_width(wid), height = gtk_widget_get_height(wid);
    GtkSnapshot *snap = gtk_snapshot_new();
    gdk_paintable_snapshot(paintable, GDK_SNAPSHOT(snap), width, height);
    GskRenderNode *node = gtk_snapshot_free_to_node(snap);
    gboolean ok = FALSE;
    if (node) {
        GskRenderer *renderer = gtk_native_get_renderer(GTK_NATIVE(w));
        GdkTexture *tex = gsk_renderer_render_texture(renderer, node, &GRAPHENE_RECT_INIT(0, 0, width, height));
        char *tmp = g_strdup_printf("%s.tmp", path);
        ok = gdk_texture_save_to_png(tex, tmp) && g_rename(tmp, path) == 0;
        g_free(tmp);
        g_object_unref(tex);
        gsk_render_node_unref(node);
    }
    g_object_unref(paintable);
    if (!ok) g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, _("%s: could not write the screenshot"), path);
    return ok;
}

TsSession *ts_window_get_session(TsWindow *w) { return w->session; }

/* ---- life cycle ---- */

static gboolean close_request(GtkWindow *win)
{
    TsWindow *w = TS_WINDOW(win);
    if (!gtk_window_is_maximized(win)) {
        int width, height;
        gtk_window_get_default_size(win, &width, &height);
        if (width > 0 && height > 0) {
            state_set_int("width", width);
            state_set_int("height", height);
        }
    }
    state_set("maximized", gtk_window_is_maximized(win) ? "1" : "0");
    state_set_int("sidebar", gtk_paned_get_position(w->paned));
    return GTK_WINDOW_CLASS(ts_window_parent_class)->close_request
               ? GTK_WINDOW_CLASS(ts_window_parent_class)->close_request(win)
               : FALSE;
}

static void dispose(GObject *obj)
{
    TsWindow *w = TS_WINDOW(obj);
    if (w->session) g_signal_handlers_disconnect_by_data(w->session, w);
    gtk_widget_dispose_template(GTK_WIDGET(w), TS_TYPE_WINDOW);
    if (w->panels) g_ptr_array_set_size(w->panels, 0);
    g_clear_object(&w->session);
    G_OBJECT_CLASS(ts_window_parent_class)->dispose(obj);
}

static void finalize(GObject *obj)
{
    TsWindow *w = TS_WINDOW(obj);
    g_ptr_array_unref(w->paths);
    g_ptr_array_unref(w->panels);
    g_free(w->hover_text);
    G_OBJECT_CLASS(ts_window_parent_class)->finalize(obj);
}

static void ts_window_class_init(TsWindowClass *klass)
{
    GtkWidgetClass *wc = GTK_WIDGET_CLASS(klass);
    G_OBJECT_CLASS(klass)->dispose = dispose;
    G_OBJECT_CLASS(klass)->finalize = finalize;
    GTK_WINDOW_CLASS(klass)->close_request = close_request;
    gtk_widget_class_set_template_from_resource(wc, "/org/traitscope/Traitscope/ts-window.ui");
    gtk_widget_class_bind_template_child(wc, TsWindow, image_list);
    gtk_widget_class_bind_template_child(wc, TsWindow, panel_grid);
    gtk_widget_class_bind_template_child(wc, TsWindow, status_label);
    gtk_widget_class_bind_template_child(wc, TsWindow, error_label);
    gtk_widget_class_bind_template_child(wc, TsWindow, points_toggle);
    gtk_widget_class_bind_template_child(wc, TsWindow, indices_toggle);
    gtk_widget_class_bind_template_child(wc, TsWindow, contours_toggle);
    gtk_widget_class_bind_template_child(wc, TsWindow, method_dropdown);
    gtk_widget_class_bind_template_child(wc, TsWindow, rules_entry);
    gtk_widget_class_bind_template_child(wc, TsWindow, target_entry);
    gtk_widget_class_bind_template_child(wc, TsWindow, stack);
    gtk_widget_class_bind_template_child(wc, TsWindow, train_box);
    gtk_widget_class_bind_template_child(wc, TsWindow, panels_menu);
    gtk_widget_class_bind_template_child(wc, TsWindow, paned);
    gtk_widget_class_install_action(wc, "win.open", NULL, act_open);
    gtk_widget_class_install_action(wc, "win.model-a", NULL, act_model_a);
    gtk_widget_class_install_action(wc, "win.model-b", NULL, act_model_b);
    gtk_widget_class_install_action(wc, "win.export", NULL, act_export);
    gtk_widget_class_install_action(wc, "win.next", NULL, act_step);
    gtk_widget_class_install_action(wc, "win.prev", NULL, act_step);
    gtk_widget_class_install_action(wc, "win.toggle-indices", NULL, act_indices);
    gtk_widget_class_install_action(wc, "win.shortcuts", NULL, act_shortcuts);
    gtk_widget_class_add_binding_action(wc, GDK_KEY_o, GDK_CONTROL_MASK, "win.open", NULL);
    gtk_widget_class_add_binding_action(wc, GDK_KEY_e, GDK_CONTROL_MASK, "win.export", NULL);
    gtk_widget_class_add_binding_action(wc, GDK_KEY_Page_Down, 0, "win.next", NULL);
    gtk_widget_class_add_binding_action(wc, GDK_KEY_Page_Up, 0, "win.prev", NULL);
    gtk_widget_class_add_binding_action(wc, GDK_KEY_i, GDK_CONTROL_MASK, "win.toggle-indices", NULL);
    gtk_widget_class_add_binding_action(wc, GDK_KEY_question, GDK_CONTROL_MASK, "win.shortcuts", NULL);
}

static void ts_window_init(TsWindow *w)
{
    gtk_widget_init_template(GTK_WIDGET(w));
    w->session = ts_session_new();
    w->paths = g_ptr_array_new_with_free_func(g_free);
    w->panels = g_ptr_array_new_with_free_func(g_object_unref);
    ts_draw_opts_init(&w->opts);
    w->opts.dark = TRUE;
    w->opts.translate = translate;
    /* One widget per panel kind; the Panels menu chooses which show. */
    load_layout(w);
    for (int k = 0; k < TS_PANEL_COUNT; k++) {
        GtkWidget *p = ts_panel_widget_new(w->session, (ts_panel)k, &w->opts);
        g_signal_connect(p, "hover", G_CALLBACK(panel_hover), w);
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
    g_signal_connect(w->image_list, "row-selected", G_CALLBACK(row_selected), w);
    g_signal_connect(w->points_toggle, "toggled", G_CALLBACK(toggles_changed), w);
    g_signal_connect(w->indices_toggle, "toggled", G_CALLBACK(toggles_changed), w);
    g_signal_connect(w->contours_toggle, "toggled", G_CALLBACK(toggles_changed), w);
    g_signal_connect_swapped(w->method_dropdown, "notify::selected", G_CALLBACK(settings_changed), w);
    g_signal_connect_swapped(w->rules_entry, "activate", G_CALLBACK(settings_changed), w);
    g_signal_connect_swapped(w->target_entry, "activate", G_CALLBACK(settings_changed), w);
    g_signal_connect(w->session, "notify::status", G_CALLBACK(session_notify), w);
    g_signal_connect(w->session, "notify::error", G_CALLBACK(session_notify), w);
    g_signal_connect(w->session, "notify::busy", G_CALLBACK(session_notify), w);
}

TsWindow *ts_window_new(GtkApplication *app) { return g_object_new(TS_TYPE_WINDOW, "application", app, NULL); }
