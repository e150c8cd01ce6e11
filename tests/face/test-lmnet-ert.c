/* test-lmnet-ert.c - the two 68-point localizers agree: `cnn` (face-api's
 * FaceLandmark68Net, src/face/lmnet.c) against `ert` (dlib's regression
 * trees, src/face/ert.c) on real photos, for the same face boxes from our
 * Tiny Face Detector.
 *
 * Measure (issue 3): mean over the 68 points of the distance between the two
 * localizers' points divided by the inter-ocular distance (outer eye
 * corners 36 and 45 of ert's points, the iBUG 300-W normalisation).
 *   - CelebA-HQ faces (CELEBA_N of them, frontal-ish portraits): the mean
 *     over faces must stay below MEAN_TOL = 0.1;
 *   - face-api's six group photos (20 detections, among them strongly
 *     tilted faces and one false detection between two faces, where the
 *     localizers disagree by up to 0.4): printed, and each detection must
 *     stay below FACE_TOL = 0.5 (both localizers land on the same region).
 * Skips (77) without face-api's npm package or libdlib-data.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "face/detector.h"
#include "face/ert.h"
#include "face/image.h"
#include "face/lmnet.h"

#define CELEBA_N 40
#define MEAN_TOL 0.1
#define FACE_TOL 0.5

static int failures;
static double total;
static int n_faces;

/* Compares the localizers on the detections of one photo (`counted`: only
 * the best one, a CelebA portrait holds one face, added to the mean). */
static int run_photo(const char *path, ts_detector *det, ts_lmnet *cnn, ts_ert *ert, int counted)
{
    ts_image img = { 0 };
    if (ts_image_load(path, &img) != TS_OK) return 0;
    ts_face_box boxes[16];
    int n = 0;
    if (ts_detector_detect(det, &img, 0.5f, boxes, 16, &n) != TS_OK) {
        fprintf(stderr, "FAIL detect %s: %s\n", path, ts_last_error());
        failures++;
    }
    for (int i = 0; i < n && i < (counted ? 1 : 16); i++) {
        float box[4] = { boxes[i].x, boxes[i].y, boxes[i].w, boxes[i].h };
        ts_points a, b;
        if (ts_lmnet_predict(cnn, &img, box, &a) != TS_OK || ts_ert_predict(ert, &img, box, &b) != TS_OK) {
            fprintf(stderr, "FAIL %s face %d: %s\n", path, i, ts_last_error());
            failures++;
            continue;
        }
        double iod = hypot(b.x[45] - b.x[36], b.y[45] - b.y[36]), sum = 0;
        for (int k = 0; k < 68; k++) sum += hypot(a.x[k] - b.x[k], a.y[k] - b.y[k]);
        double e = sum / 68 / iod;
        printf("%s face %d (%.0fx%.0f): cnn vs ert %.4f of the inter-ocular distance\n", path, i,
               (double)box[2], (double)box[3], e);
        if (!(e < FACE_TOL)) {
            fprintf(stderr, "FAIL %s face %d: %.4f >= %.2f\n", path, i, e, FACE_TOL);
            failures++;
        }
        if (counted) {
            total += e;
            n_faces++;
        }
    }
    ts_image_clear(&img);
    return n;
}

int main(void)
{
    const char *src = getenv("TS_SOURCE_ROOT"), *shared = getenv("TS_SHARED_DATA");
    if (!src) src = ".";
    if (!shared) shared = "../shared/data";
    ts_detector *det = NULL;
    ts_lmnet *cnn = NULL;
    ts_ert *ert = NULL;
    if (ts_detector_load(TS_DETECTOR_TINY, NULL, &det) != TS_OK || ts_lmnet_load(NULL, &cnn) != TS_OK ||
        ts_ert_load(NULL, &ert) != TS_OK) {
        printf("skip: %s\n", ts_last_error());
        ts_detector_free(det);
        ts_lmnet_free(cnn);
        return 77;
    }
    char path[4096];
    for (int i = 1; i <= 6; i++) {
        snprintf(path, sizeof path, "%s/node_modules/@vladmandic/face-api/demo/sample%d.jpg", src, i);
        run_photo(path, det, cnn, ert, 0);
    }
    /* The CelebA-HQ sample holds a random subset of the numbers. */
    for (int i = 1; i <= 2000 && n_faces < CELEBA_N; i++) {
        snprintf(path, sizeof path, "%s/celebahq/images/%d.jpg", shared, i);
        run_photo(path, det, cnn, ert, 1);
    }
    if (n_faces == 0) {
        printf("skip: no CelebA-HQ face under %s\n", shared);
        return 77;
    }
    if (n_faces < CELEBA_N) {
        fprintf(stderr, "FAIL only %d faces compared\n", n_faces);
        failures++;
    }
    double mean = n_faces ? total / n_faces : NAN;
    printf("%d CelebA-HQ faces: mean cnn vs ert distance %.4f of the inter-ocular distance (limit %.2f)\n",
           n_faces, mean, MEAN_TOL);
    if (!(mean < MEAN_TOL)) {
        fprintf(stderr, "FAIL mean %.4f >= %.2f\n", mean, MEAN_TOL);
        failures++;
    }
    ts_detector_free(det);
    ts_lmnet_free(cnn);
    ts_ert_free(ert);
    return failures ? 1 : 0;
}
