/* test-export.c - the Export Figure dialog (TsExportDialog) under Xvfb.
 *
 * Checks: the dialog starts with the panels it was given (photo first in
 * figure order), the selected faces chosen when several are selected and
 * 300 dpi; the format follows the file name; exporting 2 selected faces x
 * 3 panels to PNG at 150 dpi writes a PNG of the layout's size and a
 * sidecar with both images, then emits "exported" and closes; "current
 * face" exports one row with the face picked in the session; an export to
 * a place that takes no files shows a message naming the file, emits
 * "export-failed", stays open and writes nothing; closing during an export
 * cancels it and the dialog goes away.
 *
 * Needs a display (run under xvfb-run), the bundled models, face-api's
 * sample photos and the landmark models; exits 77 when one is missing.
 */
#include <cairo.h>
#include <cjson/cJSON.h>
#include <gtk/gtk.h>
#include <math.h>
#include <string.h>

#include "app/ts-export-dialog.h"
#include "app/ts-session.h"
#include "app/ts-render.h"

static int failures;

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            failures++;                                                                                                \
            g_printerr("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                                 \
            g_printerr(__VA_ARGS__);                                                                                   \
            g_printerr("\n");                                                                                          \
        }                                                                                                              \
    } while (0)

static void spin_until(gboolean *flag, int seconds)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)seconds * G_USEC_PER_SEC;
    while (!*flag && g_get_monotonic_time() < deadline) g_main_context_iteration(NULL, TRUE);
    if (!*flag) g_error("nothing happened within %d s", seconds);
}

static void wait_idle(TsSession *s)
{
    gint64 deadline = g_get_monotonic_time() + 240 * G_USEC_PER_SEC;
    while (ts_session_get_busy(s) && g_get_monotonic_time() < deadline) g_main_context_iteration(NULL, TRUE);
    while (g_main_context_iteration(NULL, FALSE)) {
    }
}

typedef struct Outcome {
    gboolean exported, failed, destroyed;
    char *path, *message;
} Outcome;

static void on_exported(TsExportDialog *d, const char *path, Outcome *o)
{
    o->exported = TRUE;
    g_free(o->path);
    o->path = g_strdup(path);
}

static void on_failed(TsExportDialog *d, const char *message, Outcome *o)
{
    o->failed = TRUE;
    g_free(o->message);
    o->message = g_strdup(message);
}

static void on_destroy(GtkWidget *w, Outcome *o) { o->destroyed = TRUE; }

static TsExportDialog *dialog(TsSession *s, const ts_panel *shown, int n, const char *const *selected, Outcome *o)
{
    ts_draw_opts opts;
    ts_draw_opts_init(&opts);
    TsExportDialog *d = ts_export_dialog_new(NULL, s, shown, n, selected, &opts);
    memset(o, 0, sizeof *o);
    g_signal_connect(d, "exported", G_CALLBACK(on_exported), o);
    g_signal_connect(d, "export-failed", G_CALLBACK(on_failed), o);
    g_signal_connect(d, "destroy", G_CALLBACK(on_destroy), o);
    gtk_window_present(GTK_WINDOW(d));
    return d;
}

/* TS_EXPORT_SHOT=FILE.png: the dialog as drawn, to look at. */
static void screenshot(GtkWidget *w, const char *path)
{
    gint64 until = g_get_monotonic_time() + G_USEC_PER_SEC / 2;
    while (g_get_monotonic_time() < until) g_main_context_iteration(NULL, FALSE);
    GError *err = NULL;
    if (!ts_widget_save_png(w, path, &err)) g_printerr("%s\n", err->message);
    g_clear_error(&err);
}

static cJSON *read_json(const char *path)
{
    char *data = NULL;
    if (!g_file_get_contents(path, &data, NULL, NULL)) return NULL;
    cJSON *j = cJSON_Parse(data);
    g_free(data);
    return j;
}

