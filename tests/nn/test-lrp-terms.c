/* test-lrp-terms.c - the GPU LRP building blocks' contracts, checked on the
 * CPU (issue 5; runs on every machine).
 *
 * backend.h documents ts_backend_cuda_lrp_linear / _split / _square and
 * ts_backend_cuda_fill_channels; lrp-compose.h writes explain/lrp.c's rules
 * as terms over them.  Here each contract is implemented in plain loops
 * (straight from its comment: a direct convolution with the node's stride,
 * pads and groups, its transpose, an fc product) and lrp-compose.h runs on
 * those; for every rule string of lrp-compose.h, each linear node's step
 * from the CPU LRP's relevance at its output must give lrp.c's relevance at
 * its input (within 1e-5 of the largest |R| plus 1e-4 relative).  So the
 * decomposition the GPU test (test-ops-cuda, needs a GPU) relies on is
 * known right before a GPU ever runs it; that test then checks the CUDA
 * implementation of the same contracts against lrp.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lrp-compose.h"

static int failures;

/* ---- the contracts, in plain loops ------------------------------------------ */

static ts_status ref_linear(void *ctx, const ts_node *nd, int n, int c, int h, int w, const ts_lrp_term_dev *t,
                            int nt, const float *bias, const float *z_fwd, bool use_eps, float eps, float coef,
                            const float *R, float *Rin)
{
    (void)ctx;
    const int O = nd->c, OH = nd->h, OW = nd->w;
    size_t ys = (size_t)n * O * OH * OW, xs = (size_t)n * c * h * w;
    float *z = calloc(ys, sizeof *z), *d = calloc(xs, sizeof *d);
    TS_ASSERT(z && d);
    const int fc = nd->op == TS_OP_FC, K = c * h * w;
    const int G = fc ? 1 : nd->groups, Cg = c / G, Og = O / G, KH = nd->weight.h, KW = nd->weight.w;
    /* Z = sum_k W'_k (*) x'_k (+ bias) | z_fwd */
    if (z_fwd) {
        memcpy(z, z_fwd, ys * sizeof *z);
    } else {
        for (int k = 0; k < nt; k++)
            for (int s = 0; s < n; s++)
                for (int o = 0; o < O; o++)
                    for (int oy = 0; oy < OH; oy++)
                        for (int ox = 0; ox < OW; ox++) {
                            double acc = 0;
                            if (fc) {
                                for (int q = 0; q < K; q++)
                                    acc += (double)t[k].w[(size_t)o * K + q] * t[k].x[(size_t)s * K + q];
                            } else {
                                int g = o / Og;
                                for (int ci = 0; ci < Cg; ci++)
                                    for (int ky = 0; ky < KH; ky++)
                                        for (int kx = 0; kx < KW; kx++) {
                                            int iy = oy * nd->stride - nd->pad_t + ky;
                                            int ix = ox * nd->stride - nd->pad_l + kx;
                                            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                            acc += (double)t[k].w[(((size_t)o * Cg + ci) * KH + ky) * KW + kx] *
                                                   t[k].x[(((size_t)s * c + g * Cg + ci) * h + iy) * w + ix];
                                        }
                            }
                            z[(((size_t)s * O + o) * OH + oy) * OW + ox] += (float)acc;
                        }
        if (bias)
            for (size_t q = 0; q < ys; q++) z[q] += bias[q / ((size_t)OH * OW) % (size_t)O];
    }
    /* S = R / stab(Z) */
    for (size_t q = 0; q < ys; q++) {
        float dd = z[q];
        if (use_eps) dd += dd >= 0 ? eps : -eps;
        z[q] = dd != 0 ? R[q] / dd : 0.0f;
    }
    /* Rin += coef * x'_k * (W'_k^T (*) S) */
    for (int k = 0; k < nt; k++) {
        memset(d, 0, xs * sizeof *d);
        for (int s = 0; s < n; s++)
            for (int o = 0; o < O; o++)
                for (int oy = 0; oy < OH; oy++)
                    for (int ox = 0; ox < OW; ox++) {
                        float sv = z[(((size_t)s * O + o) * OH + oy) * OW + ox];
                        if (fc) {
                            for (int q = 0; q < K; q++) d[(size_t)s * K + q] += t[k].w[(size_t)o * K + q] * sv;
                            continue;
                        }
                        int g = o / Og;
                        for (int ci = 0; ci < Cg; ci++)
                            for (int ky = 0; ky < KH; ky++)
                                for (int kx = 0; kx < KW; kx++) {
                                    int iy = oy * nd->stride - nd->pad_t + ky;
                                    int ix = ox * nd->stride - nd->pad_l + kx;
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                    d[(((size_t)s * c + g * Cg + ci) * h + iy) * w + ix] +=
                                        t[k].w[(((size_t)o * Cg + ci) * KH + ky) * KW + kx] * sv;
                                }
                    }
        for (size_t q = 0; q < xs; q++) Rin[q] += coef * t[k].x[q] * d[q];
    }
    free(z);
    free(d);
    return TS_OK;
}

static ts_status ref_split(void *ctx, const float *x, float *pos, float *neg, size_t n)
{
    (void)ctx;
    for (size_t q = 0; q < n; q++) pos[q] = x[q] > 0 ? x[q] : 0, neg[q] = x[q] < 0 ? x[q] : 0;
    return TS_OK;
}

