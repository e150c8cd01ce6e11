/* depthwise.c - depthwise convolution on the CPU, computed directly.
 *
 * A depthwise convolution is a conv2d (graph.h) whose every group holds one
 * input channel: groups == C > 1, weight (O, 1, KH, KW), O = M*C with M
 * outputs per input channel (the "depth multiplier"; output o reads input
 * channel o / M).  conv2d.c's im2col + GEMM turns that into C tiny GEMMs of
 * M x (KH*KW) by (KH*KW) x (OH*OW) each, which spend their time packing
 * rather than multiplying; MobileNet's depthwise layers (face-api's SSD
 * detector, its landmark net) ran at a few percent of the machine's speed.
 * conv2d.c calls these functions instead once it has checked the shapes.
 *
 * Forward, per (sample, input channel): the input plane is copied once into
 * a zero-padded, stride-split buffer (row r of the padded plane, phase p in
 * [0,S), column j holds padded pixel (r, j*S + p)), so that output pixel
 * (oy, ox) reads, for kernel tap (ky, kx), element ox + kx/S of row
 * oy*S + ky, phase kx%S: a contiguous run for every tap and every stride,
 * with no bounds checks.  Outputs are then produced eight at a time in a
 * vector register (GCC vector extension; an AVX2 clone is chosen at load
 * time where the CPU has it) accumulating the KH*KW taps in order, bias
 * first.  Summation order: bias, then taps row by row, as the op table's
 * reference (test-ops.c), in float.
 *
 * Backward (accumulating, backend.h), per input channel c over all samples,
 * so that each task owns dweight/dbias of its M outputs and the din planes
 * of its channel: dbias += sum of dout; dweight[o,ky,kx] += sum over
 * positions of dout * padded input; din += the adjoint (dout scattered
 * through the taps into a padded plane, whose interior is added to din).
 */
#include "backend/cpu/cpu-ops.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef float v8f __attribute__((vector_size(32), aligned(4), may_alias));

typedef struct dw_geom {
    int N, C, H, W, O, OH, OW, KH, KW, S, pt, pl, M;
    int R;  /* padded rows read: (OH-1)*S + KH */
    int L;  /* columns per phase row: OW + (KW-1)/S */
} dw_geom;

static void dw_geom_init(const ts_op_args *a, dw_geom *g)
{
    const ts_tensor *x = a->in[0], *w = a->weight, *y = a->out;
    const ts_node *nd = a->node;
    *g = (dw_geom){
        .N = x->n, .C = x->c, .H = x->h, .W = x->w, .O = w->n, .OH = y->h, .OW = y->w,
        .KH = w->h, .KW = w->w, .S = nd->stride, .pt = nd->pad_t, .pl = nd->pad_l,
    };
    g->M = g->O / g->C;
    g->R = (g->OH - 1) * g->S + g->KH;
    g->L = g->OW + (g->KW - 1) / g->S;
}

/* Padded, stride-split copy of one input plane (see the header comment):
 * buf holds R*S rows of L floats. */
static void dw_fill(const dw_geom *g, const float *xp, float *buf)
{
    cpu_phase_fill(xp, g->H, g->W, g->pt, g->pl, g->R, g->S, g->L, buf);
}

void cpu_phase_fill(const float *xp, int H, int W, int pt, int pl, int R, int S, int L, float *buf)
{
    for (int r = 0; r < R; r++) {
        int iy = r - pt;
        for (int p = 0; p < S; p++) {
            float *d = buf + ((size_t)r * S + p) * L;
            if (iy < 0 || iy >= H) {
                memset(d, 0, (size_t)L * sizeof(float));
                continue;
            }
            const float *src = xp + (size_t)iy * W;
            if (S == 1) {
                /* d[j] = src[j - pl]: columns before lo and from hi on are padding */
                int lo = pl < L ? pl : L;
                int hi = pl + W < L ? pl + W : L;
                memset(d, 0, (size_t)lo * sizeof(float));
                memcpy(d + lo, src, (size_t)(hi - lo) * sizeof(float));
                memset(d + hi, 0, (size_t)(L - hi) * sizeof(float));
                continue;
            }
            /* j in [lo, hi): column j * S + p - pl inside the row */
            int lo = pl - p <= 0 ? 0 : (pl - p + S - 1) / S;
            int hi = W - 1 + pl - p < 0 ? 0 : (W - 1 + pl - p) / S + 1;
            if (hi > L) hi = L;
            if (lo > hi) lo = hi;
            memset(d, 0, (size_t)lo * sizeof(float));
            const float *s0 = src + (ptrdiff_t)lo * S + p - pl;
            for (int j = 0; j < hi - lo; j++) d[lo + j] = s0[(size_t)j * S];
            memset(d + hi, 0, (size_t)(L - hi) * sizeof(float));
        }
    }
}

