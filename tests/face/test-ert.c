/* test-ert.c - the `ert` landmark localizer against dlib itself.
 *
 * usage: test-ert load                 (no dlib needed)
 *        test-ert small REF_EXE        (seed models, synthetic image)
 *        test-ert dlib REF_EXE         (the 68-point model, real photos)
 *
 * REF_EXE is ert-ref (tests/face/ert-ref.cpp, built against Debian's
 * libdlib-dev).  Both programs get the same image file and the same face
 * box; every one of our points must lie within 0.75 px of dlib's (dlib
 * rounds its points to whole pixels, ours are unrounded, so an exact port
 * is within 0.5 px).  We also count how many of our points round to dlib's
 * exact integer, which is every point when the port is bit-exact.
 *
 * "dlib" uses the first 20 images (sorted by name) of celebahq/images and of
 * utkface/images under $TS_SHARED_DATA, plus face-api's six sample group photos
 * when npm installed them, with dlib's own detector boxes, and
 * skips (77) when the data, the model (libdlib-data) or ert-ref is missing.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "face/ert.h"
#include "nn/fileio.h"
#include "face/image.h"
#include "face/model-path.h"

#define SKIP 77
#define PER_SET 20
#define TOL 0.75f

static int failures;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                \
            fprintf(stderr, __VA_ARGS__);                                       \
            fprintf(stderr, "\n");                                              \
            failures++;                                                         \
        }                                                                       \
    } while (0)

/* Runs argv[0] with stdout into a malloc'd string (NULL on failure). */
static char *run_capture(char *const argv[])
{
    int fd[2];
    if (pipe(fd) != 0) return NULL;
    pid_t pid = fork();
    if (pid < 0) return NULL;
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fd[1]);
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    for (;;) {
        if (n + 1 >= cap) out = realloc(out, cap *= 2);
        ssize_t got = read(fd[0], out + n, cap - n - 1);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        n += (size_t)got;
    }
    close(fd[0]);
    out[n] = '\0';
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "%s exited with status %d\n", argv[0], status);
        free(out);
        return NULL;
    }
    return out;
}

typedef struct ref_face {
    int image;
    long box[4];
    int n;
    long x[TS_POINTS_MAX], y[TS_POINTS_MAX];
} ref_face;

/* Parses ert-ref's "face I X Y W H x y ..." lines; returns the count. */
static int parse_ref(char *text, ref_face *faces, int max)
{
    int nf = 0;
    for (char *line = strtok(text, "\n"); line && nf < max; line = strtok(NULL, "\n")) {
        if (strncmp(line, "face ", 5) != 0) continue;
        ref_face *f = &faces[nf];
        char *p = line + 5, *end;
        f->image = (int)strtol(p, &end, 10);
        for (int k = 0; k < 4; k++) f->box[k] = strtol(end, &end, 10);
        f->n = 0;
        for (;;) {
            char *e2;
            long x = strtol(end, &e2, 10);
            if (e2 == end || f->n == TS_POINTS_MAX) break;
            f->x[f->n] = x;
            f->y[f->n] = strtol(e2, &end, 10);
            f->n++;
        }
        nf++;
    }
    return nf;
}

typedef struct stats {
    int faces, points, exact;
    float worst;
    /* a wider, higher box like face-api's: mean point error (in units of
     * dlib's box side) without and with ts_ert_predict_refit */
    double wide_err, refit_err;
    int wide_faces;
} stats;

static double mean_err(const ts_points *p, const ref_face *f)
{
    double e = 0;
    for (int i = 0; i < p->n; i++) e += hypot(p->x[i] - (double)f->x[i], p->y[i] - (double)f->y[i]);
    return e / p->n / (double)f->box[2];
}

