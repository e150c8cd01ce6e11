/* test-ops-cuda.c - the op table on the CPU and the GPU (issue 5; STYLE.md:
 * ggml's test-backend-ops with the CPU backend as the reference).
 *
 * For every row (op + shape + hyper-parameters) with a fixed seed, the same
 * inputs, weights, output gradient and gradient buffers (pre-filled with
 * 0.25, so that accumulation is checked too) go to both backends:
 *   forward:  out and aux  |gpu - cpu| <= 1e-4 + 1e-3 * |cpu|
 *   backward: din, dweight, dbias
 *                          |gpu - cpu| <= 1e-3 + 2e-3 * |cpu|
 * (float32 everywhere; the GPU sums in a different order, so a little more
 * than rounding is allowed.  TS_CUDA_TF32 must be unset.)  Every GPU
 * tensor has NaN canaries (guard floats) on both sides that must survive,
 * and every GPU result is checked for NaN/Inf.  The maxpool argmax and the
 * dropout mask must match exactly.  A whole small network (conv, lrn, pool,
 * fc, dropout in training) is then run through ts_graph_to_backend on the
 * GPU and compared with the same network on the CPU: logits and every
 * parameter gradient.  The first mismatches are printed.  The convolutions
 * run twice, on 16-byte and on 4-byte aligned tensors (cuDNN plans are made
 * per alignment).  A(x,y) (kernels/amap.cu) must equal the CPU reference
 * byte for byte: random landmark sets (k = 1, 2, 68, 255; exact ties on
 * pixel centres and half-way; duplicates; far points) on sizes up to
 * 1920x1080, and every face of the face-api fixtures on its photo's size.
 * LRP: on a small conv/relu/fc net and five rule strings (alphabeta with
 * and without bias, epsilon, flat, wsquare, zbox), each linear node's step
 * redone with the GPU primitives (ts_backend_cuda_lrp_*) from the CPU's
 * relevance at its output must give explain/lrp.c's relevance at its input,
 * within 1e-4 of the largest |R| plus 2e-3 relative.
 *
 * Without a usable GPU (no device, no driver) it prints why and exits 77.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "amap-device.h"
#include "amap.h"
#include "backend/backend.h"
#include "lrp-compose.h"
#include "lrp.h"
#include "ts-config.h"

#define GUARD 16
#define FWD_ATOL 1e-4
#define FWD_RTOL 1e-3
#define BWD_ATOL 1e-3
#define BWD_RTOL 2e-3
#define MAX_PRINT 5

static int failures;
static ts_rng rng;
static const ts_backend *cpu, *gpu;
static void *gctx;

/* ---- device tensors with guards -------------------------------------- */

typedef struct dbuf {
    ts_arena arena;
    size_t n, off; /* off: misalign when made */
    const char *what;
} dbuf;

#define MAX_DBUFS 64
static dbuf dbufs[MAX_DBUFS];
static int n_dbufs;

static uint32_t canary_bits(size_t i) { return 0x7fc0e000u | (uint32_t)(i & 0xfff); }

static void must(ts_status st, const char *what)
{
    if (st != TS_OK) {
        printf("FAIL %s: %s\n", what, ts_last_error());
        exit(1);
    }
}

/* A device copy of host tensor h (same shape), between canaries. */
/* 1: device tensors start one float past the guards, so they are only
 * 4-byte aligned (cuDNN plans are made per alignment: the conv rows run
 * both ways). */
static int misalign;

static ts_tensor dev_copy(const ts_tensor *h, const char *what)
{
    TS_ASSERT(n_dbufs < MAX_DBUFS);
    size_t k = ts_tensor_numel(h);
    dbuf *b = &dbufs[n_dbufs++];
    must(gpu->arena_init(gctx, &b->arena, k + 2 * GUARD + 1), "device allocation");
    b->n = k;
    b->off = (size_t)misalign;
    b->what = what;
    float *tmp = malloc((k + 2 * GUARD) * sizeof(float));
    TS_ASSERT(tmp);
    for (size_t i = 0; i < GUARD; i++) {
        uint32_t c = canary_bits(i);
        memcpy(&tmp[i], &c, 4);
        memcpy(&tmp[GUARD + k + i], &c, 4);
    }
    memcpy(tmp + GUARD, h->data, k * sizeof(float));
    must(gpu->upload(gctx, b->arena.base + b->off, tmp, k + 2 * GUARD), "upload");
    free(tmp);
    return (ts_tensor){ b->arena.base + b->off + GUARD, h->n, h->c, h->h, h->w };
}

