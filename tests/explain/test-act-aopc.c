/* test-act-aopc.c - activation grids (activations.h) and pixel flipping /
 * AOPC (aopc.h) on hand-made cases whose answers are known exactly.
 *
 *  - grid layout of 96 maps: 10 x 10 cells, 4 empty (NaN), per-map
 *    normalisation puts every map's min at 0 and max at 1, shared
 *    normalisation keeps the ratio between maps; unknown layers and
 *    non-conv filter requests fail with messages naming the layer;
 *  - flipping on a linear "model" that sums the top-left 9x9 patch of an
 *    18x18 input: MoRF removes that patch first, so its curve and AOPC are
 *    known in closed form (64.8), and the random order's AOPC is one of the
 *    four values its position allows, never larger.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explain/activations.h"
#include "backend/backend.h"
#include "explain/aopc.h"
#include "explain/lrp.h"

static int failures;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            failures++;                                                     \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);            \
            fprintf(stderr, __VA_ARGS__);                                   \
            fputc('\n', stderr);                                            \
        }                                                                   \
    } while (0)

static void test_grid(void)
{
    int n = 96, h = 5, w = 4;
    float *maps = malloc((size_t)n * h * w * sizeof(float));
    for (int k = 0; k < n; k++)
        for (int q = 0; q < h * w; q++) maps[k * h * w + q] = (float)(k + 1) * (float)q; /* map k: 0..19(k+1) */
    ts_act_opts o = { .scale = 2, .gap = 1 };
    ts_act_grid g;
    CHECK(ts_act_grid_maps(maps, n, h, w, &o, &g) == TS_OK, "grid: %s", ts_last_error());
    CHECK(g.cols == 10 && g.rows == 10, "layout %dx%d", g.cols, g.rows);
    CHECK(g.w == 10 * 8 + 9 && g.h == 10 * 10 + 9, "size %dx%d", g.w, g.h);
    /* map 13 (row 1, col 3): first pixel 0, last 1 */
    int ox = 3 * 9, oy = 1 * 11;
    CHECK(g.v[oy * g.w + ox] == 0.0f, "map 13 min %g", g.v[oy * g.w + ox]);
    CHECK(fabsf(g.v[(oy + 9) * g.w + ox + 7] - 1.0f) < 1e-6f, "map 13 max");
    /* cell 96 (row 9, col 6) is empty, gaps are background */
    CHECK(isnan(g.v[(9 * 11 + 2) * g.w + 6 * 9 + 2]), "empty cell not background");
    CHECK(isnan(g.v[8]), "gap not background");
    ts_image img;
    CHECK(ts_act_grid_render(&g, &img) == TS_OK && img.width == g.w, "render");
    ts_image_clear(&img);
    ts_act_grid_clear(&g);

    o.shared_norm = true;
    CHECK(ts_act_grid_maps(maps, n, h, w, &o, &g) == TS_OK, "shared grid");
    /* map 0's max is 19, the global max 19*96: ratio 1/96 */
    CHECK(fabsf(g.v[9 * g.w + 7] - 1.0f / 96.0f) < 1e-6f, "shared: %g", g.v[9 * g.w + 7]);
    CHECK(g.lo == 0 && g.hi == 19.0f * 96, "shared range %g..%g", g.lo, g.hi);
    ts_act_grid_clear(&g);
    free(maps);

    /* a constant map shows 0.5 */
    float flat[6] = { 2, 2, 2, 2, 2, 2 };
    CHECK(ts_act_grid_maps(flat, 1, 2, 3, NULL, &g) == TS_OK && g.v[0] == 0.5f, "constant map");
    ts_act_grid_clear(&g);
}

static ts_graph *tiny_net(void)
{
    ts_graph *g = ts_graph_new(1, 18, 18);
    ts_node *c = ts_graph_add(g, TS_OP_CONV2D, "conv1", 0, NULL);
    c->out_c = 2, c->kh = c->kw = 3, c->pad_t = c->pad_b = c->pad_l = c->pad_r = 1;
    ts_graph_add(g, TS_OP_RELU, "relu1", 0, NULL);
    ts_graph_add(g, TS_OP_FC, "fc", 0, NULL)->out_c = 1;
    TS_ASSERT(ts_graph_finalize(g) == TS_OK);
    return g;
}

