/* test-ops.c - THE op table (issue 14, finding 6; STYLE.md: ggml's
 * test-backend-ops): one list of cases, every op x {forward, backward, LRP
 * step}, plus the other entries of the backend table (the LRP building
 * blocks, SGD, softmax, A(x,y)), run against one backend per invocation:
 *
 *     test-ops [--backend cpu|cuda]
 *
 * The CPU is the reference.  With --backend cpu (the default; runs in CI)
 * every row is checked against a naive implementation written here from
 * the op's definition (double accumulation), and backward against central
 * finite differences of L = sum(out * R):
 *     forward, relevance, LRP steps  |got - ref| <= 1e-5 + 1e-4 * |ref|
 *     backward vs finite differences |analytic - numeric| <= 2e-3 + 2e-2 * |numeric|
 * (over every element, or a random sample of 400 for big tensors).  With
 * --backend cuda the same rows run on the GPU and on the CPU backend with
 * the same data, and the GPU must match the CPU:
 *     forward, softmax               |gpu - cpu| <= 1e-4 + 1e-3 * |cpu|
 *     backward, SGD                  |gpu - cpu| <= 1e-3 + 2e-3 * |cpu|
 *     LRP (steps and whole nets)     |gpu - cpu| <= 1e-4 * max|cpu| + 2e-3 * |cpu|
 *     maxpool argmax, dropout mask, A(x,y), lrp split/square/fill: exact
 * (float32 everywhere; the GPU sums in another order.  TS_CUDA_TF32 must
 * be unset.)  The convolutions run twice on the GPU, on 16-byte and on
 * 4-byte aligned tensors (cuDNN plans are made per alignment).
 *
 * Every gradient and relevance buffer starts at 0.25, so that accumulation
 * (backend.h: backward and LRP ADD) is checked too; every tensor has NaN
 * canaries (guard floats) on both sides that must survive, and no result
 * may hold NaN or Inf.  Malformed arguments (pool pads >= kernel, bad LRN
 * parameters, wrong output sizes) must be TS_ERR_SHAPE on every backend
 * (finding 8).
 *
 * Reporting (finding 5): every row prints "ok", "FAIL" or "UNSUPPORTED"
 * (an entry the backend does not provide, or TS_ERR_UNSUPPORTED), a failed
 * step does not stop the rows after it, and the summary line counts all
 * three; any FAIL fails the test.  --backend cuda exits 77 (skip) only when
 * there is no GPU at all (ts_gpu_present: the driver sees none); with a GPU,
 * failing to open or load the CUDA backend is a failure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "face/amap-device.h"
#include "face/amap.h"
#include "backend/backend.h"
#include "backend/cpu/cpu-ops.h"
#include "backend/dropout-mask.h"
#include "explain/lrp.h"
#include "nn/loss.h"
#include "train/sgd.h"
#include "ts-config.h"

#define GUARD 16
#define FD_SAMPLES 400
#define FWD_ATOL 1e-5
#define FWD_RTOL 1e-4
#define BWD_ATOL 2e-3
#define BWD_RTOL 2e-2
/* the GPU against the CPU */
#define DEV_FWD_ATOL 1e-4
#define DEV_FWD_RTOL 1e-3
#define DEV_BWD_ATOL 1e-3
#define DEV_BWD_RTOL 2e-3
#define MAX_PRINT 5

static int unsupported, checks;
static const ts_backend *cpu; /* the reference */
static const ts_backend *dev; /* the backend under test (cpu or cuda) */
static void *dctx;
static int on_cpu; /* dev is the CPU: naive references instead of the CPU backend */
static int misalign; /* device tensors 4-byte aligned (cuDNN plans per alignment) */
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