static void check_dev_guards(const char *row)
{
    for (int i = 0; i < n_dbufs; i++) {
        dbuf *b = &dbufs[i];
        float *tmp = malloc((b->n + 2 * GUARD) * sizeof(float));
        TS_ASSERT(tmp);
        must(gpu->download(gctx, tmp, b->arena.base + b->off, b->n + 2 * GUARD), "download");
        for (size_t k = 0; k < GUARD; k++) {
            uint32_t lo, hi;
            memcpy(&lo, &tmp[k], 4);
            memcpy(&hi, &tmp[GUARD + b->n + k], 4);
            if (lo != canary_bits(k) || hi != canary_bits(k)) {
                printf("FAIL %s: guard float %zu of %s was overwritten on the GPU\n", row, k, b->what);
                failures++;
                break;
            }
        }
        free(tmp);
    }
}

static void free_dbufs(void)
{
    for (int i = 0; i < n_dbufs; i++) gpu->arena_clear(gctx, &dbufs[i].arena);
    n_dbufs = 0;
}

/* ---- host tensors ------------------------------------------------------- */

static ts_tensor host_new(int n, int c, int h, int w)
{
    ts_tensor t = { calloc((size_t)n * c * h * w, sizeof(float)), n, c, h, w };
    TS_ASSERT(t.data);
    return t;
}

static void fill_normal(ts_tensor *t, float scale)
{
    for (size_t i = 0; i < ts_tensor_numel(t); i++) t->data[i] = scale * ts_rng_normal(&rng);
}

static void fill_const(ts_tensor *t, float v)
{
    for (size_t i = 0; i < ts_tensor_numel(t); i++) t->data[i] = v;
}

/* Compares the GPU tensor d with the CPU tensor ref. */
static void compare(const char *row, const char *what, const ts_tensor *ref, const ts_tensor *d, double atol,
                    double rtol, int exact)
{
    size_t n = ts_tensor_numel(ref);
    float *got = malloc(n * sizeof(float));
    TS_ASSERT(got);
    must(gpu->download(gctx, got, d->data, n), "download");
    int bad = 0;
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double r = ref->data[i], g = got[i], err = fabs(g - r);
        int fail;
        if (!isfinite(g)) fail = 1;
        else if (exact) fail = g != r;
        else fail = !(err <= atol + rtol * fabs(r));
        if (isfinite(g) && err > worst) worst = err;
        if (fail) {
            if (bad < MAX_PRINT)
                printf("FAIL %s: %s[%zu] gpu %.8g cpu %.8g (|diff| %.3g)\n", row, what, i, g, r, err);
            bad++;
        }
    }
    if (bad) {
        printf("FAIL %s: %s: %d of %zu values differ\n", row, what, bad, n);
        failures++;
    } else {
        printf("ok   %s: %s (%zu values, max |diff| %.3g)\n", row, what, n, worst);
    }
    free(got);
}

/* ---- the table ---------------------------------------------------------------- */

typedef struct row {
    const char *name;
    ts_op op;
    int N, C, H, W;
    int out_c, kh, kw, stride, pt, pb, pl, pr, groups, has_bias;
    int pool_floor, global, lrn_size;
    float p, slope;
    int training;
    int n_in, in_c[3]; /* concat/add: inputs (channels of each) */
} row;

#define CONV(nm, n, c, h, w, o, k, s, t, b, l, r, g) \
    { nm, TS_OP_CONV2D, n, c, h, w, o, k, k, s, t, b, l, r, g, 1, 0, 0, 0, 0, 0, 0, 1, { 0 } }
#define POOL(nm, op, n, c, h, w, k, s, t, b, l, r, fl, gl) \
    { nm, op, n, c, h, w, 0, k, k, s, t, b, l, r, 1, 0, fl, gl, 0, 0, 0, 0, 1, { 0 } }

