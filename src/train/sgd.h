/* sgd.h - stochastic gradient descent with momentum and weight decay, and
 * Caffe's "step" learning-rate policy.
 *
 * Spec followed: Caffe's SGDSolver (the framework both papers trained with).
 * Per parameter w with gradient g (the mean over the batch, as the losses of
 * nn/loss.h produce it), learning-rate multiplier m_lr and decay multiplier
 * m_wd of its blob:
 *     v <- mu * v - lr * m_lr * (g + wd * m_wd * w)
 *     w <- w + v
 * which is Caffe's `history = mu*history + lr*(g + wd*w); w -= history` with
 * the sign of the history flipped.  The learning rate at iteration t
 * (counted from 0, before the update of that iteration) is
 *     lr(t) = base_lr * gamma ^ floor(t / stepsize)        ("step")
 * and plain base_lr when stepsize is 0 ("fixed").  With cosine_iters T > 0
 * the policy is "cosine" instead (Loshchilov & Hutter's SGDR without
 * restarts): lr(t) = base_lr * (1 + cos(pi * min(t, T) / T)) / 2.  Either
 * policy may start with a linear warm-up over warmup_iters W iterations:
 * lr(t) = base_lr * (t + 1) / W for t < W, and the policy then runs on
 * t - W (T counts the iterations after the warm-up).  Multipliers follow the
 * bvlc_alexnet prototxt the LACNN paper used: weights 1/1, biases 2/0 (twice
 * the rate, no decay); ts_sgd_config_default() sets them.
 *
 * Memory: the momentum buffers live in one arena with exactly the layout
 * of g->params (same floats, same padding), made by the graph's backend, so
 * the optimizer state is one contiguous block to checkpoint and the update
 * runs where the parameters are: one backend `sgd` call per parameter
 * tensor (backend.h; on the GPU a kernel launch, no copies).  Read and
 * write the state with ts_sgd_state_read/_write (a device's memory is not
 * the host's).  The graph must not move to another backend while a ts_sgd
 * is initialised for it.
 */
#ifndef TS_SGD_H
#define TS_SGD_H

#include <stdint.h>

#include "nn/graph.h"

typedef struct ts_sgd_config {
    float base_lr;       /* > 0 */
    float momentum;      /* mu in [0,1) */
    float weight_decay;  /* wd >= 0 */
    float gamma;         /* step policy factor, in (0,1] */
    int stepsize;        /* iterations per step; 0 = fixed learning rate */
    long cosine_iters;   /* > 0: cosine policy over this many iterations (stepsize ignored) */
    long warmup_iters;   /* >= 0: linear warm-up iterations before the policy */
    float weight_lr_mult, weight_decay_mult; /* 1, 1 */
    float bias_lr_mult, bias_decay_mult;     /* 2, 0 (Caffe AlexNet) */
} ts_sgd_config;

typedef struct ts_sgd {
    ts_sgd_config cfg;
    ts_arena state;   /* momentum v, same layout as the graph's params, on be */
    uint64_t iter;    /* updates done so far */
    const struct ts_backend *be; /* the graph's backend at ts_sgd_init */
    void *ctx;
} ts_sgd;

/* lr 0.01, momentum 0.9, weight decay 5e-4, gamma 0.1, stepsize 0, and the
 * AlexNet multipliers (the values of Caffe's AlexNet solver). */
ts_sgd_config ts_sgd_config_default(void);

/* Learning rate of iteration `iter` (see the file comment). */
float ts_sgd_lr(const ts_sgd_config *cfg, uint64_t iter);

/* Sizes the momentum arena for `g` (finalized, on its backend) and zeroes
 * it.  TS_ERR_ARG for a config out of range, TS_ERR_OOM.  Clear with
 * ts_sgd_clear. */
ts_status ts_sgd_init(ts_sgd *s, const ts_graph *g, const ts_sgd_config *cfg);
void ts_sgd_clear(ts_sgd *s);

/* One update of every parameter of g from its gradient in g->grads, then
 * iter++.  Gradients are left as they are (zero them before the next
 * backward).  TS_ERR_DEVICE if the device fails; TS_ERR_ARG when g is no
 * longer on the backend the state was made on. */
ts_status ts_sgd_step(ts_sgd *s, ts_graph *g);

/* The momentum to/from host memory: ts_sgd_state_floats floats, the
 * layout of g->params (what the training state file stores). */
ts_status ts_sgd_state_read(const ts_sgd *s, float *host);
ts_status ts_sgd_state_write(ts_sgd *s, const float *host);

/* Number of floats of optimizer state (== g->params.used). */
static inline size_t ts_sgd_state_floats(const ts_sgd *s) { return s->state.used; }

#endif