/* ReLU6: values on both kinks' sides, at least 0.1 away from 0 and clip. */
static void fill_around_clip(ts_tensor *t, float clip)
{
    size_t k = ts_tensor_numel(t);
    for (size_t i = 0; i < k; i++) {
        float v = 0.1f + (clip / 2 - 0.2f) * ts_rng_uniform(&rng); /* (0.1, clip/2 - 0.1) */
        int side = (int)(ts_rng_next(&rng) % 4);
        t->data[i] = side == 0 ? -v : side == 1 ? v : side == 2 ? clip - v : clip + v;
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
    int winograd;           /* the CPU takes Winograd wherever it can (else: where it pays) */
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
    n.bn_eps = 1e-5f;
    n.bn_momentum = 0.1f;
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

/* batchnorm: the running statistics as they were before the forward under
 * test moved them. */
static double bn_ref_mean[64], bn_ref_var[64];

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
    case TS_OP_BATCHNORM: {
        /* training: the batch's mean and biased variance; evaluation: the
         * running ones (the forward under test moved the running ones
         * already: bn_ref_stats keeps the values from before) */
        int HW = x->h * x->w;
        for (int c = 0; c < C; c++) {
            double mean = bn_ref_mean[c], var = bn_ref_var[c];
            if (a->training) {
                double s1 = 0, s2 = 0;
                for (int n = 0; n < N; n++)
                    for (int q = 0; q < HW; q++) s1 += x->data[((size_t)n * C + c) * HW + q];
                mean = s1 / ((double)N * HW);
                for (int n = 0; n < N; n++)
                    for (int q = 0; q < HW; q++) {
                        double d = x->data[((size_t)n * C + c) * HW + q] - mean;
                        s2 += d * d;
                    }
                var = s2 / ((double)N * HW);
            }
            for (int n = 0; n < N; n++)
                for (int q = 0; q < HW; q++) {
                    size_t i = ((size_t)n * C + c) * HW + q;
                    ref[i] = (float)(a->weight->data[c] * (x->data[i] - mean) / sqrt(var + nd->bn_eps) +
                                     a->bias->data[c]);
                }
        }
        return;
    }
    case TS_OP_RELU:
    case TS_OP_LEAKY_RELU:
        for (size_t i = 0; i < ts_tensor_numel(y); i++) {
            float v = x->data[i];
            ref[i] = v > 0 ? v : (nd->op == TS_OP_RELU ? 0.0f : nd->slope * v);
            if (nd->op == TS_OP_RELU && nd->clip > 0 && v > nd->clip) ref[i] = nd->clip;
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


/* ---- reporting --------------------------------------------------------------- */

static void report_ok(const char *row, const char *what, const char *detail)
{
    checks++;
    printf("ok   %s: %s%s%s\n", row, what, detail ? " " : "", detail ? detail : "");
}

static void report_fail(const char *row, const char *what, const char *msg)
{
    checks++;
    failures++;
    printf("FAIL %s: %s: %s\n", row, what, msg);
}

/* A status of a step: ok (1), or FAIL / UNSUPPORTED reported (0). */
static int step_ok(const char *row, const char *what, ts_status st)
{
    if (st == TS_OK) return 1;
    checks++;
    if (st == TS_ERR_UNSUPPORTED) {
        unsupported++;
        printf("UNSUPPORTED %s: %s: %s\n", row, what, ts_last_error());
    } else {
        failures++;
        printf("FAIL %s: %s: %s\n", row, what, ts_last_error());
    }
    return 0;
}

/* Compares got (host) with want; exact, or |got - want| <= atol + rtol |want|
 * (scale > 0: atol is scale * max |want|).  NaN/Inf in got always fail. */
static int compare(const char *row, const char *what, const float *got, const float *want, size_t n,
                   const size_t *idx, double atol, double rtol, int exact, int scale)
{
    int bad = 0;
    double worst = 0, m = 0;
    if (scale) {
        for (size_t k = 0; k < n; k++) m = fmax(m, fabs(want[k]));
        atol = atol * m + 1e-7;
    }
    for (size_t k = 0; k < n; k++) {
        size_t i = idx ? idx[k] : k;
        double d = fabs((double)got[k] - want[k]), lim = atol + rtol * fabs(want[k]);
        int fail = !isfinite(got[k]) || (exact ? memcmp(&got[k], &want[k], 4) != 0 && got[k] != want[k] : !(d <= lim));
        if (fail) {
            if (bad < MAX_PRINT)
                printf("  %s %s[%zu]: got %.8g want %.8g (|diff| %.3g > %.3g)\n", row, what, i, got[k], want[k], d,
                       exact ? 0.0 : lim);
            bad++;
        }
        if (isfinite(d) && d > worst) worst = d;
    }
    char msg[128];
    if (bad) {
        snprintf(msg, sizeof msg, "%d of %zu values out of tolerance", bad, n);
        report_fail(row, what, msg);
    } else {
        snprintf(msg, sizeof msg, "(%zu values, max |diff| %.3g)", n, worst);
        report_ok(row, what, msg);
    }
    return bad;
}

/* ---- device tensors with guards (--backend cuda) ------------------------------- */

typedef struct dbuf {
    ts_arena arena;
    size_t n, off;
    const char *what;
} dbuf;

#define MAX_DBUFS 96
static dbuf dbufs[MAX_DBUFS];
static int n_dbufs;

static uint32_t dcanary(size_t i) { return 0x7fc0e000u | (uint32_t)(i & 0xfff); }

/* A copy of host tensor h in the tested backend's memory, between canaries;
 * data NULL when that memory cannot be had (reported). */
static ts_tensor dev_copy(const char *row, const ts_tensor *h, const char *what)
{
    TS_ASSERT(n_dbufs < MAX_DBUFS);
    size_t k = ts_tensor_numel(h);
    ts_tensor t = *h;
    t.data = NULL;
    if (!h->data) return t;
    dbuf *b = &dbufs[n_dbufs];
    if (!step_ok(row, "device allocation", dev->mem.arena_init(dctx, &b->arena, k + 2 * GUARD + 1))) return t;
    n_dbufs++;
    b->n = k;
    b->off = (size_t)misalign;
    b->what = what;
    float *tmp = malloc((k + 2 * GUARD) * sizeof(float));
    TS_ASSERT(tmp);
    for (size_t i = 0; i < GUARD; i++) {
        uint32_t c = dcanary(i);
        memcpy(&tmp[i], &c, 4);
        memcpy(&tmp[GUARD + k + i], &c, 4);
    }
    memcpy(tmp + GUARD, h->data, k * sizeof(float));
    ts_status st = dev->mem.upload(dctx, b->arena.base + b->off, tmp, k + 2 * GUARD);
    free(tmp);
    if (!step_ok(row, "upload", st)) return t;
    t.data = b->arena.base + b->off + GUARD;
    return t;
}

static void check_dev_guards(const char *row)
{
    for (int i = 0; i < n_dbufs; i++) {
        dbuf *b = &dbufs[i];
        float *tmp = malloc((b->n + 2 * GUARD) * sizeof(float));
        TS_ASSERT(tmp);
        if (!step_ok(row, "download", dev->mem.download(dctx, tmp, b->arena.base + b->off, b->n + 2 * GUARD))) {
            free(tmp);
            return;
        }
        for (size_t k = 0; k < GUARD; k++) {
            uint32_t lo, hi;
            memcpy(&lo, &tmp[k], 4);
            memcpy(&hi, &tmp[GUARD + b->n + k], 4);
            if (lo != dcanary(k) || hi != dcanary(k)) {
                char msg[128];
                snprintf(msg, sizeof msg, "guard float %zu %s %s was overwritten on the device", k,
                         lo != dcanary(k) ? "before" : "after", b->what);
                report_fail(row, "guards", msg);
                break;
            }
        }
        free(tmp);
    }
}

static void free_dbufs(void)
{
    for (int i = 0; i < n_dbufs; i++) dev->mem.arena_clear(dctx, &dbufs[i].arena);
    n_dbufs = 0;
}

/* Compares the device tensor d with the host reference ref. */
static int compare_dev(const char *row, const char *what, const ts_tensor *ref, const ts_tensor *d, double atol,
                       double rtol, int exact, int scale)
{
    size_t n = ts_tensor_numel(ref);
    float *got = malloc((n ? n : 1) * sizeof(float));
    TS_ASSERT(got);
    int bad = 1;
    if (d->data && step_ok(row, "download", dev->mem.download(dctx, got, d->data, n)))
        bad = compare(row, what, got, ref->data, n, NULL, atol, rtol, exact, scale);
    free(got);
    return bad;
}

/* Re-uploads host tensor h into its device copy d (gradients reset). */
static int dev_set(const char *row, ts_tensor *d, const ts_tensor *h)
{
    if (!h->data || !d->data) return 1;
    return step_ok(row, "upload", dev->mem.upload(dctx, d->data, h->data, ts_tensor_numel(h)));
}

static void fill_const(ts_tensor *t, float v)
{
    for (size_t i = 0; i < ts_tensor_numel(t); i++) t->data[i] = v;
}

/* ---- naive references of LRP (explain/lrp.h, backend.h) ----------------------- */

/* Relevance of the fixed-rule ops from their definitions: Rin += ... */
static void ref_relevance(const ts_op_args *a, float **rin)
{
    const ts_node *nd = a->node;
    const ts_tensor *x = a->in[0], *R = a->dout;
    size_t n = ts_tensor_numel(R);
    switch (nd->op) {
    case TS_OP_BATCHNORM: {
        /* the affine map of evaluation, y = s x + t: R_in = s x / stab(y) R */
        size_t HW = (size_t)x->h * x->w;
        for (size_t i = 0; i < n; i++) {
            int c = (int)((i / HW) % (size_t)x->c);
            double sc = a->weight->data[c] / sqrt((double)a->run_var->data[c] + nd->bn_eps);
            double y = a->out->data[i], z = y + (y >= 0 ? 1e-6 : -1e-6);
            rin[0][i] += (float)(sc * x->data[i] / z * R->data[i]);
        }
        return;
    }
    case TS_OP_MAXPOOL:
    case TS_OP_AVGPOOL: {
        int kh = nd->global ? x->h : nd->kh, kw = nd->global ? x->w : nd->kw, s = nd->global ? 1 : nd->stride;
        int pt = nd->global ? 0 : nd->pad_t, pl = nd->global ? 0 : nd->pad_l;
        for (int b = 0; b < R->n; b++)
            for (int c = 0; c < R->c; c++)
                for (int oy = 0; oy < R->h; oy++)
                    for (int ox = 0; ox < R->w; ox++) {
                        float r = TS_AT(R, b, c, oy, ox);
                        double best = -INFINITY, sum = 0;
                        int by = -1, bx = -1, cells = 0;
                        for (int ky = 0; ky < kh; ky++)
                            for (int kx = 0; kx < kw; kx++) {
                                int iy = oy * s - pt + ky, ix = ox * s - pl + kx;
                                if (iy < 0 || iy >= x->h || ix < 0 || ix >= x->w) continue;
                                double v = TS_AT(x, b, c, iy, ix);
                                if (v > best) best = v, by = iy, bx = ix;
                                sum += v;
                                cells++;
                            }
                        float *Rin = rin[0] + ((size_t)b * x->c + c) * x->h * x->w;
                        if (nd->op == TS_OP_MAXPOOL) {
                            if (by >= 0) Rin[by * x->w + bx] += r;
                            continue;
                        }
                        if (!cells) continue;
                        for (int ky = 0; ky < kh; ky++)
                            for (int kx = 0; kx < kw; kx++) {
                                int iy = oy * s - pt + ky, ix = ox * s - pl + kx;
                                if (iy < 0 || iy >= x->h || ix < 0 || ix >= x->w) continue;
                                Rin[iy * x->w + ix] += fabs(sum) < 1e-12 ? r / (float)cells
                                                                        : (float)(TS_AT(x, b, c, iy, ix) / sum) * r;
                            }
                    }
        return;
    }
    case TS_OP_ADD:
        for (size_t q = 0; q < n; q++) {
            double s = 0;
            for (int k = 0; k < a->n_in; k++) s += a->in[k]->data[q];
            for (int k = 0; k < a->n_in; k++)
                rin[k][q] += fabs(s) < 1e-12 ? R->data[q] / (float)a->n_in : (float)(a->in[k]->data[q] / s) * R->data[q];
        }
        return;
    case TS_OP_CONCAT: {
        size_t hw = (size_t)R->h * R->w;
        int c0 = 0;
        for (int k = 0; k < a->n_in; k++) {
            const ts_tensor *t = a->in[k];
            for (int b = 0; b < R->n; b++)
                for (size_t q = 0; q < (size_t)t->c * hw; q++)
                    rin[k][(size_t)b * t->c * hw + q] += R->data[((size_t)b * R->c + c0) * hw + q];
            c0 += t->c;
        }
        return;
    }
    default: /* relu, leaky_relu, lrn, dropout: through */
        for (size_t q = 0; q < n; q++) rin[0][q] += R->data[q];
    }
}

/* lrp_linear's contract (backend.h) in plain loops, double sums. */
static void ref_linear(const ts_node *nd, int n, int c, int h, int w, const ts_lrp_term *t, int nt, const float *bias,
                       const float *z_fwd, bool use_eps, float eps, float coef, const float *R, float *Rin)
{
    const int O = nd->c, OH = nd->h, OW = nd->w;
    size_t ys = (size_t)n * O * OH * OW, xs = (size_t)n * c * h * w;
    double *z = calloc(ys, sizeof *z), *d = calloc(xs, sizeof *d);
    TS_ASSERT(z && d);
    const int fc = nd->op == TS_OP_FC, K = c * h * w;
    const int G = fc ? 1 : nd->groups, Cg = c / G, Og = O / G, KH = nd->kh, KW = nd->kw;
    for (int s = 0; s < n; s++)
        for (int o = 0; o < O; o++)
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++) {
                    size_t zi = (((size_t)s * O + o) * OH + oy) * OW + ox;
                    if (z_fwd) {
                        z[zi] = z_fwd[zi];
                        continue;
                    }
                    double acc = bias ? bias[o] : 0.0;
                    for (int k = 0; k < nt; k++) {
                        if (fc) {
                            for (int q = 0; q < K; q++)
                                acc += (double)t[k].w[(size_t)o * K + q] * t[k].x[(size_t)s * K + q];
                            continue;
                        }
                        int g = o / Og;
                        for (int ci = 0; ci < Cg; ci++)
                            for (int ky = 0; ky < KH; ky++)
                                for (int kx = 0; kx < KW; kx++) {
                                    int iy = oy * nd->stride - nd->pad_t + ky, ix = ox * nd->stride - nd->pad_l + kx;
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                    acc += (double)t[k].w[(((size_t)o * Cg + ci) * KH + ky) * KW + kx] *
                                           t[k].x[(((size_t)s * c + g * Cg + ci) * h + iy) * w + ix];
                                }
                    }
                    z[zi] = acc;
                }
    for (size_t q = 0; q < ys; q++) {
        double dd = z[q];
        if (use_eps) dd += dd >= 0 ? eps : -eps;
        z[q] = dd != 0 ? R[q] / dd : 0.0;
    }
    for (int k = 0; k < nt; k++) {
        memset(d, 0, xs * sizeof *d);
        for (int s = 0; s < n; s++)
            for (int o = 0; o < O; o++)
                for (int oy = 0; oy < OH; oy++)
                    for (int ox = 0; ox < OW; ox++) {
                        double sv = z[(((size_t)s * O + o) * OH + oy) * OW + ox];
                        if (fc) {
                            for (int q = 0; q < K; q++) d[(size_t)s * K + q] += t[k].w[(size_t)o * K + q] * sv;
                            continue;
                        }
                        int g = o / Og;
                        for (int ci = 0; ci < Cg; ci++)
                            for (int ky = 0; ky < KH; ky++)
                                for (int kx = 0; kx < KW; kx++) {
                                    int iy = oy * nd->stride - nd->pad_t + ky, ix = ox * nd->stride - nd->pad_l + kx;
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                    d[(((size_t)s * c + g * Cg + ci) * h + iy) * w + ix] +=
                                        t[k].w[(((size_t)o * Cg + ci) * KH + ky) * KW + kx] * sv;
                                }
                    }
        for (size_t q = 0; q < xs; q++) Rin[q] += (float)(coef * t[k].x[q] * d[q]);
    }
    free(z);
    free(d);
}

/* ---- the row runner ----------------------------------------------------- */

static double loss_of(const ts_tensor *out, const float *R)
{
    double s = 0;
    for (size_t i = 0; i < ts_tensor_numel(out); i++) s += (double)out->data[i] * R[i];
    return s;
}

/* Finite differences of L = sum(out*R) with respect to every (or a sample
 * of the) element(s) of `t`, compared with the analytic gradient `g` (which
 * started at 0.25).  The CPU backend only (it runs the forward passes). */
static void check_grad(const char *rowname, const char *what, const ts_op_args *a, ts_tensor *t,
                       const ts_tensor *g, const float *R, float eps, size_t samples)
{
    size_t k = ts_tensor_numel(t), n = k < samples ? k : samples;
    size_t *idx = malloc(n * sizeof *idx);
    float *num = malloc(n * sizeof *num), *ana = malloc(n * sizeof *ana);
    for (size_t j = 0; j < n; j++) {
        size_t i = k <= samples ? j : ts_rng_next(&rng) % k;
        idx[j] = i;
        float keep = t->data[i];
        t->data[i] = keep + eps;
        TS_ASSERT(cpu->forward(NULL, a) == TS_OK);
        double lp = loss_of(a->out, R);
        t->data[i] = keep - eps;
        TS_ASSERT(cpu->forward(NULL, a) == TS_OK);
        double lm = loss_of(a->out, R);
        t->data[i] = keep;
        num[j] = (float)((lp - lm) / (2.0 * eps));
        ana[j] = g->data[i] - 0.25f;
    }
    char w[64];
    snprintf(w, sizeof w, "%s vs finite differences", what);
    compare(rowname, w, ana, num, n, idx, BWD_ATOL, BWD_RTOL, 0, 0);
    free(idx);
    free(num);
    free(ana);
}

/* The device mirror of a row's host arguments. */
typedef struct mirror {
    ts_tensor in[TS_MAX_INPUTS], din[TS_MAX_INPUTS], out, dout, aux, w, b, dw, db, rm, rv;
} mirror;

static int make_mirror(const char *rn, const ts_op_args *a, mirror *m, ts_op_args *ga)
{
    *ga = *a;
    for (int i = 0; i < a->n_in; i++) {
        m->in[i] = dev_copy(rn, a->in[i], "input");
        m->din[i] = dev_copy(rn, a->din[i], "din");
        ga->in[i] = &m->in[i];
        ga->din[i] = &m->din[i];
        if (!m->in[i].data || !m->din[i].data) return 0;
    }
    m->out = dev_copy(rn, a->out, "out");
    m->dout = dev_copy(rn, a->dout, "dout");
    ga->out = &m->out;
    ga->dout = &m->dout;
    if (!m->out.data || !m->dout.data) return 0;
    if (a->aux) {
        m->aux = dev_copy(rn, a->aux, "aux");
        ga->aux = &m->aux;
        if (!m->aux.data) return 0;
    }
    const ts_tensor *hs[6] = { a->weight, a->bias, a->dweight, a->dbias, a->run_mean, a->run_var };
    ts_tensor *ds[6] = { &m->w, &m->b, &m->dw, &m->db, &m->rm, &m->rv };
    static const char *names[6] = { "weight", "bias", "dweight", "dbias", "running mean", "running variance" };
    for (int k = 0; k < 6; k++) {
        if (!hs[k]) continue;
        *ds[k] = dev_copy(rn, hs[k], names[k]);
        if (!ds[k]->data) return 0;
    }
    ga->weight = a->weight ? &m->w : NULL;
    ga->bias = a->bias ? &m->b : NULL;
    ga->dweight = a->dweight ? &m->dw : NULL;
    ga->dbias = a->dbias ? &m->db : NULL;
    ga->run_mean = a->run_mean ? &m->rm : NULL;
    ga->run_var = a->run_var ? &m->rv : NULL;
    return 1;
}

/* LRP's generic step on a linear row, in four cases: epsilon with the
 * forward Z; two positive terms with a positive bias (alphabeta's alpha
 * part: Z > 0); the squared weights on a plane of ones (wsquare: Z > 0);
 * a zero input (Z = 0 exactly: S and the added relevance must be exactly
 * 0, the case FFT or Winograd engines get wrong). */
static void lrp_linear_cases(const char *rn, const ts_node *nd, const ts_op_args *a, const mirror *m)
{
    const ts_tensor *x = a->in[0], *w = a->weight, *R = a->dout;
    size_t xs = ts_tensor_numel(x), nw = ts_tensor_numel(w), ys = ts_tensor_numel(R);
    float *wp = malloc(nw * sizeof(float)), *xp = malloc(xs * sizeof(float)), *sq = malloc(nw * sizeof(float));
    float *ones = malloc(xs * sizeof(float)), *zero = calloc(xs, sizeof(float)), *bp = NULL;
    float *rin = malloc(xs * sizeof(float)), *ref = malloc(xs * sizeof(float));
    TS_ASSERT(wp && xp && sq && ones && zero && rin && ref);
    for (size_t q = 0; q < nw; q++) wp[q] = fabsf(w->data[q]), sq[q] = w->data[q] * w->data[q];
    for (size_t q = 0; q < xs; q++) xp[q] = fabsf(x->data[q]) + 0.05f, ones[q] = 1.0f;
    if (a->bias) {
        bp = malloc((size_t)nd->c * sizeof(float));
        TS_ASSERT(bp);
        for (int o = 0; o < nd->c; o++) bp[o] = fabsf(a->bias->data[o]);
    }
    struct lcase {
        const char *name;
        int nt;
        const float *w[2], *x[2], *bias, *z;
        bool eps;
        float coef;
    } cases[4] = {
        { "lrp step epsilon (forward Z)", 1, { w->data }, { x->data }, NULL, a->out->data, true, 1.0f },
        { "lrp step 2 positive terms + bias", 2, { wp, sq }, { xp, ones }, bp, NULL, false, 0.7f },
        { "lrp step w^2 on ones", 1, { sq }, { ones }, NULL, NULL, false, 1.0f },
        { "lrp step zero input (Z = 0)", 1, { w->data }, { zero }, NULL, NULL, false, 1.0f },
    };
    for (int c = 0; c < 4; c++) {
        const struct lcase *k = &cases[c];
        ts_lrp_term t[2];
        for (int i = 0; i < k->nt; i++) t[i] = (ts_lrp_term){ k->w[i], k->x[i] };
        for (size_t q = 0; q < xs; q++) rin[q] = ref[q] = 0.25f;
        if (!dev->lrp_linear) {
            checks++, unsupported++;
            printf("UNSUPPORTED %s: %s: the backend has no lrp_linear\n", rn, k->name);
            continue;
        }
        if (on_cpu) {
            ref_linear(nd, x->n, x->c, x->h, x->w, t, k->nt, k->bias, k->z, k->eps, 0.01f, k->coef, R->data, ref);
            if (!step_ok(rn, k->name, cpu->lrp_linear(NULL, nd, x->n, x->c, x->h, x->w, t, k->nt, k->bias, k->z,
                                                      k->eps, 0.01f, k->coef, R->data, rin)))
                continue;
            compare(rn, k->name, rin, ref, xs, NULL, FWD_ATOL, FWD_RTOL, c == 3, 1);
            continue;
        }
        /* the CPU's result is the reference; the same terms on the device */
        if (!step_ok(rn, k->name, cpu->lrp_linear(NULL, nd, x->n, x->c, x->h, x->w, t, k->nt, k->bias, k->z, k->eps,
                                                  0.01f, k->coef, R->data, ref)))
            continue;
        ts_tensor hw = *w, hx = *x, hb = { NULL, 1, nd->c, 1, 1 }, hr = *x;
        ts_tensor dw_[2], dx_[2], db_ = { 0 }, dz = { 0 };
        int ok = 1;
        for (int i = 0; i < k->nt && ok; i++) {
            hw.data = (float *)k->w[i];
            hx.data = (float *)k->x[i];
            dw_[i] = dev_copy(rn, &hw, "term w");
            dx_[i] = dev_copy(rn, &hx, "term x");
            ok = dw_[i].data && dx_[i].data;
            t[i] = (ts_lrp_term){ dw_[i].data, dx_[i].data };
        }
        if (ok && k->bias) {
            hb.data = (float *)k->bias;
            db_ = dev_copy(rn, &hb, "term bias");
            ok = db_.data != NULL;
        }
        hr.data = rin;
        ts_tensor drin = ok ? dev_copy(rn, &hr, "Rin") : (ts_tensor){ 0 };
        ok = ok && drin.data;
        const float *zdev = k->z ? m->out.data : NULL;
        (void)dz, (void)ys;
        if (ok && step_ok(rn, k->name, dev->lrp_linear(dctx, nd, x->n, x->c, x->h, x->w, t, k->nt, db_.data, zdev, k->eps,
                                                       0.01f, k->coef, m->dout.data, drin.data))) {
            ts_tensor href = *x;
            href.data = ref;
            compare_dev(rn, k->name, &href, &drin, 1e-4, 2e-3, c == 3, 1);
        }
    }
    free(wp), free(xp), free(sq), free(ones), free(zero), free(bp), free(rin), free(ref);
}

/* batchnorm: a training forward moved the running statistics by momentum
 * toward the batch's mean and UNBIASED variance; an evaluation forward left
 * them alone. */
static void bn_check_running(const char *rn, const ts_op_args *a)
{
    const ts_tensor *x = a->in[0];
    int N = x->n, C = x->c, HW = x->h * x->w;
    double M = (double)N * HW, m = a->node->bn_momentum;
    float want_m[64], want_v[64];
    for (int c = 0; c < C; c++) {
        double s1 = 0, s2 = 0;
        for (int n = 0; n < N; n++)
            for (int q = 0; q < HW; q++) s1 += x->data[((size_t)n * C + c) * HW + q];
        double mean = s1 / M;
        for (int n = 0; n < N; n++)
            for (int q = 0; q < HW; q++) {
                double d = x->data[((size_t)n * C + c) * HW + q] - mean;
                s2 += d * d;
            }
        double unb = M > 1 ? s2 / (M - 1) : s2 / M;
        want_m[c] = (float)(a->training ? (1 - m) * bn_ref_mean[c] + m * mean : bn_ref_mean[c]);
        want_v[c] = (float)(a->training ? (1 - m) * bn_ref_var[c] + m * unb : bn_ref_var[c]);
    }
    compare(rn, "running mean", a->run_mean->data, want_m, (size_t)C, NULL, 1e-6, 1e-5, 0, 0);
    compare(rn, "running variance", a->run_var->data, want_v, (size_t)C, NULL, 1e-6, 1e-5, 0, 0);
}

static void run_row(const row *r)
{
    ts_node node = r->node;
    char rn[160];
    snprintf(rn, sizeof rn, "%s%s", r->name, misalign ? " [4-byte aligned]" : "");
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
        else if (node.op == TS_OP_RELU && node.clip > 0) fill_around_clip(&in[i], node.clip);
        else if (node.op == TS_OP_RELU || node.op == TS_OP_LEAKY_RELU) fill_away_from_zero(&in[i]);
        else if (node.op == TS_OP_LRN) fill_uniform(&in[i], -8.0f, 8.0f); /* make the scale matter */
        else fill_uniform(&in[i], -1.0f, 1.0f);
        a.in[i] = &in[i];
        a.din[i] = &din[i];
    }
    int oc, oh, ow;
    out_shape(r, &oc, &oh, &ow);
    if (r->expect_h && (oh != r->expect_h || ow != r->expect_w)) {
        char msg[96];
        snprintf(msg, sizeof msg, "reference output size %dx%d, hand-computed %dx%d", oh, ow, r->expect_h, r->expect_w);
        report_fail(rn, "output size", msg);
    }
    node.c = oc, node.h = oh, node.w = ow;
    int N = r->in[0][0];
    ts_tensor out = tensor_new(N, oc, oh, ow, "out");
    ts_tensor dout = tensor_new(N, oc, oh, ow, "dout");
    bool bn = node.op == TS_OP_BATCHNORM;
    ts_tensor aux = bn ? tensor_new(1, 2, oc, 1, "aux") : tensor_new(N, oc, oh, ow, "aux");
    fill_const(&out, 7.0f); /* forward must overwrite */
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
    ts_tensor rm = { 0 }, rv = { 0 };
    if (bn) { /* gamma, beta, the running statistics (1,C,1,1) */
        TS_ASSERT(oc <= 64);
        w = tensor_new(1, oc, 1, 1, "gamma");
        dw = tensor_new(1, oc, 1, 1, "dgamma");
        b = tensor_new(1, oc, 1, 1, "beta");
        db = tensor_new(1, oc, 1, 1, "dbeta");
        rm = tensor_new(1, oc, 1, 1, "running mean");
        rv = tensor_new(1, oc, 1, 1, "running variance");
        fill_uniform(&w, 0.5f, 1.5f);
        fill_uniform(&b, -0.5f, 0.5f);
        fill_uniform(&rm, -0.3f, 0.3f);
        fill_uniform(&rv, 0.5f, 2.0f);
        for (int c = 0; c < oc; c++) bn_ref_mean[c] = rm.data[c], bn_ref_var[c] = rv.data[c];
        a.weight = &w, a.dweight = &dw, a.bias = &b, a.dbias = &db, a.run_mean = &rm, a.run_var = &rv;
    }
    size_t no = ts_tensor_numel(&out);
    float *R = malloc(no * sizeof(float));
    for (size_t i = 0; i < no; i++) R[i] = ts_rng_uniform(&rng) * 2.0f - 1.0f;
    memcpy(dout.data, R, no * sizeof(float));
    int has_aux = node.op == TS_OP_MAXPOOL || node.op == TS_OP_LRN || node.op == TS_OP_DROPOUT || bn;
    mirror m;
    memset(&m, 0, sizeof m);
    ts_op_args ga;
    if (!on_cpu && !make_mirror(rn, &a, &m, &ga)) goto done;

    /* 1. forward: the CPU, against the naive reference or as the device's */
    if (!step_ok(rn, "forward (cpu)", cpu->forward(NULL, &a))) goto done;
    if (on_cpu) {
        float *ref = malloc(no * sizeof(float));
        ref_forward(&a, ref);
        check_finite(rn, "out", &out);
        compare(rn, "forward", out.data, ref, no, NULL, FWD_ATOL, FWD_RTOL, 0, 0);
        free(ref);
        if (bn) bn_check_running(rn, &a);
    } else {
        if (!step_ok(rn, "forward", dev->forward(dctx, &ga))) goto done;
        compare_dev(rn, "forward", &out, &m.out, DEV_FWD_ATOL, DEV_FWD_RTOL, 0, 0);
        if (node.op == TS_OP_MAXPOOL || (node.op == TS_OP_DROPOUT && r->training))
            compare_dev(rn, "aux (argmax / mask)", &aux, &m.aux, 0, 0, 1, 0);
        else if (node.op == TS_OP_LRN || bn)
            compare_dev(rn, bn ? "aux (mean, 1/std)" : "aux (scale)", &aux, &m.aux, DEV_FWD_ATOL, DEV_FWD_RTOL, 0, 0);
        if (bn) {
            compare_dev(rn, "running mean", &rm, &m.rm, DEV_FWD_ATOL, DEV_FWD_RTOL, 0, 0);
            compare_dev(rn, "running variance", &rv, &m.rv, DEV_FWD_ATOL, DEV_FWD_RTOL, 0, 0);
        }
    }

    /* 2. backward, accumulating onto 0.25 */
    for (int i = 0; i < r->n_in; i++) fill_const(&din[i], 0.25f);
    if (dw.data) fill_const(&dw, 0.25f);
    if (db.data) fill_const(&db, 0.25f);
    if (!on_cpu) {
        for (int i = 0; i < r->n_in; i++) dev_set(rn, &m.din[i], &din[i]);
        dev_set(rn, &m.dw, &dw);
        dev_set(rn, &m.db, &db);
    }
    if (!step_ok(rn, "backward (cpu)", cpu->backward(NULL, &a))) goto done;
    if (on_cpu) {
        for (int i = 0; i < r->n_in; i++) check_finite(rn, "din", &din[i]);
        if (dw.data) check_finite(rn, "dweight", &dw);
        if (db.data) check_finite(rn, "dbias", &db);
        /* A second backward without input gradients: same weight gradients. */
        if (dw.data) {
            size_t kw = ts_tensor_numel(&dw), kb = ts_tensor_numel(&db);
            float *keep_w = malloc(kw * sizeof(float)), *keep_b = malloc((kb ? kb : 1) * sizeof(float));
            memcpy(keep_w, dw.data, kw * sizeof(float));
            if (kb) memcpy(keep_b, db.data, kb * sizeof(float));
            fill_const(&dw, 0.25f);
            if (kb) fill_const(&db, 0.25f);
            ts_op_args a2 = a;
            a2.din[0] = NULL;
            if (step_ok(rn, "backward without din", cpu->backward(NULL, &a2))) {
                compare(rn, "dweight (din=NULL)", dw.data, keep_w, kw, NULL, 1e-6, 1e-5, 0, 0);
                if (kb) compare(rn, "dbias (din=NULL)", db.data, keep_b, kb, NULL, 1e-6, 1e-5, 0, 0);
            }
            memcpy(dw.data, keep_w, kw * sizeof(float));
            if (kb) memcpy(db.data, keep_b, kb * sizeof(float));
            free(keep_w);
            free(keep_b);
        }
        /* Finite differences.  Piecewise-linear ops use a small step
         * (their inputs keep away from kinks), smooth ones a larger step
         * for less rounding noise. */
        float eps = (node.op == TS_OP_MAXPOOL || node.op == TS_OP_RELU || node.op == TS_OP_LEAKY_RELU) ? 1e-3f : 1e-2f;
        if (node.op == TS_OP_LRN) eps = 2e-2f;
        size_t fd = r->fd_samples ? (size_t)r->fd_samples : FD_SAMPLES;
        for (int i = 0; i < r->n_in; i++) check_grad(rn, "din", &a, &in[i], &din[i], R, eps, fd);
        if (w.data) check_grad(rn, "dweight", &a, &w, &dw, R, eps, fd);
        if (b.data) check_grad(rn, "dbias", &a, &b, &db, R, eps, fd);
        /* the forward passes of the finite differences changed out/aux */
        TS_ASSERT(cpu->forward(NULL, &a) == TS_OK);
    } else {
        if (step_ok(rn, "backward", dev->backward(dctx, &ga))) {
            for (int i = 0; i < r->n_in; i++)
                compare_dev(rn, r->n_in > 1 ? "din[i]" : "din", &din[i], &m.din[i], DEV_BWD_ATOL, DEV_BWD_RTOL, 0, 0);
            if (dw.data) compare_dev(rn, "dweight", &dw, &m.dw, DEV_BWD_ATOL, DEV_BWD_RTOL, 0, 0);
            if (db.data) compare_dev(rn, "dbias", &db, &m.db, DEV_BWD_ATOL, DEV_BWD_RTOL, 0, 0);
        }
    }

    /* 3. LRP: the fixed rule of the op, or the linear step's cases */
    if (node.op == TS_OP_CONV2D || node.op == TS_OP_FC) {
        lrp_linear_cases(rn, &node, &a, &m);
    } else if (!dev->relevance) {
        checks++, unsupported++;
        printf("UNSUPPORTED %s: relevance: the backend has no relevance entry\n", rn);
    } else {
        ts_op_args la = a;
        la.aux = has_aux ? &aux : NULL;
        for (int i = 0; i < r->n_in; i++) fill_const(&din[i], 0.25f);
        if (on_cpu) {
            float *refs[TS_MAX_INPUTS];
            for (int i = 0; i < r->n_in; i++) {
                refs[i] = malloc(ts_tensor_numel(&in[i]) * sizeof(float));
                for (size_t q = 0; q < ts_tensor_numel(&in[i]); q++) refs[i][q] = 0.25f;
            }
            ref_relevance(&la, refs);
            if (step_ok(rn, "relevance", cpu->relevance(NULL, &la)))
                for (int i = 0; i < r->n_in; i++)
                    compare(rn, "relevance", din[i].data, refs[i], ts_tensor_numel(&din[i]), NULL, FWD_ATOL, FWD_RTOL,
                            0, 0);
            for (int i = 0; i < r->n_in; i++) free(refs[i]);
        } else {
            ts_op_args gl = ga;
            gl.aux = has_aux ? &m.aux : NULL;
            for (int i = 0; i < r->n_in; i++) dev_set(rn, &m.din[i], &din[i]);
            if (step_ok(rn, "relevance (cpu)", cpu->relevance(NULL, &la)) &&
                step_ok(rn, "relevance", dev->relevance(dctx, &gl)))
                for (int i = 0; i < r->n_in; i++)
                    compare_dev(rn, "relevance", &din[i], &m.din[i], 1e-4, 2e-3, 0, 1);
        }
    }
done:
    check_guards(rn);
    if (!on_cpu) check_dev_guards(rn);
    free_dbufs();
    free(R);
    free_bufs();
}
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
    compare("softmax_xent", "dlogits", ana, num, N * K, NULL, 2e-4, 1e-2, 0, 0);
    double want = 0;
    for (int i = 0; i < N; i++) {
        double s = 0;
        for (int k = 0; k < K; k++) s += exp(zbuf[i * K + k]);
        want += log(s) - zbuf[i * K + labels[i]];
    }
    compare("softmax_xent", "loss", &loss, (float[]){ (float)(want / N) }, 1, NULL, 1e-6, 1e-5, 0, 0);

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
    compare("sigmoid_xent", "dlogits", ana, num, N * K, NULL, 2e-4, 1e-2, 0, 0);
    want = 0;
    for (int i = 0; i < N * K; i++) {
        double s = 1 / (1 + exp(-(double)zbuf[i]));
        want -= tbuf[i] * log(s) + (1 - tbuf[i]) * log(1 - s);
    }
    compare("sigmoid_xent", "loss", &loss, (float[]){ (float)(want / (N * K)) }, 1, NULL, 1e-6, 1e-5, 0, 0);

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
    const ts_backend *be = cpu;
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
    /* The seed decides the mask: seed 42 again gives the same bits, seed 43
     * an independent mask, which differs from 42's in about
     * 2 * 0.7 * 0.3 = 42% of the units. */
    unsigned char *kept42 = malloc(n);
    TS_ASSERT(kept42);
    for (size_t i = 0; i < n; i++) kept42[i] = y.data[i] != 0.0f;
    TS_ASSERT(be->forward(NULL, &a) == TS_OK);
    size_t again = 0;
    for (size_t i = 0; i < n; i++) again += (y.data[i] != 0.0f) == kept42[i];
    if (again != n) {
        printf("FAIL dropout: the same seed gave another mask in %zu of %zu units\n", n - again, n);
        failures++;
    }
    a.seed = 43;
    TS_ASSERT(be->forward(NULL, &a) == TS_OK);
    size_t same = 0, moved = 0;
    for (size_t i = 0; i < n; i++) {
        same += (y.data[i] != 0.0f) == ((m.data[i]) != 0.0f);
        moved += (y.data[i] != 0.0f) != kept42[i];
    }
    if (same != n) {
        printf("FAIL dropout: mask and output disagree\n");
        failures++;
    }
    double differ = (double)moved / n;
    if (fabs(differ - 0.42) > 0.02) {
        printf("FAIL dropout: seeds 42 and 43 differ in %.4f of units, not about 0.42 (independent masks)\n", differ);
        failures++;
    } else {
        printf("ok   dropout: seeds 42 and 43 differ in %.4f of units (independent masks: 0.42)\n", differ);
    }
    free(kept42);
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


/* ---- the LRP building blocks, SGD and softmax --------------------------------- */

/* A device copy of n host floats, or the host pointer itself on the CPU. */
static float *on_dev(const char *row, float *host, size_t n, const char *what)
{
    if (on_cpu) return host;
    ts_tensor h = { host, 1, 1, 1, (int)n };
    return dev_copy(row, &h, what).data;
}

/* n floats back from on_dev memory into host `out`. */
static int from_dev(const char *row, const float *d, float *out, size_t n)
{
    if (on_cpu) {
        memmove(out, d, n * sizeof(float));
        return 1;
    }
    return d && step_ok(row, "download", dev->mem.download(dctx, out, d, n));
}

static void run_lrp_prims(void)
{
    const char *row = "lrp split / square / fill_channels";
    enum { N = 1237, C = 5, HW = 7, NS = 3 };
    float *x = malloc(N * sizeof(float)), *p = malloc(N * sizeof(float)), *q = malloc(N * sizeof(float));
    float *rp = malloc(N * sizeof(float)), *rq = malloc(N * sizeof(float));
    TS_ASSERT(x && p && q && rp && rq);
    for (int i = 0; i < N; i++) x[i] = i % 7 == 0 ? 0.0f : ts_rng_uniform(&rng) * 2.0f - 1.0f;
    for (int i = 0; i < N; i++) rp[i] = x[i] > 0 ? x[i] : 0.0f, rq[i] = x[i] < 0 ? x[i] : 0.0f;
    float *dx = on_dev(row, x, N, "x"), *dp = on_dev(row, p, N, "pos"), *dq = on_dev(row, q, N, "neg");
    bool neg = false;
    if (dx && dp && dq && step_ok(row, "lrp_split", dev->lrp_split(dctx, dx, dp, dq, N, &neg)) &&
        from_dev(row, dp, p, N) && from_dev(row, dq, q, N)) {
        compare(row, "split pos", p, rp, N, NULL, 0, 0, 1, 0);
        compare(row, "split neg", q, rq, N, NULL, 0, 0, 1, 0);
        if (neg) report_ok(row, "split says some x < 0", NULL);
        else report_fail(row, "split", "a negative x was not reported");
    }
    /* all >= 0: no negative reported */
    for (int i = 0; i < N; i++) rp[i] = fabsf(x[i]);
    float *dabs = on_dev(row, rp, N, "|x|");
    neg = true;
    if (dabs && dp && dq && step_ok(row, "lrp_split", dev->lrp_split(dctx, dabs, dp, dq, N, &neg))) {
        if (!neg) report_ok(row, "split of x >= 0 says none < 0", NULL);
        else report_fail(row, "split", "x >= 0 reported as having negatives");
    }
    for (int flat = 0; flat < 2; flat++) {
        for (int i = 0; i < N; i++) rq[i] = flat ? 1.0f : x[i] * x[i];
        if (dx && dp && step_ok(row, "lrp_square", dev->lrp_square(dctx, dx, dp, N, flat)) && from_dev(row, dp, p, N))
            compare(row, flat ? "square (flat: ones)" : "square", p, rq, N, NULL, 0, 0, 1, 0);
    }
    /* fill: a few channels (by value on the GPU) and many (copied) */
    for (int big = 0; big < 2; big++) {
        int ch = big ? 40 : C;
        size_t n = (size_t)NS * ch * HW;
        float vals[40], *out = malloc(n * sizeof(float)), *want = malloc(n * sizeof(float));
        TS_ASSERT(out && want);
        for (int c = 0; c < ch; c++) vals[c] = (float)c - 2.5f;
        for (size_t i = 0; i < n; i++) want[i] = vals[i / HW % (size_t)ch], out[i] = -99.0f;
        float *dout = on_dev(row, out, n, "plane");
        if (dout && step_ok(row, "fill_channels", dev->fill_channels(dctx, dout, NS, ch, HW, vals)) &&
            from_dev(row, dout, out, n))
            compare(row, big ? "fill_channels (40 channels)" : "fill_channels (5 channels)", out, want, n, NULL, 0, 0, 1, 0);
        free(out);
        free(want);
    }
    if (!on_cpu) check_dev_guards(row);
    free_dbufs();
    free(x), free(p), free(q), free(rp), free(rq);
}

static void run_sgd(void)
{
    const char *row = "sgd (momentum 0.9, decay 5e-4)";
    if (!dev->sgd) {
        checks++, unsupported++;
        printf("UNSUPPORTED %s: the backend has no sgd\n", row);
        return;
    }
    enum { N = 1237 };
    float w[N], g[N], v[N], w2[N], v2[N], rw[N], rv[N];
    for (int i = 0; i < N; i++) {
        w[i] = ts_rng_normal(&rng), g[i] = ts_rng_normal(&rng), v[i] = 0.1f * ts_rng_normal(&rng);
        rw[i] = w[i], rv[i] = v[i];
    }
    const float lr = 0.01f, mu = 0.9f, wd = 5e-4f;
    if (on_cpu) {
        /* train/sgd.h's formula, written again */
        for (int i = 0; i < N; i++) {
            float vi = mu * rv[i] - lr * (g[i] + wd * rw[i]);
            rv[i] = vi;
            rw[i] += vi;
        }
    } else if (!step_ok(row, "sgd (cpu)", cpu->sgd(NULL, rw, g, rv, N, lr, mu, wd))) {
        return;
    }
    memcpy(w2, w, sizeof w);
    memcpy(v2, v, sizeof v);
    float *dw = on_dev(row, w2, N, "w"), *dg = on_dev(row, g, N, "g"), *dv = on_dev(row, v2, N, "v");
    if (dw && dg && dv && step_ok(row, "sgd", dev->sgd(dctx, dw, dg, dv, N, lr, mu, wd)) && from_dev(row, dw, w2, N) &&
        from_dev(row, dv, v2, N)) {
        compare(row, "weights", w2, rw, N, NULL, on_cpu ? 0 : 1e-6, on_cpu ? 0 : 1e-5, on_cpu, 0);
        compare(row, "momentum", v2, rv, N, NULL, on_cpu ? 0 : 1e-6, on_cpu ? 0 : 1e-5, on_cpu, 0);
    }
    if (!on_cpu) check_dev_guards(row);
    free_dbufs();
}

static void run_softmax(void)
{
    static const int shapes[][2] = { { 5, 3 }, { 130, 40 }, { 1, 1 } };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int N = shapes[s][0], K = shapes[s][1];
        char row[64];
        snprintf(row, sizeof row, "softmax (%d,%d)", N, K);
        if (!dev->softmax) {
            checks++, unsupported++;
            printf("UNSUPPORTED %s: the backend has no softmax\n", row);
            continue;
        }
        size_t n = (size_t)N * K;
        float *z = malloc(n * sizeof(float)), *p = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float));
        TS_ASSERT(z && p && ref);
        for (size_t i = 0; i < n; i++) z[i] = (ts_rng_uniform(&rng) - 0.5f) * (s == 1 ? 100.0f : 6.0f);
        if (on_cpu) {
            for (int r = 0; r < N; r++) {
                double m = -INFINITY, t = 0;
                for (int k = 0; k < K; k++) m = fmax(m, z[(size_t)r * K + k]);
                for (int k = 0; k < K; k++) t += exp(z[(size_t)r * K + k] - m);
                for (int k = 0; k < K; k++) ref[(size_t)r * K + k] = (float)(exp(z[(size_t)r * K + k] - m) / t);
            }
        } else if (!step_ok(row, "softmax (cpu)", cpu->softmax(NULL, z, ref, N, K))) {
            free(z), free(p), free(ref);
            continue;
        }
        float *dz = on_dev(row, z, n, "logits"), *dp = on_dev(row, p, n, "probs");
        if (dz && dp && step_ok(row, "softmax", dev->softmax(dctx, dz, dp, N, K)) && from_dev(row, dp, p, n))
            compare(row, "probabilities", p, ref, n, NULL, on_cpu ? 1e-7 : 1e-7, on_cpu ? 1e-6 : 1e-6, 0, 0);
        if (!on_cpu) check_dev_guards(row);
        free_dbufs();
        free(z), free(p), free(ref);
    }
}

