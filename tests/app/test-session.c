/* test-session.c - picking faces in whole photos and composed figure
 * exports through the explorer's session (TsSession), without a display.
 *
 * Checks: the photo panel of face-api's sample3.jpg (a group photo;
 * sample2.jpg shows one face to the detector) is
 * drawn with every detected face; hit-testing the centre of each drawn box
 * gives that face and points outside every box give -1; picking face k
 * through the session inspects face k (its box is faces[k] squared) and the
 * choice survives a settings change (the pick is made as the window's
 * click does, ts_session_pick_face_at); a composed export of 2 faces x 3
 * panels is a valid PNG of the size ts_figure_page_size gives at 150 dpi,
 * a valid SVG and PDF, with a sidecar that holds both images and both
 * models' hashes; exports to a missing folder or an unwritable place fail
 * with a message naming the file and leave nothing behind; a failed export
 * over an existing figure leaves it as it was.  `traitscope-cli figure
 * --panels photo,face --face K` records face K.
 *
 * Needs the bundled models, the face-api sample photos and the landmark
 * and detector models (tools/setup.sh); exits 77 when one is missing.
 */
#include <cairo.h>
#include <cjson/cJSON.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "app/ts-session.h"

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

/* ---- waiting for the session ---- */

static void on_result(TsSession *s, gpointer user) { (*(int *)user)++; }

/* Runs the main loop until the session has finished everything asked. */
static void wait_idle(TsSession *s)
{
    gint64 deadline = g_get_monotonic_time() + 240 * G_USEC_PER_SEC;
    while (ts_session_get_busy(s) && g_get_monotonic_time() < deadline) g_main_context_iteration(NULL, TRUE);
    /* let queued idle callbacks (progress) run */
    while (g_main_context_iteration(NULL, FALSE)) {
    }
    if (ts_session_get_busy(s)) g_error("the session did not finish within 240 s");
}

typedef struct ExportWait {
    gboolean done, ok;
    GError *error;
    int progress_calls, last_done, last_total;
} ExportWait;

static void export_done(GObject *src, GAsyncResult *res, gpointer user)
{
    ExportWait *w = user;
    w->ok = ts_session_export_finish(TS_SESSION(src), res, &w->error);
    w->done = TRUE;
}

static void on_progress(TsSession *s, int done, int total, gpointer user)
{
    ExportWait *w = user;
    w->progress_calls++;
    w->last_done = done;
    w->last_total = total;
}

static gboolean export_sync(TsSession *s, const char *const *images, int n, const ts_panel *panels, int np,
                            double dpi, const char *out, GError **error)
{
    ExportWait w = { 0 };
    gulong id = g_signal_connect(s, "export-progress", G_CALLBACK(on_progress), &w);
    ts_draw_opts o;
    ts_draw_opts_init(&o);
    o.contours = true;
    ts_session_export_async(s, images, n, panels, np, &o, dpi, out, NULL, export_done, &w);
    gint64 deadline = g_get_monotonic_time() + 240 * G_USEC_PER_SEC;
    while (!w.done && g_get_monotonic_time() < deadline) g_main_context_iteration(NULL, TRUE);
    if (!w.done) g_error("the export did not finish within 240 s");
    while (g_main_context_iteration(NULL, FALSE)) {
    }
    g_signal_handler_disconnect(s, id);
    if (w.ok) CHECK(w.last_done == w.last_total && w.last_total == (n ? n : 1), "progress %d/%d", w.last_done, w.last_total);
    if (error) *error = w.error;
    else g_clear_error(&w.error);
    return w.ok;
}

/* ---- file checks ---- */

static char *read_all(const char *path, gsize *len)
{
    char *data = NULL;
    if (!g_file_get_contents(path, &data, len, NULL)) return NULL;
    return data;
}

static gboolean svg_root_seen;
static void svg_start(GMarkupParseContext *c, const char *name, const char **an, const char **av, gpointer u,
                      GError **e)
{
    if (!svg_root_seen && strcmp(g_markup_parse_context_get_element(c), name) == 0 &&
        g_markup_parse_context_get_element_stack(c)->next == NULL)
        svg_root_seen = strcmp(name, "svg") == 0;
}

