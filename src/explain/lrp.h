/* lrp.h - Layer-wise Relevance Propagation over a ts_graph, on its backend.
 *
 * Follows section 4.1 of Lapuschkin et al., "Understanding and Comparing
 * Deep Neural Networks for Age and Gender Classification" (the Adience LRP
 * paper, /work/shared/papers/lrp-age-gender-adience.txt) and the rules of
 * Bach et al. 2015 / Montavon et al. 2017-2019:
 *
 *   linear layers (conv2d, fc) use one rule each, chosen by a rule string:
 *     epsilon:E    R_i = sum_j x_i w_ij / (z_j + E sign(z_j)) R_j, z_j with bias
 *                  (E = 0 is LRP-0; conservative exactly when bias-free)
 *     alphabeta:A,B  R_i = sum_j (A z+_ij / Z+_j - B z-_ij / Z-_j) R_j with
 *                  A - B = 1 (modern sign convention: "alphabeta:2,1" is the
 *                  paper's alpha=2, beta=-1 of Eq. 6).  Biases are LEFT OUT of
 *                  Z+/Z- by default, so the rule is conservative; the suffix
 *                  ",bias" adds b+ to Z+ and b- to Z- as Bach et al. 2015
 *                  (Eq. 60) and the LRP toolbox do (bias absorbs relevance).
 *     flat         R_i = sum_j R_j / n_j (n_j: real inputs in j's window)
 *     wsquare      R_i = sum_j w_ij^2 / sum_i' w_i'j^2 R_j
 *     zbox         R_i = sum_j (x_i w_ij - l_i w+_ij - h_i w-_ij) / Z_j R_j with
 *                  l, h the per-channel bounds of the (normalised) input;
 *                  only meaningful on a layer fed by the input
 *   the other ops have fixed rules: max pooling gives everything to the
 *   argmax of the forward pass; average pooling splits in proportion to the
 *   inputs; ReLU, leaky ReLU, LRN and dropout (inference) pass relevance
 *   through; concat splits by channel; add splits in proportion to each
 *   branch's contribution x_k / sum_k x_k.  Relevance reaching a node from
 *   several consumers is summed.
 *   batchnorm (evaluation: y = s x + t) right behind a conv2d or fc that
 *   nothing else reads is folded into that layer first (canonisation, as
 *   zennit does: weight s w, bias s b + t) and the layer's rule applies to
 *   the pair, with the batchnorm's output as z; any other batchnorm gives
 *   R_in = s x / (y + 1e-6 sign(y)) R.
 *
 * Denominators: epsilon adds E with the sign of z (sign(0) = +1); the other
 * rules map a zero denominator to zero relevance (that relevance is lost,
 * which the conservation statistics show).  Average pooling and add, when
 * the inputs sum to zero, split evenly instead.
 *
 * Rule strings (items separated by ';', later items override earlier ones):
 *   preset=NAME            adience   (paper: epsilon:0.01 on fc, alphabeta:2,1 on conv)
 *                          adience-a1b0 (epsilon:0.01 on fc, alphabeta:1,0 on conv)
 *                          epsilon   (epsilon:0.01 everywhere)
 *                          lrp0      (epsilon:0 everywhere)
 *                          composite (epsilon:0.01 fc, alphabeta:1,0 conv, zbox @first)
 *   SELECTOR=RULE          SELECTOR is a node-name glob (* and ?), or @conv,
 *                          @fc, @all, @first (the linear layers fed by the input)
 *   RULE                   epsilon[:E] | lrp0 | alphabeta[:A,B[,bias]] |
 *                          flat | wsquare | zbox
 * e.g. "preset=adience;conv1=zbox;fc*=epsilon:0.01;conv2=alphabeta:1,0".
 * An empty string means preset=adience.  Errors are TS_ERR_ARG naming the
 * offending token.
 *
 * Threading: a ts_lrp is used by one thread at a time.  The graph may run
 * on any backend (the GPU too): relevance is propagated where the graph's
 * memory is, and only the results come to the host.
 */
#ifndef TS_LRP_H
#define TS_LRP_H

#include <stdbool.h>
#include <stdint.h>

#include "nn/graph.h"
#include "face/points.h"

typedef enum ts_lrp_kind {
    TS_LRP_NONE = 0,   /* not a linear layer */
    TS_LRP_EPSILON,
    TS_LRP_ALPHABETA,
    TS_LRP_FLAT,
    TS_LRP_WSQUARE,
    TS_LRP_ZBOX,
} ts_lrp_kind;