/* ---- relu on the values that broke it (finding 9) ----------------------------- */

static void run_relu_specials(void)
{
    const char *row = "relu on -inf, NaN, -1, -0, 0, 2, inf";
    enum { N = 7 };
    float xs[N] = { -INFINITY, NAN, -1.0f, -0.0f, 0.0f, 2.0f, INFINITY };
    float ys[N], want[N], dys[N], dxs[N], dwant[N];
    ts_node nd;
    memset(&nd, 0, sizeof nd);
    nd.op = TS_OP_RELU;
    snprintf(nd.name, sizeof nd.name, "relu-specials");
    ts_tensor x = { xs, 1, N, 1, 1 }, y = { ys, 1, N, 1, 1 }, dy = { dys, 1, N, 1, 1 }, dx = { dxs, 1, N, 1, 1 };
    for (int i = 0; i < N; i++) dys[i] = INFINITY, dxs[i] = 0.25f;
    ts_op_args a = { .node = &nd, .n_in = 1, .in = { &x }, .din = { &dx }, .out = &y, .dout = &dy };
    /* the CPU's answer, which must be 0 (+0) for every x <= 0 and NaN */
    TS_ASSERT(cpu->forward(NULL, &a) == TS_OK && cpu->backward(NULL, &a) == TS_OK);
    memcpy(want, ys, sizeof ys);
    memcpy(dwant, dxs, sizeof dxs);
    for (int i = 0; i < 5; i++)
        if (want[i] != 0.0f || signbit(want[i])) report_fail(row, "cpu forward", "not +0 for x <= 0 or NaN");
    ts_tensor dxd = x, dyd = y, dyy = dy, dxx = dx;
    for (int i = 0; i < N; i++) dxs[i] = 0.25f;
    dxd = dev_copy(row, &x, "x");
    dyd = dev_copy(row, &y, "y");
    dyy = dev_copy(row, &dy, "dy");
    dxx = dev_copy(row, &dx, "dx");
    ts_op_args g = { .node = &nd, .n_in = 1, .in = { &dxd }, .din = { &dxx }, .out = &dyd, .dout = &dyy };
    if (!on_cpu && dxd.data && dyd.data && dyy.data && dxx.data && step_ok(row, "forward", dev->forward(dctx, &g)) &&
        step_ok(row, "backward", dev->backward(dctx, &g)) && from_dev(row, dyd.data, ys, N) &&
        from_dev(row, dxx.data, dxs, N)) {
        /* bit for bit: +0, not -0 or NaN */
        if (memcmp(ys, want, sizeof ys)) report_fail(row, "forward", "differs from the CPU's bits (NaN or -0)");
        else report_ok(row, "forward, bit for bit", NULL);
        if (memcmp(dxs, dwant, sizeof dxs)) report_fail(row, "backward", "differs from the CPU's bits (NaN)");
        else report_ok(row, "backward (dy = inf), bit for bit", NULL);
    } else if (on_cpu) {
        report_ok(row, "cpu gives +0 (the reference)", NULL);
    }
    if (!on_cpu) check_dev_guards(row);
    free_dbufs();
}

