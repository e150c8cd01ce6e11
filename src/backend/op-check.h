/* op-check.h - the shape and hyper-parameter rules of every op, applied by
 * every backend before it runs the op (issue 14: a malformed imported model
 * must be an error on the GPU exactly where it is one on the CPU, not zeros
 * or NaN).
 *
 * Each check reads the ts_op_args of backend.h (tensor shapes and the
 * node's hyper-parameters, never tensor data, so device memory is fine),
 * returns TS_ERR_SHAPE naming the op and the node on a violation, and on
 * success fills the op's derived sizes.  The rules themselves (output
 * sizes, windows, usable hyper-parameters) are nn/shape.h's, the ones the
 * graph shaped its nodes with; a backend re-applies them because it also
 * receives hand-built arguments (the op table test, LRP's steps).  Pure
 * functions: linked into the CUDA backend's module as well as into
 * libtraitscope.
 */
#ifndef TS_OP_CHECK_H
#define TS_OP_CHECK_H

#include "backend/backend.h"
#include "nn/shape.h"

/* conv2d: input (N,C,H,W), weight (O,C/G,KH,KW), output (N,O,OH,OW) with
 * OH = ts_conv_out_size(H, KH, S, pt, pb), likewise OW. */
typedef struct ts_conv_dims {
    int N, C, H, W, O, KH, KW, S, pt, pb, pl, pr, G, OH, OW;
} ts_conv_dims;

/* pools: windows [o*S - pt, o*S - pt + KH) and the like; the global pool
 * is KH = H, KW = W, S = 1, no padding. */
typedef struct ts_pool_dims {
    int N, C, H, W, OH, OW, KH, KW, S, pt, pb, pl, pr;
} ts_pool_dims;

ts_status ts_check_conv2d(const ts_op_args *a, ts_conv_dims *d);
/* fc: input read as (N,K), weight (O,K,1,1), output (N,O,1,1). */
ts_status ts_check_fc(const ts_op_args *a, int *N, int *K, int *O);
/* maxpool, avgpool: the window of ts_node_window, usable
 * (ts_node_problem), the output as ts_pool_out_size gives it. */
ts_status ts_check_pool(const ts_op_args *a, ts_pool_dims *d);
/* lrn: one input shaped like the output, usable parameters
 * (ts_node_problem); aux (when given) shaped like the output. */
ts_status ts_check_lrn(const ts_op_args *a);
/* relu, leaky_relu: one input shaped like the output (leaky: a usable
 * slope). */
ts_status ts_check_activation(const ts_op_args *a);
/* dropout: one input shaped like the output, a usable p. */
ts_status ts_check_dropout(const ts_op_args *a);
/* concat: inputs with the output's N, H, W whose channels add up to its C. */
ts_status ts_check_concat(const ts_op_args *a);
/* add: at least one input, all shaped like the output. */
ts_status ts_check_add(const ts_op_args *a);
/* batchnorm: one input shaped like the output, usable eps and momentum,
 * weight, bias, run_mean and run_var (1,C,1,1), aux (1,2,C,1) (required
 * in training: forward keeps the batch's statistics there for backward). */
ts_status ts_check_batchnorm(const ts_op_args *a);
/* The check of a->node->op (TS_OP_INPUT: nothing to check). */
ts_status ts_check_op(const ts_op_args *a);

#endif