/* One output plane from a filled buffer: yp (OH,OW) = b + sum of taps. */
__attribute__((target_clones("avx2", "default")))
static void dw_plane(const dw_geom *g, const float *buf, const float *w, float b, float *yp)
{
    const int S = g->S, KH = g->KH, KW = g->KW, OW = g->OW;
    const size_t L = (size_t)g->L;
    const int vend = OW - OW % 8;
    for (int oy = 0; oy < g->OH; oy++) {
        float *yr = yp + (size_t)oy * OW;
        const float *rows = buf + (size_t)oy * S * S * L; /* padded row oy*S, phase 0 */
        for (int ox = 0; ox < vend; ox += 8) {
            v8f acc = { b, b, b, b, b, b, b, b };
            for (int ky = 0; ky < KH; ky++) {
                const float *rk = rows + (size_t)ky * S * L;
                const float *wk = w + ky * KW;
                for (int kx = 0; kx < KW; kx++) {
                    v8f v;
                    memcpy(&v, rk + (size_t)(kx % S) * L + ox + kx / S, sizeof v);
                    acc += wk[kx] * v;
                }
            }
            memcpy(yr + ox, &acc, sizeof acc);
        }
        for (int ox = vend; ox < OW; ox++) {
            float acc = b;
            for (int ky = 0; ky < KH; ky++) {
                const float *rk = rows + (size_t)ky * S * L;
                for (int kx = 0; kx < KW; kx++) acc += w[ky * KW + kx] * rk[(size_t)(kx % S) * L + ox + kx / S];
            }
            yr[ox] = acc;
        }
    }
}

typedef struct dw_job {
    const dw_geom *g;
    const float *x, *w, *bias, *dy;
    float *y, *dx, *dw, *db;
    atomic_int oom; /* set by a task that could not allocate its buffers */
} dw_job;

static size_t dw_buf_floats(const dw_geom *g) { return (size_t)g->R * g->S * g->L; }

/* Forward over (sample, input channel) pairs. */
static void dw_forward_range(void *ctx, size_t lo, size_t hi)
{
    dw_job *j = ctx;
    const dw_geom *g = j->g;
    float *buf = malloc(dw_buf_floats(g) * sizeof(float));
    if (!buf) {
        atomic_store(&j->oom, 1);
        return;
    }
    const size_t in_plane = (size_t)g->H * g->W, out_plane = (size_t)g->OH * g->OW;
    const size_t taps = (size_t)g->KH * g->KW;
    for (size_t t = lo; t < hi; t++) {
        size_t n = t / (size_t)g->C, c = t % (size_t)g->C;
        dw_fill(g, j->x + (n * g->C + c) * in_plane, buf);
        for (int m = 0; m < g->M; m++) {
            size_t o = c * g->M + m;
            dw_plane(g, buf, j->w + o * taps, j->bias ? j->bias[o] : 0.0f, j->y + (n * g->O + o) * out_plane);
        }
    }
    free(buf);
}

ts_status cpu_depthwise_forward(const ts_op_args *a)
{
    dw_geom g;
    dw_geom_init(a, &g);
    TS_ASSERT(g.C > 1 && a->weight->c == 1 && g.O % g.C == 0);
    dw_job j = {
        .g = &g, .x = a->in[0]->data, .w = a->weight->data,
        .bias = a->node->has_bias ? a->bias->data : NULL, .y = a->out->data,
    };
    size_t work = (size_t)g.N * g.O * g.OH * g.OW * (size_t)g.KH * g.KW;
    cpu_parallel_for((size_t)g.N * g.C, work, dw_forward_range, &j);
    if (atomic_load(&j.oom)) return ts_error(TS_ERR_OOM, "conv2d '%s': out of memory for a depthwise plane", a->node->name);
    return TS_OK;
}

/* Backward over input channels (each owns its dweight/dbias rows and its
 * din planes, for every sample). */
