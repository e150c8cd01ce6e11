/* activation.c - element-wise activations on the CPU: relu (and ReLU6), leaky_relu.
 *
 *   relu:        y = max(x, 0);            dx += dy * [x > 0]
 *   relu, clip c > 0 (ReLU6): y = min(max(x, 0), c);  dx += dy * [0 < x < c]
 *   leaky_relu:  y = x > 0 ? x : slope*x;  dx += dy * (x > 0 ? 1 : slope)
 * The gradient at exactly 0 is taken as 0 (relu) / slope (leaky), and at
 * exactly c as 0, as in Caffe and PyTorch (hardtanh).  Shapes of input and output must be equal.
 * A fresh dx (args->din_fresh: the runner did not zero it) is written, dx =
 * dy * ..., rather than added to.
 */
#include "backend/cpu/cpu-ops.h"

static ts_status act_check(const ts_op_args *a) { return ts_check_activation(a); }

/* One element-wise kernel for the six loops; `kind` picks the formula. */
enum { ACT_RELU_F, ACT_RELU_B, ACT_LEAKY_F, ACT_LEAKY_B, ACT_CLIP_F, ACT_CLIP_B };

typedef struct act_job {
    int kind;
    int fresh; /* backward: dx = rather than dx += */
    float slope, clip;
    const float *x, *dy;
    float *out; /* y (forward) or dx (backward, accumulated) */
} act_job;

/* Branch-free selects over restrict pointers, so that the compiler turns
 * each loop into vector compares and blends (cpu/meson.build builds this
 * file with -O3): a branch on the sign of trained activations is a coin
 * toss, and mispredicting it made ReLU cost as much as a convolution. */
static void act_range(void *ctx, size_t lo, size_t hi)
{
    const act_job *j = ctx;
    const float *restrict x = j->x + lo, *restrict dy = j->dy ? j->dy + lo : NULL;
    float *restrict o = j->out + lo;
    const float s = j->slope, c = j->clip;
    const size_t n = hi - lo;
    switch (j->kind) {
    case ACT_RELU_F:
        for (size_t i = 0; i < n; i++) o[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case ACT_RELU_B:
        if (j->fresh)
            for (size_t i = 0; i < n; i++) {
                const float d = dy[i]; /* loaded unconditionally: the select stays a blend */
                o[i] = x[i] > 0.0f ? d : 0.0f;
            }
        else
            for (size_t i = 0; i < n; i++) {
                const float d = dy[i];
                o[i] += x[i] > 0.0f ? d : 0.0f;
            }
        break;
    case ACT_LEAKY_F:
        for (size_t i = 0; i < n; i++) o[i] = x[i] > 0.0f ? x[i] : s * x[i];
        break;
    case ACT_LEAKY_B:
        if (j->fresh)
            for (size_t i = 0; i < n; i++) {
                const float d = dy[i];
                o[i] = x[i] > 0.0f ? d : s * d;
            }
        else
            for (size_t i = 0; i < n; i++) {
                const float d = dy[i];
                o[i] += x[i] > 0.0f ? d : s * d;
            }
        break;
    case ACT_CLIP_F:
        for (size_t i = 0; i < n; i++) {
            float v = x[i] < c ? x[i] : c;
            o[i] = x[i] > 0.0f ? v : 0.0f;
        }
        break;
    case ACT_CLIP_B:
        if (j->fresh)
            for (size_t i = 0; i < n; i++) {
                const float d = dy[i], v = x[i];
                o[i] = (v > 0.0f) & (v < c) ? d : 0.0f;
            }
        else
            for (size_t i = 0; i < n; i++) {
                const float d = dy[i], v = x[i];
                o[i] += (v > 0.0f) & (v < c) ? d : 0.0f;
            }
        break;
    }
}

static ts_status act_run(const ts_op_args *a, int kind)
{
    TS_TRY(act_check(a));
    if (a->node->op == TS_OP_RELU && a->node->clip > 0.0f) kind = kind == ACT_RELU_F ? ACT_CLIP_F : ACT_CLIP_B;
    int backward = kind == ACT_RELU_B || kind == ACT_LEAKY_B || kind == ACT_CLIP_B;
    if (backward && !cpu_want(a->din[0])) return TS_OK;
    act_job j = {
        .kind = kind,
        .fresh = backward && a->din_fresh[0],
        .slope = a->node->slope,
        .clip = a->node->clip,
        .x = a->in[0]->data,
        .dy = backward ? a->dout->data : NULL,
        .out = backward ? a->din[0]->data : a->out->data,
    };
    size_t n = ts_tensor_numel(a->out);
    cpu_parallel_for(n, n * (backward ? 3 : 2), act_range, &j);
    return TS_OK;
}

ts_status cpu_relu_forward(const ts_op_args *a) { return act_run(a, ACT_RELU_F); }
ts_status cpu_relu_backward(const ts_op_args *a) { return act_run(a, ACT_RELU_B); }
ts_status cpu_leaky_relu_forward(const ts_op_args *a) { return act_run(a, ACT_LEAKY_F); }
ts_status cpu_leaky_relu_backward(const ts_op_args *a) { return act_run(a, ACT_LEAKY_B); }
