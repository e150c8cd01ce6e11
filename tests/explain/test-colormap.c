/* test-colormap.c - the colour maps of src/explain/colormap.c.
 *
 * Checks: diverging map is white at 0, red-dominant for positive, blue for
 * negative, symmetric in darkness, monotone in lightness away from 0;
 * relevance scaling (auto max|R| and fixed); viridis ends and monotone
 * lightness; categorical colours 0..67 pairwise distinct (a minimum RGB
 * distance); the A(x,y) picture; colour bar orientation and frame;
 * NaN/Inf handling; blend, grey, dots and digits stay inside the image.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explain/colormap.h"

static int failures;
#define CHECK(c)                                                              \
    do {                                                                      \
        if (!(c)) {                                                           \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
            failures++;                                                       \
        }                                                                     \
    } while (0)

static int luma(const uint8_t *p)
{
    return 299 * p[0] + 587 * p[1] + 114 * p[2];
}

static void test_diverging(void)
{
    uint8_t c[3], prev[3];
    ts_cmap_diverging(0, c);
    CHECK(c[0] == 255 && c[1] == 255 && c[2] == 255);
    ts_cmap_diverging(1, c);
    CHECK(c[0] > c[2] + 50);
    ts_cmap_diverging(-1, c);
    CHECK(c[2] > c[0] + 50);
    ts_cmap_diverging(0.5f, c);
    CHECK(c[0] > c[2]);
    ts_cmap_diverging(-0.5f, c);
    CHECK(c[2] > c[0]);
    ts_cmap_diverging(5, prev);
    ts_cmap_diverging(1, c);
    CHECK(!memcmp(c, prev, 3)); /* clamped */
    ts_cmap_diverging(NAN, c);
    CHECK(c[0] == 128 && c[1] == 128 && c[2] == 128);
    /* Lightness falls monotonically away from zero on both sides. */
    for (int side = -1; side <= 1; side += 2) {
        int last = 1 << 30;
        for (int k = 0; k <= 100; k++) {
            ts_cmap_diverging((float)side * (float)k / 100, c);
            CHECK(luma(c) <= last);
            last = luma(c);
        }
    }
}

static void test_relevance(void)
{
    float r[6] = { 0, 2, -4, 1, NAN, INFINITY };
    ts_image img;
    float s = 0;
    CHECK(ts_colormap_relevance(r, 3, 2, 0, &img, &s) == TS_OK);
    CHECK(s == 4.0f);
    uint8_t c[3];
    CHECK(!memcmp(ts_image_pixel(&img, 0, 0), "\xff\xff\xff", 3));
    ts_cmap_diverging(-1, c);
    CHECK(!memcmp(ts_image_pixel(&img, 2, 0), c, 3));
    ts_cmap_diverging(0.5f, c);
    CHECK(!memcmp(ts_image_pixel(&img, 1, 0), c, 3));
    CHECK(!memcmp(ts_image_pixel(&img, 1, 1), "\x80\x80\x80", 3));
    ts_cmap_diverging(1, c);
    CHECK(!memcmp(ts_image_pixel(&img, 2, 1), c, 3));
    ts_image_clear(&img);
    /* A fixed scale: 2 is then the top. */
    CHECK(ts_colormap_relevance(r, 3, 2, 2, &img, &s) == TS_OK);
    CHECK(s == 2.0f && !memcmp(ts_image_pixel(&img, 1, 0), c, 3));
    ts_image_clear(&img);
    float z[4] = { 0, 0, 0, 0 };
    CHECK(ts_colormap_relevance(z, 2, 2, 0, &img, &s) == TS_OK);
    CHECK(s == 0 && !memcmp(ts_image_pixel(&img, 1, 1), "\xff\xff\xff", 3));
    ts_image_clear(&img);
}

static void test_viridis(void)
{
    uint8_t c[3];
    ts_cmap_viridis(0, c);
    CHECK(c[0] == 68 && c[1] == 1 && c[2] == 84);
    ts_cmap_viridis(1, c);
    CHECK(c[0] == 253 && c[1] == 231 && c[2] == 37);
    int last = -1;
    for (int k = 0; k <= 255; k++) {
        ts_cmap_viridis((float)k / 255, c);
        CHECK(luma(c) >= last - 600); /* perceptually monotone, luma nearly so */
        last = luma(c);
    }
    float a[4] = { -1, 1, 3, NAN };
    ts_image img;
    float rg[2];
    CHECK(ts_colormap_activation(a, 2, 2, 0, 0, &img, rg) == TS_OK);
    CHECK(rg[0] == -1 && rg[1] == 3);
    ts_cmap_viridis(0.5f, c);
    CHECK(!memcmp(ts_image_pixel(&img, 1, 0), c, 3));
    ts_image_clear(&img);
    CHECK(ts_colormap_activation(a, 2, 2, 0, 1, &img, rg) == TS_OK);
    ts_cmap_viridis(1, c);
    CHECK(rg[0] == 0 && rg[1] == 1 && !memcmp(ts_image_pixel(&img, 0, 1), c, 3));
    ts_image_clear(&img);
}

