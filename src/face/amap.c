/* amap.c - A(x,y) nearest-landmark maps (see amap.h for the exact spec).
 *
 * Why the fast version is exact: for a tile of pixels (a rectangle R of
 * pixel centres) and each landmark j we bound, in double precision, the
 * true squared distance over R from below (lo_j, distance to R) and above
 * (hi_j, distance to R's farthest corner).  U = min_j hi_j bounds the
 * winner's distance at every pixel of R.  The float distance the spec
 * compares differs from the true one by a relative error below 4 * 2^-24
 * (one rounding each for dx, dx*dx, dy*dy and the sum; x is an exact
 * integer), plus at most ~1e-45 absolute where squares fall in float's
 * subnormal range.  A landmark with lo_j > U*(1+1e-5) + 1e-30 therefore has
 * a float distance strictly greater than the winner's at every pixel of R:
 * it can neither win nor tie, and dropping it changes no byte of the map.
 * The same margin makes the second test safe: j is also dropped when one
 * other landmark m is nearer than j, by more than the rounding bound, at
 * every point of R (D_j - D_m is affine in the pixel position, so checking
 * R's four corners suffices).  Tiles are pruned from their 64x64 block's
 * candidates, so far from the face most tiles keep a single landmark and
 * are filled with memset.  The candidates left are scanned in ascending
 * index order with the same float expression and the same strict <, so
 * ties resolve identically.
 *
 * The float expression must not be contracted into a fused multiply-add
 * (which rounds differently): GCC does not contract in ISO C mode (the
 * project builds with -std=c11), and clang is told so below.
 */
#include "face/amap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "face/points.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define TILE 16   /* pixels per tile side */
#define BLOCK 64  /* tiles are pruned from their 64x64 block's candidates */

static ts_status check_args(const ts_points *pts, int width, int height, const uint8_t *out)
{
    TS_ASSERT(pts && out);
    if (pts->n < 1 || pts->n > TS_POINTS_MAX)
        return ts_error(TS_ERR_ARG, "A(x,y): %d landmarks, expected 1..%d", pts->n, TS_POINTS_MAX);
    if (width < 1 || height < 1 || width > TS_IMAGE_MAX_SIDE || height > TS_IMAGE_MAX_SIDE)
        return ts_error(TS_ERR_ARG, "A(x,y): size %dx%d out of range (1..%d per side)", width, height,
                        TS_IMAGE_MAX_SIDE);
    for (int j = 0; j < pts->n; j++)
        if (!isfinite(pts->x[j]) || !isfinite(pts->y[j]) || fabsf(pts->x[j]) > TS_POINTS_MAX_COORD ||
            fabsf(pts->y[j]) > TS_POINTS_MAX_COORD)
            return ts_error(TS_ERR_ARG, "A(x,y): landmark %d (%g,%g) is not finite or beyond %g", j,
                            (double)pts->x[j], (double)pts->y[j], (double)TS_POINTS_MAX_COORD);
    return TS_OK;
}

ts_status ts_amap_reference(const ts_points *pts, int width, int height, uint8_t *out)
{
    TS_TRY(check_args(pts, width, height, out));
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            int best_j = 0;
            float best = 0;
            for (int j = 0; j < pts->n; j++) {
                float dx = (float)x - pts->x[j], dy = (float)y - pts->y[j];
                float d = dx * dx + dy * dy;
                if (j == 0 || d < best) {
                    best = d;
                    best_j = j;
                }
            }
            out[(size_t)y * width + x] = (uint8_t)best_j;
        }
    return TS_OK;
}

/* True squared distance from (px,py) to the corner k (0..3) of R. */
static inline double corner_d2(double px, double py, int k, int x0, int x1, int y0, int y1)
{
    double dx = (k & 1 ? x1 : x0) - px, dy = (k & 2 ? y1 : y0) - py;
    return dx * dx + dy * dy;
}

/* Does landmark m beat landmark j, in the float comparison, at every pixel
 * of R?  D_j - D_m is affine in (x,y) (the |x|^2 terms cancel), so its
 * minimum over R is at a corner; it must exceed the float-rounding bound
 * 1e-5 * (D_j + D_m) <= 1e-5 * (hi_j + hi_m) with room to spare. */
static int dominates(double mx, double my, double hm, double jx, double jy, double hj, int x0,
                     int x1, int y0, int y1)
{
    double need = 1e-5 * (hj + hm) + 1e-30;
    for (int k = 0; k < 4; k++)
        if (!(corner_d2(jx, jy, k, x0, x1, y0, y1) - corner_d2(mx, my, k, x0, x1, y0, y1) > need))
            return 0;
    return 1;
}

/* Landmarks among cand[0..n) that may be nearest somewhere in the pixel
 * rectangle R = [x0,x1] x [y0,y1]; ascending order is kept.  Two tests,
 * both conservative (see the file comment and dominates()):
 *   1. distance bounds: drop j when its nearest possible distance exceeds
 *      the best farthest-corner distance U;
 *   2. domination: drop j when one other landmark beats it on all of R
 *      (first the landmark nearest R's centre, then, for few survivors,
 *      every pair).  Returns the count. */
