/* test-ops.c - the op table test of the CPU backend (STYLE.md: ggml's
 * test-backend-ops).
 *
 * Every op of the ts_op enum has rows here, with several shapes each (groups,
 * depthwise, stride > 1, asymmetric padding, ceil-rounded pools with
 * padding...).  For every row, with a fixed seed:
 *   1. forward is compared with a naive reference written here from the
 *      op's definition (double accumulation):
 *          |out - ref| <= 1e-5 + 1e-4 * |ref|
 *   2. backward is compared with central finite differences of
 *      L = sum(out * R) for a random R (L summed in double):
 *          |analytic - numeric| <= 2e-3 + 2e-2 * |numeric|
 *      over every input/weight/bias element (a random sample of 400 for
 *      big tensors).  Gradient buffers start at 0.25 so that accumulation
 *      (backend.h: backward ADDS) is checked too; a second backward with
 *      din = NULL must give the same weight gradients.
 *   3. every output, aux and gradient buffer has NaN canaries (guard floats)
 *      before and after it that must stay untouched, and holds no NaN/Inf.
 * Losses (softmax and sigmoid cross-entropy) get their own finite
 * difference and stability checks.  The first mismatches are printed; any
 * mismatch fails the test.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/dropout-mask.h"
#include "nn/loss.h"

#define GUARD 16
#define FD_SAMPLES 400
#define FWD_ATOL 1e-5
#define FWD_RTOL 1e-4
#define BWD_ATOL 2e-3
#define BWD_RTOL 2e-2

static int failures;
static ts_rng rng;

/* ---- guarded buffers ---------------------------------------------------- */

typedef struct gbuf {
    float *mem;
    size_t n;
    const char *what;
} gbuf;

#define MAX_BUFS 64
static gbuf bufs[MAX_BUFS];
static int n_bufs;

static uint32_t canary_bits(size_t i) { return 0x7fc0d000u | (uint32_t)(i & 0xfff); }

static ts_tensor tensor_new(int n, int c, int h, int w, const char *what)
{
    TS_ASSERT(n_bufs < MAX_BUFS);
    size_t k = (size_t)n * c * h * w;
    float *mem = malloc((k + 2 * GUARD) * sizeof(float));
    TS_ASSERT(mem);
    for (size_t i = 0; i < GUARD; i++) {
        uint32_t b = canary_bits(i);
        memcpy(&mem[i], &b, 4);
        memcpy(&mem[GUARD + k + i], &b, 4);
    }
    for (size_t i = 0; i < k; i++) mem[GUARD + i] = 0.0f;
    bufs[n_bufs++] = (gbuf){ mem, k, what };
    return (ts_tensor){ mem + GUARD, n, c, h, w };
}

static void check_guards(const char *row)
{
    for (int b = 0; b < n_bufs; b++) {
        for (size_t i = 0; i < GUARD; i++) {
            uint32_t lo, hi;
            memcpy(&lo, &bufs[b].mem[i], 4);
            memcpy(&hi, &bufs[b].mem[GUARD + bufs[b].n + i], 4);
            if (lo != canary_bits(i) || hi != canary_bits(i)) {
                printf("FAIL %s: guard float %zu %s %s was overwritten\n", row, i,
                       lo != canary_bits(i) ? "before" : "after", bufs[b].what);
                failures++;
                return;
            }
        }
    }
}

static void free_bufs(void)
{
    for (int b = 0; b < n_bufs; b++) free(bufs[b].mem);
    n_bufs = 0;
}

static int check_finite(const char *row, const char *what, const ts_tensor *t)
{
    size_t k = ts_tensor_numel(t);
    for (size_t i = 0; i < k; i++)
        if (!isfinite(t->data[i])) {
            printf("FAIL %s: %s[%zu] = %g is not finite\n", row, what, i, t->data[i]);
            failures++;
            return 0;
        }
    return 1;
}

static void fill_uniform(ts_tensor *t, float lo, float hi)
{
    size_t k = ts_tensor_numel(t);
    for (size_t i = 0; i < k; i++) t->data[i] = lo + (hi - lo) * ts_rng_uniform(&rng);
}

/* Values in +-[0.1, 1.1] (relu kinks stay far from the finite difference
 * step) or, for max pooling, a shuffled ladder with steps of 0.02 (no two
 * candidates of a window within 2*eps of each other). */
static void fill_away_from_zero(ts_tensor *t)
{
    size_t k = ts_tensor_numel(t);
    for (size_t i = 0; i < k; i++) {
        float v = 0.1f + ts_rng_uniform(&rng);
        t->data[i] = ts_rng_uniform(&rng) < 0.5f ? -v : v;
    }
}

static void fill_ladder(ts_tensor *t)
{
    size_t k = ts_tensor_numel(t);
    for (size_t i = 0; i < k; i++) t->data[i] = (float)i * 0.02f - 0.01f * (float)k;
    for (size_t i = k; i > 1; i--) {
        size_t j = ts_rng_next(&rng) % i;
        float tmp = t->data[i - 1];
        t->data[i - 1] = t->data[j];
        t->data[j] = tmp;
    }
}

/* ---- op rows ------------------------------------------------------------ */

