/* loss.c - softmax / sigmoid cross-entropy and softmax on host memory;
 * see loss.h for the formulas and conventions.
 *
 * Numerical care: softmax subtracts the row maximum before exponentiating
 * (so no exp overflows and the largest term is exp(0) = 1); the log of the
 * true class probability is z_y - max - log(sum exp(z - max)), never
 * log(p) of a rounded p.  The sigmoid loss uses
 * max(z,0) - z*t + log1p(exp(-|z|)), finite for every finite z.
 */
#include "nn/loss.h"

#include <math.h>
#include <string.h>

static void loss_dims(const ts_tensor *t, int *N, int *K)
{
    *N = t->n;
    *K = t->c * t->h * t->w;
}

void ts_softmax(const ts_tensor *logits, ts_tensor *probs)
{
    int N, K;
    loss_dims(logits, &N, &K);
    TS_ASSERT(logits->data && probs->data && ts_tensor_numel(probs) == ts_tensor_numel(logits));
    for (int i = 0; i < N; i++) {
        const float *z = logits->data + (size_t)i * K;
        float *p = probs->data + (size_t)i * K;
        float m = z[0];
        for (int k = 1; k < K; k++) m = z[k] > m ? z[k] : m;
        double s = 0.0;
        for (int k = 0; k < K; k++) {
            double e = exp((double)z[k] - m);
            p[k] = (float)e;
            s += e;
        }
        for (int k = 0; k < K; k++) p[k] = (float)(p[k] / s);
    }
}

static ts_status check_labels(const int *labels, int N, int K)
{
    for (int i = 0; i < N; i++)
        if (labels[i] < 0 || labels[i] >= K)
            return ts_error(TS_ERR_ARG, "softmax cross-entropy: sample %d has label %d, expected 0..%d",
                            i, labels[i], K - 1);
    return TS_OK;
}

/* One row: returns -log p(label); with d, writes (p - onehot) * dscale. */
static double softmax_row_nll(const float *z, int K, int label, float *d, double dscale)
{
    double m = z[0];
    for (int k = 1; k < K; k++) m = z[k] > m ? z[k] : m;
    double s = 0.0;
    for (int k = 0; k < K; k++) s += exp(z[k] - m);
    double lse = log(s);
    if (d)
        for (int k = 0; k < K; k++) d[k] = (float)((exp(z[k] - m - lse) - (k == label ? 1.0 : 0.0)) * dscale);
    return -(z[label] - m - lse);
}

ts_status ts_loss_softmax_xent(const ts_tensor *logits, const int *labels, float *loss,
                               ts_tensor *dlogits)
{
    int N, K;
    loss_dims(logits, &N, &K);
    TS_ASSERT(logits->data && labels && loss);
    if (dlogits) TS_ASSERT(dlogits->data && ts_tensor_numel(dlogits) == ts_tensor_numel(logits));
    TS_TRY(check_labels(labels, N, K));
    double total = 0.0;
    for (int i = 0; i < N; i++)
        total += softmax_row_nll(logits->data + (size_t)i * K, K, labels[i],
                                 dlogits ? dlogits->data + (size_t)i * K : NULL, 1.0 / N);
    *loss = (float)(total / N);
    return TS_OK;
}

ts_status ts_loss_sigmoid_xent(const ts_tensor *logits, const ts_tensor *targets, float *loss,
                               ts_tensor *dlogits)
{
    int N, K;
    loss_dims(logits, &N, &K);
    TS_ASSERT(logits->data && targets && targets->data && loss);
    TS_ASSERT(ts_tensor_numel(targets) == ts_tensor_numel(logits));
    if (dlogits) TS_ASSERT(dlogits->data && ts_tensor_numel(dlogits) == ts_tensor_numel(logits));
    size_t total_n = (size_t)N * K;
    for (size_t i = 0; i < total_n; i++) {
        float t = targets->data[i];
        if (!(t >= 0.0f && t <= 1.0f))
            return ts_error(TS_ERR_ARG, "sigmoid cross-entropy: sample %zu, output %zu has target %g outside [0,1]",
                            i / K, i % K, t);
    }
    double total = 0.0;
    for (size_t i = 0; i < total_n; i++) {
        double z = logits->data[i], t = targets->data[i];
        total += (z > 0 ? z : 0) - z * t + log1p(exp(-fabs(z)));
        if (dlogits) {
            /* sigmoid without overflow for either sign of z */
            double s = z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
            dlogits->data[i] = (float)((s - t) / (double)total_n);
        }
    }
    *loss = (float)(total / (double)total_n);
    return TS_OK;
}

ts_status ts_loss_softmax_xent_weighted(const ts_tensor *logits, const int *labels, const float *weights,
                                        float *loss, ts_tensor *dlogits)
{
    int N, K;
    loss_dims(logits, &N, &K);
    TS_ASSERT(logits->data && labels && weights && loss);
    if (dlogits) TS_ASSERT(dlogits->data && ts_tensor_numel(dlogits) == ts_tensor_numel(logits));
    TS_TRY(check_labels(labels, N, K));
    for (int i = 0; i < N; i++)
        if (!(weights[i] >= 0) || !isfinite(weights[i]))
            return ts_error(TS_ERR_ARG, "softmax cross-entropy: sample %d has weight %g", i, weights[i]);
    /* each row's loss and gradient scaled by its weight; the mean over N */
    double total = 0.0;
    for (int i = 0; i < N; i++)
        total += weights[i] * softmax_row_nll(logits->data + (size_t)i * K, K, labels[i],
                                              dlogits ? dlogits->data + (size_t)i * K : NULL,
                                              (double)weights[i] / N);
    *loss = (float)(total / N);
    return TS_OK;
}

ts_status ts_loss_sigmoid_xent_weighted(const ts_tensor *logits, const ts_tensor *targets, const float *weights,
                                        float *loss, ts_tensor *dlogits)
{
    int N, K;
    loss_dims(logits, &N, &K);
    TS_ASSERT(logits->data && targets && targets->data && weights && loss);
    TS_ASSERT(ts_tensor_numel(targets) == ts_tensor_numel(logits));
    if (dlogits) TS_ASSERT(dlogits->data && ts_tensor_numel(dlogits) == ts_tensor_numel(logits));
    size_t total_n = (size_t)N * K;
    for (size_t i = 0; i < total_n; i++) {
        float t = targets->data[i], w = weights[i];
        if (!(w >= 0) || !isfinite(w))
            return ts_error(TS_ERR_ARG, "sigmoid cross-entropy: sample %zu, output %zu has weight %g", i / K, i % K, w);
        if (w > 0 && !(t >= 0.0f && t <= 1.0f))
            return ts_error(TS_ERR_ARG, "sigmoid cross-entropy: sample %zu, output %zu has target %g outside [0,1]",
                            i / K, i % K, t);
    }
    double total = 0.0;
    for (size_t i = 0; i < total_n; i++) {
        double w = weights[i];
        if (w == 0) {
            if (dlogits) dlogits->data[i] = 0.0f;
            continue;
        }
        double z = logits->data[i], t = targets->data[i];
        total += w * ((z > 0 ? z : 0) - z * t + log1p(exp(-fabs(z))));
        if (dlogits) {
            double s = z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
            dlogits->data[i] = (float)(w * (s - t) / (double)N);
        }
    }
    *loss = (float)(total / (double)N);
    return TS_OK;
}
