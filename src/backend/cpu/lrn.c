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
 * Window sums slide along the channels with a double accumulator over a
 * block of pixels, so the cost is O(C) per pixel whatever the size.
 */
#include "cpu-ops.h"

#include <math.h>

#define LRN_BLOCK 128 /* pixels per task */

/* s^-beta, with the common beta = 0.75 done by square roots. */
static inline float lrn_pow(float s, float beta, int b075)
{
    if (b075) {
        float r = 1.0f / sqrtf(s);
        return r * sqrtf(r);
    }
    return powf(s, -beta);
}

static ts_status lrn_check(const ts_op_args *a)
{
    const ts_node *nd = a->node;
    char b1[48], b2[48];
    if (a->n_in != 1 || !a->in[0] || !a->in[0]->data)
        return ts_error(TS_ERR_SHAPE, "lrn '%s': needs one input", nd->name);
    if (!ts_tensor_same_shape(a->in[0], a->out))
        return ts_error(TS_ERR_SHAPE, "lrn '%s': output %s differs from input %s", nd->name,
                        ts_shape_str(a->out, b2, sizeof b2), ts_shape_str(a->in[0], b1, sizeof b1));
    if (nd->lrn_size < 1 || !(nd->lrn_k > 0.0f) || !(nd->lrn_alpha >= 0.0f))
        return ts_error(TS_ERR_SHAPE, "lrn '%s': size %d, k %g, alpha %g not usable", nd->name,
                        nd->lrn_size, nd->lrn_k, nd->lrn_alpha);
    if (cpu_want(a->aux) && !ts_tensor_same_shape(a->aux, a->out))
        return ts_error(TS_ERR_SHAPE, "lrn '%s': aux must match the output", nd->name);
    return TS_OK;
}

ts_status cpu_lrn_forward(const ts_op_args *a)
{
    TS_TRY(lrn_check(a));
    const ts_node *nd = a->node;
    const ts_tensor *xt = a->in[0];
    int C = xt->c, HW = xt->h * xt->w, size = nd->lrn_size;
    int pre = (size - 1) / 2, post = size - 1 - pre;
    double coef = (double)nd->lrn_alpha / size;
    float k = nd->lrn_k, beta = nd->lrn_beta;
    int b075 = beta == 0.75f;
    const float *x = xt->data;
    float *y = a->out->data, *scale = cpu_want(a->aux) ? a->aux->data : NULL;
    int blocks = (HW + LRN_BLOCK - 1) / LRN_BLOCK, jobs = xt->n * blocks;

#pragma omp parallel for num_threads(cpu_threads()) schedule(static) if ((size_t)xt->n * C * HW > CPU_PAR_WORK / 4)
    for (int t = 0; t < jobs; t++) {
        int n = t / blocks, p0 = (t % blocks) * LRN_BLOCK;
        int len = HW - p0 < LRN_BLOCK ? HW - p0 : LRN_BLOCK;
        const float *xs = x + (size_t)n * C * HW + p0;
        size_t off = (size_t)n * C * HW + p0;
        double acc[LRN_BLOCK];
        for (int i = 0; i < len; i++) acc[i] = 0.0;
        for (int c = 0; c < post && c < C; c++)
            for (int i = 0; i < len; i++) acc[i] += (double)xs[(size_t)c * HW + i] * xs[(size_t)c * HW + i];
        for (int c = 0; c < C; c++) {
            int add = c + post, sub = c - pre - 1;
            if (add < C)
                for (int i = 0; i < len; i++)
                    acc[i] += (double)xs[(size_t)add * HW + i] * xs[(size_t)add * HW + i];
            if (sub >= 0)
                for (int i = 0; i < len; i++)
                    acc[i] -= (double)xs[(size_t)sub * HW + i] * xs[(size_t)sub * HW + i];
            for (int i = 0; i < len; i++) {
                float s = k + (float)(coef * (acc[i] > 0.0 ? acc[i] : 0.0));
                size_t at = off + (size_t)c * HW + i;
                if (scale) scale[at] = s;
                y[at] = x[at] * lrn_pow(s, beta, b075);
            }
        }
    }
    return TS_OK;
}

ts_status cpu_lrn_backward(const ts_op_args *a)
{
    TS_TRY(lrn_check(a));
    if (!cpu_want(a->din[0])) return TS_OK;
    if (!cpu_want(a->aux))
        return ts_error(TS_ERR_SHAPE, "lrn '%s': backward needs the scale kept in aux", a->node->name);
    const ts_node *nd = a->node;
    const ts_tensor *xt = a->in[0];
    int C = xt->c, HW = xt->h * xt->w, size = nd->lrn_size;
    int pre = (size - 1) / 2, post = size - 1 - pre;
    float beta = nd->lrn_beta, coef = 2.0f * nd->lrn_alpha * beta / size;
    int b075 = beta == 0.75f;
    const float *x = xt->data, *dy = a->dout->data, *scale = a->aux->data;
    float *dx = a->din[0]->data;
    int blocks = (HW + LRN_BLOCK - 1) / LRN_BLOCK, jobs = xt->n * blocks;

#pragma omp parallel for num_threads(cpu_threads()) schedule(static) if ((size_t)xt->n * C * HW > CPU_PAR_WORK / 4)
    for (int t = 0; t < jobs; t++) {
        int n = t / blocks, p0 = (t % blocks) * LRN_BLOCK;
        int len = HW - p0 < LRN_BLOCK ? HW - p0 : LRN_BLOCK;
        size_t off = (size_t)n * C * HW + p0;
        /* r[c'] = dy[c'] * x[c'] * scale[c']^(-beta-1), recomputed when it
         * enters and leaves the sliding window. */
#define LRN_R(cc, i)                                                         \
    (dy[off + (size_t)(cc) * HW + (i)] * x[off + (size_t)(cc) * HW + (i)] *   \
     lrn_pow(scale[off + (size_t)(cc) * HW + (i)], beta, b075) /             \
     scale[off + (size_t)(cc) * HW + (i)])
        double acc[LRN_BLOCK];
        for (int i = 0; i < len; i++) acc[i] = 0.0;
        for (int c = 0; c < pre && c < C; c++)
            for (int i = 0; i < len; i++) acc[i] += LRN_R(c, i);
        for (int c = 0; c < C; c++) {
            int add = c + pre, sub = c - post - 1;
            if (add < C)
                for (int i = 0; i < len; i++) acc[i] += LRN_R(add, i);
            if (sub >= 0)
                for (int i = 0; i < len; i++) acc[i] -= LRN_R(sub, i);
            for (int i = 0; i < len; i++) {
                size_t at = off + (size_t)c * HW + i;
                dx[at] += dy[at] * lrn_pow(scale[at], beta, b075) - coef * x[at] * (float)acc[i];
            }
        }
#undef LRN_R
    }
    return TS_OK;
}
