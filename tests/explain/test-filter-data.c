/* test-filter-data.c - what the explorer's filter view and rules editor read
 * from the engine: ts_act_layer (activations.h), the copy of a layer in
 * the inspect result (inspect.h), and the graph-free rule checks of lrp.h.
 *
 *  - ts_lrp_rule_parse / ts_lrp_rules_check accept and refuse what
 *    ts_lrp_rules_parse does, without a graph;
 *  - ts_lrp_preset_rule gives every linear layer of the bundled models the
 *    rule ts_lrp_rules_parse gives it on the real graph, for every preset;
 *  - ts_inspector_run on face-api's sample1.jpg with the bundled LACNN (4
 *    input channels) and baseline: the inspect result's act_layer holds
 *    conv1's weights and biases exactly as the model has them, and conv1's
 *    responses exactly as the graph's last forward pass left them; the
 *    grid cell k is map k normalised by its own min..max; the map
 *    statistics are those of the copied values.
 * Skips (77) when the bundled models, the sample photo or the landmark
 * model are missing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explain/activations.h"
#include "explain/inspect.h"
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

static void test_syntax(void)
{
    ts_lrp_rule r;
    CHECK(ts_lrp_rule_parse("epsilon:0.25", &r) == TS_OK && r.kind == TS_LRP_EPSILON && r.eps == 0.25f, "eps");
    CHECK(ts_lrp_rule_parse(" alphabeta:1,0,bias ", &r) == TS_OK && r.kind == TS_LRP_ALPHABETA && r.alpha == 1 &&
              r.beta == 0 && r.with_bias,
          "ab bias");
    CHECK(ts_lrp_rule_parse("lrp0", &r) == TS_OK && r.kind == TS_LRP_EPSILON && r.eps == 0, "lrp0");
    CHECK(ts_lrp_rule_parse("zbox", &r) == TS_OK && r.kind == TS_LRP_ZBOX, "zbox");
    CHECK(ts_lrp_rule_parse("epsilon:-1", &r) == TS_ERR_ARG && strstr(ts_last_error(), ">= 0"), "eps < 0: %s",
          ts_last_error());
    CHECK(ts_lrp_rule_parse("epsilon:0.2x", &r) == TS_ERR_ARG, "junk number");
    CHECK(ts_lrp_rule_parse("alphabeta:2,2", &r) == TS_ERR_ARG && strstr(ts_last_error(), "alpha - beta"),
          "a-b != 1: %s", ts_last_error());
    CHECK(ts_lrp_rule_parse("flat:1", &r) == TS_ERR_ARG, "flat takes nothing");
    CHECK(ts_lrp_rule_parse("magic", &r) == TS_ERR_ARG && strstr(ts_last_error(), "magic"), "unknown rule");

    CHECK(ts_lrp_rules_check(NULL) == TS_OK && ts_lrp_rules_check("") == TS_OK, "empty");
    CHECK(ts_lrp_rules_check("preset=adience;conv1=epsilon:0.25; fc*=lrp0;@first=zbox") == TS_OK, "valid: %s",
          ts_last_error());
    CHECK(ts_lrp_rules_check("conv9=flat") == TS_OK, "graph-free: any glob is fine");
    CHECK(ts_lrp_rules_check("preset=nope") == TS_ERR_ARG && strstr(ts_last_error(), "nope"), "preset");
    CHECK(ts_lrp_rules_check("@bogus=flat") == TS_ERR_ARG && strstr(ts_last_error(), "@bogus"), "selector");
    CHECK(ts_lrp_rules_check("conv1") == TS_ERR_ARG && strstr(ts_last_error(), "item 1"), "no '='");
    CHECK(ts_lrp_rules_check("conv1=flat;conv2=alphabeta:3,1") == TS_ERR_ARG && strstr(ts_last_error(), "item 2"),
          "item 2: %s", ts_last_error());

    int n = 0;
    while (ts_lrp_preset_name(n)) n++;
    CHECK(n == 5 && !strcmp(ts_lrp_preset_name(0), "adience") && !ts_lrp_preset_name(-1), "presets: %d", n);
    CHECK(!ts_lrp_preset_rule("nope", true, false, &r), "unknown preset");
}

/* ts_lrp_preset_rule agrees with the real parse on every linear node. */
static void test_presets(const ts_model *m)
{
    const ts_graph *g = m->graph;
    for (int p = 0; ts_lrp_preset_name(p); p++) {
        char spec[64];
        snprintf(spec, sizeof spec, "preset=%s", ts_lrp_preset_name(p));
        ts_lrp_rules rules;
        CHECK(ts_lrp_rules_parse(g, spec, &rules) == TS_OK, "%s: %s", spec, ts_last_error());
        for (int i = 0; i < g->n_nodes && rules.rule; i++) {
            const ts_node *nd = &g->nodes[i];
            if (nd->op != TS_OP_CONV2D && nd->op != TS_OP_FC) continue;
            ts_lrp_rule want;
            CHECK(ts_lrp_preset_rule(ts_lrp_preset_name(p), nd->op == TS_OP_CONV2D, nd->inputs[0] == 0, &want), "rule");
            char a[64], b[64];
            CHECK(!strcmp(ts_lrp_rule_str(&want, a, sizeof a), ts_lrp_rule_str(&rules.rule[i], b, sizeof b)),
                  "%s %s: %s vs %s", spec, nd->name, a, b);
        }
        ts_lrp_rules_clear(&rules);
    }
}

