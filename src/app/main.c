/* main.c - traitscope, the explorer.
 *
 *   traitscope [--model A.safetensors [--model B.safetensors]] [--device cpu|cuda|auto]
 *              [IMAGE|FOLDER...|DATASET-SPEC]
 *
 * --device (default auto): where the detector, the localizer, the models,
 * LRP and the browser's predictions run: the GPU when asked for or
 * present, else the CPU with one line on stderr saying why; the status
 * line names the device.
 * Without images and models it opens its embedded default: the sample
 * photos of the face-api package with the bundled baseline and LACNN
 * models (resources/models).  Without a display, or with --headless, it
 * writes the default figure to a file instead and says where.
 *
 * --headless reads its arguments as the window does (images, folders,
 * dataset specs) and draws the first four faces.
 *
 * For tests and the screenshot script: --export FILE (repeatable) and
 * --screenshot FILE act once the first face is shown, or once the source
 * has been read and holds no face at all (then the exit status is 1);
 * --quit then quits (--wait-predictions: once the browser's predictions
 * are done, too).  Every error the window shows is also said on stderr,
 * with the control characters of file names escaped.
 */
#include <gtk/gtk.h>
#include <glib/gi18n.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "data/dataset.h"
#include "figure/figure.h"
#include "nn/safetext.h"
#include "app/ts-browser.h"
#include "ts-config.h"
#include "app/ts-render.h"
#include "app/ts-window.h"

static char **opt_models, **opt_exports, **opt_files;
static gint64 t_start; /* process start, for the time to the first full window */
static char *opt_screenshot, *opt_out, *opt_page, *opt_device, *opt_detector;
static ts_device device = TS_DEVICE_AUTO;
static ts_detector_kind detector_kind = TS_DETECTOR_SSD;
static gboolean opt_headless, opt_quit, opt_version, opt_wait_predictions;

static const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME_ARRAY, &opt_models, N_("Load a model (twice: A and B)"), N_("FILE") },
    { "headless", 0, 0, G_OPTION_ARG_NONE, &opt_headless, N_("Write the default figure instead of opening a window"), NULL },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &opt_out, N_("Figure written by --headless (.png, .svg, .pdf)"), N_("FILE") },
    { "export", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &opt_exports, N_("Export the first face shown as a figure"), N_("FILE") },
    { "screenshot", 0, 0, G_OPTION_ARG_FILENAME, &opt_screenshot, N_("Save a screenshot of the window once the first face is shown"), N_("FILE") },
    { "page", 0, 0, G_OPTION_ARG_STRING, &opt_page, N_("Page to show first: explore or train"), N_("PAGE") },
    { "device", 0, 0, G_OPTION_ARG_STRING, &opt_device, N_("Where networks run: cpu, cuda or auto (the GPU when there is one)"), N_("DEVICE") },
    { "detector", 0, 0, G_OPTION_ARG_STRING, &opt_detector, N_("Face detector: ssd (default) or tiny"), N_("DETECTOR") },
    { "wait-predictions", 0, 0, G_OPTION_ARG_NONE, &opt_wait_predictions, N_("--screenshot/--export: wait until the browser's predictions are done (at most a minute)"), NULL },
    { "quit", 0, 0, G_OPTION_ARG_NONE, &opt_quit, N_("Quit after --export/--screenshot"), NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &opt_version, N_("Print the version"), NULL },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &opt_files, NULL, N_("[IMAGE|FOLDER…|celeba:DIR|utkface:DIR|csv:FILE]") },
    { NULL },
};

/* The embedded default: sample photos and bundled models, looked up in the
 * source tree (uninstalled) and the data directory (installed). */
static char *find_default(const char *rel)
{
    const char *roots[] = { TS_SOURCE_ROOT, TS_DATADIR };
    for (size_t i = 0; i < G_N_ELEMENTS(roots); i++) {
        char *p = g_build_filename(roots[i], rel, NULL);
        if (g_file_test(p, G_FILE_TEST_EXISTS)) return p;
        g_free(p);
    }
    return NULL;
}

