/* test-faceapi.c - our Tiny Face Detector, SSD MobileNet v1 and FaceLandmark68Net against
 * face-api's own outputs (fixtures made by make-faceapi-ref.js, see
 * README-faceapi.md).
 *
 * For every tests/face/fixtures/faceapi-*.json whose photo is present:
 *   - detection: the same number of faces (a face whose score lies within
 *     SCORE_TOL of the 0.5 threshold on either side may be missing or extra),
 *     every reference box matched by one of ours with IoU > MIN_IOU and
 *     |score difference| < SCORE_TOL;
 *   - landmarks: for face-api's integer crop box, our 68 points against
 *     face-api's: mean distance < MEAN_PX_TOL pixels and every point within
 *     MAX_REL_TOL of the crop's larger side.
 * The networks use uint8-quantized weights dequantized identically on both
 * sides and the same input pixels; what remains is float32 summation order
 * (TF.js vs our im2col/BLAS), so the tolerances are tight.
 * Skips (77) when the npm package is not installed.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "face/detector.h"
#include "face/image.h"
#include "face/lmnet.h"
#include "nn/fileio.h"

#define MIN_IOU 0.995
#define SCORE_TOL 0.002
#define MEAN_PX_TOL 0.05
#define MAX_REL_TOL 0.002

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

static uint32_t fnv1a(const ts_image *img)
{
    uint32_t h = 0x811c9dc5u;
    for (int y = 0; y < img->height; y++) {
        const uint8_t *p = ts_image_pixel(img, 0, y);
        for (int i = 0; i < 3 * img->width; i++) h = (h ^ p[i]) * 0x01000193u;
    }
    return h;
}

static double iou(const ts_face_box *a, double bx, double by, double bw, double bh)
{
    double iw = fmin(a->x + a->w, bx + bw) - fmax(a->x, bx);
    double ih = fmin(a->y + a->h, by + bh) - fmax(a->y, by);
    if (iw <= 0 || ih <= 0) return 0;
    return iw * ih / (a->w * a->h + bw * bh - iw * ih);
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* Worst landmark numbers over all photos, printed at the end. */
static double worst_mean_px = 0, worst_rel = 0;
static int n_photos, n_landmark_sets;

/* Worst numbers over all photos, per detector. */
typedef struct worst {
    double iou, score;
    int faces;
} worst;
static worst wt = { 1, 0, 0 }, ws = { 1, 0, 0 };

/* One detector's boxes on one photo against face-api's (`faces`). */
static void check_detector(const char *path, const ts_image *img, ts_detector *det, const cJSON *faces,
                           const char *what, worst *w)
{
    CHECK(cJSON_IsArray(faces), "%s: the fixture has no %s faces (remake it)", path, what);
    if (!cJSON_IsArray(faces)) return;
    ts_face_box boxes[64];
    int n = 0;
    ts_status st = ts_detector_detect(det, img, 0.5f, boxes, 64, &n);
    CHECK(st == TS_OK, "detect %s (%s): %s", path, what, ts_last_error());
    int nref = cJSON_GetArraySize(faces), borderline = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, faces) {
        double bx = num(f, "x"), by = num(f, "y"), bw = num(f, "w"), bh = num(f, "h"),
               sc = num(f, "score");
        int best = -1;
        double best_iou = 0;
        for (int i = 0; i < n && i < 64; i++) {
            double v = iou(&boxes[i], bx, by, bw, bh);
            if (v > best_iou) best_iou = v, best = i;
        }
        if (fabs(sc - 0.5) < SCORE_TOL) {
            borderline++;
            if (best < 0) continue;
        }
        w->faces++;
        CHECK(best >= 0 && best_iou > MIN_IOU, "%s (%s): face-api box (%.1f,%.1f,%.1f,%.1f) best IoU %.4f",
              path, what, bx, by, bw, bh, best_iou);
        if (best < 0) continue;
        double ds = fabs(boxes[best].score - sc);
        CHECK(ds < SCORE_TOL, "%s (%s): score %.5f vs face-api %.5f", path, what, (double)boxes[best].score, sc);
        if (best_iou < w->iou) w->iou = best_iou;
        if (ds > w->score) w->score = ds;
    }
    CHECK(abs(n - nref) <= borderline, "%s (%s): %d faces, face-api found %d", path, what, n, nref);
    printf("%s: %s: %d faces (face-api %d)\n", path, what, n, nref);
}

