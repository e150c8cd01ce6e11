/* conv-direct.c - the forward pass of convolutions over few input channels
 * (a network's first layer: RGB, or RGB + A(x,y)), computed directly.
 *
 * im2col makes traitnet's conv1 (5x5 stride 2 over 3 or 4 channels, 32
 * outputs of 56 x 56) a GEMM of K = 75 or 100 rows, which OpenBLAS packs
 * once more before multiplying; bench-train --profile measured it at 24 ms
 * of a 290 ms training step, about a quarter of the machine's speed.
 *
 * Here each input plane of a sample is copied once into depthwise.c's
 * padded, stride-split layout (cpu_phase_fill: row r * S + p holds the
 * padded pixels (r, j * S + p)), so that tap (ky, kx) of sixteen
 * neighbouring outputs of row oy is one contiguous run: row oy * S + ky,
 * phase kx % S, from column ox + kx / S.  Four output channels x sixteen
 * outputs stay in eight AVX2 registers while the taps go by in the
 * weight's order (c, ky, kx), each a fused multiply-add of the run with
 * the tap's weight, broadcast: eight multiply-adds per two loads and four
 * broadcasts.  Bias first, then the taps in order.
 *
 * The weight gradient of such a layer (its input gradient is never wanted
 * in training: it is the image's) from the same layout: dW[o][tap] is the
 * sum over samples and outputs of dout[o] times tap's run, twelve sums at a
 * time in registers (four outputs x three taps), eight outputs a step.
 * For a result that does not depend on the number of threads, the samples
 * go in fixed groups of DIRECT_GROUP, each summed into its own copy of
 * dW, and the copies are added in order.
 *
 * Taken (cpu_direct_can) for one group of at most four input channels, a
 * multiple of four outputs, rows of eight outputs or more and kernels at
 * most 16 wide, on CPUs with AVX2 and FMA (asked at run time); elsewhere,
 * and where the input gradient is wanted, im2col + GEMM.  TS_CPU_DIRECT=0
 * in the environment or ts_cpu_set_direct_conv(false) keeps im2col (to
 * compare).
 */
#include "backend/cpu/cpu-ops.h"

#include <immintrin.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define DIRECT_MAX_C 4 /* input channels */
#define DIRECT_OB 4    /* output channels per block */
#define DIRECT_XB 16   /* outputs per block along a row: two vectors */
#define DIRECT_MAX_KW 16
#define DIRECT_TB 3     /* taps per block in the weight gradient */
#define DIRECT_GROUP 8  /* samples per partial weight gradient */

typedef struct direct_geom {
    int N, C, H, W, O, OH, OW, KH, KW, S, pt, pl;
    int R; /* padded rows read: (OH-1)*S + KH */
    int L; /* columns per phase row: OW rounded up to DIRECT_XB, + (KW-1)/S */
} direct_geom;

typedef struct direct_job {
    const direct_geom *g;
    const float *x, *w, *bias, *dy;
    float *y;
    float *part; /* the weight gradient: one O x K copy per group of samples */
    atomic_int oom;
} direct_job;

/* -1: not decided yet (the environment decides at the first call). */
static atomic_int direct_on = -1;
/* Whether this CPU has AVX2 and FMA: -1 not asked yet. */
static atomic_int direct_cpu = -1;

void ts_cpu_set_direct_conv(bool on) { atomic_store(&direct_on, on ? 1 : 0); }

int cpu_direct_can(const ts_conv_dims *d)
{
    int on = atomic_load(&direct_on), cpu = atomic_load(&direct_cpu);
    if (cpu < 0) {
        __builtin_cpu_init();
        cpu = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        atomic_store(&direct_cpu, cpu);
    }
    if (on < 0) {
        const char *e = getenv("TS_CPU_DIRECT");
        on = !(e && e[0] == '0');
        atomic_store(&direct_on, on);
    }
    return cpu && on && d->G == 1 && d->C <= DIRECT_MAX_C && d->O % DIRECT_OB == 0 && d->OW >= 8 &&
           d->KW <= DIRECT_MAX_KW && d->KH * d->KW > 1;
}

/* One sample: y (O, OH, OW) from its C filled planes (buf, `plane`
 * floats apart). */