/* ---- max pooling on ties and NaN ------------------------------------------------
 * The CPU's 3x3 window has its own branch-free path (pool.c): on values
 * drawn from {0, 1, 2} nearly every window has a tie, which must go to the
 * first maximum in row-major order, and a NaN anywhere in a window must win
 * (the first NaN), in full and in clipped (ceil) windows alike.  Checked
 * against the rule written out here; backward must route dy to that cell. */

static void run_maxpool_ties(void)
{
    const char *row = "maxpool 3x3/2 on ties and NaN";
    if (!on_cpu) return; /* the rule is the CPU's; devices are compared with it by the rows above */
    enum { C = 3, H = 10, W = 10, OH = 5, OW = 5 };
    float xs[C * H * W], ys[C * OH * OW], arg[C * OH * OW], dys[C * OH * OW], dxs[C * H * W];
    for (int i = 0; i < C * H * W; i++) xs[i] = (float)((uint32_t)ts_rng_next(&rng) % 3);
    for (int i = 0; i < 12; i++) xs[H * W + (uint32_t)ts_rng_next(&rng) % (H * W)] = NAN; /* channel 1 */
    for (int i = 0; i < 2 * H * W; i++) xs[2 * H * W + i % (H * W)] = -1.0f;   /* channel 2: all equal */
    ts_node nd;
    memset(&nd, 0, sizeof nd);
    nd.op = TS_OP_MAXPOOL;
    nd.kh = nd.kw = 3;
    nd.stride = 2;
    snprintf(nd.name, sizeof nd.name, "pool-ties");
    ts_tensor x = { xs, 1, C, H, W }, y = { ys, 1, C, OH, OW }, aux = { arg, 1, C, OH, OW };
    ts_tensor dy = { dys, 1, C, OH, OW }, dx = { dxs, 1, C, H, W };
    for (int i = 0; i < C * OH * OW; i++) dys[i] = (float)(i + 1);
    memset(dxs, 0, sizeof dxs);
    ts_op_args a = { .node = &nd, .n_in = 1, .in = { &x }, .din = { &dx }, .out = &y, .dout = &dy, .aux = &aux };
    if (!step_ok(row, "forward", cpu->forward(NULL, &a)) || !step_ok(row, "backward", cpu->backward(NULL, &a))) return;
    float dwant[C * H * W] = { 0 };
    int bad = 0;
    for (int c = 0; c < C; c++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                const float *p = xs + c * H * W;
                int best = -1;
                for (int iy = oy * 2; iy < oy * 2 + 3 && iy < H; iy++)
                    for (int ix = ox * 2; ix < ox * 2 + 3 && ix < W; ix++) {
                        float v = p[iy * W + ix];
                        if (best < 0 || (v > p[best]) || (isnan(v) && !isnan(p[best]))) best = iy * W + ix;
                    }
                int o = (c * OH + oy) * OW + ox;
                float got = ys[o], want = p[best];
                if ((int)arg[o] != best || !(got == want || (isnan(got) && isnan(want)))) bad++;
                dwant[c * H * W + best] += dys[o];
            }
    if (bad) {
        char msg[64];
        snprintf(msg, sizeof msg, "%d of %d windows took another cell than the first maximum", bad, C * OH * OW);
        report_fail(row, "forward", msg);
    } else {
        report_ok(row, "forward: first maximum, first NaN, clipped windows", NULL);
    }
    if (memcmp(dxs, dwant, sizeof dxs)) report_fail(row, "backward", "dy did not go to the chosen cells");
    else report_ok(row, "backward: dy to the chosen cells", NULL);
}

