/* test-kernel-bodies.c - our CUDA kernels' per-element bodies, run on the
 * CPU against the CPU backend (issue 14; runs on every machine, in CI).
 *
 * Each kernel of kernels/<stem>.cu is a grid-stride loop around a function
 * of the element index in kernels/<stem>-body.h (body.h), which compiles
 * for the host as plain C.  Here every body runs over its whole index space
 * (a serial loop stands for the grid) on inputs that exercise its edges
 * (padding, Caffe's ceil windows, ties, NaN, -inf, zero denominators,
 * channels at the borders of LRN windows), and its result is compared with
 * what the CPU backend (backend/cpu/, the reference) computes for the same
 * op through the backend table:
 *   exact          relu, leaky relu, relu clip (ReLU6), add, concat, dropout, maxpool forward,
 *                  bias forward, pad (through a convolution), sgd,
 *                  softmax, lrp split / square / fill, add's LRP rule,
 *                  A(x,y) (against ts_amap_reference)
 *   1e-6 + 1e-5 rel   sums in another order: bias gradient, depthwise
 *                  convolution (forward, input and weight gradients), unpad (through
 *                  a convolution's input gradient), pooling backward,
 *                  average pooling's LRP rule, LRN (powf against the
 *                  CPU's square roots for beta = 0.75), batchnorm (apply,
 *                  input gradient and LRP, coefficients from the CPU's
 *                  statistics)
 * So indexing, rounding and tie rules of the GPU code are checked before a
 * GPU ever runs it; what a GPU adds (fused multiply-adds, its own powf and
 * expf) is bounded by the GPU op table (test-ops --backend cuda).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/add-body.h"
#include "kernels/amap-body.h"
#include "kernels/batchnorm-body.h"
#include "kernels/concat-body.h"
#include "kernels/conv2d-body.h"
#include "kernels/depthwise-body.h"
#include "kernels/dropout-body.h"
#include "kernels/lrn-body.h"
#include "kernels/lrp-body.h"
#include "kernels/pool-body.h"
#include "kernels/relu-body.h"
#include "kernels/sgd-body.h"
#include "kernels/softmax-body.h"
#include "face/amap.h"
#include "backend/backend.h"
#include "backend/op-check.h"

static int failures, checks;
static ts_rng rng;
static const ts_backend *cpu;

static float *fnew(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    TS_ASSERT(p);
    return p;
}

static void fill(float *p, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++) p[i] = lo + (hi - lo) * ts_rng_uniform(&rng);
}

/* exact: bit-equal (NaN equal to NaN); else |a-b| <= 1e-6 + 1e-5 |b|. */
static void same(const char *what, const float *got, const float *want, size_t n, int exact)
{
    checks++;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        int ok = exact ? (memcmp(&got[i], &want[i], 4) == 0 || (isnan(got[i]) && isnan(want[i])))
                       : fabsf(got[i] - want[i]) <= 1e-6f + 1e-5f * fabsf(want[i]);
        if (!ok) {
            if (bad < 5) printf("  %s[%zu]: body %.9g, cpu backend %.9g\n", what, i, got[i], want[i]);
            bad++;
        }
    }
    if (bad) {
        printf("FAIL %s: %zu of %zu differ\n", what, bad, n);
        failures++;
    } else {
        printf("ok   %s (%zu values%s)\n", what, n, exact ? ", exact" : "");
    }
}

static ts_node node(ts_op op, const char *name)
{
    ts_node nd;
    memset(&nd, 0, sizeof nd);
    nd.op = op;
    nd.stride = 1;
    nd.groups = 1;
    snprintf(nd.name, sizeof nd.name, "%s", name);
    return nd;
}

static void run(const char *what, ts_status st)
{
    if (st != TS_OK) {
        printf("FAIL %s: the cpu backend: %s\n", what, ts_last_error());
        failures++;
    }
}

/* ---- relu, add, concat, dropout, sgd, softmax ---------------------------------- */