static GPtrArray *default_images(void)
{
    GPtrArray *a = g_ptr_array_new_with_free_func(g_free);
    for (int i = 1; i <= 6; i++) {
        char rel[96];
        snprintf(rel, sizeof rel, "node_modules/@vladmandic/face-api/demo/sample%d.jpg", i);
        char *p = find_default(rel);
        if (!p) {
            snprintf(rel, sizeof rel, "samples/sample%d.jpg", i);
            p = find_default(rel);
        }
        if (p) g_ptr_array_add(a, p);
    }
    return a;
}

static char *model_arg(int i)
{
    if (opt_models && g_strv_length(opt_models) > (guint)i) return g_strdup(opt_models[i]);
    if (opt_models) return NULL;
    return find_default(i == 0 ? "resources/models/baseline.safetensors" : "resources/models/lacnn.safetensors");
}

/* The images an argument stands for, as the window's browser reads it: a
 * dataset spec (celeba:DIR, csv:FILE, ...) or a folder through the dataset
 * reader (a folder's images sorted by name), anything else as an image
 * file.  Only the first `max` are needed.  FALSE (message printed) when a
 * spec or folder cannot be read. */
static gboolean add_arg_images(GPtrArray *imgs, const char *arg, guint max)
{
    static const char *const kinds[] = { "celeba:", "utkface:", "adience:", "csv:", "folder:" };
    gboolean spec = g_file_test(arg, G_FILE_TEST_IS_DIR);
    for (size_t i = 0; i < G_N_ELEMENTS(kinds); i++) spec = spec || g_str_has_prefix(arg, kinds[i]);
    if (!spec) {
        g_ptr_array_add(imgs, g_strdup(arg));
        return TRUE;
    }
    ts_dataset ds;
    ts_dataset_init(&ds);
    guint want = max > imgs->len ? max - imgs->len : 0;
    if (ts_dataset_load(&ds, arg, (int)(want ? want : 1)) != TS_OK) {
        ts_text_print_line(stderr, "traitscope: %s", ts_last_error());
        return FALSE;
    }
    for (int r = 0; r < ds.n_rows && imgs->len < max; r++) g_ptr_array_add(imgs, g_strdup(ds.paths[r]));
    ts_dataset_clear(&ds);
    return TRUE;
}

