/* relevance.c - LRP's fixed rules on the CPU (backend.h, `relevance`):
 * the ops that are not linear layers pass the relevance R at their output
 * (args->dout) to their inputs (args->din[k], accumulated):
 *   maxpool   everything to the forward argmax (aux; -1 marks a window past
 *             the image under Caffe's rounding: no input gets it)
 *   avgpool   each window's R in proportion to its cells inside the image,
 *             R x_i / sum x (the padding holds no relevance); a window
 *             whose cells sum to |s| < 1e-12 splits R evenly
 *   add       R_k = x_k / sum_k x_k * R per element (evenly when the sum
 *             is |s| < 1e-12)
 *   concat    each input its channel slice
 *   relu, leaky_relu, lrn, dropout (inference)   R passes through
 * The sums s are taken in double, in window order (rows, then columns).
 */
#include "backend/cpu/cpu-ops.h"

#include <math.h>

static ts_status maxpool_rel(const ts_op_args *a)
{
    ts_pool_dims g;
    TS_TRY(ts_check_pool(a, &g));
    if (!cpu_want(a->aux)) return ts_error(TS_ERR_SHAPE, "lrp: maxpool '%s' kept no argmax", a->node->name);
    size_t out_plane = (size_t)g.OH * g.OW, in_plane = (size_t)g.H * g.W, planes = (size_t)g.N * g.C;
    const float *R = a->dout->data, *arg = a->aux->data;
    float *Rin = a->din[0]->data;
    for (size_t p = 0; p < planes; p++)
        for (size_t q = 0; q < out_plane; q++) {
            float k = arg[p * out_plane + q];
            if (!(k >= 0) || (size_t)k >= in_plane) continue;
            Rin[p * in_plane + (size_t)k] += R[p * out_plane + q];
        }
    return TS_OK;
}

static ts_status avgpool_rel(const ts_op_args *a)
{
    ts_pool_dims g;
    TS_TRY(ts_check_pool(a, &g));
    size_t out_plane = (size_t)g.OH * g.OW, in_plane = (size_t)g.H * g.W, planes = (size_t)g.N * g.C;
    for (size_t p = 0; p < planes; p++) {
        const float *x = a->in[0]->data + p * in_plane;
        const float *R = a->dout->data + p * out_plane;
        float *Rin = a->din[0]->data + p * in_plane;
        for (int oy = 0; oy < g.OH; oy++)
            for (int ox = 0; ox < g.OW; ox++) {
                int y0 = oy * g.S - g.pt, x0 = ox * g.S - g.pl;
                int y1 = y0 + g.KH < g.H ? y0 + g.KH : g.H, x1 = x0 + g.KW < g.W ? x0 + g.KW : g.W;
                if (y0 < 0) y0 = 0;
                if (x0 < 0) x0 = 0;
                if (y1 <= y0 || x1 <= x0) continue;
                double s = 0;
                for (int y = y0; y < y1; y++)
                    for (int xx = x0; xx < x1; xx++) s += x[y * g.W + xx];
                float r = R[oy * g.OW + ox];
                if (fabs(s) < 1e-12) {
                    float share = r / (float)((y1 - y0) * (x1 - x0));
                    for (int y = y0; y < y1; y++)
                        for (int xx = x0; xx < x1; xx++) Rin[y * g.W + xx] += share;
                } else {
                    float f = (float)(r / s);
                    for (int y = y0; y < y1; y++)
                        for (int xx = x0; xx < x1; xx++) Rin[y * g.W + xx] += f * x[y * g.W + xx];
                }
            }
    }
    return TS_OK;
}

static ts_status add_rel(const ts_op_args *a)
{
    TS_TRY(ts_check_add(a));
    size_t n = ts_tensor_numel(a->dout);
    const float *R = a->dout->data;
    for (size_t q = 0; q < n; q++) {
        double s = 0;
        for (int k = 0; k < a->n_in; k++) s += a->in[k]->data[q];
        for (int k = 0; k < a->n_in; k++) {
            if (!cpu_want(a->din[k])) continue;
            float *Rin = a->din[k]->data;
            if (fabs(s) < 1e-12) Rin[q] += R[q] / (float)a->n_in;
            else Rin[q] += (float)(a->in[k]->data[q] / s) * R[q];
        }
    }
    return TS_OK;
}

ts_status cpu_relevance(const ts_op_args *a)
{
    TS_ASSERT(a && a->node && a->dout && a->dout->data);
    const ts_node *nd = a->node;
    if (nd->op == TS_OP_CONV2D || nd->op == TS_OP_FC)
        return ts_error(TS_ERR_UNSUPPORTED, "lrp: '%s' is a linear layer: its rules are lrp_linear steps", nd->name);
    if (nd->op != TS_OP_INPUT && nd->op != TS_OP_ADD && nd->op != TS_OP_CONCAT && !cpu_want(a->din[0]))
        return TS_OK;
    switch (nd->op) {
    case TS_OP_MAXPOOL: return maxpool_rel(a);
    case TS_OP_AVGPOOL: return avgpool_rel(a);
    case TS_OP_ADD: return add_rel(a);
    case TS_OP_CONCAT:
        /* the slices are exactly concat's backward */
        TS_TRY(ts_check_concat(a));
        return cpu_concat_backward(a);
    case TS_OP_RELU:
    case TS_OP_LEAKY_RELU:
    case TS_OP_LRN:
    case TS_OP_DROPOUT: {
        TS_TRY(ts_check_op(a));
        size_t n = ts_tensor_numel(a->dout);
        const float *R = a->dout->data;
        float *Rin = a->din[0]->data;
        for (size_t q = 0; q < n; q++) Rin[q] += R[q];
        return TS_OK;
    }
    case TS_OP_BATCHNORM: return cpu_batchnorm_relevance(a);
    case TS_OP_INPUT: return TS_OK;
    default: break;
    }
    return ts_error(TS_ERR_UNSUPPORTED, "lrp: op %s of '%s'", ts_op_name(nd->op), nd->name);
}