static void elementwise(void)
{
    enum { N = 4099 };
    float *x = fnew(N), *y = fnew(N), *ref = fnew(N), *dy = fnew(N), *dx = fnew(N), *dref = fnew(N);
    fill(x, N, -2, 2);
    fill(dy, N, -1, 1);
    x[0] = -INFINITY, x[1] = NAN, x[2] = -0.0f, x[3] = 0.0f, x[4] = INFINITY, dy[5] = INFINITY;
    for (int leaky = 0; leaky < 2; leaky++) {
        ts_node nd = node(leaky ? TS_OP_LEAKY_RELU : TS_OP_RELU, "relu");
        nd.slope = 0.1f;
        ts_tensor tx = { x, 1, N, 1, 1 }, tr = { ref, 1, N, 1, 1 }, tdy = { dy, 1, N, 1, 1 }, tdr = { dref, 1, N, 1, 1 };
        for (size_t i = 0; i < N; i++) dx[i] = dref[i] = 0.25f;
        ts_op_args a = { .node = &nd, .n_in = 1, .in = { &tx }, .din = { &tdr }, .out = &tr, .dout = &tdy };
        run("relu", cpu->forward(NULL, &a));
        run("relu", cpu->backward(NULL, &a));
        for (size_t i = 0; i < N; i++) {
            if (leaky) {
                leaky_relu_forward_at(i, x, y, 0.1f);
                leaky_relu_backward_at(i, x, dy, dx, 0.1f);
            } else {
                relu_forward_at(i, x, y);
                relu_backward_at(i, x, dy, dx);
            }
        }
        same(leaky ? "leaky_relu forward" : "relu forward (-inf, NaN, -0 give +0)", y, ref, N, 1);
        same(leaky ? "leaky_relu backward" : "relu backward", dx, dref, N, 1);
    }
    /* relu with a clip (ReLU6): +inf gives the clip, values at the clip
     * itself no gradient */
    {
        ts_node nd = node(TS_OP_RELU, "relu6");
        nd.clip = 1.5f;
        x[6] = 1.5f;
        ts_tensor tx = { x, 1, N, 1, 1 }, tr = { ref, 1, N, 1, 1 }, tdy = { dy, 1, N, 1, 1 }, tdr = { dref, 1, N, 1, 1 };
        for (size_t i = 0; i < N; i++) dx[i] = dref[i] = 0.25f;
        ts_op_args a = { .node = &nd, .n_in = 1, .in = { &tx }, .din = { &tdr }, .out = &tr, .dout = &tdy };
        run("relu6", cpu->forward(NULL, &a));
        run("relu6", cpu->backward(NULL, &a));
        for (size_t i = 0; i < N; i++) {
            relu_clip_forward_at(i, x, y, 1.5f);
            relu_clip_backward_at(i, x, dy, dx, 1.5f);
        }
        same("relu clip forward (+inf gives the clip)", y, ref, N, 1);
        same("relu clip backward", dx, dref, N, 1);
    }
    /* add: forward pairwise, backward += dout */
    {
        float *b = fnew(N);
        fill(b, N, -1, 1);
        ts_node nd = node(TS_OP_ADD, "add");
        ts_tensor ta = { x, 1, N, 1, 1 }, tb = { b, 1, N, 1, 1 }, tr = { ref, 1, N, 1, 1 };
        ts_op_args a = { .node = &nd, .n_in = 2, .in = { &ta, &tb }, .out = &tr };
        run("add", cpu->forward(NULL, &a));
        for (size_t i = 0; i < N; i++) add_forward_at(i, x, b, y);
        same("add forward", y, ref, N, 1);
        for (size_t i = 0; i < N; i++) y[i] = ref[i] = 0.5f;
        ts_tensor tdy = { dy, 1, N, 1, 1 };
        a.dout = &tdy;
        a.din[0] = &tr;
        a.din[1] = NULL;
        run("add", cpu->backward(NULL, &a));
        for (size_t i = 0; i < N; i++) add_inplace_at(i, dy, y);
        same("add backward (inplace)", y, ref, N, 1);
        /* LRP's rule for add, zero sums included */
        for (size_t i = 0; i < N; i += 7) b[i] = -x[i];
        float *r0 = fnew(N), *r1 = fnew(N), *q0 = fnew(N), *q1 = fnew(N);
        for (size_t i = 0; i < N; i++) r0[i] = r1[i] = q0[i] = q1[i] = 0.25f;
        for (size_t i = 0; i < 8; i++) x[i] = 1.0f, b[i] = 2.0f; /* finite for the rule */
        ts_tensor t0 = { r0, 1, N, 1, 1 }, t1 = { r1, 1, N, 1, 1 };
        a.din[0] = &t0;
        a.din[1] = &t1;
        run("add relevance", cpu->relevance(NULL, &a));
        add_inputs in = { .n = 2, .x = { x, b }, .r = { q0, q1 } };
        for (size_t i = 0; i < N; i++) add_relevance_at(i, &in, dy);
        same("add relevance, input 0", q0, r0, N, 1);
        same("add relevance, input 1", q1, r1, N, 1);
        free(b), free(r0), free(r1), free(q0), free(q1);
    }
    /* dropout */
    {
        ts_node nd = node(TS_OP_DROPOUT, "drop");
        nd.p = 0.3f;
        float *mask = fnew(N), *mref = fnew(N);
        ts_tensor tx = { x, 1, N, 1, 1 }, tr = { ref, 1, N, 1, 1 }, tm = { mref, 1, N, 1, 1 };
        ts_op_args a = { .node = &nd, .n_in = 1, .in = { &tx }, .out = &tr, .aux = &tm, .training = true, .seed = 99 };
        run("dropout", cpu->forward(NULL, &a));
        for (size_t i = 0; i < N; i++) dropout_forward_at(i, x, y, mask, 99, 0.3f, 1.0f / (1.0f - 0.3f));
        same("dropout forward", y, ref, N, 1);
        same("dropout mask", mask, mref, N, 1);
        ts_tensor tdy = { dy, 1, N, 1, 1 }, tdr = { dref, 1, N, 1, 1 };
        for (size_t i = 0; i < N; i++) dx[i] = dref[i] = 0.25f;
        a.dout = &tdy;
        a.din[0] = &tdr;
        run("dropout", cpu->backward(NULL, &a));
        for (size_t i = 0; i < N; i++) dropout_backward_at(i, dy, mask, dx);
        same("dropout backward", dx, dref, N, 1);
        free(mask), free(mref);
    }
    /* sgd (an infinite gradient included) */
    {
        float *w = fnew(N), *v = fnew(N), *w2 = fnew(N), *v2 = fnew(N);
        fill(w, N, -1, 1);
        fill(v, N, -0.1f, 0.1f);
        memcpy(w2, w, N * sizeof(float));
        memcpy(v2, v, N * sizeof(float));
        run("sgd", cpu->sgd(NULL, w2, dy, v2, N, 0.01f, 0.9f, 5e-4f));
        for (size_t i = 0; i < N; i++) sgd_at(i, w, dy, v, 0.01f, 0.9f, 5e-4f);
        same("sgd weights", w, w2, N, 1);
        same("sgd momentum", v, v2, N, 1);
        free(w), free(v), free(w2), free(v2);
    }
    /* softmax, one row per body call */
    {
        enum { R = 37, K = 11 };
        float *z = fnew(R * K), *p = fnew(R * K), *pr = fnew(R * K);
        fill(z, R * K, -30, 30);
        z[0] = 80.0f, z[K] = -80.0f;
        run("softmax", cpu->softmax(NULL, z, pr, R, K));
        for (size_t r = 0; r < R; r++) softmax_row_at(r, z, p, K);
        same("softmax rows", p, pr, R * K, 1);
        free(z), free(p), free(pr);
    }
    free(x), free(y), free(ref), free(dy), free(dx), free(dref);
}