typedef struct ts_lrp_rule {
    ts_lrp_kind kind;
    float eps;          /* epsilon */
    float alpha, beta;  /* alphabeta, alpha - beta = 1 */
    bool with_bias;     /* alphabeta: biases in the denominators */
} ts_lrp_rule;

#define TS_LRP_SPEC_MAX 1024
#define TS_LRP_MAX_INPUT_C 16

/* The resolved rules of one graph: one per node (TS_LRP_NONE for nodes that
 * are not conv2d/fc), plus the input bounds used by zbox. */
typedef struct ts_lrp_rules {
    int n_nodes;
    ts_lrp_rule *rule;               /* n_nodes; owned */
    char spec[TS_LRP_SPEC_MAX];      /* the string as given ("" = default) */
    int bounds_c;                    /* 0 = bounds unset (zbox then fails) */
    float low[TS_LRP_MAX_INPUT_C], high[TS_LRP_MAX_INPUT_C];
} ts_lrp_rules;

/* Parses `spec` (NULL or "" = preset=adience) against the nodes of `g`.
 * TS_ERR_ARG names the bad token ("rule string item 2 'conv9=flat': no
 * conv2d/fc node matches 'conv9'").  On success *out owns memory:
 * ts_lrp_rules_clear() it. */
ts_status ts_lrp_rules_parse(const ts_graph *g, const char *spec, ts_lrp_rules *out);
void ts_lrp_rules_clear(ts_lrp_rules *r);
/* Sets the zbox bounds of input channel c (values in the normalised input
 * space, i.e. what pixel 0 and pixel 255 become). */
void ts_lrp_rules_set_bounds(ts_lrp_rules *r, int c, float low, float high);
/* The rule of every linear node, "conv1=alphabeta:2,1;...;fc8=epsilon:0.01",
 * into buf (truncated to len).  Returns buf.  This is what exports store. */
const char *ts_lrp_rules_describe(const ts_graph *g, const ts_lrp_rules *r, char *buf, size_t len);
/* "epsilon:0.01" etc. for one rule into buf. */
const char *ts_lrp_rule_str(const ts_lrp_rule *rule, char *buf, size_t len);

/* What is explained. */
typedef enum ts_lrp_target_kind {
    TS_LRP_TARGET_PREDICTED = 0, /* argmax of the logits, per sample */
    TS_LRP_TARGET_CLASS,         /* class a */
    TS_LRP_TARGET_CONTRAST,      /* class a minus class b: R starts as z_a at a, -z_b at b */
    TS_LRP_TARGET_SIGNED,        /* output a times a sign: b = +1, -1, or 0 for the sign of z_a
                                  * (a multi-label head: z_a is the log-odds of its class 1, so
                                  * +z_a explains class 1 and -z_a class 0) */
} ts_lrp_target_kind;

typedef struct ts_lrp_target {
    ts_lrp_target_kind kind;
    int a, b;
} ts_lrp_target;

/* Parses "" / "predicted" / an index / a class name / "A-B" (each side an
 * index or a name).  class_names may be NULL (indices only).  Class names
 * containing '-' are matched whole before "A-B" is tried. */
ts_status ts_lrp_target_parse(const char *s, const char *const *class_names, int n_classes,
                              ts_lrp_target *out);

/* The same for a model, whatever its heads (nn/model.h): a softmax model
 * as above, and also "TRAIT" (its predicted class) and "TRAIT=CLASS" when
 * TRAIT is its trait; a multi-label model takes "" / "predicted" (the first trait's
 * predicted class), "TRAIT" (that trait's predicted class), "TRAIT=CLASS",
 * a class name that only one trait has (e.g. "male"), or an output index.
 * TS_ERR_ARG naming the traits when nothing matches. */
struct ts_model;
ts_status ts_lrp_target_for_model(const struct ts_model *m, const char *s, ts_lrp_target *out);

/* What an explanation explained, in words, from its stats: "male",
 * "male-female", or "gender=male" for a multi-label head.  Returns buf. */
struct ts_lrp_stats;
const char *ts_lrp_target_describe(const struct ts_model *m, const struct ts_lrp_stats *st, char *buf, size_t len);

/* Per-sample numbers of one explanation. */
typedef struct ts_lrp_stats {
    int a, b;              /* resolved target classes (b = -1: none) */
    float logit;           /* the explained quantity: z_a, z_a - z_b, or sign * z_a */
    int sign;              /* SIGNED targets: the sign used (+1, -1); else 0 */
    double relevance_sum;  /* sum of the input relevance */
    double negative_share; /* sum |R| over R < 0 divided by sum |R| (0 if all zero) */
} ts_lrp_stats;