typedef struct row {
    const char *name;
    ts_node node;
    int n_in;
    int in[TS_MAX_INPUTS][4];
    int training;
    int expect_h, expect_w; /* hand-computed output size (0 = not given) */
    int fd_samples;         /* finite-difference elements per tensor (0 = FD_SAMPLES) */
} row;

static ts_node node_of(ts_op op)
{
    ts_node n;
    memset(&n, 0, sizeof n);
    n.op = op;
    n.stride = 1;
    n.groups = 1;
    n.has_bias = 1;
    n.lrn_size = 5;
    n.lrn_alpha = 1e-4f;
    n.lrn_beta = 0.75f;
    n.lrn_k = 1.0f;
    n.p = 0.5f;
    n.slope = 0.01f;
    return n;
}

/* Output sizes written again from the definitions (graph.h and Caffe). */
static int ref_conv_out(int in, int k, int s, int p0, int p1) { return (in + p0 + p1 - k) / s + 1; }

static int ref_pool_out(int in, int k, int s, int p0, int p1, int floor_mode)
{
    double span = in + p0 + p1 - k;
    int out = (floor_mode ? (int)floor(span / s) : (int)ceil(span / s)) + 1;
    if (!floor_mode && (p0 || p1) && (out - 1) * s >= in + p0) out--;
    return out;
}

static void out_shape(const row *r, int *c, int *h, int *w)
{
    const ts_node *n = &r->node;
    int C = r->in[0][1], H = r->in[0][2], W = r->in[0][3];
    switch (n->op) {
    case TS_OP_CONV2D:
        *c = n->out_c;
        *h = ref_conv_out(H, n->kh, n->stride, n->pad_t, n->pad_b);
        *w = ref_conv_out(W, n->kw, n->stride, n->pad_l, n->pad_r);
        return;
    case TS_OP_MAXPOOL:
    case TS_OP_AVGPOOL:
        *c = C;
        if (n->global) {
            *h = *w = 1;
            return;
        }
        *h = ref_pool_out(H, n->kh, n->stride, n->pad_t, n->pad_b, n->pool_floor);
        *w = ref_pool_out(W, n->kw, n->stride, n->pad_l, n->pad_r, n->pool_floor);
        return;
    case TS_OP_FC:
        *c = n->out_c;
        *h = *w = 1;
        return;
    case TS_OP_CONCAT:
        *c = 0;
        for (int i = 0; i < r->n_in; i++) *c += r->in[i][1];
        *h = H;
        *w = W;
        return;
    default:
        *c = C;
        *h = H;
        *w = W;
    }
}

/* ---- naive references --------------------------------------------------- */

