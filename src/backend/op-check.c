/* op-check.c - the checks of op-check.h, shared by the CPU and CUDA
 * backends: the tensors' shapes against nn/shape.h's rules.  Only shapes
 * and hyper-parameters are read, never data. */
#include "backend/op-check.h"

#include <math.h>

static int want(const ts_tensor *t) { return t && t->data; }

/* TS_ERR_SHAPE naming the op and the node when shape.h finds its
 * hyper-parameters unusable. */
static ts_status check_params(const ts_node *nd, int in_c, const ts_window *w)
{
    const char *why = ts_node_problem(nd, in_c, w);
    if (why) return ts_error(TS_ERR_SHAPE, "%s '%s': %s", ts_op_name(nd->op), nd->name, why);
    return TS_OK;
}

ts_status ts_check_conv2d(const ts_op_args *a, ts_conv_dims *d)
{
    const ts_node *nd = a->node;
    const ts_tensor *x = a->in[0], *w = a->weight, *y = a->out;
    char b1[48], b2[48], b3[48];
    if (a->n_in != 1 || !want(x) || !want(w))
        return ts_error(TS_ERR_SHAPE, "conv2d '%s': needs one input and a weight", nd->name);
    *d = (ts_conv_dims){ .N = x->n, .C = x->c, .H = x->h, .W = x->w, .O = w->n, .KH = w->h, .KW = w->w,
                         .S = nd->stride, .pt = nd->pad_t, .pb = nd->pad_b, .pl = nd->pad_l, .pr = nd->pad_r,
                         .G = nd->groups };
    /* the window with the weight's kernel: the tensor is what runs */
    ts_window win = { d->KH, d->KW, d->S, d->pt, d->pb, d->pl, d->pr };
    TS_TRY(check_params(nd, d->C, &win));
    if (d->O != nd->out_c || w->c != d->C / d->G)
        return ts_error(TS_ERR_SHAPE, "conv2d '%s': input %s, weight %s, groups %d, %d outputs do not fit",
                        nd->name, ts_shape_str(x, b1, sizeof b1), ts_shape_str(w, b2, sizeof b2), d->G, nd->out_c);
    d->OH = ts_conv_out_size(d->H, d->KH, d->S, d->pt, d->pb);
    d->OW = ts_conv_out_size(d->W, d->KW, d->S, d->pl, d->pr);
    if (d->OH < 1 || d->OW < 1)
        return ts_error(TS_ERR_SHAPE, "conv2d '%s': kernel %dx%d larger than padded input %s", nd->name, d->KH,
                        d->KW, ts_shape_str(x, b1, sizeof b1));
    if (!y || y->n != d->N || y->c != d->O || y->h != d->OH || y->w != d->OW)
        return ts_error(TS_ERR_SHAPE, "conv2d '%s': output %s, expected (%d,%d,%d,%d) from input %s weight %s",
                        nd->name, y ? ts_shape_str(y, b3, sizeof b3) : "none", d->N, d->O, d->OH, d->OW,
                        ts_shape_str(x, b1, sizeof b1), ts_shape_str(w, b2, sizeof b2));
    if (nd->has_bias && (!want(a->bias) || ts_tensor_numel(a->bias) != (size_t)d->O))
        return ts_error(TS_ERR_SHAPE, "conv2d '%s': bias must have %d values", nd->name, d->O);
    return TS_OK;
}

