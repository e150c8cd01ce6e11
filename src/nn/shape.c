/* shape.c - the one definition of each shape rule; see shape.h. */
#include "nn/shape.h"

#include <math.h>
#include <string.h>

void ts_node_defaults(ts_node *n)
{
    n->stride = 1;
    n->groups = 1;
    n->has_bias = 1;
    n->lrn_size = 5;
    n->lrn_alpha = 1e-4f;
    n->lrn_beta = 0.75f;
    n->lrn_k = 1.0f;
    n->p = 0.5f;
    n->slope = 0.01f;
    n->bn_eps = 1e-5f;
    n->bn_momentum = 0.1f;
}

int ts_conv_out_size(int in, int k, int stride, int pad_lo, int pad_hi)
{
    int span = in + pad_lo + pad_hi - k;
    if (span < 0 || stride < 1) return 0;
    return span / stride + 1;
}

int ts_pool_out_size(int in, int k, int stride, int pad_lo, int pad_hi, int floor_mode)
{
    int span = in + pad_lo + pad_hi - k;
    if (span < 0 || stride < 1) return 0;
    if (floor_mode) return span / stride + 1;
    int out = (span + stride - 1) / stride + 1;
    /* Caffe: the last window must start inside the image or the top/left
     * padding, never entirely in the bottom/right padding. */
    if ((pad_lo > 0 || pad_hi > 0) && (out - 1) * stride >= in + pad_lo) out--;
    return out;
}

static bool is_pool(ts_op op) { return op == TS_OP_MAXPOOL || op == TS_OP_AVGPOOL; }

ts_window ts_node_window(const ts_node *n, int in_h, int in_w)
{
    if (is_pool(n->op) && n->global) return (ts_window){ in_h, in_w, 1, 0, 0, 0, 0 };
    return (ts_window){ n->kh, n->kw, n->stride, n->pad_t, n->pad_b, n->pad_l, n->pad_r };
}

static bool pads_fit(const ts_window *w)
{
    return w->pad_t >= 0 && w->pad_b >= 0 && w->pad_l >= 0 && w->pad_r >= 0 && w->pad_t < w->kh &&
           w->pad_b < w->kh && w->pad_l < w->kw && w->pad_r < w->kw;
}

const char *ts_node_problem(const ts_node *n, int in_c, const ts_window *w)
{
    switch (n->op) {
    case TS_OP_CONV2D:
        if (n->out_c < 1 || n->out_c > 65536) return "output channels out of range";
        if (w->kh < 1 || w->kw < 1 || w->kh > 64 || w->kw > 64) return "kernel size out of range";
        if (w->stride < 1 || w->stride > 64) return "stride out of range";
        if (!pads_fit(w)) return "padding must be >= 0 and smaller than the kernel";
        if (n->groups < 1 || in_c % n->groups || n->out_c % n->groups)
            return "groups must divide input and output channels";
        return NULL;
    case TS_OP_MAXPOOL:
    case TS_OP_AVGPOOL:
        if (w->kh < 1 || w->kw < 1 || w->stride < 1) return "kernel and stride must be >= 1";
        if (!pads_fit(w)) return "padding must be >= 0 and smaller than the kernel";
        return NULL;
    case TS_OP_FC:
        if (n->out_c < 1 || n->out_c > 1 << 20) return "output size out of range";
        return NULL;
    case TS_OP_LRN:
        if (n->lrn_size < 1 || n->lrn_size % 2 == 0) return "size must be odd and >= 1";
        if (!(n->lrn_k > 0.0f) || !(n->lrn_alpha >= 0.0f) || !isfinite(n->lrn_k) || !isfinite(n->lrn_alpha) ||
            !isfinite(n->lrn_beta))
            return "k must be > 0 and alpha >= 0 (k, alpha and beta finite)";
        return NULL;
    case TS_OP_DROPOUT:
        if (!(n->p >= 0.0f && n->p < 1.0f)) return "p must be in [0,1)";
        return NULL;
    case TS_OP_LEAKY_RELU:
        if (!isfinite(n->slope)) return "slope must be finite";
        return NULL;
    case TS_OP_RELU:
        if (!(n->clip >= 0.0f) || !isfinite(n->clip)) return "clip must be finite and >= 0";
        return NULL;
    case TS_OP_BATCHNORM:
        if (!(n->bn_eps > 0.0f) || !isfinite(n->bn_eps)) return "eps must be finite and > 0";
        if (!(n->bn_momentum >= 0.0f && n->bn_momentum <= 1.0f)) return "momentum must be in [0,1]";
        if (!n->has_bias) return "needs its bias (beta)";
        return NULL;
    default:
        return NULL;
    }
}