__attribute__((target("avx2,fma"))) static void direct_sample(const direct_geom *g, const float *buf, size_t plane,
                                                              const float *w, const float *bias, float *y)
{
    const int S = g->S, KH = g->KH, KW = g->KW, OW = g->OW;
    const size_t L = (size_t)g->L, K = (size_t)g->C * KH * KW, out_plane = (size_t)g->OH * OW;
    size_t off[DIRECT_MAX_KW]; /* tap kx's run within a padded row: phase kx % S, column kx / S */
    for (int kx = 0; kx < KW; kx++) off[kx] = (size_t)(kx % S) * L + (size_t)(kx / S);
    for (int oy = 0; oy < g->OH; oy++)
        for (int o0 = 0; o0 < g->O; o0 += DIRECT_OB) {
            const float *wo = w + (size_t)o0 * K;
            for (int x0 = 0; x0 < OW; x0 += DIRECT_XB) {
                __m256 acc[DIRECT_OB][2];
                for (int j = 0; j < DIRECT_OB; j++) acc[j][0] = acc[j][1] = _mm256_set1_ps(bias ? bias[o0 + j] : 0.0f);
                const float *wt = wo;
                for (int c = 0; c < g->C; c++)
                    for (int ky = 0; ky < KH; ky++) {
                        const float *row = buf + (size_t)c * plane + (size_t)(oy * S + ky) * S * L + x0;
                        for (int kx = 0; kx < KW; kx++, wt++) {
                            const __m256 a = _mm256_loadu_ps(row + off[kx]), b = _mm256_loadu_ps(row + off[kx] + 8);
                            for (int j = 0; j < DIRECT_OB; j++) {
                                const __m256 wv = _mm256_broadcast_ss(wt + (size_t)j * K);
                                acc[j][0] = _mm256_fmadd_ps(a, wv, acc[j][0]);
                                acc[j][1] = _mm256_fmadd_ps(b, wv, acc[j][1]);
                            }
                        }
                    }
                const int n = OW - x0 < DIRECT_XB ? OW - x0 : DIRECT_XB;
                for (int j = 0; j < DIRECT_OB; j++) {
                    float *yr = y + (size_t)(o0 + j) * out_plane + (size_t)oy * OW + x0;
                    if (n == DIRECT_XB) {
                        _mm256_storeu_ps(yr, acc[j][0]);
                        _mm256_storeu_ps(yr + 8, acc[j][1]);
                    } else { /* the row's end */
                        float t[DIRECT_XB];
                        _mm256_storeu_ps(t, acc[j][0]);
                        _mm256_storeu_ps(t + 8, acc[j][1]);
                        memcpy(yr, t, (size_t)n * sizeof(float));
                    }
                }
            }
        }
}

/* Sample n's C input planes into buf, `plane` floats apart. */
static void fill_sample(const direct_geom *g, const float *x, size_t n, float *buf, size_t plane)
{
    const size_t in_plane = (size_t)g->H * g->W;
    for (int c = 0; c < g->C; c++)
        cpu_phase_fill(x + (n * g->C + c) * in_plane, g->H, g->W, g->pt, g->pl, g->R, g->S, g->L,
                       buf + (size_t)c * plane);
}

/* Over samples, each thread with its own buffer of C filled planes. */
static void direct_range(void *ctx, size_t lo, size_t hi)
{
    direct_job *j = ctx;
    const direct_geom *g = j->g;
    const size_t plane = (size_t)g->R * g->S * g->L;
    float *buf = malloc((size_t)g->C * plane * sizeof(float));
    if (!buf) {
        atomic_store(&j->oom, 1);
        return;
    }
    const size_t out_sample = (size_t)g->O * g->OH * g->OW;
    for (size_t n = lo; n < hi; n++) {
        fill_sample(g, j->x, n, buf, plane);
        direct_sample(g, buf, plane, j->w, j->bias, j->y + n * out_sample);
    }
    free(buf);
}

static direct_geom geometry(const ts_conv_dims *d)
{
    direct_geom g = {
        .N = d->N, .C = d->C, .H = d->H, .W = d->W, .O = d->O, .OH = d->OH, .OW = d->OW,
        .KH = d->KH, .KW = d->KW, .S = d->S, .pt = d->pt, .pl = d->pl,
    };
    g.R = (g.OH - 1) * g.S + g.KH;
    g.L = (g.OW + DIRECT_XB - 1) / DIRECT_XB * DIRECT_XB + (g.KW - 1) / g.S;
    return g;
}

ts_status cpu_direct_forward(const ts_op_args *a, const ts_conv_dims *d)
{
    TS_ASSERT(cpu_direct_can(d));
    const direct_geom g = geometry(d);
    direct_job j = {
        .g = &g, .x = a->in[0]->data, .w = a->weight->data,
        .bias = a->node->has_bias ? a->bias->data : NULL, .y = a->out->data,
    };
    const size_t work = (size_t)d->N * g.O * g.OH * g.OW * (size_t)g.C * g.KH * g.KW;
    cpu_parallel_for((size_t)d->N, work, direct_range, &j);
    if (atomic_load(&j.oom))
        return ts_error(TS_ERR_OOM, "conv2d '%s': out of memory for a sample's padded planes", a->node->name);
    return TS_OK;
}

/* Sum of the eight lanes. */
__attribute__((target("avx2,fma"))) static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* One sample's share of the weight gradient, added to part (O x K): from
 * its C filled planes (buf) and its dout copied into rows of OWV floats
 * (dyp, zero past OW, O planes of OH rows). */