static const row rows[] = {
    CONV("conv2d 11x11 s4 (conv1)", 2, 3, 35, 35, 8, 11, 4, 0, 0, 0, 0, 1),
    CONV("conv2d 5x5 pad 2 groups 2", 2, 8, 9, 9, 12, 5, 1, 2, 2, 2, 2, 2),
    CONV("conv2d 3x3 depthwise s2", 2, 6, 10, 11, 6, 3, 2, 1, 1, 1, 1, 6),
    CONV("conv2d 3x3 asymmetric pads s2", 2, 4, 9, 8, 5, 3, 2, 0, 1, 1, 0, 1),
    /* the padded geometry of the row above, symmetric: the same cuDNN shape,
     * but its backward-data plan must accumulate (a separate cache entry) */
    CONV("conv2d 3x3 s2 (asymmetric row's padded shape)", 2, 4, 10, 9, 5, 3, 2, 0, 0, 0, 0, 1),
    CONV("conv2d 1x1", 3, 16, 5, 5, 7, 1, 1, 0, 0, 0, 0, 1),
    { "relu", TS_OP_RELU, 2, 5, 7, 6, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, { 0 } },
    { "leaky_relu", TS_OP_LEAKY_RELU, 2, 5, 7, 6, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0.1f, 0, 1, { 0 } },
    { "lrn size 5", TS_OP_LRN, 2, 9, 6, 5, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 1, { 0 } },
    { "lrn size 3", TS_OP_LRN, 1, 4, 3, 3, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 1, { 0 } },
    POOL("maxpool 3x3 s2 ceil", TS_OP_MAXPOOL, 2, 3, 13, 13, 3, 2, 0, 0, 0, 0, 0, 0),
    POOL("maxpool 3x3 s2 pad 1 ceil", TS_OP_MAXPOOL, 2, 3, 10, 9, 3, 2, 1, 1, 1, 1, 0, 0),
    POOL("maxpool 2x2 s2 floor", TS_OP_MAXPOOL, 1, 2, 7, 7, 2, 2, 0, 0, 0, 0, 1, 0),
    POOL("avgpool 3x3 s2 pad 1 ceil", TS_OP_AVGPOOL, 2, 3, 10, 9, 3, 2, 1, 1, 1, 1, 0, 0),
    POOL("avgpool global", TS_OP_AVGPOOL, 2, 4, 5, 6, 1, 1, 0, 0, 0, 0, 0, 1),
    { "fc", TS_OP_FC, 3, 4, 3, 3, 10, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, { 0 } },
    { "fc batch 1", TS_OP_FC, 1, 20, 1, 1, 7, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, { 0 } },
    { "dropout training", TS_OP_DROPOUT, 2, 6, 5, 5, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0.5f, 0, 1, 1, { 0 } },
    { "dropout eval", TS_OP_DROPOUT, 2, 6, 5, 5, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0.5f, 0, 0, 1, { 0 } },
    { "concat", TS_OP_CONCAT, 2, 0, 4, 5, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3, { 3, 1, 4 } },
    { "add", TS_OP_ADD, 2, 0, 4, 5, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3, { 5, 5, 5 } },
};

/* The node of a row with shapes inferred by the graph (single-input ops) or
 * by hand (concat, add). */
static ts_node node_of(const row *r, int *wshape, int *bias_len)
{
    ts_node nd;
    memset(wshape, 0, 4 * sizeof *wshape);
    *bias_len = 0;
    if (r->op == TS_OP_CONCAT || r->op == TS_OP_ADD) {
        memset(&nd, 0, sizeof nd);
        nd.op = r->op;
        snprintf(nd.name, sizeof nd.name, "%s", r->name);
        nd.n_inputs = r->n_in;
        nd.c = 0;
        for (int i = 0; i < r->n_in; i++) nd.c = r->op == TS_OP_ADD ? r->in_c[0] : nd.c + r->in_c[i];
        nd.h = r->H;
        nd.w = r->W;
        return nd;
    }
    ts_graph *g = ts_graph_new(r->C, r->H, r->W);
    ts_node *n = ts_graph_add(g, r->op, "op", 0, NULL);
    n->out_c = r->out_c;
    n->kh = r->kh;
    n->kw = r->kw;
    n->stride = r->stride;
    n->pad_t = r->pt, n->pad_b = r->pb, n->pad_l = r->pl, n->pad_r = r->pr;
    n->groups = r->groups;
    n->has_bias = r->has_bias;
    n->pool_floor = r->pool_floor;
    n->global = r->global;
    if (r->lrn_size) n->lrn_size = r->lrn_size;
    if (r->p > 0) n->p = r->p;
    if (r->slope != 0) n->slope = r->slope;
    must(ts_graph_finalize(g), r->name);
    nd = g->nodes[1];
    if (nd.weight.data) {
        wshape[0] = nd.weight.n, wshape[1] = nd.weight.c, wshape[2] = nd.weight.h, wshape[3] = nd.weight.w;
        *bias_len = nd.bias.data ? nd.bias.c : 0;
    }
    memset(&nd.weight, 0, sizeof nd.weight);
    memset(&nd.bias, 0, sizeof nd.bias);
    memset(&nd.dweight, 0, sizeof nd.dweight);
    memset(&nd.dbias, 0, sizeof nd.dbias);
    snprintf(nd.name, sizeof nd.name, "%s", r->name);
    ts_graph_free(g);
    return nd;
}

