/* lrp.c - the building blocks of LRP's linear-layer rules on the CPU
 * (backend.h: lrp_linear, lrp_split, lrp_square, fill_channels).
 * explain/lrp.c writes every rule as a sum of terms over them.
 *
 * The generic step, with terms (W'_k, x'_k):
 *     Z_j  = sum_k sum_i W'_k[j,i] x'_k[i]  (+ b'_j)      or the forward Z
 *     S_j  = R_j / stab(Z_j)
 *     R_i += coef * sum_k x'_k[i] * sum_j W'_k[j,i] S_j
 * For a convolution, per sample and group: im2col of each x'_k, one SGEMM
 * per term forward (W'_k @ col(x'_k)), one per term backward
 * (W'_k^T @ S), an elementwise product with the columns and col2im.  Zero
 * padding falls out of im2col: padded cells are 0 in every column matrix,
 * including the ones of the constant planes 1, -l and -h.  For an fc layer
 * the whole batch is one SGEMM per term each way.
 *
 * The SGEMMs are single calls of OpenBLAS (one thread, its pool is kept at
 * one thread: cpu.c): LRP explains one face at a time in the app, where a
 * thread pool would cost more than it gives.
 */
#include "backend/cpu/cpu-ops.h"

#include <cblas.h>
#include <string.h>

/* S = R / stab(Z), in place in z.  use_eps: Z + eps sign(Z), sign(0) = +1;
 * otherwise a zero denominator gives zero. */
static void divide(float *z, const float *r, size_t n, bool use_eps, float eps)
{
    if (use_eps) {
        for (size_t k = 0; k < n; k++) {
            float d = z[k] + (z[k] >= 0 ? eps : -eps);
            z[k] = d != 0 ? r[k] / d : 0.0f;
        }
    } else {
        for (size_t k = 0; k < n; k++) z[k] = z[k] != 0 ? r[k] / z[k] : 0.0f;
    }
}

/* Convolution geometry of node nd on an input (c,h,w). */
typedef struct cgeom {
    int C, H, W, O, OH, OW, KH, KW, S, pt, pl, G, Cg, Og, K, P;
} cgeom;

static cgeom conv_geom(const ts_node *nd, int c, int h, int w)
{
    cgeom g = { .C = c, .H = h, .W = w, .O = nd->c, .OH = nd->h, .OW = nd->w, .KH = nd->kh,
                .KW = nd->kw, .S = nd->stride, .pt = nd->pad_t, .pl = nd->pad_l, .G = nd->groups };
    g.Cg = g.C / g.G;
    g.Og = g.O / g.G;
    g.K = g.Cg * g.KH * g.KW;
    g.P = g.OH * g.OW;
    return g;
}

/* col (K, P) from channels [0, Cg) of x (Cg,H,W); zero outside the image. */
static void im2col(const cgeom *g, const float *x, float *col)
{
    for (int c = 0; c < g->Cg; c++)
        for (int ky = 0; ky < g->KH; ky++)
            for (int kx = 0; kx < g->KW; kx++) {
                float *row = col + ((size_t)(c * g->KH + ky) * g->KW + kx) * g->P;
                const float *plane = x + (size_t)c * g->H * g->W;
                for (int oy = 0; oy < g->OH; oy++) {
                    int iy = oy * g->S - g->pt + ky;
                    float *dst = row + (size_t)oy * g->OW;
                    if (iy < 0 || iy >= g->H) {
                        memset(dst, 0, (size_t)g->OW * sizeof(float));
                        continue;
                    }
                    const float *src = plane + (size_t)iy * g->W;
                    for (int ox = 0; ox < g->OW; ox++) {
                        int ix = ox * g->S - g->pl + kx;
                        dst[ox] = ix >= 0 && ix < g->W ? src[ix] : 0.0f;
                    }
                }
            }
}

/* x (Cg,H,W) += coef * col2im(col). */
static void col2im_add(const cgeom *g, const float *col, float coef, float *x)
{
    for (int c = 0; c < g->Cg; c++)
        for (int ky = 0; ky < g->KH; ky++)
            for (int kx = 0; kx < g->KW; kx++) {
                const float *row = col + ((size_t)(c * g->KH + ky) * g->KW + kx) * g->P;
                float *plane = x + (size_t)c * g->H * g->W;
                for (int oy = 0; oy < g->OH; oy++) {
                    int iy = oy * g->S - g->pt + ky;
                    if (iy < 0 || iy >= g->H) continue;
                    const float *src = row + (size_t)oy * g->OW;
                    float *dst = plane + (size_t)iy * g->W;
                    for (int ox = 0; ox < g->OW; ox++) {
                        int ix = ox * g->S - g->pl + kx;
                        if (ix >= 0 && ix < g->W) dst[ix] += coef * src[ox];
                    }
                }
            }
}

/* The step for sample s of a convolution: x'_k, R, z_fwd and Rin point at
 * that sample. */
