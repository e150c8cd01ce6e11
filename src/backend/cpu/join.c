/* join.c - ops with several inputs on the CPU: concat and add.
 *
 *   concat: out (N, sum C_i, H, W) stacks the inputs along channels in input
 *           order (GoogLeNet's inception outputs); din_i += the matching
 *           channel slice of dout.
 *   add:    out = sum of same-shaped inputs (residual blocks); din_i += dout.
 */
#include "cpu-ops.h"

#include <string.h>

ts_status cpu_concat_forward(const ts_op_args *a)
{
    const ts_tensor *y = a->out;
    int csum = 0;
    for (int i = 0; i < a->n_in; i++) {
        const ts_tensor *x = a->in[i];
        if (!x || !x->data || x->n != y->n || x->h != y->h || x->w != y->w)
            return ts_error(TS_ERR_SHAPE, "concat '%s': input %d does not match the output's N, H, W",
                            a->node->name, i);
        csum += x->c;
    }
    if (a->n_in < 1 || csum != y->c)
        return ts_error(TS_ERR_SHAPE, "concat '%s': inputs have %d channels, output %d",
                        a->node->name, csum, y->c);
    size_t hw = (size_t)y->h * y->w;
    int jobs = y->n * a->n_in;
#pragma omp parallel for num_threads(cpu_threads()) schedule(static) if ((size_t)ts_tensor_numel(y) > CPU_PAR_WORK)
    for (int t = 0; t < jobs; t++) {
        int j = t / a->n_in, i = t % a->n_in, c0 = 0;
        for (int k = 0; k < i; k++) c0 += a->in[k]->c;
        const ts_tensor *x = a->in[i];
        memcpy(y->data + ((size_t)j * y->c + c0) * hw, x->data + (size_t)j * x->c * hw,
               (size_t)x->c * hw * sizeof(float));
    }
    return TS_OK;
}

ts_status cpu_concat_backward(const ts_op_args *a)
{
    const ts_tensor *dy = a->dout;
    size_t hw = (size_t)dy->h * dy->w;
    int c0 = 0;
    for (int i = 0; i < a->n_in; i++) {
        const ts_tensor *x = a->in[i];
        TS_ASSERT(x && x->n == dy->n && c0 + x->c <= dy->c);
        if (cpu_want(a->din[i])) {
            float *dx = a->din[i]->data;
            size_t plane = (size_t)x->c * hw;
            ptrdiff_t n = (ptrdiff_t)x->n * (ptrdiff_t)plane;
#pragma omp parallel for num_threads(cpu_threads()) schedule(static) if ((size_t)n > CPU_PAR_WORK)
            for (ptrdiff_t k = 0; k < n; k++) {
                size_t j = (size_t)k / plane, r = (size_t)k % plane;
                dx[k] += dy->data[(j * dy->c + c0) * hw + r];
            }
        }
        c0 += x->c;
    }
    return TS_OK;
}

ts_status cpu_add_forward(const ts_op_args *a)
{
    const ts_tensor *y = a->out;
    if (a->n_in < 1)
        return ts_error(TS_ERR_SHAPE, "add '%s': needs at least one input", a->node->name);
    for (int i = 0; i < a->n_in; i++)
        if (!a->in[i] || !a->in[i]->data || !ts_tensor_same_shape(a->in[i], y))
            return ts_error(TS_ERR_SHAPE, "add '%s': input %d is not shaped like the output",
                            a->node->name, i);
    ptrdiff_t n = (ptrdiff_t)ts_tensor_numel(y);
    float *out = y->data;
#pragma omp parallel for num_threads(cpu_threads()) schedule(static) if ((size_t)n > CPU_PAR_WORK)
    for (ptrdiff_t k = 0; k < n; k++) {
        float s = a->in[0]->data[k];
        for (int i = 1; i < a->n_in; i++) s += a->in[i]->data[k];
        out[k] = s;
    }
    return TS_OK;
}

ts_status cpu_add_backward(const ts_op_args *a)
{
    ptrdiff_t n = (ptrdiff_t)ts_tensor_numel(a->dout);
    const float *dy = a->dout->data;
    for (int i = 0; i < a->n_in; i++) {
        if (!cpu_want(a->din[i])) continue;
        TS_ASSERT(ts_tensor_numel(a->din[i]) == (size_t)n);
        float *dx = a->din[i]->data;
#pragma omp parallel for num_threads(cpu_threads()) schedule(static) if ((size_t)n > CPU_PAR_WORK)
        for (ptrdiff_t k = 0; k < n; k++) dx[k] += dy[k];
    }
    return TS_OK;
}