static void test_categorical(void)
{
    uint8_t a[3], b[3];
    int worst = 1 << 30;
    for (int i = 0; i < 68; i++)
        for (int j = i + 1; j < 68; j++) {
            ts_cmap_categorical(i, a);
            ts_cmap_categorical(j, b);
            int d = (a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) + (a[2] - b[2]) * (a[2] - b[2]);
            if (d < worst) worst = d;
        }
    printf("  smallest RGB distance among categories 0..67: %.1f\n", sqrt(worst));
    CHECK(worst >= 30 * 30);
    ts_cmap_categorical(256 + 5, a);
    ts_cmap_categorical(5, b);
    CHECK(!memcmp(a, b, 3));
    ts_cmap_categorical(-1, a);
    ts_cmap_categorical(255, b);
    CHECK(!memcmp(a, b, 3));
    uint8_t m[6] = { 0, 1, 67, 67, 254, 0 };
    ts_image img;
    CHECK(ts_colormap_amap(m, 3, 2, &img) == TS_OK);
    ts_cmap_categorical(67, a);
    CHECK(!memcmp(ts_image_pixel(&img, 2, 0), a, 3) && !memcmp(ts_image_pixel(&img, 0, 1), a, 3));
    CHECK(!memcmp(ts_image_pixel(&img, 0, 0), ts_image_pixel(&img, 2, 1), 3));
    ts_image_clear(&img);
}

static void test_bar_and_drawing(void)
{
    ts_image img;
    CHECK(ts_image_init(&img, 40, 100) == TS_OK);
    ts_colorbar_draw(&img, 10, 5, 12, 80, TS_CMAP_DIVERGING, true);
    uint8_t c[3];
    /* Frame, top = +1 (red end), bottom = -1, middle white. */
    CHECK(!memcmp(ts_image_pixel(&img, 10, 5), "\x28\x28\x28", 3));
    ts_cmap_diverging(1, c);
    CHECK(!memcmp(ts_image_pixel(&img, 15, 6), c, 3));
    ts_cmap_diverging(-1, c);
    CHECK(!memcmp(ts_image_pixel(&img, 15, 83), c, 3));
    uint8_t *mid = ts_image_pixel(&img, 15, 45);
    CHECK(mid[0] > 240 && mid[1] > 240 && mid[2] > 240);
    CHECK(!memcmp(ts_image_pixel(&img, 5, 5), "\0\0\0", 3)); /* outside untouched */
    /* Horizontal viridis, partly outside the image (clipped). */
    ts_colorbar_draw(&img, 30, 90, 30, 20, TS_CMAP_VIRIDIS, false);
    ts_cmap_viridis(0, c);
    CHECK(!memcmp(ts_image_pixel(&img, 31, 95), c, 3));

    static const uint8_t white[3] = { 255, 255, 255 }, black[3] = { 0, 0, 0 };
    ts_image_draw_dot(&img, 0, 0, 3, white, black);
    ts_image_draw_dot(&img, 39.5f, 99.5f, 5, white, NULL);
    ts_image_draw_dot(&img, -50, 20, 5, white, NULL);
    CHECK(!memcmp(ts_image_pixel(&img, 0, 0), white, 3) && !memcmp(ts_image_pixel(&img, 3, 0), white, 3));
    CHECK(!memcmp(ts_image_pixel(&img, 4, 0), black, 3));
    int w = ts_image_draw_number(&img, 25, 0, "-1.5e+3x", 2, white);
    CHECK(w == 8 * 4 * 2);
    CHECK(!memcmp(ts_image_pixel(&img, 25, 4), white, 3)); /* the minus bar */

    ts_image over;
    CHECK(ts_image_init(&over, 40, 100) == TS_OK);
    memset(over.data, 200, (size_t)over.stride * over.height);
    ts_image copy;
    CHECK(ts_image_copy(&copy, &img) == TS_OK);
    CHECK(ts_image_blend(&copy, &over, 0.5f) == TS_OK);
    CHECK(ts_image_pixel(&copy, 5, 5)[0] == 100);
    ts_image_to_grey(&copy);
    uint8_t *g = ts_image_pixel(&copy, 15, 6);
    CHECK(g[0] == g[1] && g[1] == g[2]);
    ts_image small;
    CHECK(ts_image_init(&small, 3, 3) == TS_OK);
    CHECK(ts_image_blend(&copy, &small, 0.5f) == TS_ERR_ARG);
    ts_image_clear(&small);
    ts_image_clear(&copy);
    ts_image_clear(&over);
    ts_image_clear(&img);
}

int main(void)
{
    test_diverging();
    test_relevance();
    test_viridis();
    test_categorical();
    test_bar_and_drawing();
    if (failures) {
        fprintf(stderr, "test-colormap: %d check(s) failed\n", failures);
        return 1;
    }
    printf("test-colormap: ok\n");
    return 0;
}