static void check_layer(const ts_model *model, const ts_inspect_model *m, const char *who)
{
    const ts_graph *g = model->graph;
    int i = ts_graph_index(g, "conv1");
    CHECK(i >= 0, "%s: no conv1", who);
    if (i < 0) return;
    const ts_node *nd = &g->nodes[i];
    const ts_act_layer *L = &m->act_layer;
    CHECK(!m->error[0], "%s: %s", who, m->error);
    CHECK(!strcmp(L->name, "conv1") && L->c == nd->c && L->h == nd->h && L->w == nd->w, "%s: shape %s %dx%dx%d", who,
          L->name, L->c, L->h, L->w);
    CHECK(L->in_c == model->meta.in_channels && L->kh == nd->kh && L->kw == nd->kw && L->stride == nd->stride,
          "%s: kernel %d %dx%d /%d", who, L->in_c, L->kh, L->kw, L->stride);
    CHECK(L->weight && !memcmp(L->weight, nd->weight.data, ts_tensor_numel(&nd->weight) * sizeof(float)),
          "%s: weights differ from the model's conv1", who);
    CHECK(!nd->has_bias || (L->bias && !memcmp(L->bias, nd->bias.data, (size_t)nd->c * sizeof(float))),
          "%s: biases differ", who);
    /* the graph still holds the inspector's forward pass (batch 1) */
    size_t per = (size_t)nd->c * nd->h * nd->w;
    CHECK(L->maps && !memcmp(L->maps, nd->out.data, per * sizeof(float)), "%s: maps differ from conv1's output", who);
    /* the grid shows map k with its own min..max */
    const ts_act_grid *G = &m->act;
    int gap = G->cols > 1 ? (G->w - G->cols * G->cell_w) / (G->cols - 1) : 0, scale = G->cell_w / L->w;
    for (int k = 0; k < L->c; k += 7) {
        float lo, hi;
        double mean, s = 0;
        ts_act_layer_map_stats(L, k, &lo, &hi, &mean);
        const float *mk = L->maps + (size_t)k * L->h * L->w;
        for (int q = 0; q < L->h * L->w; q++) s += mk[q];
        CHECK(fabs(mean - s / (L->h * L->w)) < 1e-9 * (1 + fabs(mean)), "%s: mean of map %d", who, k);
        int ox = (k % G->cols) * (G->cell_w + gap), oy = (k / G->cols) * (G->cell_h + gap);
        for (int y = 0; y < L->h; y += 3)
            for (int x = 0; x < L->w; x += 3) {
                float want = hi > lo ? (mk[y * L->w + x] - lo) / (hi - lo) : 0.5f;
                float got = G->v[(size_t)(oy + y * scale) * G->w + ox + x * scale];
                CHECK(fabsf(want - got) < 1e-5f, "%s: map %d (%d,%d): grid %g, copy %g", who, k, x, y, got, want);
            }
    }
}

int main(void)
{
    test_syntax();
    const char *root = getenv("TS_SOURCE_ROOT");
    if (!root) root = ".";
    char lp[4096], bp[4096], ip[4096];
    snprintf(lp, sizeof lp, "%s/resources/models/lacnn.safetensors", root);
    snprintf(bp, sizeof bp, "%s/resources/models/baseline.safetensors", root);
    snprintf(ip, sizeof ip, "%s/node_modules/@vladmandic/face-api/demo/sample1.jpg", root);
    ts_model *models[TS_INSPECT_MODELS] = { 0 };
    ts_image photo = { 0 };
    if (ts_model_load(bp, &models[0]) != TS_OK || ts_model_load(lp, &models[1]) != TS_OK ||
        ts_image_load(ip, &photo) != TS_OK) {
        printf("SKIP: %s\n", ts_last_error());
        return failures ? 1 : 77;
    }
    CHECK(models[1]->meta.in_channels == 4, "the bundled LACNN has %d channels", models[1]->meta.in_channels);
    test_presets(models[0]);
    test_presets(models[1]);

    /* each model alone, so the graph's last forward pass is that of the
     * inspected face */
    ts_inspector *in = ts_inspector_new();
    for (int i = 0; i < TS_INSPECT_MODELS; i++) {
        ts_model *one[TS_INSPECT_MODELS] = { 0 };
        one[i] = models[i];
        ts_inspect r;
        ts_status st = ts_inspector_run(in, &photo, one, NULL, &r);
        if (st != TS_OK) {
            printf("SKIP: inspector: %s\n", ts_last_error());
            return failures ? 1 : 77;
        }
        check_layer(models[i], &r.model[i], i ? "LACNN" : "baseline");
        ts_inspect_clear(&r);
    }
    /* a layer other than conv1 (no filter for a pool, maps still copied) */
    ts_inspect_opts o = { .face = -1, .layer = "pool1" };
    ts_inspect r;
    if (ts_graph_index(models[0]->graph, "pool1") >= 0 && ts_inspector_run(in, &photo, models, &o, &r) == TS_OK) {
        const ts_act_layer *L = &r.model[0].act_layer;
        CHECK(L->maps && !L->weight && !L->bias && L->in_c == 0, "pool1: maps but no weights");
        ts_inspect_clear(&r);
    }
    ts_inspector_free(in);
    ts_image_clear(&photo);
    ts_model_free(models[0]);
    ts_model_free(models[1]);
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    else printf("filter-data: all checks passed\n");
    return failures ? 1 : 0;
}