/* Backward passes told that din is fresh (ts_op_args.din_fresh: the graph
 * runner did not zero it, because the backend's writes_din said the op
 * writes it whole): on a din full of NaN they must give exactly what they
 * add onto a zeroed din.  And the ops that cannot (max pooling's
 * overlapping windows, an im2col convolution's col2im) must say so. */
static void run_fresh_din(void)
{
    if (!on_cpu) return;
    struct fcase {
        const char *name;
        ts_op op;
        int N, C, H, W, O, K, pad, tile; /* conv2d: O outputs, K x K, pad; tile 2 or 4 (winograd), 0 im2col */
        float clip, slope, p;
        int writes; /* what writes_din must answer */
    } cases[] = {
        { "relu", TS_OP_RELU, 2, 3, 5, 7, 0, 0, 0, 0, 0, 0, 0, 1 },
        { "relu6", TS_OP_RELU, 2, 3, 5, 7, 0, 0, 0, 0, 6.0f / 4, 0, 0, 1 },
        { "leaky_relu", TS_OP_LEAKY_RELU, 2, 3, 5, 7, 0, 0, 0, 0, 0, 0.1f, 0, 1 },
        { "dropout (training)", TS_OP_DROPOUT, 2, 3, 5, 7, 0, 0, 0, 0, 0, 0, 0.5f, 1 },
        { "conv2d 3x3 winograd tiles of 2", TS_OP_CONV2D, 3, 16, 14, 14, 24, 3, 1, 2, 0, 0, 0, 1 },
        { "conv2d 3x3 winograd tiles of 4", TS_OP_CONV2D, 3, 16, 12, 10, 16, 3, 1, 4, 0, 0, 0, 1 },
        { "conv2d 5x5 im2col", TS_OP_CONV2D, 2, 16, 9, 9, 8, 5, 2, 0, 0, 0, 0, 0 },
        { "maxpool 3x3/2", TS_OP_MAXPOOL, 2, 3, 9, 9, 0, 3, 0, 0, 0, 0, 0, 0 },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const struct fcase *c = &cases[k];
        char row[96];
        snprintf(row, sizeof row, "fresh din: %s", c->name);
        ts_node nd = node_of(c->op);
        snprintf(nd.name, sizeof nd.name, "fresh%zu", k);
        int OC = c->C, OH = c->H, OW = c->W;
        if (c->op == TS_OP_RELU) nd.clip = c->clip;
        if (c->op == TS_OP_LEAKY_RELU) nd.slope = c->slope;
        if (c->op == TS_OP_DROPOUT) nd.p = c->p;
        if (c->op == TS_OP_CONV2D) {
            nd.out_c = c->O, nd.kh = nd.kw = c->K;
            nd.pad_t = nd.pad_b = nd.pad_l = nd.pad_r = c->pad;
            OC = c->O, OH = c->H + 2 * c->pad - c->K + 1, OW = c->W + 2 * c->pad - c->K + 1;
        }
        if (c->op == TS_OP_MAXPOOL) {
            nd.kh = nd.kw = c->K, nd.stride = 2;
            OH = (c->H - c->K) / 2 + 1, OW = (c->W - c->K) / 2 + 1;
        }
        const size_t nx = (size_t)c->N * c->C * c->H * c->W, ny = (size_t)c->N * OC * OH * OW;
        const size_t nw = c->op == TS_OP_CONV2D ? (size_t)c->O * c->C * c->K * c->K : 0;
        float *buf = malloc((3 * nx + 3 * ny + 2 * nw + 2 * (size_t)OC + 1) * sizeof(float));
        TS_ASSERT(buf);
        float *x = buf, *y = x + nx, *aux = y + ny, *dy = aux + ny, *dx[2] = { dy + ny, dy + ny + nx };
        float *w = dx[1] + nx, *dw = w + nw, *b = dw + nw, *db = b + OC;
        for (size_t i = 0; i < nx; i++) x[i] = ts_rng_normal(&rng);
        for (size_t i = 0; i < ny; i++) dy[i] = ts_rng_normal(&rng);
        for (size_t i = 0; i < nw; i++) w[i] = ts_rng_normal(&rng) * 0.1f;
        for (int i = 0; i < OC; i++) b[i] = ts_rng_normal(&rng);
        ts_cpu_set_winograd(c->tile == 4 ? TS_WINOGRAD_ALWAYS4 : c->tile == 2 ? TS_WINOGRAD_ALWAYS : TS_WINOGRAD_OFF);
        ts_tensor tx = { x, c->N, c->C, c->H, c->W }, ty = { y, c->N, OC, OH, OW }, tdy = { dy, c->N, OC, OH, OW };
        ts_tensor taux = { aux, c->N, OC, OH, OW }, tw = { w, c->O, c->C, c->K, c->K }, tb = { b, 1, OC, 1, 1 };
        ts_tensor tdw = { dw, c->O, c->C, c->K, c->K }, tdb = { db, 1, OC, 1, 1 };
        ts_tensor tdx[2] = { { dx[0], c->N, c->C, c->H, c->W }, { dx[1], c->N, c->C, c->H, c->W } };
        ts_op_args a = { .node = &nd, .n_in = 1, .in = { &tx }, .out = &ty, .dout = &tdy, .training = true,
                         .seed = 7 };
        if (c->op == TS_OP_CONV2D) a.weight = &tw, a.bias = &tb, a.dweight = &tdw, a.dbias = &tdb;
        if (c->op == TS_OP_DROPOUT || c->op == TS_OP_MAXPOOL) a.aux = &taux;
        int ok = step_ok(row, "forward", cpu->forward(NULL, &a));
        const bool says = ok && cpu->writes_din && cpu->writes_din(NULL, &a, 0);
        if (ok && says != (bool)c->writes) {
            report_fail(row, "writes_din", c->writes ? "says it does not write din whole" : "says it writes din whole");
            ok = 0;
        } else if (ok) {
            report_ok(row, c->writes ? "writes_din: yes" : "writes_din: no", NULL);
        }
        if (ok && c->writes) {
            /* r = 0: onto zeros, as the runner zeroes; r = 1: fresh, on NaN */
            for (int r = 0; r < 2 && ok; r++) {
                for (size_t i = 0; i < nx; i++) dx[r][i] = r ? NAN : 0.0f;
                for (size_t i = 0; i < nw; i++) dw[i] = 0.0f;
                for (int i = 0; i < OC; i++) db[i] = 0.0f;
                a.din[0] = &tdx[r];
                a.din_fresh[0] = r == 1;
                ok = step_ok(row, r ? "backward (fresh)" : "backward (zeroed)", cpu->backward(NULL, &a));
            }
            a.din_fresh[0] = false;
            if (ok) compare(row, "fresh din = din added onto zeros", dx[1], dx[0], nx, NULL, 0, 0, 1, 0);
        }
        ts_cpu_set_winograd(TS_WINOGRAD_AUTO);
        free(buf);
    }
}

/* The first layer's direct convolution (backend/cpu/conv-direct.c)
 * against im2col: the forward pass and the weight gradient without the
 * input gradient (as training asks for a first layer), on shapes with a
 * row's last outputs in a partial vector, a partial group of samples,
 * asymmetric pads, strides 1, 2 and 4; and the weight gradient the same,
 * bit for bit, on one thread and on two. */
static void run_direct(void)
{
    if (!on_cpu) return;
    struct shape {
        const char *name;
        int N, C, H, W, O, K, S, pt, pb, pl, pr;
    } shapes[] = {
        { "3->32 5x5/2 pad 2 (traitnet conv1, 10 samples)", 10, 3, 28, 30, 32, 5, 2, 2, 2, 2, 2 },
        { "4->8 5x5/2 pads 1,2,0,2 (LACNN's 4 channels)", 3, 4, 21, 19, 8, 5, 2, 1, 2, 0, 2 },
        { "3->12 11x11/4 unpadded (AlexNet conv1)", 2, 3, 47, 51, 12, 11, 4, 0, 0, 0, 0 },
        { "1->4 3x3/1 pad 1, 9 wide", 9, 1, 7, 9, 4, 3, 1, 1, 1, 1, 1 },
    };
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        const struct shape *sh = &shapes[k];
        char row[96];
        snprintf(row, sizeof row, "direct %s", sh->name);
        ts_node nd = node_of(TS_OP_CONV2D);
        nd.out_c = sh->O, nd.kh = nd.kw = sh->K, nd.stride = sh->S;
        nd.pad_t = sh->pt, nd.pad_b = sh->pb, nd.pad_l = sh->pl, nd.pad_r = sh->pr;
        snprintf(nd.name, sizeof nd.name, "direct%zu", k);
        const int OH = (sh->H + sh->pt + sh->pb - sh->K) / sh->S + 1, OW = (sh->W + sh->pl + sh->pr - sh->K) / sh->S + 1;
        const size_t nx = (size_t)sh->N * sh->C * sh->H * sh->W, ny = (size_t)sh->N * sh->O * OH * OW;
        const size_t nw = (size_t)sh->O * sh->C * sh->K * sh->K;
        /* x, w, b, dy; then per run (direct, im2col, direct on one thread): y, dw, db */
        float *buf = malloc((nx + nw + (size_t)sh->O + ny + 3 * (ny + nw + (size_t)sh->O)) * sizeof(float));
        TS_ASSERT(buf);
        float *x = buf, *w = x + nx, *b = w + nw, *dy = b + sh->O, *y[3], *dw[3], *db[3];
        for (int r = 0; r < 3; r++) {
            y[r] = dy + ny + (size_t)r * (ny + nw + (size_t)sh->O);
            dw[r] = y[r] + ny, db[r] = dw[r] + nw;
        }
        for (size_t i = 0; i < nx; i++) x[i] = ts_rng_normal(&rng);
        for (size_t i = 0; i < nw; i++) w[i] = ts_rng_normal(&rng) * 0.1f;
        for (int i = 0; i < sh->O; i++) b[i] = ts_rng_normal(&rng);
        for (size_t i = 0; i < ny; i++) dy[i] = ts_rng_normal(&rng);
        int ok = 1;
        for (int r = 0; r < 3 && ok; r++) {
            ts_cpu_set_direct_conv(r != 1);
            ts_cpu_set_threads(r == 2 ? 1 : 2);
            for (size_t i = 0; i < nw; i++) dw[r][i] = -0.25f; /* backward adds onto this */
            for (int i = 0; i < sh->O; i++) db[r][i] = 0.0f;
            ts_tensor tx = { x, sh->N, sh->C, sh->H, sh->W }, tw = { w, sh->O, sh->C, sh->K, sh->K };
            ts_tensor tb = { b, 1, sh->O, 1, 1 }, ty = { y[r], sh->N, sh->O, OH, OW }, tdy = { dy, sh->N, sh->O, OH, OW };
            ts_tensor tdw = { dw[r], sh->O, sh->C, sh->K, sh->K }, tdb = { db[r], 1, sh->O, 1, 1 };
            ts_op_args a = { .node = &nd, .n_in = 1, .in = { &tx }, .din = { NULL }, .out = &ty, .dout = &tdy,
                             .weight = &tw, .bias = &tb, .dweight = &tdw, .dbias = &tdb, .training = true };
            if (r == 0) {
                ts_conv_dims d;
                ok = step_ok(row, "shape check", ts_check_conv2d(&a, &d));
                if (ok && !cpu_direct_can(&d)) {
                    printf("  %s: this CPU has no AVX2 and FMA: the direct path is not taken here\n", row);
                    ok = 0;
                    break;
                }
            }
            ok = ok && step_ok(row, "forward", cpu->forward(NULL, &a)) && step_ok(row, "backward", cpu->backward(NULL, &a));
        }
        ts_cpu_set_direct_conv(true);
        ts_cpu_set_threads(2);
        if (ok) {
            /* rounding only (fused multiply-adds, another order of the sum) */
            compare(row, "forward vs im2col", y[0], y[1], ny, NULL, 1e-5, 0, 0, 1);
            compare(row, "dweight vs im2col", dw[0], dw[1], nw, NULL, 1e-5, 0, 0, 1);
            compare(row, "dbias vs im2col", db[0], db[1], (size_t)sh->O, NULL, 0, 0, 1, 0);
            compare(row, "forward on one thread vs two", y[2], y[0], ny, NULL, 0, 0, 1, 0);
            compare(row, "dweight on one thread vs two", dw[2], dw[0], nw, NULL, 0, 0, 1, 0);
        }
        free(buf);
    }
}