static ts_status ref_square(void *ctx, const float *w, float *out, size_t n, bool flat)
{
    (void)ctx;
    for (size_t q = 0; q < n; q++) out[q] = flat ? 1.0f : w[q] * w[q];
    return TS_OK;
}

static ts_status ref_fill(void *ctx, float *out, int n, int ch, size_t hw, const float *values)
{
    (void)ctx;
    for (size_t q = 0; q < (size_t)n * ch * hw; q++) out[q] = values[q / hw % (size_t)ch];
    return TS_OK;
}

#define MAX_ALLOCS 64
static float *allocs[MAX_ALLOCS];
static int n_allocs;

static float *ref_alloc(size_t n, const char *what)
{
    TS_ASSERT(n_allocs < MAX_ALLOCS);
    float *p = calloc(n ? n : 1, sizeof *p);
    if (!p) {
        printf("FAIL: no memory for %s\n", what);
        exit(1);
    }
    return allocs[n_allocs++] = p;
}

static void free_allocs(void)
{
    while (n_allocs) free(allocs[--n_allocs]);
}

/* ---- against lrp.c ------------------------------------------------------------ */

static void compare(const char *row, const char *what, const ts_tensor *ref, const float *got)
{
    size_t n = ts_tensor_numel(ref);
    double m = 0, worst = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(ref->data[i]));
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        double r = ref->data[i], g = got[i], err = fabs(g - r);
        if (err > worst) worst = err;
        if (!isfinite(g) || !(err <= 1e-5 * m + 1e-4 * fabs(r))) {
            if (bad < 5) printf("FAIL %s: %s[%zu] terms %.8g lrp.c %.8g\n", row, what, i, g, r);
            bad++;
        }
    }
    if (m == 0) {
        printf("FAIL %s: %s: lrp.c's relevance is all zero (nothing tested)\n", row, what);
        bad++;
    }
    if (bad) failures++;
    else printf("ok   %s: %s (%zu values, max |diff| %.3g of max |R| %.3g)\n", row, what, n, worst, m);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    lrp_prims prims = { NULL, ref_linear, ref_split, ref_square, ref_fill, ref_alloc };
    ts_graph *g = lrp_compose_net();
    if (!g) return 1;
    const int N = 3;
    ts_rng rng;
    ts_rng_seed(&rng, 5);
    float *xd = malloc((size_t)N * 4 * 13 * 13 * sizeof *xd), *reld = malloc((size_t)N * 4 * 13 * 13 * sizeof *reld);
    TS_ASSERT(xd && reld);
    ts_tensor x = { xd, N, 4, 13, 13 }, rel = { reld, N, 4, 13, 13 };
    for (size_t q = 0; q < ts_tensor_numel(&x); q++) xd[q] = ts_rng_normal(&rng);
    const ts_node *conv = &g->nodes[1], *relu = &g->nodes[2], *fc = &g->nodes[3];
    for (int k = 0; k < LRP_COMPOSE_N_SPECS; k++) {
        char row[128];
        snprintf(row, sizeof row, "\"%s\"", LRP_COMPOSE_SPECS[k]);
        ts_lrp_rules rules;
        ts_lrp *l = NULL;
        ts_lrp_target tg = { TS_LRP_TARGET_PREDICTED, -1, -1 };
        if (ts_lrp_rules_parse(g, LRP_COMPOSE_SPECS[k], &rules) != TS_OK) {
            printf("FAIL %s: %s\n", row, ts_last_error());
            failures++;
            continue;
        }
        for (int c = 0; c < 4; c++) ts_lrp_rules_set_bounds(&rules, c, -2.5f, 2.5f);
        if (ts_lrp_new(g, &rules, &l) != TS_OK || ts_lrp_explain(l, &x, &tg, 1, &rel, NULL) != TS_OK) {
            printf("FAIL %s: lrp.c: %s\n", row, ts_last_error());
            failures++;
            ts_lrp_free(l);
            ts_lrp_rules_clear(&rules);
            continue;
        }
        float *rin = ref_alloc(ts_tensor_numel(ts_lrp_node_relevance(l, 2)), "R relu1");
        if (lrp_compose_rule(&prims, &rules, 3, fc, relu, N, fc->weight.data, fc->bias.data, relu->out.data,
                             fc->out.data, ts_lrp_node_relevance(l, 3)->data, rin) != TS_OK) {
            printf("FAIL %s: fc2: %s\n", row, ts_last_error());
            failures++;
        } else {
            compare(row, "fc2 step: relevance of relu1", ts_lrp_node_relevance(l, 2), rin);
        }
        rin = ref_alloc(ts_tensor_numel(&rel), "R input");
        if (lrp_compose_rule(&prims, &rules, 1, conv, &g->nodes[0], N, conv->weight.data, conv->bias.data, xd,
                             conv->out.data, ts_lrp_node_relevance(l, 1)->data, rin) != TS_OK) {
            printf("FAIL %s: conv1: %s\n", row, ts_last_error());
            failures++;
        } else {
            compare(row, "conv1 step: input relevance", &rel, rin);
        }
        free_allocs();
        ts_lrp_free(l);
        ts_lrp_rules_clear(&rules);
    }
    free(xd);
    free(reld);
    ts_graph_free(g);
    if (failures) {
        printf("%d check(s) failed\n", failures);
        return 1;
    }
    printf("the GPU LRP contracts reproduce lrp.c\n");
    return 0;
}
