/* graph.h - a network as a directed acyclic graph of ops: data.
 *
 * Nodes are stored in topological order (every input index is smaller than
 * the node's own index); node 0 is the TS_OP_INPUT node.  Chains (AlexNet,
 * CaffeNet, VGG) and graphs (GoogLeNet's inception concatenations, residual
 * additions) use the same structure.  Architectures come from the text
 * description language of arch.h; built-in networks are written in it too.
 *
 * Memory: parameters live in g->params, their gradients in g->grads (same
 * layout, so grads[i] matches params[i]); activations, their gradients and
 * per-op auxiliary buffers for one batch size live in g->acts and are
 * rebuilt by ts_graph_set_batch().  Everything is float32 NCHW.  The
 * arenas live in host memory or, after ts_graph_move, in one device's
 * memory (tensor.h's ts_memory); the graph only sizes, moves and frees them.
 *
 * A graph is data: it never computes.  The layer below runs it
 * (ts_graph_forward and ts_graph_backward, docs/architecture.md); the
 * shape rules it applies to every node are nn/shape.h's.
 */
#ifndef TS_GRAPH_H
#define TS_GRAPH_H

#include "nn/tensor.h"

#define TS_MAX_INPUTS 8
#define TS_NAME_MAX 64

/* One name stem per op everywhere: TS_OP_CONV2D, cpu_conv2d_forward,
 * cuda_conv2d_forward, kernels/conv2d.cu, the "conv2d" op-test row. */
typedef enum ts_op {
    TS_OP_INPUT = 0,
    TS_OP_CONV2D,     /* weight (O, C/groups, KH, KW), bias (1,O,1,1) */
    TS_OP_RELU,       /* max(x, 0); also min(., clip) when clip > 0 (ReLU6) */
    TS_OP_LEAKY_RELU, /* slope for x < 0 */
    TS_OP_LRN,        /* Caffe cross-channel LRN: x / (k + alpha/size * sum x^2)^beta */
    TS_OP_MAXPOOL,    /* Caffe rounding (ceil) unless pool_floor */
    TS_OP_AVGPOOL,    /* Caffe rounding; divisor counts padded cells like Caffe */
    TS_OP_FC,         /* weight (O, C*H*W, 1, 1), bias (1,O,1,1); output (N,O,1,1) */
    TS_OP_DROPOUT,    /* inverted dropout: scales kept units by 1/(1-p) in training */
    TS_OP_CONCAT,     /* along channels */
    TS_OP_ADD,        /* elementwise sum of same-shaped inputs */
    TS_OP_BATCHNORM,  /* per channel: gamma (x - mean) / sqrt(var + eps) + beta; weight
                       * gamma (1,C,1,1), bias beta (1,C,1,1), running mean and
                       * variance run_mean, run_var (1,C,1,1).  Training: the
                       * batch's mean and biased variance over N, H, W, and the
                       * running ones move by `momentum` toward the batch's
                       * (variance unbiased, PyTorch's and cuDNN's rule);
                       * evaluation: the running ones. */
    TS_OP_COUNT
} ts_op;

/* "conv2d", "relu", ... (the stem of the op's names). */
const char *ts_op_name(ts_op op);

typedef struct ts_node {
    ts_op op;
    char name[TS_NAME_MAX];
    int n_inputs;
    int inputs[TS_MAX_INPUTS]; /* node indices, all < this node's index */

    /* Hyper-parameters (only those of the op are meaningful). */
    int out_c;                          /* conv2d, fc */
    int kh, kw, stride;                 /* conv2d, pools */
    int pad_t, pad_b, pad_l, pad_r;     /* conv2d, pools */
    int groups;                         /* conv2d (1 = dense, C = depthwise) */
    int has_bias;                       /* conv2d, fc */
    int pool_floor;                     /* pools: floor rounding instead of Caffe's ceil */
    int global;                         /* pools over the whole map */
    int lrn_size;                       /* lrn: channels in the window (odd) */
    float lrn_alpha, lrn_beta, lrn_k;   /* lrn */
    float p;                            /* dropout probability */
    float slope;                        /* leaky_relu */
    float bn_eps, bn_momentum;          /* batchnorm: 1e-5 and 0.1 by default */
    float clip;                         /* relu: upper bound when > 0 (MobileNet's
                                         * ReLU6: 6); 0 = none.  Only graphs built
                                         * in code (face/detector.c) set it: the
                                         * architecture language and the exporters
                                         * do not carry it (export refuses it). */

    /* Output shape of one sample. */
    int c, h, w;

    /* Parameters and gradients (views into g->params / g->grads); empty
     * tensors for ops without parameters. */
    ts_tensor weight, bias;   /* conv2d: (O,C/g,KH,KW) (1,O,1,1); fc: (O,K,1,1) (1,O,1,1) */
    ts_tensor dweight, dbias;
    /* batchnorm's running statistics (1,C,1,1) each, in g->params after its
     * bias (their slots in g->grads stay zero; SGD never touches them). */
    ts_tensor run_mean, run_var;

    /* Per-batch buffers (views into g->acts). */
    ts_tensor out;   /* (N,c,h,w) */
    ts_tensor dout;  /* (N,c,h,w), gradient of the loss w.r.t. out */
    ts_tensor aux;   /* op-specific: maxpool argmax (flat index into the input
                      * plane, stored as float; exact below 2^24), lrn scale
                      * (N,C,H,W), dropout mask (N,c,h,w), batchnorm the
                      * batch's mean and 1/sqrt(var + eps) (1,2,C,1); empty
                      * otherwise */
} ts_node;

