/* pool.c - max and average pooling on the CPU (maxpool, avgpool).
 *
 * Output size: nn/shape.h's ts_pool_out_size (Caffe's PoolingLayer, which
 * PyTorch's ceil_mode copies; `global` pools the whole plane to 1x1), the
 * rule the graph sized the output with; op-check.c checks it.
 * Unpadded with kernel < stride, Caffe's rule can leave a last window past
 * the image (PyTorch drops it); such a window outputs 0 and passes no
 * gradient.
 *
 * Windows: [o*stride - pad_lo, o*stride - pad_lo + k) clipped to the image.
 * Max pooling ignores padding, keeps the first maximum (NaN wins, as in
 * PyTorch) and stores its flat index iy*W+ix in aux (as float, exact below
 * 2^24) for backward.  Average pooling divides by the window size clipped to
 * the padded image (in + pad_hi), i.e. padded cells count, cells past the
 * padding (ceil overflow) do not: Caffe's AVE and PyTorch's
 * count_include_pad=True.
 */
#include "backend/cpu/cpu-ops.h"

#include <math.h>
#include <string.h>

typedef ts_pool_dims pool_geom;

/* The shared rules (op-check.h) give the geometry. */
static ts_status pool_geom_init(const ts_op_args *a, pool_geom *g) { return ts_check_pool(a, g); }

typedef struct pool_job {
    const pool_geom *g;
    const float *x, *dy;
    float *y, *arg, *dx;
} pool_job;

/* The running maximum (m, at index best) takes v at index i when v is
 * larger: m as maxss, best as a conditional move, and NaNs only noted, so
 * that nothing here branches on the data (on activations the comparison is
 * a coin toss, and a branch on it cost more than the rest of the pooling).
 * A window that holds a NaN is redone by max_window_exact. */
static inline void max_take(float v, int i, float *m, int *best, int *nan)
{
    const int t = v > *m;
    *best ^= (*best ^ i) & -t; /* arithmetic, not a ternary: GCC made that a branch */
    *m = v > *m ? v : *m;
    *nan |= v != v;
}

/* The exact rule, for windows with a NaN: the first NaN wins. */
static int max_window_exact(const float *xp, int W, int hs, int he, int ws, int we, float *m)
{
    int best = hs * W + ws;
    *m = xp[best];
    for (int iy = hs; iy < he; iy++)
        for (int ix = ws; ix < we; ix++) {
            const float v = xp[iy * W + ix];
            if (v > *m || (v != v && *m == *m)) {
                *m = v;
                best = iy * W + ix;
            }
        }
    return best;
}

typedef int v4si __attribute__((vector_size(16)));

/* Four neighbouring 3x3 stride-2 windows inside the plane, the first at
 * flat index r: their maxima into y[0..3] and flat indices into arg[0..3]
 * (NULL: not kept), in vectors (lane l is the window at r + 2l; the strict
 * comparison in row-major order keeps the first maximum).  0 without
 * writing anything when a window holds a NaN: the caller takes the exact
 * path. */
static int max4_3x3s2(const float *xp, int W, int r, float *y, float *arg)
{
    v4sf m = { xp[r], xp[r + 2], xp[r + 4], xp[r + 6] };
    v4si best = { r, r + 2, r + 4, r + 6 }, nan = m != m;
    for (int k = 1; k < 9; k++) {
        const int at = r + k / 3 * W + k % 3;
        const v4sf v = { xp[at], xp[at + 2], xp[at + 4], xp[at + 6] };
        const v4si take = v > m, idx = { at, at + 2, at + 4, at + 6 };
        best = (best & ~take) | (idx & take);
        m = (v4sf)(((v4si)m & ~take) | ((v4si)v & take));
        nan |= v != v;
    }
    if (nan[0] | nan[1] | nan[2] | nan[3]) return 0;
    memcpy(y, &m, sizeof m);
    if (arg)
        for (int l = 0; l < 4; l++) arg[l] = (float)best[l];
    return 1;
}