static void ref_forward(const ts_op_args *a, float *ref)
{
    const ts_node *nd = a->node;
    const ts_tensor *x = a->in[0], *y = a->out;
    int N = y->n, C = y->c, OH = y->h, OW = y->w;
    switch (nd->op) {
    case TS_OP_CONV2D: {
        int Cg = x->c / nd->groups, Og = C / nd->groups;
        for (int n = 0; n < N; n++)
            for (int o = 0; o < C; o++)
                for (int oy = 0; oy < OH; oy++)
                    for (int ox = 0; ox < OW; ox++) {
                        double s = nd->has_bias ? a->bias->data[o] : 0.0;
                        int g = o / Og;
                        for (int cl = 0; cl < Cg; cl++)
                            for (int ky = 0; ky < nd->kh; ky++)
                                for (int kx = 0; kx < nd->kw; kx++) {
                                    int iy = oy * nd->stride - nd->pad_t + ky;
                                    int ix = ox * nd->stride - nd->pad_l + kx;
                                    if (iy < 0 || iy >= x->h || ix < 0 || ix >= x->w) continue;
                                    s += (double)TS_AT(x, n, g * Cg + cl, iy, ix) *
                                         TS_AT(a->weight, o, cl, ky, kx);
                                }
                        ref[(((size_t)n * C + o) * OH + oy) * OW + ox] = (float)s;
                    }
        return;
    }
    case TS_OP_RELU:
    case TS_OP_LEAKY_RELU:
        for (size_t i = 0; i < ts_tensor_numel(y); i++) {
            float v = x->data[i];
            ref[i] = v > 0 ? v : (nd->op == TS_OP_RELU ? 0.0f : nd->slope * v);
        }
        return;
    case TS_OP_LRN: {
        int half = nd->lrn_size / 2;
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++)
                for (int yy = 0; yy < OH; yy++)
                    for (int xx = 0; xx < OW; xx++) {
                        double s = 0;
                        for (int cc = c - half; cc <= c + half; cc++)
                            if (cc >= 0 && cc < C) s += (double)TS_AT(x, n, cc, yy, xx) * TS_AT(x, n, cc, yy, xx);
                        double scale = nd->lrn_k + nd->lrn_alpha / nd->lrn_size * s;
                        ref[(((size_t)n * C + c) * OH + yy) * OW + xx] =
                            (float)(TS_AT(x, n, c, yy, xx) * pow(scale, -nd->lrn_beta));
                    }
        return;
    }
    case TS_OP_MAXPOOL:
    case TS_OP_AVGPOOL: {
        int kh = nd->global ? x->h : nd->kh, kw = nd->global ? x->w : nd->kw;
        int s = nd->global ? 1 : nd->stride;
        int pt = nd->global ? 0 : nd->pad_t, pl = nd->global ? 0 : nd->pad_l;
        int pb = nd->global ? 0 : nd->pad_b, pr = nd->global ? 0 : nd->pad_r;
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++)
                for (int oy = 0; oy < OH; oy++)
                    for (int ox = 0; ox < OW; ox++) {
                        double m = -INFINITY, sum = 0;
                        int cells = 0, seen = 0;
                        for (int ky = 0; ky < kh; ky++)
                            for (int kx = 0; kx < kw; kx++) {
                                int iy = oy * s - pt + ky, ix = ox * s - pl + kx;
                                /* Caffe's divisor: cells inside the padded image */
                                if (iy < x->h + pb && ix < x->w + pr) cells++;
                                if (iy < 0 || iy >= x->h || ix < 0 || ix >= x->w) continue;
                                double v = TS_AT(x, n, c, iy, ix);
                                m = v > m ? v : m;
                                sum += v;
                                seen++;
                            }
                        double v = nd->op == TS_OP_MAXPOOL ? (seen ? m : 0.0) : (cells ? sum / cells : 0.0);
                        ref[(((size_t)n * C + c) * OH + oy) * OW + ox] = (float)v;
                    }
        return;
    }
    case TS_OP_FC: {
        int K = x->c * x->h * x->w;
        for (int n = 0; n < N; n++)
            for (int o = 0; o < C; o++) {
                double s = nd->has_bias ? a->bias->data[o] : 0.0;
                for (int k = 0; k < K; k++) s += (double)x->data[(size_t)n * K + k] * a->weight->data[(size_t)o * K + k];
                ref[(size_t)n * C + o] = (float)s;
            }
        return;
    }
    case TS_OP_DROPOUT:
        for (size_t i = 0; i < ts_tensor_numel(y); i++) {
            float v = x->data[i];
            if (a->training && nd->p > 0)
                v = ts_dropout_keep(a->seed, i, nd->p) ? v / (1.0f - nd->p) : 0.0f;
            ref[i] = v;
        }
        return;
    case TS_OP_CONCAT: {
        int c0 = 0;
        for (int i = 0; i < a->n_in; i++) {
            const ts_tensor *t = a->in[i];
            for (int n = 0; n < N; n++)
                for (int c = 0; c < t->c; c++)
                    for (int p = 0; p < OH * OW; p++)
                        ref[((size_t)n * C + c0 + c) * OH * OW + p] = t->data[((size_t)n * t->c + c) * OH * OW + p];
            c0 += t->c;
        }
        return;
    }
    case TS_OP_ADD:
        for (size_t k = 0; k < ts_tensor_numel(y); k++) {
            double s = 0;
            for (int i = 0; i < a->n_in; i++) s += a->in[i]->data[k];
            ref[k] = (float)s;
        }
        return;
    default:
        TS_ASSERT(!"no reference for this op");
    }
}

/* ---- the row runner ----------------------------------------------------- */

static double loss_of(const ts_tensor *out, const float *R)
{
    double s = 0;
    for (size_t i = 0; i < ts_tensor_numel(out); i++) s += (double)out->data[i] * R[i];
    return s;
}

static int compare(const char *row, const char *what, const float *got, const float *want, size_t n,
                   const size_t *idx, double atol, double rtol)
{
    int bad = 0;
    double worst = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = idx ? idx[k] : k;
        double d = fabs((double)got[k] - want[k]), lim = atol + rtol * fabs(want[k]);
        if (!(d <= lim)) {
            if (bad < 5)
                printf("  %s %s[%zu]: got %.7g want %.7g (|diff| %.3g > %.3g)\n", row, what, i,
                       got[k], want[k], d, lim);
            bad++;
        }
        if (d > worst) worst = d;
    }
    if (bad) {
        printf("FAIL %s: %s: %d of %zu values out of tolerance\n", row, what, bad, n);
        failures++;
    }
    return bad;
}

/* Finite differences of L = sum(out*R) with respect to every (or a sample
 * of the) element(s) of `t`, compared with the analytic gradient `g` (which
 * started at 0.25). */
static void check_grad(const char *rowname, const char *what, const ts_op_args *a, ts_tensor *t,
                       const ts_tensor *g, const float *R, float eps, size_t samples)
{
    const ts_backend *be = ts_backend_cpu();
    size_t k = ts_tensor_numel(t), n = k < samples ? k : samples;
    size_t *idx = malloc(n * sizeof *idx);
    float *num = malloc(n * sizeof *num), *ana = malloc(n * sizeof *ana);
    for (size_t j = 0; j < n; j++) {
        size_t i = k <= samples ? j : ts_rng_next(&rng) % k;
        idx[j] = i;
        float keep = t->data[i];
        t->data[i] = keep + eps;
        TS_ASSERT(be->forward(NULL, a) == TS_OK);
        double lp = loss_of(a->out, R);
        t->data[i] = keep - eps;
        TS_ASSERT(be->forward(NULL, a) == TS_OK);
        double lm = loss_of(a->out, R);
        t->data[i] = keep;
        num[j] = (float)((lp - lm) / (2.0 * eps));
        ana[j] = g->data[i] - 0.25f;
    }
    compare(rowname, what, ana, num, n, idx, BWD_ATOL, BWD_RTOL);
    free(idx);
    free(num);
    free(ana);
}

