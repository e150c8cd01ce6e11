/* winograd.c - 3x3 stride-1 convolutions on the CPU by Winograd's minimal
 * filtering F(2x2, 3x3) (Lavin and Gray, "Fast Algorithms for Convolutional
 * Neural Networks", 2016), for the forward pass, the gradient of the input
 * and the gradient of the weights.
 *
 * A 2x2 block of outputs of one 3x3 correlation is
 *     Y = A^T [ (G g G^T) . (B^T d B) ] A
 * with d the 4x4 input tile under it, g the 3x3 kernel, . the element-wise
 * product and
 *     B^T = | 1  0 -1  0 |   G = | 1    0    0  |   A^T = | 1  1  1  0 |
 *           | 0  1  1  0 |       | 1/2  1/2  1/2|         | 0  1 -1 -1 |
 *           | 0 -1  1  0 |       | 1/2 -1/2  1/2|
 *           | 0  1  0 -1 |       | 0    0    1  |
 * Summed over input channels, each of the 16 positions xi of the 4x4
 * transformed tiles is a matrix product:  M_xi (O x T) = U_xi (O x C) *
 * V_xi (C x T), T tiles.  That is 16 multiply-adds per 4 outputs and
 * channel pair where im2col's GEMM takes 36: 2.25 times fewer, for a few
 * additions per tile in the transforms.
 *
 * The three passes:
 * - forward: y = A^T M A per tile (+ bias), the tiles cut at the output's
 *   edge;
 * - din: the stride-1 convolution of dout by the kernels flipped in space
 *   with in and out channels swapped, padded 2 - pad: the forward pass
 *   again, accumulating into din;
 * - dweight: dL/dU = (A dY A^T) . V per tile, summed over tiles by 16
 *   products dU_xi (O x C) = D_xi (O x T) * V_xi^T, then dW += G^T dU G.
 * Tiles past the output's edge read dout as 0 and add nothing.
 *
 * conv2d.c calls these, one group at a time, for 3x3 stride-1
 * convolutions with pads of at most 2 (cpu_wino_can) where they pay
 * (cpu_wino_pays); results differ from im2col's by rounding only.
 */
#include "backend/cpu/cpu-ops.h"

#include <cblas.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Floats of one chunk's transformed tiles (V or M): 8 MiB (tried 1-16 MiB: no
 * difference beyond the noise). */
#define WINO_CHUNK_FLOATS ((size_t)1 << 21)

typedef struct wino_geom {
    int C, H, W;       /* input planes of the convolution computed */
    int O, OH, OW;     /* its output planes */
    int pt, pl;        /* top and left padding */
    int th, tw;        /* tiles down and across: ceil(OH/2), ceil(OW/2) */
    size_t xs, ys;     /* sample strides of input and output (floats) */
} wino_geom;

typedef struct wino_job {
    const wino_geom *g;
    int nb;            /* samples in the chunk */
    size_t T;          /* tiles in the chunk: nb * th * tw */
    const float *x;    /* input (transform) or dout (dY transform), chunk's first sample */
    float *v;          /* 16 x rows x T */
    const float *m;    /* 16 x O x T products (output transform) */
    float *y;          /* output, chunk's first sample */
    const float *bias;
    int accumulate;
    /* products */
    const float *a, *b;
    float *c;
    int M, N, K, lda, ldb, ldc, trans_b;
    size_t sa, sb, sc; /* strides between the 16 products */
    float beta;
    atomic_int oom;    /* a helper could not get its buffer */
} wino_job;

int cpu_wino_can(int KH, int KW, int S, int pt, int pb, int pl, int pr)
{
    return KH == 3 && KW == 3 && S == 1 && pt <= 2 && pb <= 2 && pl <= 2 && pr <= 2;
}