/* --headless: the same inspection and drawing as the window, to a file. */
static int run_headless(void)
{
    const char *out = opt_out ? opt_out : "traitscope-default.pdf";
    const guint max_faces = 4;
    GPtrArray *imgs = g_ptr_array_new_with_free_func(g_free);
    if (opt_files) {
        for (char **f = opt_files; *f && imgs->len < max_faces; f++)
            if (!add_arg_images(imgs, *f, max_faces)) {
                g_ptr_array_unref(imgs);
                return 1;
            }
    } else {
        g_ptr_array_unref(imgs);
        imgs = default_images();
    }
    if (imgs->len == 0) {
        fprintf(stderr, "traitscope: no images given and no sample photos found (run tools/setup.sh)\n");
        g_ptr_array_unref(imgs);
        return 1;
    }
    ts_model *models[2] = { NULL, NULL };
    ts_draw_opts o;
    ts_draw_opts_init(&o);
    for (int i = 0; i < 2; i++) {
        char *p = model_arg(i);
        if (p && ts_model_load_any(p, &models[i]) != TS_OK) {
            ts_text_print_line(stderr, "traitscope: %s", ts_last_error());
            g_free(p);
            return 1;
        }
        if (models[i]) o.class_names[i] = (const char *const *)models[i]->meta.classes;
        g_free(p);
    }
    ts_inspector *insp = ts_inspector_new();
    char why[512];
    ts_inspector_set_device(insp, device, why, sizeof why);
    if (why[0]) fprintf(stderr, "traitscope: %s\n", why);
    ts_inspect_opts io = { 0 };
    io.face = -1;
    io.detector = detector_kind;
    guint n = imgs->len < max_faces ? imgs->len : max_faces;
    ts_inspect *res = g_new0(ts_inspect, n);
    const ts_inspect **rows = g_new0(const ts_inspect *, n);
    int k = 0;
    for (guint i = 0; i < n; i++) {
        ts_image img = { 0 };
        ts_status st = ts_image_load(g_ptr_array_index(imgs, i), &img);
        if (st == TS_OK) st = ts_inspector_run(insp, &img, models, &io, &res[k]);
        ts_image_clear(&img);
        if (st != TS_OK) {
            ts_error_about(st, g_ptr_array_index(imgs, i));
            ts_text_print_line(stderr, "traitscope: %s (skipped)", ts_last_error());
        } else {
            rows[k] = &res[k], k++;
        }
    }
    int rc = 0;
    ts_panel panels[TS_PANEL_COUNT];
    for (int i = 0; i < TS_PANEL_COUNT; i++) panels[i] = (ts_panel)i;
    if (k == 0) rc = 1;
    else if (ts_figure_export(out, rows, k, panels, TS_PANEL_COUNT, &o, 150, NULL) != TS_OK) {
        ts_text_print_line(stderr, "traitscope: %s", ts_last_error());
        rc = 1;
    } else {
        ts_text_print_line(stdout, "traitscope: no window (headless); wrote the default view of %d face(s) to %s (on %s)",
                           k, out, ts_inspector_device(insp));
    }
    for (int i = 0; i < k; i++) ts_inspect_clear(&res[i]);
    g_free(res);
    g_free(rows);
    /* the models first: they may live in the inspector's GPU context */
    ts_model_free(models[0]);
    ts_model_free(models[1]);
    ts_inspector_free(insp);
    g_ptr_array_unref(imgs);
    return rc;
}

static gboolean acted;   /* act_when_shown ran or is scheduled */
static gboolean no_face; /* the source gave nothing to show */

/* --export / --screenshot once the first face is on screen (or once it is
 * clear none will be): the screenshot, then the exports one after another
 * (each in the session's worker), then --quit. */
typedef struct Shown {
    TsWindow *w;
    char **next;  /* the exports still to write */
    int failures;
} Shown;

static void shown_end(Shown *x)
{
    if (opt_quit) {
        GApplication *app = G_APPLICATION(gtk_window_get_application(GTK_WINDOW(x->w)));
        if (x->failures) g_object_set_data(G_OBJECT(app), "failed", GINT_TO_POINTER(1));
        gtk_window_destroy(GTK_WINDOW(x->w));
    }
    g_free(x);
}

static void export_next(Shown *x);

static void exported(GObject *src, GAsyncResult *res, gpointer user)
{
    Shown *x = user;
    GError *err = NULL;
    if (!ts_window_export_finish(TS_WINDOW(src), res, &err)) {
        ts_text_print_line(stderr, "traitscope: %s", err->message);
        g_error_free(err);
        x->failures++;
    } else {
        ts_text_print_line(stdout, "traitscope: exported %s", x->next[0]);
    }
    x->next++;
    export_next(x);
}

static void export_next(Shown *x)
{
    if (x->next && *x->next) ts_window_export_async(x->w, *x->next, NULL, exported, x);
    else shown_end(x);
}

