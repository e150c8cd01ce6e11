/* dropout.c - inverted dropout on the CPU.
 *
 * Training: element i (flat NCHW index of the output) is kept when
 * ts_dropout_keep(args->seed, i, p) (dropout-mask.h, a counter-based hash
 * the CUDA backend reproduces exactly); kept elements are scaled by
 * 1/(1-p), dropped ones are 0.  The multiplier (0 or 1/(1-p)) is stored in
 * aux (N,c,h,w) and backward is dx += dy * aux.
 * Evaluation (args->training false) or p == 0: identity, dx += dy.
 * A fresh dx (args->din_fresh) is written (dx =) rather than added to.
 * p must lie in [0,1).
 */
#include "backend/cpu/cpu-ops.h"

#include <string.h>

#include "backend/dropout-mask.h"

static ts_status dropout_check(const ts_op_args *a) { return ts_check_dropout(a); }

static int dropout_active(const ts_op_args *a)
{
    return a->training && a->node->p > 0.0f;
}

typedef struct drop_job {
    int mode; /* 0: mask + scale, 1: dx += dy * mask, 2: dx += dy */
    int fresh; /* modes 1, 2: dx = rather than += */
    float p, keep;
    uint64_t seed;
    const float *x, *dy;
    float *mask, *out;
} drop_job;

static void drop_range(void *ctx, size_t lo, size_t hi)
{
    const drop_job *j = ctx;
    float *o = j->out;
    if (j->mode == 0) {
        for (size_t i = lo; i < hi; i++) {
            float m = ts_dropout_keep(j->seed, (uint64_t)i, j->p) ? j->keep : 0.0f;
            j->mask[i] = m;
            o[i] = j->x[i] * m;
        }
    } else if (j->mode == 1) {
        if (j->fresh)
            for (size_t i = lo; i < hi; i++) o[i] = j->dy[i] * j->mask[i];
        else
            for (size_t i = lo; i < hi; i++) o[i] += j->dy[i] * j->mask[i];
    } else {
        if (j->fresh)
            memcpy(o + lo, j->dy + lo, (hi - lo) * sizeof(float));
        else
            for (size_t i = lo; i < hi; i++) o[i] += j->dy[i];
    }
}

ts_status cpu_dropout_forward(const ts_op_args *a)
{
    TS_TRY(dropout_check(a));
    const float *x = a->in[0]->data;
    float *y = a->out->data;
    size_t n = ts_tensor_numel(a->out);
    if (!dropout_active(a)) {
        if (y != x) memcpy(y, x, n * sizeof(float));
        return TS_OK;
    }
    if (!cpu_want(a->aux) || ts_tensor_numel(a->aux) != n)
        return ts_error(TS_ERR_SHAPE, "dropout '%s': training needs a mask buffer (aux) like the output",
                        a->node->name);
    drop_job j = { .mode = 0, .p = a->node->p, .keep = 1.0f / (1.0f - a->node->p), .seed = a->seed,
                   .x = x, .mask = a->aux->data, .out = y };
    cpu_parallel_for(n, n * 8, drop_range, &j); /* the hash costs more than a copy */
    return TS_OK;
}

ts_status cpu_dropout_backward(const ts_op_args *a)
{
    TS_TRY(dropout_check(a));
    if (!cpu_want(a->din[0])) return TS_OK;
    size_t n = ts_tensor_numel(a->out);
    drop_job j = { .mode = 2, .fresh = a->din_fresh[0], .dy = a->dout->data, .out = a->din[0]->data };
    if (dropout_active(a)) {
        if (!cpu_want(a->aux) || ts_tensor_numel(a->aux) != n)
            return ts_error(TS_ERR_SHAPE, "dropout '%s': backward needs the mask kept in aux", a->node->name);
        j.mode = 1;
        j.mask = a->aux->data;
    }
    cpu_parallel_for(n, n * 3, drop_range, &j);
    return TS_OK;
}