/* Our prediction for one reference face, compared point by point. */
static void compare(const ts_ert *m, const ts_image *img, const ref_face *f, const char *what, stats *s)
{
    float box[4] = { (float)f->box[0], (float)f->box[1], (float)f->box[2], (float)f->box[3] };
    ts_points pts;
    ts_status st = ts_ert_predict(m, img, box, &pts);
    CHECK(st == TS_OK, "%s: predict: %s", what, ts_last_error());
    if (st != TS_OK) return;
    CHECK(pts.n == f->n, "%s: %d points, dlib has %d", what, pts.n, f->n);
    if (pts.n != f->n) return;
    s->faces++;
    for (int i = 0; i < pts.n; i++) {
        float dx = fabsf(pts.x[i] - (float)f->x[i]), dy = fabsf(pts.y[i] - (float)f->y[i]);
        float d = dx > dy ? dx : dy;
        if (!(d <= s->worst)) s->worst = d;
        s->points++;
        if (floor(pts.x[i] + 0.5) == f->x[i] && floor(pts.y[i] + 0.5) == f->y[i]) s->exact++;
        CHECK(d <= TOL, "%s: point %d: ours (%.3f, %.3f), dlib (%ld, %ld)", what, i, pts.x[i], pts.y[i],
              f->x[i], f->y[i]);
    }
    /* face-api boxes of the sample photos sit like this around the
     * box ert refits (measured on face-api's demo photos) */
    float side = box[2], wide[4] = { box[0] - 0.24f * side, box[1] - 0.19f * side, 1.5f * side, 1.5f * side };
    ts_points a, b;
    if (ts_ert_predict(m, img, wide, &a) == TS_OK && ts_ert_predict_refit(m, img, wide, 2, &b, NULL) == TS_OK) {
        s->wide_err += mean_err(&a, f);
        s->refit_err += mean_err(&b, f);
        s->wide_faces++;
    }
}

static void report(const char *what, const stats *s)
{
    printf("%s: %d faces, %d points, %d round to dlib's exact pixel (%.2f%%), worst |d| %.3f px\n", what,
           s->faces, s->points, s->exact, s->points ? 100.0 * s->exact / s->points : 0.0, s->worst);
}

/* ---- load: good and bad files, no dlib needed ---- */

static int test_load(const char *src)
{
    char path[4096];
    const char *names[] = { "ert-small.dat", "ert-68.dat" };
    const int parts[] = { 5, 68 };
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/tests/fuzz/seeds/%s", src, names[k]);
        ts_ert *m = NULL;
        ts_status st = ts_ert_load(path, &m);
        CHECK(st == TS_OK, "load %s: %s", path, ts_last_error());
        if (st != TS_OK) continue;
        CHECK(ts_ert_num_parts(m) == parts[k], "%s: %d parts", names[k], ts_ert_num_parts(m));

        /* every truncation is refused with the name and an offset */
        uint8_t *data;
        size_t len;
        CHECK(ts_read_file(path, 1 << 20, &data, &len) == TS_OK, "read %s", path);
        for (size_t cut = 0; cut < len; cut += 1 + cut / 7) {
            ts_ert *bad = NULL;
            st = ts_ert_load_memory(data, cut, "cut.dat", &bad);
            CHECK(st == TS_ERR_FORMAT && !bad, "truncated at %zu: status %d", cut, st);
            CHECK(strstr(ts_last_error(), "cut.dat") && strstr(ts_last_error(), "offset"),
                  "truncated at %zu: message '%s'", cut, ts_last_error());
        }
        /* wrong version */
        data[1] = 2;
        ts_ert *bad = NULL;
        st = ts_ert_load_memory(data, len, "v2.dat", &bad);
        CHECK(st == TS_ERR_FORMAT && strstr(ts_last_error(), "version"), "version 2: %s", ts_last_error());
        free(data);

        /* bad boxes are refused, not predicted */
        ts_image img;
        CHECK(ts_image_init(&img, 8, 8) == TS_OK, "image");
        ts_points pts;
        const float nanbox[4] = { NAN, 0, 10, 10 }, empty[4] = { 0, 0, 0, 10 };
        CHECK(ts_ert_predict(m, &img, nanbox, &pts) == TS_ERR_ARG, "NaN box accepted");
        CHECK(ts_ert_predict(m, &img, empty, &pts) == TS_ERR_ARG, "empty box accepted");
        ts_image_clear(&img);
        ts_ert_free(m);
    }
    ts_ert *m = NULL;
    ts_status st = ts_ert_load("/nonexistent/shape_predictor.dat", &m);
    CHECK(st == TS_ERR_IO && !m && strstr(ts_last_error(), "/nonexistent/shape_predictor.dat"),
          "missing file: %d %s", st, ts_last_error());
    ts_ert_free(NULL);
    return failures ? 1 : 0;
}

