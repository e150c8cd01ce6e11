/* relu-body.h - per-element bodies of relu.cu (body.h): relu and
 * leaky_relu (backend/cpu/activation.c is the reference).
 *   relu:   y = x > 0 ? x : 0            dx += x > 0 ? dy : 0
 *   leaky:  y = x > 0 ? x : slope * x    dx += x > 0 ? dy : slope * dy
 *   clip c > 0 (relu's ReLU6, graph.h):
 *           y = x > 0 ? (x < c ? x : c) : 0    dx += 0 < x < c ? dy : 0
 * relu returns the constant 0, never 0 * x: relu(-inf) and relu(NaN) are 0
 * and a negative input gives +0, as on the CPU (issue 14, finding 9). */
#ifndef TS_RELU_BODY_H
#define TS_RELU_BODY_H

#include "body.h"

TS_BODY void relu_forward_at(size_t i, const float *x, float *y) { y[i] = x[i] > 0.0f ? x[i] : 0.0f; }

TS_BODY void leaky_relu_forward_at(size_t i, const float *x, float *y, float slope)
{
    y[i] = x[i] > 0.0f ? x[i] : slope * x[i];
}

TS_BODY void relu_backward_at(size_t i, const float *x, const float *dy, float *dx)
{
    dx[i] += x[i] > 0.0f ? dy[i] : 0.0f;
}

TS_BODY void leaky_relu_backward_at(size_t i, const float *x, const float *dy, float *dx, float slope)
{
    dx[i] += x[i] > 0.0f ? dy[i] : slope * dy[i];
}

TS_BODY void relu_clip_forward_at(size_t i, const float *x, float *y, float clip)
{
    y[i] = x[i] > 0.0f ? (x[i] < clip ? x[i] : clip) : 0.0f;
}

TS_BODY void relu_clip_backward_at(size_t i, const float *x, const float *dy, float *dx, float clip)
{
    dx[i] += x[i] > 0.0f && x[i] < clip ? dy[i] : 0.0f;
}

#endif
