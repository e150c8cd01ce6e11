/* cmd-landmarks.c - `traitscope-cli landmarks IMAGE`: the 68 iBUG landmarks
 * of one face, by the `ert` localizer (dlib's regression trees, ert.h) or
 * the `cnn` one (face-api's landmark net, lmnet.h).
 *
 * Output (a contract other tools read; the format of points.h):
 *   {"method":"ert","box":[X,Y,W,H],"landmarks":[[x,y],...68]}
 * in image pixel coordinates, pixel centres at integers.  The box is the one
 * given with --box (left X, top Y, width W, height H; as a dlib rectangle
 * right = X+W-1, bottom = Y+H-1), else the largest face the Tiny Face
 * Detector finds (detector.h); no face is an error (exit 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "face/detector.h"
#include "face/ert.h"
#include "face/image.h"
#include "face/lmnet.h"
#include "face/points.h"

#define MAX_FACES 256

static void help(void)
{
    printf("usage: traitscope-cli landmarks IMAGE [--method ert|cnn] [--box X,Y,W,H]\n"
           "                                [--model FILE] [--min-score S]\n\n"
           "Prints the 68 landmarks of one face as\n"
           "{\"method\":..,\"box\":[X,Y,W,H],\"landmarks\":[[x,y],...]} (image pixels).\n\n"
           "  --method ert|cnn  ert: dlib's ensemble of regression trees\n"
           "                    (shape_predictor_68_face_landmarks.dat, apt-get install\n"
           "                    libdlib-data); cnn: face-api's 68-point landmark net\n"
           "                    (npm set-up).  Default ert.\n"
           "  --box X,Y,W,H     the face box (left, top, width, height); default: the\n"
           "                    largest face the Tiny Face Detector finds (ert then\n"
           "                    refits that box twice to its own mean shape, since\n"
           "                    dlib's boxes are tighter than face-api's)\n"
           "  --model FILE      the landmark model file (default: found in the model\n"
           "                    search path, see TRAITSCOPE_MODELS)\n"
           "  --min-score S     detector score threshold without --box (default 0.5)\n"
           CLI_DEVICE_HELP
           "                    (the detector and the cnn; dlib's trees run on the CPU)\n");
}

/* "X,Y,W,H": four finite numbers, W and H > 0. */
static int parse_box(const char *s, float box[4])
{
    char *end;
    const char *p = s;
    for (int i = 0; i < 4; i++) {
        box[i] = strtof(p, &end);
        if (end == p || !(box[i] > -1e7f && box[i] < 1e7f)) return 0;
        if (i < 3 && *end != ',') return 0;
        p = end + (i < 3);
    }
    return *end == '\0' && box[2] > 0 && box[3] > 0;
}

/* The largest face (by area) the detector finds, or TS_ERR_ARG if none. */
static ts_status largest_face(const ts_image *img, const char *image, float min_score, const ts_backend *be,
                              void *ctx, float box[4])
{
    ts_detector *det = NULL;
    TS_TRY(ts_detector_load(NULL, &det));
    ts_face_box *boxes = malloc(sizeof *boxes * MAX_FACES);
    int n = 0;
    ts_status st = boxes ? ts_detector_set_backend(det, be, ctx) : ts_error(TS_ERR_OOM, "out of memory");
    if (st == TS_OK) st = ts_detector_detect(det, img, min_score, boxes, MAX_FACES, &n);
    ts_detector_free(det);
    if (st == TS_OK && n == 0)
        st = ts_error(TS_ERR_ARG, "%s: no face found (score > %g); give one with --box X,Y,W,H", image,
                      (double)min_score);
    if (st == TS_OK) {
        if (n > MAX_FACES) n = MAX_FACES;
        int best = 0;
        for (int i = 1; i < n; i++)
            if (boxes[i].w * boxes[i].h > boxes[best].w * boxes[best].h) best = i;
        box[0] = boxes[best].x;
        box[1] = boxes[best].y;
        box[2] = boxes[best].w;
        box[3] = boxes[best].h;
    }
    free(boxes);
    return st;
}