static void run_row(const row *r)
{
    int ws[4], bl;
    char rn[160];
    snprintf(rn, sizeof rn, "%s%s", r->name, misalign ? " [4-byte aligned]" : "");
    ts_node nd = node_of(r, ws, &bl);
    int n_in = r->op == TS_OP_CONCAT || r->op == TS_OP_ADD ? r->n_in : 1;
    ts_tensor hin[3], hdin[3], din_[3], in_[3];
    ts_op_args ca, ga;
    memset(&ca, 0, sizeof ca);
    memset(&ga, 0, sizeof ga);
    ca.node = ga.node = &nd;
    ca.n_in = ga.n_in = n_in;
    ca.training = ga.training = r->training;
    ca.seed = ga.seed = 0x1234567ull + (uint64_t)r->op;
    for (int i = 0; i < n_in; i++) {
        int c = n_in > 1 ? r->in_c[i] : r->C;
        hin[i] = host_new(r->N, c, r->H, r->W);
        fill_normal(&hin[i], 1.0f);
        hdin[i] = host_new(r->N, c, r->H, r->W);
        fill_const(&hdin[i], 0.25f);
        in_[i] = dev_copy(&hin[i], "input");
        din_[i] = dev_copy(&hdin[i], "din");
        ca.in[i] = &hin[i];
        ca.din[i] = &hdin[i];
        ga.in[i] = &in_[i];
        ga.din[i] = &din_[i];
    }
    ts_tensor hout = host_new(r->N, nd.c, nd.h, nd.w), hdout = host_new(r->N, nd.c, nd.h, nd.w);
    ts_tensor haux = host_new(r->N, nd.c, nd.h, nd.w);
    fill_normal(&hdout, 1.0f);
    fill_const(&hout, 7.0f); /* forward must overwrite */
    ts_tensor out = dev_copy(&hout, "out"), dout = dev_copy(&hdout, "dout"), aux = dev_copy(&haux, "aux");
    int has_aux = r->op == TS_OP_MAXPOOL || r->op == TS_OP_LRN || r->op == TS_OP_DROPOUT;
    ca.out = &hout;
    ga.out = &out;
    ca.dout = &hdout;
    ga.dout = &dout;
    ca.aux = has_aux ? &haux : NULL;
    ga.aux = has_aux ? &aux : NULL;
    ts_tensor hw = { 0 }, hb = { 0 }, hdw = { 0 }, hdb = { 0 }, w, b, dw, db;
    if (ws[0]) {
        hw = host_new(ws[0], ws[1], ws[2], ws[3]);
        fill_normal(&hw, 1.0f / sqrtf((float)ws[1] * ws[2] * ws[3]));
        hdw = host_new(ws[0], ws[1], ws[2], ws[3]);
        fill_const(&hdw, 0.25f);
        w = dev_copy(&hw, "weight");
        dw = dev_copy(&hdw, "dweight");
        ca.weight = &hw, ga.weight = &w;
        ca.dweight = &hdw, ga.dweight = &dw;
        if (bl) {
            hb = host_new(1, bl, 1, 1);
            fill_normal(&hb, 0.1f);
            hdb = host_new(1, bl, 1, 1);
            fill_const(&hdb, 0.25f);
            b = dev_copy(&hb, "bias");
            db = dev_copy(&hdb, "dbias");
            ca.bias = &hb, ga.bias = &b;
            ca.dbias = &hdb, ga.dbias = &db;
        }
    }
    must(cpu->forward(NULL, &ca), rn);
    must(gpu->forward(gctx, &ga), rn);
    compare(rn, "out", &hout, &out, FWD_ATOL, FWD_RTOL, 0);
    if (r->op == TS_OP_MAXPOOL || (r->op == TS_OP_DROPOUT && r->training))
        compare(rn, "aux (argmax / mask)", &haux, &aux, 0, 0, 1);
    else if (r->op == TS_OP_LRN)
        compare(rn, "aux (scale)", &haux, &aux, FWD_ATOL, FWD_RTOL, 0);
    must(cpu->backward(NULL, &ca), rn);
    must(gpu->backward(gctx, &ga), rn);
    for (int i = 0; i < n_in; i++) compare(rn, n_in > 1 ? "din[i]" : "din", &hdin[i], &din_[i], BWD_ATOL, BWD_RTOL, 0);
    if (ws[0]) compare(rn, "dweight", &hdw, &dw, BWD_ATOL, BWD_RTOL, 0);
    if (bl) compare(rn, "dbias", &hdb, &db, BWD_ATOL, BWD_RTOL, 0);
    check_dev_guards(rn);
    free_dbufs();
    for (int i = 0; i < n_in; i++) {
        free(hin[i].data);
        free(hdin[i].data);
    }
    free(hout.data);
    free(hdout.data);
    free(haux.data);
    free(hw.data);
    free(hdw.data);
    free(hb.data);
    free(hdb.data);
}