static ts_status conv_sample(const ts_node *nd, const cgeom *g, const ts_lrp_term *t, const size_t *xoff, int nt,
                             const float *bias, const float *z_fwd, bool use_eps, float eps, float coef,
                             const float *R, float *Rin)
{
    size_t kp = (size_t)g->K * g->P, op = (size_t)g->Og * g->P;
    float *buf = cpu_scratch(0, kp * (size_t)(nt + 2) + op);
    if (!buf) return ts_error(TS_ERR_OOM, "lrp: scratch for '%s'", nd->name);
    float *cols = buf, *d = buf + kp * nt, *acc = d + kp, *z = acc + kp;
    size_t wg = (size_t)g->Og * g->K; /* weight floats per group */
    for (int gi = 0; gi < g->G; gi++) {
        size_t goff = (size_t)gi * g->Cg * g->H * g->W;
        for (int k = 0; k < nt; k++) im2col(g, t[k].x + xoff[k] + goff, cols + kp * k);
        const float *Rg = R + (size_t)gi * op;
        if (z_fwd) {
            memcpy(z, z_fwd + (size_t)gi * op, op * sizeof(float));
        } else {
            for (int k = 0; k < nt; k++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->Og, g->P, g->K, 1.0f, t[k].w + gi * wg,
                            g->K, cols + kp * k, g->P, k ? 1.0f : 0.0f, z, g->P);
            if (bias)
                for (int o = 0; o < g->Og; o++) {
                    float b = bias[gi * g->Og + o];
                    float *zr = z + (size_t)o * g->P;
                    for (int p = 0; p < g->P; p++) zr[p] += b;
                }
        }
        divide(z, Rg, op, use_eps, eps);
        for (int k = 0; k < nt; k++) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, g->K, g->P, g->Og, 1.0f, t[k].w + gi * wg, g->K, z,
                        g->P, 0.0f, d, g->P);
            const float *ck = cols + kp * k;
            if (k == 0)
                for (size_t q = 0; q < kp; q++) acc[q] = ck[q] * d[q];
            else
                for (size_t q = 0; q < kp; q++) acc[q] += ck[q] * d[q];
        }
        col2im_add(g, acc, coef, Rin + goff);
    }
    return TS_OK;
}

/* The step for a whole batch of an fc layer: x rows (N,K). */
static ts_status fc_batch(const ts_node *nd, int N, int K, const ts_lrp_term *t, int nt, const float *bias,
                          const float *z_fwd, bool use_eps, float eps, float coef, const float *R, float *Rin)
{
    int O = nd->c;
    size_t nk = (size_t)N * K, no = (size_t)N * O;
    float *buf = cpu_scratch(0, nk + no);
    if (!buf) return ts_error(TS_ERR_OOM, "lrp: scratch for '%s'", nd->name);
    float *d = buf, *z = buf + nk;
    if (z_fwd) {
        memcpy(z, z_fwd, no * sizeof(float));
    } else {
        for (int k = 0; k < nt; k++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, O, K, 1.0f, t[k].x, K, t[k].w, K,
                        k ? 1.0f : 0.0f, z, O);
        if (bias)
            for (int n = 0; n < N; n++)
                for (int o = 0; o < O; o++) z[(size_t)n * O + o] += bias[o];
    }
    divide(z, R, no, use_eps, eps);
    for (int k = 0; k < nt; k++) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, K, O, 1.0f, z, O, t[k].w, K, 0.0f, d, K);
        for (size_t q = 0; q < nk; q++) Rin[q] += coef * t[k].x[q] * d[q];
    }
    return TS_OK;
}

ts_status cpu_lrp_linear(void *ctx, const ts_node *nd, int n, int c, int h, int w, const ts_lrp_term *t, int nt,
                         const float *bias, const float *z_fwd, bool use_eps, float eps, float coef, const float *R,
                         float *Rin)
{
    (void)ctx;
    TS_ASSERT(nd && t && R && Rin);
    if (nd->op != TS_OP_CONV2D && nd->op != TS_OP_FC)
        return ts_error(TS_ERR_ARG, "lrp: '%s' is a %s, not conv2d or fc", nd->name, ts_op_name(nd->op));
    if (nt < 1 || nt > 3 || n < 1) return ts_error(TS_ERR_ARG, "lrp: '%s': %d terms, batch %d", nd->name, nt, n);
    size_t xs = (size_t)c * h * w, ys = (size_t)nd->c * nd->h * nd->w;
    if (nd->op == TS_OP_FC) return fc_batch(nd, n, (int)xs, t, nt, bias, z_fwd, use_eps, eps, coef, R, Rin);
    if (nd->groups < 1 || c % nd->groups || nd->c % nd->groups)
        return ts_error(TS_ERR_SHAPE, "lrp: conv2d '%s': groups %d do not divide %d and %d channels", nd->name,
                        nd->groups, c, nd->c);
    cgeom g = conv_geom(nd, c, h, w);
    for (int s = 0; s < n; s++) {
        size_t xoff[3] = { s * xs, s * xs, s * xs };
        TS_TRY(conv_sample(nd, &g, t, xoff, nt, bias, z_fwd ? z_fwd + s * ys : NULL, use_eps, eps, coef, R + s * ys,
                           Rin + s * xs));
    }
    return TS_OK;
}

ts_status cpu_lrp_split(void *ctx, const float *x, float *pos, float *neg, size_t n, bool *any_negative)
{
    (void)ctx;
    bool neg_seen = false;
    for (size_t k = 0; k < n; k++) {
        float v = x[k];
        pos[k] = v > 0 ? v : 0.0f;
        neg[k] = v < 0 ? v : 0.0f;
        neg_seen |= v < 0;
    }
    if (any_negative) *any_negative = neg_seen;
    return TS_OK;
}

ts_status cpu_lrp_square(void *ctx, const float *w, float *out, size_t n, bool flat)
{
    (void)ctx;
    for (size_t k = 0; k < n; k++) out[k] = flat ? 1.0f : w[k] * w[k];
    return TS_OK;
}

ts_status cpu_fill_channels(void *ctx, float *out, int n, int ch, size_t hw, const float *values)
{
    (void)ctx;
    TS_ASSERT(values && ch >= 1 && n >= 0);
    for (int s = 0; s < n; s++)
        for (int c = 0; c < ch; c++) {
            float v = values[c], *p = out + ((size_t)s * ch + c) * hw;
            for (size_t q = 0; q < hw; q++) p[q] = v;
        }
    return TS_OK;
}