static void run_row(const row *r)
{
    const ts_backend *be = ts_backend_cpu();
    ts_node node = r->node;
    snprintf(node.name, sizeof node.name, "%s", r->name);
    ts_op_args a;
    memset(&a, 0, sizeof a);
    a.node = &node;
    a.n_in = r->n_in;
    a.training = r->training;
    a.seed = 0x5eed1234u;

    ts_tensor in[TS_MAX_INPUTS], din[TS_MAX_INPUTS];
    for (int i = 0; i < r->n_in; i++) {
        in[i] = tensor_new(r->in[i][0], r->in[i][1], r->in[i][2], r->in[i][3], "input");
        din[i] = tensor_new(r->in[i][0], r->in[i][1], r->in[i][2], r->in[i][3], "din");
        if (node.op == TS_OP_MAXPOOL) fill_ladder(&in[i]);
        else if (node.op == TS_OP_RELU || node.op == TS_OP_LEAKY_RELU) fill_away_from_zero(&in[i]);
        else if (node.op == TS_OP_LRN) fill_uniform(&in[i], -8.0f, 8.0f); /* make the scale matter */
        else fill_uniform(&in[i], -1.0f, 1.0f);
        a.in[i] = &in[i];
        a.din[i] = &din[i];
    }
    int oc, oh, ow;
    out_shape(r, &oc, &oh, &ow);
    if (r->expect_h && (oh != r->expect_h || ow != r->expect_w)) {
        printf("FAIL %s: reference output size %dx%d, hand-computed %dx%d\n", r->name, oh, ow,
               r->expect_h, r->expect_w);
        failures++;
    }
    int N = r->in[0][0];
    ts_tensor out = tensor_new(N, oc, oh, ow, "out");
    ts_tensor dout = tensor_new(N, oc, oh, ow, "dout");
    ts_tensor aux = tensor_new(N, oc, oh, ow, "aux");
    a.out = &out;
    a.dout = &dout;
    a.aux = &aux;
    ts_tensor w = { 0 }, b = { 0 }, dw = { 0 }, db = { 0 };
    if (node.op == TS_OP_CONV2D || node.op == TS_OP_FC) {
        int C = r->in[0][1];
        if (node.op == TS_OP_CONV2D) {
            w = tensor_new(oc, C / node.groups, node.kh, node.kw, "weight");
            dw = tensor_new(oc, C / node.groups, node.kh, node.kw, "dweight");
        } else {
            int K = C * r->in[0][2] * r->in[0][3];
            w = tensor_new(oc, K, 1, 1, "weight");
            dw = tensor_new(oc, K, 1, 1, "dweight");
        }
        fill_uniform(&w, -0.5f, 0.5f);
        a.weight = &w;
        a.dweight = &dw;
        if (node.has_bias) {
            b = tensor_new(1, oc, 1, 1, "bias");
            db = tensor_new(1, oc, 1, 1, "dbias");
            fill_uniform(&b, -0.5f, 0.5f);
            a.bias = &b;
            a.dbias = &db;
        }
    }

    /* 1. forward against the reference */
    ts_status st = be->forward(NULL, &a);
    if (st != TS_OK) {
        printf("FAIL %s: forward: %s\n", r->name, ts_last_error());
        failures++;
        free_bufs();
        return;
    }
    float *ref = malloc(ts_tensor_numel(&out) * sizeof(float));
    ref_forward(&a, ref);
    check_finite(r->name, "out", &out);
    compare(r->name, "forward", out.data, ref, ts_tensor_numel(&out), NULL, FWD_ATOL, FWD_RTOL);
    free(ref);

    /* 2. backward, accumulating onto 0.25 */
    float *R = malloc(ts_tensor_numel(&out) * sizeof(float));
    for (size_t i = 0; i < ts_tensor_numel(&out); i++) R[i] = ts_rng_uniform(&rng) * 2.0f - 1.0f;
    memcpy(dout.data, R, ts_tensor_numel(&out) * sizeof(float));
    for (int i = 0; i < r->n_in; i++)
        for (size_t k = 0; k < ts_tensor_numel(&din[i]); k++) din[i].data[k] = 0.25f;
    for (size_t k = 0; k < ts_tensor_numel(&dw); k++) dw.data[k] = 0.25f;
    for (size_t k = 0; k < ts_tensor_numel(&db); k++) db.data[k] = 0.25f;
    st = be->backward(NULL, &a);
    if (st != TS_OK) {
        printf("FAIL %s: backward: %s\n", r->name, ts_last_error());
        failures++;
        free(R);
        free_bufs();
        return;
    }
    for (int i = 0; i < r->n_in; i++) check_finite(r->name, "din", &din[i]);
    if (dw.data) check_finite(r->name, "dweight", &dw);
    if (db.data) check_finite(r->name, "dbias", &db);

    /* A second backward without input gradients: same weight gradients. */
    if (dw.data) {
        size_t kw = ts_tensor_numel(&dw), kb = ts_tensor_numel(&db);
        float *keep_w = malloc(kw * sizeof(float)), *keep_b = malloc((kb ? kb : 1) * sizeof(float));
        memcpy(keep_w, dw.data, kw * sizeof(float));
        if (kb) memcpy(keep_b, db.data, kb * sizeof(float));
        for (size_t k = 0; k < kw; k++) dw.data[k] = 0.25f;
        for (size_t k = 0; k < kb; k++) db.data[k] = 0.25f;
        ts_op_args a2 = a;
        a2.din[0] = NULL;
        TS_ASSERT(be->backward(NULL, &a2) == TS_OK);
        compare(r->name, "dweight (din=NULL)", dw.data, keep_w, kw, NULL, 1e-6, 1e-5);
        if (kb) compare(r->name, "dbias (din=NULL)", db.data, keep_b, kb, NULL, 1e-6, 1e-5);
        memcpy(dw.data, keep_w, kw * sizeof(float));
        if (kb) memcpy(db.data, keep_b, kb * sizeof(float));
        free(keep_w);
        free(keep_b);
    }

    /* Finite differences.  Piecewise-linear ops use a small step (their
     * inputs keep away from kinks), smooth ones a larger step for less
     * rounding noise. */
    float eps = (node.op == TS_OP_MAXPOOL || node.op == TS_OP_RELU || node.op == TS_OP_LEAKY_RELU) ? 1e-3f : 1e-2f;
    if (node.op == TS_OP_LRN) eps = 2e-2f;
    size_t fd = r->fd_samples ? (size_t)r->fd_samples : FD_SAMPLES;
    for (int i = 0; i < r->n_in; i++) check_grad(r->name, "din", &a, &in[i], &din[i], R, eps, fd);
    if (w.data) check_grad(r->name, "dweight", &a, &w, &dw, R, eps, fd);
    if (b.data) check_grad(r->name, "dbias", &a, &b, &db, R, eps, fd);

    check_guards(r->name);
    free(R);
    free_bufs();
}