static gboolean act_when_shown(gpointer user)
{
    /* --wait-predictions: the browser's rows show every prediction first
     * (checked every 0.4 s, for at most a minute) */
    static int waited, shot_tries;
    static gboolean said;
    TsPredictor *pr = ts_browser_get_predictor(TS_BROWSER(ts_window_get_browser(user)));
    if (opt_wait_predictions && pr && ts_predictor_is_busy(pr) && waited++ < 150) return G_SOURCE_CONTINUE;
    if (opt_wait_predictions && !said) {
        said = TRUE;
        ts_text_print_line(stdout, "traitscope: browser predictions %s",
                           pr && ts_predictor_is_busy(pr) ? "still running after a minute" : "done");
    }
    /* a loaded machine may show the first face before the window is on
     * screen and laid out (nothing to render yet): the screenshot is tried
     * again every 0.4 s, for at most 10 s more */
    GError *shot_err = NULL;
    gboolean shot_ok = TRUE;
    if (opt_screenshot) {
        shot_ok = ts_window_screenshot(user, opt_screenshot, &shot_err);
        if (!shot_ok && shot_tries++ < 25) {
            g_clear_error(&shot_err);
            return G_SOURCE_CONTINUE;
        }
    }
    Shown *x = g_new0(Shown, 1);
    x->w = user;
    x->next = opt_exports;
    x->failures = no_face ? 1 : 0;
    if (opt_screenshot) {
        if (!shot_ok) {
            ts_text_print_line(stderr, "traitscope: %s", shot_err->message);
            g_error_free(shot_err);
            x->failures++;
        } else {
            ts_text_print_line(stdout, "traitscope: screenshot %s", opt_screenshot);
        }
    }
    export_next(x);
    return G_SOURCE_REMOVE;
}

static void first_result(TsSession *s, TsWindow *w)
{
    /* model loads finish first; wait for a face (or for a failed one) */
    char *error = NULL;
    g_object_get(s, "error", &error, NULL);
    gboolean failed = error && error[0];
    if (ts_session_get_busy(s) || (!ts_session_get_result(s) && !failed)) {
        g_free(error);
        return;
    }
    g_signal_handlers_disconnect_by_func(s, first_result, w);
    if (failed) ts_text_print_line(stderr, "traitscope: %s", error);
    char *status = NULL;
    g_object_get(s, "status", &status, NULL);
    printf("traitscope: first face shown %.0f ms after start (%s)\n", (g_get_monotonic_time() - t_start) / 1000.0,
           status ? status : "");
    g_free(status);
    g_free(error);
    /* let the panels draw once before taking the screenshot */
    if (!acted) {
        acted = TRUE;
        g_timeout_add(400, act_when_shown, w);
    }
}

/* Errors of the browser (a source that cannot be read, an image, a model)
 * are shown in the window and said on stderr too. */
static void browser_error(GtkWidget *b, const char *message, TsWindow *w)
{
    (void)b;
    (void)w;
    ts_text_print_line(stderr, "traitscope: %s", message);
}

/* --quit, --export, --screenshot wait for the first face; a source that
 * lists no face at all (unreadable, empty) would keep them waiting
 * forever: they act once its loading is done, and the exit status says it
 * failed. */
static void browser_settled(GtkWidget *b, GParamSpec *pspec, TsWindow *w)
{
    (void)pspec;
    if (acted || ts_browser_is_busy(TS_BROWSER(b))) return;
    if (g_list_model_get_n_items(ts_browser_get_items(TS_BROWSER(b))) > 0) return;
    acted = TRUE;
    no_face = TRUE;
    ts_text_print_line(stderr, "traitscope: no face to show");
    g_timeout_add(400, act_when_shown, w);
}

