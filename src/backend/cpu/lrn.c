/* lrn.c - local response normalisation across channels (Caffe's LRN,
 * ACROSS_CHANNELS; AlexNet section 3.3; the LACNN and Adience networks).
 *
 *   scale[c] = k + alpha/size * sum_{c' = c-pre}^{c+post} x[c']^2
 *   y[c]     = x[c] * scale[c]^-beta
 * with pre = (size-1)/2, post = size-1-pre, c' clipped to [0,C) (zero
 * padding), per sample and pixel.  PyTorch's LocalResponseNorm uses the same
 * window for odd sizes and also divides alpha by size.
 *
 * Forward keeps scale in aux (N,C,H,W) for backward:
 *   dx[c] += dy[c] * scale[c]^-beta
 *            - 2*alpha*beta/size * x[c] * sum_{c': c in window(c')}
 *                                   dy[c'] * x[c'] * scale[c']^(-beta-1)
 * where c in window(c') means c' in [c-post, c+pre].
 *
 * Window sums are taken directly (size terms per output, no running sum
 * that could drift), over blocks of pixels so that the inner loops run
 * along contiguous memory and vectorise.
 */
#include "backend/cpu/cpu-ops.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>

#define LRN_BLOCK 64 /* pixels per inner loop */

/* s^-beta, with the common beta = 0.75 done by square roots. */
static inline float lrn_pow(float s, float beta, int b075)
{
    if (b075) {
        float r = 1.0f / sqrtf(s);
        return r * sqrtf(r);
    }
    return powf(s, -beta);
}

static ts_status lrn_check(const ts_op_args *a) { return ts_check_lrn(a); }

typedef struct lrn_job {
    int C, HW, pre, post, blocks, b075;
    float k, coef, beta;
    const float *x, *dy, *scale_in;
    float *y, *scale, *dx;
    atomic_int oom;
} lrn_job;

static void lrn_fwd_range(void *ctx, size_t lo, size_t hi)
{
    lrn_job *j = ctx;
    const int C = j->C, HW = j->HW;
    float acc[LRN_BLOCK];
    for (size_t t = lo; t < hi; t++) {
        int n = (int)(t / (size_t)j->blocks), p0 = (int)(t % (size_t)j->blocks) * LRN_BLOCK;
        int len = HW - p0 < LRN_BLOCK ? HW - p0 : LRN_BLOCK;
        size_t off = (size_t)n * C * HW + p0;
        const float *x = j->x + off;
        for (int c = 0; c < C; c++) {
            int c0 = c - j->pre < 0 ? 0 : c - j->pre, c1 = c + j->post >= C ? C - 1 : c + j->post;
            for (int i = 0; i < len; i++) acc[i] = 0.0f;
            for (int cc = c0; cc <= c1; cc++) {
                const float *xc = x + (size_t)cc * HW;
                for (int i = 0; i < len; i++) acc[i] += xc[i] * xc[i];
            }
            const float *xc = x + (size_t)c * HW;
            float *yc = j->y + off + (size_t)c * HW;
            float *sc = j->scale ? j->scale + off + (size_t)c * HW : NULL;
            for (int i = 0; i < len; i++) acc[i] = j->k + j->coef * acc[i];
            if (sc)
                for (int i = 0; i < len; i++) sc[i] = acc[i];
            for (int i = 0; i < len; i++) yc[i] = xc[i] * lrn_pow(acc[i], j->beta, j->b075);
        }
    }
}

ts_status cpu_lrn_forward(const ts_op_args *a)
{
    TS_TRY(lrn_check(a));
    const ts_node *nd = a->node;
    const ts_tensor *xt = a->in[0];
    int size = nd->lrn_size, HW = xt->h * xt->w;
    lrn_job j = {
        .C = xt->c, .HW = HW, .pre = (size - 1) / 2, .post = size - 1 - (size - 1) / 2,
        .blocks = (HW + LRN_BLOCK - 1) / LRN_BLOCK, .b075 = nd->lrn_beta == 0.75f,
        .k = nd->lrn_k, .coef = nd->lrn_alpha / size, .beta = nd->lrn_beta,
        .x = xt->data, .y = a->out->data, .scale = cpu_want(a->aux) ? a->aux->data : NULL,
    };
    size_t n = ts_tensor_numel(xt);
    cpu_parallel_for((size_t)xt->n * j.blocks, n * (size_t)(size + 6), lrn_fwd_range, &j);
    return TS_OK;
}

