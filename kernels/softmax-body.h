/* softmax-body.h - per-row body of softmax.cu (body.h): row r of logits
 * (N,K) into probs, exactly as nn/loss.h's ts_softmax (nn/loss.c):
 * the row maximum subtracted, exponentials and their sum in double, each
 * probability stored as float and divided by the sum.  One thread per row:
 * our rows are a model's classes (2 to a few dozen), where a block-wide
 * reduction would idle most of its threads. */
#ifndef TS_SOFTMAX_BODY_H
#define TS_SOFTMAX_BODY_H

#include "body.h"

TS_BODY void softmax_row_at(size_t r, const float *logits, float *probs, int K)
{
    const float *z = logits + r * (size_t)K;
    float *p = probs + r * (size_t)K;
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

#endif