/* ---- a whole network through ts_graph_to_backend --------------------------- */

static ts_graph *small_net(void)
{
    ts_graph *g = ts_graph_new(3, 31, 31);
    ts_node *n = ts_graph_add(g, TS_OP_CONV2D, "conv1", 0, NULL);
    n->out_c = 8, n->kh = n->kw = 5, n->stride = 2;
    ts_graph_add(g, TS_OP_RELU, "relu1", 0, NULL);
    ts_graph_add(g, TS_OP_LRN, "norm1", 0, NULL);
    n = ts_graph_add(g, TS_OP_MAXPOOL, "pool1", 0, NULL);
    n->kh = n->kw = 3, n->stride = 2;
    n = ts_graph_add(g, TS_OP_CONV2D, "conv2", 0, NULL);
    n->out_c = 12, n->kh = n->kw = 3, n->pad_t = n->pad_b = n->pad_l = n->pad_r = 1, n->groups = 2;
    ts_graph_add(g, TS_OP_RELU, "relu2", 0, NULL);
    n = ts_graph_add(g, TS_OP_FC, "fc1", 0, NULL);
    n->out_c = 16;
    ts_graph_add(g, TS_OP_RELU, "relu3", 0, NULL);
    ts_graph_add(g, TS_OP_DROPOUT, "drop1", 0, NULL);
    n = ts_graph_add(g, TS_OP_FC, "fc2", 0, NULL);
    n->out_c = 5;
    must(ts_graph_finalize(g), "small net");
    ts_graph_init_params(g, 42);
    g->training = true;
    return g;
}

static void run_graph(void)
{
    const char *row = "graph (conv, lrn, pool, fc, dropout) on the GPU";
    ts_graph *gc = small_net(), *gg = small_net();
    must(ts_graph_to_backend(gg, gpu, gctx), "ts_graph_to_backend (to the GPU)");
    ts_tensor x = host_new(4, 3, 31, 31);
    fill_normal(&x, 1.0f);
    must(ts_graph_forward(gc, &x), "cpu forward");
    must(ts_graph_forward(gg, &x), "gpu forward");
    ts_node *oc = &gc->nodes[gc->output], *og = &gg->nodes[gg->output];
    compare(row, "logits", &oc->out, &og->out, FWD_ATOL, FWD_RTOL, 0);
    ts_tensor dy = host_new(oc->out.n, oc->out.c, oc->out.h, oc->out.w);
    fill_normal(&dy, 1.0f);
    memcpy(oc->dout.data, dy.data, ts_tensor_numel(&dy) * sizeof(float));
    must(gpu->upload(gctx, og->dout.data, dy.data, ts_tensor_numel(&dy)), "upload dout");
    ts_graph_zero_grads(gc);
    ts_graph_zero_grads(gg);
    must(ts_graph_backward(gc), "cpu backward");
    must(ts_graph_backward(gg), "gpu backward");
    compare(row, "input gradient", &gc->nodes[0].dout, &gg->nodes[0].dout, BWD_ATOL, BWD_RTOL, 0);
    /* Back to the host: every parameter and gradient must have survived. */
    must(ts_graph_to_backend(gg, cpu, NULL), "ts_graph_to_backend (back to the CPU)");
    for (int i = 1; i < gc->n_nodes; i++) {
        ts_node *a = &gc->nodes[i], *b = &gg->nodes[i];
        if (!a->weight.data) continue;
        size_t n = ts_tensor_numel(&a->dweight);
        int bad = 0;
        for (size_t k = 0; k < n && bad < MAX_PRINT; k++) {
            double r = a->dweight.data[k], g = b->dweight.data[k];
            if (!isfinite(g) || !(fabs(g - r) <= BWD_ATOL + BWD_RTOL * fabs(r))) {
                printf("FAIL %s: %s dweight[%zu] gpu %.8g cpu %.8g\n", row, a->name, k, g, r);
                bad++;
            }
        }
        if (memcmp(a->weight.data, b->weight.data, ts_tensor_numel(&a->weight) * sizeof(float))) {
            printf("FAIL %s: %s weights changed on the round trip\n", row, a->name);
            bad++;
        }
        if (bad) failures++;
        else printf("ok   %s: %s weights round trip, dweight (%zu values)\n", row, a->name, n);
    }
    free(x.data);
    free(dy.data);
    ts_graph_free(gc);
    ts_graph_free(gg);
}