static ts_status bad(const ts_node *n, const char *what)
{
    return ts_error(TS_ERR_FORMAT, "layer '%s' (%s): %s", n->name, ts_op_name(n->op), what);
}

ts_status ts_node_infer_shape(ts_node *nodes, int i)
{
    ts_node *n = &nodes[i];
    if (n->op == TS_OP_INPUT) {
        if (i != 0) return bad(n, "only the first layer can be the input");
        if (n->c < 1 || n->h < 1 || n->w < 1 || n->c > 4096 || n->h > 8192 || n->w > 8192)
            return bad(n, "input shape out of range");
        return TS_OK;
    }
    if (i == 0) return bad(n, "the first layer must be the input");
    if (n->n_inputs < 1) return bad(n, "has no input");
    for (int k = 0; k < n->n_inputs; k++)
        if (n->inputs[k] < 0 || n->inputs[k] >= i) return bad(n, "input must be an earlier layer");
    const ts_node *in = &nodes[n->inputs[0]];
    if (n->op != TS_OP_CONCAT && n->op != TS_OP_ADD && n->n_inputs != 1) return bad(n, "takes exactly one input");
    if ((unsigned)n->op >= TS_OP_COUNT) return bad(n, "unknown op");
    n->c = in->c;
    n->h = in->h;
    n->w = in->w;
    ts_window w = ts_node_window(n, in->h, in->w);
    const char *why = ts_node_problem(n, in->c, &w);
    if (why) return bad(n, why);
    switch (n->op) {
    case TS_OP_CONV2D:
        n->c = n->out_c;
        n->h = ts_conv_out_size(in->h, w.kh, w.stride, w.pad_t, w.pad_b);
        n->w = ts_conv_out_size(in->w, w.kw, w.stride, w.pad_l, w.pad_r);
        if (n->h < 1 || n->w < 1) return bad(n, "kernel larger than the padded input");
        break;
    case TS_OP_MAXPOOL:
    case TS_OP_AVGPOOL:
        if (n->global) {
            /* the ops read the window from the node */
            n->kh = w.kh, n->kw = w.kw, n->stride = w.stride;
            n->pad_t = n->pad_b = n->pad_l = n->pad_r = 0;
        }
        n->h = ts_pool_out_size(in->h, w.kh, w.stride, w.pad_t, w.pad_b, n->pool_floor);
        n->w = ts_pool_out_size(in->w, w.kw, w.stride, w.pad_l, w.pad_r, n->pool_floor);
        break;
    case TS_OP_FC:
        n->c = n->out_c;
        n->h = n->w = 1;
        break;
    case TS_OP_CONCAT:
        n->c = 0;
        for (int k = 0; k < n->n_inputs; k++) {
            const ts_node *a = &nodes[n->inputs[k]];
            if (a->h != in->h || a->w != in->w) return bad(n, "inputs differ in height or width");
            n->c += a->c;
        }
        break;
    case TS_OP_ADD:
        if (n->n_inputs < 2) return bad(n, "needs at least two inputs");
        for (int k = 1; k < n->n_inputs; k++) {
            const ts_node *a = &nodes[n->inputs[k]];
            if (a->c != in->c || a->h != in->h || a->w != in->w) return bad(n, "inputs differ in shape");
        }
        break;
    default:
        break;
    }
    if (n->c < 1 || n->h < 1 || n->w < 1) return bad(n, "output would be empty");
    return TS_OK;
}