int cpu_wino_pays(int N, int Cg, int Og, int OH, int OW)
{
    /* Below 16 channels the transforms cost about what the products save,
     * and so do small odd maps, whose tiles compute a row and a column
     * past the edge (7 x 7: 64 outputs for 49; bench-train --ab-winograd
     * measured traitnet's conv4 there 20 % slower than im2col).  Few tiles
     * in all (a single image: AlexNet's 8 x 8 maps are 16 tiles) leave the
     * products too thin and the kernels' transform, redone at every call,
     * too large: bench-cpu measured AlexNet's batch-1 forward at 21 ms
     * against 9 ms on im2col. */
    const double waste = (double)((OH + 1) / 2 * 2) * ((OW + 1) / 2 * 2) / ((double)OH * OW);
    const double tiles = (double)N * ((OH + 1) / 2) * ((OW + 1) / 2);
    return Cg >= 16 && Og >= 16 && waste <= 1.15 && tiles >= 512;
}

/* The 16 transformed values of n <= 4 neighbouring tiles (lanes of out)
 * into rows xi * step of V or D; fewer than four at a row's end. */
static inline void store16(float *dst, size_t step, const v4sf out[16], int n)
{
    if (n == 4)
        for (int xi = 0; xi < 16; xi++) memcpy(dst + (size_t)xi * step, &out[xi], sizeof out[xi]);
    else
        for (int xi = 0; xi < 16; xi++) memcpy(dst + (size_t)xi * step, &out[xi], (size_t)n * sizeof(float));
}

/* V[xi][c][t] = (B^T d B)[xi] for the input tiles, over (sample, channel).
 *
 * Each plane is first copied with its padding into even and odd columns
 * (ev[y][k] = column 2k of the padded plane, od[y][k] = column 2k+1), so
 * that every tile is an interior one and tile k of a row reads ev[k],
 * od[k], ev[k+1], od[k+1] of four rows: unit-stride vectors of four
 * tiles, whose 16 results go to 16 rows of V with unit-stride stores. */
static void in_transform_range(void *ctx, size_t lo, size_t hi)
{
    const wino_job *j = ctx;
    const wino_geom *g = j->g;
    const size_t T = j->T, tiles = (size_t)g->th * g->tw, step = (size_t)g->C * T;
    const int PH = 2 * g->th + 2, PK = g->tw + 4; /* padded rows; columns of ev and od (+3 read past) */
    float *buf = malloc((size_t)2 * PH * PK * sizeof(float));
    if (!buf) {
        atomic_store(&((wino_job *)j)->oom, 1);
        return;
    }
    float *ev = buf, *od = buf + (size_t)PH * PK;
    for (size_t u = lo; u < hi; u++) {
        const int s = (int)(u / (size_t)g->C), c = (int)(u % (size_t)g->C);
        const float *xp = j->x + (size_t)s * g->xs + (size_t)c * g->H * g->W;
        for (int y = 0; y < PH; y++) {
            const int iy = y - g->pt;
            float *e = ev + (size_t)y * PK, *o = od + (size_t)y * PK;
            if (iy < 0 || iy >= g->H) {
                memset(e, 0, (size_t)PK * sizeof(float));
                memset(o, 0, (size_t)PK * sizeof(float));
                continue;
            }
            const float *row = xp + (size_t)iy * g->W;
            /* k in [k0, k1): both columns 2k - pl and 2k - pl + 1 inside */
            int k0 = (g->pl + 1) / 2, k1 = g->W - 2 + g->pl < 0 ? 0 : (g->W - 2 + g->pl) / 2 + 1;
            if (k1 > PK) k1 = PK;
            if (k0 > k1) k0 = k1;
            if (k1 > k0) {
                const float *restrict src = row + 2 * k0 - g->pl;
                float *restrict de = e + k0, *restrict dod = o + k0;
                for (int i = 0; i < k1 - k0; i++) {
                    de[i] = src[2 * i];
                    dod[i] = src[2 * i + 1];
                }
            }
            for (int k = 0; k < PK; k++) { /* the edges */
                if (k == k0) k = k1;
                if (k >= PK) break;
                const int x0 = 2 * k - g->pl, x1 = x0 + 1;
                e[k] = x0 >= 0 && x0 < g->W ? row[x0] : 0.0f;
                o[k] = x1 >= 0 && x1 < g->W ? row[x1] : 0.0f;
            }
        }
        float *vp = j->v + (size_t)c * T + (size_t)s * tiles;
        for (int ty = 0; ty < g->th; ty++) {
            const float *er[4], *orr[4];
            for (int r = 0; r < 4; r++) {
                er[r] = ev + (size_t)(2 * ty + r) * PK;
                orr[r] = od + (size_t)(2 * ty + r) * PK;
            }
            float *dst = vp + (size_t)ty * g->tw;
            for (int i = 0; i < g->tw; i += 4) {
                v4sf d[4][4], out[16];
                for (int r = 0; r < 4; r++) {
                    d[r][0] = ld4(er[r] + i);
                    d[r][1] = ld4(orr[r] + i);
                    d[r][2] = ld4(er[r] + i + 1);
                    d[r][3] = ld4(orr[r] + i + 1);
                }
                for (int q = 0; q < 4; q++) { /* B^T d */
                    const v4sf p = d[0][q] - d[2][q], t = d[1][q] + d[2][q], w = d[2][q] - d[1][q],
                               z = d[1][q] - d[3][q];
                    d[0][q] = p, d[1][q] = t, d[2][q] = w, d[3][q] = z;
                }
                for (int r = 0; r < 4; r++) { /* (B^T d) B */
                    out[4 * r + 0] = d[r][0] - d[r][2];
                    out[4 * r + 1] = d[r][1] + d[r][2];
                    out[4 * r + 2] = d[r][2] - d[r][1];
                    out[4 * r + 3] = d[r][1] - d[r][3];
                }
                store16(dst + i, step, out, g->tw - i < 4 ? g->tw - i : 4);
            }
        }
    }
    free(buf);
}

