/* test-amap.c - ts_amap_compute must equal ts_amap_reference byte for byte.
 *
 * Spec: amap.h (LACNN Fig. 3 made exact).  Cases: hand-checked tiny maps
 * and ties; random landmark sets of k = 1..255 points on sizes from 1x1 to
 * 300x200 plus one 1920x1080 map; duplicate points (ties to the lowest
 * index), points far outside the image, collinear points, points on pixel
 * centres and half-way between them, sub-normal offsets; argument errors;
 * the channel encoding "index/67".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "face/amap.h"
#include "nn/model.h"
#include "face/points.h"
#include "nn/tensor.h"

static int failures;
#define CHECK(c)                                                              \
    do {                                                                      \
        if (!(c)) {                                                           \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
            failures++;                                                       \
        }                                                                     \
    } while (0)

static long compared;

/* Compares both versions on one landmark set; prints the first mismatch. */
static int same(const ts_points *p, int w, int h, const char *what)
{
    uint8_t *a = malloc((size_t)w * h), *b = malloc((size_t)w * h);
    memset(b, 0xee, (size_t)w * h);
    ts_status s1 = ts_amap_reference(p, w, h, a);
    ts_status s2 = ts_amap_compute(p, w, h, b);
    int ok = s1 == TS_OK && s2 == TS_OK;
    for (size_t i = 0; ok && i < (size_t)w * h; i++)
        if (a[i] != b[i] || a[i] >= p->n) {
            fprintf(stderr, "%s: %dx%d k=%d: pixel (%zu,%zu): reference %d, fast %d\n", what, w, h,
                    p->n, i % (size_t)w, i / (size_t)w, a[i], b[i]);
            ok = 0;
        }
    compared += (long)w * h;
    free(a);
    free(b);
    CHECK(ok);
    return ok;
}

static void test_hand(void)
{
    ts_points p = { .n = 2 };
    /* Two points; the pixel half-way between them ties: lowest index. */
    p.x[0] = 0; p.y[0] = 0;
    p.x[1] = 4; p.y[1] = 0;
    uint8_t m[5];
    CHECK(ts_amap_reference(&p, 5, 1, m) == TS_OK);
    CHECK(m[0] == 0 && m[1] == 0 && m[2] == 0 && m[3] == 1 && m[4] == 1);
    CHECK(ts_amap_compute(&p, 5, 1, m) == TS_OK);
    CHECK(m[0] == 0 && m[1] == 0 && m[2] == 0 && m[3] == 1 && m[4] == 1);
    /* Same with the indices swapped: the tie still goes to index 0. */
    p.x[0] = 4; p.x[1] = 0;
    CHECK(ts_amap_compute(&p, 5, 1, m) == TS_OK);
    CHECK(m[0] == 1 && m[1] == 1 && m[2] == 0 && m[3] == 0 && m[4] == 0);
    /* Duplicates: the second copy never appears. */
    ts_points d = { .n = 3 };
    d.x[0] = 7; d.y[0] = 1; d.x[1] = 2; d.y[1] = 2; d.x[2] = 2; d.y[2] = 2;
    uint8_t m2[10 * 4];
    CHECK(ts_amap_compute(&d, 10, 4, m2) == TS_OK);
    int saw2 = 0;
    for (int i = 0; i < 40; i++) saw2 |= m2[i] == 2;
    CHECK(!saw2);
    CHECK(m2[2 * 10 + 2] == 1 && m2[1 * 10 + 7] == 0);
    same(&d, 10, 4, "duplicates");

    /* Near-ties below float resolution: landmark 1 is truly a hair closer
     * to every pixel, but the float distances often come out equal, and
     * then the spec gives index 0.  The fast version must not drop 0. */
    ts_points nt = { .n = 3 };
    nt.x[0] = -0.5f; nt.y[0] = 500.0f;
    nt.x[1] = -0.49998f; nt.y[1] = 500.0f;
    nt.x[2] = 1e6f; nt.y[2] = -1e6f;
    same(&nt, 300, 200, "near ties");
    uint8_t *m3 = malloc(300 * 200);
    CHECK(ts_amap_reference(&nt, 300, 200, m3) == TS_OK);
    int zeros = 0;
    for (int i = 0; i < 300 * 200; i++) zeros += m3[i] == 0;
    CHECK(zeros > 0 && zeros < 300 * 200); /* both 0 and 1 occur */
    free(m3);
}

static void test_args(void)
{
    ts_points p = { .n = 0 };
    uint8_t m[4];
    CHECK(ts_amap_compute(&p, 2, 2, m) == TS_ERR_ARG);
    CHECK(ts_amap_reference(&p, 2, 2, m) == TS_ERR_ARG);
    p.n = 1;
    CHECK(ts_amap_compute(&p, 0, 2, m) == TS_ERR_ARG);
    p.x[0] = NAN;
    CHECK(ts_amap_compute(&p, 2, 2, m) == TS_ERR_ARG);
    p.x[0] = 2e7f;
    CHECK(ts_amap_compute(&p, 2, 2, m) == TS_ERR_ARG);
    p.x[0] = 1;
    CHECK(ts_amap_compute(&p, 2, 2, m) == TS_OK);
    CHECK(m[0] == 0 && m[3] == 0);
}

