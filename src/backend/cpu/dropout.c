/* dropout.c - inverted dropout on the CPU.
 *
 * Training: element i (flat NCHW index of the output) is kept when
 * ts_dropout_keep(args->seed, i, p) (dropout-mask.h, a counter-based hash
 * the CUDA backend reproduces exactly); kept elements are scaled by
 * 1/(1-p), dropped ones are 0.  The multiplier (0 or 1/(1-p)) is stored in
 * aux (N,c,h,w) and backward is dx += dy * aux.
 * Evaluation (args->training false) or p == 0: identity, dx += dy.
 * p must lie in [0,1).
 */
#include "cpu-ops.h"

#include <string.h>

#include "../dropout-mask.h"

#define DROP_PAR_MIN ((ptrdiff_t)CPU_PAR_WORK)

static ts_status dropout_check(const ts_op_args *a)
{
    const ts_node *nd = a->node;
    char b1[48], b2[48];
    if (a->n_in != 1 || !a->in[0] || !a->in[0]->data || !ts_tensor_same_shape(a->in[0], a->out))
        return ts_error(TS_ERR_SHAPE, "dropout '%s': needs one input shaped like the output %s (got %s)",
                        nd->name, ts_shape_str(a->out, b2, sizeof b2),
                        a->in[0] ? ts_shape_str(a->in[0], b1, sizeof b1) : "none");
    if (!(nd->p >= 0.0f && nd->p < 1.0f))
        return ts_error(TS_ERR_SHAPE, "dropout '%s': p = %g outside [0,1)", nd->name, nd->p);
    return TS_OK;
}

static int dropout_active(const ts_op_args *a)
{
    return a->training && a->node->p > 0.0f;
}

ts_status cpu_dropout_forward(const ts_op_args *a)
{
    TS_TRY(dropout_check(a));
    const float *x = a->in[0]->data;
    float *y = a->out->data;
    ptrdiff_t n = (ptrdiff_t)ts_tensor_numel(a->out);
    if (!dropout_active(a)) {
        if (y != x) memcpy(y, x, (size_t)n * sizeof(float));
        return TS_OK;
    }
    if (!cpu_want(a->aux) || ts_tensor_numel(a->aux) != (size_t)n)
        return ts_error(TS_ERR_SHAPE, "dropout '%s': training needs a mask buffer (aux) like the output",
                        a->node->name);
    float p = a->node->p, keep = 1.0f / (1.0f - p);
    float *mask = a->aux->data;
    uint64_t seed = a->seed;
#pragma omp parallel for num_threads(cpu_threads()) schedule(static) if (n > DROP_PAR_MIN)
    for (ptrdiff_t i = 0; i < n; i++) {
        float m = ts_dropout_keep(seed, (uint64_t)i, p) ? keep : 0.0f;
        mask[i] = m;
        y[i] = x[i] * m;
    }
    return TS_OK;
}

ts_status cpu_dropout_backward(const ts_op_args *a)
{
    TS_TRY(dropout_check(a));
    if (!cpu_want(a->din[0])) return TS_OK;
    const float *dy = a->dout->data;
    float *dx = a->din[0]->data;
    ptrdiff_t n = (ptrdiff_t)ts_tensor_numel(a->out);
    if (!dropout_active(a)) {
#pragma omp parallel for num_threads(cpu_threads()) schedule(static) if (n > DROP_PAR_MIN)
        for (ptrdiff_t i = 0; i < n; i++) dx[i] += dy[i];
        return TS_OK;
    }
    if (!cpu_want(a->aux) || ts_tensor_numel(a->aux) != (size_t)n)
        return ts_error(TS_ERR_SHAPE, "dropout '%s': backward needs the mask kept in aux", a->node->name);
    const float *mask = a->aux->data;
#pragma omp parallel for num_threads(cpu_threads()) schedule(static) if (n > DROP_PAR_MIN)
    for (ptrdiff_t i = 0; i < n; i++) dx[i] += dy[i] * mask[i];
    return TS_OK;
}