static int prune(const ts_points *pts, const uint8_t *cand, int n, int x0, int x1, int y0, int y1,
                 uint8_t *keep)
{
    double lo[TS_POINTS_MAX], hi[TS_POINTS_MAX], u = INFINITY;
    double mx = 0.5 * (x0 + x1), my = 0.5 * (y0 + y1);
    for (int c = 0; c < n; c++) {
        int j = cand[c];
        double px = pts->x[j], py = pts->y[j];
        double ax = px < x0 ? x0 - px : px > x1 ? px - x1 : 0;
        double ay = py < y0 ? y0 - py : py > y1 ? py - y1 : 0;
        double bx = px < mx ? x1 - px : px - x0;
        double by = py < my ? y1 - py : py - y0;
        lo[c] = ax * ax + ay * ay;
        hi[c] = bx * bx + by * by;
        if (hi[c] < u) u = hi[c];
    }
    double t = u * (1 + 1e-5) + 1e-30;
    int m = 0, best = -1;
    double hk[TS_POINTS_MAX], best_d = INFINITY;
    for (int c = 0; c < n; c++)
        if (lo[c] <= t) {
            double px = pts->x[cand[c]] - mx, py = pts->y[cand[c]] - my;
            if (px * px + py * py < best_d) best_d = px * px + py * py, best = m;
            hk[m] = hi[c];
            keep[m++] = cand[c];
        }
    if (m <= 1) return m;
    /* 2a. against the landmark nearest the centre. */
    double wx = pts->x[keep[best]], wy = pts->y[keep[best]], wh = hk[best];
    int k2 = 0;
    for (int c = 0; c < m; c++)
        if (c == best || !dominates(wx, wy, wh, pts->x[keep[c]], pts->y[keep[c]], hk[c], x0, x1, y0, y1)) {
            hk[k2] = hk[c];
            keep[k2++] = keep[c];
        }
    m = k2;
    /* 2b. every pair among few survivors (dropping j because m beats it
     * is safe even if m is dropped later: whoever beats m beats j). */
    if (m > 2 && m <= 16) {
        uint8_t gone[16] = { 0 };
        for (int c = 0; c < m; c++)
            for (int d = 0; d < m && !gone[c]; d++)
                if (d != c && !gone[d] &&
                    dominates(pts->x[keep[d]], pts->y[keep[d]], hk[d], pts->x[keep[c]], pts->y[keep[c]],
                              hk[c], x0, x1, y0, y1))
                    gone[c] = 1;
        k2 = 0;
        for (int c = 0; c < m; c++)
            if (!gone[c]) keep[k2++] = keep[c];
        m = k2;
    }
    return m;
}

/* Exact argmin over the candidates for one tile.  All TILE lanes of a row
 * are computed (lanes past x1 are discarded), 4 at a time with SSE2 where
 * available: _mm_sub/_mul/_add_ps are the same IEEE single operations as
 * the scalar expression, and min(d, best) keeps `best` unless d < best,
 * exactly the reference's strict comparison. */
static void fill_tile(const ts_points *pts, const uint8_t *cand, int n, int x0, int x1, int y0,
                      int y1, int width, uint8_t *out)
{
    int w = x1 - x0 + 1;
    if (n == 1) {
        for (int y = y0; y <= y1; y++) memset(out + (size_t)y * width + x0, cand[0], (size_t)w);
        return;
    }
    float cx[TS_POINTS_MAX], cy[TS_POINTS_MAX];
    for (int c = 0; c < n; c++) {
        cx[c] = pts->x[cand[c]];
        cy[c] = pts->y[cand[c]];
    }
    float fx[TILE];
    for (int i = 0; i < TILE; i++) fx[i] = (float)(x0 + i);
    for (int y = y0; y <= y1; y++) {
        int32_t idx[TILE];
        float fy = (float)y;
#ifdef __SSE2__
        __m128 vx[TILE / 4], best[TILE / 4];
        __m128i vi[TILE / 4];
        {
            float dy = fy - cy[0];
            __m128 dy2 = _mm_set1_ps(dy * dy), px = _mm_set1_ps(cx[0]);
            for (int v = 0; v < TILE / 4; v++) {
                vx[v] = _mm_loadu_ps(fx + 4 * v);
                __m128 dx = _mm_sub_ps(vx[v], px);
                best[v] = _mm_add_ps(_mm_mul_ps(dx, dx), dy2);
                vi[v] = _mm_set1_epi32(cand[0]);
            }
        }
        for (int c = 1; c < n; c++) {
            float dy = fy - cy[c];
            __m128 dy2 = _mm_set1_ps(dy * dy), px = _mm_set1_ps(cx[c]);
            __m128i j = _mm_set1_epi32(cand[c]);
            for (int v = 0; v < TILE / 4; v++) {
                __m128 dx = _mm_sub_ps(vx[v], px);
                __m128 d = _mm_add_ps(_mm_mul_ps(dx, dx), dy2);
                __m128i lt = _mm_castps_si128(_mm_cmplt_ps(d, best[v]));
                best[v] = _mm_min_ps(d, best[v]);
                vi[v] = _mm_or_si128(_mm_and_si128(lt, j), _mm_andnot_si128(lt, vi[v]));
            }
        }
        for (int v = 0; v < TILE / 4; v++) _mm_storeu_si128((__m128i *)(idx + 4 * v), vi[v]);
#else
        float best[TILE];
        {
            float dy = fy - cy[0];
            float dy2 = dy * dy;
            for (int i = 0; i < TILE; i++) {
                float dx = fx[i] - cx[0];
                best[i] = dx * dx + dy2;
                idx[i] = cand[0];
            }
        }
        for (int c = 1; c < n; c++) {
            float dy = fy - cy[c];
            float dy2 = dy * dy, px = cx[c];
            int32_t j = cand[c];
            for (int i = 0; i < TILE; i++) {
                float dx = fx[i] - px;
                float d = dx * dx + dy2;
                if (d < best[i]) {
                    best[i] = d;
                    idx[i] = j;
                }
            }
        }
#endif
        uint8_t *o = out + (size_t)y * width + x0;
        for (int i = 0; i < w; i++) o[i] = (uint8_t)idx[i];
    }
}