/* D[xi][o][t] = (A e A^T)[xi] for the 2x2 dout blocks e, over (sample,
 * channel), four tiles of a row at a time (the blocks gathered into
 * vectors, the 16 results stored as unit-stride vectors). */
static void dy_transform_range(void *ctx, size_t lo, size_t hi)
{
    const wino_job *j = ctx;
    const wino_geom *g = j->g;
    const size_t T = j->T, tiles = (size_t)g->th * g->tw, step = (size_t)g->O * T;
    for (size_t u = lo; u < hi; u++) {
        const int s = (int)(u / (size_t)g->O), o = (int)(u % (size_t)g->O);
        const float *dp = j->x + (size_t)s * g->ys + (size_t)o * g->OH * g->OW;
        float *vp = j->v + (size_t)o * T + (size_t)s * tiles;
        for (int ty = 0; ty < g->th; ty++) {
            const int y0 = 2 * ty, down = y0 + 1 < g->OH;
            const float *r0 = dp + (size_t)y0 * g->OW, *r1 = r0 + g->OW;
            float *dst = vp + (size_t)ty * g->tw;
            for (int i = 0; i < g->tw; i += 4) {
                const int n = g->tw - i < 4 ? g->tw - i : 4;
                float e[2][2][4] = { { { 0 } } }; /* e[row][col][tile] */
                for (int k = 0; k < n; k++) {
                    const int x0 = 2 * (i + k), right = x0 + 1 < g->OW;
                    e[0][0][k] = r0[x0];
                    e[0][1][k] = right ? r0[x0 + 1] : 0.0f;
                    e[1][0][k] = down ? r1[x0] : 0.0f;
                    e[1][1][k] = down && right ? r1[x0 + 1] : 0.0f;
                }
                v4sf t[4][2], out[16];
                for (int q = 0; q < 2; q++) { /* A e */
                    const v4sf a = ld4(e[0][q]), c = ld4(e[1][q]);
                    t[0][q] = a;
                    t[1][q] = a + c;
                    t[2][q] = a - c;
                    t[3][q] = -c;
                }
                for (int r = 0; r < 4; r++) { /* (A e) A^T */
                    out[4 * r + 0] = t[r][0];
                    out[4 * r + 1] = t[r][0] + t[r][1];
                    out[4 * r + 2] = t[r][0] - t[r][1];
                    out[4 * r + 3] = -t[r][1];
                }
                store16(dst + i, step, out, n);
            }
        }
    }
}