/* ---- concat ---------------------------------------------------------------------- */

static void concat(void)
{
    enum { N = 2, H = 3, W = 5 };
    const int cs[3] = { 2, 1, 4 }, C = 7;
    size_t HW = H * W;
    float *in[3], *din[3], *dref[3];
    ts_tensor ti[3], td[3];
    ts_node nd = node(TS_OP_CONCAT, "cat");
    float *y = fnew(N * C * HW), *ref = fnew(N * C * HW), *dy = fnew(N * C * HW);
    fill(dy, N * C * HW, -1, 1);
    ts_tensor ty = { ref, N, C, H, W }, tdy = { dy, N, C, H, W };
    ts_op_args a = { .node = &nd, .n_in = 3, .out = &ty, .dout = &tdy };
    for (int i = 0; i < 3; i++) {
        size_t n = (size_t)N * cs[i] * HW;
        in[i] = fnew(n), din[i] = fnew(n), dref[i] = fnew(n);
        fill(in[i], n, -1, 1);
        for (size_t q = 0; q < n; q++) din[i][q] = dref[i][q] = 0.25f;
        ti[i] = (ts_tensor){ in[i], N, cs[i], H, W };
        td[i] = (ts_tensor){ dref[i], N, cs[i], H, W };
        a.in[i] = &ti[i];
        a.din[i] = &td[i];
    }
    run("concat", cpu->forward(NULL, &a));
    run("concat", cpu->backward(NULL, &a));
    int c0 = 0;
    for (int i = 0; i < 3; i++) {
        size_t n = (size_t)N * cs[i] * HW;
        for (size_t k = 0; k < n; k++) {
            concat_at(k, in[i], y, (size_t)cs[i] * HW, (size_t)C * HW, (size_t)c0 * HW, 0);
            concat_at(k, dy, din[i], (size_t)cs[i] * HW, (size_t)C * HW, (size_t)c0 * HW, 1);
        }
        same("concat backward (per input)", din[i], dref[i], n, 1);
        c0 += cs[i];
    }
    same("concat forward", y, ref, N * C * HW, 1);
    for (int i = 0; i < 3; i++) free(in[i]), free(din[i]), free(dref[i]);
    free(y), free(ref), free(dy);
}

/* ---- conv2d's helpers: bias, its gradient, padding -------------------------------- */

