/* arch.h - the architecture description language, and the built-in networks.
 *
 * A description is plain text, one layer per line, so researchers can define
 * their own networks.  Example (the first lines of the built-in AlexNet):
 *
 *     # AlexNet as in the LACNN paper
 *     input   channels={channels} size={size}
 *     conv2d  conv1  out=96 k=11 stride=4
 *     relu    relu1
 *     lrn     norm1  size=5 alpha=0.0001 beta=0.75 k=1
 *     maxpool pool1  k=3 stride=2
 *     ...
 *     fc      fc8    out={classes}
 *
 * Grammar: blank lines and '#' comments are ignored.  `input` takes
 * channels=C and size=S (or height=H width=W).  Every other line is
 * `OP NAME key=value...` with OP one of conv2d, relu, leaky_relu, lrn,
 * maxpool, avgpool, fc, dropout, concat, add, batchnorm.  A layer reads the previous
 * line's layer unless it says in=A[,B...] (by name; concat and add need
 * two or more).  Keys:
 *   conv2d:  out, k | kh,kw, stride, pad (P, or T,B,L,R), groups, bias=0|1
 *   maxpool, avgpool: k | kh,kw, stride, pad, round=ceil|floor, global=1
 *   lrn:     size, alpha, beta, k          dropout: p       leaky_relu: slope
 *   fc:      out, bias=0|1                 batchnorm: eps (1e-5), momentum (0.1)
 * The last layer is the output (the logits) unless an `output NAME` line
 * names another.  {channels}, {size} and {classes} are replaced by
 * ts_arch_expand; a stored model keeps the expanded text.
 *
 * Errors name the source, the line and the token (TS_ERR_FORMAT).
 */
#ifndef TS_ARCH_H
#define TS_ARCH_H

#include "nn/graph.h"

typedef struct ts_arch_opts {
    int in_channels; /* 3 = RGB baseline, 4 = LACNN (RGB + A(x,y)) */
    int size;        /* input height = width (150 in the LACNN paper, 227 Caffe) */
    int classes;     /* outputs of the last layer */
} ts_arch_opts;

/* transfer: none.  NULL-terminated list of built-in names: alexnet,
 * caffenet, adiencenet, vgg16, googlenet. */
const char *const *ts_arch_builtin_names(void);

/* transfer: full (free()).  The template text of a built-in network, or NULL
 * for an unknown name. */
char *ts_arch_builtin_text(const char *name);

/* transfer: full (*out, free()).  Replaces {channels}, {size}, {classes}. */
ts_status ts_arch_expand(const char *text, const ts_arch_opts *opts, char **out);

/* Parses an expanded description into a finalized graph (parameters
 * allocated, not initialised).  `source` names the text in errors.
 * transfer: full (*out, ts_graph_free). */
ts_status ts_arch_parse(const char *text, const char *source, ts_graph **out);

/* Parses and checks like ts_arch_parse, allocating no parameters, and gives
 * the number of parameter floats the graph would have: a reader of an
 * untrusted file bounds it by the file's size before building anything. */
ts_status ts_arch_param_count(const char *text, const char *source, size_t *out);

/* Built-in name or path of a description file -> graph + the expanded text
 * to store in checkpoints.  transfer: full (*graph, *expanded; expanded may
 * be NULL if not wanted). */
ts_status ts_arch_build(const char *name_or_path, const ts_arch_opts *opts,
                        ts_graph **graph, char **expanded);

#endif