/* ---- LRP: the GPU building blocks against explain/lrp.c ------------------- */

/* A device buffer of n floats (freed with free_dbufs). */
static float *dev_new(size_t n, const char *what)
{
    ts_tensor h = host_new(1, 1, 1, (int)n);
    ts_tensor d = dev_copy(&h, what);
    free(h.data);
    return d.data;
}

/* Compares with a tolerance scaled by the largest |value| of the reference:
 * LRP divides by sums that cuDNN and the CPU add up in different orders. */
static void compare_rel(const char *row, const char *what, const ts_tensor *ref, const float *dev)
{
    double m = 0;
    for (size_t i = 0; i < ts_tensor_numel(ref); i++) m = fmax(m, fabs(ref->data[i]));
    ts_tensor d = *ref;
    d.data = (float *)dev;
    compare(row, what, ref, &d, 1e-4 * m + 1e-7, 2e-3, 0);
}

/* n floats of device memory for lrp_compose_rule (freed with free_dbufs). */
static float *dev_alloc(size_t n, const char *what) { return dev_new(n, what); }

/* lrp-compose.h's net and rule strings: the CPU's ts_lrp_explain gives the
 * relevance at every node; the GPU then redoes each linear node's step from
 * the CPU's relevance at its output and must land on the CPU's relevance
 * at its input. */
static void run_lrp(void)
{
    lrp_prims prims = { gctx, ts_backend_cuda_lrp_linear, ts_backend_cuda_lrp_split, ts_backend_cuda_lrp_square,
                        ts_backend_cuda_fill_channels, dev_alloc };
    ts_graph *g = lrp_compose_net();
    if (!g) {
        failures++;
        return;
    }
    const int N = 3;
    ts_tensor x = host_new(N, 4, 13, 13), rel = host_new(N, 4, 13, 13);
    fill_normal(&x, 1.0f);
    const ts_node *conv = &g->nodes[1], *relu = &g->nodes[2], *fc = &g->nodes[3];
    for (int k = 0; k < LRP_COMPOSE_N_SPECS; k++) {
        char row[128];
        snprintf(row, sizeof row, "lrp \"%s\"", LRP_COMPOSE_SPECS[k]);
        ts_lrp_rules rules;
        must(ts_lrp_rules_parse(g, LRP_COMPOSE_SPECS[k], &rules), row);
        for (int c = 0; c < 4; c++) ts_lrp_rules_set_bounds(&rules, c, -2.5f, 2.5f);
        ts_lrp *l = NULL;
        must(ts_lrp_new(g, &rules, &l), "ts_lrp_new");
        ts_lrp_target tg = { TS_LRP_TARGET_PREDICTED, -1, -1 };
        must(ts_lrp_explain(l, &x, &tg, 1, &rel, NULL), "ts_lrp_explain (cpu)");
        const ts_tensor *R_fc = ts_lrp_node_relevance(l, 3), *R_relu = ts_lrp_node_relevance(l, 2);
        const ts_tensor *R_conv = ts_lrp_node_relevance(l, 1);
        /* fc2: from its relevance to relu1's */
        ts_tensor zero = host_new(N, relu->c, relu->h, relu->w);
        ts_tensor dw = dev_copy(&fc->weight, "fc2 w"), db = dev_copy(&fc->bias, "fc2 b");
        ts_tensor dx = dev_copy(&relu->out, "relu1 out"), dz = dev_copy(&fc->out, "fc2 out");
        ts_tensor dR = dev_copy(R_fc, "R fc2"), dRin = dev_copy(&zero, "R relu1");
        must(lrp_compose_rule(&prims, &rules, 3, fc, relu, N, dw.data, db.data, dx.data, dz.data, dR.data,
                              dRin.data), row);
        compare_rel(row, "fc2 step: relevance of relu1", R_relu, dRin.data);
        free(zero.data);
        /* conv1: from its relevance to the input's */
        zero = host_new(N, 4, 13, 13);
        dw = dev_copy(&conv->weight, "conv1 w"), db = dev_copy(&conv->bias, "conv1 b");
        dx = dev_copy(&x, "x"), dz = dev_copy(&conv->out, "conv1 out");
        dR = dev_copy(R_conv, "R conv1"), dRin = dev_copy(&zero, "R input");
        must(lrp_compose_rule(&prims, &rules, 1, conv, &g->nodes[0], N, dw.data, db.data, dx.data, dz.data,
                              dR.data, dRin.data), row);
        compare_rel(row, "conv1 step: input relevance", &rel, dRin.data);
        free(zero.data);
        check_dev_guards(row);
        free_dbufs();
        ts_lrp_free(l);
        ts_lrp_rules_clear(&rules);
    }
    free(x.data);
    free(rel.data);
    ts_graph_free(g);
}