int main(int argc, char **argv)
{
    const char *src = g_getenv("TS_SOURCE_ROOT");
    if (!src) {
        g_print("SKIP: run through meson test (TS_SOURCE_ROOT)\n");
        return 77;
    }
    char *photo = g_build_filename(src, "node_modules/@vladmandic/face-api/demo/sample3.jpg", NULL);
    char *photo2 = g_build_filename(src, "node_modules/@vladmandic/face-api/demo/sample2.jpg", NULL);
    char *model_a = g_build_filename(src, "resources/models/baseline.safetensors", NULL);
    char *model_b = g_build_filename(src, "resources/models/lacnn.safetensors", NULL);
    const char *need[] = { photo, photo2, model_a, model_b, "/usr/share/dlib/shape_predictor_68_face_landmarks.dat" };
    for (size_t i = 0; i < G_N_ELEMENTS(need); i++)
        if (!g_file_test(need[i], G_FILE_TEST_EXISTS)) {
            g_print("SKIP: %s is missing (tools/setup.sh)\n", need[i]);
            return 77;
        }
    if (!gtk_init_check()) {
        g_print("SKIP: no display (run under xvfb-run)\n");
        return 77;
    }
    char *tmp = g_dir_make_tmp("ts-export-XXXXXX", NULL);

    TsSession *s = ts_session_new();
    TsRequest req = { 0 };
    req.image = photo;
    req.model[0] = model_a;
    req.model[1] = model_b;
    req.method = TS_LANDMARKS_ERT;
    ts_session_request(s, &req);
    wait_idle(s);
    const ts_inspect *r = ts_session_get_result(s);
    if (!r || r->n_faces < 2) {
        g_printerr("FAIL: sample3.jpg: %d faces\n", r ? r->n_faces : -1);
        return 1;
    }
    int k = r->face == 0 ? 1 : 0;
    ts_session_pick_face(s, k);
    wait_idle(s);
    CHECK(ts_session_get_result(s)->face == k, "picked %d", k);

    const ts_panel shown[] = { TS_PANEL_FACE, TS_PANEL_LRP_A, TS_PANEL_PHOTO };
    const char *const selected[] = { photo, photo2, NULL };
    Outcome o;

    /* 1. two selected faces x three panels, PNG at 150 dpi */
    TsExportDialog *d = dialog(s, shown, 3, selected, &o);
    ts_panel got[TS_PANEL_COUNT];
    int n = ts_export_dialog_get_panels(d, got);
    CHECK(n == 3 && got[0] == TS_PANEL_PHOTO && got[1] == TS_PANEL_FACE && got[2] == TS_PANEL_LRP_A,
          "panels at first: %d, first %s", n, n ? ts_panel_name(got[0]) : "-");
    CHECK(ts_export_dialog_get_dpi(d) == 300, "dpi %g", ts_export_dialog_get_dpi(d));
    char *svg = g_strdup_printf("%s/fig.svg", tmp);
    ts_export_dialog_set_path(d, svg);
    CHECK(g_str_has_suffix(ts_export_dialog_get_path(d), ".svg"), "%s", ts_export_dialog_get_path(d));
    char *noext = g_strdup_printf("%s/fig", tmp);
    ts_export_dialog_set_path(d, noext);
    CHECK(g_strcmp0(ts_export_dialog_get_path(d), svg) == 0, "a name without extension gets the format's: %s",
          ts_export_dialog_get_path(d));
    char *png = g_strdup_printf("%s/fig.png", tmp);
    ts_export_dialog_set_path(d, png);
    ts_export_dialog_set_dpi(d, 150);
    ts_export_dialog_export(d);
    spin_until(&o.exported, 240);
    CHECK(!o.failed, "failed: %s", o.message);
    CHECK(g_strcmp0(o.path, png) == 0, "exported %s", o.path);
    while (g_main_context_iteration(NULL, FALSE)) {
    }
    CHECK(o.destroyed, "the dialog stays open after a success");
    cairo_surface_t *img = cairo_image_surface_create_from_png(png);
    double w_pt, h_pt;
    ts_figure_page_size(2, 3, &w_pt, &h_pt);
    CHECK(cairo_surface_status(img) == CAIRO_STATUS_SUCCESS, "%s is not a PNG", png);
    CHECK(cairo_image_surface_get_width(img) == (int)ceil(w_pt * 150 / 72 - 1e-6) &&
              cairo_image_surface_get_height(img) == (int)ceil(h_pt * 150 / 72 - 1e-6),
          "%s is %dx%d", png, cairo_image_surface_get_width(img), cairo_image_surface_get_height(img));
    cairo_surface_destroy(img);
    char *side = g_strdup_printf("%s.json", png);
    cJSON *j = read_json(side);
    cJSON *imgs = cJSON_GetObjectItem(j, "images");
    CHECK(cJSON_GetArraySize(imgs) == 2, "rows in the sidecar: %d", cJSON_GetArraySize(imgs));
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "models")) == 2, "models in the sidecar");
    CHECK(g_strcmp0(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(imgs, 1), "path")), photo2) == 0,
          "second row");
    cJSON_Delete(j);

    /* 2. the current face, PDF */
    d = dialog(s, shown, 3, selected, &o);
    ts_export_dialog_set_use_selected(d, FALSE);
    char *pdf = g_strdup_printf("%s/current.pdf", tmp);
    ts_export_dialog_set_path(d, pdf);
    ts_export_dialog_export(d);
    spin_until(&o.exported, 240);
    char *pdf_side = g_strdup_printf("%s.json", pdf);
    j = read_json(pdf_side);
    imgs = cJSON_GetObjectItem(j, "images");
    CHECK(cJSON_GetArraySize(imgs) == 1, "rows for the current face: %d", cJSON_GetArraySize(imgs));
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetArrayItem(imgs, 0), "face")) == k, "the face picked");
    cJSON_Delete(j);
    char *bytes = NULL;
    gsize len = 0;
    g_file_get_contents(pdf, &bytes, &len, NULL);
    CHECK(bytes && len > 100 && memcmp(bytes, "%PDF-", 5) == 0 && g_strrstr_len(bytes + len - 16, 16, "%%EOF"),
          "%s is not a PDF", pdf);
    g_free(bytes);

    /* 3. a place that takes no files */
    d = dialog(s, shown, 3, NULL, &o);
    const char *bad = "/proc/ts-export-test.png";
    ts_export_dialog_set_path(d, bad);
    ts_export_dialog_export(d);
    spin_until(&o.failed, 240);
    while (g_main_context_iteration(NULL, FALSE)) {
    }
    CHECK(!o.exported && !o.destroyed, "the dialog closed after a failure");
    CHECK(o.message && strstr(o.message, bad), "the message does not name %s: %s", bad, o.message);
    CHECK(strstr(ts_export_dialog_get_message(d), bad), "the dialog shows: %s", ts_export_dialog_get_message(d));
    CHECK(!g_file_test(bad, G_FILE_TEST_EXISTS), "%s exists", bad);
    g_print("expected error shown: %s\n", ts_export_dialog_get_message(d));
    if (g_getenv("TS_EXPORT_SHOT")) screenshot(GTK_WIDGET(d), g_getenv("TS_EXPORT_SHOT"));

    /* 4. closing while it runs cancels, then the dialog goes away */
    char *cancelled = g_strdup_printf("%s/cancelled.pdf", tmp);
    ts_export_dialog_set_path(d, cancelled);
    ts_export_dialog_set_use_selected(d, FALSE);
    o.failed = FALSE;
    ts_export_dialog_export(d);
    gtk_window_close(GTK_WINDOW(d));
    spin_until(&o.destroyed, 240);
    wait_idle(s);
    g_print("cancelled export: %s\n", g_file_test(cancelled, G_FILE_TEST_EXISTS) ? "finished first" : "no file");

    g_object_unref(s);
    char *rm[] = { "rm", "-rf", tmp, NULL };
    g_spawn_sync(NULL, rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
    g_print("%s: %d failure(s)\n", failures ? "FAIL" : "ok", failures);
    return failures ? 1 : 0;
}
