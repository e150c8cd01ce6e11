/* lrp-compose.h - explain/lrp.c's linear-layer rules written as terms over
 * the LRP building blocks of backend.h (ts_backend_cuda_lrp_*), shared by
 * two tests:
 *   test-ops-cuda.c   with the CUDA primitives (needs a GPU);
 *   test-lrp-terms.c  with a plain CPU implementation of the same
 *                     contracts (runs everywhere), which checks that the
 *                     contracts and this composition reproduce lrp.c.
 * It is also the wiring lrp.c needs to run a graph moved to the GPU.
 *
 * The rules as terms (lrp.c, linear_node): epsilon (W, x) with Z from the
 * forward pass; flat / wsquare (1 or W^2, a plane of ones); zbox (W, x),
 * (W+, -l), (W-, -h); alphabeta alpha*[(W+,x+),(W-,x-)] with b+ when the
 * rule has ",bias", then -beta*[(W-,x+),(W+,x-)] with b-.  (lrp.c leaves
 * the x- terms out when x has no negative entry; they add exactly 0.)
 * Header-only, static functions: include it in one test file each.
 */
#ifndef TS_TEST_LRP_COMPOSE_H
#define TS_TEST_LRP_COMPOSE_H

#include <stdbool.h>
#include <stdio.h>

#include "backend/backend.h"
#include "lrp.h"

typedef struct lrp_prims {
    void *ctx;
    ts_status (*linear)(void *ctx, const ts_node *nd, int n, int c, int h, int w, const ts_lrp_term_dev *t, int nt,
                        const float *bias, const float *z_fwd, bool use_eps, float eps, float coef, const float *R,
                        float *Rin);
    ts_status (*split)(void *ctx, const float *x, float *pos, float *neg, size_t n);
    ts_status (*square)(void *ctx, const float *w, float *out, size_t n, bool flat);
    ts_status (*fill)(void *ctx, float *out, int n, int ch, size_t hw, const float *values);
    /* n floats of the primitives' memory, released by the test */
    float *(*alloc)(size_t n, const char *what);
} lrp_prims;

/* Rin += the relevance of linear node i (nd, fed by `in`) for a batch of
 * n: x its input, zf its forward output, R its relevance, w and b its
 * parameters (b may be NULL), all in the primitives' memory. */