ts_status ts_amap_compute(const ts_points *pts, int width, int height, uint8_t *out)
{
    TS_TRY(check_args(pts, width, height, out));
    uint8_t all[TS_POINTS_MAX], bcand[TS_POINTS_MAX], tcand[TS_POINTS_MAX];
    for (int j = 0; j < pts->n; j++) all[j] = (uint8_t)j;
    for (int by = 0; by < height; by += BLOCK)
        for (int bx = 0; bx < width; bx += BLOCK) {
            int bx1 = bx + BLOCK < width ? bx + BLOCK - 1 : width - 1;
            int by1 = by + BLOCK < height ? by + BLOCK - 1 : height - 1;
            int nb = prune(pts, all, pts->n, bx, bx1, by, by1, bcand);
            for (int ty = by; ty <= by1; ty += TILE)
                for (int tx = bx; tx <= bx1; tx += TILE) {
                    int tx1 = tx + TILE - 1 < bx1 ? tx + TILE - 1 : bx1;
                    int ty1 = ty + TILE - 1 < by1 ? ty + TILE - 1 : by1;
                    int nt = nb == 1 ? 1 : prune(pts, bcand, nb, tx, tx1, ty, ty1, tcand);
                    fill_tile(pts, nb == 1 ? bcand : tcand, nt, tx, tx1, ty, ty1, width, out);
                }
        }
    return TS_OK;
}

ts_status ts_amap_encode(const uint8_t *amap, int width, int height, int k, float *out)
{
    TS_ASSERT(amap && out && width > 0 && height > 0);
    if (k < 1 || k > TS_POINTS_MAX)
        return ts_error(TS_ERR_ARG, "A(x,y) encoding: %d landmarks, expected 1..%d", k, TS_POINTS_MAX);
    float scale = k > 1 ? 1.0f / (float)(k - 1) : 0.0f;
    size_t n = (size_t)width * height;
    for (size_t i = 0; i < n; i++) {
        if (amap[i] >= k)
            return ts_error(TS_ERR_ARG, "A(x,y) encoding: value %d at (%zu,%zu) is not below k = %d",
                            amap[i], i % (size_t)width, i / (size_t)width, k);
        out[i] = (float)amap[i] * scale;
    }
    return TS_OK;
}

ts_status ts_amap_encoding_parse(const char *enc, int *divisor)
{
    TS_ASSERT(enc && divisor);
    const char *p = enc;
    if (strncmp(p, "index/", 6) != 0)
        return ts_error(TS_ERR_FORMAT, "A(x,y) encoding \"%s\": expected \"index/<k-1>\"", enc);
    p += 6;
    int d = 0, digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 4) d = d * 10 + (*p++ - '0'), digits++;
    if (*p || digits == 0 || d < 1 || d > TS_POINTS_MAX - 1 || (digits > 1 && enc[6] == '0'))
        return ts_error(TS_ERR_FORMAT, "A(x,y) encoding \"%s\": divisor must be 1..%d", enc,
                        TS_POINTS_MAX - 1);
    *divisor = d;
    return TS_OK;
}

void ts_amap_encoding_name(int k, char *buf, int buflen)
{
    TS_ASSERT(buf && buflen > 0 && k >= 1 && k <= TS_POINTS_MAX);
    snprintf(buf, (size_t)buflen, "index/%d", k > 1 ? k - 1 : 1);
}
