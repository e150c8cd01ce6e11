/* conv2d.c - 2-D convolution on the CPU: im2col + SGEMM (OpenBLAS).
 *
 * Semantics (graph.h, TS_OP_CONV2D): input (N,C,H,W), weight
 * (O, C/groups, KH, KW), optional bias (1,O,1,1), output (N,O,OH,OW) with
 * OH = ts_conv_out_size(H, KH, stride, pad_t, pad_b) (nn/shape.h: floor, as
 * Caffe and PyTorch), likewise OW with pad_l/pad_r.  Input channel c belongs to group
 * c / (C/groups) and feeds output channels of the same group only
 * (groups == C is a depthwise convolution).  Zero padding.
 *
 * Layout: a chunk of nb samples is unrolled into a column matrix per group,
 * col_g (K, nb*P) with K = C/groups*KH*KW rows ordered (c, ky, kx) like the
 * weight and P = OH*OW columns per sample, so that out_g = W_g (Og x K) *
 * col_g in one GEMM for the whole chunk.  A chunk holds just enough samples
 * for CONV_COLS columns (small late-layer maps get batched, large early ones
 * go one sample at a time), and never more than CONV_COL_FLOATS; with
 * nb > 1 the product is scattered into NCHW, with nb == 1 the GEMM writes
 * the output in place and the scatter copy is saved.
 * A 1x1, stride 1, unpadded convolution uses the input as its column matrix.
 * A depthwise convolution (one input channel per group, groups > 1) is not
 * a GEMM worth the name: depthwise.c computes it directly.
 *
 * Backward (accumulating, backend.h): dW_g += dout_g * col_g^T,
 * dbias += sum over samples and positions, dcol_g = W_g^T * dout_g folded
 * back onto din by col2im (the adjoint of im2col).
 *
 * 3x3 stride-1 convolutions go to winograd.c instead, all three passes
 * (F(4x4, 3x3): 4 times fewer multiply-adds; F(2x2, 3x3): 2.25 times),
 * where that pays: 16 channels or more, maps without much edge waste,
 * batches of enough tiles (cpu_wino_tile).  TS_CPU_WINOGRAD=0 in the
 * environment keeps them on im2col, =2 on tiles of 2 at most (to compare).
 * The forward pass and the weight gradient of a first layer (at most four
 * input channels) go to conv-direct.c where the CPU has AVX2 and FMA.
 */
#include "backend/cpu/cpu-ops.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* GEMM columns wanted per chunk: enough for every thread to get a wide
 * block and for the weight packing to be amortised. */
#define CONV_COLS 512
/* Upper bound of one chunk's column matrix (floats, 16 MiB). */
#define CONV_COL_FLOATS ((size_t)4 << 20)

typedef struct conv_geom {
    int N, C, H, W;       /* input */
    int O, OH, OW;        /* output */
    int KH, KW, S, pt, pl;
    int G, Cg, Og;        /* groups, channels per group in and out */
    int K, P;             /* rows of col per group, columns per sample */
    int direct;           /* 1x1, stride 1, no padding: col is the input */
    ts_conv_dims d;       /* the checked dims themselves (conv-direct.c takes them) */
} conv_geom;

/* The shared rules (op-check.h), then this file's derived sizes. */
static ts_status conv_geom_init(const ts_op_args *a, conv_geom *g)
{
    const ts_node *nd = a->node;
    ts_conv_dims d;
    TS_TRY(ts_check_conv2d(a, &d));
    *g = (conv_geom){
        .d = d,
        .N = d.N, .C = d.C, .H = d.H, .W = d.W, .O = d.O, .OH = d.OH, .OW = d.OW,
        .KH = d.KH, .KW = d.KW, .S = d.S, .pt = d.pt, .pl = d.pl, .G = d.G,
    };
    g->Cg = g->C / g->G;
    g->Og = g->O / g->G;
    g->K = g->Cg * g->KH * g->KW;
    g->P = g->OH * g->OW;
    g->direct = g->KH == 1 && g->KW == 1 && g->S == 1 && nd->pad_t == 0 && nd->pad_b == 0 &&
                nd->pad_l == 0 && nd->pad_r == 0;
    return TS_OK;
}