/* ---- A(x,y): kernels/amap.cu against the CPU reference, byte for byte ------ */

/* GPU map of `pts` vs the CPU's (the reference up to 300x200, the fast
 * version, itself tested equal to it in tests/face/test-amap.c, beyond). */
static void amap_case(const ts_points *pts, int w, int h, const char *what)
{
    size_t n = (size_t)w * h;
    uint8_t *ref = malloc(n), *got = malloc(n);
    TS_ASSERT(ref && got);
    memset(got, 0xee, n);
    ts_status s1 = n <= 300 * 200 ? ts_amap_reference(pts, w, h, ref) : ts_amap_compute(pts, w, h, ref);
    ts_status s2 = ts_backend_cuda_amap(gctx, pts->x, pts->y, pts->n, w, h, got);
    int bad = 0;
    if (s1 != TS_OK || s2 != TS_OK) {
        printf("FAIL A(x,y) %s %dx%d k=%d: %s\n", what, w, h, pts->n, ts_last_error());
        failures++;
    } else {
        for (size_t i = 0; i < n; i++)
            if (ref[i] != got[i]) {
                if (bad < MAX_PRINT)
                    printf("FAIL A(x,y) %s %dx%d k=%d: pixel (%zu,%zu) gpu %d cpu %d\n", what, w, h, pts->n,
                           i % (size_t)w, i / (size_t)w, got[i], ref[i]);
                bad++;
            }
        if (bad) failures++;
        else printf("ok   A(x,y) %s %dx%d k=%d: identical\n", what, w, h, pts->n);
    }
    free(ref);
    free(got);
}

static void random_points(ts_points *p, int k, int w, int h, int kind)
{
    p->n = k;
    for (int j = 0; j < k; j++) {
        float u = ts_rng_uniform(&rng), v = ts_rng_uniform(&rng);
        switch (kind) {
        case 0: /* anywhere, a margin outside the image */
            p->x[j] = -20.0f + u * (float)(w + 40), p->y[j] = -20.0f + v * (float)(h + 40);
            break;
        case 1: /* on pixel centres and half-way: many exact ties */
            p->x[j] = 0.5f * (float)(int)(u * 2 * w), p->y[j] = 0.5f * (float)(int)(v * 2 * h);
            break;
        default: /* duplicates of a few points, and far away ones */
            if (j >= 4 && u < 0.5f) p->x[j] = p->x[j % 4], p->y[j] = p->y[j % 4];
            else if (u < 0.7f) p->x[j] = 1e6f * (v - 0.5f), p->y[j] = -3e5f * v;
            else p->x[j] = u * (float)w, p->y[j] = v * (float)h;
        }
    }
}

/* The 68 points of every face in the face-api fixtures, on the photo's
 * full size (tests/face/fixtures/faceapi-*.json). */
static void amap_fixtures(void)
{
    const char *root = getenv("TS_SOURCE_ROOT");
    const char *names[] = { "sample1", "sample2", "sample3", "sample4", "sample5", "sample6", "celebahq-1" };
    int faces = 0;
    for (size_t f = 0; f < sizeof names / sizeof names[0]; f++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/tests/face/fixtures/faceapi-%s.json", root ? root : ".", names[f]);
        FILE *fp = fopen(path, "rb");
        if (!fp) continue;
        char *text = NULL;
        size_t len = 0, cap = 0, k;
        char buf[65536];
        while ((k = fread(buf, 1, sizeof buf, fp)) > 0) {
            if (len + k + 1 > cap) {
                cap = 2 * (len + k + 1);
                text = realloc(text, cap);
                TS_ASSERT(text);
            }
            memcpy(text + len, buf, k);
            len += k;
        }
        fclose(fp);
        if (!text) continue;
        text[len] = '\0';
        cJSON *j = cJSON_Parse(text);
        free(text);
        const cJSON *W = cJSON_GetObjectItem(j, "width"), *H = cJSON_GetObjectItem(j, "height");
        const cJSON *lms = cJSON_GetObjectItem(j, "landmarks"), *lm;
        if (!cJSON_IsNumber(W) || !cJSON_IsNumber(H) || !cJSON_IsArray(lms)) {
            cJSON_Delete(j);
            continue;
        }
        cJSON_ArrayForEach(lm, lms)
        {
            const cJSON *pts = cJSON_GetObjectItem(lm, "points"), *pt;
            ts_points p = { 0 };
            cJSON_ArrayForEach(pt, pts)
            {
                if (p.n == TS_POINTS_MAX || cJSON_GetArraySize(pt) != 2) break;
                p.x[p.n] = (float)cJSON_GetArrayItem(pt, 0)->valuedouble;
                p.y[p.n] = (float)cJSON_GetArrayItem(pt, 1)->valuedouble;
                p.n++;
            }
            if (p.n != TS_LANDMARKS) continue;
            char what[64];
            snprintf(what, sizeof what, "face-api %s face %d", names[f], faces);
            amap_case(&p, W->valueint, H->valueint, what);
            faces++;
        }
        cJSON_Delete(j);
    }
    if (faces == 0) {
        printf("FAIL A(x,y): no landmark fixtures found under $TS_SOURCE_ROOT/tests/face/fixtures\n");
        failures++;
    }
}

