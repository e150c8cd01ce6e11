/* test-sample.c - the views of train/sample.h on a real face (a UTKFace
 * chip): the identity view is the frame itself; saturation 0 makes every
 * pixel grey and 1 changes nothing; a blur keeps a flat image flat and the
 * mean brightness of a face, and takes away its fine detail (the sum of
 * differences between neighbouring pixels), more for a larger radius;
 * a fractional radius lies between its integer neighbours.
 * Exit 77 without the data.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "face/image.h"
#include "nn/model.h"
#include "train/sample.h"

static int failures;
#define CHECK(c)                                                            \
    do {                                                                    \
        if (!(c)) {                                                         \
            fprintf(stderr, "%s:%d: FAIL %s\n", __FILE__, __LINE__, #c);    \
            failures++;                                                     \
        }                                                                   \
    } while (0)

#define S 100

static ts_model *model;
static float buf[4][3 * S * S];

/* The view's input tensor, back in 0..255 units. */
static ts_status view_pixels(const ts_image *base, const ts_view *v, float *out)
{
    ts_tensor t = { .data = out, .n = 1, .c = 3, .h = S, .w = S };
    TS_TRY(ts_sample_make(model, base, NULL, v, &t));
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < S * S; i++)
            out[c * S * S + i] = 255 * (out[c * S * S + i] * model->meta.std[c] + model->meta.mean[c]);
    return TS_OK;
}

static double mean(const float *x)
{
    double s = 0;
    for (int i = 0; i < 3 * S * S; i++) s += x[i];
    return s / (3 * S * S);
}

/* Sum of absolute differences of horizontal and vertical neighbours. */
static double detail(const float *x)
{
    double s = 0;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < S - 1; y++)
            for (int i = 0; i < S - 1; i++) {
                const float *p = x + c * S * S + y * S + i;
                s += fabsf(p[1] - p[0]) + fabsf(p[S] - p[0]);
            }
    return s;
}

static double max_diff(const float *a, const float *b)
{
    double m = 0;
    for (int i = 0; i < 3 * S * S; i++) m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

int main(void)
{
    const char *data = getenv("TS_SHARED_DATA"), *src = getenv("TS_SOURCE_ROOT");
    char path[4200], arch[4200];
    snprintf(path, sizeof path, "%s/utkface/images/100_1_0_20170112213001988.jpg.chip.jpg", data ? data : "/nonexistent");
    if (!data || access(path, R_OK) != 0) {
        printf("SKIP: no UTKFace data under TS_SHARED_DATA\n");
        return 77;
    }
    snprintf(arch, sizeof arch, "%s/tests/train/tiny.arch", src ? src : ".");
    ts_model_options mo = { .in_channels = 3, .size = S, .classes = 2 };
    ts_image chip = { 0 };
    if (ts_model_new(arch, &mo, &model) != TS_OK || ts_image_load(path, &chip) != TS_OK) {
        fprintf(stderr, "setup: %s\n", ts_last_error());
        return 1;
    }
    CHECK(chip.width == 200 && chip.height == 200);

    /* identity: the centre S x S of the 200 x 200 chip, as it is */
    ts_view id = ts_view_identity();
    CHECK(view_pixels(&chip, &id, buf[0]) == TS_OK);
    double worst = 0;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                int o = (200 - S) / 2;
                double want = chip.data[(size_t)(y + o) * chip.stride + 3 * (x + o) + c];
                worst = fmax(worst, fabs(buf[0][c * S * S + y * S + x] - want));
            }
    fprintf(stderr, "identity: largest difference to the chip %.3g\n", worst);
    CHECK(worst < 0.01);

    /* saturation 1 changes nothing; 0 leaves grey pixels of the same mean */
    ts_view v = id;
    v.saturation = 1;
    CHECK(view_pixels(&chip, &v, buf[1]) == TS_OK && max_diff(buf[0], buf[1]) == 0);
    v.saturation = 0;
    CHECK(view_pixels(&chip, &v, buf[1]) == TS_OK);
    double spread = 0;
    for (int i = 0; i < S * S; i++) {
        float r = buf[1][i], g = buf[1][S * S + i], b = buf[1][2 * S * S + i];
        spread = fmax(spread, fmax(fabs(r - g), fabs(g - b)));
    }
    fprintf(stderr, "grey: largest channel spread %.3g (mean %.2f vs %.2f)\n", spread, mean(buf[1]), mean(buf[0]));
    CHECK(spread < 0.01);
    CHECK(fabs(mean(buf[1]) - mean(buf[0])) < 3);

    /* blur: the mean stays, the detail goes, more with a larger radius; a
     * fractional radius lies between */
    double d0 = detail(buf[0]);
    const float radii[3] = { 1, 1.5f, 2 };
    double d[3];
    for (int k = 0; k < 3; k++) {
        v = id;
        v.blur = radii[k];
        CHECK(view_pixels(&chip, &v, buf[1 + k]) == TS_OK);
        d[k] = detail(buf[1 + k]);
        fprintf(stderr, "blur %.1f: detail %.0f of %.0f, mean %.2f vs %.2f\n", radii[k], d[k], d0, mean(buf[1 + k]),
                mean(buf[0]));
        CHECK(fabs(mean(buf[1 + k]) - mean(buf[0])) < 1.5);
    }
    CHECK(d[0] < 0.7 * d0 && d[2] < d[1] && d[1] < d[0]);

    /* a flat image stays flat: the edges repeat their pixels */
    ts_image flat = { 0 };
    CHECK(ts_image_init(&flat, 200, 200) == TS_OK);
    for (int y = 0; y < 200; y++) memset(flat.data + (size_t)y * flat.stride, 173, 3 * 200);
    v = id;
    v.blur = 2;
    CHECK(view_pixels(&flat, &v, buf[1]) == TS_OK);
    double off = 0;
    for (int i = 0; i < 3 * S * S; i++) off = fmax(off, fabs(buf[1][i] - 173));
    CHECK(off < 0.01);

    ts_image_clear(&flat);
    ts_image_clear(&chip);
    ts_model_free(model);
    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    printf("sample: ok\n");
    return 0;
}