/* -1: not decided yet (the environment decides at the first call), else a
 * ts_winograd_mode. */
static atomic_int wino_mode = -1;

void ts_cpu_set_winograd(ts_winograd_mode mode) { atomic_store(&wino_mode, (int)mode); }

/* The tile side this convolution takes in winograd.c, 0 for im2col
 * (header comment). */
static int conv_winograd(const conv_geom *g, const ts_node *nd)
{
    int mode = atomic_load(&wino_mode);
    if (mode < 0) {
        const char *e = getenv("TS_CPU_WINOGRAD");
        mode = e && e[0] == '0' ? TS_WINOGRAD_OFF : e && e[0] == '2' ? TS_WINOGRAD_AUTO2 : TS_WINOGRAD_AUTO;
        atomic_store(&wino_mode, mode);
    }
    if (mode == TS_WINOGRAD_OFF || !cpu_wino_can(g->KH, g->KW, g->S, nd->pad_t, nd->pad_b, nd->pad_l, nd->pad_r))
        return 0;
    if (mode == TS_WINOGRAD_ALWAYS) return 2;
    if (mode == TS_WINOGRAD_ALWAYS4) return 4;
    return cpu_wino_tile(g->N, g->Cg, g->Og, g->OH, g->OW, mode == TS_WINOGRAD_AUTO2 ? 2 : 4);
}

/* ---- the forward pass's Winograd input tiles, kept for the weight gradient ----
 * A training forward pass of a Winograd convolution keeps its transformed
 * input tiles (V, for the whole batch) in a buffer of this table, keyed by
 * the node; the backward pass of the same step takes them for the weight
 * gradient instead of transforming the same input again (bench-train
 * --ab-keep: forward +8 ms, backward -22 ms of a 380 ms traitnet step).  An entry is good for one backward
 * pass after the training forward that filled it: any other forward pass
 * of the node (evaluation, LRP) or a backward pass uses it up.  At most
 * KEEP_ENTRIES nodes (the least recently used buffer is freed for a new
 * one; none that a pass is using) and KEEP_MAX_FLOATS in all; beyond, a
 * convolution transforms its input twice, as without the table. */
#define KEEP_ENTRIES 16
#define KEEP_MAX_FLOATS ((size_t)1 << 28) /* 1 GiB */

typedef struct keep_entry {
    const ts_node *node;
    const float *x;     /* the input it was made from */
    int N, tile;
    size_t floats, cap;
    float *v;
    int valid, busy;
    unsigned long used; /* LRU stamp */
} keep_entry;

static keep_entry keeps[KEEP_ENTRIES];
static size_t keep_total;
static unsigned long keep_clock;
static pthread_mutex_t keep_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_ulong keep_uses;
static atomic_int keep_on = 1;

void ts_cpu_set_winograd_keep(bool on) { atomic_store(&keep_on, on ? 1 : 0); }

static keep_entry *keep_find(const ts_node *nd)
{
    for (int i = 0; i < KEEP_ENTRIES; i++)
        if (keeps[i].node == nd) return &keeps[i];
    return NULL;
}

/* A training forward pass: the buffer to fill (marked busy; keep_done
 * after), or NULL (no room: the pass keeps nothing). */
