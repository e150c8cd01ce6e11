/* test-locate.c - faces in the wild (issue 16): the default detector and
 * the roll-following localizer of face/locate.h on real photos.
 *
 *   test-locate recall
 *       face-api's demo photos sample1..6.jpg hold 22 faces (3, 3, 3, 4, 5,
 *       4), whose centres are listed in tests/face/fixtures/demo-faces.json
 *       (checked by eye on the photos).  ts_detector_find must give one box
 *       per face: every listed centre inside exactly one box, every box
 *       around exactly one listed centre (no extra box, none missed).
 *   test-locate closeups
 *       CelebA-HQ's 256 x 256 portraits, where the face fills the frame:
 *       every 50th image of ../shared/data/celebahq/images (200 images) must
 *       have a face found in at least 99.5% of them (199 of 200).
 *   test-locate rotation
 *       100 CelebA-HQ faces (every 100th image), each turned by -45, -30,
 *       -15, 15, 30 and 45 degrees about its centre (black corners).  The
 *       entry point ts_locate_face (SSD + ert following the roll) on the
 *       turned image is compared with its points on the upright image,
 *       turned along: the mean point distance divided by the outer eye
 *       corners' distance (points 36 and 45), averaged over the faces, must
 *       be <= 0.05 at +-15 and +-30 degrees and <= 0.08 at +-45, and the
 *       face must be found (not the fallback) in at least 99 of 100 at
 *       every angle.  The same with the localizer held upright (the old
 *       way) is printed for comparison.
 * Skips (77) when the models (npm face-api, libdlib-data) or the data are
 * missing.  Timing is printed, never asserted.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "backend/backend.h"
#include "face/align.h"
#include "face/detector.h"
#include "face/image.h"
#include "face/locate.h"
#include "nn/fileio.h"

static int failures;
#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);             \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
            failures++;                                                      \
        }                                                                    \
    } while (0)

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static const char *src_root, *shared;

/* The sorted CelebA-HQ file numbers (names are N.jpg with gaps). */
static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

static int celeba_list(int *ids, int cap)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/celebahq/attributes.txt", shared);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[4096];
    int n = 0, row = 0;
    while (fgets(line, sizeof line, f) && n < cap) {
        if (row++ < 2) continue; /* count, attribute names */
        int id;
        if (sscanf(line, "%d.jpg", &id) == 1) ids[n++] = id;
    }
    fclose(f);
    qsort(ids, (size_t)n, sizeof *ids, cmp_int);
    return n;
}

static ts_status load_celeba(int id, ts_image *img)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/celebahq/images/%d.jpg", shared, id);
    return ts_image_load(path, img);
}

/* ---- recall on face-api's demo photos ---- */

static int run_recall(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/face/fixtures/demo-faces.json", src_root);
    uint8_t *buf = NULL;
    size_t len = 0;
    if (ts_read_file(path, 1 << 20, &buf, &len) != TS_OK) {
        CHECK(0, "%s", ts_last_error());
        return 1;
    }
    cJSON *j = cJSON_ParseWithLength((const char *)buf, len);
    free(buf);
    CHECK(cJSON_IsArray(j), "%s: not a JSON array", path);
    ts_detector *det = NULL;
    if (ts_detector_load(TS_DETECTOR_SSD, NULL, &det) != TS_OK) {
        printf("skip: %s\n", ts_last_error());
        cJSON_Delete(j);
        return 77;
    }
    int total = 0, found_total = 0;
    const cJSON *photo;
    cJSON_ArrayForEach(photo, j) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(photo, "image");
        const cJSON *centres = cJSON_GetObjectItemCaseSensitive(photo, "faces");
        CHECK(cJSON_IsString(name) && cJSON_IsArray(centres), "%s: bad entry", path);
        if (!cJSON_IsString(name) || !cJSON_IsArray(centres)) continue;
        char img_path[4096];
        snprintf(img_path, sizeof img_path, "%s/node_modules/@vladmandic/face-api/demo/%s", src_root,
                 name->valuestring);
        ts_image img = { 0 };
        if (ts_image_load(img_path, &img) != TS_OK) {
            printf("skip: %s\n", ts_last_error());
            ts_detector_free(det);
            cJSON_Delete(j);
            return 77;
        }
        ts_face_box boxes[64];
        int n = 0;
        ts_status st = ts_detector_find(det, &img, TS_DETECTOR_MIN_SCORE, boxes, 64, &n);
        CHECK(st == TS_OK, "%s: %s", img_path, ts_last_error());
        int nc = cJSON_GetArraySize(centres), hits_of_box[64] = { 0 }, good = 0;
        for (int c = 0; c < nc; c++) {
            const cJSON *p = cJSON_GetArrayItem(centres, c);
            double x = cJSON_GetArrayItem(p, 0)->valuedouble, y = cJSON_GetArrayItem(p, 1)->valuedouble;
            int inside = 0;
            for (int b = 0; b < n && b < 64; b++) {
                float r[4];
                ts_face_box_bounds(&boxes[b], r);
                if (x >= r[0] && x <= r[0] + r[2] && y >= r[1] && y <= r[1] + r[3]) {
                    inside++;
                    hits_of_box[b]++;
                }
            }
            CHECK(inside == 1, "%s: the face at (%.0f,%.0f) is in %d boxes", name->valuestring, x, y, inside);
            good += inside == 1;
        }
        for (int b = 0; b < n && b < 64; b++)
            CHECK(hits_of_box[b] == 1, "%s: box %d (%.0f,%.0f,%.0f,%.0f) holds %d faces", name->valuestring, b,
                  boxes[b].x, boxes[b].y, boxes[b].w, boxes[b].h, hits_of_box[b]);
        printf("%s: %d faces listed, %d boxes, %d faces found once\n", name->valuestring, nc, n, good);
        total += nc;
        found_total += good;
        ts_image_clear(&img);
    }
    CHECK(total == 22, "the demo photos list %d faces, 22 expected", total);
    printf("recall: %d of %d faces\n", found_total, total);
    ts_detector_free(det);
    cJSON_Delete(j);
    return failures ? 1 : 0;
}

