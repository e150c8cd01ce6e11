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
#include <immintrin.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Floats of one chunk's transformed tiles (V or M): 8 MiB (tried 1-16 MiB: no
 * difference beyond the noise). */
#define WINO_CHUNK_FLOATS ((size_t)1 << 21)

/* Floats past the end of M: the output transforms load whole vectors of
 * four tiles, the last of which may lie past a row's (and so M's) end.
 * Partial loads through a stack copy stalled on store forwarding: half of
 * the output transform's time in tiles of 4, where rows are 7 tiles. */
#define WINO_M_PAD 4

typedef struct wino_geom {
    int C, H, W;       /* input planes of the convolution computed */
    int O, OH, OW;     /* its output planes */
    int pt, pl;        /* top and left padding */
    int m;             /* outputs per tile side: 2 (F(2x2, 3x3)) or 4 (F(4x4, 3x3)) */
    int xi;            /* transformed values per tile, (m + 2)^2: 16 or 36 */
    int th, tw;        /* tiles down and across: ceil(OH/m), ceil(OW/m) */
    size_t xs, ys;     /* sample strides of input and output (floats) */
} wino_geom;

typedef struct wino_job {
    const wino_geom *g;
    int nb;            /* samples in the chunk */
    size_t T;          /* tiles in the chunk: nb * th * tw */
    const float *x;    /* input (transform) or dout (dY transform), chunk's first sample */
    float *v;          /* xi x rows x T */
    const float *m;    /* xi x O x T products (output transform) */
    float *y;          /* output, chunk's first sample */
    const float *bias;
    int accumulate;
    /* products */
    const float *a, *b;
    float *c;
    int M, N, K, lda, ldb, ldc, trans_b;
    size_t sa, sb, sc; /* strides between the xi products */
    float beta;
    atomic_int oom;    /* a helper could not get its buffer */
} wino_job;

int cpu_wino_can(int KH, int KW, int S, int pt, int pb, int pl, int pr)
{
    return KH == 3 && KW == 3 && S == 1 && pt <= 2 && pb <= 2 && pl <= 2 && pr <= 2;
}

/* Outputs computed per output inside the map: tiles cut at the edge
 * compute rows and columns past it (7 x 7 in tiles of 2: 64 for 49). */
static double tile_waste(int OH, int OW, int m)
{
    return (double)((OH + m - 1) / m * m) * ((OW + m - 1) / m * m) / ((double)OH * OW);
}

int cpu_wino_tile(int N, int Cg, int Og, int OH, int OW, int largest)
{
    /* Below 16 channels the transforms cost about what the products save,
     * and so do small odd maps in tiles of 2 (bench-train --ab-winograd
     * measured traitnet's 7 x 7 conv4 20 % slower than im2col there).  Few
     * tiles in all (a single image: AlexNet's 8 x 8 maps are 16 tiles of 2)
     * leave the products too thin and the kernels' transform, redone at
     * every call, too large: bench-cpu measured AlexNet's batch-1 forward
     * at 21 ms against 9 ms on im2col.  Tiles of 4 take 36 products per 16
     * outputs (2.25 multiply-adds per output and channel pair, against 4
     * in tiles of 2 and 9 in im2col) for larger transforms, and waste more
     * at the edge of maps that are no multiple of 4.  bench-train
     * --ab-tiles, traitnet at batch 64, turns of each: the 28 x 28 layers
     * 8-15 % faster in tiles of 4 (forward and backward), the 14 x 14 ones
     * (16 x 16 computed) 6 % slower, the 7 x 7 one 30 % slower.  So tiles
     * of 4 where they waste as little as tiles of 2 may, and in batches of
     * 512 tiles or more. */
    if (Cg < 16 || Og < 16) return 0;
    const double w2 = tile_waste(OH, OW, 2), w4 = tile_waste(OH, OW, 4);
    const double t2 = (double)N * ((OH + 1) / 2) * ((OW + 1) / 2), t4 = (double)N * ((OH + 3) / 4) * ((OW + 3) / 4);
    if (largest >= 4 && t4 >= 512 && w4 <= 1.15) return 4;
    return w2 <= 1.15 && t2 >= 512 ? 2 : 0;
}