/* ---- losses ------------------------------------------------------------- */

static void check_losses(void)
{
    enum { N = 4, K = 5 };
    float zbuf[N * K], dbuf[N * K], tbuf[N * K];
    ts_tensor z = { zbuf, N, K, 1, 1 }, d = { dbuf, N, K, 1, 1 }, t = { tbuf, N, K, 1, 1 };
    int labels[N] = { 0, 3, 4, 1 };
    for (int i = 0; i < N * K; i++) {
        zbuf[i] = ts_rng_uniform(&rng) * 6.0f - 3.0f;
        tbuf[i] = (float)(ts_rng_next(&rng) % 2);
    }
    tbuf[3] = 0.3f; /* soft targets are allowed */
    float loss, lp, lm, num[N * K], ana[N * K];
    const float eps = 1e-2f;

    /* softmax cross-entropy */
    TS_ASSERT(ts_loss_softmax_xent(&z, labels, &loss, &d) == TS_OK);
    memcpy(ana, dbuf, sizeof ana);
    for (int i = 0; i < N * K; i++) {
        float keep = zbuf[i];
        zbuf[i] = keep + eps;
        ts_loss_softmax_xent(&z, labels, &lp, NULL);
        zbuf[i] = keep - eps;
        ts_loss_softmax_xent(&z, labels, &lm, NULL);
        zbuf[i] = keep;
        num[i] = (lp - lm) / (2 * eps);
    }
    compare("softmax_xent", "dlogits", ana, num, N * K, NULL, 2e-4, 1e-2);
    double want = 0;
    for (int i = 0; i < N; i++) {
        double s = 0;
        for (int k = 0; k < K; k++) s += exp(zbuf[i * K + k]);
        want += log(s) - zbuf[i * K + labels[i]];
    }
    compare("softmax_xent", "loss", &loss, (float[]){ (float)(want / N) }, 1, NULL, 1e-6, 1e-5);

    /* sigmoid cross-entropy (mean over N*K) */
    TS_ASSERT(ts_loss_sigmoid_xent(&z, &t, &loss, &d) == TS_OK);
    memcpy(ana, dbuf, sizeof ana);
    for (int i = 0; i < N * K; i++) {
        float keep = zbuf[i];
        zbuf[i] = keep + eps;
        ts_loss_sigmoid_xent(&z, &t, &lp, NULL);
        zbuf[i] = keep - eps;
        ts_loss_sigmoid_xent(&z, &t, &lm, NULL);
        zbuf[i] = keep;
        num[i] = (lp - lm) / (2 * eps);
    }
    compare("sigmoid_xent", "dlogits", ana, num, N * K, NULL, 2e-4, 1e-2);
    want = 0;
    for (int i = 0; i < N * K; i++) {
        double s = 1 / (1 + exp(-(double)zbuf[i]));
        want -= tbuf[i] * log(s) + (1 - tbuf[i]) * log(1 - s);
    }
    compare("sigmoid_xent", "loss", &loss, (float[]){ (float)(want / (N * K)) }, 1, NULL, 1e-6, 1e-5);

    /* Stability: huge logits give finite losses and gradients. */
    float big[2 * 3] = { 1e4f, -1e4f, 0.0f, -3e4f, 3e4f, 2e4f };
    float dbig[6], tb[6] = { 0, 1, 1, 1, 0, 1 };
    ts_tensor zb = { big, 2, 3, 1, 1 }, dbt = { dbig, 2, 3, 1, 1 }, tbt = { tb, 2, 3, 1, 1 };
    int lb[2] = { 1, 0 };
    TS_ASSERT(ts_loss_softmax_xent(&zb, lb, &loss, &dbt) == TS_OK);
    if (!isfinite(loss) || fabsf(loss - 4e4f) > 1.0f) {
        printf("FAIL softmax_xent: loss %g for huge logits, want 40000\n", loss);
        failures++;
    }
    check_finite("softmax_xent", "dlogits (huge)", &dbt);
    TS_ASSERT(ts_loss_sigmoid_xent(&zb, &tbt, &loss, &dbt) == TS_OK);
    if (!isfinite(loss)) {
        printf("FAIL sigmoid_xent: loss %g for huge logits\n", loss);
        failures++;
    }
    check_finite("sigmoid_xent", "dlogits (huge)", &dbt);
    ts_softmax(&zb, &dbt);
    check_finite("softmax", "probs (huge)", &dbt);
    if (fabsf(dbig[0] - 1.0f) > 1e-6f || fabsf(dbig[4] - 1.0f) > 1e-6f) {
        printf("FAIL softmax: probs %g %g, want 1 1\n", dbig[0], dbig[4]);
        failures++;
    }

    /* Bad labels and targets are refused, not crashed on. */
    int badl[N] = { 0, 5, 1, 1 };
    if (ts_loss_softmax_xent(&z, badl, &loss, NULL) != TS_ERR_ARG) {
        printf("FAIL softmax_xent: label 5 of 5 classes accepted\n");
        failures++;
    }
    tbuf[2] = 1.5f;
    if (ts_loss_sigmoid_xent(&z, &t, &loss, NULL) != TS_ERR_ARG) {
        printf("FAIL sigmoid_xent: target 1.5 accepted\n");
        failures++;
    }
}