/* ---- Winograd against im2col ------------------------------------------------------
 * The CPU computes 3x3 stride-1 convolutions of 16 channels or more by
 * F(2x2, 3x3) or F(4x4, 3x3) (winograd.c).  Every value of the three
 * passes of both is compared with the im2col path on the same inputs: odd
 * sizes (tiles cut at the edge), pads 0, 1, 2 and asymmetric, groups, a
 * batch split into chunks, and din/dweight accumulating onto what was
 * there. */

static void run_winograd(void)
{
    if (!on_cpu) return; /* the CPU's own two paths */
    struct shape {
        const char *name;
        int N, C, H, W, O, groups, pt, pb, pl, pr;
    } shapes[] = {
        { "64->64 14x14 pad 1 (traitnet conv3b)", 3, 64, 14, 14, 64, 1, 1, 1, 1, 1 },
        { "16->24 7x9 pad 1 (odd sizes)", 2, 16, 7, 9, 24, 1, 1, 1, 1, 1 },
        { "16->16 8x5 unpadded", 2, 16, 8, 5, 16, 1, 0, 0, 0, 0 },
        { "16->16 5x6 pad 2", 2, 16, 5, 6, 16, 1, 2, 2, 2, 2 },
        { "32->48 6x7 pads 0,2,1,0 groups 2", 2, 32, 6, 7, 48, 2, 0, 2, 1, 0 },
        { "256->256 24x24 pad 1 (9 samples, two chunks)", 9, 256, 24, 24, 256, 1, 1, 1, 1, 1 },
    };
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        const struct shape *sh = &shapes[k];
        char row[96];
        snprintf(row, sizeof row, "winograd %s", sh->name);
        ts_node nd = node_of(TS_OP_CONV2D);
        nd.out_c = sh->O, nd.kh = nd.kw = 3, nd.groups = sh->groups;
        nd.pad_t = sh->pt, nd.pad_b = sh->pb, nd.pad_l = sh->pl, nd.pad_r = sh->pr;
        snprintf(nd.name, sizeof nd.name, "wino%zu", k);
        int OH = sh->H + sh->pt + sh->pb - 2, OW = sh->W + sh->pl + sh->pr - 2, Cg = sh->C / sh->groups;
        size_t nx = (size_t)sh->N * sh->C * sh->H * sh->W, ny = (size_t)sh->N * sh->O * OH * OW;
        size_t nw = (size_t)sh->O * Cg * 9;
        /* three runs: tiles of 2, tiles of 4, im2col */
        float *buf = malloc((nx + nw + (size_t)sh->O + ny + 3 * (ny + nx + nw + (size_t)sh->O)) * sizeof(float));
        TS_ASSERT(buf);
        float *x = buf, *w = x + nx, *b = w + nw, *dy = b + sh->O, *y[3], *dx[3], *dw[3], *db[3];
        for (int r = 0; r < 3; r++) {
            y[r] = dy + ny + (size_t)r * (ny + nx + nw + (size_t)sh->O);
            dx[r] = y[r] + ny, dw[r] = dx[r] + nx, db[r] = dw[r] + nw;
        }
        for (size_t i = 0; i < nx; i++) x[i] = ts_rng_normal(&rng);
        for (size_t i = 0; i < nw; i++) w[i] = ts_rng_normal(&rng) * 0.1f;
        for (int i = 0; i < sh->O; i++) b[i] = ts_rng_normal(&rng);
        for (size_t i = 0; i < ny; i++) dy[i] = ts_rng_normal(&rng);
        static const ts_winograd_mode modes[3] = { TS_WINOGRAD_ALWAYS, TS_WINOGRAD_ALWAYS4, TS_WINOGRAD_OFF };
        static const char *const fw[3] = { "F(2x2) forward", "F(4x4) forward", "im2col forward" };
        static const char *const bw[3] = { "F(2x2) backward", "F(4x4) backward", "im2col backward" };
        int ok = 1;
        for (int mode = 0; mode < 3 && ok; mode++) {
            ts_cpu_set_winograd(modes[mode]);
            for (size_t i = 0; i < nx; i++) dx[mode][i] = 0.5f; /* backward adds onto this */
            for (size_t i = 0; i < nw; i++) dw[mode][i] = -0.25f;
            for (int i = 0; i < sh->O; i++) db[mode][i] = 0.0f;
            ts_tensor tx = { x, sh->N, sh->C, sh->H, sh->W }, tw = { w, sh->O, Cg, 3, 3 }, tb = { b, 1, sh->O, 1, 1 };
            ts_tensor ty = { y[mode], sh->N, sh->O, OH, OW }, tdy = { dy, sh->N, sh->O, OH, OW };
            ts_tensor tdx = { dx[mode], sh->N, sh->C, sh->H, sh->W }, tdw = { dw[mode], sh->O, Cg, 3, 3 };
            ts_tensor tdb = { db[mode], 1, sh->O, 1, 1 };
            ts_op_args a = { .node = &nd, .n_in = 1, .in = { &tx }, .din = { &tdx }, .out = &ty, .dout = &tdy,
                             .weight = &tw, .bias = &tb, .dweight = &tdw, .dbias = &tdb, .training = true };
            const unsigned long kept0 = cpu_conv_kept_uses();
            ok = step_ok(row, fw[mode], cpu->forward(NULL, &a)) && step_ok(row, bw[mode], cpu->backward(NULL, &a));
            if (ok && mode < 2) {
                /* the weight gradient took the tiles the forward pass kept,
                 * once: a second backward pass transforms the input again
                 * and must give the same gradient, bit for bit */
                const unsigned long kept1 = cpu_conv_kept_uses();
                float *dw2 = malloc(nw * sizeof(float)), *dx2 = malloc(nx * sizeof(float));
                TS_ASSERT(dw2 && dx2);
                for (size_t i = 0; i < nw; i++) dw2[i] = -0.25f;
                for (size_t i = 0; i < nx; i++) dx2[i] = 0.5f;
                ts_tensor tdw2 = { dw2, sh->O, Cg, 3, 3 }, tdx2 = { dx2, sh->N, sh->C, sh->H, sh->W };
                a.dweight = &tdw2, a.din[0] = &tdx2, a.dbias = NULL;
                ok = step_ok(row, "backward again", cpu->backward(NULL, &a));
                if (ok) {
                    if (kept1 == kept0 + 1 && cpu_conv_kept_uses() == kept1)
                        report_ok(row, mode ? "F(4x4) dweight from the kept tiles, once" : "F(2x2) dweight from the kept tiles, once",
                                  NULL);
                    else {
                        char msg[96];
                        snprintf(msg, sizeof msg, "the backward passes took the forward's tiles %lu times, not once",
                                 cpu_conv_kept_uses() - kept0);
                        report_fail(row, "kept tiles", msg);
                    }
                    compare(row, mode ? "F(4x4) dweight kept vs transformed again" : "F(2x2) dweight kept vs transformed again",
                            dw[mode], dw2, nw, NULL, 0, 0, 1, 0);
                    /* an evaluation forward pass between (LRP, validation)
                     * makes the kept tiles stale: not taken */
                    const unsigned long kept2 = cpu_conv_kept_uses();
                    a.training = true;
                    ok = step_ok(row, "forward (training)", cpu->forward(NULL, &a));
                    a.training = false;
                    ok = ok && step_ok(row, "forward (evaluation)", cpu->forward(NULL, &a));
                    a.training = true;
                    ok = ok && step_ok(row, "backward after both", cpu->backward(NULL, &a));
                    if (ok && cpu_conv_kept_uses() == kept2)
                        report_ok(row, "no kept tiles after an evaluation forward pass", NULL);
                    else if (ok)
                        report_fail(row, "kept tiles", "taken after an evaluation forward pass");
                }
                free(dw2);
                free(dx2);
            }
        }
        ts_cpu_set_winograd(TS_WINOGRAD_AUTO);
        if (ok) {
            /* rounding only: within 2e-5 of the largest value for tiles of
             * 2 (the transforms add up to 16 terms before the products),
             * 1e-4 for tiles of 4 (36 terms, with factors up to 8 and 1/24) */
            compare(row, "F(2x2) forward vs im2col", y[0], y[2], ny, NULL, 2e-5, 0, 0, 1);
            compare(row, "F(2x2) din vs im2col", dx[0], dx[2], nx, NULL, 2e-5, 0, 0, 1);
            compare(row, "F(2x2) dweight vs im2col", dw[0], dw[2], nw, NULL, 2e-5, 0, 0, 1);
            compare(row, "F(4x4) forward vs im2col", y[1], y[2], ny, NULL, 1e-4, 0, 0, 1);
            compare(row, "F(4x4) din vs im2col", dx[1], dx[2], nx, NULL, 1e-4, 0, 0, 1);
            compare(row, "F(4x4) dweight vs im2col", dw[1], dw[2], nw, NULL, 1e-4, 0, 0, 1);
        }
        free(buf);
    }
}

/* ---- malformed arguments: an error on every backend (finding 8) ------------------ */