static void conv_helpers(void)
{
    /* bias: a convolution with zero weights is its bias */
    enum { N = 3, C = 2, H = 9, W = 8, O = 5 };
    ts_node nd = node(TS_OP_CONV2D, "conv");
    nd.kh = nd.kw = 3, nd.has_bias = 1, nd.out_c = O;
    nd.pad_t = 0, nd.pad_b = 2, nd.pad_l = 1, nd.pad_r = 0, nd.stride = 2;
    int OH = (H + 2 - 3) / 2 + 1, OW = (W + 1 - 3) / 2 + 1;
    size_t xs = (size_t)N * C * H * W, ys = (size_t)N * O * OH * OW, ws = (size_t)O * C * 9;
    float *x = fnew(xs), *w = fnew(ws), *b = fnew(O), *y = fnew(ys), *ref = fnew(ys);
    fill(x, xs, -1, 1);
    fill(b, O, -1, 1);
    ts_tensor tx = { x, N, C, H, W }, tw = { w, O, C, 3, 3 }, tb = { b, 1, O, 1, 1 }, tr = { ref, N, O, OH, OW };
    ts_op_args a = { .node = &nd, .n_in = 1, .in = { &tx }, .out = &tr, .weight = &tw, .bias = &tb };
    run("conv2d", cpu->forward(NULL, &a));
    for (size_t i = 0; i < ys; i++) bias_forward_at(i, y, b, O, (size_t)OH * OW);
    same("bias forward (a zero-weight convolution)", y, ref, ys, 1);

    /* the bias gradient: the convolution's dbias */
    float *dy = fnew(ys), *db = fnew(O), *dbr = fnew(O), *dw = fnew(ws);
    fill(dy, ys, -1, 1);
    for (int o = 0; o < O; o++) db[o] = dbr[o] = 0.25f;
    ts_tensor tdy = { dy, N, O, OH, OW }, tdb = { dbr, 1, O, 1, 1 }, tdw = { dw, O, C, 3, 3 };
    a.dout = &tdy, a.dbias = &tdb, a.dweight = &tdw;
    run("conv2d", cpu->backward(NULL, &a));
    size_t HW = (size_t)OH * OW;
    int S = bias_parts((size_t)N * HW);
    float *part = fnew((size_t)O * S);
    for (size_t t = 0; t < (size_t)O * S; t++) bias_partial_at(t, dy, part, N, O, HW, S);
    for (size_t c = 0; c < O; c++) bias_finish_at(c, part, db, S);
    same("bias gradient (two passes)", db, dbr, O, 0);
    /* many elements per channel: several parts */
    {
        enum { NB = 4, CB = 3, HWB = 4000 };
        float *g = fnew((size_t)NB * CB * HWB), *d1 = fnew(CB), *d2 = fnew(CB);
        fill(g, (size_t)NB * CB * HWB, -1, 1);
        for (int c = 0; c < CB; c++) {
            double s = 0;
            for (int n = 0; n < NB; n++)
                for (int p = 0; p < HWB; p++) s += g[((size_t)n * CB + c) * HWB + p];
            d2[c] = (float)s;
        }
        int SB = bias_parts((size_t)NB * HWB);
        float *pt = fnew((size_t)CB * SB);
        for (size_t t = 0; t < (size_t)CB * SB; t++) bias_partial_at(t, g, pt, NB, CB, HWB, SB);
        for (size_t c = 0; c < CB; c++) bias_finish_at(c, pt, d1, SB);
        checks++;
        int ok = SB > 1;
        for (int c = 0; c < CB; c++) ok &= fabsf(d1[c] - d2[c]) <= 1e-3f + 1e-5f * fabsf(d2[c]);
        if (ok) printf("ok   bias gradient over %d parts per channel (16000 values each)\n", SB);
        else printf("FAIL bias gradient over %d parts: %g %g %g, want %g %g %g\n", SB, d1[0], d1[1], d1[2], d2[0], d2[1], d2[2]), failures++;
        free(g), free(d1), free(d2), free(pt);
    }

    /* padding: the padded copy convolved without pads is the convolution
     * with asymmetric pads; the unpadded input gradient is its din */
    int HP = H + 2, WP = W + 1;
    float *xp = fnew((size_t)N * C * HP * WP), *y2 = fnew(ys);
    for (size_t i = 0; i < (size_t)N * C * HP * WP; i++) pad_at(i, x, xp, H, W, 0, 1, HP, WP);
    fill(w, ws, -0.5f, 0.5f);
    run("conv2d", cpu->forward(NULL, &a));
    ts_node np = nd;
    np.pad_t = np.pad_b = np.pad_l = np.pad_r = 0;
    ts_tensor txp = { xp, N, C, HP, WP }, ty2 = { y2, N, O, OH, OW };
    ts_op_args ap = { .node = &np, .n_in = 1, .in = { &txp }, .out = &ty2, .weight = &tw, .bias = &tb };
    run("conv2d padded", cpu->forward(NULL, &ap));
    same("pad (the padded input convolved = the asymmetric convolution)", y2, ref, ys, 1);
    float *dx = fnew(xs), *dxr = fnew(xs), *dxp = fnew((size_t)N * C * HP * WP);
    for (size_t i = 0; i < xs; i++) dx[i] = dxr[i] = 0.25f;
    ts_tensor tdx = { dxr, N, C, H, W }, tdxp = { dxp, N, C, HP, WP };
    a.din[0] = &tdx, a.dweight = NULL, a.dbias = NULL;
    run("conv2d", cpu->backward(NULL, &a));
    ap.dout = &tdy, ap.din[0] = &tdxp;
    run("conv2d padded", cpu->backward(NULL, &ap));
    for (size_t i = 0; i < xs; i++) unpad_add_at(i, dxp, dx, H, W, 0, 1, HP, WP);
    same("unpad_add (the padded input's gradient, folded back)", dx, dxr, xs, 0);
    free(x), free(w), free(b), free(y), free(ref), free(dy), free(db), free(dbr), free(dw), free(part);
    free(xp), free(y2), free(dx), free(dxr), free(dxp);
}

/* ---- lrn -------------------------------------------------------------------------- */