/* Under AddressSanitizer (CI's second pass) the figures are the normal
 * build's business: the sanitizer pass walks a fifth of the faces, to find
 * memory errors on every path without running for half an hour. */
#if defined(__SANITIZE_ADDRESS__)
#define SAMPLE_DIV 5
#else
#define SAMPLE_DIV 1
#endif

/* ---- close-ups: CelebA-HQ portraits ---- */

static int run_closeups(void)
{
    static int ids[20000];
    int n = celeba_list(ids, 20000);
    ts_detector *det = NULL;
    if (n < 1000 || ts_detector_load(TS_DETECTOR_SSD, NULL, &det) != TS_OK) {
        printf("skip: %s\n", n < 1000 ? "CelebA-HQ (../shared/data/celebahq) not found" : ts_last_error());
        return 77;
    }
    int tried = 0, found = 0, one_pass = 0;
    double t0 = now_s();
    for (int i = 0; i < n; i += 50 * SAMPLE_DIV) {
        ts_image img = { 0 };
        if (load_celeba(ids[i], &img) != TS_OK) {
            CHECK(0, "%s", ts_last_error());
            continue;
        }
        ts_face_box b[8];
        int k = 0, k1 = 0;
        CHECK(ts_detector_find(det, &img, TS_DETECTOR_MIN_SCORE, b, 8, &k) == TS_OK, "%s", ts_last_error());
        CHECK(ts_detector_detect(det, &img, TS_DETECTOR_MIN_SCORE, b, 8, &k1) == TS_OK, "%s", ts_last_error());
        tried++;
        found += k > 0;
        one_pass += k1 > 0;
        if (k == 0) printf("no face in %d.jpg\n", ids[i]);
        ts_image_clear(&img);
    }
    printf("closeups: a face found in %d of %d CelebA-HQ images (%.1f%%; face-api's single pass: %d), %.2f s each\n",
           found, tried, 100.0 * found / tried, one_pass, (now_s() - t0) / tried);
    CHECK(tried >= 190 / SAMPLE_DIV && found * 1000 >= tried * 995, "a face in only %d of %d images (99.5%% wanted)",
          found, tried);
    ts_detector_free(det);
    return failures ? 1 : 0;
}

/* ---- rotation ---- */

#define N_ANGLES 6
static const int angles[N_ANGLES] = { -45, -30, -15, 15, 30, 45 };

/* Mean point distance over the 68 points / outer-eye-corner distance of
 * the reference. */
static double norm_error(const ts_points *p, const ts_points *ref)
{
    double iod = hypot(ref->x[45] - ref->x[36], ref->y[45] - ref->y[36]), s = 0;
    for (int i = 0; i < TS_LANDMARKS; i++) s += hypot(p->x[i] - ref->x[i], p->y[i] - ref->y[i]);
    return s / TS_LANDMARKS / iod;
}

/* The localizer held upright (no roll) from the same detector box as `f`
 * (the detector runs once per image), or its own fallback. */