static void run_shape_errors(void)
{
    struct bad {
        const char *name;
        ts_op op;
        int in[4], out[4];
        int kh, stride, pad, lrn_size;
        float lrn_k, lrn_alpha, p;
    } bads[] = {
        { "conv2d: 7x7 output for a 6x6 convolution", TS_OP_CONV2D, { 1, 3, 8, 8 }, { 1, 4, 7, 7 }, 3, 1, 0, 0, 0, 0, 0 },
        { "maxpool: 3x3 output for an 8x8 ceil pool", TS_OP_MAXPOOL, { 1, 3, 8, 8 }, { 1, 3, 3, 3 }, 3, 2, 0, 0, 0, 0, 0 },
        { "maxpool: pads >= kernel", TS_OP_MAXPOOL, { 1, 2, 6, 6 }, { 1, 2, 8, 8 }, 2, 1, 2, 0, 0, 0, 0 },
        { "avgpool: pads >= kernel", TS_OP_AVGPOOL, { 1, 2, 6, 6 }, { 1, 2, 8, 8 }, 2, 1, 2, 0, 0, 0, 0 },
        { "lrn: size 0", TS_OP_LRN, { 1, 4, 3, 3 }, { 1, 4, 3, 3 }, 0, 1, 0, 0, 1.0f, 1e-4f, 0 },
        { "lrn: k = 0", TS_OP_LRN, { 1, 4, 3, 3 }, { 1, 4, 3, 3 }, 0, 1, 0, 5, 0.0f, 1e-4f, 0 },
        { "lrn: alpha NaN", TS_OP_LRN, { 1, 4, 3, 3 }, { 1, 4, 3, 3 }, 0, 1, 0, 5, 1.0f, NAN, 0 },
        { "dropout: p = 1", TS_OP_DROPOUT, { 1, 4, 3, 3 }, { 1, 4, 3, 3 }, 0, 1, 0, 0, 0, 0, 1.0f },
        { "relu: input shaped unlike the output", TS_OP_RELU, { 1, 4, 3, 3 }, { 1, 4, 3, 2 }, 0, 1, 0, 0, 0, 0, 0 },
    };
    for (size_t k = 0; k < sizeof bads / sizeof bads[0]; k++) {
        const struct bad *b = &bads[k];
        char row[128];
        snprintf(row, sizeof row, "malformed %s", b->name);
        ts_node nd = node_of(b->op);
        snprintf(nd.name, sizeof nd.name, "bad%zu", k);
        nd.out_c = b->out[1], nd.kh = nd.kw = b->kh, nd.stride = b->stride, nd.has_bias = 0;
        nd.pad_t = nd.pad_b = nd.pad_l = nd.pad_r = b->pad;
        if (b->op == TS_OP_LRN) nd.lrn_size = b->lrn_size, nd.lrn_k = b->lrn_k, nd.lrn_alpha = b->lrn_alpha;
        if (b->op == TS_OP_DROPOUT) nd.p = b->p;
        ts_tensor x = tensor_new(b->in[0], b->in[1], b->in[2], b->in[3], "input");
        ts_tensor y = tensor_new(b->out[0], b->out[1], b->out[2], b->out[3], "out");
        ts_tensor w = b->op == TS_OP_CONV2D ? tensor_new(b->out[1], b->in[1], b->kh, b->kh, "weight") : (ts_tensor){ 0 };
        ts_tensor dx = dev_copy(row, &x, "x"), dy = dev_copy(row, &y, "y");
        ts_tensor dw = w.data ? dev_copy(row, &w, "w") : (ts_tensor){ 0 };
        ts_op_args a = { .node = &nd, .n_in = 1, .in = { on_cpu ? &x : &dx }, .out = on_cpu ? &y : &dy,
                         .weight = w.data ? (on_cpu ? &w : &dw) : NULL, .training = true };
        ts_tensor aux = on_cpu ? y : dy;
        if (b->op == TS_OP_DROPOUT || b->op == TS_OP_LRN || b->op == TS_OP_MAXPOOL) a.aux = &aux;
        ts_status st = dev->forward(dctx, &a);
        if (st == TS_ERR_SHAPE && strstr(ts_last_error(), nd.name)) report_ok(row, "refused", ts_last_error());
        else {
            char msg[256];
            snprintf(msg, sizeof msg, "status %d, expected a shape error naming '%s' (%s)", (int)st, nd.name,
                     ts_last_error());
            report_fail(row, "forward", msg);
        }
        check_guards(row);
        if (!on_cpu) check_dev_guards(row);
        free_dbufs();
        free_bufs();
    }
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
    ts_status s2 = dev->amap(dctx, pts->x, pts->y, pts->n, w, h, got);
    int bad = 0;
    char row[160];
    snprintf(row, sizeof row, "A(x,y) %s %dx%d k=%d", what, w, h, pts->n);
    checks++;
    if (s1 != TS_OK || s2 != TS_OK) {
        printf("FAIL %s: %s\n", row, ts_last_error());
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
        else printf("ok   %s: identical\n", row);
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
    checks++;
    if (faces == 0) {
        printf("FAIL A(x,y): no landmark fixtures found under $TS_SOURCE_ROOT/tests/face/fixtures\n");
        failures++;
    }
}

static void run_amap(void)
{
    if (!dev->amap) {
        /* the CPU: face/amap.c is the reference, and ts_amap_compute_on
         * falls back to it; check that path once */
        checks++, unsupported++;
        printf("UNSUPPORTED A(x,y): the %s backend has no amap entry (face/amap.c, the reference, makes the map)\n",
               dev->name);
        ts_points p;
        random_points(&p, 68, 320, 240, 0);
        uint8_t *a = malloc(320 * 240), *b = malloc(320 * 240);
        TS_ASSERT(a && b);
        if (ts_amap_compute(&p, 320, 240, a) == TS_OK && ts_amap_compute_on(dev, dctx, &p, 320, 240, b) == TS_OK &&
            !memcmp(a, b, 320 * 240))
            report_ok("A(x,y)", "ts_amap_compute_on falls back to the reference", NULL);
        else
            report_fail("A(x,y)", "ts_amap_compute_on", "differs from ts_amap_compute");
        free(a), free(b);
        return;
    }
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
    checks++;
    if (ts_amap_compute(&p, 640, 480, a) != TS_OK || ts_amap_compute_on(dev, dctx, &p, 640, 480, b) != TS_OK ||
        memcmp(a, b, 640 * 480)) {
        printf("FAIL A(x,y): ts_amap_compute_on on the GPU differs from ts_amap_compute\n");
        failures++;
    } else {
        printf("ok   A(x,y): ts_amap_compute_on on the GPU\n");
    }
    /* and refuses what the CPU refuses */
    p.x[3] = NAN;
    checks++;
    if (ts_amap_compute_on(dev, dctx, &p, 640, 480, b) != TS_ERR_ARG ||
        dev->amap(dctx, p.x, p.y, p.n, 640, 480, b) != TS_ERR_ARG) {
        printf("FAIL A(x,y): a NaN landmark is not refused\n");
        failures++;
    }
    free(a);
    free(b);
}


/* ---- whole networks on the device against the same networks on the CPU --------- */


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
    ts_graph_add(g, TS_OP_BATCHNORM, "bn2", 0, NULL);
    ts_graph_add(g, TS_OP_RELU, "relu2", 0, NULL);
    n = ts_graph_add(g, TS_OP_FC, "fc1", 0, NULL);
    n->out_c = 16;
    ts_graph_add(g, TS_OP_RELU, "relu3", 0, NULL);
    ts_graph_add(g, TS_OP_DROPOUT, "drop1", 0, NULL);
    n = ts_graph_add(g, TS_OP_FC, "fc2", 0, NULL);
    n->out_c = 5;
    TS_ASSERT(ts_graph_finalize(g) == TS_OK);
    ts_graph_init_params(g, 42);
    g->training = true;
    return g;
}

/* Compares a host array with n floats of graph g's memory at d. */
static void compare_graph(const char *row, const char *what, const ts_graph *g, const float *d, const float *ref,
                          size_t n, double atol, double rtol, int scale)
{
    float *got = malloc((n ? n : 1) * sizeof(float));
    TS_ASSERT(got);
    if (step_ok(row, what, ts_graph_read(g, d, got, n))) compare(row, what, got, ref, n, NULL, atol, rtol, 0, scale);
    free(got);
}

/* Training: forward, backward and one SGD step (train/sgd.c through the
 * backend table) of a network on the device and on the CPU. */
static void run_graph_training(void)
{
    const char *row = "network (conv, lrn, pool, batchnorm, fc, dropout): forward, backward, SGD";
    ts_graph *gc = small_net(), *gg = small_net();
    ts_sgd sc = { 0 }, sg = { 0 };
    ts_sgd_config cfg = ts_sgd_config_default();
    ts_tensor x = { malloc((size_t)4 * 3 * 31 * 31 * sizeof(float)), 4, 3, 31, 31 };
    TS_ASSERT(x.data);
    for (size_t i = 0; i < ts_tensor_numel(&x); i++) x.data[i] = ts_rng_normal(&rng);
    if (!step_ok(row, "ts_graph_to_backend", ts_graph_to_backend(gg, dev, dctx))) goto out;
    if (!step_ok(row, "ts_sgd_init", ts_sgd_init(&sc, gc, &cfg)) || !step_ok(row, "ts_sgd_init", ts_sgd_init(&sg, gg, &cfg)))
        goto out;
    if (!step_ok(row, "forward (cpu)", ts_graph_forward(gc, &x)) || !step_ok(row, "forward", ts_graph_forward(gg, &x)))
        goto out;
    ts_node *oc = &gc->nodes[gc->output], *og = &gg->nodes[gg->output];
    size_t k = ts_tensor_numel(&oc->out);
    compare_graph(row, "logits", gg, og->out.data, oc->out.data, k, DEV_FWD_ATOL, DEV_FWD_RTOL, 0);
    for (size_t i = 0; i < k; i++) oc->dout.data[i] = ts_rng_normal(&rng);
    if (!step_ok(row, "upload", dev->mem.upload(dctx, og->dout.data, oc->dout.data, k))) goto out;
    ts_graph_zero_grads(gc);
    ts_graph_zero_grads(gg);
    if (!step_ok(row, "backward (cpu)", ts_graph_backward(gc)) || !step_ok(row, "backward", ts_graph_backward(gg)))
        goto out;
    compare_graph(row, "input gradient", gg, gg->nodes[0].dout.data, gc->nodes[0].dout.data,
                  ts_tensor_numel(&gc->nodes[0].dout), DEV_BWD_ATOL, DEV_BWD_RTOL, 0);
    compare_graph(row, "every parameter gradient", gg, gg->grads.base, gc->grads.base, gc->grads.used, DEV_BWD_ATOL,
                  DEV_BWD_RTOL, 0);
    if (!step_ok(row, "sgd step (cpu)", ts_sgd_step(&sc, gc)) || !step_ok(row, "sgd step", ts_sgd_step(&sg, gg)))
        goto out;
    /* one step moves a parameter by lr * gradient: the gradients' tolerance times lr */
    compare_graph(row, "parameters after one SGD step", gg, gg->params.base, gc->params.base, gc->params.used, 2e-5,
                  1e-4, 0);
    float *mom = malloc(gc->params.used * sizeof(float));
    TS_ASSERT(mom);
    if (step_ok(row, "momentum to the host", ts_sgd_state_read(&sg, mom)))
        compare(row, "momentum after one step", mom, sc.state.base, gc->params.used, NULL, 2e-5, 2e-3, 0, 0);
    free(mom);
    /* back to the host: the parameters survive the round trip */
    if (step_ok(row, "ts_graph_to_backend (to the CPU)", (ts_sgd_clear(&sg), ts_graph_to_backend(gg, cpu, NULL))))
        compare(row, "parameters after the round trip", gg->params.base, gc->params.base, gc->params.used, NULL, 1e-5,
                1e-4, 0, 0);
out:
    ts_sgd_clear(&sc);
    ts_sgd_clear(&sg);
    free(x.data);
    ts_graph_free(gc);
    ts_graph_free(gg);
}

/* Two networks that between them have every op LRP knows: conv (groups,
 * stride, asymmetric pads), relu, leaky relu, lrn, max and average
 * pooling, concat, add, fc, dropout, batchnorm (folded into a conv, and
 * alone behind a ReLU). */
static ts_graph *lrp_net(int which)
{
    ts_graph *g = ts_graph_new(4, 13, 13);
    ts_node *n;
    if (which == 0) {
        n = ts_graph_add(g, TS_OP_CONV2D, "conv1", 0, NULL);
        n->out_c = 6, n->kh = n->kw = 3, n->stride = 2, n->groups = 2;
        n->pad_t = 1, n->pad_b = 0, n->pad_l = n->pad_r = 1;
        ts_graph_add(g, TS_OP_RELU, "relu1", 0, NULL);
        ts_graph_add(g, TS_OP_LRN, "norm1", 0, NULL);
        n = ts_graph_add(g, TS_OP_MAXPOOL, "pool1", 0, NULL);
        n->kh = n->kw = 2, n->stride = 1;
        n = ts_graph_add(g, TS_OP_CONV2D, "conv2", 0, NULL);
        n->out_c = 8, n->kh = n->kw = 3, n->pad_t = n->pad_b = n->pad_l = n->pad_r = 1;
        ts_graph_add(g, TS_OP_BATCHNORM, "bn2", 0, NULL); /* folded into conv2 */
        ts_graph_add(g, TS_OP_RELU, "relu2", 0, NULL);
        n = ts_graph_add(g, TS_OP_AVGPOOL, "pool2", 0, NULL);
        n->kh = n->kw = 3, n->stride = 2, n->pad_t = n->pad_b = n->pad_l = n->pad_r = 1;
        ts_graph_add(g, TS_OP_DROPOUT, "drop", 0, NULL);
        n = ts_graph_add(g, TS_OP_FC, "fc", 0, NULL);
        n->out_c = 5;
    } else {
        n = ts_graph_add(g, TS_OP_CONV2D, "a", 1, (int[]){ 0 });
        n->out_c = 4, n->kh = n->kw = 3, n->pad_t = n->pad_b = n->pad_l = n->pad_r = 1;
        n = ts_graph_add(g, TS_OP_CONV2D, "b", 1, (int[]){ 0 });
        n->out_c = 3, n->kh = n->kw = 1;
        ts_graph_add(g, TS_OP_CONCAT, "cat", 2, (int[]){ 1, 2 });
        n = ts_graph_add(g, TS_OP_LEAKY_RELU, "lrelu", 0, NULL);
        n->slope = 0.1f;
        n = ts_graph_add(g, TS_OP_CONV2D, "c", 1, (int[]){ 4 });
        n->out_c = 5, n->kh = n->kw = 3, n->pad_t = n->pad_b = n->pad_l = n->pad_r = 1;
        n = ts_graph_add(g, TS_OP_CONV2D, "d", 1, (int[]){ 4 });
        n->out_c = 5, n->kh = n->kw = 1;
        ts_graph_add(g, TS_OP_ADD, "sum", 2, (int[]){ 5, 6 });
        ts_graph_add(g, TS_OP_RELU, "relu", 0, NULL);
        ts_graph_add(g, TS_OP_BATCHNORM, "bn", 0, NULL); /* behind a ReLU: its own rule */
        n = ts_graph_add(g, TS_OP_FC, "fc", 0, NULL);
        n->out_c = 3;
    }
    TS_ASSERT(ts_graph_finalize(g) == TS_OK);
    ts_graph_init_params(g, 7);
    ts_rng r;
    ts_rng_seed(&r, 11);
    for (int i = 1; i < g->n_nodes; i++)
        for (size_t k = 0; g->nodes[i].bias.data && k < ts_tensor_numel(&g->nodes[i].bias); k++)
            g->nodes[i].bias.data[k] = 0.05f * ts_rng_normal(&r);
    for (int i = 1; i < g->n_nodes; i++) {
        ts_node *b = &g->nodes[i];
        if (b->op != TS_OP_BATCHNORM) continue;
        for (int c = 0; c < b->weight.c; c++) {
            b->weight.data[c] = 0.5f + ts_rng_uniform(&r);
            b->run_mean.data[c] = 0.1f * ts_rng_normal(&r);
            b->run_var.data[c] = 0.5f + ts_rng_uniform(&r);
        }
    }
    return g;
}

/* Whole-network LRP (explain/lrp.c through the backend table) on the
 * device against the same network on the CPU, for every rule. */