ts_status ts_check_fc(const ts_op_args *a, int *N, int *K, int *O)
{
    const ts_node *nd = a->node;
    char b1[48], b2[48], b3[48];
    if (a->n_in != 1 || !want(a->in[0]) || !want(a->weight) || !a->out)
        return ts_error(TS_ERR_SHAPE, "fc '%s': needs one input and a weight", nd->name);
    const ts_tensor *x = a->in[0], *w = a->weight, *y = a->out;
    *N = x->n;
    *K = x->c * x->h * x->w;
    *O = w->n;
    if ((size_t)w->c * w->h * w->w != (size_t)*K || y->n != *N || (size_t)y->c * y->h * y->w != (size_t)*O)
        return ts_error(TS_ERR_SHAPE, "fc '%s': input %s, weight %s and output %s do not fit", nd->name,
                        ts_shape_str(x, b1, sizeof b1), ts_shape_str(w, b2, sizeof b2), ts_shape_str(y, b3, sizeof b3));
    if (nd->has_bias && (!want(a->bias) || ts_tensor_numel(a->bias) != (size_t)*O))
        return ts_error(TS_ERR_SHAPE, "fc '%s': bias must have %d values", nd->name, *O);
    return TS_OK;
}

ts_status ts_check_pool(const ts_op_args *a, ts_pool_dims *g)
{
    const ts_node *nd = a->node;
    const ts_tensor *x = a->in[0], *y = a->out;
    char b1[48], b2[48];
    if (a->n_in != 1 || !want(x) || !y)
        return ts_error(TS_ERR_SHAPE, "%s '%s': needs one input", ts_op_name(nd->op), nd->name);
    ts_window win = ts_node_window(nd, x->h, x->w);
    *g = (ts_pool_dims){ .N = x->n, .C = x->c, .H = x->h, .W = x->w, .KH = win.kh, .KW = win.kw, .S = win.stride,
                         .pt = win.pad_t, .pb = win.pad_b, .pl = win.pad_l, .pr = win.pad_r };
    TS_TRY(check_params(nd, x->c, &win));
    g->OH = ts_pool_out_size(g->H, g->KH, g->S, g->pt, g->pb, nd->pool_floor || nd->global);
    g->OW = ts_pool_out_size(g->W, g->KW, g->S, g->pl, g->pr, nd->pool_floor || nd->global);
    if (g->OH < 1 || g->OW < 1 || y->n != g->N || y->c != g->C || y->h != g->OH || y->w != g->OW)
        return ts_error(TS_ERR_SHAPE, "%s '%s': output %s, expected (%d,%d,%d,%d) from input %s", ts_op_name(nd->op),
                        nd->name, ts_shape_str(y, b2, sizeof b2), g->N, g->C, g->OH, g->OW,
                        ts_shape_str(x, b1, sizeof b1));
    if (a->aux && a->aux->data && nd->op == TS_OP_MAXPOOL && !ts_tensor_same_shape(a->aux, y))
        return ts_error(TS_ERR_SHAPE, "maxpool '%s': aux (argmax) must match the output", nd->name);
    return TS_OK;
}

/* One input shaped like the output. */
static ts_status check_unary(const ts_op_args *a)
{
    char b1[48], b2[48];
    if (a->n_in != 1 || !want(a->in[0]) || !a->out || !ts_tensor_same_shape(a->in[0], a->out))
        return ts_error(TS_ERR_SHAPE, "%s '%s': needs one input shaped like the output %s (got %s)",
                        ts_op_name(a->node->op), a->node->name, a->out ? ts_shape_str(a->out, b2, sizeof b2) : "none",
                        a->n_in >= 1 && a->in[0] ? ts_shape_str(a->in[0], b1, sizeof b1) : "none");
    return TS_OK;
}

ts_status ts_check_lrn(const ts_op_args *a)
{
    const ts_node *nd = a->node;
    TS_TRY(check_unary(a));
    TS_TRY(check_params(nd, a->in[0]->c, NULL));
    if (want(a->aux) && !ts_tensor_same_shape(a->aux, a->out))
        return ts_error(TS_ERR_SHAPE, "lrn '%s': aux must match the output", nd->name);
    return TS_OK;
}

ts_status ts_check_activation(const ts_op_args *a)
{
    TS_TRY(check_unary(a));
    return check_params(a->node, a->in[0]->c, NULL);
}

