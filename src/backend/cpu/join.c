/* join.c - ops with several inputs on the CPU: concat and add.
 *
 *   concat: out (N, sum C_i, H, W) stacks the inputs along channels in input
 *           order (GoogLeNet's inception outputs); din_i += the matching
 *           channel slice of dout.
 *   add:    out = sum of same-shaped inputs (residual blocks); din_i += dout.
 */
#include "backend/cpu/cpu-ops.h"

#include <string.h>

typedef struct join_job {
    const ts_op_args *a;
    const ts_tensor *t; /* concat: the output (forward) or dout (backward) */
    size_t hw;
    int c0, input;      /* concat backward: channel offset and input index */
} join_job;

/* concat forward over (sample, input) pairs */
static void concat_fwd_range(void *ctx, size_t lo, size_t hi)
{
    const join_job *j = ctx;
    const ts_op_args *a = j->a;
    const ts_tensor *y = j->t;
    for (size_t t = lo; t < hi; t++) {
        int s = (int)(t / (size_t)a->n_in), i = (int)(t % (size_t)a->n_in), c0 = 0;
        for (int k = 0; k < i; k++) c0 += a->in[k]->c;
        const ts_tensor *x = a->in[i];
        memcpy(y->data + ((size_t)s * y->c + c0) * j->hw, x->data + (size_t)s * x->c * j->hw,
               (size_t)x->c * j->hw * sizeof(float));
    }
}

ts_status cpu_concat_forward(const ts_op_args *a)
{
    const ts_tensor *y = a->out;
    TS_TRY(ts_check_concat(a));
    join_job j = { .a = a, .t = y, .hw = (size_t)y->h * y->w };
    cpu_parallel_for((size_t)y->n * a->n_in, 2 * ts_tensor_numel(y), concat_fwd_range, &j);
    return TS_OK;
}

/* concat backward for one input, over its flat elements */
static void concat_bwd_range(void *ctx, size_t lo, size_t hi)
{
    const join_job *j = ctx;
    const ts_tensor *x = j->a->in[j->input], *dy = j->t;
    float *dx = j->a->din[j->input]->data;
    size_t plane = (size_t)x->c * j->hw;
    for (size_t k = lo; k < hi; k++) {
        size_t s = k / plane, r = k % plane;
        dx[k] += dy->data[(s * dy->c + j->c0) * j->hw + r];
    }
}

ts_status cpu_concat_backward(const ts_op_args *a)
{
    const ts_tensor *dy = a->dout;
    int c0 = 0;
    for (int i = 0; i < a->n_in; i++) {
        const ts_tensor *x = a->in[i];
        TS_ASSERT(x && x->n == dy->n && c0 + x->c <= dy->c);
        if (cpu_want(a->din[i])) {
            TS_ASSERT(ts_tensor_numel(a->din[i]) == ts_tensor_numel(x));
            join_job j = { .a = a, .t = dy, .hw = (size_t)dy->h * dy->w, .c0 = c0, .input = i };
            size_t n = ts_tensor_numel(x);
            cpu_parallel_for(n, 3 * n, concat_bwd_range, &j);
        }
        c0 += x->c;
    }
    return TS_OK;
}

static void add_fwd_range(void *ctx, size_t lo, size_t hi)
{
    const ts_op_args *a = ctx;
    float *out = a->out->data;
    const float *x0 = a->in[0]->data;
    for (size_t k = lo; k < hi; k++) out[k] = x0[k];
    for (int i = 1; i < a->n_in; i++) {
        const float *xi = a->in[i]->data;
        for (size_t k = lo; k < hi; k++) out[k] += xi[k];
    }
}

ts_status cpu_add_forward(const ts_op_args *a)
{
    const ts_tensor *y = a->out;
    TS_TRY(ts_check_add(a));
    size_t n = ts_tensor_numel(y);
    cpu_parallel_for(n, n * (size_t)(a->n_in + 1), add_fwd_range, (void *)a);
    return TS_OK;
}

typedef struct add_bwd_job {
    const float *dy;
    float *dx;
} add_bwd_job;

static void add_bwd_range(void *ctx, size_t lo, size_t hi)
{
    const add_bwd_job *j = ctx;
    for (size_t k = lo; k < hi; k++) j->dx[k] += j->dy[k];
}

ts_status cpu_add_backward(const ts_op_args *a)
{
    size_t n = ts_tensor_numel(a->dout);
    for (int i = 0; i < a->n_in; i++) {
        if (!cpu_want(a->din[i])) continue;
        TS_ASSERT(ts_tensor_numel(a->din[i]) == n);
        add_bwd_job j = { a->dout->data, a->din[i]->data };
        cpu_parallel_for(n, 3 * n, add_bwd_range, &j);
    }
    return TS_OK;
}