static void run_graph_lrp(void)
{
    static const char *const specs[] = {
        "preset=adience",
        "@conv=alphabeta:1,0,bias;@fc=alphabeta:2,1,bias",
        "@all=epsilon:0.1",
        "@all=lrp0",
        "@conv=flat;@fc=epsilon:0.01",
        "@conv=wsquare;@fc=epsilon:0.01",
        "preset=composite",
    };
    for (int which = 0; which < 2; which++)
        for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
            char row[160];
            snprintf(row, sizeof row, "network %d LRP \"%s\"", which + 1, specs[k]);
            ts_graph *gc = lrp_net(which), *gg = lrp_net(which);
            ts_lrp_rules rc = { 0 }, rg = { 0 };
            ts_lrp *lc = NULL, *lg = NULL;
            const int N = 3;
            size_t n = (size_t)N * 4 * 13 * 13;
            float *x = malloc(n * sizeof(float)), *relc = malloc(n * sizeof(float)), *relg = malloc(n * sizeof(float));
            TS_ASSERT(x && relc && relg);
            for (size_t q = 0; q < n; q++) x[q] = ts_rng_normal(&rng);
            ts_tensor tx = { x, N, 4, 13, 13 }, tc = { relc, N, 4, 13, 13 }, tg = { relg, N, 4, 13, 13 };
            ts_lrp_target target = { TS_LRP_TARGET_PREDICTED, -1, -1 };
            ts_lrp_stats sc[3], sg[3];
            int ok = step_ok(row, "rules", ts_lrp_rules_parse(gc, specs[k], &rc)) &&
                     step_ok(row, "rules", ts_lrp_rules_parse(gg, specs[k], &rg));
            if (ok)
                for (int c = 0; c < 4; c++) {
                    ts_lrp_rules_set_bounds(&rc, c, -2.5f, 2.5f);
                    ts_lrp_rules_set_bounds(&rg, c, -2.5f, 2.5f);
                }
            ok = ok && step_ok(row, "to the device", ts_graph_to_backend(gg, dev, dctx)) &&
                 step_ok(row, "ts_lrp_new (cpu)", ts_lrp_new(gc, &rc, &lc)) &&
                 step_ok(row, "ts_lrp_new", ts_lrp_new(gg, &rg, &lg)) &&
                 step_ok(row, "explain (cpu)", ts_lrp_explain(lc, &tx, &target, 1, &tc, sc)) &&
                 step_ok(row, "explain", ts_lrp_explain(lg, &tx, &target, 1, &tg, sg));
            if (ok) {
                compare(row, "input relevance", relg, relc, n, NULL, 1e-4, 2e-3, 0, 1);
                int same = 1;
                for (int s = 0; s < N; s++) same &= sc[s].a == sg[s].a;
                if (same) report_ok(row, "explained classes", NULL);
                else report_fail(row, "explained classes", "the device predicted other classes than the CPU");
                /* the relevance of a hidden node too (read back from the device) */
                int mid = gc->n_nodes / 2;
                const ts_tensor *hc = ts_lrp_node_relevance(lc, mid), *hg = ts_lrp_node_relevance(lg, mid);
                compare_graph(row, "a hidden node's relevance", gg, hg->data, hc->data, ts_tensor_numel(hc), 1e-4, 2e-3,
                              1);
            }
            ts_lrp_free(lc);
            ts_lrp_free(lg);
            ts_lrp_rules_clear(&rc);
            ts_lrp_rules_clear(&rg);
            ts_graph_free(gc);
            ts_graph_free(gg);
            free(x), free(relc), free(relg);
        }
}

static void usage(void)
{
    printf("usage: test-ops [--backend cpu|cuda] [--quick]\n"
           "  --quick  the op rows once, no whole networks or large A(x,y) maps (under\n"
           "           compute-sanitizer, which runs kernels many times slower)\n");
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    ts_device want = TS_DEVICE_CPU;
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--backend") && i + 1 < argc && ts_device_parse(argv[i + 1], &want) == TS_OK &&
            want != TS_DEVICE_AUTO) {
            i++;
        } else if (!strcmp(argv[i], "--quick")) {
            quick = 1;
        } else {
            usage();
            return 2;
        }
    }
    ts_rng_seed(&rng, 20240611);
    ts_cpu_set_threads(2);
    cpu = ts_backend_cpu();
    dev = cpu;
    dctx = NULL;
    on_cpu = want == TS_DEVICE_CPU;
    if (!on_cpu) {
        char why[256];
        if (!ts_gpu_present(why, sizeof why)) {
            printf("SKIP: no GPU here (%s)\n", why);
            return 77;
        }
        /* float32 only (the tolerances), and the plans chosen, one line
         * each on stderr, in the test log */
        unsetenv("TS_CUDA_TF32");
        setenv("TS_CUDA_VERBOSE", "1", 0);
        if (ts_backend_select(TS_DEVICE_CUDA, &dev, &dctx, NULL, 0) != TS_OK) {
            printf("FAIL: there is a GPU, but the CUDA backend does not open: %s\n", ts_last_error());
            return 1;
        }
        dev->set_deterministic(dctx, true);
        char d[512];
        dev->describe(dctx, d, sizeof d);
        printf("backend under test: %s\n", d);
    } else {
        printf("backend under test: the CPU against naive references and finite differences\n");
    }

    static row rows[96];
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
    /* depthwise (groups == C): backend/cpu/depthwise.c's direct kernel and
     * kernels/depthwise.cu.  Widths above and below the CPU's 8-wide
     * vectors, TensorFlow's "same" padding (the odd pixel at the
     * bottom/right, as face-api's MobileNet), strides 1-3. */
    t = node_of(TS_OP_CONV2D); t.out_c = 4; t.kh = t.kw = 3; t.groups = 4; t.stride = 2;
    t.pad_t = t.pad_l = 0; t.pad_b = t.pad_r = 1;
    ROW("depthwise-s2-tf-same", t, .n_in = 1, .in = { { 2, 4, 10, 20 } }, .expect_h = 5, .expect_w = 10);
    t = node_of(TS_OP_CONV2D); t.out_c = 5; t.kh = t.kw = 3; t.groups = 5;
    t.pad_t = t.pad_b = t.pad_l = t.pad_r = 1;
    ROW("depthwise-s1-wide", t, .n_in = 1, .in = { { 3, 5, 7, 27 } }, .expect_h = 7, .expect_w = 27);
    t = node_of(TS_OP_CONV2D); t.out_c = 6; t.kh = 5; t.kw = 4; t.groups = 3; t.stride = 3;
    t.pad_t = 2; t.pad_b = 1; t.pad_l = 0; t.pad_r = 3;
    ROW("depthwise-x2-k5x4-s3", t, .n_in = 1, .in = { { 2, 3, 11, 31 } }, .expect_h = 4, .expect_w = 11);
    t = node_of(TS_OP_CONV2D); t.out_c = 16; t.kh = t.kw = 3; t.groups = 16; t.has_bias = 0;
    t.pad_t = t.pad_b = t.pad_l = t.pad_r = 1;
    ROW("depthwise-16ch", t, .n_in = 1, .in = { { 1, 16, 16, 16 } }, .fd_samples = 100);
    /* stride 1: small maps put many samples in one chunk of columns (dout
     * gathered, din folded back per sample), unpadded, and asymmetric pads
     * with a non-square kernel and groups */
    t = node_of(TS_OP_CONV2D); t.out_c = 6; t.kh = t.kw = 3; t.pad_t = t.pad_b = t.pad_l = t.pad_r = 1;
    ROW("conv2d 3x3 s1 small maps (chunked din)", t, .n_in = 1, .in = { { 5, 8, 5, 5 } }, .fd_samples = 60);
    t = node_of(TS_OP_CONV2D); t.out_c = 4; t.kh = t.kw = 3;
    ROW("conv2d 3x3 s1 unpadded", t, .n_in = 1, .in = { { 2, 3, 6, 7 } }, .expect_h = 4, .expect_w = 5);
    t = node_of(TS_OP_CONV2D); t.out_c = 4; t.kh = 3; t.kw = 2; t.groups = 2;
    t.pad_t = 0; t.pad_b = 2; t.pad_l = 1; t.pad_r = 0;
    ROW("conv2d 3x2 s1 asymmetric pads groups 2", t, .n_in = 1, .in = { { 3, 4, 6, 5 } }, .expect_h = 6, .expect_w = 5);
    /* 3x3 stride 1 by Winograd on the CPU (winograd.c; these small batches
     * would not pay, .winograd asks for it), edge tiles cut, asymmetric
     * pads with groups */
    t = node_of(TS_OP_CONV2D); t.out_c = 16; t.kh = t.kw = 3; t.pad_t = t.pad_b = t.pad_l = t.pad_r = 1;
    ROW("conv2d 3x3 s1 16->16 (winograd)", t, .n_in = 1, .in = { { 2, 16, 8, 10 } }, .fd_samples = 80, .winograd = 1);
    t = node_of(TS_OP_CONV2D); t.out_c = 32; t.kh = t.kw = 3; t.groups = 2;
    t.pad_t = 2; t.pad_b = 0; t.pad_l = 0; t.pad_r = 1;
    ROW("conv2d 3x3 s1 32->32 groups 2 pads 2,0,0,1 (winograd)", t, .n_in = 1, .in = { { 2, 32, 6, 5 } }, .fd_samples = 80,
        .winograd = 1);
    /* big enough that the column matrix is split into chunks of samples */
    t = node_of(TS_OP_CONV2D); t.out_c = 4; t.kh = t.kw = 5; t.pad_t = t.pad_b = t.pad_l = t.pad_r = 2;
    ROW("conv2d-chunked", t, .n_in = 1, .in = { { 12, 16, 32, 32 } }, .fd_samples = 48);

    /* activations */
    t = node_of(TS_OP_RELU);
    ROW("relu", t, .n_in = 1, .in = { { 2, 3, 4, 5 } });
    t = node_of(TS_OP_RELU); t.clip = 6.0f;
    ROW("relu6", t, .n_in = 1, .in = { { 2, 3, 4, 5 } });
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

    /* the CUDA op test's convolution shapes (issue 5): AlexNet's conv1 on
     * 35x35, an asymmetric-pad row and its padded shape, which cuDNN sees
     * as the same convolution but whose backward-data plan must
     * accumulate (a separate plan) */
    t = node_of(TS_OP_CONV2D); t.out_c = 8; t.kh = t.kw = 11; t.stride = 4;
    ROW("conv2d 11x11 s4 (conv1)", t, .n_in = 1, .in = { { 2, 3, 35, 35 } }, .fd_samples = 60);
    t = node_of(TS_OP_CONV2D); t.out_c = 5; t.kh = t.kw = 3; t.stride = 2; t.pad_t = 0; t.pad_b = 1; t.pad_l = 1; t.pad_r = 0;
    ROW("conv2d 3x3 asymmetric pads s2", t, .n_in = 1, .in = { { 2, 4, 9, 8 } });
    t = node_of(TS_OP_CONV2D); t.out_c = 5; t.kh = t.kw = 3; t.stride = 2;
    ROW("conv2d 3x3 s2 (the asymmetric row's padded shape)", t, .n_in = 1, .in = { { 2, 4, 10, 9 } });
    t = node_of(TS_OP_CONV2D); t.out_c = 12; t.kh = t.kw = 5; t.groups = 2; t.pad_t = t.pad_b = t.pad_l = t.pad_r = 2;
    ROW("conv2d 5x5 pad 2 groups 2", t, .n_in = 1, .in = { { 2, 8, 9, 9 } }, .fd_samples = 100);

    /* fc */
    t = node_of(TS_OP_FC); t.out_c = 4;
    ROW("fc", t, .n_in = 1, .in = { { 3, 2, 3, 3 } });
    t = node_of(TS_OP_FC); t.out_c = 5; t.has_bias = 0;
    ROW("fc-batch1-nobias", t, .n_in = 1, .in = { { 1, 7, 1, 1 } });
    t = node_of(TS_OP_FC); t.out_c = 3;
    ROW("fc-batch1", t, .n_in = 1, .in = { { 1, 2, 2, 3 } });
    t = node_of(TS_OP_FC); t.out_c = 10;
    ROW("fc 36 -> 10", t, .n_in = 1, .in = { { 3, 4, 3, 3 } });

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

    /* batchnorm: training (the batch's statistics, gradients through them),
     * evaluation (the running ones), after an fc (H = W = 1), one sample */
    t = node_of(TS_OP_BATCHNORM);
    ROW("batchnorm-train", t, .n_in = 1, .in = { { 3, 5, 4, 3 } }, .training = 1);
    t = node_of(TS_OP_BATCHNORM); t.bn_eps = 1e-3f; t.bn_momentum = 0.3f;
    ROW("batchnorm-eval", t, .n_in = 1, .in = { { 2, 4, 3, 5 } }, .training = 0);
    t = node_of(TS_OP_BATCHNORM);
    ROW("batchnorm-train 1x1 maps", t, .n_in = 1, .in = { { 6, 7, 1, 1 } }, .training = 1);
    t = node_of(TS_OP_BATCHNORM);
    ROW("batchnorm-train one sample", t, .n_in = 1, .in = { { 1, 3, 5, 5 } }, .training = 1);
#undef ROW


    int covered[TS_OP_COUNT] = { 0 };
    for (int i = 0; i < n; i++) {
        if (rows[i].winograd) ts_cpu_set_winograd(TS_WINOGRAD_ALWAYS);
        run_row(&rows[i]);
        ts_cpu_set_winograd(TS_WINOGRAD_AUTO);
        covered[rows[i].node.op] = 1;
    }
    if (!on_cpu && !quick) {
        /* the convolutions again on 4-byte aligned tensors (their own plans) */
        misalign = 1;
        for (int i = 0; i < n; i++)
            if (rows[i].node.op == TS_OP_CONV2D) run_row(&rows[i]);
        misalign = 0;
    }
    for (int op = TS_OP_CONV2D; op < TS_OP_COUNT; op++)
        if (!covered[op]) {
            char msg[96];
            snprintf(msg, sizeof msg, "op %s has no row in the op table", ts_op_name((ts_op)op));
            report_fail("table", "coverage", msg);
        }
    run_relu_specials();
    run_maxpool_ties();
    run_winograd();
    run_direct();
    run_fresh_din();
    run_lrp_prims();
    run_sgd();
    run_softmax();
    if (!quick) run_amap();
    run_shape_errors();
    if (on_cpu) {
        check_losses();
        check_dropout_stats();
        printf("(whole networks are compared between a device and the CPU: nothing to compare on the CPU; "
               "tests/explain/test-lrp checks the CPU's LRP against NumPy)\n");
    } else if (!quick) {
        run_graph_training();
        run_graph_lrp();
    }
    printf("%s: %d rows, %d checks, %d failed, %d unsupported\n", dev->name, n, checks, failures, unsupported);
    ts_backend_close(dev, dctx);
    return failures ? 1 : 0;
}
