/* cmd-landmarks.c - `traitscope-cli landmarks IMAGE`: the 68 iBUG landmarks
 * of one face, by the `ert` localizer (dlib's regression trees, ert.h) or
 * the `cnn` one (face-api's landmark net, lmnet.h).
 *
 * Output (a contract other tools read; the format of points.h):
 *   {"method":"ert","box":[X,Y,W,H],"landmarks":[[x,y],...68],"roll":R,"detected":true}
 * in image pixel coordinates, pixel centres at integers.  The box is the one
 * given with --box (left X, top Y, width W, height H; as a dlib rectangle
 * right = X+W-1, bottom = Y+H-1; the localizer starts from it as it is),
 * else the largest face the detector finds, from which the localizer
 * follows the face's roll (face/locate.h; roll: degrees, counter-clockwise
 * on screen).  When the detector finds no face, the image is taken as a
 * face crop (the fallback of locate.h), "detected" is false and a note goes
 * to stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "face/detector.h"
#include "face/image.h"
#include "face/locate.h"
#include "face/points.h"
#include "backend/backend.h"

static void help(void)
{
    printf("usage: traitscope-cli landmarks IMAGE [--method ert|cnn] [--box X,Y,W,H]\n"
           "                                [--detector ssd|tiny] [--model FILE] [--min-score S]\n\n"
           "Prints the 68 landmarks of one face as\n"
           "{\"method\":..,\"box\":[X,Y,W,H],\"landmarks\":[[x,y],...],\"roll\":..,\"detected\":..}\n"
           "(image pixels).\n\n"
           "  --method ert|cnn  ert: dlib's ensemble of regression trees\n"
           "                    (shape_predictor_68_face_landmarks.dat, apt-get install\n"
           "                    libdlib-data); cnn: face-api's 68-point landmark net\n"
           "                    (npm set-up).  Default ert.\n"
           "  --box X,Y,W,H     the face box (left, top, width, height), used as it is;\n"
           "                    default: the largest face the detector finds, from\n"
           "                    which the localizer follows the face's in-plane turn\n"
           "                    (roll); no face found: the image is taken as a face\n"
           "                    crop (\"detected\":false)\n"
           "  --detector ssd|tiny  face-api's SSD MobileNet v1 (default) or Tiny Face\n"
           "                    Detector\n"
           "  --model FILE      the landmark model file (default: found in the model\n"
           "                    search path, see TRAITSCOPE_MODELS)\n"
           "  --min-score S     detector score threshold without --box (default 0.5)\n"
           CLI_DEVICE_HELP);
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

int cmd_landmarks(int argc, char **argv)
{
    const char *image = NULL, *model = NULL, *method = "ert", *v;
    float box[4], min_score = TS_DETECTOR_MIN_SCORE;
    int have_box = 0;
    ts_detector_kind detector = TS_DETECTOR_SSD;
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
        } else if (cli_opt(argc, argv, &i, "--detector", &v)) {
            if (ts_detector_kind_parse(v, &detector) != TS_OK)
                return cli_usage_error("landmarks", "--detector wants ssd or tiny, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--model", &v)) {
            model = v;
        } else if (cli_opt(argc, argv, &i, "--device", &v)) {
            if (!cli_parse_device(v, &device))
                return cli_usage_error("landmarks", "--device wants cpu, cuda or auto, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--min-score", &v)) {
            if (!cli_parse_float(v, &min_score) || !(min_score > 0.0f && min_score < 1.0f))
                return cli_usage_error("landmarks", "--min-score wants a number in (0,1), not '%s'", v);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("landmarks", "unknown option or missing value '%s'", argv[i]);
        } else if (!image) {
            image = argv[i];
        } else {
            return cli_usage_error("landmarks", "one image at a time ('%s' is extra)", argv[i]);
        }
    }
    if (!image) return cli_usage_error("landmarks", "no IMAGE given");

    bool cnn = !strcmp(method, "cnn");
    ts_locator_opts lo = { 0 };
    lo.detector = detector;
    lo.method = cnn ? TS_LANDMARKS_CNN : TS_LANDMARKS_ERT;
    lo.min_score = min_score;
    if (cnn) lo.cnn_model = model;
    else lo.ert_model = model;
    ts_locator *loc = NULL;
    ts_image img = { 0 };
    ts_located_face f;
    memset(&f, 0, sizeof f);
    /* no network runs with ert and a given box: no device to open */
    const ts_backend *be = ts_backend_cpu();
    void *be_ctx = NULL;
    if (!have_box || cnn) cli_backend_open("landmarks", device, &be, &be_ctx);
    ts_status st = ts_locator_new(&lo, &loc);
    if (st == TS_OK) st = ts_locator_set_backend(loc, be, be_ctx);
    if (st == TS_OK) st = ts_image_load(image, &img);
    if (st == TS_OK) st = have_box ? ts_locate_landmarks_fixed(loc, &img, box, &f) : ts_locate_face(loc, &img, &f);
    ts_image_clear(&img);
    ts_locator_free(loc);
    ts_backend_close(be, be_ctx);
    if (st != TS_OK) return cli_fail("landmarks", st);
    if (!f.detected)
        fprintf(stderr, "traitscope-cli landmarks: %s: no face found (score > %g); the image was taken as a face "
                "crop (give a box with --box X,Y,W,H)\n", image, (double)min_score);

    ts_landmarks lm;
    memset(&lm, 0, sizeof lm);
    snprintf(lm.method, sizeof lm.method, "%s", method);
    lm.has_box = 1;
    if (have_box) memcpy(lm.box, box, sizeof lm.box);
    else {
        lm.box[0] = f.box.x;
        lm.box[1] = f.box.y;
        lm.box[2] = f.box.w;
        lm.box[3] = f.box.h;
    }
    lm.pts = f.pts;
    char *json = ts_landmarks_to_json(&lm);
    if (!json) return cli_fail("landmarks", ts_error(TS_ERR_OOM, "out of memory"));
    /* points.h's object, then the keys of this command (readers ignore
     * keys they do not know) */
    size_t len = strlen(json);
    if (len && json[len - 1] == '}') json[len - 1] = '\0';
    printf("%s,\"roll\":%.2f,\"detected\":%s}\n", json, (double)f.roll + 0.0, f.detected ? "true" : "false");
    free(json);
    return CMD_OK;
}