static void lrn(void)
{
    enum { N = 2, C = 9, H = 3, W = 4 };
    size_t n = (size_t)N * C * H * W, HW = H * W;
    for (int v = 0; v < 2; v++) {
        int size = v ? 3 : 5;
        float alpha = v ? 5e-2f : 1e-2f, beta = v ? 0.6f : 0.75f, k = v ? 2.0f : 1.0f;
        ts_node nd = node(TS_OP_LRN, "lrn");
        nd.lrn_size = size, nd.lrn_alpha = alpha, nd.lrn_beta = beta, nd.lrn_k = k;
        float *x = fnew(n), *y = fnew(n), *ref = fnew(n), *sc = fnew(n), *scr = fnew(n), *dy = fnew(n);
        float *dx = fnew(n), *dxr = fnew(n);
        fill(x, n, -8, 8);
        fill(dy, n, -1, 1);
        for (size_t i = 0; i < n; i++) dx[i] = dxr[i] = 0.25f;
        ts_tensor tx = { x, N, C, H, W }, tr = { ref, N, C, H, W }, ts = { scr, N, C, H, W };
        ts_tensor tdy = { dy, N, C, H, W }, tdx = { dxr, N, C, H, W };
        ts_op_args a = { .node = &nd, .n_in = 1, .in = { &tx }, .din = { &tdx }, .out = &tr, .dout = &tdy, .aux = &ts };
        run("lrn", cpu->forward(NULL, &a));
        run("lrn", cpu->backward(NULL, &a));
        int pre = (size - 1) / 2, post = size - 1 - pre;
        for (size_t i = 0; i < n; i++) lrn_forward_at(i, x, y, sc, C, HW, pre, post, alpha / size, beta, k);
        for (size_t i = 0; i < n; i++) lrn_backward_at(i, x, dy, sc, dx, C, HW, pre, post, 2.0f * alpha * beta / size, beta);
        same(v ? "lrn size 3 forward" : "lrn size 5 forward", y, ref, n, 0);
        same(v ? "lrn size 3 scale" : "lrn size 5 scale", sc, scr, n, 0);
        same(v ? "lrn size 3 backward" : "lrn size 5 backward", dx, dxr, n, 0);
        free(x), free(y), free(ref), free(sc), free(scr), free(dy), free(dx), free(dxr);
    }
}

/* ---- batchnorm: apply, input gradient, LRP (the sums are the kernels'
 * block reductions; here they come from the CPU's aux and host sums) ---- */

static void batchnorm(void)
{
    enum { N = 3, C = 5, H = 4, W = 3 };
    size_t n = (size_t)N * C * H * W, HW = H * W;
    for (int training = 0; training < 2; training++) {
        ts_node nd = node(TS_OP_BATCHNORM, "bn");
        nd.bn_eps = 1e-3f, nd.bn_momentum = 0.1f, nd.has_bias = 1;
        float *x = fnew(n), *y = fnew(n), *ref = fnew(n), *dy = fnew(n), *dx = fnew(n), *dxr = fnew(n);
        float gm[C], bt[C], rm[C], rv[C], aux[2 * C], dg[C] = { 0 }, db[C] = { 0 }, coef[2 * C], k[4 * C];
        fill(x, n, -2, 3);
        fill(dy, n, -1, 1);
        fill(gm, C, 0.5f, 1.5f), fill(bt, C, -0.5f, 0.5f), fill(rm, C, -0.3f, 0.3f), fill(rv, C, 0.5f, 2.0f);
        for (size_t i = 0; i < n; i++) dx[i] = dxr[i] = 0.25f;
        ts_tensor tx = { x, N, C, H, W }, tr = { ref, N, C, H, W }, tdy = { dy, N, C, H, W }, tdx = { dxr, N, C, H, W };
        ts_tensor tg = { gm, 1, C, 1, 1 }, tb = { bt, 1, C, 1, 1 }, tm = { rm, 1, C, 1, 1 }, tv = { rv, 1, C, 1, 1 };
        ts_tensor ta = { aux, 1, 2, C, 1 }, tdg = { dg, 1, C, 1, 1 }, tdb = { db, 1, C, 1, 1 };
        ts_op_args a = { .node = &nd, .n_in = 1, .in = { &tx }, .din = { &tdx }, .out = &tr, .dout = &tdy, .aux = &ta,
                         .weight = &tg, .bias = &tb, .dweight = &tdg, .dbias = &tdb, .run_mean = &tm, .run_var = &tv,
                         .training = training };
        run("batchnorm", cpu->forward(NULL, &a));
        run("batchnorm", cpu->backward(NULL, &a));
        for (int c = 0; c < C; c++) bn_coef_at(c, C, gm, bt, aux[c], aux[C + c], coef);
        for (size_t i = 0; i < n; i++) bn_apply_at(i, HW, C, x, coef, y);
        for (int c = 0; c < C; c++) {
            double sdy = 0, sdyx = 0, M = (double)N * HW;
            float mu = aux[c], r = aux[C + c];
            for (int b = 0; b < N; b++)
                for (size_t q = 0; q < HW; q++) {
                    size_t i = ((size_t)b * C + c) * HW + q;
                    sdy += dy[i];
                    sdyx += dy[i] * ((x[i] - mu) * r);
                }
            k[c] = gm[c] * r, k[C + c] = mu;
            k[2 * C + c] = training ? (float)(sdy / M) : 0.0f;
            k[3 * C + c] = training ? (float)(sdyx / M) * r : 0.0f;
        }
        for (size_t i = 0; i < n; i++) bn_dx_at(i, HW, C, x, dy, k, dx);
        same(training ? "batchnorm (training) apply" : "batchnorm (evaluation) apply", y, ref, n, 0);
        same(training ? "batchnorm (training) input gradient" : "batchnorm (evaluation) input gradient", dx, dxr, n, 0);
        if (!training) { /* LRP's rule, on the evaluation forward's output */
            float *rel = fnew(n), *relr = fnew(n), s[C];
            for (int c = 0; c < C; c++) s[c] = coef[c];
            ts_tensor trel = { relr, N, C, H, W };
            ts_op_args l = a;
            l.din[0] = &trel;
            l.dout = &tdy;
            run("batchnorm relevance", cpu->relevance(NULL, &l));
            for (size_t i = 0; i < n; i++) bn_relevance_at(i, HW, C, x, ref, dy, s, rel);
            same("batchnorm relevance", rel, relr, n, 0);
            free(rel), free(relr);
        }
        free(x), free(y), free(ref), free(dy), free(dx), free(dxr);
    }
}