static void check_photo(const char *fixture, ts_detector *det, ts_detector *ssd, ts_lmnet *net, const char *src_root,
                        const char *shared)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (ts_read_file(fixture, 1 << 20, &buf, &len) != TS_OK) {
        CHECK(0, "%s", ts_last_error());
        return;
    }
    cJSON *j = cJSON_ParseWithLength((const char *)buf, len);
    free(buf);
    CHECK(j, "%s: not JSON", fixture);
    if (!j) return;

    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(j, "image");
    char path[4096];
    if (cJSON_IsString(ref) && !strncmp(ref->valuestring, "faceapi:", 8))
        snprintf(path, sizeof path, "%s/node_modules/@vladmandic/face-api/%s", src_root,
                 ref->valuestring + 8);
    else if (cJSON_IsString(ref) && !strncmp(ref->valuestring, "shared:", 7))
        snprintf(path, sizeof path, "%s/%s", shared, ref->valuestring + 7);
    else {
        CHECK(0, "%s: bad \"image\"", fixture);
        cJSON_Delete(j);
        return;
    }
    ts_image img = { 0 };
    if (ts_image_load(path, &img) != TS_OK) {
        printf("note: %s: photo not available (%s), skipped\n", fixture, ts_last_error());
        cJSON_Delete(j);
        return;
    }
    n_photos++;
    CHECK(img.width == num(j, "width") && img.height == num(j, "height"), "%s: size %dx%d differs",
          path, img.width, img.height);
    if ((double)fnv1a(&img) != num(j, "rgb_fnv1a"))
        printf("note: %s decodes to other pixels than when the fixture was made "
               "(JPEG decoder changed?)\n", path);

    check_detector(path, &img, det, cJSON_GetObjectItemCaseSensitive(j, "faces"), "tiny", &wt);
    check_detector(path, &img, ssd, cJSON_GetObjectItemCaseSensitive(j, "ssd_faces"), "ssd", &ws);

    /* Landmarks for face-api's crop boxes. */
    const cJSON *lms = cJSON_GetObjectItemCaseSensitive(j, "landmarks"), *lm;
    cJSON_ArrayForEach(lm, lms) {
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(lm, "box");
        const cJSON *pts = cJSON_GetObjectItemCaseSensitive(lm, "points");
        float box[4];
        for (int k = 0; k < 4; k++) box[k] = (float)cJSON_GetArrayItem(b, k)->valuedouble;
        ts_points p;
        ts_status st = ts_lmnet_predict(net, &img, box, &p);
        CHECK(st == TS_OK, "landmarks %s: %s", path, ts_last_error());
        if (st != TS_OK) continue;
        CHECK(p.n == 68 && cJSON_GetArraySize(pts) == 68, "%s: point count", path);
        double sum = 0, worst = 0, side = fmax(box[2], box[3]);
        for (int k = 0; k < 68; k++) {
            const cJSON *q = cJSON_GetArrayItem(pts, k);
            double dx = p.x[k] - cJSON_GetArrayItem(q, 0)->valuedouble;
            double dy = p.y[k] - cJSON_GetArrayItem(q, 1)->valuedouble;
            double d = sqrt(dx * dx + dy * dy);
            sum += d;
            if (d > worst) worst = d;
        }
        double mean = sum / 68;
        n_landmark_sets++;
        CHECK(mean < MEAN_PX_TOL, "%s: mean landmark distance %.4f px", path, mean);
        CHECK(worst / side < MAX_REL_TOL, "%s: worst landmark %.3f px for a %.0f px face", path,
              worst, side);
        if (mean > worst_mean_px) worst_mean_px = mean;
        if (worst / side > worst_rel) worst_rel = worst / side;
    }
    ts_image_clear(&img);
    cJSON_Delete(j);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
    const char *src_root = getenv("TS_SOURCE_ROOT");
    const char *shared = getenv("TS_SHARED_DATA");
    if (!src_root) src_root = ".";
    if (!shared) shared = "../shared/data";

    ts_detector *det = NULL, *ssd = NULL;
    ts_lmnet *net = NULL;
    if (ts_detector_load(TS_DETECTOR_TINY, NULL, &det) != TS_OK ||
        ts_detector_load(TS_DETECTOR_SSD, NULL, &ssd) != TS_OK || ts_lmnet_load(NULL, &net) != TS_OK) {
        printf("skip: %s\n", ts_last_error());
        ts_detector_free(det);
        ts_detector_free(ssd);
        return 77;
    }

    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/face/fixtures", src_root);
    DIR *d = opendir(dir);
    CHECK(d, "%s: cannot open", dir);
    char *names[256];
    int nn = 0;
    for (struct dirent *e; d && (e = readdir(d)) && nn < 256;) {
        size_t l = strlen(e->d_name);
        if (!strncmp(e->d_name, "faceapi-", 8) && l > 5 && !strcmp(e->d_name + l - 5, ".json"))
            names[nn++] = strdup(e->d_name);
    }
    if (d) closedir(d);
    qsort(names, (size_t)nn, sizeof *names, by_name);
    CHECK(nn >= 6, "expected at least 6 fixtures in %s, found %d", dir, nn);
    for (int i = 0; i < nn; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        check_photo(path, det, ssd, net, src_root, shared);
        free(names[i]);
    }
    CHECK(n_photos >= 6 && wt.faces >= 6 && ws.faces >= 6 && n_landmark_sets >= 6,
          "too little was compared: %d photos, %d + %d faces, %d landmark sets", n_photos, wt.faces, ws.faces,
          n_landmark_sets);
    printf("compared %d photos, %d tiny and %d ssd faces, %d landmark sets\n", n_photos, wt.faces, ws.faces,
           n_landmark_sets);
    printf("tiny: worst box IoU %.5f, worst score difference %.6f\n", wt.iou, wt.score);
    printf("ssd:  worst box IoU %.5f, worst score difference %.6f\n", ws.iou, ws.score);
    printf("worst mean landmark distance %.4f px, worst single point %.5f of the face size\n",
           worst_mean_px, worst_rel);
    ts_detector_free(det);
    ts_detector_free(ssd);
    ts_lmnet_free(net);
    return failures ? 1 : 0;
}