static void activate(GtkApplication *app, gpointer user)
{
    ts_style_ensure(); /* resources/style.css, as every window of ours does */
    gtk_window_set_default_icon_name("org.traitscope.Traitscope");
    TsWindow *w = ts_window_new(app);
    ts_window_set_device(w, device);
    ts_session_set_detector(ts_window_get_session(w), detector_kind);
    for (int i = 0; i < 2; i++) {
        /* no --model: the models of the last run, while their files exist */
        char *p = opt_models ? NULL : ts_window_get_remembered_model(w, i);
        if (!p) p = model_arg(i);
        if (p) ts_window_load_model(w, i, p);
        g_free(p);
    }
    GtkWidget *browser = ts_window_get_browser(w);
    g_signal_connect(browser, "error", G_CALLBACK(browser_error), w);
    if (opt_exports || opt_screenshot || opt_quit)
        g_signal_connect(browser, "notify::busy", G_CALLBACK(browser_settled), w);
    if (opt_files) {
        ts_window_open_args(w, opt_files);
    } else {
        GPtrArray *d = default_images();
        g_ptr_array_add(d, NULL);
        ts_window_open_args(w, (char **)d->pdata);
        g_ptr_array_unref(d);
    }
    if (opt_page) ts_window_show_page(w, opt_page);
    if (opt_exports || opt_screenshot || opt_quit)
        g_signal_connect(ts_window_get_session(w), "result-changed", G_CALLBACK(first_result), w);
    gtk_window_present(GTK_WINDOW(w));
}

int main(int argc, char **argv)
{
    t_start = g_get_monotonic_time();
    setlocale(LC_ALL, "");
    /* Numbers in files (architectures, metadata, JSON) always use '.':
     * the user's language changes the words, never the number format the
     * engine reads and writes. */
    setlocale(LC_NUMERIC, "C");
    /* Installed catalogues, or the build tree's when running uninstalled. */
    const char *localedir = g_getenv("TRAITSCOPE_LOCALEDIR");
    if (!localedir && g_file_test(TS_BUILD_LOCALEDIR "/de/LC_MESSAGES/traitscope.mo", G_FILE_TEST_EXISTS) &&
        !g_file_test(TS_LOCALEDIR "/de/LC_MESSAGES/traitscope.mo", G_FILE_TEST_EXISTS))
        localedir = TS_BUILD_LOCALEDIR;
    bindtextdomain("traitscope", localedir ? localedir : TS_LOCALEDIR);
    bind_textdomain_codeset("traitscope", "UTF-8");
    textdomain("traitscope");

    GOptionContext *ctx = g_option_context_new(NULL);
    g_option_context_set_summary(ctx, _("Explore CNNs that predict facial attributes: landmarks, A(x,y), "
                                        "activations, relevance heatmaps and predictions of two models side by side."));
    g_option_context_add_main_entries(ctx, entries, "traitscope");
    GError *err = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "traitscope: %s\n", err->message);
        g_error_free(err);
        g_option_context_free(ctx);
        return 2;
    }
    g_option_context_free(ctx);
    if (opt_version) {
        printf("traitscope %s\n", TS_VERSION);
        return 0;
    }
    if (opt_device && ts_device_parse(opt_device, &device) != TS_OK) {
        fprintf(stderr, "traitscope: --device wants cpu, cuda or auto, not '%s'\n", opt_device);
        return 2;
    }
    if (opt_models && g_strv_length(opt_models) > 2) {
        fprintf(stderr, "traitscope: at most two --model\n");
        return 2;
    }
    if (opt_detector && ts_detector_kind_parse(opt_detector, &detector_kind) != TS_OK) {
        fprintf(stderr, "traitscope: --detector wants ssd or tiny, not '%s'\n", opt_detector);
        return 2;
    }
    gboolean display = g_getenv("DISPLAY") || g_getenv("WAYLAND_DISPLAY");
    gtk_disable_setlocale(); /* keep LC_NUMERIC as set above */
    if (opt_headless || !display || !gtk_init_check()) return run_headless();

    GtkApplication *app = gtk_application_new("org.traitscope.Traitscope", G_APPLICATION_NON_UNIQUE);
    g_signal_connect(app, "activate", G_CALLBACK(activate), NULL);
    char *args[] = { argv[0], NULL };
    int rc = g_application_run(G_APPLICATION(app), 1, args);
    if (g_object_get_data(G_OBJECT(app), "failed")) rc = 1;
    g_object_unref(app);
    return rc;
}