static void run_amap(void)
{
    static const int sizes[][2] = { { 1, 1 }, { 7, 5 }, { 150, 150 }, { 300, 200 }, { 1920, 1080 } };
    static const int ks[] = { 1, 2, 68, 255 };
    static const char *kinds[] = { "random", "pixel centres and half-way", "duplicates and far points" };
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (size_t k = 0; k < sizeof ks / sizeof ks[0]; k++)
            for (int kind = 0; kind < 3; kind++) {
                if (sizes[s][0] >= 1920 && ks[k] != 68) continue; /* the CPU reference is O(WHk) */
                ts_points p;
                random_points(&p, ks[k], sizes[s][0], sizes[s][1], kind);
                amap_case(&p, sizes[s][0], sizes[s][1], kinds[kind]);
            }
    amap_fixtures();
    /* the face-level entry point takes the GPU path and gives the same map */
    ts_points p;
    random_points(&p, 68, 640, 480, 0);
    uint8_t *a = malloc(640 * 480), *b = malloc(640 * 480);
    TS_ASSERT(a && b);
    must(ts_amap_compute(&p, 640, 480, a), "ts_amap_compute");
    must(ts_amap_compute_on(gpu, gctx, &p, 640, 480, b), "ts_amap_compute_on (GPU)");
    if (memcmp(a, b, 640 * 480)) {
        printf("FAIL A(x,y): ts_amap_compute_on on the GPU differs from ts_amap_compute\n");
        failures++;
    } else {
        printf("ok   A(x,y): ts_amap_compute_on on the GPU\n");
    }
    /* and refuses what the CPU refuses */
    p.x[3] = NAN;
    if (ts_amap_compute_on(gpu, gctx, &p, 640, 480, b) != TS_ERR_ARG ||
        ts_backend_cuda_amap(gctx, p.x, p.y, p.n, 640, 480, b) != TS_ERR_ARG) {
        printf("FAIL A(x,y): a NaN landmark is not refused\n");
        failures++;
    }
    free(a);
    free(b);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
#if !TS_HAVE_CUDA
    printf("SKIP: no usable GPU (this build has no CUDA backend)\n");
    return 77;
#else
    if (getenv("TS_CUDA_TF32") && getenv("TS_CUDA_TF32")[0] == '1') {
        printf("SKIP: TS_CUDA_TF32=1 makes convolutions TF32; the tolerances here are for float32\n");
        return 77;
    }
    /* the cuDNN plans chosen, one line each on stderr, in the test log */
    setenv("TS_CUDA_VERBOSE", "1", 0);
    if (ts_backend_cuda_open(&gpu, &gctx) != TS_OK) {
        printf("SKIP: no usable GPU (%s)\n", ts_last_error());
        return 77;
    }
    cpu = ts_backend_cpu();
    ts_rng_seed(&rng, 20261123);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) run_row(&rows[i]);
    /* the convolutions again on 4-byte aligned tensors (their own plans) */
    misalign = 1;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (rows[i].op == TS_OP_CONV2D) run_row(&rows[i]);
    misalign = 0;
    run_graph();
    run_lrp();
    run_amap();
    ts_backend_cuda_close(gctx);
    if (failures) {
        printf("%d check(s) failed\n", failures);
        return 1;
    }
    printf("all CPU/GPU comparisons passed\n");
    return 0;
#endif
}
