/* test-cli-landmarks.c - `traitscope-cli landmarks` keeps its JSON contract:
 * {"method":"ert","box":[X,Y,W,H],"landmarks":[[x,y],...]}, read back with
 * points.h's parser, equal (to printing precision) to ts_ert_predict on the
 * same image and box, exit 0; bad flags exit 2; a missing image or model
 * exits 1 with a message naming it.
 *
 * Runs without libdlib-data: the model is the committed seed
 * tests/fuzz/seeds/ert-68.dat (a small dlib-written predictor, 68 points)
 * given with --model, the image a synthetic PNG.  When the real model and
 * face-api's detector are installed, the default model and the
 * detector-chosen box are checked too; otherwise the rest passes and the
 * test then exits 77 (skipped), saying which part could not run.
 *
 * usage: test-cli-landmarks TRAITSCOPE_CLI
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "face/detector.h"
#include "face/locate.h"
#include "face/ert.h"
#include "face/image.h"
#include "face/points.h"

static int failures;
static const char *skipped; /* why a part could not run */
#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);             \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
            failures++;                                                      \
        }                                                                    \
    } while (0)

/* Runs a command, returns its exit status and its output. */
static int run(const char *cmd, char *out, size_t len)
{
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, len - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The CLI's points against ours, relative tolerance of float printing. */
static void same_points(const ts_landmarks *lm, const ts_points *ref, const char *what)
{
    CHECK(lm->pts.n == ref->n, "%s: %d points, expected %d", what, lm->pts.n, ref->n);
    for (int i = 0; i < lm->pts.n && i < ref->n; i++)
        CHECK(fabsf(lm->pts.x[i] - ref->x[i]) <= 1e-3f && fabsf(lm->pts.y[i] - ref->y[i]) <= 1e-3f,
              "%s: point %d (%g,%g) vs (%g,%g)", what, i, lm->pts.x[i], lm->pts.y[i], ref->x[i], ref->y[i]);
}

int main(int argc, char **argv)
{
    const char *src = getenv("TS_SOURCE_ROOT"), *build = getenv("TS_BUILD_ROOT");
    if (argc < 2 || !src || !build) {
        fprintf(stderr, "usage: test-cli-landmarks TRAITSCOPE_CLI (through meson test)\n");
        return 1;
    }
    const char *cli = argv[1];
    char png[4096], model[4096], cmd[12288], out[1 << 16];
    snprintf(png, sizeof png, "%s/test-cli-landmarks.png", build);
    snprintf(model, sizeof model, "%s/tests/fuzz/seeds/ert-68.dat", src);

    ts_image img;
    TS_ASSERT(ts_image_init(&img, 120, 100) == TS_OK);
    for (int y = 0; y < img.height; y++)
        for (int x = 0; x < img.width; x++) {
            uint8_t *p = ts_image_pixel(&img, x, y);
            p[0] = (uint8_t)(x * 2), p[1] = (uint8_t)(y * 2), p[2] = (uint8_t)((x * y) & 255);
        }
    TS_ASSERT(ts_image_save_png(png, &img) == TS_OK);

    /* --box with the seed model */
    const float box[4] = { 12, 9, 80, 70 };
    snprintf(cmd, sizeof cmd, "'%s' landmarks '%s' --model '%s' --box 12,9,80,70", cli, png, model);
    int rc = run(cmd, out, sizeof out);
    CHECK(rc == 0, "landmarks exited %d: %s", rc, out);
    ts_landmarks lm;
    ts_status st = ts_landmarks_parse(out, strlen(out), "cli output", &lm);
    CHECK(st == TS_OK, "output does not parse: %s (%s)", ts_last_error(), out);
    CHECK(!strncmp(out, "{\"method\":\"ert\",\"box\":[12,9,80,70],\"landmarks\":[[", 48), "layout: %.80s", out);
    ts_ert *m = NULL;
    CHECK(ts_ert_load(model, &m) == TS_OK, "%s", ts_last_error());
    ts_points ref;
    if (st == TS_OK && m && ts_ert_predict(m, &img, box, &ref) == TS_OK) {
        CHECK(!strcmp(lm.method, "ert") && lm.has_box, "method/box");
        for (int k = 0; k < 4; k++) CHECK(lm.box[k] == box[k], "box[%d] %g", k, lm.box[k]);
        same_points(&lm, &ref, "--box");
    }
    ts_ert_free(m);

    /* usage errors exit 2, runtime errors 1 with the culprit named */
    const char *bad_args[] = { "--box 1,2,3", "--box 1,2,0,4", "--box 1,2,3,4,5", "--box a,b,c,d",
                               "--method svm --box 1,2,3,4", "--frobnicate", "" };
    for (size_t i = 0; i < sizeof bad_args / sizeof bad_args[0]; i++) {
        snprintf(cmd, sizeof cmd, "'%s' landmarks %s %s 2>&1", cli, bad_args[i][0] ? "x.png" : "", bad_args[i]);
        rc = run(cmd, out, sizeof out);
        CHECK(rc == 2, "'%s': exit %d, '%s'", bad_args[i], rc, out);
    }
    snprintf(cmd, sizeof cmd, "'%s' landmarks /nonexistent/face.png --box 1,2,3,4 --model '%s' 2>&1", cli, model);
    rc = run(cmd, out, sizeof out);
    CHECK(rc == 1 && strstr(out, "/nonexistent/face.png"), "missing image: exit %d, '%s'", rc, out);
    snprintf(cmd, sizeof cmd, "'%s' landmarks '%s' --box 1,2,3,4 --model /nonexistent/sp.dat 2>&1", cli, png);
    rc = run(cmd, out, sizeof out);
    CHECK(rc == 1 && strstr(out, "/nonexistent/sp.dat"), "missing model: exit %d, '%s'", rc, out);
    snprintf(cmd, sizeof cmd, "'%s' landmarks '%s' --box 1,2,3,4 --model '%s/tests/fuzz/seeds/image-tiny.png' 2>&1",
             cli, png, src);
    rc = run(cmd, out, sizeof out);
    CHECK(rc == 1 && strstr(out, "image-tiny.png") && strstr(out, "offset"), "bad model: exit %d, '%s'", rc, out);
    remove(png);
    ts_image_clear(&img);

    /* default model + detector on a real photo, when both are installed:
     * the points of face/locate.h's entry point */
    const char *data = getenv("TS_SHARED_DATA");
    ts_detector *det = NULL;
    ts_locator *loc = NULL;
    m = NULL;
    if (data && ts_ert_load(NULL, &m) == TS_OK && ts_detector_load(TS_DETECTOR_SSD, NULL, &det) == TS_OK &&
        ts_locator_new(NULL, &loc) == TS_OK) {
        char photo[4096];
        snprintf(photo, sizeof photo, "%s/celebahq/images/1.jpg", data);
        snprintf(cmd, sizeof cmd, "'%s' landmarks '%s'", cli, photo);
        rc = run(cmd, out, sizeof out);
        CHECK(rc == 0, "landmarks (detector box) exited %d: %s", rc, out);
        st = ts_landmarks_parse(out, strlen(out), "cli output", &lm);
        CHECK(st == TS_OK && lm.has_box && lm.pts.n == 68, "detector-box output: %s", out);
        CHECK(strstr(out, "\"detected\":true") && strstr(out, "\"roll\":"), "roll/detected keys: %s", out);
        ts_image im = { 0 };
        if (st == TS_OK && ts_image_load(photo, &im) == TS_OK) {
            ts_face_box fb[8];
            int n = 0;
            CHECK(ts_detector_find(det, &im, 0.5f, fb, 8, &n) == TS_OK && n >= 1, "no face in %s", photo);
            int best = 0; /* the CLI takes the largest face */
            for (int i = 1; i < n && i < 8; i++)
                if (fb[i].w * fb[i].h > fb[best].w * fb[best].h) best = i;
            const float want[4] = { fb[best].x, fb[best].y, fb[best].w, fb[best].h };
            for (int k = 0; n >= 1 && k < 4; k++)
                CHECK(fabsf(lm.box[k] - want[k]) <= 1e-3f * fmaxf(1, fabsf(want[k])), "box[%d] %g vs %g", k,
                      lm.box[k], want[k]);
            ts_located_face f;
            if (ts_locate_face(loc, &im, &f) == TS_OK) {
                ref = f.pts;
                same_points(&lm, &ref, "detector box");
            }
            ts_image_clear(&im);
        }
        printf("checked the default model with the detector's box on %s\n", photo);

        /* a photo the detector finds nothing in (uniform grey): the
         * fallback, said on stderr, exit 0 */
        ts_image grey = { 0 };
        char gpath[] = "/tmp/test-cli-landmarks-grey-XXXXXX.png";
        int fd = mkstemps(gpath, 4);
        if (fd >= 0 && ts_image_init(&grey, 120, 160) == TS_OK) {
            close(fd);
            memset(grey.data, 128, (size_t)grey.stride * grey.height);
            CHECK(ts_image_save_png(gpath, &grey) == TS_OK, "%s", ts_last_error());
            snprintf(cmd, sizeof cmd, "'%s' landmarks '%s' 2>&1", cli, gpath);
            rc = run(cmd, out, sizeof out);
            CHECK(rc == 0 && strstr(out, "no face found") && strstr(out, "\"detected\":false"),
                  "no face: exit %d, '%s'", rc, out);
            remove(gpath);
        }
        ts_image_clear(&grey);
    } else {
        /* a part not run is a skip, not a pass */
        skipped = !data ? "TS_SHARED_DATA is unset (no photo)" : "dlib's model or face-api's detector is not installed";
    }
    ts_locator_free(loc);
    ts_detector_free(det);
    ts_ert_free(m);
    if (failures) return 1;
    if (skipped) {
        printf("SKIP: %s: the default model with the detector's box was not checked (--model/--box passed)\n",
               skipped);
        return 77;
    }
    return 0;
}