/* dx[c] += dy[c] p[c] - 2 alpha beta / size * x[c] * sum_{c' in [c-post, c+pre]} r[c']
 * with p = scale^-beta and r = dy x p / scale, both kept for a block of
 * pixels of all channels. */
static void lrn_bwd_range(void *ctx, size_t lo, size_t hi)
{
    lrn_job *j = ctx;
    const int C = j->C, HW = j->HW;
    float *buf = malloc((size_t)2 * C * LRN_BLOCK * sizeof(float));
    if (!buf) {
        atomic_store(&j->oom, 1);
        return;
    }
    float *pb = buf, *rb = buf + (size_t)C * LRN_BLOCK, acc[LRN_BLOCK];
    for (size_t t = lo; t < hi; t++) {
        int n = (int)(t / (size_t)j->blocks), p0 = (int)(t % (size_t)j->blocks) * LRN_BLOCK;
        int len = HW - p0 < LRN_BLOCK ? HW - p0 : LRN_BLOCK;
        size_t off = (size_t)n * C * HW + p0;
        const float *x = j->x + off, *dy = j->dy + off, *sc = j->scale_in + off;
        for (int c = 0; c < C; c++) {
            const float *xc = x + (size_t)c * HW, *dyc = dy + (size_t)c * HW, *scc = sc + (size_t)c * HW;
            float *pc = pb + (size_t)c * LRN_BLOCK, *rc = rb + (size_t)c * LRN_BLOCK;
            for (int i = 0; i < len; i++) {
                pc[i] = lrn_pow(scc[i], j->beta, j->b075);
                rc[i] = dyc[i] * xc[i] * pc[i] / scc[i];
            }
        }
        for (int c = 0; c < C; c++) {
            int c0 = c - j->post < 0 ? 0 : c - j->post, c1 = c + j->pre >= C ? C - 1 : c + j->pre;
            for (int i = 0; i < len; i++) acc[i] = 0.0f;
            for (int cc = c0; cc <= c1; cc++) {
                const float *rc = rb + (size_t)cc * LRN_BLOCK;
                for (int i = 0; i < len; i++) acc[i] += rc[i];
            }
            const float *xc = x + (size_t)c * HW, *dyc = dy + (size_t)c * HW, *pc = pb + (size_t)c * LRN_BLOCK;
            float *dxc = j->dx + off + (size_t)c * HW;
            for (int i = 0; i < len; i++) dxc[i] += dyc[i] * pc[i] - j->coef * xc[i] * acc[i];
        }
    }
    free(buf);
}

ts_status cpu_lrn_backward(const ts_op_args *a)
{
    TS_TRY(lrn_check(a));
    if (!cpu_want(a->din[0])) return TS_OK;
    if (!cpu_want(a->aux))
        return ts_error(TS_ERR_SHAPE, "lrn '%s': backward needs the scale kept in aux", a->node->name);
    const ts_node *nd = a->node;
    const ts_tensor *xt = a->in[0];
    int size = nd->lrn_size, HW = xt->h * xt->w;
    lrn_job j = {
        .C = xt->c, .HW = HW, .pre = (size - 1) / 2, .post = size - 1 - (size - 1) / 2,
        .blocks = (HW + LRN_BLOCK - 1) / LRN_BLOCK, .b075 = nd->lrn_beta == 0.75f,
        .coef = 2.0f * nd->lrn_alpha * nd->lrn_beta / size, .beta = nd->lrn_beta,
        .x = xt->data, .dy = a->dout->data, .scale_in = a->aux->data, .dx = a->din[0]->data,
    };
    size_t n = ts_tensor_numel(xt);
    cpu_parallel_for((size_t)xt->n * j.blocks, n * (size_t)(size + 10), lrn_bwd_range, &j);
    if (atomic_load(&j.oom))
        return ts_error(TS_ERR_OOM, "lrn '%s': no memory for a %d-channel block", nd->name, j.C);
    return TS_OK;
}