typedef int v4si __attribute__((vector_size(16)));

/* Row xi * step of V or D gets the n <= 4 lanes of v: one transformed
 * value of n neighbouring tiles (fewer than four at a row's end). */
static inline void put(float *dst, size_t step, int xi, v4sf v, int n)
{
    float *p = dst + (size_t)xi * step;
    __m128 r = (__m128)v;
    /* The lanes straight from the register: a copy of n floats through
     * memory (memcpy of a variable size) reads back a vector just stored
     * with narrower, offset loads, and stalls on it; perf put 40 % of the
     * input transform's time on that one load on a Xeon (model 207). */
    switch (n) {
    case 4: _mm_storeu_ps(p, r); break;
    case 3: _mm_storel_pi((__m64 *)p, r); _mm_store_ss(p + 2, _mm_movehl_ps(r, r)); break;
    case 2: _mm_storel_pi((__m64 *)p, r); break;
    default: _mm_store_ss(p, r); break;
    }
}

/* The 16 values of n tiles in tiles of 2 (lanes of out). */
static inline void store16(float *dst, size_t step, const v4sf out[16], int n)
{
    for (int xi = 0; xi < 16; xi++) put(dst, step, xi, out[xi], n);
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

/* The end of the chunk's dout planes that a dY transform may read: the
 * last of this group's planes in the chunk's last sample. */
static const float *dy_end(const wino_job *j)
{
    return j->x + (size_t)(j->nb - 1) * j->g->ys + (size_t)j->g->O * j->g->OH * j->g->OW;
}

/* D[xi][o][t] = (A e A^T)[xi] for the 2x2 dout blocks e, over (sample,
 * channel), four tiles of a row at a time (the blocks gathered into
 * vectors, the 16 results stored as unit-stride vectors). */
static void dy_transform_range(void *ctx, size_t lo, size_t hi)
{
    const wino_job *j = ctx;
    const wino_geom *g = j->g;
    const size_t T = j->T, tiles = (size_t)g->th * g->tw, step = (size_t)g->O * T;
    const float *end = dy_end(j);
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
                v4sf e[2][2]; /* e[row][col]: lanes are the tiles */
                /* four whole blocks (or a row's last blocks, all inside,
                 * when reading past them stays inside dout: the lanes read
                 * past go nowhere): even and odd columns of two rows */
                if (down && (2 * (i + 4) <= g->OW || (g->OW % 2 == 0 && r1 + 2 * i + 8 <= end))) {
                    for (int r = 0; r < 2; r++) {
                        const float *src = (r ? r1 : r0) + 2 * i;
                        const v4sf a = ld4(src), b = ld4(src + 4);
                        e[r][0] = __builtin_shuffle(a, b, (v4si){ 0, 2, 4, 6 });
                        e[r][1] = __builtin_shuffle(a, b, (v4si){ 1, 3, 5, 7 });
                    }
                } else { /* lane by lane: maps of odd width, the map's last
                          * plane (slower: a vector built from lanes just
                          * stored one by one waits for them) */
                    float f[2][2][4] = { { { 0 } } };
                    for (int k = 0; k < n; k++) {
                        const int x0 = 2 * (i + k), right = x0 + 1 < g->OW;
                        f[0][0][k] = r0[x0];
                        f[0][1][k] = right ? r0[x0 + 1] : 0.0f;
                        f[1][0][k] = down ? r1[x0] : 0.0f;
                        f[1][1][k] = down && right ? r1[x0 + 1] : 0.0f;
                    }
                    for (int r = 0; r < 2; r++)
                        for (int q = 0; q < 2; q++)
                            e[r][q] = (v4sf){ f[r][q][0], f[r][q][1], f[r][q][2], f[r][q][3] };
                }
                v4sf t[4][2], out[16];
                for (int q = 0; q < 2; q++) { /* A e */
                    const v4sf a = e[0][q], c = e[1][q];
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
                /* whole vectors even for a row's last tiles: their other
                 * lanes (the next row's tiles, or M's padding) go nowhere */
                for (int xi = 0; xi < 16; xi++) m[xi] = ld4(mrow + (size_t)xi * step + i);
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

/* ---- F(4x4, 3x3) -----------------------------------------------------------
 * The same three passes in tiles of 4 x 4 outputs over 6 x 6 inputs, with
 * the interpolation points 0, 1, -1, 2, -2 and infinity (Lavin and Gray):
 *     B^T = | 4  0 -5  0  1  0 |   G = |  1/4    0     0  |   A^T = | 1  1  1  1  1  0 |
 *           | 0 -4 -4  1  1  0 |       | -1/6 -1/6  -1/6  |         | 0  1 -1  2 -2  0 |
 *           | 0  4 -4 -1  1  0 |       | -1/6  1/6  -1/6  |         | 0  1  1  4  4  0 |
 *           | 0 -2 -1  2  1  0 |       | 1/24 1/12   1/6  |         | 0  1 -1  8 -8  1 |
 *           | 0  2 -1 -2  1  0 |       | 1/24 -1/12  1/6  |
 *           | 0  4  0 -5  0  1 |       |   0    0     1   |
 * Four neighbouring tiles at a time in the lanes of a vector, as above. */

/* B^T applied to six values (a column or a row of a tile). */
static inline void bt6(const v4sf d[6], v4sf r[6])
{
    r[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
    r[1] = -4.0f * (d[1] + d[2]) + d[3] + d[4];
    r[2] = 4.0f * (d[1] - d[2]) - d[3] + d[4];
    r[3] = 2.0f * (d[3] - d[1]) - d[2] + d[4];
    r[4] = 2.0f * (d[1] - d[3]) - d[2] + d[4];
    r[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
}

/* A^T applied to six values: four. */
static inline void at6(const v4sf m[6], v4sf r[4])
{
    const v4sf s12 = m[1] + m[2], d12 = m[1] - m[2], s34 = m[3] + m[4], d34 = m[3] - m[4];
    r[0] = m[0] + s12 + s34;
    r[1] = d12 + 2.0f * d34;
    r[2] = s12 + 4.0f * s34;
    r[3] = d12 + 8.0f * d34 + m[5];
}

/* A applied to four values: six. */
static inline void a4(const v4sf e[4], v4sf r[6])
{
    const v4sf s02 = e[0] + e[2], s13 = e[1] + e[3], q02 = e[0] + 4.0f * e[2], q13 = 2.0f * e[1] + 8.0f * e[3];
    r[0] = e[0];
    r[1] = s02 + s13;
    r[2] = s02 - s13;
    r[3] = q02 + q13;
    r[4] = q02 - q13;
    r[5] = e[3];
}

static inline void st4(float *p, v4sf v) { memcpy(p, &v, sizeof v); }

/* r[i][j] <- r[j][i]: four tiles' rows of four values into four vectors of
 * one value of each tile, and back. */
static inline void transpose4(v4sf r[4])
{
    const v4sf t0 = __builtin_shuffle(r[0], r[1], (v4si){ 0, 4, 1, 5 });
    const v4sf t1 = __builtin_shuffle(r[0], r[1], (v4si){ 2, 6, 3, 7 });
    const v4sf t2 = __builtin_shuffle(r[2], r[3], (v4si){ 0, 4, 1, 5 });
    const v4sf t3 = __builtin_shuffle(r[2], r[3], (v4si){ 2, 6, 3, 7 });
    r[0] = __builtin_shuffle(t0, t2, (v4si){ 0, 1, 4, 5 });
    r[1] = __builtin_shuffle(t0, t2, (v4si){ 2, 3, 6, 7 });
    r[2] = __builtin_shuffle(t1, t3, (v4si){ 0, 1, 4, 5 });
    r[3] = __builtin_shuffle(t1, t3, (v4si){ 2, 3, 6, 7 });
}

/* V[xi][c][t] = (B^T d B)[xi] over (sample, channel).  Each padded plane
 * is first dealt into four phases (ph[p][y][k] = column 4k + p: a 4x4
 * transpose per sixteen columns), so that tile k of a row reads
 * ph[0..3][k] and ph[0..1][k + 1] of six rows: unit-stride vectors of four
 * tiles.  Rows first (d B, kept), then columns (B^T (d B), stored). */
static void in_transform4_range(void *ctx, size_t lo, size_t hi)
{
    const wino_job *j = ctx;
    const wino_geom *g = j->g;
    const size_t T = j->T, tiles = (size_t)g->th * g->tw, step = (size_t)g->C * T;
    const int PH = 4 * g->th + 2, PK = g->tw + 4; /* padded rows; columns per phase (+3 read past) */
    const size_t plane = (size_t)PH * PK;
    float *ph = malloc(4 * plane * sizeof(float));
    if (!ph) {
        atomic_store(&((wino_job *)j)->oom, 1);
        return;
    }
    for (size_t u = lo; u < hi; u++) {
        const int s = (int)(u / (size_t)g->C), c = (int)(u % (size_t)g->C);
        const float *xp = j->x + (size_t)s * g->xs + (size_t)c * g->H * g->W;
        for (int y = 0; y < PH; y++) {
            const int iy = y - g->pt;
            float *p0 = ph + (size_t)y * PK;
            if (iy < 0 || iy >= g->H) {
                for (int p = 0; p < 4; p++) memset(p0 + p * plane, 0, (size_t)PK * sizeof(float));
                continue;
            }
            const float *row = xp + (size_t)iy * g->W;
            /* k in [k0, k1): the four columns 4k - pl .. 4k - pl + 3 inside */
            int k0 = (g->pl + 3) / 4, k1 = g->W - 4 + g->pl < 0 ? 0 : (g->W - 4 + g->pl) / 4 + 1;
            if (k1 > PK) k1 = PK;
            if (k0 > k1) k0 = k1;
            int k = k0;
            for (; k + 4 <= k1; k += 4) {
                const float *src = row + 4 * k - g->pl;
                v4sf r[4] = { ld4(src), ld4(src + 4), ld4(src + 8), ld4(src + 12) };
                transpose4(r);
                for (int p = 0; p < 4; p++) st4(p0 + p * plane + k, r[p]);
            }
            for (; k < k1; k++) {
                const float *src = row + 4 * k - g->pl;
                for (int p = 0; p < 4; p++) p0[p * plane + k] = src[p];
            }
            for (k = 0; k < PK; k++) { /* the edges */
                if (k == k0) k = k1;
                if (k >= PK) break;
                for (int p = 0; p < 4; p++) {
                    const int x = 4 * k + p - g->pl;
                    p0[p * plane + k] = x >= 0 && x < g->W ? row[x] : 0.0f;
                }
            }
        }
        float *vp = j->v + (size_t)c * T + (size_t)s * tiles;
        for (int ty = 0; ty < g->th; ty++) {
            const float *r0 = ph + (size_t)(4 * ty) * PK;
            float *dst = vp + (size_t)ty * g->tw;
            for (int i = 0; i < g->tw; i += 4) {
                const int n = g->tw - i < 4 ? g->tw - i : 4;
                v4sf t[6][6];
                for (int q = 0; q < 6; q++) { /* d B, row q */
                    const float *r = r0 + (size_t)q * PK + i;
                    const v4sf d[6] = { ld4(r), ld4(r + plane), ld4(r + 2 * plane), ld4(r + 3 * plane), ld4(r + 1),
                                        ld4(r + plane + 1) };
                    bt6(d, t[q]);
                }
                for (int cc = 0; cc < 6; cc++) { /* B^T (d B), column cc */
                    const v4sf col[6] = { t[0][cc], t[1][cc], t[2][cc], t[3][cc], t[4][cc], t[5][cc] };
                    v4sf res[6];
                    bt6(col, res);
                    for (int p = 0; p < 6; p++) put(dst + i, step, 6 * p + cc, res[p], n);
                }
            }
        }
    }
    free(ph);
}

/* D[xi][o][t] = (A e A^T)[xi] for the 4x4 dout blocks e (zero past the
 * map's edge), four tiles of a row at a time: each row of four blocks
 * read as four vectors and transposed where all of it is inside. */
static void dy_transform4_range(void *ctx, size_t lo, size_t hi)
{
    const wino_job *j = ctx;
    const wino_geom *g = j->g;
    const size_t T = j->T, tiles = (size_t)g->th * g->tw, step = (size_t)g->O * T;
    const float *end = dy_end(j);
    for (size_t u = lo; u < hi; u++) {
        const int s = (int)(u / (size_t)g->O), o = (int)(u % (size_t)g->O);
        const float *dp = j->x + (size_t)s * g->ys + (size_t)o * g->OH * g->OW;
        float *vp = j->v + (size_t)o * T + (size_t)s * tiles;
        for (int ty = 0; ty < g->th; ty++) {
            float *dst = vp + (size_t)ty * g->tw;
            for (int i = 0; i < g->tw; i += 4) {
                const int n = g->tw - i < 4 ? g->tw - i : 4;
                v4sf e[4][4]; /* e[row][col]: lanes are the tiles */
                for (int p = 0; p < 4; p++) {
                    const int y = 4 * ty + p;
                    const float *row = y < g->OH ? dp + (size_t)y * g->OW + 4 * i : NULL; /* NULL: past the map */
                    /* four whole blocks, or a row's last ones when the
                     * map is whole blocks and reading past them stays
                     * inside dout (the lanes read past go nowhere) */
                    if (row && (4 * (i + 4) <= g->OW || (g->OW % 4 == 0 && row + 16 <= end))) {
                        for (int k = 0; k < 4; k++) e[p][k] = ld4(row + 4 * k);
                        transpose4(e[p]);
                        continue;
                    }
                    float tmp[4][4] = { { 0 } }; /* tmp[col][tile] */
                    for (int k = 0; k < n && row; k++)
                        for (int q = 0; q < 4; q++)
                            if (4 * (i + k) + q < g->OW) tmp[q][k] = row[4 * k + q];
                    for (int q = 0; q < 4; q++) /* maps that are no whole blocks, the last plane */
                        e[p][q] = (v4sf){ tmp[q][0], tmp[q][1], tmp[q][2], tmp[q][3] };
                }
                v4sf t[6][4];
                for (int q = 0; q < 4; q++) { /* A e, column q */
                    const v4sf col[4] = { e[0][q], e[1][q], e[2][q], e[3][q] };
                    v4sf res[6];
                    a4(col, res);
                    for (int p = 0; p < 6; p++) t[p][q] = res[p];
                }
                for (int p = 0; p < 6; p++) { /* (A e) A^T, row p */
                    v4sf res[6];
                    a4(t[p], res);
                    for (int q = 0; q < 6; q++) put(dst + i, step, 6 * p + q, res[q], n);
                }
            }
        }
    }
}

/* y = A^T m A per tile (+ bias, or added to y), four tiles at a time: the
 * columns first (A^T m), then each output row's four values of the four
 * tiles transposed into place. */
static void out_transform4_range(void *ctx, size_t lo, size_t hi)
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
                v4sf t[4][6];
                for (int q = 0; q < 6; q++) { /* A^T m, column q */
                    v4sf col[6], res[4];
                    for (int p = 0; p < 6; p++) /* whole vectors, as in tiles of 2 */
                        col[p] = ld4(mrow + (size_t)(6 * p + q) * step + i);
                    at6(col, res);
                    for (int p = 0; p < 4; p++) t[p][q] = res[p];
                }
                const int full = 4 * (i + 4) <= g->OW; /* four whole tiles across */
                for (int p = 0; p < 4 && 4 * ty + p < g->OH; p++) {
                    v4sf r[4];
                    at6(t[p], r);
                    for (int q = 0; q < 4; q++) r[q] += b;
                    transpose4(r); /* r[k]: tile k's four values */
                    float *row = yp + (size_t)(4 * ty + p) * g->OW + 4 * i;
                    if (full) {
                        for (int k = 0; k < 4; k++)
                            st4(row + 4 * k, j->accumulate ? ld4(row + 4 * k) + r[k] : r[k]);
                        continue;
                    }
                    float v[16];
                    memcpy(v, r, sizeof v);
                    const int cols = 4 * (i + n) <= g->OW ? 4 * n : g->OW - 4 * i; /* inside the map */
                    for (int x = 0; x < cols; x++) row[x] = j->accumulate ? row[x] + v[x] : v[x];
                }
            }
        }
    }
}

/* The xi products, spread over the pool, single-threaded BLAS each. */
static void products_range(void *ctx, size_t lo, size_t hi)
{
    const wino_job *j = ctx;
    for (size_t xi = lo; xi < hi; xi++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, j->trans_b ? CblasTrans : CblasNoTrans, j->M, j->N, j->K, 1.0f,
                    j->a + xi * j->sa, j->lda, j->b + xi * j->sb, j->ldb, j->beta, j->c + xi * j->sc, j->ldc);
}

static void products(wino_job *j)
{
    cpu_parallel_for((size_t)j->g->xi, SIZE_MAX, products_range, j);
}

/* Samples per chunk: the larger of V and M within WINO_CHUNK_FLOATS. */
static int wino_chunk(const wino_geom *g, int N)
{
    size_t rows = (size_t)(g->C > g->O ? g->C : g->O), per = (size_t)g->xi * rows * g->th * g->tw;
    size_t nb = WINO_CHUNK_FLOATS / (per ? per : 1);
    if (nb < 1) nb = 1;
    if (nb > (size_t)N) nb = (size_t)N;
    return (int)nb;
}

/* G applied to three values: m + 2 of them. */
static void g3(int m, const float k[3], float r[6])
{
    if (m == 2) {
        r[0] = k[0];
        r[1] = 0.5f * (k[0] + k[1] + k[2]);
        r[2] = 0.5f * (k[0] - k[1] + k[2]);
        r[3] = k[2];
        return;
    }
    r[0] = 0.25f * k[0];
    r[1] = -(k[0] + k[1] + k[2]) / 6.0f;
    r[2] = -(k[0] - k[1] + k[2]) / 6.0f;
    r[3] = k[0] / 24.0f + k[1] / 12.0f + k[2] / 6.0f;
    r[4] = k[0] / 24.0f - k[1] / 12.0f + k[2] / 6.0f;
    r[5] = k[2];
}

/* G^T applied to m + 2 values: three. */
static void gt(int m, const float v[6], float r[3])
{
    if (m == 2) {
        r[0] = v[0] + 0.5f * (v[1] + v[2]);
        r[1] = 0.5f * (v[1] - v[2]);
        r[2] = 0.5f * (v[1] + v[2]) + v[3];
        return;
    }
    r[0] = 0.25f * v[0] - (v[1] + v[2]) / 6.0f + (v[3] + v[4]) / 24.0f;
    r[1] = (v[2] - v[1]) / 6.0f + (v[3] - v[4]) / 12.0f;
    r[2] = (v[3] + v[4] - v[1] - v[2]) / 6.0f + v[5];
}

/* U[xi][o][c] = (G w G^T)[xi] from w (O, C, 3, 3), or from its flip (C
 * and O swapped, kernel turned by 180 degrees) when `flip`: then U is
 * (xi, C, O) for the din pass. */
static void weight_transform(int m, const float *w, int O, int C, int flip, float *u)
{
    const int rows = flip ? C : O, cols = flip ? O : C, a = m + 2;
    for (int o = 0; o < O; o++)
        for (int c = 0; c < C; c++) {
            const float *k = w + ((size_t)o * C + c) * 9;
            float g[3][3], t[6][3], col[3], res[6];
            for (int p = 0; p < 3; p++)
                for (int q = 0; q < 3; q++) g[p][q] = flip ? k[(2 - p) * 3 + (2 - q)] : k[p * 3 + q];
            for (int q = 0; q < 3; q++) { /* G g */
                for (int p = 0; p < 3; p++) col[p] = g[p][q];
                g3(m, col, res);
                for (int p = 0; p < a; p++) t[p][q] = res[p];
            }
            const size_t at = flip ? (size_t)c * cols + o : (size_t)o * cols + c, step = (size_t)rows * cols;
            for (int p = 0; p < a; p++) { /* (G g) G^T */
                g3(m, t[p], res);
                for (int q = 0; q < a; q++) u[(size_t)(a * p + q) * step + at] = res[q];
            }
        }
}

/* y (N samples, stride ys) = or += conv(x, U) + bias over the geometry g.
 * keep: NULL, or room for the whole batch's V (cpu_wino_keep_floats), which
 * is then left there, chunk after chunk, for cpu_wino_dweight. */
static ts_status wino_conv(const wino_geom *g, int N, const float *x, const float *u, const float *bias, float *y,
                           int accumulate, float *keep)
{
    const int nb = wino_chunk(g, N);
    const size_t tiles = (size_t)g->th * g->tw;
    for (int j0 = 0; j0 < N; j0 += nb) {
        const int n = N - j0 < nb ? N - j0 : nb;
        const size_t T = (size_t)n * tiles;
        const size_t xi = (size_t)g->xi;
        float *v = keep ? keep + xi * g->C * (size_t)j0 * tiles : cpu_scratch(0, xi * g->C * T);
        float *m = cpu_scratch(1, xi * g->O * T + WINO_M_PAD);
        if (!v || !m) return TS_ERR_OOM;
        wino_job j = { .g = g, .nb = n, .T = T, .x = x + (size_t)j0 * g->xs, .v = v };
        cpu_parallel_for((size_t)n * g->C, (size_t)n * g->C * tiles * 2 * xi,
                         g->m == 4 ? in_transform4_range : in_transform_range, &j);
        if (atomic_load(&j.oom)) return ts_error(TS_ERR_OOM, "winograd: no memory for a padded plane");
        j.a = u, j.b = v, j.c = m;
        j.M = g->O, j.N = (int)T, j.K = g->C, j.lda = g->C, j.ldb = (int)T, j.ldc = (int)T;
        j.sa = (size_t)g->O * g->C, j.sb = (size_t)g->C * T, j.sc = (size_t)g->O * T;
        j.beta = 0.0f;
        products(&j);
        j.m = m, j.y = y + (size_t)j0 * g->ys, j.bias = bias, j.accumulate = accumulate;
        cpu_parallel_for((size_t)n * g->O, (size_t)n * g->O * tiles * 3 * xi / 2,
                         g->m == 4 ? out_transform4_range : out_transform_range, &j);
    }
    return TS_OK;
}

static wino_geom geometry(int m, int C, int H, int W, int O, int OH, int OW, int pt, int pl, size_t xs, size_t ys)
{
    return (wino_geom){ C, H, W, O, OH, OW, pt, pl, m, (m + 2) * (m + 2), (OH + m - 1) / m, (OW + m - 1) / m, xs, ys };
}

size_t cpu_wino_keep_floats(int m, int N, int C, int OH, int OW)
{
    return (size_t)(m + 2) * (m + 2) * C * N * ((OH + m - 1) / m) * ((OW + m - 1) / m);
}

ts_status cpu_wino_forward(int m, int N, int C, int H, int W, int O, int OH, int OW, int pt, int pl, size_t xs,
                           size_t ys, const float *x, const float *w, const float *bias, float *y, float *keep)
{
    wino_geom g = geometry(m, C, H, W, O, OH, OW, pt, pl, xs, ys);
    float *u = cpu_scratch(3, (size_t)g.xi * O * C);
    if (!u) return TS_ERR_OOM;
    weight_transform(m, w, O, C, 0, u);
    return wino_conv(&g, N, x, u, bias, y, 0, keep);
}

ts_status cpu_wino_dinput(int m, int N, int C, int H, int W, int O, int OH, int OW, int pt, int pl, size_t xs,
                          size_t ys, const float *w, const float *dy, float *dx, int accumulate)
{
    /* din is the convolution of dout (O planes of OH x OW) giving C planes
     * of H x W, with the flipped kernels, padded 2 - pad; its tiles cover
     * every element of dx, so that a fresh dx is simply written. */
    wino_geom g = geometry(m, O, OH, OW, C, H, W, 2 - pt, 2 - pl, ys, xs);
    float *u = cpu_scratch(3, (size_t)g.xi * O * C);
    if (!u) return TS_ERR_OOM;
    weight_transform(m, w, O, C, 1, u);
    return wino_conv(&g, N, dy, u, NULL, dx, accumulate, NULL);
}

ts_status cpu_wino_dweight(int m, int N, int C, int H, int W, int O, int OH, int OW, int pt, int pl, size_t xs,
                           size_t ys, const float *x, const float *dy, float *dw, const float *kept)
{
    wino_geom g = geometry(m, C, H, W, O, OH, OW, pt, pl, xs, ys);
    const int nb = wino_chunk(&g, N), a = m + 2;
    const size_t tiles = (size_t)g.th * g.tw, xi = (size_t)g.xi;
    float *du = cpu_scratch(3, xi * O * C);
    if (!du) return TS_ERR_OOM;
    memset(du, 0, xi * O * C * sizeof(float));
    for (int j0 = 0; j0 < N; j0 += nb) {
        const int n = N - j0 < nb ? N - j0 : nb;
        const size_t T = (size_t)n * tiles;
        /* V as the forward pass left it (the same chunks: wino_chunk of the
         * same geometry), or transformed again */
        float *v = kept ? (float *)kept + xi * C * (size_t)j0 * tiles : cpu_scratch(0, xi * C * T);
        float *d = cpu_scratch(2, xi * O * T);
        if (!v || !d) return TS_ERR_OOM;
        wino_job j = { .g = &g, .nb = n, .T = T, .x = x + (size_t)j0 * xs, .v = v };
        if (!kept) {
            cpu_parallel_for((size_t)n * C, (size_t)n * C * tiles * 2 * xi,
                             m == 4 ? in_transform4_range : in_transform_range, &j);
            if (atomic_load(&j.oom)) return ts_error(TS_ERR_OOM, "winograd: no memory for a padded plane");
        }
        j.x = dy + (size_t)j0 * ys, j.v = d;
        cpu_parallel_for((size_t)n * O, (size_t)n * O * tiles * 3 * xi / 2,
                         m == 4 ? dy_transform4_range : dy_transform_range, &j);
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
            float mm[6][6], t[3][6], col[6], res[3];
            for (int k = 0; k < a * a; k++) mm[k / a][k % a] = du[(size_t)k * step + at];
            for (int q = 0; q < a; q++) { /* G^T m */
                for (int p = 0; p < a; p++) col[p] = mm[p][q];
                gt(m, col, res);
                for (int p = 0; p < 3; p++) t[p][q] = res[p];
            }
            float *k = dw + at * 9;
            for (int p = 0; p < 3; p++) { /* (G^T m) G */
                gt(m, t[p], res);
                for (int q = 0; q < 3; q++) k[p * 3 + q] += res[q];
            }
        }
    return TS_OK;
}