/* Output cell -> first maximum of its window (NaN wins, like PyTorch). */
static void maxpool_fwd_range(void *ctx, size_t lo, size_t hi)
{
    const pool_job *j = ctx;
    const pool_geom *g = j->g;
    const int W = g->W;
    for (size_t pc = lo; pc < hi; pc++) {
        const float *xp = j->x + pc * g->H * g->W;
        float *yp = j->y + pc * g->OH * g->OW;
        float *ap = j->arg ? j->arg + pc * g->OH * g->OW : NULL;
        /* 3x3 stride 2 (AlexNet, traitnet): windows inside the plane go four
         * at a time, outputs [x_lo, x_hi) of rows whose windows are inside */
        const int fast = g->KH == 3 && g->KW == 3 && g->S == 2;
        const int x_lo = (g->pl + 1) / 2, x_hi = g->W + g->pl - 3 < 0 ? 0 : (g->W + g->pl - 3) / 2 + 1;
        for (int oy = 0; oy < g->OH; oy++) {
            int hs = oy * g->S - g->pt, he = hs + g->KH;
            const int row_in = fast && hs >= 0 && he <= g->H;
            if (hs < 0) hs = 0;
            if (he > g->H) he = g->H;
            for (int ox = 0; ox < g->OW; ox++) {
                if (row_in && ox >= x_lo && ox + 4 <= x_hi &&
                    max4_3x3s2(xp, W, hs * W + 2 * ox - g->pl, yp + oy * g->OW + ox, ap ? ap + oy * g->OW + ox : NULL)) {
                    ox += 3;
                    continue;
                }
                int ws = ox * g->S - g->pl, we = ws + g->KW;
                if (ws < 0) ws = 0;
                if (we > g->W) we = g->W;
                float m = 0.0f;
                int best = -1;
                if (hs < he && ws < we) {
                    best = hs * W + ws;
                    m = xp[best];
                    int nan = m != m;
                    for (int iy = hs; iy < he; iy++)
                        for (int ix = ws; ix < we; ix++) max_take(xp[iy * W + ix], iy * W + ix, &m, &best, &nan);
                    if (nan) best = max_window_exact(xp, W, hs, he, ws, we, &m);
                }
                yp[oy * g->OW + ox] = m;
                if (ap) ap[oy * g->OW + ox] = (float)best;
            }
        }
    }
}

ts_status cpu_maxpool_forward(const ts_op_args *a)
{
    pool_geom g;
    TS_TRY(pool_geom_init(a, &g));
    float *arg = cpu_want(a->aux) ? a->aux->data : NULL;
    if (arg) TS_ASSERT(ts_tensor_numel(a->aux) == ts_tensor_numel(a->out));
    pool_job j = { .g = &g, .x = a->in[0]->data, .y = a->out->data, .arg = arg };
    size_t planes = (size_t)g.N * g.C;
    cpu_parallel_for(planes, planes * g.OH * g.OW * g.KH * g.KW, maxpool_fwd_range, &j);
    return TS_OK;
}

static void maxpool_bwd_range(void *ctx, size_t lo, size_t hi)
{
    const pool_job *j = ctx;
    const pool_geom *g = j->g;
    size_t ohw = (size_t)g->OH * g->OW, hw = (size_t)g->H * g->W;
    for (size_t pc = lo; pc < hi; pc++) {
        float *dxp = j->dx + pc * hw;
        const float *ap = j->arg + pc * ohw, *dyp = j->dy + pc * ohw;
        for (size_t i = 0; i < ohw; i++) {
            int k = (int)ap[i];
            if (k >= 0 && (size_t)k < hw) dxp[k] += dyp[i];
        }
    }
}

