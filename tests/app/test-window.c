/* test-window.c - the explorer's main window as a whole, under Xvfb: the
 * controller wiring between the browser, the session, the panels and the
 * views the window opens (issue 7).
 *
 * With the bundled models and face-api's group photos it checks that:
 * the first face opened is inspected; a click on a face box in the photo
 * panel inspects that face; a click on an activation map shows that map
 * and its filter; a double-click on a heatmap opens the zoomable map view
 * with that heatmap; the rules editor's "changed" reaches the inspection;
 * Page Down moves to the next photo; the panel choice survives a new
 * window (state file); an export writes a valid PDF and its sidecar; the
 * training page's "open-model" loads a model and shows the explorer; a
 * UTKFace dataset spec given in the Open Dataset dialog (when the data is
 * there) lists its rows and shows the first.  With a multi-label model as
 * model B and a gender-only one as model A (tests/app/multilabel.h, both
 * trained here in seconds), the target control offers B's traits and
 * classes, and what it picks is what both models' heatmaps explain (the
 * one-trait model A says it cannot explain another trait); the rules
 * editor lists and follows the same targets.  Exit 77 when the sample
 * photos, Xvfb, or the CelebA-HQ faces for the multi-label part are
 * missing.
 */
#include <gtk/gtk.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "app/ts-filter-view.h"
#include "app/ts-gl-view.h"
#include "app/ts-browser.h"
#include "app/ts-dataset-dialog.h"
#include "app/ts-rules-editor.h"
#include "app/ts-window.h"
#include "multilabel.h"

static int failures;

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);              \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
            failures++;                                                       \
        }                                                                     \
    } while (0)

/* Iterates the main loop until cond(data) or `seconds` pass. */
static gboolean wait_for(gboolean (*cond)(gpointer), gpointer data, double seconds)
{
    gint64 end = g_get_monotonic_time() + (gint64)(seconds * 1e6);
    while (!cond(data)) {
        if (g_get_monotonic_time() > end) return FALSE;
        g_main_context_iteration(NULL, FALSE);
        g_usleep(2000);
    }
    return TRUE;
}

static int results;
static void on_result(TsSession *s, gpointer user) { results++; }

typedef struct Want {
    TsWindow *w;
    int results_after;
} Want;

/* A result newer than `results_after` and nothing pending. */
static gboolean settled(gpointer data)
{
    Want *x = data;
    TsSession *s = ts_window_get_session(x->w);
    return results > x->results_after && !ts_session_get_busy(s) && ts_session_get_result(s);
}

static gboolean settle(TsWindow *w, int after, double seconds)
{
    Want x = { w, after };
    return wait_for(settled, &x, seconds);
}

/* A point of panel p (w x h) where hit(r, ...) gives `want` (or, want < 0,
 * any value >= 0 other than `avoid`); FALSE if none on a 4-pixel grid. */
static gboolean find_point(const ts_inspect *r, ts_panel p, double w, double h, int avoid, double *px, double *py,
                           int *found)
{
    for (double y = 2; y < h; y += 4)
        for (double x = 2; x < w; x += 4) {
            int k = p == TS_PANEL_PHOTO ? ts_figure_photo_face_at(r, w, h, x, y) : ts_figure_act_map_at(r, p, w, h, x, y);
            if (k >= 0 && k != avoid) {
                *px = x, *py = y, *found = k;
                return TRUE;
            }
        }
    return FALSE;
}

/* The first widget of `type` under w (depth first). */
static GtkWidget *find_child(GtkWidget *w, GType type)
{
    if (G_TYPE_CHECK_INSTANCE_TYPE(w, type)) return w;
    for (GtkWidget *c = gtk_widget_get_first_child(w); c; c = gtk_widget_get_next_sibling(c)) {
        GtkWidget *f = find_child(c, type);
        if (f) return f;
    }
    return NULL;
}

/* ts_window_export_async, waited for (the test's own loop). */
typedef struct Exported {
    gboolean done, ok;
    GError *error;
} Exported;

static void exported(GObject *src, GAsyncResult *res, gpointer user)
{
    Exported *x = user;
    x->ok = ts_window_export_finish(TS_WINDOW(src), res, &x->error);
    x->done = TRUE;
}

static gboolean export_done(gpointer x) { return ((Exported *)x)->done; }