static void random_set(ts_rng *r, ts_points *p, int k, int w, int h, int mode)
{
    p->n = k;
    for (int j = 0; j < k; j++) {
        float u = ts_rng_uniform(r), v = ts_rng_uniform(r);
        switch (mode) {
        case 0: /* inside, continuous */
            p->x[j] = u * (float)w - 0.5f;
            p->y[j] = v * (float)h - 0.5f;
            break;
        case 1: /* on the pixel grid and half-way: many exact ties */
            p->x[j] = floorf(u * (float)(2 * w)) * 0.5f;
            p->y[j] = floorf(v * (float)(2 * h)) * 0.5f;
            break;
        case 2: /* far outside as well as inside */
            p->x[j] = (u * 4 - 1.5f) * (float)w * (j % 3 ? 1 : 50);
            p->y[j] = (v * 4 - 1.5f) * (float)h * (j % 5 ? 1 : 50);
            break;
        case 3: /* collinear, on a slanted line, plus duplicates */
            p->x[j] = (float)(j % 17) * (float)w / 17.0f;
            p->y[j] = 0.5f * p->x[j] + 1.0f;
            break;
        case 4: /* a face-like cluster (68-point layout scale) */
            p->x[j] = (0.3f + 0.4f * u) * (float)w;
            p->y[j] = (0.25f + 0.5f * v) * (float)h;
            break;
        default: /* tiny offsets around integers, sub-normal squares */
            p->x[j] = floorf(u * (float)w) + (j % 2 ? 1e-30f : -1e-25f) * (float)(j % 7);
            p->y[j] = floorf(v * (float)h) + (j % 3 ? 3e-20f : 0.0f);
            break;
        }
    }
    if (k > 2 && mode != 3) { /* always some duplicates */
        p->x[k - 1] = p->x[0];
        p->y[k - 1] = p->y[0];
    }
}

static void test_random(void)
{
    ts_rng r;
    ts_rng_seed(&r, 20240611);
    static const int sizes[][2] = { { 1, 1 }, { 1, 7 }, { 9, 1 }, { 2, 3 }, { 15, 17 },
                                    { 16, 16 }, { 17, 33 }, { 64, 64 }, { 65, 63 },
                                    { 150, 150 }, { 129, 200 }, { 300, 200 } };
    static const int ks[] = { 1, 2, 3, 5, 17, 68, 68, 100, 255 };
    int sets = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++)
            for (int mode = 0; mode < 6; mode++) {
                ts_points p;
                random_set(&r, &p, ks[ki], sizes[s][0], sizes[s][1], mode);
                char what[64];
                snprintf(what, sizeof what, "random mode %d", mode);
                if (!same(&p, sizes[s][0], sizes[s][1], what)) return;
                sets++;
            }
    printf("  %d random landmark sets equal\n", sets);

    /* One full-HD map with a face-sized cluster of 68 and one of 255 points. */
    ts_points p;
    random_set(&r, &p, 68, 1920, 1080, 4);
    same(&p, 1920, 1080, "1920x1080 face");
    random_set(&r, &p, 255, 1920, 1080, 2);
    same(&p, 1920, 1080, "1920x1080 spread");
}

static void test_encoding(void)
{
    CHECK(!strcmp(TS_AMAP_ENCODING, TS_AMAP_ENCODING_DEFAULT));
    int d = 0;
    CHECK(ts_amap_encoding_parse(TS_AMAP_ENCODING, &d) == TS_OK && d == 67);
    CHECK(ts_amap_encoding_parse("index/0", &d) == TS_ERR_FORMAT);
    CHECK(ts_amap_encoding_parse("index/067", &d) == TS_ERR_FORMAT);
    CHECK(ts_amap_encoding_parse("index/255", &d) == TS_ERR_FORMAT);
    CHECK(ts_amap_encoding_parse("index/67x", &d) == TS_ERR_FORMAT);
    CHECK(ts_amap_encoding_parse("onehot", &d) == TS_ERR_FORMAT);
    char name[32];
    ts_amap_encoding_name(68, name, sizeof name);
    CHECK(!strcmp(name, "index/67"));
    uint8_t a[4] = { 0, 1, 67, 30 };
    float v[4];
    CHECK(ts_amap_encode(a, 2, 2, 68, v) == TS_OK);
    CHECK(v[0] == 0.0f && v[2] == 1.0f && fabsf(v[1] - 1.0f / 67) < 1e-7f && fabsf(v[3] - 30.0f / 67) < 1e-6f);
    a[3] = 68;
    CHECK(ts_amap_encode(a, 2, 2, 68, v) == TS_ERR_ARG);
}

int main(void)
{
    test_hand();
    test_args();
    test_encoding();
    test_random();
    if (failures) {
        fprintf(stderr, "test-amap: %d check(s) failed\n", failures);
        return 1;
    }
    printf("test-amap: ok (%ld pixels compared)\n", compared);
    return 0;
}