/* Dropout statistics and the eval identity on a larger tensor. */
static void check_dropout_stats(void)
{
    const ts_backend *be = ts_backend_cpu();
    ts_node node = node_of(TS_OP_DROPOUT);
    snprintf(node.name, sizeof node.name, "dropout-stats");
    node.p = 0.3f;
    ts_tensor x = tensor_new(4, 50, 25, 20, "input"), y = tensor_new(4, 50, 25, 20, "out");
    ts_tensor m = tensor_new(4, 50, 25, 20, "aux");
    for (size_t i = 0; i < ts_tensor_numel(&x); i++) x.data[i] = 1.0f;
    ts_op_args a = { .node = &node, .n_in = 1, .in = { &x }, .out = &y, .aux = &m, .training = true, .seed = 42 };
    TS_ASSERT(be->forward(NULL, &a) == TS_OK);
    size_t kept = 0, n = ts_tensor_numel(&y);
    for (size_t i = 0; i < n; i++) kept += y.data[i] != 0.0f;
    double frac = (double)kept / n;
    if (fabs(frac - 0.7) > 0.01) {
        printf("FAIL dropout: kept %.4f of units with p=0.3\n", frac);
        failures++;
    }
    float first = y.data[0];
    a.seed = 43;
    TS_ASSERT(be->forward(NULL, &a) == TS_OK);
    size_t same = 0;
    for (size_t i = 0; i < n; i++) same += (y.data[i] != 0.0f) == ((m.data[i]) != 0.0f);
    if (same != n) {
        printf("FAIL dropout: mask and output disagree\n");
        failures++;
    }
    (void)first;
    a.training = false;
    TS_ASSERT(be->forward(NULL, &a) == TS_OK);
    for (size_t i = 0; i < n; i++)
        if (y.data[i] != 1.0f) {
            printf("FAIL dropout: eval mode is not the identity at %zu\n", i);
            failures++;
            break;
        }
    check_guards("dropout-stats");
    free_bufs();
}

/* A wrong output shape is an error with a message, not a crash. */
static void check_shape_errors(void)
{
    const ts_backend *be = ts_backend_cpu();
    ts_node node = node_of(TS_OP_CONV2D);
    snprintf(node.name, sizeof node.name, "conv-bad");
    node.out_c = 4;
    node.kh = node.kw = 3;
    node.has_bias = 0;
    ts_tensor x = tensor_new(1, 3, 8, 8, "input"), y = tensor_new(1, 4, 7, 7, "out");
    ts_tensor w = tensor_new(4, 3, 3, 3, "weight");
    ts_op_args a = { .node = &node, .n_in = 1, .in = { &x }, .out = &y, .weight = &w };
    if (be->forward(NULL, &a) != TS_ERR_SHAPE || !strstr(ts_last_error(), "conv-bad")) {
        printf("FAIL conv-bad: a 7x7 output for a 6x6 convolution was accepted (%s)\n", ts_last_error());
        failures++;
    }
    node = node_of(TS_OP_MAXPOOL);
    snprintf(node.name, sizeof node.name, "pool-bad");
    node.kh = node.kw = 3;
    node.stride = 2;
    ts_tensor py = tensor_new(1, 3, 3, 3, "out"); /* 8x8 k3 s2 ceil -> 4x4 */
    ts_op_args p = { .node = &node, .n_in = 1, .in = { &x }, .out = &py };
    if (be->forward(NULL, &p) != TS_ERR_SHAPE) {
        printf("FAIL pool-bad: a 3x3 output for an 8x8 ceil pool was accepted\n");
        failures++;
    }
    free_bufs();
}