ts_status ts_check_dropout(const ts_op_args *a)
{
    TS_TRY(check_unary(a));
    return check_params(a->node, a->in[0]->c, NULL);
}

ts_status ts_check_concat(const ts_op_args *a)
{
    const ts_tensor *y = a->out;
    int csum = 0;
    if (!y) return ts_error(TS_ERR_SHAPE, "concat '%s': no output", a->node->name);
    for (int i = 0; i < a->n_in; i++) {
        const ts_tensor *x = a->in[i];
        if (!want(x) || x->n != y->n || x->h != y->h || x->w != y->w)
            return ts_error(TS_ERR_SHAPE, "concat '%s': input %d does not match the output's N, H, W", a->node->name,
                            i);
        csum += x->c;
    }
    if (a->n_in < 1 || csum != y->c)
        return ts_error(TS_ERR_SHAPE, "concat '%s': inputs have %d channels, output %d", a->node->name, csum, y->c);
    return TS_OK;
}

ts_status ts_check_add(const ts_op_args *a)
{
    if (a->n_in < 1 || !a->out) return ts_error(TS_ERR_SHAPE, "add '%s': needs at least one input", a->node->name);
    for (int i = 0; i < a->n_in; i++)
        if (!want(a->in[i]) || !ts_tensor_same_shape(a->in[i], a->out))
            return ts_error(TS_ERR_SHAPE, "add '%s': input %d is not shaped like the output", a->node->name, i);
    return TS_OK;
}

ts_status ts_check_batchnorm(const ts_op_args *a)
{
    const ts_node *nd = a->node;
    TS_TRY(check_unary(a));
    TS_TRY(check_params(nd, a->in[0]->c, NULL));
    int C = a->in[0]->c;
    const ts_tensor *p[4] = { a->weight, a->bias, a->run_mean, a->run_var };
    static const char *const what[4] = { "gamma (weight)", "beta (bias)", "running mean", "running variance" };
    for (int k = 0; k < 4; k++)
        if (!want(p[k]) || p[k]->n != 1 || p[k]->c != C || p[k]->h != 1 || p[k]->w != 1)
            return ts_error(TS_ERR_SHAPE, "batchnorm '%s': %s must be (1,%d,1,1)", nd->name, what[k], C);
    if (want(a->aux) && (a->aux->n != 1 || a->aux->c != 2 || a->aux->h != C || a->aux->w != 1))
        return ts_error(TS_ERR_SHAPE, "batchnorm '%s': aux must be (1,2,%d,1)", nd->name, C);
    if (a->training && !want(a->aux))
        return ts_error(TS_ERR_SHAPE, "batchnorm '%s': training keeps the batch's statistics in aux, and has none",
                        nd->name);
    return TS_OK;
}

ts_status ts_check_op(const ts_op_args *a)
{
    ts_conv_dims cd;
    ts_pool_dims pd;
    int N, K, O;
    switch (a->node->op) {
    case TS_OP_INPUT: return TS_OK;
    case TS_OP_CONV2D: return ts_check_conv2d(a, &cd);
    case TS_OP_FC: return ts_check_fc(a, &N, &K, &O);
    case TS_OP_MAXPOOL:
    case TS_OP_AVGPOOL: return ts_check_pool(a, &pd);
    case TS_OP_LRN: return ts_check_lrn(a);
    case TS_OP_RELU:
    case TS_OP_LEAKY_RELU: return ts_check_activation(a);
    case TS_OP_DROPOUT: return ts_check_dropout(a);
    case TS_OP_CONCAT: return ts_check_concat(a);
    case TS_OP_ADD: return ts_check_add(a);
    case TS_OP_BATCHNORM: return ts_check_batchnorm(a);
    case TS_OP_COUNT: break;
    }
    return ts_error(TS_ERR_UNSUPPORTED, "node '%s': unknown op %d", a->node->name, (int)a->node->op);
}