/* y = A^T m A per tile (+ bias, or added to y), over (sample, channel),
 * four tiles of a row at a time (unit-stride vector loads of M). */
static void out_transform_range(void *ctx, size_t lo, size_t hi)
{
    const wino_job *j = ctx;
    const wino_geom *g = j->g;
    const size_t T = j->T, tiles = (size_t)g->th * g->tw, step = (size_t)g->O * T;
    for (size_t u = lo; u < hi; u++) {
        const int s = (int)(u / (size_t)g->O), o = (int)(u % (size_t)g->O);
        float *yp = j->y + (size_t)s * g->ys + (size_t)o * g->OH * g->OW;
        const float *mp = j->m + (size_t)o * T + (size_t)s * tiles;
        const float b = j->bias ? j->bias[o] : 0.0f;
        for (int ty = 0; ty < g->th; ty++) {
            const float *mrow = mp + (size_t)ty * g->tw;
            for (int i = 0; i < g->tw; i += 4) {
                const int n = g->tw - i < 4 ? g->tw - i : 4;
                v4sf m[16], r[2][4];
                if (n == 4) {
                    for (int xi = 0; xi < 16; xi++) m[xi] = ld4(mrow + (size_t)xi * step + i);
                } else { /* the row's last tiles: do not read past them */
                    float tmp[16][4] = { { 0 } };
                    for (int xi = 0; xi < 16; xi++)
                        for (int k = 0; k < n; k++) tmp[xi][k] = mrow[(size_t)xi * step + i + k];
                    for (int xi = 0; xi < 16; xi++) m[xi] = ld4(tmp[xi]);
                }
                for (int q = 0; q < 4; q++) { /* A^T m */
                    r[0][q] = m[q] + m[4 + q] + m[8 + q];
                    r[1][q] = m[4 + q] - m[8 + q] - m[12 + q];
                }
                float out[2][2][4]; /* out[row][col][tile] = (A^T m A) + bias */
                for (int p = 0; p < 2; p++) {
                    const v4sf c0 = r[p][0] + r[p][1] + r[p][2] + b, c1 = r[p][1] - r[p][2] - r[p][3] + b;
                    memcpy(out[p][0], &c0, sizeof c0);
                    memcpy(out[p][1], &c1, sizeof c1);
                }
                const int cols = 2 * (i + n) <= g->OW ? 2 * n : g->OW - 2 * i; /* inside the map */
                for (int p = 0; p < 2 && 2 * ty + p < g->OH; p++) {
                    float *row = yp + (size_t)(2 * ty + p) * g->OW + 2 * i, v[8];
                    for (int k = 0; k < 4; k++) v[2 * k] = out[p][0][k], v[2 * k + 1] = out[p][1][k];
                    if (j->accumulate)
                        for (int x = 0; x < cols; x++) row[x] += v[x];
                    else if (cols == 8)
                        memcpy(row, v, sizeof v);
                    else
                        for (int x = 0; x < cols; x++) row[x] = v[x];
                }
            }
        }
    }
}

/* The 16 products, spread over the pool, single-threaded BLAS each. */
static void products_range(void *ctx, size_t lo, size_t hi)
{
    const wino_job *j = ctx;
    for (size_t xi = lo; xi < hi; xi++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, j->trans_b ? CblasTrans : CblasNoTrans, j->M, j->N, j->K, 1.0f,
                    j->a + xi * j->sa, j->lda, j->b + xi * j->sb, j->ldb, j->beta, j->c + xi * j->sc, j->ldc);
}

static void products(wino_job *j)
{
    cpu_parallel_for(16, SIZE_MAX, products_range, j);
}

/* Samples per chunk: the larger of V and M within WINO_CHUNK_FLOATS. */
static int wino_chunk(const wino_geom *g, int N)
{
    size_t rows = (size_t)(g->C > g->O ? g->C : g->O), per = 16 * rows * g->th * g->tw;
    size_t nb = WINO_CHUNK_FLOATS / (per ? per : 1);
    if (nb < 1) nb = 1;
    if (nb > (size_t)N) nb = (size_t)N;
    return (int)nb;
}

