/* loss.h - losses on logits and the softmax that turns logits into
 * probabilities, on host tensors (loss.c; a graph's logits reach the host
 * through ts_graph_logits_host); logits are (N,K,1,1) or any (N,C,H,W)
 * read as (N, K = C*H*W).
 *
 * Softmax cross-entropy (single-label traits: gender, age group):
 *   loss = -1/N sum_i log softmax(z_i)[y_i],  dlogits = (p - onehot(y)) / N.
 * Sigmoid cross-entropy (multi-label attributes, LACNN paper eq. 3):
 *   loss = -1/(N*K) sum_{i,k} t log s(z) + (1-t) log(1-s(z)),
 *   dlogits = (s(z) - t) / (N*K).
 * Both are computed stably (max-shifted log-sum-exp; max(z,0) - z*t +
 * log1p(exp(-|z|))) and accumulate in double.  dlogits is OVERWRITTEN (it is
 * the seed of back-propagation, not an accumulation) and may be NULL.
 */
#ifndef TS_LOSS_H
#define TS_LOSS_H

#include "nn/tensor.h"

/* labels: N class indices in [0,K).  TS_ERR_ARG naming the sample when a
 * label is out of range.  logits, dlogits: (N,K,1,1). */
ts_status ts_loss_softmax_xent(const ts_tensor *logits, const int *labels, float *loss,
                               ts_tensor *dlogits);

/* targets: (N,K,1,1) in [0,1] (probabilities allowed, not only 0/1).
 * logits, dlogits: (N,K,1,1).  TS_ERR_ARG when a target is outside [0,1]. */
ts_status ts_loss_sigmoid_xent(const ts_tensor *logits, const ts_tensor *targets, float *loss,
                               ts_tensor *dlogits);

/* Weighted forms (class-balanced training, multi-task nets):
 *   softmax: loss = 1/N sum_i w_i * (-log softmax(z_i)[y_i]),
 *            dlogits = w_i (p - onehot(y)) / N;          weights: N
 *   sigmoid: loss = 1/N sum_{i,k} w_ik * xent(z_ik, t_ik),
 *            dlogits = w_ik (s(z) - t) / N;              weights: (N,K)
 * The sigmoid form sums over outputs, so each output (a trait's head) gets
 * the gradient of a one-trait net; w_ik = 0 leaves an output out (a row
 * without that trait's label: its target is then not read).  Weights must
 * be finite and >= 0 (TS_ERR_ARG otherwise). */
ts_status ts_loss_softmax_xent_weighted(const ts_tensor *logits, const int *labels, const float *weights,
                                        float *loss, ts_tensor *dlogits);
ts_status ts_loss_sigmoid_xent_weighted(const ts_tensor *logits, const ts_tensor *targets, const float *weights,
                                        float *loss, ts_tensor *dlogits);

/* probs (N,K,1,1) = row-wise softmax of logits (N,K,1,1); may alias. */
void ts_softmax(const ts_tensor *logits, ts_tensor *probs);

#endif