static void test_layers(void)
{
    ts_graph *g = tiny_net();
    ts_graph_init_params(g, 3);
    float xb[324];
    for (int q = 0; q < 324; q++) xb[q] = (float)(q % 17) / 17.0f;
    ts_tensor x = { xb, 1, 1, 18, 18 };
    TS_ASSERT(ts_graph_forward(g, &x) == TS_OK);
    ts_act_grid grid;
    CHECK(ts_act_grid_layer(g, "relu1", 0, NULL, &grid) == TS_OK && grid.cols == 2 && grid.rows == 1,
          "layer grid: %s", ts_last_error());
    ts_act_grid_clear(&grid);
    CHECK(ts_act_grid_layer(g, "conv9", 0, NULL, &grid) == TS_ERR_ARG &&
              strstr(ts_last_error(), "'conv9'") && strstr(ts_last_error(), "relu1"),
          "unknown layer: %s", ts_last_error());
    CHECK(ts_act_grid_layer(g, "conv1", 1, NULL, &grid) == TS_ERR_ARG, "sample out of range");
    ts_image img;
    CHECK(ts_act_filters_rgb(g, "conv1", NULL, &img) == TS_OK && img.width > 0, "filters: %s", ts_last_error());
    ts_image_clear(&img);
    CHECK(ts_act_filters_rgb(g, "relu1", NULL, &img) == TS_ERR_ARG && strstr(ts_last_error(), "conv2d"),
          "filters of a relu: %s", ts_last_error());
    CHECK(ts_act_filters_channel(g, "conv1", 3, NULL, &grid) == TS_ERR_ARG &&
              strstr(ts_last_error(), "no channel 3"), "filter channel: %s", ts_last_error());
    CHECK(ts_act_filters_channel(g, "conv1", 0, NULL, &grid) == TS_OK && grid.cols == 2, "channel 0");
    ts_act_grid_clear(&grid);
    ts_graph_free(g);
}

static void test_flip(void)
{
    /* f(x) = sum of the top-left 9x9 patch */
    ts_graph *g = ts_graph_new(1, 18, 18);
    ts_graph_add(g, TS_OP_FC, "fc", 0, NULL)->out_c = 1;
    ts_graph_find(g, "fc")->has_bias = 0;
    TS_ASSERT(ts_graph_finalize(g) == TS_OK);
    float *w = ts_graph_find(g, "fc")->weight.data;
    for (int y = 0; y < 18; y++)
        for (int xx = 0; xx < 18; xx++) w[y * 18 + xx] = y < 9 && xx < 9 ? 1.0f : 0.0f;
    float xb[2 * 324];
    for (int q = 0; q < 2 * 324; q++) xb[q] = 1.0f;
    ts_tensor x = { xb, 2, 1, 18, 18 };

    /* the heatmap is LRP's own */
    ts_lrp_rules rules;
    ts_lrp *l;
    float rb[2 * 324];
    ts_tensor rel = { rb, 2, 1, 18, 18 };
    ts_lrp_target t = { TS_LRP_TARGET_CLASS, 0, -1 };
    TS_ASSERT(ts_lrp_rules_parse(g, "preset=lrp0", &rules) == TS_OK);
    TS_ASSERT(ts_lrp_new(g, &rules, &l) == TS_OK);
    TS_ASSERT(ts_lrp_explain(l, &x, &t, 1, &rel, NULL) == TS_OK);

    ts_flip_opts o = { .patch = 9, .steps = 100, .batch = 3, .n_bounds = 1, .seed = 5 };
    o.low[0] = o.high[0] = 0.0f; /* removal = 0 */
    ts_flip_curve curves[2];
    double mm, mr;
    ts_status st = ts_flip_batch(g, &x, rb, (int[]){ 0, 0 }, &o, curves, &mm, &mr);
    CHECK(st == TS_OK, "flip: %s", ts_last_error());
    if (st == TS_OK) {
        CHECK(curves[0].steps == 4, "steps capped at the 4 regions: %d", curves[0].steps);
        CHECK(curves[0].morf[0] == 81 && curves[0].morf[1] == 0 && curves[0].morf[4] == 0, "MoRF curve");
        CHECK(fabs(curves[0].aopc_morf - 64.8) < 1e-4, "AOPC MoRF %g", curves[0].aopc_morf);
        for (int n = 0; n < 2; n++) {
            double a = curves[n].aopc_random;
            int p = (int)lround(5 - a * 5 / 81);
            CHECK(p >= 1 && p <= 4 && fabs(a - 81.0 * (5 - p) / 5) < 1e-4, "random AOPC %g", a);
            CHECK(a <= curves[n].aopc_morf + 1e-9, "random beats MoRF");
        }
        CHECK(fabs(mm - 64.8) < 1e-4, "mean MoRF %g", mm);
        for (int n = 0; n < 2; n++) ts_flip_curve_clear(&curves[n]);
    }
    /* the caller's input is untouched */
    CHECK(xb[0] == 1.0f && xb[323] == 1.0f, "input modified");
    ts_flip_curve c;
    CHECK(ts_flip_image(g, &x, 0, rb, 3, &o, &c) == TS_ERR_ARG, "bad target accepted");
    o.patch = 40;
    CHECK(ts_flip_image(g, &x, 0, rb, 0, &o, &c) == TS_ERR_ARG && strstr(ts_last_error(), "patch"),
          "oversized patch accepted");
    const float sc[3] = { 2, 1, 0 };
    CHECK(fabs(ts_flip_aopc(sc, 2) - 1.0) < 1e-12, "aopc formula");
    ts_lrp_free(l);
    ts_lrp_rules_clear(&rules);
    ts_graph_free(g);
}

int main(void)
{
    test_grid();
    test_layers();
    test_flip();
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    else printf("activations, aopc: all checks passed\n");
    return failures ? 1 : 0;
}