/* ---- pools: forward, backward, LRP --------------------------------------------------- */

static void pools(void)
{
    struct { int kh, s, pt, pb, pl, pr, floor, global, H, W; } gs[] = {
        { 3, 2, 0, 0, 0, 0, 0, 0, 13, 13 }, /* Caffe ceil */
        { 3, 2, 1, 1, 1, 1, 0, 0, 10, 9 },  /* padded ceil */
        { 2, 2, 1, 1, 1, 1, 0, 0, 3, 3 },   /* Caffe drops a window */
        { 3, 2, 2, 0, 0, 1, 0, 0, 7, 6 },   /* asymmetric */
        { 2, 2, 0, 0, 0, 0, 1, 0, 7, 7 },   /* floor */
        { 1, 1, 0, 0, 0, 0, 0, 1, 5, 6 },   /* global */
    };
    for (size_t k = 0; k < sizeof gs / sizeof gs[0]; k++)
        for (int mx = 0; mx < 2; mx++) {
            ts_node nd = node(mx ? TS_OP_MAXPOOL : TS_OP_AVGPOOL, "pool");
            nd.kh = nd.kw = gs[k].kh, nd.stride = gs[k].s, nd.pool_floor = gs[k].floor, nd.global = gs[k].global;
            nd.pad_t = gs[k].pt, nd.pad_b = gs[k].pb, nd.pad_l = gs[k].pl, nd.pad_r = gs[k].pr;
            int N = 2, C = 3, H = gs[k].H, W = gs[k].W;
            int kh = nd.global ? H : nd.kh, kw = nd.global ? W : nd.kw, st = nd.global ? 1 : nd.stride;
            int OH = ts_pool_out_size(H, kh, st, nd.pad_t, nd.pad_b, nd.pool_floor || nd.global);
            int OW = ts_pool_out_size(W, kw, st, nd.pad_l, nd.pad_r, nd.pool_floor || nd.global);
            size_t xs = (size_t)N * C * H * W, ys = (size_t)N * C * OH * OW;
            float *x = fnew(xs), *y = fnew(ys), *ref = fnew(ys), *arg = fnew(ys), *argr = fnew(ys), *dy = fnew(ys);
            float *dx = fnew(xs), *dxr = fnew(xs);
            fill(x, xs, -1, 1);
            for (size_t i = 0; i < xs; i += 5) x[i] = x[i - (i ? 1 : 0)]; /* ties */
            fill(dy, ys, -1, 1);
            ts_tensor tx = { x, N, C, H, W }, tr = { ref, N, C, OH, OW }, ta = { argr, N, C, OH, OW };
            ts_tensor tdy = { dy, N, C, OH, OW }, tdx = { dxr, N, C, H, W };
            ts_op_args a = { .node = &nd, .n_in = 1, .in = { &tx }, .din = { &tdx }, .out = &tr, .dout = &tdy,
                             .aux = mx ? &ta : NULL };
            char what[96];
            ts_pool_dims d;
            run("pool geometry", ts_check_pool(&a, &d));
            cuda_pool_geom g = { .NC = N * C, .H = H, .W = W, .OH = OH, .OW = OW, .KH = d.KH, .KW = d.KW, .S = d.S,
                                 .pt = d.pt, .pb = d.pb, .pl = d.pl, .pr = d.pr };
            run("pool", cpu->forward(NULL, &a));
            for (size_t i = 0; i < xs; i++) dx[i] = dxr[i] = 0.25f;
            run("pool", cpu->backward(NULL, &a));
            for (size_t i = 0; i < ys; i++) {
                if (mx) maxpool_forward_at(i, &g, x, y, arg);
                else avgpool_forward_at(i, &g, x, y);
            }
            for (size_t i = 0; i < xs; i++) {
                if (mx) maxpool_backward_at(i, &g, arg, dy, dx);
                else avgpool_backward_at(i, &g, dy, dx);
            }
            snprintf(what, sizeof what, "%s %zu forward", mx ? "maxpool" : "avgpool", k);
            same(what, y, ref, ys, mx);
            if (mx) {
                snprintf(what, sizeof what, "maxpool %zu argmax", k);
                same(what, arg, argr, ys, 1);
            }
            snprintf(what, sizeof what, "%s %zu backward (gathered)", mx ? "maxpool" : "avgpool", k);
            same(what, dx, dxr, xs, 0);
            /* LRP: maxpool's rule is its backward; avgpool's its own */
            if (!mx) {
                for (size_t i = 0; i < xs; i++) dx[i] = dxr[i] = 0.25f;
                if (k == 1)
                    for (int i = 0; i < W; i++) x[i] = 0.0f; /* windows summing to 0 */
                run("avgpool relevance", cpu->relevance(NULL, &a));
                float *f = fnew(ys), *even = fnew(ys);
                for (size_t o = 0; o < ys; o++) avgpool_rel_window_at(o, &g, x, dy, f, even);
                for (size_t i = 0; i < xs; i++) avgpool_rel_cell_at(i, &g, x, f, even, dx);
                snprintf(what, sizeof what, "avgpool %zu relevance (two passes)", k);
                same(what, dx, dxr, xs, 0);
                free(f), free(even);
            }
            free(x), free(y), free(ref), free(arg), free(argr), free(dy), free(dx), free(dxr);
        }
}