static gboolean valid_svg(const char *path)
{
    gsize len;
    char *data = read_all(path, &len);
    if (!data || !strstr(data, "<svg")) {
        g_free(data);
        return FALSE;
    }
    GMarkupParser p = { svg_start, NULL, NULL, NULL, NULL };
    svg_root_seen = FALSE;
    GMarkupParseContext *ctx = g_markup_parse_context_new(&p, 0, NULL, NULL);
    GError *err = NULL;
    gboolean ok = g_markup_parse_context_parse(ctx, data, (gssize)len, &err) && g_markup_parse_context_end_parse(ctx, &err);
    if (!ok) g_printerr("SVG %s: %s\n", path, err->message);
    g_clear_error(&err);
    g_markup_parse_context_free(ctx);
    g_free(data);
    return ok && svg_root_seen;
}

static gboolean valid_pdf(const char *path)
{
    gsize len;
    char *data = read_all(path, &len);
    gboolean ok = data && len > 100 && memcmp(data, "%PDF-", 5) == 0;
    if (ok) {
        /* %%EOF, possibly followed by end-of-line characters */
        gsize end = len;
        while (end > 0 && (data[end - 1] == '\n' || data[end - 1] == '\r')) end--;
        ok = end >= 5 && memcmp(data + end - 5, "%%EOF", 5) == 0;
    }
    g_free(data);
    return ok;
}

static cJSON *read_json(const char *path)
{
    char *data = read_all(path, NULL);
    cJSON *j = data ? cJSON_Parse(data) : NULL;
    g_free(data);
    return j;
}

static gboolean exists(const char *path) { return g_file_test(path, G_FILE_TEST_EXISTS); }

/* Nothing called NAME or NAME.tmp-* / NAME.json* in dir. */
static int leftovers(const char *dir, const char *name)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    int n = 0;
    const char *e;
    while (d && (e = g_dir_read_name(d)))
        if (g_str_has_prefix(e, name)) n++;
    if (d) g_dir_close(d);
    return n;
}

/* ---- the photo panel ---- */

static void test_photo_panel(const ts_inspect *r)
{
    const double W = 640, H = 520;
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)W, (int)H);
    cairo_t *cr = cairo_create(surf);
    ts_draw_opts o;
    ts_draw_opts_init(&o);
    ts_figure_draw_panel(cr, r, TS_PANEL_PHOTO, W, H, &o);
    CHECK(cairo_status(cr) == CAIRO_STATUS_SUCCESS, "%s", cairo_status_to_string(cairo_status(cr)));
    cairo_destroy(cr);
    cairo_surface_flush(surf);

    /* the inspected face's outline is drawn in orange: look for it on the
     * left edge of its drawn box */
    double b[4];
    CHECK(ts_figure_photo_face_rect(r, r->face, W, H, b), "face %d has no rect", r->face);
    const unsigned char *px = cairo_image_surface_get_data(surf);
    int stride = cairo_image_surface_get_stride(surf), orange = 0;
    for (int y = (int)b[1]; y < (int)(b[1] + b[3]); y++) {
        uint32_t v = *(const uint32_t *)(px + (size_t)y * stride + 4 * (int)lround(b[0]));
        int rr = v >> 16 & 255, gg = v >> 8 & 255, bb = v & 255;
        if (rr > 200 && gg > 100 && gg < 180 && bb < 80) orange++;
    }
    CHECK(orange > b[3] / 2, "the inspected face's box is not outlined (%d orange pixels of %.0f)", orange, b[3]);
    cairo_surface_destroy(surf);

    for (int k = 0; k < r->n_faces; k++) {
        CHECK(ts_figure_photo_face_rect(r, k, W, H, b), "face %d", k);
        int hit = ts_figure_photo_face_at(r, W, H, b[0] + b[2] / 2, b[1] + b[3] / 2);
        CHECK(hit == k, "centre of face %d's box hits %d", k, hit);
    }
    CHECK(ts_figure_photo_face_rect(r, r->n_faces, W, H, b) == false, "a face past the last");
    CHECK(ts_figure_photo_face_at(r, W, H, 1, 1) == -1, "the title band hits a face");
    CHECK(ts_figure_photo_face_at(r, W, H, -50, -50) == -1, "outside the panel hits a face");
    /* points of the photo away from every box */
    int outside = 0;
    for (double y = 60; y < H; y += 13)
        for (double x = 3; x < W; x += 13) {
            gboolean near = FALSE;
            for (int k = 0; k < r->n_faces && !near; k++) {
                ts_figure_photo_face_rect(r, k, W, H, b);
                near = x > b[0] - 8 && y > b[1] - 8 && x < b[0] + b[2] + 8 && y < b[1] + b[3] + 8;
            }
            if (near) continue;
            outside++;
            int hit = ts_figure_photo_face_at(r, W, H, x, y);
            if (hit != -1) CHECK(hit == -1, "(%.0f, %.0f) outside every box hits face %d", x, y, hit);
        }
    CHECK(outside > 100, "only %d points outside the boxes", outside);

    /* the photo panel maps to crop pixels for the crosshair: the centre of
     * the inspected face lands inside the crop */
    double cx, cy;
    ts_figure_photo_face_rect(r, r->face, W, H, b);
    CHECK(ts_figure_panel_to_crop(r, TS_PANEL_PHOTO, W, H, b[0] + b[2] / 2, b[1] + b[3] / 2, &cx, &cy),
          "centre of the inspected face is not in the crop");
    CHECK(!ts_figure_panel_to_crop(r, TS_PANEL_PHOTO, W, H, 1, 1, &cx, &cy), "the title band maps into the crop");
}