static gboolean export_wait(TsWindow *w, const char *path, GError **error)
{
    Exported x = { FALSE, FALSE, NULL };
    ts_window_export_async(w, path, NULL, exported, &x);
    if (!wait_for(export_done, &x, 120)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "%s: no answer in 120 s", path);
        return FALSE;
    }
    if (!x.ok) g_propagate_error(error, x.error);
    return x.ok;
}

/* Picks `value` in the target control; FALSE when it is not offered. */
static gboolean pick_target(TsWindow *w, const char *value)
{
    const char *const *values = ts_session_get_target_values(ts_window_get_session(w));
    for (guint i = 0; values && values[i]; i++)
        if (!strcmp(values[i], value)) {
            gtk_drop_down_set_selected(GTK_DROP_DOWN(ts_window_get_target_control(w)), i);
            return TRUE;
        }
    return FALSE;
}

/* The multi-label part: model B multi-label, model A one trait. */
static int check_targets(TsWindow *w, const char *src, const char *tmp)
{
    const char *data = g_getenv("TS_SHARED_DATA");
    char *celeba = data ? g_build_filename(data, "celebahq", NULL) : NULL;
    char *ml = g_build_filename(tmp, "multilabel.safetensors", NULL);
    if (!celeba || !g_file_test(celeba, G_FILE_TEST_IS_DIR)) {
        printf("SKIP (part): no CelebA-HQ faces at %s for the multi-label model\n", celeba ? celeba : "(unset)");
        g_free(celeba);
        g_free(ml);
        return 77;
    }
    char *one = g_build_filename(tmp, "gender-only.safetensors", NULL);
    CHECK(train_multilabel(celeba, src, ml), "the multi-label model could not be trained");
    CHECK(train_gender_only(celeba, src, one), "the gender-only model could not be trained");
    TsSession *s = ts_window_get_session(w);
    char *was_a = g_strdup(ts_session_get_model_path(s, 0));
    int before = results;
    ts_window_load_model(w, 0, one);
    CHECK(settle(w, before, 120), "no result after loading the gender-only model");
    g_free(one);
    before = results;
    ts_window_load_model(w, 1, ml);
    CHECK(settle(w, before, 120), "no result after loading the multi-label model");
    const ts_inspect *r = ts_session_get_result(s);
    CHECK(r && r->model[1].multilabel && g_str_has_prefix(r->model[1].explained, "gender="),
          "the multi-label model explains the first trait's predicted class: %s", r ? r->model[1].explained : "");
    const char *const *values = ts_session_get_target_values(s);
    const char *want[] = { "", "gender", "gender=female", "gender=male", "emotion", "emotion=joy", "hair" };
    for (size_t i = 0; i < G_N_ELEMENTS(want); i++)
        CHECK(values && g_strv_contains(values, want[i]), "target '%s' not offered", want[i]);
    GtkDropDown *dd = GTK_DROP_DOWN(ts_window_get_target_control(w));
    TsRulesEditor *ed = TS_RULES_EDITOR(ts_window_get_rules_editor(w));
    guint n = values ? g_strv_length((char **)values) : 0;
    CHECK(g_list_model_get_n_items(gtk_drop_down_get_model(dd)) == n &&
              g_list_model_get_n_items(gtk_drop_down_get_model(ts_rules_editor_get_target_dropdown(ed))) == n,
          "the control and the rules editor list the %u targets", n);

    before = results;
    CHECK(pick_target(w, "emotion=joy"), "emotion=joy not in the control");
    CHECK(settle(w, before, 120), "no result after picking emotion=joy");
    r = ts_session_get_result(s);
    CHECK(r && !strcmp(r->model[1].explained, "emotion=joy"), "B explains %s", r ? r->model[1].explained : "");
    CHECK(r && strstr(r->model[0].error, "'gender' only"), "A (gender only) says so: '%s'", r ? r->model[0].error : "");
    CHECK(!g_strcmp0(ts_rules_editor_get_target(ed), "emotion=joy"), "the rules editor follows: %s",
          ts_rules_editor_get_target(ed));

    before = results;
    CHECK(pick_target(w, "gender=male"), "gender=male not in the control");
    CHECK(settle(w, before, 120), "no result after picking gender=male");
    r = ts_session_get_result(s);
    CHECK(r && !strcmp(r->model[0].explained, "male") && !strcmp(r->model[1].explained, "gender=male") &&
              !r->model[0].error[0],
          "both explain male: %s, %s", r ? r->model[0].explained : "", r ? r->model[1].explained : "");
    printf("targets: %u offered; emotion=joy and gender=male explained as asked\n", n);

    /* the rules editor's pick reaches the control and the inspection */
    before = results;
    g_signal_emit_by_name(ed, "changed", "preset=adience", "hair");
    CHECK(settle(w, before, 120), "no result after the editor's target");
    r = ts_session_get_result(s);
    values = ts_session_get_target_values(s);
    guint sel = gtk_drop_down_get_selected(dd);
    CHECK(values && sel < n && !strcmp(values[sel], "hair"), "the control shows the editor's target");
    CHECK(r && g_str_has_prefix(r->model[1].explained, "hair="), "B explains %s", r ? r->model[1].explained : "");
    /* model A as it was, for the rest of the test */
    before = results;
    ts_window_load_model(w, 0, was_a);
    CHECK(settle(w, before, 120), "no result after loading %s again", was_a);
    g_free(was_a);
    g_free(celeba);
    g_free(ml);
    return 0;
}