int main(void)
{
    ts_rng_seed(&rng, 20240611);
    ts_cpu_set_threads(2);
    static row rows[64];
    int n = 0;
    ts_node t;

#define ROW(nm, nd, ...) (rows[n++] = (row){ .name = nm, .node = nd, __VA_ARGS__ })
    /* conv2d */
    t = node_of(TS_OP_CONV2D); t.out_c = 4; t.kh = t.kw = 3; t.pad_t = t.pad_b = t.pad_l = t.pad_r = 1;
    ROW("conv2d-pad1", t, .n_in = 1, .in = { { 2, 3, 5, 6 } }, .expect_h = 5, .expect_w = 6);
    t = node_of(TS_OP_CONV2D); t.out_c = 6; t.kh = t.kw = 3; t.stride = 2; t.groups = 2;
    ROW("conv2d-groups2-s2", t, .n_in = 1, .in = { { 2, 4, 7, 7 } }, .expect_h = 3, .expect_w = 3);
    t = node_of(TS_OP_CONV2D); t.out_c = 3; t.kh = t.kw = 3; t.groups = 3; t.has_bias = 0;
    t.pad_t = t.pad_b = t.pad_l = t.pad_r = 1;
    ROW("conv2d-depthwise", t, .n_in = 1, .in = { { 2, 3, 6, 6 } });
    t = node_of(TS_OP_CONV2D); t.out_c = 6; t.kh = t.kw = 3; t.groups = 3; t.stride = 2;
    ROW("conv2d-depthwise-x2", t, .n_in = 1, .in = { { 1, 3, 7, 6 } });
    t = node_of(TS_OP_CONV2D); t.out_c = 3; t.kh = 3; t.kw = 2; t.stride = 2;
    t.pad_t = 0; t.pad_b = 2; t.pad_l = 1; t.pad_r = 0;
    ROW("conv2d-asym-pad", t, .n_in = 1, .in = { { 1, 2, 6, 5 } }, .expect_h = 3, .expect_w = 3);
    t = node_of(TS_OP_CONV2D); t.out_c = 5; t.kh = t.kw = 1;
    ROW("conv2d-1x1", t, .n_in = 1, .in = { { 3, 4, 4, 4 } });
    t = node_of(TS_OP_CONV2D); t.out_c = 4; t.kh = t.kw = 1; t.groups = 2; t.has_bias = 0;
    ROW("conv2d-1x1-groups2", t, .n_in = 1, .in = { { 2, 4, 3, 5 } });
    t = node_of(TS_OP_CONV2D); t.out_c = 2; t.kh = t.kw = 5; t.stride = 3;
    t.pad_t = t.pad_b = t.pad_l = t.pad_r = 2;
    ROW("conv2d-k5-s3", t, .n_in = 1, .in = { { 2, 2, 9, 9 } }, .expect_h = 3, .expect_w = 3);
    t = node_of(TS_OP_CONV2D); t.out_c = 8; t.kh = t.kw = 11; t.stride = 4;
    ROW("conv2d-alexnet1", t, .n_in = 1, .in = { { 2, 3, 23, 23 } }, .expect_h = 4, .expect_w = 4);
    /* big enough that the column matrix is split into chunks of samples */
    t = node_of(TS_OP_CONV2D); t.out_c = 4; t.kh = t.kw = 5; t.pad_t = t.pad_b = t.pad_l = t.pad_r = 2;
    ROW("conv2d-chunked", t, .n_in = 1, .in = { { 12, 16, 32, 32 } }, .fd_samples = 48);

    /* activations */
    t = node_of(TS_OP_RELU);
    ROW("relu", t, .n_in = 1, .in = { { 2, 3, 4, 5 } });
    t = node_of(TS_OP_LEAKY_RELU); t.slope = 0.1f;
    ROW("leaky_relu", t, .n_in = 1, .in = { { 2, 3, 4, 5 } });

    /* lrn */
    t = node_of(TS_OP_LRN); t.lrn_alpha = 1e-2f;
    ROW("lrn-5", t, .n_in = 1, .in = { { 2, 7, 3, 4 } });
    t = node_of(TS_OP_LRN); t.lrn_size = 3; t.lrn_alpha = 5e-2f; t.lrn_beta = 0.6f; t.lrn_k = 2.0f;
    ROW("lrn-3-beta0.6", t, .n_in = 1, .in = { { 1, 2, 5, 5 } });
    t = node_of(TS_OP_LRN); t.lrn_size = 7; t.lrn_alpha = 1e-1f;
    ROW("lrn-7-wide", t, .n_in = 1, .in = { { 1, 4, 17, 17 } });

    /* pools */
    for (int op = TS_OP_MAXPOOL; op <= TS_OP_AVGPOOL; op++) {
        int mx = op == TS_OP_MAXPOOL;
        t = node_of((ts_op)op); t.kh = t.kw = 3; t.stride = 2;
        ROW(mx ? "maxpool-ceil" : "avgpool-ceil", t, .n_in = 1, .in = { { 2, 2, 8, 8 } }, .expect_h = 4, .expect_w = 4);
        t = node_of((ts_op)op); t.kh = t.kw = 3; t.stride = 2;
        ROW(mx ? "maxpool-alexnet" : "avgpool-alexnet", t, .n_in = 1, .in = { { 1, 2, 35, 35 } }, .expect_h = 17, .expect_w = 17);
        t = node_of((ts_op)op); t.kh = t.kw = 3; t.stride = 2; t.pad_t = t.pad_b = t.pad_l = t.pad_r = 1;
        ROW(mx ? "maxpool-ceil-pad1" : "avgpool-ceil-pad1", t, .n_in = 1, .in = { { 2, 2, 6, 6 } }, .expect_h = 4, .expect_w = 4);
        /* 5x5 k2 s2 pad1: ceil(4/2)+1 = 3, but the last window would start at
         * 4 >= 5+1? no; 7x7 pad 1: ceil(6/2)+1 = 4, start 6 >= 8? no;
         * 4x4 k2 s2 pad1: ceil(4/2)+1 = 3, start 4 >= 5? no. With 3x3, k3 s2
         * pad 2: ceil(4/2)+1 = 3, start 4 >= 3+2: no -> 3; k2 s2 pad 1 on
         * 3x3: ceil(3/2)+1 = 3, start 4 >= 4: yes -> 2 (the Caffe rule). */
        t = node_of((ts_op)op); t.kh = t.kw = 2; t.stride = 2; t.pad_t = t.pad_b = t.pad_l = t.pad_r = 1;
        ROW(mx ? "maxpool-caffe-drop" : "avgpool-caffe-drop", t, .n_in = 1, .in = { { 1, 2, 3, 3 } }, .expect_h = 2, .expect_w = 2);
        t = node_of((ts_op)op); t.kh = 3; t.kw = 2; t.stride = 2; t.pad_t = 2; t.pad_b = 0; t.pad_l = 0; t.pad_r = 1;
        ROW(mx ? "maxpool-asym" : "avgpool-asym", t, .n_in = 1, .in = { { 2, 2, 7, 6 } });
        t = node_of((ts_op)op); t.kh = t.kw = 3; t.stride = 2; t.pool_floor = 1;
        ROW(mx ? "maxpool-floor" : "avgpool-floor", t, .n_in = 1, .in = { { 2, 2, 8, 8 } }, .expect_h = 3, .expect_w = 3);
        t = node_of((ts_op)op); t.global = 1;
        ROW(mx ? "maxpool-global" : "avgpool-global", t, .n_in = 1, .in = { { 2, 3, 5, 4 } }, .expect_h = 1, .expect_w = 1);
        t = node_of((ts_op)op); t.kh = t.kw = 3; t.stride = 1; t.pad_t = t.pad_b = t.pad_l = t.pad_r = 1;
        ROW(mx ? "maxpool-s1-same" : "avgpool-s1-same", t, .n_in = 1, .in = { { 1, 3, 5, 5 } }, .expect_h = 5, .expect_w = 5);
    }

    /* fc */
    t = node_of(TS_OP_FC); t.out_c = 4;
    ROW("fc", t, .n_in = 1, .in = { { 3, 2, 3, 3 } });
    t = node_of(TS_OP_FC); t.out_c = 5; t.has_bias = 0;
    ROW("fc-batch1-nobias", t, .n_in = 1, .in = { { 1, 7, 1, 1 } });
    t = node_of(TS_OP_FC); t.out_c = 3;
    ROW("fc-batch1", t, .n_in = 1, .in = { { 1, 2, 2, 3 } });

    /* dropout */
    t = node_of(TS_OP_DROPOUT); t.p = 0.5f;
    ROW("dropout-train", t, .n_in = 1, .in = { { 2, 3, 4, 4 } }, .training = 1);
    t = node_of(TS_OP_DROPOUT); t.p = 0.5f;
    ROW("dropout-eval", t, .n_in = 1, .in = { { 2, 3, 4, 4 } }, .training = 0);
    t = node_of(TS_OP_DROPOUT); t.p = 0.0f;
    ROW("dropout-p0", t, .n_in = 1, .in = { { 1, 5, 2, 2 } }, .training = 1);

    /* concat, add */
    t = node_of(TS_OP_CONCAT);
    ROW("concat", t, .n_in = 3, .in = { { 2, 1, 3, 4 }, { 2, 3, 3, 4 }, { 2, 2, 3, 4 } });
    t = node_of(TS_OP_ADD);
    ROW("add", t, .n_in = 3, .in = { { 2, 3, 3, 4 }, { 2, 3, 3, 4 }, { 2, 3, 3, 4 } });
    t = node_of(TS_OP_ADD);
    ROW("add-single", t, .n_in = 2, .in = { { 1, 2, 2, 2 }, { 1, 2, 2, 2 } });
#undef ROW

    int covered[TS_OP_COUNT] = { 0 };
    for (int i = 0; i < n; i++) {
        int before = failures;
        run_row(&rows[i]);
        covered[rows[i].node.op] = 1;
        printf("%s %s\n", failures == before ? "ok  " : "FAIL", rows[i].name);
    }
    for (int op = TS_OP_CONV2D; op < TS_OP_COUNT; op++)
        if (!covered[op]) {
            printf("FAIL: op %s has no row in the op table\n", ts_op_name((ts_op)op));
            failures++;
        }
    check_losses();
    check_dropout_stats();
    check_shape_errors();
    printf("%d rows, %d failures\n", n, failures);
    return failures ? 1 : 0;
}