static keep_entry *keep_for_forward(const ts_node *nd, const float *x, int N, int tile, size_t floats)
{
    pthread_mutex_lock(&keep_lock);
    keep_entry *e = keep_find(nd);
    if (!e) {
        for (int i = 0; i < KEEP_ENTRIES; i++)
            if (!keeps[i].busy && (!e || keeps[i].used < e->used)) e = &keeps[i];
        if (e) {
            keep_total -= e->cap;
            free(e->v);
            memset(e, 0, sizeof *e);
            e->node = nd;
        }
    }
    if (e && !e->busy && e->cap < floats) {
        keep_total -= e->cap;
        free(e->v);
        e->v = NULL, e->cap = 0;
        if (keep_total + floats <= KEEP_MAX_FLOATS && (e->v = malloc(floats * sizeof(float))))
            e->cap = floats, keep_total += floats;
    }
    if (!e || e->busy || !e->v) {
        if (e && !e->busy) e->valid = 0;
        pthread_mutex_unlock(&keep_lock);
        return NULL;
    }
    e->x = x, e->N = N, e->tile = tile, e->floats = floats;
    e->valid = 0, e->busy = 1, e->used = ++keep_clock;
    pthread_mutex_unlock(&keep_lock);
    return e;
}

/* The end of a pass that held e: ok says whether it holds good tiles. */
static void keep_done(keep_entry *e, int ok)
{
    pthread_mutex_lock(&keep_lock);
    e->busy = 0;
    e->valid = ok;
    pthread_mutex_unlock(&keep_lock);
}

/* A backward pass: the tiles of the training forward pass just before it
 * on this input (marked busy; keep_done(e, 0) after), or NULL. */
static keep_entry *keep_for_backward(const ts_node *nd, const float *x, int N, int tile, size_t floats)
{
    pthread_mutex_lock(&keep_lock);
    keep_entry *e = keep_find(nd);
    if (e && (e->busy || !e->valid || e->x != x || e->N != N || e->tile != tile || e->floats != floats)) {
        if (!e->busy) e->valid = 0;
        e = NULL;
    }
    if (e) e->busy = 1, e->used = ++keep_clock, atomic_fetch_add(&keep_uses, 1);
    pthread_mutex_unlock(&keep_lock);
    return e;
}

unsigned long cpu_conv_kept_uses(void) { return atomic_load(&keep_uses); }

/* Any other forward pass of the node: what was kept is no longer its input's. */
static void keep_forget(const ts_node *nd)
{
    pthread_mutex_lock(&keep_lock);
    keep_entry *e = keep_find(nd);
    if (e && !e->busy) e->valid = 0;
    pthread_mutex_unlock(&keep_lock);
}

/* Samples per chunk. */
static int conv_chunk(const conv_geom *g)
{
    if (g->direct) return 1;
    size_t per = (size_t)g->G * g->K * g->P;
    size_t nb = ((size_t)CONV_COLS + g->P - 1) / g->P;
    if (nb * per > CONV_COL_FLOATS) nb = CONV_COL_FLOATS / per;
    if (nb < 1) nb = 1;
    if (nb > (size_t)g->N) nb = g->N;
    return (int)nb;
}

/* Range [lo, hi) of output columns whose input column ox*S - pl + kx lies
 * inside [0, W). */