/* U[xi][o][c] = (G w G^T)[xi] from w (O, C, 3, 3), or from its flip (C
 * and O swapped, kernel turned by 180 degrees) when `flip`: then U is
 * (16, C, O) for the din pass. */
static void weight_transform(const float *w, int O, int C, int flip, float *u)
{
    const int rows = flip ? C : O, cols = flip ? O : C;
    for (int o = 0; o < O; o++)
        for (int c = 0; c < C; c++) {
            const float *k = w + ((size_t)o * C + c) * 9;
            float g[3][3], t[4][3];
            for (int p = 0; p < 3; p++)
                for (int q = 0; q < 3; q++) g[p][q] = flip ? k[(2 - p) * 3 + (2 - q)] : k[p * 3 + q];
            for (int q = 0; q < 3; q++) { /* G g */
                t[0][q] = g[0][q];
                t[1][q] = 0.5f * (g[0][q] + g[1][q] + g[2][q]);
                t[2][q] = 0.5f * (g[0][q] - g[1][q] + g[2][q]);
                t[3][q] = g[2][q];
            }
            const size_t at = flip ? (size_t)c * cols + o : (size_t)o * cols + c, step = (size_t)rows * cols;
            for (int p = 0; p < 4; p++) { /* (G g) G^T */
                u[(size_t)(4 * p + 0) * step + at] = t[p][0];
                u[(size_t)(4 * p + 1) * step + at] = 0.5f * (t[p][0] + t[p][1] + t[p][2]);
                u[(size_t)(4 * p + 2) * step + at] = 0.5f * (t[p][0] - t[p][1] + t[p][2]);
                u[(size_t)(4 * p + 3) * step + at] = t[p][2];
            }
        }
}

/* y (N samples, stride ys) = or += conv(x, U) + bias over the geometry g. */
static ts_status wino_conv(const wino_geom *g, int N, const float *x, const float *u, const float *bias, float *y,
                           int accumulate)
{
    const int nb = wino_chunk(g, N);
    const size_t tiles = (size_t)g->th * g->tw;
    for (int j0 = 0; j0 < N; j0 += nb) {
        const int n = N - j0 < nb ? N - j0 : nb;
        const size_t T = (size_t)n * tiles;
        float *v = cpu_scratch(0, 16 * (size_t)g->C * T), *m = cpu_scratch(1, 16 * (size_t)g->O * T);
        if (!v || !m) return TS_ERR_OOM;
        wino_job j = { .g = g, .nb = n, .T = T, .x = x + (size_t)j0 * g->xs, .v = v };
        cpu_parallel_for((size_t)n * g->C, (size_t)n * g->C * tiles * 32, in_transform_range, &j);
        if (atomic_load(&j.oom)) return ts_error(TS_ERR_OOM, "winograd: no memory for a padded plane");
        j.a = u, j.b = v, j.c = m;
        j.M = g->O, j.N = (int)T, j.K = g->C, j.lda = g->C, j.ldb = (int)T, j.ldc = (int)T;
        j.sa = (size_t)g->O * g->C, j.sb = (size_t)g->C * T, j.sc = (size_t)g->O * T;
        j.beta = 0.0f;
        products(&j);
        j.m = m, j.y = y + (size_t)j0 * g->ys, j.bias = bias, j.accumulate = accumulate;
        cpu_parallel_for((size_t)n * g->O, (size_t)n * g->O * tiles * 24, out_transform_range, &j);
    }
    return TS_OK;
}

ts_status cpu_wino_forward(int N, int C, int H, int W, int O, int OH, int OW, int pt, int pl, size_t xs, size_t ys,
                           const float *x, const float *w, const float *bias, float *y)
{
    wino_geom g = { C, H, W, O, OH, OW, pt, pl, (OH + 1) / 2, (OW + 1) / 2, xs, ys };
    float *u = cpu_scratch(3, 16 * (size_t)O * C);
    if (!u) return TS_ERR_OOM;
    weight_transform(w, O, C, 0, u);
    return wino_conv(&g, N, x, u, bias, y, 0);
}