static ts_status upright_on_same_box(ts_locator *upright, const ts_image *img, const ts_located_face *f,
                                     ts_located_face *out)
{
    if (!f->detected) return ts_locate_face(upright, img, out);
    ts_face_box b = f->box;
    b.roll = 0;
    return ts_locate_landmarks(upright, img, &b, out);
}

static int run_rotation(void)
{
    static int ids[20000];
    int n = celeba_list(ids, 20000);
    ts_locator *loc = NULL, *upright = NULL;
    ts_locator_opts uo = { 0 };
    uo.no_roll = true;
    ts_detector *det = NULL;
    if (n < 1000 || ts_locator_new(NULL, &loc) != TS_OK || ts_locator_new(&uo, &upright) != TS_OK ||
        ts_locator_detector(loc, &det) != TS_OK || ts_locator_load_landmarks(loc) != TS_OK) {
        printf("skip: %s\n", n < 1000 ? "CelebA-HQ (../shared/data/celebahq) not found" : ts_last_error());
        ts_locator_free(loc);
        ts_locator_free(upright);
        return 77;
    }
    double err[N_ANGLES] = { 0 }, err_old[N_ANGLES] = { 0 }, worst[N_ANGLES] = { 0 };
    int found[N_ANGLES] = { 0 }, faces = 0;
    double t0 = now_s();
    const int want_faces = 100 / SAMPLE_DIV;
    for (int i = 0; i < n && faces < want_faces; i += 100 * SAMPLE_DIV) {
        ts_image img = { 0 };
        if (load_celeba(ids[i], &img) != TS_OK) {
            CHECK(0, "%s", ts_last_error());
            continue;
        }
        ts_located_face up, up_old;
        CHECK(ts_locate_face(loc, &img, &up) == TS_OK, "%s", ts_last_error());
        CHECK(upright_on_same_box(upright, &img, &up, &up_old) == TS_OK, "%s", ts_last_error());
        faces++;
        for (int a = 0; a < N_ANGLES; a++) {
            ts_points want = up.pts, want_old = up_old.pts;
            ts_image turned = { 0 };
            CHECK(ts_face_rotate(&img, &want, angles[a], TS_BORDER_ZERO, &turned) == TS_OK, "%s", ts_last_error());
            ts_affine r = ts_affine_rotation(angles[a], (img.width - 1) / 2.0, (img.height - 1) / 2.0);
            ts_points_transform(&want_old, &r);
            ts_located_face f, f_old;
            CHECK(ts_locate_face(loc, &turned, &f) == TS_OK, "%s", ts_last_error());
            CHECK(upright_on_same_box(upright, &turned, &f, &f_old) == TS_OK, "%s", ts_last_error());
            double e = norm_error(&f.pts, &want);
            err[a] += e;
            err_old[a] += norm_error(&f_old.pts, &want_old);
            if (e > worst[a]) worst[a] = e;
            found[a] += f.detected;
            if (e > 0.1) printf("%d.jpg at %+d degrees: error %.3f (roll %.1f)\n", ids[i], angles[a], e, f.roll);
            ts_image_clear(&turned);
        }
        ts_image_clear(&img);
    }
    CHECK(faces == want_faces, "only %d faces", faces);
    printf("rotation: %d CelebA-HQ faces, %.2f s per turned image (both localizers)\n", faces,
           (now_s() - t0) / (faces * (N_ANGLES + 1)));
    printf("angle  found  error (mean / worst)  upright-only error\n");
    for (int a = 0; a < N_ANGLES; a++) {
        double m = err[a] / faces;
        printf("%+4d   %3d    %.4f / %.3f       %.4f\n", angles[a], found[a], m, worst[a], err_old[a] / faces);
        double limit = abs(angles[a]) > 30 ? 0.08 : 0.05;
        CHECK(m <= limit, "%+d degrees: mean error %.4f above %.2f", angles[a], m, limit);
        CHECK(found[a] * 100 >= 99 * faces, "%+d degrees: a face found in %d of %d", angles[a], found[a], faces);
    }
    ts_locator_free(loc);
    ts_locator_free(upright);
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    src_root = getenv("TS_SOURCE_ROOT");
    shared = getenv("TS_SHARED_DATA");
    if (!src_root) src_root = ".";
    if (!shared) shared = "../shared/data";
    ts_cpu_set_threads(0);
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "recall")) return run_recall();
    if (!strcmp(mode, "closeups")) return run_closeups();
    if (!strcmp(mode, "rotation")) return run_rotation();
    fprintf(stderr, "usage: test-locate recall|closeups|rotation\n");
    return 2;
}