/* The box inspect.c makes of a detector box: squared on its centre. */
static void check_box_of(const ts_inspect *r, int k)
{
    const ts_face_box *f = &r->faces[k];
    double side = fmin(f->w, f->h);
    CHECK(fabs(r->box[2] - side) < 1e-3 && fabs(r->box[3] - side) < 1e-3, "box side %.2f, face %d side %.2f", r->box[2],
          k, side);
    CHECK(fabs(r->box[0] + r->box[2] / 2 - (f->x + f->w / 2)) < 1e-2 &&
              fabs(r->box[1] + r->box[3] / 2 - (f->y + f->h / 2)) < 1e-2,
          "box (%.1f %.1f %.1f %.1f) not centred on face %d (%.1f %.1f %.1f %.1f)", r->box[0], r->box[1], r->box[2],
          r->box[3], k, f->x, f->y, f->w, f->h);
}

int main(void)
{
    const char *src = g_getenv("TS_SOURCE_ROOT"), *build = g_getenv("TS_BUILD_ROOT");
    const char *data = g_getenv("TS_SHARED_DATA");
    if (!src || !build) {
        g_print("SKIP: run through meson test (TS_SOURCE_ROOT, TS_BUILD_ROOT)\n");
        return 77;
    }
    char *photo = g_build_filename(src, "node_modules/@vladmandic/face-api/demo/sample3.jpg", NULL);
    char *photo1 = g_build_filename(src, "node_modules/@vladmandic/face-api/demo/sample2.jpg", NULL);
    char *model_a = g_build_filename(src, "resources/models/baseline.safetensors", NULL);
    char *model_b = g_build_filename(src, "resources/models/lacnn.safetensors", NULL);
    char *detector = g_build_filename(src, "node_modules/@vladmandic/face-api/model", NULL);
    char *crop = data ? g_build_filename(data, "celebahq/images/1.jpg", NULL) : NULL;
    const char *need[] = { photo, photo1, model_a, model_b, detector };
    for (size_t i = 0; i < G_N_ELEMENTS(need); i++)
        if (!exists(need[i])) {
            g_print("SKIP: %s is missing (tools/setup.sh)\n", need[i]);
            return 77;
        }
    if (!exists("/usr/share/dlib/shape_predictor_68_face_landmarks.dat")) {
        g_print("SKIP: dlib's landmark model is not installed (tools/setup.sh)\n");
        return 77;
    }
    char *tmp = g_dir_make_tmp("ts-session-XXXXXX", NULL);

    TsSession *s = ts_session_new();
    int results = 0;
    g_signal_connect(s, "result-changed", G_CALLBACK(on_result), &results);

    /* 1. the photo with both models */
    TsRequest req = { 0 };
    req.image = photo;
    req.model[0] = model_a;
    req.model[1] = model_b;
    req.method = TS_LANDMARKS_ERT;
    ts_session_request(s, &req);
    wait_idle(s);
    const ts_inspect *r = ts_session_get_result(s);
    if (!r) {
        char *err = NULL;
        g_object_get(s, "error", &err, NULL);
        g_printerr("FAIL: no result: %s\n", err);
        return 1;
    }
    g_print("sample3: %d faces, inspected %d\n", r->n_faces, r->face);
    CHECK(r->n_faces > 1, "sample3.jpg should show several faces, found %d", r->n_faces);
    CHECK(!r->whole, "a group photo is cropped");
    CHECK(r->model[0].present && r->model[1].present, "both models");
    CHECK(ts_session_get_face(s) == -1, "a new image starts with the largest face");
    if (r->n_faces < 2) return 1;
    int largest = r->face;
    test_photo_panel(r);

    /* 2. pick another face */
    int k = largest == 0 ? 1 : 0;
    ts_face_box before = r->faces[k];
    const char *hash_a = ts_session_get_model_hash(s, 0);
    char *hash_a_copy = g_strdup(hash_a);
    /* a click outside every face asks for nothing; one on face k picks it */
    CHECK(ts_session_pick_face_at(s, 640, 520, 1, 1) == -1 && !ts_session_get_busy(s), "a click on the title");
    double rect[4];
    ts_figure_photo_face_rect(r, largest, 640, 520, rect);
    CHECK(ts_session_pick_face_at(s, 640, 520, rect[0] + rect[2] / 2, rect[1] + rect[3] / 2) == -1 &&
              !ts_session_get_busy(s),
          "a click on the face on show");
    ts_figure_photo_face_rect(r, k, 640, 520, rect);
    CHECK(ts_session_pick_face_at(s, 640, 520, rect[0] + rect[2] / 2, rect[1] + rect[3] / 2) == k, "click on face %d", k);
    CHECK(ts_session_get_face(s) == k, "face asked %d", ts_session_get_face(s));
    wait_idle(s);
    r = ts_session_get_result(s);
    CHECK(r->face == k, "picked face %d, inspected %d", k, r->face);
    CHECK(memcmp(&r->faces[k], &before, sizeof before) == 0, "the detection changed between runs");
    check_box_of(r, k);
    CHECK(r->model[0].present && r->model[1].present && !r->model[0].error[0], "models kept");
    CHECK(g_strcmp0(ts_session_get_model_hash(s, 0), hash_a_copy) == 0, "model A changed");
    test_photo_panel(r);

    /* 3. a settings change (a zero-initialised request, as the window makes)
     * keeps the face */
    TsRequest again = { 0 };
    again.image = photo;
    again.method = TS_LANDMARKS_ERT;
    again.rules = "";
    ts_session_request(s, &again);
    wait_idle(s);
    r = ts_session_get_result(s);
    CHECK(r->face == k, "a settings change went back to face %d", r->face);

    /* 4. a composed figure: 2 faces x 3 panels */
    const char *second = crop && exists(crop) ? crop : photo1;
    const char *const images[] = { photo, second };
    const ts_panel panels[] = { TS_PANEL_PHOTO, TS_PANEL_FACE, TS_PANEL_LRP_A };
    const char *kinds[] = { "png", "svg", "pdf" };
    for (int f = 0; f < 3; f++) {
        char *out = g_strdup_printf("%s/fig.%s", tmp, kinds[f]);
        char *side = g_strdup_printf("%s.json", out);
        GError *err = NULL;
        gboolean ok = export_sync(s, images, 2, panels, 3, 150, out, &err);
        CHECK(ok, "export %s: %s", out, err ? err->message : "?");
        g_clear_error(&err);
        if (f == 0) {
            cairo_surface_t *png = cairo_image_surface_create_from_png(out);
            double w_pt, h_pt;
            ts_figure_page_size(2, 3, &w_pt, &h_pt);
            int ew = (int)ceil(w_pt * 150 / 72), eh = (int)ceil(h_pt * 150 / 72);
            CHECK(cairo_surface_status(png) == CAIRO_STATUS_SUCCESS, "%s does not read as PNG", out);
            CHECK(cairo_image_surface_get_width(png) == ew && cairo_image_surface_get_height(png) == eh,
                  "%s is %dx%d, the layout gives %dx%d", out, cairo_image_surface_get_width(png),
                  cairo_image_surface_get_height(png), ew, eh);
            /* 3 panels of 2.2 in + 4 gaps of 6 pt, 2 rows of 2.42 in + 3 gaps */
            CHECK(ew == 1040 && eh == 764, "layout %dx%d, expected 1040x764", ew, eh);
            cairo_surface_destroy(png);
            char *bytes = read_all(out, NULL);
            CHECK(bytes && memcmp(bytes, "\x89PNG\r\n\x1a\n", 8) == 0, "PNG signature");
            g_free(bytes);
        } else if (f == 1) {
            CHECK(valid_svg(out), "%s is not a valid SVG", out);
        } else {
            CHECK(valid_pdf(out), "%s is not a valid PDF", out);
        }
        cJSON *j = read_json(side);
        CHECK(j != NULL, "%s does not parse as JSON", side);
        if (j) {
            cJSON *imgs = cJSON_GetObjectItem(j, "images"), *models = cJSON_GetObjectItem(j, "models");
            CHECK(cJSON_GetArraySize(imgs) == 2, "images in the sidecar: %d", cJSON_GetArraySize(imgs));
            for (int i = 0; i < 2 && i < cJSON_GetArraySize(imgs); i++) {
                cJSON *im = cJSON_GetArrayItem(imgs, i);
                CHECK(g_strcmp0(cJSON_GetStringValue(cJSON_GetObjectItem(im, "path")), images[i]) == 0, "image %d", i);
                CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(im, "box")) == 4, "box of image %d", i);
            }
            /* the current image keeps the face picked */
            cJSON *im0 = cJSON_GetArrayItem(imgs, 0);
            CHECK(im0 && cJSON_GetNumberValue(cJSON_GetObjectItem(im0, "face")) == k, "face of image 0");
            CHECK(cJSON_GetArraySize(models) == 2, "models in the sidecar: %d", cJSON_GetArraySize(models));
            for (int m = 0; m < 2 && m < cJSON_GetArraySize(models); m++) {
                cJSON *jm = cJSON_GetArrayItem(models, m);
                const char *h = cJSON_GetStringValue(cJSON_GetObjectItem(jm, "sha256"));
                CHECK(h && strlen(h) == 64 && g_strcmp0(h, ts_session_get_model_hash(s, m)) == 0, "model %d hash %s", m,
                      h ? h : "(none)");
                CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(jm, "classes")) >= 2, "classes of model %d", m);
                const char *rules = cJSON_GetStringValue(cJSON_GetObjectItem(jm, "lrp_rules"));
                CHECK(rules && rules[0], "rules as applied of model %d", m);
            }
            CHECK(g_strcmp0(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(models, 1), "path")), model_b) == 0,
                  "path of model B");
            cJSON *set = cJSON_GetObjectItem(j, "settings");
            CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(set, "panels")) == 3, "panels in the settings");
            CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(set, "dpi")) == 150, "dpi in the settings");
            CHECK(cJSON_IsTrue(cJSON_GetObjectItem(set, "contours")), "toggles in the settings");
            CHECK(g_strcmp0(cJSON_GetStringValue(cJSON_GetObjectItem(set, "landmarks")), "ert") == 0, "landmarks");
            cJSON_Delete(j);
        }
        g_free(out);
        g_free(side);
    }

    /* 5. failures name the file and leave nothing behind */
    {
        char *missing = g_strdup_printf("%s/no-such-folder/fig.png", tmp);
        GError *err = NULL;
        CHECK(!export_sync(s, NULL, 0, panels, 3, 150, missing, &err), "export into a missing folder succeeded");
        CHECK(err && strstr(err->message, missing), "error does not name %s: %s", missing, err ? err->message : "");
        if (err) g_print("expected error: %s\n", err->message);
        g_clear_error(&err);
        CHECK(!exists(missing), "%s exists", missing);
        g_free(missing);

        /* /proc takes no new files, not even from root */
        const char *proc = "/proc/ts-session-test-fig.pdf";
        CHECK(!export_sync(s, NULL, 0, panels, 3, 150, proc, &err), "export into /proc succeeded");
        CHECK(err && strstr(err->message, proc), "error does not name %s: %s", proc, err ? err->message : "");
        if (err) g_print("expected error: %s\n", err->message);
        g_clear_error(&err);
        CHECK(!exists(proc), "%s exists", proc);

        /* an image that cannot be read: the old figure stays */
        char *out = g_strdup_printf("%s/fig.png", tmp), *side = g_strdup_printf("%s.json", out);
        gsize len0, slen0;
        char *old = read_all(out, &len0), *old_side = read_all(side, &slen0);
        char *bad = g_strdup_printf("%s/not-there.jpg", tmp);
        const char *const bad_images[] = { photo, bad };
        CHECK(!export_sync(s, bad_images, 2, panels, 3, 150, out, &err), "export of a missing image succeeded");
        CHECK(err && strstr(err->message, bad), "error does not name %s: %s", bad, err ? err->message : "");
        if (err) g_print("expected error: %s\n", err->message);
        g_clear_error(&err);
        gsize len1, slen1;
        char *now = read_all(out, &len1), *now_side = read_all(side, &slen1);
        CHECK(old && now && len0 == len1 && memcmp(old, now, len0) == 0, "the old figure changed");
        CHECK(old_side && now_side && slen0 == slen1 && memcmp(old_side, now_side, slen0) == 0, "the old sidecar changed");
        /* fig.png, fig.png.json, fig.pdf*, fig.svg* and nothing else */
        CHECK(leftovers(tmp, "fig.png") == 2, "temporary files left: %d entries fig.png*", leftovers(tmp, "fig.png"));
        g_free(old);
        g_free(old_side);
        g_free(now);
        g_free(now_side);
        g_free(bad);
        g_free(out);
        g_free(side);

        /* bad arguments fail at once */
        char *txt = g_strdup_printf("%s/fig.txt", tmp);
        CHECK(!export_sync(s, NULL, 0, panels, 3, 150, txt, &err), "export to .txt succeeded");
        CHECK(err && strstr(err->message, txt), "error does not name %s", txt);
        g_clear_error(&err);
        g_free(txt);
    }

    /* 6. a new image starts with its largest face */
    TsRequest next = { 0 };
    next.image = photo1;
    next.method = TS_LANDMARKS_ERT;
    ts_session_request(s, &next);
    wait_idle(s);
    r = ts_session_get_result(s);
    CHECK(ts_session_get_face(s) == -1, "face asked for a new image: %d", ts_session_get_face(s));
    CHECK(r && r->n_faces >= 1 && r->face >= 0, "sample2 has a face");

    /* 7. the CLI makes the same kind of figure with --face */
    {
        char *cli = g_build_filename(build, "src/cli/traitscope-cli", NULL);
        char *out = g_strdup_printf("%s/cli.pdf", tmp), *side = g_strdup_printf("%s.json", out);
        char *face_s = g_strdup_printf("%d", k);
        const char *argv[] = { cli, "figure", "--model", model_a, "--model", model_b, photo, "--panels", "photo,face,lrp-a",
                               "--face", face_s, "--out", out, NULL };
        int status = -1;
        GError *err = NULL;
        char *err_text = NULL;
        gboolean ran = g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, &err_text,
                                    &status, &err);
        CHECK(ran && g_spawn_check_wait_status(status, NULL), "traitscope-cli figure failed: %s %s",
              err ? err->message : "", err_text ? err_text : "");
        CHECK(valid_pdf(out), "%s is not a valid PDF", out);
        cJSON *j = read_json(side);
        cJSON *im0 = j ? cJSON_GetArrayItem(cJSON_GetObjectItem(j, "images"), 0) : NULL;
        CHECK(im0 && cJSON_GetNumberValue(cJSON_GetObjectItem(im0, "face")) == k, "the CLI's sidecar face");
        cJSON_Delete(j);
        g_clear_error(&err);
        g_free(err_text);
        g_free(face_s);
        g_free(cli);
        g_free(out);
        g_free(side);
    }

    g_object_unref(s);
    char *rm[] = { "rm", "-rf", tmp, NULL };
    g_spawn_sync(NULL, rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
    g_free(hash_a_copy);
    g_print("%s: %d failure(s)\n", failures ? "FAIL" : "ok", failures);
    return failures ? 1 : 0;
}