/* ---- LRP's elementwise steps ---------------------------------------------------------- */

static void lrp_steps(void)
{
    enum { N = 3001, B = 2, C = 5, HW = 13 };
    float *x = fnew(N), *p = fnew(N), *q = fnew(N), *pr = fnew(N), *qr = fnew(N);
    fill(x, N, -1, 1);
    for (size_t i = 0; i < N; i += 11) x[i] = 0.0f;
    bool neg = false;
    run("lrp split", cpu->lrp_split(NULL, x, pr, qr, N, &neg));
    int any = 0;
    for (size_t i = 0; i < N; i++) any |= lrp_split_at(i, x, p, q);
    same("lrp split pos", p, pr, N, 1);
    same("lrp split neg", q, qr, N, 1);
    checks++;
    if (any != neg) printf("FAIL lrp split: body says %d negative, cpu %d\n", any, neg), failures++;
    else printf("ok   lrp split: some x < 0 agrees\n");
    for (int flat = 0; flat < 2; flat++) {
        run("lrp square", cpu->lrp_square(NULL, x, pr, N, flat));
        for (size_t i = 0; i < N; i++) lrp_square_at(i, x, p, flat);
        same(flat ? "lrp square (flat)" : "lrp square", p, pr, N, 1);
    }
    float v[C] = { -1.5f, 0.0f, 2.0f, 0.25f, -0.125f };
    size_t n = (size_t)B * C * HW;
    float *o = fnew(n), *orf = fnew(n);
    run("fill_channels", cpu->fill_channels(NULL, orf, B, C, HW, v));
    for (size_t i = 0; i < n; i++) fill_channels_at(i, o, v, C, HW);
    same("fill_channels", o, orf, n, 1);
    /* divide and mul_add: lrp.h's stabilizer and zero rule, written again */
    float *z = fnew(N), *r = fnew(N), *d = fnew(N), *rin = fnew(N), *want = fnew(N);
    fill(r, N, -1, 1);
    fill(d, N, -1, 1);
    for (int eps = 0; eps < 2; eps++) {
        memcpy(z, x, N * sizeof(float));
        for (size_t i = 0; i < N; i++) {
            float dd = x[i] + (eps ? (x[i] >= 0 ? 0.01f : -0.01f) : 0.0f);
            want[i] = dd != 0 ? r[i] / dd : 0.0f;
            lrp_divide_at(i, z, r, eps, 0.01f);
        }
        same(eps ? "lrp divide, epsilon (sign(0) = +1)" : "lrp divide, zero Z gives 0", z, want, N, 1);
    }
    for (size_t i = 0; i < N; i++) rin[i] = 0.25f, want[i] = 0.25f + -0.5f * x[i] * d[i];
    for (size_t i = 0; i < N; i++) lrp_mul_add_at(i, x, d, rin, -0.5f);
    same("lrp mul_add", rin, want, N, 1);
    free(x), free(p), free(q), free(pr), free(qr), free(o), free(orf), free(z), free(r), free(d), free(rin), free(want);
}

/* ---- A(x,y): ties, duplicates, far points -------------------------------------------- */

static void amap(void)
{
    static const int sizes[][2] = { { 1, 1 }, { 7, 5 }, { 150, 150 }, { 211, 97 } };
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int kind = 0; kind < 3; kind++) {
            int w = sizes[s][0], h = sizes[s][1], k = kind == 2 ? 255 : 68;
            ts_points p = { .n = k };
            for (int j = 0; j < k; j++) {
                float u = ts_rng_uniform(&rng), v = ts_rng_uniform(&rng);
                if (kind == 0) p.x[j] = u * w, p.y[j] = v * h;
                else if (kind == 1) p.x[j] = 0.5f * (float)(int)(u * 2 * w), p.y[j] = 0.5f * (float)(int)(v * 2 * h);
                else if (j >= 4 && u < 0.5f) p.x[j] = p.x[j % 4], p.y[j] = p.y[j % 4];
                else p.x[j] = 1e6f * (v - 0.5f), p.y[j] = -3e5f * v;
            }
            size_t n = (size_t)w * h;
            uint8_t *ref = malloc(n), *got = malloc(n);
            TS_ASSERT(ref && got);
            run("ts_amap_reference", ts_amap_reference(&p, w, h, ref));
            for (size_t i = 0; i < n; i++) got[i] = amap_at(i, p.x, p.y, k, w);
            checks++;
            if (memcmp(ref, got, n)) {
                printf("FAIL A(x,y) %dx%d k=%d kind %d: differs from ts_amap_reference\n", w, h, k, kind);
                failures++;
            } else {
                printf("ok   A(x,y) %dx%d k=%d kind %d (exact)\n", w, h, k, kind);
            }
            free(ref), free(got);
        }
}