/* ---- small: seed models on a synthetic picture ---- */

static int test_small(const char *src, const char *build, char *ref)
{
    /* a picture with structure at every scale: gradients, rings, noise */
    ts_image img;
    TS_ASSERT(ts_image_init(&img, 173, 131) == TS_OK);
    uint32_t rng = 1;
    for (int y = 0; y < img.height; y++)
        for (int x = 0; x < img.width; x++) {
            uint8_t *p = ts_image_pixel(&img, x, y);
            rng = rng * 1664525u + 1013904223u;
            double r = hypot(x - 80.0, y - 60.0);
            p[0] = (uint8_t)(x + (rng >> 28));
            p[1] = (uint8_t)(127 + 120 * sin(r / 5.0));
            p[2] = (uint8_t)(y * 2 + (rng >> 26));
        }
    char png[4096];
    snprintf(png, sizeof png, "%s/test-ert-synthetic.png", build);
    TS_ASSERT(ts_image_save_png(png, &img) == TS_OK);

    const char *names[] = { "ert-small.dat", "ert-68.dat" };
    static const char *boxes[] = { "10,20,100,90", "0,0,173,131", "-30,-20,120,110", "90,70,129,129", "37,11,64,200" };
    stats s = { 0 };
    for (int k = 0; k < 2; k++) {
        char model[4096];
        snprintf(model, sizeof model, "%s/tests/fuzz/seeds/%s", src, names[k]);
        ts_ert *m = NULL;
        if (ts_ert_load(model, &m) != TS_OK) {
            CHECK(0, "load %s: %s", model, ts_last_error());
            continue;
        }
        enum { NB = sizeof boxes / sizeof boxes[0] };
        char *argv[2 + 2 * NB + 2];
        int a = 0;
        argv[a++] = ref;
        argv[a++] = model;
        for (int b = 0; b < NB; b++) {
            argv[a++] = "--box";
            argv[a++] = (char *)boxes[b];
        }
        argv[a++] = png;
        argv[a] = NULL;
        char *out = run_capture(argv);
        CHECK(out, "ert-ref failed");
        if (out) {
            ref_face f[NB];
            int nf = parse_ref(out, f, NB);
            CHECK(nf == NB, "ert-ref printed %d of %d faces", nf, NB);
            for (int b = 0; b < nf; b++) {
                char what[256];
                snprintf(what, sizeof what, "%s box %s", names[k], boxes[b]);
                compare(m, &img, &f[b], what, &s);
            }
            free(out);
        }
        ts_ert_free(m);
    }
    report("seed models, synthetic image", &s);
    CHECK(s.faces == 10, "compared %d of 10 faces", s.faces);
    remove(png);
    ts_image_clear(&img);
    return failures ? 1 : 0;
}

/* ---- dlib: the 68-point model on real photos ---- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* First `max` .jpg files of dir (sorted), appended as full paths. */
static int list_images(const char *dir, char **paths, int max)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int cap = 16384, n = 0;
    char **names = malloc((size_t)cap * sizeof *names);
    struct dirent *e;
    while ((e = readdir(d)) && n < cap) {
        size_t l = strlen(e->d_name);
        if (l > 4 && !strcmp(e->d_name + l - 4, ".jpg")) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    int k = 0;
    for (; k < n && k < max; k++) {
        size_t l = strlen(dir) + strlen(names[k]) + 2;
        paths[k] = malloc(l);
        snprintf(paths[k], l, "%s/%s", dir, names[k]);
    }
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    return k;
}