static void conv_valid_range(int W, int OW, int S, int pl, int kx, int *lo, int *hi)
{
    int off = pl - kx; /* ix = ox*S - off */
    int l = off <= 0 ? 0 : (off + S - 1) / S;
    int h = W - 1 + off < 0 ? 0 : (W - 1 + off) / S + 1;
    if (h > OW) h = OW;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* Unrolls one input plane (H,W) into KH*KW rows of `col` (row stride ld),
 * P columns each. */
static void im2col_plane(const conv_geom *g, const float *xp, float *col, size_t ld)
{
    for (int ky = 0; ky < g->KH; ky++)
        for (int kx = 0; kx < g->KW; kx++) {
            float *row = col + (size_t)(ky * g->KW + kx) * ld;
            int lo, hi;
            conv_valid_range(g->W, g->OW, g->S, g->pl, kx, &lo, &hi);
            for (int oy = 0; oy < g->OH; oy++) {
                float *dst = row + (size_t)oy * g->OW;
                int iy = oy * g->S - g->pt + ky;
                if (iy < 0 || iy >= g->H || lo >= hi) {
                    memset(dst, 0, (size_t)g->OW * sizeof(float));
                    continue;
                }
                const float *src = xp + (size_t)iy * g->W - g->pl + kx;
                if (lo > 0) memset(dst, 0, (size_t)lo * sizeof(float));
                if (g->S == 1)
                    memcpy(dst + lo, src + lo, (size_t)(hi - lo) * sizeof(float));
                else
                    for (int ox = lo; ox < hi; ox++) dst[ox] = src[(size_t)ox * g->S];
                if (hi < g->OW) memset(dst + hi, 0, (size_t)(g->OW - hi) * sizeof(float));
            }
        }
}

/* The adjoint of im2col_plane: adds KH*KW rows of `col` back onto the
 * plane dxp. */
static void col2im_plane(const conv_geom *g, const float *col, size_t ld, float *dxp)
{
    for (int ky = 0; ky < g->KH; ky++)
        for (int kx = 0; kx < g->KW; kx++) {
            const float *row = col + (size_t)(ky * g->KW + kx) * ld;
            int lo, hi;
            conv_valid_range(g->W, g->OW, g->S, g->pl, kx, &lo, &hi);
            if (lo >= hi) continue;
            for (int oy = 0; oy < g->OH; oy++) {
                int iy = oy * g->S - g->pt + ky;
                if (iy < 0 || iy >= g->H) continue;
                const float *src = row + (size_t)oy * g->OW;
                float *dst = dxp + (size_t)iy * g->W - g->pl + kx;
                if (g->S == 1)
                    for (int ox = lo; ox < hi; ox++) dst[ox] += src[ox];
                else
                    for (int ox = lo; ox < hi; ox++) dst[(size_t)ox * g->S] += src[ox];
            }
        }
}

/* Work shared by the parallel helpers of one chunk of nb samples. */
typedef struct conv_job {
    const conv_geom *g;
    const float *x;   /* input (im2col) */
    const float *src; /* gemm result (scatter), dout (gather), dcol (col2im) */
    float *dst;       /* col (im2col), output (scatter), gathered dout, din (col2im) */
    const float *bias;
    int j0, nb;
} conv_job;

/* im2col over (sample, channel) pairs: the column matrices of samples
 * [j0, j0+nb) for every group, group gi's at col + gi*K*ld, ld = nb*P. */
static void im2col_range(void *ctx, size_t lo, size_t hi)
{
    const conv_job *j = ctx;
    const conv_geom *g = j->g;
    size_t ld = (size_t)j->nb * g->P, plane = (size_t)g->H * g->W;
    for (size_t t = lo; t < hi; t++) {
        int s = (int)(t / (size_t)g->C), c = (int)(t % (size_t)g->C), gi = c / g->Cg, cl = c % g->Cg;
        const float *xp = j->x + ((size_t)(j->j0 + s) * g->C + c) * plane;
        float *dst = j->dst + (size_t)gi * g->K * ld + (size_t)cl * g->KH * g->KW * ld + (size_t)s * g->P;
        im2col_plane(g, xp, dst, ld);
    }
}

static void conv_im2col_chunk(const conv_geom *g, const float *x, int j0, int nb, float *col)
{
    conv_job j = { .g = g, .x = x, .dst = col, .j0 = j0, .nb = nb };
    cpu_parallel_for((size_t)nb * g->C, (size_t)g->G * g->K * nb * g->P, im2col_range, &j);
}

/* col2im over (sample, channel) pairs: every pair owns its din plane. */
static void col2im_range(void *ctx, size_t lo, size_t hi)
{
    const conv_job *j = ctx;
    const conv_geom *g = j->g;
    size_t ld = (size_t)j->nb * g->P, plane = (size_t)g->H * g->W;
    for (size_t t = lo; t < hi; t++) {
        int s = (int)(t / (size_t)g->C), c = (int)(t % (size_t)g->C), gi = c / g->Cg, cl = c % g->Cg;
        const float *src = j->src + (size_t)gi * g->K * ld + (size_t)cl * g->KH * g->KW * ld + (size_t)s * g->P;
        col2im_plane(g, src, ld, j->dst + ((size_t)(j->j0 + s) * g->C + c) * plane);
    }
}

/* Scatter (O, nb*P) into nb samples of (O, P) plus bias; in place (bias
 * only) when src and dst coincide (nb == 1).  Over (sample, channel). */
static void scatter_range(void *ctx, size_t lo, size_t hi)
{
    const conv_job *j = ctx;
    const conv_geom *g = j->g;
    size_t ld = (size_t)j->nb * g->P, out_sample = (size_t)g->O * g->P;
    for (size_t t = lo; t < hi; t++) {
        int s = (int)(t / (size_t)g->O), o = (int)(t % (size_t)g->O);
        float b = j->bias ? j->bias[o] : 0.0f;
        float *dst = j->dst + (size_t)(j->j0 + s) * out_sample + (size_t)o * g->P;
        const float *src = j->src + (size_t)o * ld + (size_t)s * g->P;
        if (src == dst) {
            if (j->bias)
                for (int p = 0; p < g->P; p++) dst[p] += b;
        } else {
            for (int p = 0; p < g->P; p++) dst[p] = src[p] + b;
        }
    }
}

/* Gather nb samples of dout (O, P) into one (O, nb*P) matrix. */
static void gather_range(void *ctx, size_t lo, size_t hi)
{
    const conv_job *j = ctx;
    const conv_geom *g = j->g;
    size_t ld = (size_t)j->nb * g->P, out_sample = (size_t)g->O * g->P;
    for (size_t t = lo; t < hi; t++) {
        int s = (int)(t / (size_t)g->O), o = (int)(t % (size_t)g->O);
        memcpy(j->dst + (size_t)o * ld + (size_t)s * g->P,
               j->src + (size_t)(j->j0 + s) * out_sample + (size_t)o * g->P, (size_t)g->P * sizeof(float));
    }
}

/* dbias[o] += sum over samples and positions of dout, over channels. */
static void dbias_range(void *ctx, size_t lo, size_t hi)
{
    const conv_job *j = ctx;
    const conv_geom *g = j->g;
    size_t out_sample = (size_t)g->O * g->P;
    for (size_t o = lo; o < hi; o++) {
        double s = 0.0; /* many terms: sum in double */
        for (int n = 0; n < g->N; n++) {
            const float *src = j->src + (size_t)n * out_sample + o * g->P;
            v4sf a = { 0 }, b = { 0 }; /* eight running sums: a float sum is not vectorised otherwise */
            int p = 0;
            for (; p + 8 <= g->P; p += 8) {
                a += ld4(src + p);
                b += ld4(src + p + 4);
            }
            a += b;
            float part = (a[0] + a[1]) + (a[2] + a[3]);
            for (; p < g->P; p++) part += src[p];
            s += part;
        }
        j->dst[o] += (float)s;
    }
}

ts_status cpu_conv2d_forward(const ts_op_args *a)
{
    conv_geom g;
    TS_TRY(conv_geom_init(a, &g));
    if (g.G > 1 && g.Cg == 1) return cpu_depthwise_forward(a);
    const float *x = a->in[0]->data, *w = a->weight->data;
    const float *bias = a->node->has_bias ? a->bias->data : NULL;
    float *y = a->out->data;
    const int tile = conv_winograd(&g, a->node);
    if (tile) {
        const size_t per = cpu_wino_keep_floats(tile, g.N, g.Cg, g.OH, g.OW); /* one group's */
        keep_entry *k = NULL;
        if (a->training && atomic_load(&keep_on)) k = keep_for_forward(a->node, x, g.N, tile, per * g.G);
        else keep_forget(a->node);
        ts_status st = TS_OK;
        for (int gi = 0; gi < g.G && st == TS_OK; gi++)
            st = cpu_wino_forward(tile, g.N, g.Cg, g.H, g.W, g.Og, g.OH, g.OW, g.pt, g.pl, (size_t)g.C * g.H * g.W,
                                  (size_t)g.O * g.P, x + (size_t)gi * g.Cg * g.H * g.W, w + (size_t)gi * g.Og * g.K,
                                  bias ? bias + (size_t)gi * g.Og : NULL, y + (size_t)gi * g.Og * g.P,
                                  k ? k->v + (size_t)gi * per : NULL);
        if (k) keep_done(k, st == TS_OK);
        return st;
    }
    keep_forget(a->node);
    if (cpu_direct_can(&g.d)) return cpu_direct_forward(a, &g.d);
    int nb = conv_chunk(&g);
    size_t in_sample = (size_t)g.C * g.H * g.W, out_sample = (size_t)g.O * g.P;

    for (int j0 = 0; j0 < g.N; j0 += nb) {
        int n = g.N - j0 < nb ? g.N - j0 : nb;
        size_t ld = (size_t)n * g.P;
        const float *col;
        if (g.direct) {
            col = x + (size_t)j0 * in_sample; /* n == 1 */
        } else {
            float *c = cpu_scratch(0, (size_t)g.G * g.K * ld);
            if (!c) return TS_ERR_OOM;
            conv_im2col_chunk(&g, x, j0, n, c);
            col = c;
        }
        float *res = y + (size_t)j0 * out_sample;
        if (n > 1) {
            res = cpu_scratch(1, (size_t)g.O * ld);
            if (!res) return TS_ERR_OOM;
        }
        for (int gi = 0; gi < g.G; gi++)
            cpu_gemm(0, 0, g.Og, (int)ld, g.K, 1.0f, w + (size_t)gi * g.Og * g.K, g.K,
                     col + (size_t)gi * g.K * ld, (int)ld, 0.0f, res + (size_t)gi * g.Og * ld, (int)ld);
        if (n > 1 || bias) {
            conv_job j = { .g = &g, .src = res, .dst = y, .bias = bias, .j0 = j0, .nb = n };
            cpu_parallel_for((size_t)n * g.O, 2 * (size_t)g.O * ld, scatter_range, &j);
        }
    }
    return TS_OK;
}

bool cpu_conv2d_writes_din(const ts_op_args *a)
{
    conv_geom g;
    if (conv_geom_init(a, &g) != TS_OK) return false;
    return !(g.G > 1 && g.Cg == 1) && conv_winograd(&g, a->node) != 0;
}

ts_status cpu_conv2d_backward(const ts_op_args *a)
{
    conv_geom g;
    TS_TRY(conv_geom_init(a, &g));
    if (g.G > 1 && g.Cg == 1) return cpu_depthwise_backward(a);
    const float *x = a->in[0]->data, *w = a->weight->data, *dy = a->dout->data;
    float *dx = cpu_want(a->din[0]) ? a->din[0]->data : NULL;
    float *dw = cpu_want(a->dweight) ? a->dweight->data : NULL;
    float *db = a->node->has_bias && cpu_want(a->dbias) ? a->dbias->data : NULL;
    if (dx) TS_ASSERT(ts_tensor_same_shape(a->din[0], a->in[0]));
    if (dw) TS_ASSERT(ts_tensor_same_shape(a->dweight, a->weight));
    TS_ASSERT(ts_tensor_same_shape(a->dout, a->out));
    size_t in_sample = (size_t)g.C * g.H * g.W, out_sample = (size_t)g.O * g.P;

    if (db) {
        conv_job j = { .g = &g, .src = dy, .dst = db };
        cpu_parallel_for((size_t)g.O, (size_t)g.N * out_sample, dbias_range, &j);
    }
    if (!dx && !dw) return TS_OK;
    const int tile = conv_winograd(&g, a->node);
    if (tile) {
        const size_t per = cpu_wino_keep_floats(tile, g.N, g.Cg, g.OH, g.OW);
        keep_entry *k = dw ? keep_for_backward(a->node, x, g.N, tile, per * g.G) : NULL;
        ts_status st = TS_OK;
        for (int gi = 0; gi < g.G && st == TS_OK; gi++) {
            size_t xo = (size_t)gi * g.Cg * g.H * g.W, yo = (size_t)gi * g.Og * g.P, wo = (size_t)gi * g.Og * g.K;
            if (dw)
                st = cpu_wino_dweight(tile, g.N, g.Cg, g.H, g.W, g.Og, g.OH, g.OW, g.pt, g.pl, in_sample, out_sample,
                                      x + xo, dy + yo, dw + wo, k ? k->v + (size_t)gi * per : NULL);
            if (dx && st == TS_OK)
                st = cpu_wino_dinput(tile, g.N, g.Cg, g.H, g.W, g.Og, g.OH, g.OW, g.pt, g.pl, in_sample, out_sample,
                                     w + wo, dy + yo, dx + xo, !a->din_fresh[0]);
        }
        if (k) keep_done(k, 0);
        return st;
    }

    if (dw && !dx && cpu_direct_can(&g.d)) return cpu_direct_dweight(a, &g.d, dw);
    int nb = conv_chunk(&g);
    for (int j0 = 0; j0 < g.N; j0 += nb) {
        int n = g.N - j0 < nb ? g.N - j0 : nb;
        size_t ld = (size_t)n * g.P;

        /* dout of the chunk as one (O, n*P) matrix. */
        const float *dres = dy + (size_t)j0 * out_sample;
        if (n > 1) {
            float *r = cpu_scratch(1, (size_t)g.O * ld);
            if (!r) return TS_ERR_OOM;
            conv_job j = { .g = &g, .src = dy, .dst = r, .j0 = j0, .nb = n };
            cpu_parallel_for((size_t)n * g.O, 2 * (size_t)g.O * ld, gather_range, &j);
            dres = r;
        }

        if (dw) {
            const float *col;
            if (g.direct) {
                col = x + (size_t)j0 * in_sample;
            } else {
                float *c = cpu_scratch(0, (size_t)g.G * g.K * ld);
                if (!c) return TS_ERR_OOM;
                conv_im2col_chunk(&g, x, j0, n, c);
                col = c;
            }
            for (int gi = 0; gi < g.G; gi++)
                cpu_gemm(0, 1, g.Og, g.K, (int)ld, 1.0f, dres + (size_t)gi * g.Og * ld, (int)ld,
                         col + (size_t)gi * g.K * ld, (int)ld, 1.0f, dw + (size_t)gi * g.Og * g.K, g.K);
        }

        if (dx) {
            if (g.direct) {
                /* din itself is the column matrix: accumulate straight in. */
                float *dxs = dx + (size_t)j0 * in_sample;
                for (int gi = 0; gi < g.G; gi++)
                    cpu_gemm(1, 0, g.K, (int)ld, g.Og, 1.0f, w + (size_t)gi * g.Og * g.K, g.K,
                             dres + (size_t)gi * g.Og * ld, (int)ld, 1.0f, dxs + (size_t)gi * g.K * ld,
                             (int)ld);
                continue;
            }
            float *dcol = cpu_scratch(2, (size_t)g.G * g.K * ld);
            if (!dcol) return TS_ERR_OOM;
            for (int gi = 0; gi < g.G; gi++)
                cpu_gemm(1, 0, g.K, (int)ld, g.Og, 1.0f, w + (size_t)gi * g.Og * g.K, g.K,
                         dres + (size_t)gi * g.Og * ld, (int)ld, 0.0f, dcol + (size_t)gi * g.K * ld, (int)ld);
            conv_job j = { .g = &g, .src = dcol, .dst = dx, .j0 = j0, .nb = n };
            cpu_parallel_for((size_t)n * g.C, (size_t)g.G * g.K * ld, col2im_range, &j);
        }
    }
    return TS_OK;
}
