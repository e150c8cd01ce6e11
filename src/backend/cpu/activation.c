/* activation.c - element-wise activations on the CPU: relu, leaky_relu.
 *
 *   relu:        y = max(x, 0);            dx += dy * [x > 0]
 *   leaky_relu:  y = x > 0 ? x : slope*x;  dx += dy * (x > 0 ? 1 : slope)
 * The gradient at exactly 0 is taken as 0 (relu) / slope (leaky), as in
 * Caffe and PyTorch.  Shapes of input and output must be equal.
 */
#include "cpu-ops.h"

static ts_status act_check(const ts_op_args *a)
{
    char b1[48], b2[48];
    if (a->n_in != 1 || !a->in[0] || !a->in[0]->data || !ts_tensor_same_shape(a->in[0], a->out))
        return ts_error(TS_ERR_SHAPE, "%s '%s': needs one input shaped like the output %s (got %s)",
                        ts_op_name(a->node->op), a->node->name, ts_shape_str(a->out, b2, sizeof b2),
                        a->in[0] ? ts_shape_str(a->in[0], b1, sizeof b1) : "none");
    return TS_OK;
}

#define ACT_PAR_MIN ((ptrdiff_t)CPU_PAR_WORK)

ts_status cpu_relu_forward(const ts_op_args *a)
{
    TS_TRY(act_check(a));
    const float *x = a->in[0]->data;
    float *y = a->out->data;
    ptrdiff_t n = (ptrdiff_t)ts_tensor_numel(a->out);
#pragma omp parallel for num_threads(cpu_threads()) schedule(static) if (n > ACT_PAR_MIN)
    for (ptrdiff_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    return TS_OK;
}

ts_status cpu_relu_backward(const ts_op_args *a)
{
    TS_TRY(act_check(a));
    if (!cpu_want(a->din[0])) return TS_OK;
    const float *x = a->in[0]->data, *dy = a->dout->data;
    float *dx = a->din[0]->data;
    ptrdiff_t n = (ptrdiff_t)ts_tensor_numel(a->out);
#pragma omp parallel for num_threads(cpu_threads()) schedule(static) if (n > ACT_PAR_MIN)
    for (ptrdiff_t i = 0; i < n; i++) dx[i] += x[i] > 0.0f ? dy[i] : 0.0f;
    return TS_OK;
}

ts_status cpu_leaky_relu_forward(const ts_op_args *a)
{
    TS_TRY(act_check(a));
    const float *x = a->in[0]->data;
    float *y = a->out->data, s = a->node->slope;
    ptrdiff_t n = (ptrdiff_t)ts_tensor_numel(a->out);
#pragma omp parallel for num_threads(cpu_threads()) schedule(static) if (n > ACT_PAR_MIN)
    for (ptrdiff_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : s * x[i];
    return TS_OK;
}

ts_status cpu_leaky_relu_backward(const ts_op_args *a)
{
    TS_TRY(act_check(a));
    if (!cpu_want(a->din[0])) return TS_OK;
    const float *x = a->in[0]->data, *dy = a->dout->data;
    float *dx = a->din[0]->data, s = a->node->slope;
    ptrdiff_t n = (ptrdiff_t)ts_tensor_numel(a->out);
#pragma omp parallel for num_threads(cpu_threads()) schedule(static) if (n > ACT_PAR_MIN)
    for (ptrdiff_t i = 0; i < n; i++) dx[i] += x[i] > 0.0f ? dy[i] : s * dy[i];
    return TS_OK;
}