/* ---- depthwise convolution ---------------------------------------------------- */

static void depthwise(void)
{
    /* MobileNet's stride-2 "same" padding (the odd pixel at the bottom and
     * right) with a depth multiplier of 2, and a 5x3 stride-1 one */
    static const int geo[2][9] = {
        /* N C H W M KH KW S pt pb pl pr */
        { 2, 3, 9, 12, 2, 3, 3, 2, 0 },
        { 1, 4, 7, 6, 1, 5, 3, 1, 2 },
    };
    static const int pads[2][4] = { { 0, 1, 0, 1 }, { 2, 2, 1, 1 } };
    for (int k = 0; k < 2; k++) {
        const int *q = geo[k];
        int N = q[0], C = q[1], H = q[2], W = q[3], M = q[4], KH = q[5], KW = q[6], S = q[7];
        int pt = pads[k][0], pb = pads[k][1], pl = pads[k][2], pr = pads[k][3];
        int O = C * M, OH = (H + pt + pb - KH) / S + 1, OW = (W + pl + pr - KW) / S + 1;
        cuda_dw_geom g = { N, C, H, W, M, OH, OW, KH, KW, S, pt, pl };
        ts_node nd = node(TS_OP_CONV2D, "depthwise");
        nd.out_c = O, nd.kh = KH, nd.kw = KW, nd.stride = S, nd.groups = C, nd.has_bias = 1;
        nd.pad_t = pt, nd.pad_b = pb, nd.pad_l = pl, nd.pad_r = pr;
        size_t nx = (size_t)N * C * H * W, ny = (size_t)N * O * OH * OW, nw = (size_t)O * KH * KW;
        float *x = fnew(nx), *w = fnew(nw), *b = fnew(O), *y = fnew(ny), *ref = fnew(ny), *dy = fnew(ny);
        float *dx = fnew(nx), *dxr = fnew(nx), *dw = fnew(nw), *dwr = fnew(nw), *dbr = fnew(O);
        fill(x, nx, -1, 1), fill(w, nw, -1, 1), fill(b, O, -1, 1), fill(dy, ny, -1, 1);
        for (size_t i = 0; i < nx; i++) dx[i] = dxr[i] = 0.25f;
        for (size_t i = 0; i < nw; i++) dw[i] = dwr[i] = 0.25f;
        ts_tensor tx = { x, N, C, H, W }, tw = { w, O, 1, KH, KW }, tb = { b, 1, O, 1, 1 }, ty = { ref, N, O, OH, OW };
        ts_tensor tdy = { dy, N, O, OH, OW }, tdx = { dxr, N, C, H, W }, tdw = { dwr, O, 1, KH, KW }, tdb = { dbr, 1, O, 1, 1 };
        ts_op_args a = { .node = &nd, .n_in = 1, .in = { &tx }, .din = { &tdx }, .out = &ty, .dout = &tdy,
                         .weight = &tw, .bias = &tb, .dweight = &tdw, .dbias = &tdb };
        run("depthwise", cpu->forward(NULL, &a));
        run("depthwise", cpu->backward(NULL, &a));
        for (size_t i = 0; i < ny; i++) depthwise_forward_at(i, &g, x, w, b, y);
        for (size_t i = 0; i < nx; i++) depthwise_backward_data_at(i, &g, w, dy, dx);
        int P = bias_parts((size_t)N * OH * OW);
        float *part = fnew(nw * (size_t)P);
        for (size_t t = 0; t < nw * (size_t)P; t++) depthwise_filter_partial_at(t, &g, x, dy, part, P);
        for (size_t i = 0; i < nw; i++) depthwise_filter_finish_at(i, part, dw, P);
        same(k ? "depthwise 5x3 forward" : "depthwise 3x3 s2 x2 forward", y, ref, ny, 0);
        same(k ? "depthwise 5x3 input gradient" : "depthwise 3x3 s2 x2 input gradient", dx, dxr, nx, 0);
        same(k ? "depthwise 5x3 weight gradient" : "depthwise 3x3 s2 x2 weight gradient", dw, dwr, nw, 0);
        free(x), free(w), free(b), free(y), free(ref), free(dy), free(dx), free(dxr), free(dw), free(dwr), free(dbr);
        free(part);
    }
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    ts_rng_seed(&rng, 77);
    ts_cpu_set_threads(1);
    cpu = ts_backend_cpu();
    elementwise();
    concat();
    conv_helpers();
    depthwise();
    lrn();
    batchnorm();
    pools();
    lrp_steps();
    amap();
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