__attribute__((target("avx2,fma"))) static void direct_dweight_sample(const direct_geom *g, const float *buf,
                                                                      size_t plane, const float *dyp, int OWV,
                                                                      float *part)
{
    const int S = g->S, KH = g->KH, KW = g->KW, K = g->C * KH * KW;
    const size_t L = (size_t)g->L, dplane = (size_t)g->OH * OWV;
    for (int o0 = 0; o0 < g->O; o0 += DIRECT_OB) {
        const float *d0 = dyp + (size_t)o0 * dplane;
        for (int t0 = 0; t0 < K; t0 += DIRECT_TB) {
            /* the block's taps; past K, the last tap again (its sums unused) */
            size_t base[DIRECT_TB];
            for (int i = 0; i < DIRECT_TB; i++) {
                const int t = t0 + i < K ? t0 + i : K - 1, c = t / (KH * KW), ky = t / KW % KH, kx = t % KW;
                base[i] = (size_t)c * plane + (size_t)ky * S * L + (size_t)(kx % S) * L + (size_t)(kx / S);
            }
            __m256 acc[DIRECT_OB][DIRECT_TB];
            for (int j = 0; j < DIRECT_OB; j++)
                for (int i = 0; i < DIRECT_TB; i++) acc[j][i] = _mm256_setzero_ps();
            for (int oy = 0; oy < g->OH; oy++) {
                const float *in = buf + (size_t)oy * S * S * L, *dr = d0 + (size_t)oy * OWV;
                for (int x = 0; x < OWV; x += 8) {
                    __m256 v[DIRECT_TB];
                    for (int i = 0; i < DIRECT_TB; i++) v[i] = _mm256_loadu_ps(in + base[i] + x);
                    for (int j = 0; j < DIRECT_OB; j++) {
                        const __m256 dv = _mm256_loadu_ps(dr + (size_t)j * dplane + x);
                        for (int i = 0; i < DIRECT_TB; i++) acc[j][i] = _mm256_fmadd_ps(dv, v[i], acc[j][i]);
                    }
                }
            }
            for (int j = 0; j < DIRECT_OB; j++)
                for (int i = 0; i < DIRECT_TB && t0 + i < K; i++) part[(size_t)(o0 + j) * K + t0 + i] += hsum8(acc[j][i]);
        }
    }
}

/* Over groups of DIRECT_GROUP samples, each into its own part. */
static void direct_dweight_range(void *ctx, size_t lo, size_t hi)
{
    direct_job *j = ctx;
    const direct_geom *g = j->g;
    const size_t plane = (size_t)g->R * g->S * g->L, K = (size_t)g->C * g->KH * g->KW;
    const int OWV = (g->OW + 7) / 8 * 8;
    const size_t dfloats = (size_t)g->O * g->OH * OWV;
    float *buf = malloc(((size_t)g->C * plane + dfloats) * sizeof(float));
    if (!buf) {
        atomic_store(&j->oom, 1);
        return;
    }
    float *dyp = buf + (size_t)g->C * plane;
    memset(dyp, 0, dfloats * sizeof(float)); /* the columns past OW stay 0 */
    const size_t out_plane = (size_t)g->OH * g->OW;
    for (size_t grp = lo; grp < hi; grp++) {
        float *part = j->part + grp * g->O * K;
        memset(part, 0, (size_t)g->O * K * sizeof(float));
        const size_t n1 = (grp + 1) * DIRECT_GROUP < (size_t)g->N ? (grp + 1) * DIRECT_GROUP : (size_t)g->N;
        for (size_t n = grp * DIRECT_GROUP; n < n1; n++) {
            fill_sample(g, j->x, n, buf, plane);
            const float *dys = j->dy + n * g->O * out_plane;
            for (size_t r = 0; r < (size_t)g->O * g->OH; r++)
                memcpy(dyp + r * OWV, dys + r * g->OW, (size_t)g->OW * sizeof(float));
            direct_dweight_sample(g, buf, plane, dyp, OWV, part);
        }
    }
    free(buf);
}

ts_status cpu_direct_dweight(const ts_op_args *a, const ts_conv_dims *d, float *dw)
{
    TS_ASSERT(cpu_direct_can(d));
    const direct_geom g = geometry(d);
    const size_t K = (size_t)g.C * g.KH * g.KW, groups = ((size_t)d->N + DIRECT_GROUP - 1) / DIRECT_GROUP;
    float *part = cpu_scratch(0, groups * g.O * K);
    if (!part) return TS_ERR_OOM;
    direct_job j = { .g = &g, .x = a->in[0]->data, .dy = a->dout->data, .part = part };
    const size_t work = (size_t)d->N * g.O * g.OH * g.OW * K;
    cpu_parallel_for(groups, work, direct_dweight_range, &j);
    if (atomic_load(&j.oom))
        return ts_error(TS_ERR_OOM, "conv2d '%s': out of memory for a sample's padded planes", a->node->name);
    for (size_t grp = 0; grp < groups; grp++) /* in order, whatever the threads */
        for (size_t i = 0; i < (size_t)g.O * K; i++) dw[i] += part[grp * g.O * K + i];
    return TS_OK;
}