typedef struct ts_graph {
    int n_nodes;
    ts_node *nodes;        /* n_nodes, topological order, nodes[0] is the input */
    int output;            /* index of the node whose out are the logits */

    ts_arena params;       /* all weights and biases, in node order */
    ts_arena grads;        /* same layout as params */
    ts_arena acts;         /* out, dout and aux of every node for `batch` */
    int batch;             /* N the activation arena was built for (0 = none) */
    bool training;         /* dropout active */
    bool skip_input_grad;  /* backward leaves nodes[0].dout alone (training
                            * needs no gradient of the image: ~5% of a step) */
    uint64_t step;         /* advances the dropout masks every forward */
    uint64_t seed;
    uint64_t sample_offset; /* index of this graph's first sample in a larger
                            * batch split over ranks (train/dist.h): the
                            * dropout masks are those of that sample of the
                            * whole batch; 0 alone */

    double *op_seconds;    /* NULL, or 2 * n_nodes sums the runner adds each
                            * op's wall time to: [i] forward of node i,
                            * [n_nodes + i] its backward (bench-train
                            * --profile); the caller owns it */

    const ts_memory *mem;  /* where params, grads and acts live: NULL the
                            * host, else a device's memory (ts_graph_move) */
    void *mem_ctx;         /* mem's context */
    float *host_io;        /* ts_graph_logits_host's host buffers on a device */
    size_t host_io_cap;
} ts_graph;

/* Building a graph by hand (the arch parser does the same):
 *   ts_graph *g = ts_graph_new(3, 150, 150);
 *   ts_node *n = ts_graph_add(g, TS_OP_CONV2D, "conv1", 1, (int[]){0});
 *   n->out_c = 96; n->kh = n->kw = 11; n->stride = 4; n->has_bias = 1; ...
 *   ts_graph_finalize(g);   // shapes, parameter arena, checks
 * ts_graph_add fills defaults (stride 1, groups 1, has_bias 1, lrn 5/1e-4/
 * 0.75/1, p 0.5, slope 0.01).  n_inputs 0 means "the previous node".
 * transfer: full (ts_graph_free). */
ts_graph *ts_graph_new(int c, int h, int w);
/* transfer: none.  The new node (valid until the next ts_graph_add). */
ts_node *ts_graph_add(ts_graph *g, ts_op op, const char *name, int n_inputs, const int *inputs);
/* Infers every node's output shape, checks hyper-parameters (TS_ERR_FORMAT
 * naming the node on a bad one) and allocates params and grads. */
ts_status ts_graph_finalize(ts_graph *g);
/* The same shapes and checks without allocating anything; *param_floats
 * (may be NULL): how many parameter floats (weights and biases) finalize
 * would allocate, so that a reader can bound them by its file first. */
ts_status ts_graph_shape(ts_graph *g, size_t *param_floats);

/* transfer: none.  The node called `name`, or NULL. */
ts_node *ts_graph_find(ts_graph *g, const char *name);
int ts_graph_index(const ts_graph *g, const char *name);

/* Number of parameter floats (weights, biases and batchnorm's running
 * statistics: every float a model file stores). */
size_t ts_graph_param_count(const ts_graph *g);

/* Allocates activation buffers for batch size n (no-op if already n), in
 * the graph's memory. */
ts_status ts_graph_set_batch(ts_graph *g, int n);

/* Zeroes every parameter gradient (g->grads), wherever it lives. */
void ts_graph_zero_grads(ts_graph *g);

/* Moves the graph's params and grads into memory `to` (NULL: the host;
 * ctx its context) in one copy each; the activations are dropped (the next
 * ts_graph_set_batch makes them there), and g->mem/mem_ctx become to/ctx.
 * Moves go host -> device or device -> host, never device -> device
 * (TS_ERR_UNSUPPORTED).  Host-side helpers (ts_graph_init_params, loaders)
 * need the graph on the host; in device memory, read outputs with
 * ts_graph_read.  TS_ERR_OOM when the device is full, TS_ERR_DEVICE when a
 * copy fails: the graph then stays where it was (both arenas are copied
 * before either is released).  Code that runs graphs moves them with the
 * runner's own call, which records the runner's memory here. */
ts_status ts_graph_move(ts_graph *g, const ts_memory *to, void *ctx);

/* Copies n floats of the graph's memory at `src` (a view into one of its
 * arenas: an activation, the logits, a parameter) into host `dst`: a
 * download from device memory, a copy on the host.  TS_ERR_DEVICE when a
 * device copy fails. */
ts_status ts_graph_read(const ts_graph *g, const float *src, float *dst, size_t n);

/* Copies n host floats into the graph's memory at `dst` (an upload into
 * device memory, a copy on the host). */
ts_status ts_graph_write(ts_graph *g, float *dst, const float *src, size_t n);

/* For a loss computed on the host (nn/loss.h) after ts_graph_forward: the
 * output's logits and its gradient buffer as host tensors (N,K,1,1), K the
 * output's c*h*w.  On the host they are the graph's own out and dout; in
 * device memory, host copies (logits downloaded; dlogits a host buffer), and
 * ts_graph_dlogits_commit then uploads dlogits into dout before
 * ts_graph_backward.  Valid until the next call.  TS_ERR_DEVICE,
 * TS_ERR_OOM. */
ts_status ts_graph_logits_host(ts_graph *g, ts_tensor *logits, ts_tensor *dlogits);
ts_status ts_graph_dlogits_commit(ts_graph *g);

/* He/Xavier initialisation of every parameter from `seed` (on the host). */
void ts_graph_init_params(ts_graph *g, uint64_t seed);

void ts_graph_free(ts_graph *g);

#endif
