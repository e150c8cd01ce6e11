/* cmd-amap.c - `traitscope-cli amap`: the A(x,y) nearest-landmark map of
 * LACNN (AUGMENT-FLL, face/amap.h) for a landmarks file.
 *
 *   traitscope-cli amap --landmarks FILE.json --size WxH --out OUT.pgm|OUT.png
 *
 * FILE.json is what `traitscope-cli landmarks` prints (face/points.h: any
 * number of points from 1 to 255, points may lie outside the picture).
 * OUT.pgm: the raw index map, 8-bit binary PGM (P5, maxval 255), value =
 * landmark index (0-based), pixel (x,y) = row y, column x.  OUT.png: the
 * regions in the categorical colours of explain/colormap.h with the
 * landmarks drawn as white dots; with --image the regions are blended over
 * the (grey) photo and the size defaults to the photo's.  Both files are
 * written atomically.  Exit 0 ok, 1 bad file, 2 bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "explain/colormap.h"
#include "face/amap-device.h"
#include "face/amap.h"
#include "face/image.h"
#include "face/points.h"

static void help(void)
{
    printf("usage: traitscope-cli amap --landmarks FILE.json --size WxH --out OUT.pgm|OUT.png\n"
           "                           [--image IMAGE]\n\n"
           "Writes A(x,y), the index of the nearest landmark of every pixel (LACNN's\n"
           "AUGMENT-FLL; pixel centres at integer coordinates, ties to the lower index).\n\n"
           "  --landmarks FILE  landmarks JSON as 'traitscope-cli landmarks' prints it\n"
           "                    (1..255 points)\n"
           "  --size WxH        map size in pixels (1..%d per side, at most %ld pixels\n"
           "                    in all, e.g. 11585x11585)\n"
           "  --out FILE        .pgm: raw 8-bit index map (binary P5, value = index);\n"
           "                    .png: coloured regions with the landmarks drawn\n"
           "  --image IMAGE     (png only) draw the regions over this photo; the size\n"
           "                    defaults to the photo's\n"
           CLI_DEVICE_HELP
           "                    (kernels/amap.cu on a GPU: the same bytes as the CPU's)\n",
           TS_IMAGE_MAX_SIDE, (long)TS_IMAGE_MAX_PIXELS);
}

/* "WxH", both 1..TS_IMAGE_MAX_SIDE, nothing else. */
static int parse_size(const char *s, int *w, int *h)
{
    char *end;
    long a = strtol(s, &end, 10);
    if (end == s || (*end != 'x' && *end != 'X') || s[0] == '-' || s[0] == '+' || s[0] == ' ') return 0;
    const char *t = end + 1;
    if (*t < '0' || *t > '9') return 0;
    long b = strtol(t, &end, 10);
    if (*end || a < 1 || b < 1 || a > TS_IMAGE_MAX_SIDE || b > TS_IMAGE_MAX_SIDE) return 0;
    *w = (int)a;
    *h = (int)b;
    return 1;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && !strcasecmp(s + n - k, suffix);
}

/* The coloured picture: regions, optionally over the grey photo, dots. */
static ts_status write_png(const char *out, const uint8_t *map, int w, int h, const ts_points *pts,
                           const ts_image *photo)
{
    ts_image img;
    TS_TRY(ts_colormap_amap(map, w, h, &img));
    ts_status st = TS_OK;
    if (photo) {
        ts_image grey;
        st = ts_image_copy(&grey, photo);
        if (st == TS_OK) {
            ts_image_to_grey(&grey);
            st = ts_image_blend(&grey, &img, 0.45f);
            ts_image_clear(&img);
            img = grey;
        }
    }
    float r = (float)(w < h ? w : h) / 150.0f;
    r = r < 1.2f ? 1.2f : r > 6 ? 6 : r;
    static const uint8_t white[3] = { 255, 255, 255 }, black[3] = { 0, 0, 0 };
    for (int i = 0; st == TS_OK && i < pts->n; i++) ts_image_draw_dot(&img, pts->x[i], pts->y[i], r, white, black);
    if (st == TS_OK) st = ts_image_save_png(out, &img);
    ts_image_clear(&img);
    return st;
}

int cmd_amap(int argc, char **argv)
{
    const char *lm_path = NULL, *out = NULL, *image = NULL, *v;
    int w = 0, h = 0;
    ts_device device = TS_DEVICE_AUTO;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            help();
            return CMD_OK;
        } else if (cli_opt(argc, argv, &i, "--landmarks", &v)) {
            lm_path = v;
        } else if (cli_opt(argc, argv, &i, "--size", &v)) {
            if (!parse_size(v, &w, &h))
                return cli_usage_error("amap", "--size wants WxH with 1..%d per side, not '%s'",
                                       TS_IMAGE_MAX_SIDE, v);
        } else if (cli_opt(argc, argv, &i, "--out", &v)) {
            out = v;
        } else if (cli_opt(argc, argv, &i, "--image", &v)) {
            image = v;
        } else if (cli_opt(argc, argv, &i, "--device", &v)) {
            if (!cli_parse_device(v, &device))
                return cli_usage_error("amap", "--device wants cpu, cuda or auto, not '%s'", v);
        } else {
            return cli_usage_error("amap", "unknown argument or missing value '%s'", argv[i]);
        }
    }
    if (!lm_path) return cli_usage_error("amap", "no --landmarks FILE.json given");
    if (!out) return cli_usage_error("amap", "no --out FILE given");
    int png = ends_with(out, ".png");
    if (!png && !ends_with(out, ".pgm"))
        return cli_usage_error("amap", "--out must end in .pgm (index map) or .png (picture), not '%s'", out);
    if (image && !png) return cli_usage_error("amap", "--image only applies to a .png picture");
    if (!w && !image) return cli_usage_error("amap", "no --size WxH given");
    const char *ins[2] = { lm_path, image };
    int refused = cli_refuse_overwrite("amap", &out, 1, ins, 2);
    if (refused) return refused;

    ts_landmarks lm;
    ts_status st = ts_landmarks_load(lm_path, &lm);
    if (st != TS_OK) return cli_fail("amap", st);
    ts_image photo = { 0 };
    if (image) {
        st = ts_image_load(image, &photo);
        if (st != TS_OK) return cli_fail("amap", st);
        if (w && (w != photo.width || h != photo.height)) {
            ts_image_clear(&photo);
            return cli_usage_error("amap", "--size %dx%d differs from the image's %dx%d", w, h,
                                   photo.width, photo.height);
        }
        w = photo.width, h = photo.height;
    }
    if ((long)w * h > TS_IMAGE_MAX_PIXELS) {
        ts_image_clear(&photo);
        return cli_usage_error("amap", "--size %dx%d has more than %ld pixels", w, h, (long)TS_IMAGE_MAX_PIXELS);
    }
    uint8_t *map = malloc((size_t)w * h);
    if (!map) st = ts_error(TS_ERR_OOM, "out of memory for a %dx%d map", w, h);
    if (st == TS_OK) {
        const ts_backend *be;
        void *be_ctx;
        cli_backend_open("amap", device, &be, &be_ctx);
        st = ts_amap_compute_on(be, be_ctx, &lm.pts, w, h, map);
        if (st != TS_OK) ts_error_prefix(st, "%s: ", lm_path);
        ts_backend_close(be, be_ctx);
    }
    if (st == TS_OK)
        st = png ? write_png(out, map, w, h, &lm.pts, image ? &photo : NULL) : ts_grey_save_pgm(out, map, w, h);
    free(map);
    ts_image_clear(&photo);
    return st == TS_OK ? CMD_OK : cli_fail("amap", st);
}