/* refit: the box came from face-api's detector, not from the user or a
 * dlib-like detector: let ert move it onto its own mean shape (ert.h). */
static ts_status run_method(const char *method, const char *model, const ts_image *img, const float box[4],
                            bool refit, const ts_backend *be, void *ctx, ts_points *pts)
{
    if (!strcmp(method, "ert")) {
        ts_ert *m = NULL;
        TS_TRY(ts_ert_load(model, &m));
        ts_status st = ts_ert_predict_refit(m, img, box, refit ? 2 : 0, pts, NULL);
        ts_ert_free(m);
        return st;
    }
    ts_lmnet *n = NULL;
    TS_TRY(ts_lmnet_load(model, &n));
    ts_status st = ts_lmnet_set_backend(n, be, ctx);
    if (st == TS_OK) st = ts_lmnet_predict(n, img, box, pts);
    ts_lmnet_free(n);
    return st;
}

int cmd_landmarks(int argc, char **argv)
{
    const char *image = NULL, *model = NULL, *method = "ert", *v;
    float box[4], min_score = 0.5f;
    int have_box = 0;
    ts_device device = TS_DEVICE_AUTO;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            help();
            return CMD_OK;
        } else if (cli_opt(argc, argv, &i, "--method", &v)) {
            if (strcmp(v, "ert") && strcmp(v, "cnn"))
                return cli_usage_error("landmarks", "--method wants ert or cnn, not '%s'", v);
            method = v;
        } else if (cli_opt(argc, argv, &i, "--box", &v)) {
            if (!parse_box(v, box))
                return cli_usage_error("landmarks", "--box wants X,Y,W,H (numbers, W and H > 0), not '%s'", v);
            have_box = 1;
        } else if (cli_opt(argc, argv, &i, "--model", &v)) {
            model = v;
        } else if (cli_opt(argc, argv, &i, "--min-score", &v)) {
            if (!cli_parse_float(v, &min_score) || !(min_score >= 0.0f && min_score < 1.0f))
                return cli_usage_error("landmarks", "--min-score wants a number in [0,1), not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--device", &v)) {
            if (!cli_parse_device(v, &device))
                return cli_usage_error("landmarks", "--device wants cpu, cuda or auto, not '%s'", v);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("landmarks", "unknown option or missing value '%s'", argv[i]);
        } else if (!image) {
            image = argv[i];
        } else {
            return cli_usage_error("landmarks", "one image at a time ('%s' is extra)", argv[i]);
        }
    }
    if (!image) return cli_usage_error("landmarks", "no IMAGE given");

    /* no network runs with ert and a given box: no device to open */
    const ts_backend *be = ts_backend_cpu();
    void *be_ctx = NULL;
    if (!have_box || strcmp(method, "ert")) cli_backend_open("landmarks", device, &be, &be_ctx);
    ts_image img = { 0 };
    ts_status st = ts_image_load(image, &img);
    if (st == TS_OK && !have_box) st = largest_face(&img, image, min_score, be, be_ctx, box);
    ts_landmarks lm;
    memset(&lm, 0, sizeof lm);
    if (st == TS_OK) st = run_method(method, model, &img, box, !have_box, be, be_ctx, &lm.pts);
    ts_image_clear(&img);
    ts_backend_close(be, be_ctx);
    if (st != TS_OK) return cli_fail("landmarks", st);

    snprintf(lm.method, sizeof lm.method, "%s", method);
    lm.has_box = 1;
    memcpy(lm.box, box, sizeof lm.box);
    char *json = ts_landmarks_to_json(&lm);
    if (!json) return cli_fail("landmarks", ts_error(TS_ERR_OOM, "out of memory"));
    printf("%s\n", json);
    free(json);
    return CMD_OK;
}
