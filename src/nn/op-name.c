/* op-name.c - the name stem of every op (graph.h).  Its own file because
 * the CUDA module links it too (it names ops in its errors). */
#include "nn/graph.h"

static const char *const op_names[TS_OP_COUNT] = {
    [TS_OP_INPUT] = "input",     [TS_OP_CONV2D] = "conv2d",   [TS_OP_RELU] = "relu",
    [TS_OP_LEAKY_RELU] = "leaky_relu", [TS_OP_LRN] = "lrn",   [TS_OP_MAXPOOL] = "maxpool",
    [TS_OP_AVGPOOL] = "avgpool", [TS_OP_FC] = "fc",           [TS_OP_DROPOUT] = "dropout",
    [TS_OP_CONCAT] = "concat",   [TS_OP_ADD] = "add",
    [TS_OP_BATCHNORM] = "batchnorm",
};

const char *ts_op_name(ts_op op)
{
    return (op >= 0 && op < TS_OP_COUNT) ? op_names[op] : "unknown";
}