static gboolean has_twelve(gpointer b) { return g_list_model_get_n_items(ts_browser_get_items(b)) == 12; }

int main(int argc, char **argv)
{
    const char *src = g_getenv("TS_SOURCE_ROOT");
    if (!src) {
        fprintf(stderr, "TS_SOURCE_ROOT not set (run through meson test)\n");
        return 1;
    }
    char *photo2 = g_build_filename(src, "node_modules/@vladmandic/face-api/demo/sample3.jpg", NULL);
    char *photo3 = g_build_filename(src, "node_modules/@vladmandic/face-api/demo/sample5.jpg", NULL);
    char *model_a = g_build_filename(src, "resources/models/baseline.safetensors", NULL);
    char *model_b = g_build_filename(src, "resources/models/lacnn.safetensors", NULL);
    if (!g_file_test(photo2, G_FILE_TEST_EXISTS) || !g_file_test(photo3, G_FILE_TEST_EXISTS)) {
        printf("skip: face-api's sample photos are missing (run tools/setup.sh)\n");
        return 77;
    }
    /* the window's remembered state goes to a fresh folder */
    char *tmp = g_dir_make_tmp("ts-window-XXXXXX", NULL);
    g_setenv("XDG_CONFIG_HOME", tmp, TRUE);
    if (!gtk_init_check()) {
        printf("skip: no display (run under xvfb-run)\n");
        return 77;
    }

    TsWindow *w = ts_window_new(NULL);
    TsSession *s = ts_window_get_session(w);
    g_signal_connect(s, "result-changed", G_CALLBACK(on_result), NULL);
    gtk_window_set_default_size(GTK_WINDOW(w), 1500, 940);
    gtk_window_present(GTK_WINDOW(w));
    ts_window_load_model(w, 0, model_a);
    ts_window_load_model(w, 1, model_b);
    char *args[] = { photo2, photo3, NULL };
    ts_window_open_args(w, args);

    /* ---- the first photo is inspected, with both models ---- */
    CHECK(settle(w, 0, 180), "no inspection within 180 s");
    const ts_inspect *r = ts_session_get_result(s);
    CHECK(r && !strcmp(ts_session_get_image(s), photo2), "first face: image %s", r ? ts_session_get_image(s) : "none");
    CHECK(r && r->model[0].present && r->model[1].present, "both models inspected");
    CHECK(r && r->n_faces > 1, "sample3 has several faces, found %d", r ? r->n_faces : -1);
    for (int i = 0; i < 20; i++) g_main_context_iteration(NULL, FALSE); /* let the panels get their size */

    /* ---- a click on another face's box in the photo panel inspects it ---- */
    GtkWidget *photo = ts_window_get_panel(w, TS_PANEL_PHOTO);
    double pw = gtk_widget_get_width(photo), ph = gtk_widget_get_height(photo), x, y;
    int k = -1;
    CHECK(pw > 50 && ph > 50, "photo panel has a size (%gx%g)", pw, ph);
    if (r && find_point(r, TS_PANEL_PHOTO, pw, ph, r->face, &x, &y, &k)) {
        int before = results;
        g_signal_emit_by_name(photo, "pressed", 1, x, y);
        CHECK(settle(w, before, 120), "picking face %d gave no result", k);
        r = ts_session_get_result(s);
        CHECK(r && r->face == k, "picked face %d, inspected %d", k, r ? r->face : -1);
    } else {
        CHECK(0, "no other face box found in the photo panel");
    }

    /* ---- a click on an activation map shows it with its filter ---- */
    GtkWidget *act = ts_window_get_panel(w, TS_PANEL_ACT_B);
    double aw = gtk_widget_get_width(act), ah = gtk_widget_get_height(act);
    int map = -1;
    if (r && find_point(r, TS_PANEL_ACT_B, aw, ah, -1, &x, &y, &map)) {
        g_signal_emit_by_name(act, "pressed", 1, x, y);
        TsFilterView *fv = TS_FILTER_VIEW(ts_window_get_filter_view(w));
        CHECK(ts_filter_view_get_model(fv) == 1 && ts_filter_view_get_map_index(fv) == map,
              "filter view shows model %d map %d, clicked model 1 map %d", ts_filter_view_get_model(fv),
              ts_filter_view_get_map_index(fv), map);
        int in_c = 0, kh = 0, kw = 0;
        CHECK(ts_filter_view_get_filter(fv, &in_c, &kh, &kw) && in_c == 4,
              "LACNN conv1 filter with 4 input channels (got %d)", in_c);
    } else {
        CHECK(0, "no activation map found in panel act-b");
    }

    /* ---- a double-click on a heatmap opens the zoomable map view ---- */
    GtkWidget *lrp = ts_window_get_panel(w, TS_PANEL_LRP_A);
    g_signal_emit_by_name(lrp, "pressed", 2, 40.0, 40.0);
    TsGlView *mv = ts_window_get_map_view(w) ? TS_GL_VIEW(ts_window_get_map_view(w)) : NULL;
    CHECK(mv && ts_gl_view_get_layer(mv) == TS_GL_VIEW_HEAT, "map view with the heatmap");
    if (mv && r) CHECK(fabsf(ts_gl_view_get_heat_scale(mv) - ts_figure_lrp_scale(r)) <= 1e-6f * ts_figure_lrp_scale(r),
                       "map view scale %g, panels' %g", ts_gl_view_get_heat_scale(mv), ts_figure_lrp_scale(r));
    g_signal_emit_by_name(ts_window_get_panel(w, TS_PANEL_AMAP), "pressed", 2, 40.0, 40.0);
    CHECK(mv && ts_gl_view_get_layer(mv) == TS_GL_VIEW_AMAP, "map view switched to A(x,y)");

    /* ---- the rules editor's choice reaches the inspection ---- */
    {
        int before = results;
        g_signal_emit_by_name(ts_window_get_rules_editor(w), "changed", "preset=adience;conv1=epsilon:0.25", "");
        CHECK(settle(w, before, 120), "no result after a rules change");
        r = ts_session_get_result(s);
        CHECK(r && strstr(r->model[0].rules, "conv1=epsilon:0.25"), "rules as applied: %s", r ? r->model[0].rules : "");
    }

    /* ---- Page Down: the next photo ---- */
    {
        int before = results;
        gtk_widget_activate_action(GTK_WIDGET(w), "win.next", NULL);
        CHECK(settle(w, before, 120), "no result after win.next");
        CHECK(!strcmp(ts_session_get_image(s), photo3), "next image %s", ts_session_get_image(s));
    }

    /* ---- export: PDF and its sidecar ---- */
    char *pdf = g_build_filename(tmp, "fig.pdf", NULL), *side = g_strconcat(pdf, ".json", NULL);
    GError *err = NULL;
    CHECK(export_wait(w, pdf, &err), "export: %s", err ? err->message : "");
    g_clear_error(&err);
    char *text = NULL;
    gsize len = 0;
    CHECK(g_file_get_contents(pdf, &text, &len, NULL) && len > 1000 && !memcmp(text, "%PDF", 4), "PDF written");
    g_free(text);
    CHECK(g_file_get_contents(side, &text, &len, NULL) && strstr(text, "sha256") && strstr(text, "sample5.jpg"),
          "sidecar names the image and the models' hashes");
    g_free(text);
    CHECK(!export_wait(w, "/nonexistent-dir/fig.pdf", &err) && err && strstr(err->message, "/nonexistent-dir"),
          "export to a missing folder names it: %s", err ? err->message : "(no error)");
    g_clear_error(&err);

    /* ---- the training page's "open-model" loads the model here ---- */
    {
        int before = results;
        g_signal_emit_by_name(ts_window_get_train_page(w), "open-model", model_b, 0);
        CHECK(settle(w, before, 120), "no result after open-model");
        CHECK(!g_strcmp0(ts_session_get_model_path(s, 0), model_b), "model A is now %s",
              ts_session_get_model_path(s, 0));
    }

    /* ---- a multi-label model B: the LRP target control ---- */
    int skipped = check_targets(w, src, tmp);

    /* ---- the panel choice is remembered ---- */
    ts_panel three[3] = { TS_PANEL_FACE, TS_PANEL_AMAP, TS_PANEL_LRP_A };
    ts_window_set_panels(w, three, 3);

    /* ---- a dataset spec: its rows, the first one shown ---- */
    const char *data = g_getenv("TS_SHARED_DATA");
    char *utk = data ? g_build_filename(data, "utkface", NULL) : NULL;
    if (utk && g_file_test(utk, G_FILE_TEST_IS_DIR)) {
        char *spec = g_strconcat("utkface:", utk, NULL);
        int before = results;
        /* through "Dataset…": the dialog (its .ui) takes the spec and the limit */
        gtk_widget_activate_action(GTK_WIDGET(w), "win.open-dataset", NULL);
        TsDatasetDialog *dlg = NULL;
        GListModel *tops = gtk_window_get_toplevels();
        for (guint i = 0; i < g_list_model_get_n_items(tops); i++) {
            GObject *t = g_list_model_get_item(tops, i);
            if (TS_IS_DATASET_DIALOG(t)) dlg = TS_DATASET_DIALOG(t);
            g_object_unref(t);
        }
        CHECK(dlg != NULL, "Dataset… opened no dialog");
        if (dlg) {
            GtkWidget *entry = find_child(GTK_WIDGET(dlg), GTK_TYPE_ENTRY);
            GtkWidget *spin = find_child(GTK_WIDGET(dlg), GTK_TYPE_SPIN_BUTTON);
            CHECK(entry && spin, "the dialog has a spec entry and a row limit");
            if (entry && spin) {
                gtk_editable_set_text(GTK_EDITABLE(entry), spec);
                gtk_spin_button_set_value(GTK_SPIN_BUTTON(spin), 12);
                g_signal_emit_by_name(entry, "activate"); /* Enter: Open */
            }
        } else {
            ts_window_open_spec(w, spec, 12);
        }
        TsBrowser *b = TS_BROWSER(ts_window_get_browser(w));
        /* the button's activation (Enter) clicks after its press animation */
        CHECK(wait_for(has_twelve, b, 60), "the dataset listed no 12 rows in 60 s");
        CHECK(g_list_model_get_n_items(ts_browser_get_items(b)) == 12, "12 rows, got %u",
              g_list_model_get_n_items(ts_browser_get_items(b)));
        CHECK(settle(w, before, 120), "the first dataset face was not inspected");
        CHECK(g_str_has_prefix(ts_session_get_image(s), utk), "shown image %s is from %s", ts_session_get_image(s), utk);
        g_free(spec);
    } else {
        printf("note: no UTKFace data at %s; the dataset part is left out\n", utk ? utk : "(TS_SHARED_DATA unset)");
    }
    g_free(utk);

    gtk_window_close(GTK_WINDOW(w)); /* saves the size; destroys */
    for (int i = 0; i < 50; i++) g_main_context_iteration(NULL, FALSE);

    TsWindow *w2 = ts_window_new(NULL);
    ts_panel got[TS_PANEL_COUNT];
    int n = ts_window_get_panels(w2, got);
    CHECK(n == 3 && got[0] == TS_PANEL_FACE && got[1] == TS_PANEL_AMAP && got[2] == TS_PANEL_LRP_A,
          "a new window shows the remembered panels (%d)", n);
    char *remembered = ts_window_get_remembered_model(w2, 0);
    CHECK(!g_strcmp0(remembered, model_b), "model A remembered for the next run: %s", remembered ? remembered : "(none)");
    g_free(remembered);
    gtk_window_destroy(GTK_WINDOW(w2));
    /* the app icon is in the bundle where GtkApplication's icon path finds it */
    CHECK(g_resources_get_info("/org/traitscope/Traitscope/icons/scalable/apps/org.traitscope.Traitscope.svg",
                               G_RESOURCE_LOOKUP_FLAGS_NONE, NULL, NULL, NULL),
          "application icon missing from the GResource bundle");

    printf("%s: %d failure(s)\n", failures ? "FAIL" : "ok", failures);
    if (!failures && skipped) return 77;
    g_free(pdf);
    g_free(side);
    g_free(photo2);
    g_free(photo3);
    g_free(model_a);
    g_free(model_b);
    return failures ? 1 : 0;
}