ts_status cpu_wino_dinput(int N, int C, int H, int W, int O, int OH, int OW, int pt, int pl, size_t xs, size_t ys,
                          const float *w, const float *dy, float *dx)
{
    /* din is the convolution of dout (O planes of OH x OW) giving C planes
     * of H x W, with the flipped kernels, padded 2 - pad. */
    wino_geom g = { O, OH, OW, C, H, W, 2 - pt, 2 - pl, (H + 1) / 2, (W + 1) / 2, ys, xs };
    float *u = cpu_scratch(3, 16 * (size_t)O * C);
    if (!u) return TS_ERR_OOM;
    weight_transform(w, O, C, 1, u);
    return wino_conv(&g, N, dy, u, NULL, dx, 1);
}

ts_status cpu_wino_dweight(int N, int C, int H, int W, int O, int OH, int OW, int pt, int pl, size_t xs,
                           size_t ys, const float *x, const float *dy, float *dw)
{
    wino_geom g = { C, H, W, O, OH, OW, pt, pl, (OH + 1) / 2, (OW + 1) / 2, xs, ys };
    const int nb = wino_chunk(&g, N);
    const size_t tiles = (size_t)g.th * g.tw;
    float *du = cpu_scratch(3, 16 * (size_t)O * C);
    if (!du) return TS_ERR_OOM;
    memset(du, 0, 16 * (size_t)O * C * sizeof(float));
    for (int j0 = 0; j0 < N; j0 += nb) {
        const int n = N - j0 < nb ? N - j0 : nb;
        const size_t T = (size_t)n * tiles;
        float *v = cpu_scratch(0, 16 * (size_t)C * T), *d = cpu_scratch(2, 16 * (size_t)O * T);
        if (!v || !d) return TS_ERR_OOM;
        wino_job j = { .g = &g, .nb = n, .T = T, .x = x + (size_t)j0 * xs, .v = v };
        cpu_parallel_for((size_t)n * C, (size_t)n * C * tiles * 32, in_transform_range, &j);
        if (atomic_load(&j.oom)) return ts_error(TS_ERR_OOM, "winograd: no memory for a padded plane");
        j.x = dy + (size_t)j0 * ys, j.v = d;
        cpu_parallel_for((size_t)n * O, (size_t)n * O * tiles * 24, dy_transform_range, &j);
        /* dU_xi (O x C) += D_xi (O x T) * V_xi^T */
        j.a = d, j.b = v, j.c = du, j.trans_b = 1;
        j.M = O, j.N = C, j.K = (int)T, j.lda = (int)T, j.ldb = (int)T, j.ldc = C;
        j.sa = (size_t)O * T, j.sb = (size_t)C * T, j.sc = (size_t)O * C;
        j.beta = 1.0f;
        products(&j);
    }
    /* dW += G^T dU G per (o, c) */
    const size_t step = (size_t)O * C;
    for (int o = 0; o < O; o++)
        for (int c = 0; c < C; c++) {
            const size_t at = (size_t)o * C + c;
            float m[4][4], t[3][4];
            for (int xi = 0; xi < 16; xi++) m[xi / 4][xi % 4] = du[(size_t)xi * step + at];
            for (int q = 0; q < 4; q++) { /* G^T m */
                t[0][q] = m[0][q] + 0.5f * (m[1][q] + m[2][q]);
                t[1][q] = 0.5f * (m[1][q] - m[2][q]);
                t[2][q] = 0.5f * (m[1][q] + m[2][q]) + m[3][q];
            }
            float *k = dw + at * 9;
            for (int p = 0; p < 3; p++) { /* (G^T m) G */
                k[p * 3 + 0] += t[p][0] + 0.5f * (t[p][1] + t[p][2]);
                k[p * 3 + 1] += 0.5f * (t[p][1] - t[p][2]);
                k[p * 3 + 2] += 0.5f * (t[p][1] + t[p][2]) + t[p][3];
            }
        }
    return TS_OK;
}