/* A relevance propagator bound to one graph and one set of rules.  The
 * modified weights (w+, w-, w^2) are built from the graph's parameters at
 * ts_lrp_new(); after changing the weights call ts_lrp_refresh().
 * transfer: full (ts_lrp_free).  The graph and rules must outlive it. */
typedef struct ts_lrp ts_lrp;

ts_status ts_lrp_new(ts_graph *g, const ts_lrp_rules *rules, ts_lrp **out);
ts_status ts_lrp_refresh(ts_lrp *l);
void ts_lrp_free(ts_lrp *l);

/* Forward pass (inference mode) of `input` (N,C,H,W) followed by the
 * relevance backward.  `relevance` (N,C,H,W), caller storage, receives the
 * input relevance; `targets` holds N entries (or 1, used for every sample
 * when n_targets == 1); `stats` (N entries) may be NULL.  TS_ERR_SHAPE when
 * the input does not fit the graph, TS_ERR_ARG for a class out of range or
 * zbox without bounds. */
ts_status ts_lrp_explain(ts_lrp *l, const ts_tensor *input, const ts_lrp_target *targets,
                         int n_targets, ts_tensor *relevance, ts_lrp_stats *stats);

/* Relevance backward only, using the activations of the last forward pass
 * on `input` (which must be the tensor that pass saw). */
ts_status ts_lrp_backward(ts_lrp *l, const ts_tensor *input, const ts_lrp_target *targets,
                          int n_targets, ts_tensor *relevance, ts_lrp_stats *stats);

/* Relevance at the output of node `index` from the last ts_lrp_explain /
 * ts_lrp_backward call (N,c,h,w), in the memory of the graph's backend
 * (read it with ts_graph_read on a device).  A conv2d or fc with a
 * batchnorm folded into it (lrp.c) holds none: the pair's output relevance
 * is the batchnorm's.  transfer: none (valid until the next call). */
const ts_tensor *ts_lrp_node_relevance(const ts_lrp *l, int index);

/* ---- Reductions of an input relevance tensor (N,C,H,W) ---- */

/* heat (H*W) = sum over channels [c0, c1) of sample n. */
void ts_lrp_heatmap(const ts_tensor *relevance, int n, int c0, int c1, float *heat);

/* sums[c] = sum of sample n's relevance in channel c (C entries), abs_sums[c]
 * the sum of absolute values (either may be NULL). */
void ts_lrp_channel_sums(const ts_tensor *relevance, int n, double *sums, double *abs_sums);

/* Pools a heatmap (w*h floats) by an A(x,y) index map of the same size
 * (face/amap.h: uint8 (H,W), landmark index per pixel; values >= n_cells
 * are ignored): cell_sums[k] and cell_abs[k] (n_cells each, either may be
 * NULL).  Returns the number of pixels that fell in a cell. */
long ts_lrp_pool_cells(const float *heat, const uint8_t *index, int w, int h, int n_cells,
                       double *cell_sums, double *cell_abs);

/* Groups 68 per-landmark sums into the TS_PART_COUNT parts of the iBUG
 * scheme (face/points.h: jaw, right/left brow, nose, right/left eye,
 * mouth). */
void ts_lrp_pool_parts(const double *cell_sums68, double *part_sums);

/* ---- Graph-free checks (for editors without a graph at hand) ---- */

/* Parses one RULE ("epsilon:0.25", "alphabeta:1,0,bias", "flat").  Errors
 * TS_ERR_ARG naming the problem, as ts_lrp_rules_parse words them. */
ts_status ts_lrp_rule_parse(const char *rule, ts_lrp_rule *out);

/* Checks the syntax of a whole rule string without a graph: every item is
 * preset=NAME with a known preset or SELECTOR=RULE with a valid rule and a
 * known @selector.  What needs a graph (whether a glob matches a layer,
 * zbox only on a layer fed by the input) is left to ts_lrp_rules_parse. */
ts_status ts_lrp_rules_check(const char *spec);

/* The presets, in the order of the comment above: returns the name of
 * preset i, NULL past the last. */
const char *ts_lrp_preset_name(int i);

/* The rule preset `name` gives a linear layer: is_conv tells conv2d from
 * fc, is_first a layer fed by the input.  false for an unknown preset. */
bool ts_lrp_preset_rule(const char *name, bool is_conv, bool is_first, ts_lrp_rule *out);

#endif