static int test_dlib(char *ref)
{
    char model[4096];
    if (ts_model_path_find(TS_ERT_DEFAULT_FILE, TS_ERT_INSTALL_HINT, model, sizeof model) != TS_OK) {
        printf("skip: %s\n", ts_last_error());
        return SKIP;
    }
    const char *data = getenv("TS_SHARED_DATA");
    if (!data) {
        printf("skip: TS_SHARED_DATA not set\n");
        return SKIP;
    }
    char *paths[2 * PER_SET + 6];
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/celebahq/images", data);
    int n = list_images(dir, paths, PER_SET);
    snprintf(dir, sizeof dir, "%s/utkface/images", data);
    n += list_images(dir, paths + n, PER_SET);
    if (n < 2 * PER_SET) {
        printf("skip: found %d of %d images under %s (celebahq/images, utkface/images)\n", n, 2 * PER_SET, data);
        for (int i = 0; i < n; i++) free(paths[i]);
        return SKIP;
    }

    /* face-api's sample photos (group photos, installed by npm) too, when
     * they are there: whole photos, several faces each */
    const char *src = getenv("TS_SOURCE_ROOT");
    for (int i = 1; i <= 6 && src; i++) {
        char sp[4096];
        snprintf(sp, sizeof sp, "%s/node_modules/@vladmandic/face-api/demo/sample%d.jpg", src, i);
        if (access(sp, R_OK) == 0) paths[n++] = strdup(sp);
    }
    printf("%d images (20 CelebA-HQ, 20 UTKFace, %d face-api sample photos)\n", n, n - 2 * PER_SET);

    char *argv[2 + 2 * PER_SET + 6 + 1];
    argv[0] = ref;
    argv[1] = model;
    for (int i = 0; i < n; i++) argv[2 + i] = paths[i];
    argv[2 + n] = NULL;
    char *out = run_capture(argv);
    CHECK(out, "ert-ref failed");
    if (!out) return 1;
    ref_face *faces = malloc(4 * (size_t)n * sizeof *faces);
    int nf = parse_ref(out, faces, 4 * n);
    free(out);
    printf("dlib found %d faces in %d images\n", nf, n);

    ts_ert *m = NULL;
    ts_status st = ts_ert_load(NULL, &m);
    CHECK(st == TS_OK, "load: %s", ts_last_error());
    stats s = { 0 };
    if (st == TS_OK) {
        int cur = -1;
        ts_image img = { 0 };
        for (int i = 0; i < nf; i++) {
            if (faces[i].image != cur) {
                ts_image_clear(&img);
                cur = faces[i].image;
                st = ts_image_load(paths[cur], &img);
                CHECK(st == TS_OK, "%s: %s", paths[cur], ts_last_error());
                if (st != TS_OK) continue;
            }
            if (!img.data) continue;
            compare(m, &img, &faces[i], paths[cur], &s);
        }
        ts_image_clear(&img);
        ts_ert_free(m);
    }
    report("68-point model, real photos", &s);
    if (s.wide_faces) {
        double wide = s.wide_err / s.wide_faces, refit = s.refit_err / s.wide_faces;
        printf("box 1.5x wider and higher than dlib's: mean point error %.3f of the box side, refitted %.3f\n",
               wide, refit);
        CHECK(refit < 0.85 * wide, "refitting the box did not bring the points back (%.3f -> %.3f)",
              wide, refit);
    }
    /* dlib's detector finds faces in nearly all of these portraits */
    CHECK(s.faces >= n / 2, "only %d faces compared", s.faces);
    for (int i = 0; i < n; i++) free(paths[i]);
    free(faces);
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *src = getenv("TS_SOURCE_ROOT"), *build = getenv("TS_BUILD_ROOT");
    if (!src || !build) {
        fprintf(stderr, "TS_SOURCE_ROOT / TS_BUILD_ROOT not set (run through meson test)\n");
        return 1;
    }
    if (argc >= 2 && !strcmp(argv[1], "load")) return test_load(src);
    if (argc < 3 || !argv[2][0] || access(argv[2], X_OK) != 0) {
        printf("skip: ert-ref (dlib reference, needs libdlib-dev at build time) not built\n");
        return SKIP;
    }
    if (!strcmp(argv[1], "small")) return test_small(src, build, argv[2]);
    if (!strcmp(argv[1], "dlib")) return test_dlib(argv[2]);
    fprintf(stderr, "usage: test-ert load | small REF_EXE | dlib REF_EXE\n");
    return 2;
}