ts_status cpu_maxpool_backward(const ts_op_args *a)
{
    pool_geom g;
    TS_TRY(pool_geom_init(a, &g));
    if (!cpu_want(a->din[0])) return TS_OK;
    if (!cpu_want(a->aux))
        return ts_error(TS_ERR_SHAPE, "maxpool '%s': backward needs the argmax kept in aux",
                        a->node->name);
    pool_job j = { .g = &g, .dy = a->dout->data, .arg = a->aux->data, .dx = a->din[0]->data };
    size_t planes = (size_t)g.N * g.C;
    cpu_parallel_for(planes, planes * (g.H * g.W + 3 * g.OH * g.OW), maxpool_bwd_range, &j);
    return TS_OK;
}

/* Window of output cell (oy, ox) clipped to the image, and Caffe's divisor. */
static inline int avg_window(const pool_geom *g, int oy, int ox, int *hs, int *he, int *ws, int *we)
{
    int h0 = oy * g->S - g->pt, h1 = h0 + g->KH, w0 = ox * g->S - g->pl, w1 = w0 + g->KW;
    if (h1 > g->H + g->pb) h1 = g->H + g->pb;
    if (w1 > g->W + g->pr) w1 = g->W + g->pr;
    int div = (h1 - h0) * (w1 - w0);
    *hs = h0 < 0 ? 0 : h0;
    *he = h1 > g->H ? g->H : h1;
    *ws = w0 < 0 ? 0 : w0;
    *we = w1 > g->W ? g->W : w1;
    return div;
}

static void avgpool_fwd_range(void *ctx, size_t lo, size_t hi)
{
    const pool_job *j = ctx;
    const pool_geom *g = j->g;
    for (size_t pc = lo; pc < hi; pc++) {
        const float *xp = j->x + pc * g->H * g->W;
        float *yp = j->y + pc * g->OH * g->OW;
        for (int oy = 0; oy < g->OH; oy++)
            for (int ox = 0; ox < g->OW; ox++) {
                int hs, he, ws, we, div = avg_window(g, oy, ox, &hs, &he, &ws, &we);
                float s = 0.0f;
                for (int iy = hs; iy < he; iy++)
                    for (int ix = ws; ix < we; ix++) s += xp[iy * g->W + ix];
                yp[oy * g->OW + ox] = div > 0 ? s / (float)div : 0.0f;
            }
    }
}

ts_status cpu_avgpool_forward(const ts_op_args *a)
{
    pool_geom g;
    TS_TRY(pool_geom_init(a, &g));
    pool_job j = { .g = &g, .x = a->in[0]->data, .y = a->out->data };
    size_t planes = (size_t)g.N * g.C;
    cpu_parallel_for(planes, planes * g.OH * g.OW * g.KH * g.KW, avgpool_fwd_range, &j);
    return TS_OK;
}

static void avgpool_bwd_range(void *ctx, size_t lo, size_t hi)
{
    const pool_job *j = ctx;
    const pool_geom *g = j->g;
    for (size_t pc = lo; pc < hi; pc++) {
        float *dxp = j->dx + pc * g->H * g->W;
        const float *dyp = j->dy + pc * g->OH * g->OW;
        for (int oy = 0; oy < g->OH; oy++)
            for (int ox = 0; ox < g->OW; ox++) {
                int hs, he, ws, we, div = avg_window(g, oy, ox, &hs, &he, &ws, &we);
                if (div <= 0) continue;
                float v = dyp[oy * g->OW + ox] / (float)div;
                for (int iy = hs; iy < he; iy++)
                    for (int ix = ws; ix < we; ix++) dxp[iy * g->W + ix] += v;
            }
    }
}

ts_status cpu_avgpool_backward(const ts_op_args *a)
{
    pool_geom g;
    TS_TRY(pool_geom_init(a, &g));
    if (!cpu_want(a->din[0])) return TS_OK;
    pool_job j = { .g = &g, .dy = a->dout->data, .dx = a->din[0]->data };
    size_t planes = (size_t)g.N * g.C;
    cpu_parallel_for(planes, planes * g.OH * g.OW * g.KH * g.KW, avgpool_bwd_range, &j);
    return TS_OK;
}
