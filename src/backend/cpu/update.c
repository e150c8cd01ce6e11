/* update.c - the momentum-SGD step on the CPU (backend.h's sgd, train/sgd.h's
 * form):  v = mu*v - lr*(g + wd*w);  w += v,  element by element.
 *
 * Split over the pool and built with -O3 (cpu/meson.build): AlexNet has 58 M
 * parameters, and one scalar thread spent 35-50 ms a step on them.  Every
 * element is its own formula, so the split changes no bit of the result.
 */
#include "backend/cpu/cpu-ops.h"

typedef struct sgd_job {
    float *w, *v;
    const float *g;
    float lr, mu, wd;
} sgd_job;

static void sgd_range(void *ctx, size_t lo, size_t hi)
{
    const sgd_job *j = ctx;
    float *restrict w = j->w + lo, *restrict v = j->v + lo;
    const float *restrict g = j->g + lo;
    const float lr = j->lr, mu = j->mu, wd = j->wd;
    const size_t n = hi - lo;
    for (size_t i = 0; i < n; i++) {
        float vi = mu * v[i] - lr * (g[i] + wd * w[i]);
        v[i] = vi;
        w[i] += vi;
    }
}

void cpu_sgd(float *w, const float *g, float *v, size_t n, float lr, float mu, float wd)
{
    sgd_job j = { .w = w, .v = v, .g = g, .lr = lr, .mu = mu, .wd = wd };
    cpu_parallel_for(n, 5 * n, sgd_range, &j);
}