static ts_status lrp_compose_rule(const lrp_prims *p, const ts_lrp_rules *rules, int i, const ts_node *nd,
                                  const ts_node *in, int n, const float *w, const float *b, const float *x,
                                  const float *zf, const float *R, float *Rin)
{
    const ts_lrp_rule *r = &rules->rule[i];
    size_t nw = ts_tensor_numel(&nd->weight), xs = (size_t)n * in->c * in->h * in->w;
    size_t hw = (size_t)in->h * in->w;
    ts_lrp_term_dev t[3];
    float v[TS_LRP_MAX_INPUT_C], v2[TS_LRP_MAX_INPUT_C];
    if ((r->kind == TS_LRP_FLAT || r->kind == TS_LRP_WSQUARE || r->kind == TS_LRP_ZBOX) &&
        in->c > TS_LRP_MAX_INPUT_C)
        return ts_error(TS_ERR_ARG, "lrp compose: '%s' has %d input channels", nd->name, in->c);
#define LIN(nt, bias, z, ue, e, coef) \
    p->linear(p->ctx, nd, n, in->c, in->h, in->w, t, nt, bias, z, ue, e, coef, R, Rin)
    switch (r->kind) {
    case TS_LRP_EPSILON:
        t[0] = (ts_lrp_term_dev){ w, x };
        return LIN(1, NULL, zf, true, r->eps, 1.0f);
    case TS_LRP_FLAT:
    case TS_LRP_WSQUARE: {
        float *sq = p->alloc(nw, "w^2"), *one = p->alloc(xs, "ones");
        for (int c = 0; c < in->c; c++) v[c] = 1.0f;
        TS_TRY(p->square(p->ctx, w, sq, nw, r->kind == TS_LRP_FLAT));
        TS_TRY(p->fill(p->ctx, one, n, in->c, hw, v));
        t[0] = (ts_lrp_term_dev){ sq, one };
        return LIN(1, NULL, NULL, false, 0.0f, 1.0f);
    }
    case TS_LRP_ZBOX: {
        if (rules->bounds_c != in->c)
            return ts_error(TS_ERR_ARG, "lrp compose: zbox on '%s' needs bounds for %d channels", nd->name, in->c);
        float *wp = p->alloc(nw, "w+"), *wn = p->alloc(nw, "w-"), *lo = p->alloc(xs, "-l"), *hi = p->alloc(xs, "-h");
        for (int c = 0; c < in->c; c++) v[c] = -rules->low[c], v2[c] = -rules->high[c];
        TS_TRY(p->split(p->ctx, w, wp, wn, nw));
        TS_TRY(p->fill(p->ctx, lo, n, in->c, hw, v));
        TS_TRY(p->fill(p->ctx, hi, n, in->c, hw, v2));
        t[0] = (ts_lrp_term_dev){ w, x };
        t[1] = (ts_lrp_term_dev){ wp, lo };
        t[2] = (ts_lrp_term_dev){ wn, hi };
        return LIN(3, NULL, NULL, false, 0.0f, 1.0f);
    }
    case TS_LRP_ALPHABETA: {
        float *wp = p->alloc(nw, "w+"), *wn = p->alloc(nw, "w-"), *xp = p->alloc(xs, "x+"), *xn = p->alloc(xs, "x-");
        float *bp = NULL, *bn = NULL;
        TS_TRY(p->split(p->ctx, w, wp, wn, nw));
        TS_TRY(p->split(p->ctx, x, xp, xn, xs));
        if (r->with_bias && b) {
            bp = p->alloc((size_t)nd->c, "b+"), bn = p->alloc((size_t)nd->c, "b-");
            TS_TRY(p->split(p->ctx, b, bp, bn, (size_t)nd->c));
        }
        if (r->alpha != 0) {
            t[0] = (ts_lrp_term_dev){ wp, xp };
            t[1] = (ts_lrp_term_dev){ wn, xn };
            TS_TRY(LIN(2, bp, NULL, false, 0.0f, r->alpha));
        }
        if (r->beta != 0) {
            t[0] = (ts_lrp_term_dev){ wn, xp };
            t[1] = (ts_lrp_term_dev){ wp, xn };
            TS_TRY(LIN(2, bn, NULL, false, 0.0f, -r->beta));
        }
        return TS_OK;
    }
    default:
        return ts_error(TS_ERR_ARG, "lrp compose: no rule for '%s'", nd->name);
    }
#undef LIN
}

/* The small net both tests explain: input (4,13,13) -> conv1 (6, 3x3,
 * stride 2, pads t1 b0 l1 r1 (asymmetric), groups 2) -> relu1 -> fc2 (5),
 * non-zero biases.  transfer: full. */
static ts_graph *lrp_compose_net(void)
{
    ts_graph *g = ts_graph_new(4, 13, 13);
    ts_node *nd = ts_graph_add(g, TS_OP_CONV2D, "conv1", 0, NULL);
    nd->out_c = 6, nd->kh = nd->kw = 3, nd->stride = 2, nd->groups = 2;
    nd->pad_t = 1, nd->pad_b = 0, nd->pad_l = nd->pad_r = 1;
    ts_graph_add(g, TS_OP_RELU, "relu1", 0, NULL);
    nd = ts_graph_add(g, TS_OP_FC, "fc2", 0, NULL);
    nd->out_c = 5;
    if (ts_graph_finalize(g) != TS_OK) {
        printf("FAIL lrp net: %s\n", ts_last_error());
        ts_graph_free(g);
        return NULL;
    }
    ts_graph_init_params(g, 7);
    ts_rng r;
    ts_rng_seed(&r, 11);
    for (int i = 1; i < g->n_nodes; i++)
        for (size_t k = 0; g->nodes[i].bias.data && k < ts_tensor_numel(&g->nodes[i].bias); k++)
            g->nodes[i].bias.data[k] = 0.05f * ts_rng_normal(&r);
    return g;
}

/* The rule strings both tests run. */
static const char *const LRP_COMPOSE_SPECS[] = {
    "conv1=alphabeta:2,1;fc2=epsilon:0.01",
    "conv1=alphabeta:1,0,bias;fc2=alphabeta:2,1,bias",
    "conv1=flat;fc2=epsilon:0.1",
    "conv1=wsquare;fc2=epsilon:0.01",
    "conv1=zbox;fc2=epsilon:0.01",
};
#define LRP_COMPOSE_N_SPECS ((int)(sizeof LRP_COMPOSE_SPECS / sizeof LRP_COMPOSE_SPECS[0]))

#endif