static void dw_backward_range(void *ctx, size_t lo, size_t hi)
{
    dw_job *j = ctx;
    const dw_geom *g = j->g;
    const int S = g->S, KH = g->KH, KW = g->KW, OW = g->OW, OH = g->OH;
    const size_t L = (size_t)g->L, nb = dw_buf_floats(g);
    /* buf: the padded input (for dweight); dbuf: the padded din */
    float *buf = j->dw ? malloc(nb * sizeof(float)) : NULL;
    float *dbuf = j->dx ? malloc(nb * sizeof(float)) : NULL;
    if ((j->dw && !buf) || (j->dx && !dbuf)) {
        free(buf);
        free(dbuf);
        atomic_store(&j->oom, 1);
        return;
    }
    const size_t in_plane = (size_t)g->H * g->W, out_plane = (size_t)OH * OW, taps = (size_t)KH * KW;
    for (size_t c = lo; c < hi; c++) {
        for (int n = 0; n < g->N; n++) {
            if (buf) dw_fill(g, j->x + ((size_t)n * g->C + c) * in_plane, buf);
            if (dbuf) memset(dbuf, 0, nb * sizeof(float));
            for (int m = 0; m < g->M; m++) {
                size_t o = c * g->M + m;
                const float *dyp = j->dy + ((size_t)n * g->O + o) * out_plane;
                const float *wo = j->w + o * taps;
                if (j->db) {
                    float s = 0.0f;
                    for (size_t i = 0; i < out_plane; i++) s += dyp[i];
                    j->db[o] += s;
                }
                for (int ky = 0; ky < KH; ky++)
                    for (int kx = 0; kx < KW; kx++) {
                        const size_t off = (size_t)(kx % S) * L + kx / S;
                        if (buf) {
                            float s = 0.0f;
                            for (int oy = 0; oy < OH; oy++) {
                                const float *src = buf + (size_t)(oy * S + ky) * S * L + off;
                                const float *d = dyp + (size_t)oy * OW;
                                for (int ox = 0; ox < OW; ox++) s += d[ox] * src[ox];
                            }
                            j->dw[o * taps + (size_t)ky * KW + kx] += s;
                        }
                        if (dbuf) {
                            const float wv = wo[ky * KW + kx];
                            for (int oy = 0; oy < OH; oy++) {
                                float *dst = dbuf + (size_t)(oy * S + ky) * S * L + off;
                                const float *d = dyp + (size_t)oy * OW;
                                for (int ox = 0; ox < OW; ox++) dst[ox] += wv * d[ox];
                            }
                        }
                    }
            }
            if (!dbuf) continue;
            /* fold the padded, stride-split gradient back onto din */
            float *dxp = j->dx + ((size_t)n * g->C + c) * in_plane;
            for (int r = 0; r < g->R; r++) {
                int iy = r - g->pt;
                if (iy < 0 || iy >= g->H) continue;
                for (int p = 0; p < S; p++) {
                    const float *src = dbuf + ((size_t)r * S + p) * L;
                    float *dr = dxp + (size_t)iy * g->W;
                    for (int jj = 0; jj < g->L; jj++) {
                        int ix = jj * S + p - g->pl;
                        if (ix >= 0 && ix < g->W) dr[ix] += src[jj];
                    }
                }
            }
        }
    }
    free(buf);
    free(dbuf);
}

ts_status cpu_depthwise_backward(const ts_op_args *a)
{
    dw_geom g;
    dw_geom_init(a, &g);
    TS_ASSERT(g.C > 1 && a->weight->c == 1 && g.O % g.C == 0);
    dw_job j = {
        .g = &g, .x = a->in[0]->data, .w = a->weight->data, .dy = a->dout->data,
        .dx = cpu_want(a->din[0]) ? a->din[0]->data : NULL,
        .dw = cpu_want(a->dweight) ? a->dweight->data : NULL,
        .db = a->node->has_bias && cpu_want(a->dbias) ? a->dbias->data : NULL,
    };
    if (!j.dx && !j.dw && !j.db) return TS_OK;
    size_t work = 2 * (size_t)g.N * g.O * g.OH * g.OW * (size_t)g.KH * g.KW;
    cpu_parallel_for((size_t)g.C, work, dw_backward_range, &j);
    if (atomic_load(&j.oom)) return ts_error(TS_ERR_OOM, "conv2d '%s': out of memory for a depthwise plane", a->node->name);
    return TS_OK;
}
