/* cmd-detect.c - `traitscope-cli detect IMAGE`: faces found by face-api's
 * SSD MobileNet v1 or Tiny Face Detector (src/face/detector.h).
 *
 * Output (a contract other tools read), best score first, in image pixels:
 *   {"faces":[{"x":..,"y":..,"w":..,"h":..,"score":..,"roll":..},...]}
 * x, y: top-left corner; w, h: size; boxes may extend past the border;
 * roll: degrees, counter-clockwise on screen, nonzero for a face found on
 * the image turned (the box is then the face's box turned by roll about
 * its centre, detector.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "face/detector.h"
#include "face/image.h"

#define MAX_FACES 1024

static void help(void)
{
    printf("usage: traitscope-cli detect IMAGE [--detector ssd|tiny] [--min-score S] [--one-pass]\n"
           "                             [--input-size N] [--model FILE]\n\n"
           "Detects faces and prints\n"
           "{\"faces\":[{\"x\":..,\"y\":..,\"w\":..,\"h\":..,\"score\":..,\"roll\":..}]}\n"
           "(pixels, best first; roll in degrees, counter-clockwise).\n\n"
           "  --detector ssd|tiny  face-api's SSD MobileNet v1 (ssd, the default) or its\n"
           "                   Tiny Face Detector (tiny)\n"
           "  --min-score S    keep faces scoring above S (default 0.5)\n"
           "  --one-pass       face-api's own single pass; by default, when it finds\n"
           "                   nothing, the image is also searched shrunk (close-ups)\n"
           "                   and turned by +-30 and +-60 degrees (tilted heads)\n"
           "  --input-size N   tiny: network input side, a multiple of 32 (default 416;\n"
           "                   larger finds smaller faces); ssd: 512 only\n"
           "  --model FILE     the detector's ...-weights_manifest.json to use\n"
           "                   (default: found in the npm set-up, see TRAITSCOPE_MODELS)\n"
           CLI_DEVICE_HELP);
}

int cmd_detect(int argc, char **argv)
{
    const char *image = NULL, *model = NULL, *v;
    float min_score = TS_DETECTOR_MIN_SCORE;
    int input_size = 0, one_pass = 0;
    ts_detector_kind kind = TS_DETECTOR_SSD;
    ts_device device = TS_DEVICE_AUTO;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            help();
            return CMD_OK;
        } else if (cli_opt(argc, argv, &i, "--min-score", &v)) {
            if (!cli_parse_float(v, &min_score) || !(min_score >= 0.0f && min_score < 1.0f))
                return cli_usage_error("detect", "--min-score wants a number in [0,1), not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--input-size", &v)) {
            if (!cli_parse_int(v, &input_size))
                return cli_usage_error("detect", "--input-size wants an integer, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--detector", &v)) {
            if (ts_detector_kind_parse(v, &kind) != TS_OK)
                return cli_usage_error("detect", "--detector wants ssd or tiny, not '%s'", v);
        } else if (cli_flag(argv, i, "--one-pass")) {
            one_pass = 1;
        } else if (cli_opt(argc, argv, &i, "--model", &v)) {
            model = v;
        } else if (cli_opt(argc, argv, &i, "--device", &v)) {
            if (!cli_parse_device(v, &device))
                return cli_usage_error("detect", "--device wants cpu, cuda or auto, not '%s'", v);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("detect", "unknown option '%s'", argv[i]);
        } else if (!image) {
            image = argv[i];
        } else {
            return cli_usage_error("detect", "one image at a time ('%s' is extra)", argv[i]);
        }
    }
    if (!image) return cli_usage_error("detect", "no IMAGE given");

    const ts_backend *be;
    void *be_ctx;
    cli_backend_open("detect", device, &be, &be_ctx);
    ts_detector *det = NULL;
    ts_image img = { 0 };
    ts_status st = ts_detector_load(kind, model, &det);
    if (st == TS_OK) st = ts_detector_set_backend(det, be, be_ctx);
    if (st == TS_OK && input_size) st = ts_detector_set_input_size(det, input_size);
    if (st == TS_OK) st = ts_image_load(image, &img);
    ts_face_box *boxes = NULL;
    int n = 0;
    if (st == TS_OK) {
        boxes = malloc(sizeof *boxes * MAX_FACES);
        st = !boxes ? ts_error(TS_ERR_OOM, "out of memory")
             : one_pass ? ts_detector_detect(det, &img, min_score, boxes, MAX_FACES, &n)
                        : ts_detector_find(det, &img, min_score, boxes, MAX_FACES, &n);
    }
    if (st != TS_OK) {
        free(boxes);
        ts_image_clear(&img);
        ts_detector_free(det);
        ts_backend_close(be, be_ctx);
        return cli_fail("detect", st);
    }
    if (n > MAX_FACES) n = MAX_FACES;
    printf("{\"faces\":[");
    for (int i = 0; i < n; i++)
        printf("%s{\"x\":%.3f,\"y\":%.3f,\"w\":%.3f,\"h\":%.3f,\"score\":%.5f,\"roll\":%.1f}", i ? "," : "",
               (double)boxes[i].x, (double)boxes[i].y, (double)boxes[i].w, (double)boxes[i].h,
               (double)boxes[i].score, (double)boxes[i].roll + 0.0);
    printf("]}\n");
    free(boxes);
    ts_image_clear(&img);
    ts_detector_free(det);
    ts_backend_close(be, be_ctx);
    return CMD_OK;
}
