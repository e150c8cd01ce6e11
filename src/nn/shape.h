/* shape.h - the shape rules of every op, each written once.
 *
 * A node's defaults, the output size of a convolution or pooling window,
 * the window a node slides, what makes its hyper-parameters unusable, and
 * its output shape from its inputs.  The graph (graph.c), the importers'
 * check of an untrusted file's weights before anything is allocated
 * (netbuild.c), the Caffe exporter (caffe.c) and the checks the layer
 * below runs before every op (op-check.c) all call these; none of them
 * restates a rule.  (The op table test keeps its own reference sizes
 * on purpose: a test checks the rule, it does not share it.)
 *
 * Sizes follow Caffe, the framework both papers trained with:
 *   convolution  out = floor((in + pad_lo + pad_hi - k) / stride) + 1
 *   pooling      out = ceil((in + pad_lo + pad_hi - k) / stride) + 1, minus
 *                one when there is padding and the last window would start
 *                at or beyond in + pad_lo (entirely in the end padding;
 *                Caffe's PoolingLayer::Reshape, PyTorch's ceil_mode);
 *                floor instead of ceil with pool_floor; a global pool's
 *                window is the whole plane (stride 1, no padding).
 * Pure functions of their arguments: linked into the CUDA module too.
 */
#ifndef TS_SHAPE_H
#define TS_SHAPE_H

#include "nn/graph.h"

/* The defaults of every hyper-parameter, so that a field nobody set means
 * the same thing in a hand-built graph, a parsed description and an
 * imported file: stride 1, groups 1, has_bias 1, lrn size 5, alpha 1e-4,
 * beta 0.75, k 1, dropout p 0.5, leaky slope 0.01; everything else 0. */
void ts_node_defaults(ts_node *n);

/* Output size along one axis; 0 when the padded input is smaller than the
 * window or stride < 1 (an empty output: callers refuse it). */
int ts_conv_out_size(int in, int k, int stride, int pad_lo, int pad_hi);
int ts_pool_out_size(int in, int k, int stride, int pad_lo, int pad_hi, int floor_mode);

/* The window a conv2d or pooling node slides over an in_h x in_w plane:
 * its own kernel, stride and pads, or for a global pool the whole plane
 * with stride 1 and no padding. */
typedef struct ts_window {
    int kh, kw, stride;
    int pad_t, pad_b, pad_l, pad_r;
} ts_window;
ts_window ts_node_window(const ts_node *n, int in_h, int in_w);

/* NULL when node n's hyper-parameters are usable for its op, else what is
 * wrong ("padding must be >= 0 and smaller than the kernel"): the reason
 * the graph reports as TS_ERR_FORMAT and the op checks as TS_ERR_SHAPE.
 * in_c: the input's channels (conv2d groups must divide them); w: the
 * window (ts_node_window; conv2d and pools only, else unused, may be
 * NULL).  The rules: conv2d 1 <= out_c <= 65536, 1 <= kernel <= 64,
 * 1 <= stride <= 64, groups dividing in_c and out_c; pools kernel and
 * stride >= 1; conv2d and pools pads >= 0 and smaller than the kernel; fc
 * 1 <= out_c <= 2^20; lrn an odd size >= 1, k > 0, alpha >= 0, k, alpha
 * and beta finite; dropout p in [0,1); leaky_relu slope finite. */
const char *ts_node_problem(const ts_node *n, int in_c, const ts_window *w);

/* Output shape (c,h,w) of nodes[i] from its inputs' shapes (nodes in
 * topological order, nodes[0] the input, earlier shapes known), checking
 * the node's wiring and hyper-parameters; a global pool's window is
 * written into its kh, kw, stride and pads.  TS_ERR_FORMAT "layer 'NAME'
 * (OP): REASON" on a bad node.  The graph shapes every node with it
 * (ts_graph_finalize); the importers check weights with it before the
 * graph exists. */
ts_status ts_node_infer_shape(ts_node *nodes, int i);

#endif
