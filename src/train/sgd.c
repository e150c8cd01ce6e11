/* sgd.c - SGD with momentum, weight decay and the step policy; see sgd.h.
 *
 * The update walks the graph's parameter tensors (not the raw arena) so that
 * weights and biases get their own multipliers; the momentum of tensor T
 * sits at the same offset in s->state as T in g->params.
 */
#include "train/sgd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"

ts_sgd_config ts_sgd_config_default(void)
{
    return (ts_sgd_config){
        .base_lr = 0.01f,
        .momentum = 0.9f,
        .weight_decay = 5e-4f,
        .gamma = 0.1f,
        .stepsize = 0,
        .weight_lr_mult = 1.0f,
        .weight_decay_mult = 1.0f,
        .bias_lr_mult = 2.0f,
        .bias_decay_mult = 0.0f,
    };
}

float ts_sgd_lr(const ts_sgd_config *cfg, uint64_t iter)
{
    if (cfg->warmup_iters > 0) {
        if (iter < (uint64_t)cfg->warmup_iters) return (float)(cfg->base_lr * (double)(iter + 1) / cfg->warmup_iters);
        iter -= (uint64_t)cfg->warmup_iters;
    }
    if (cfg->cosine_iters > 0) {
        double t = iter < (uint64_t)cfg->cosine_iters ? (double)iter : (double)cfg->cosine_iters;
        return (float)(cfg->base_lr * 0.5 * (1.0 + cos(M_PI * t / (double)cfg->cosine_iters)));
    }
    if (cfg->stepsize <= 0) return cfg->base_lr;
    /* Integer exponent: pow with a double keeps 0.1^k as Caffe computes it. */
    uint64_t k = iter / (uint64_t)cfg->stepsize;
    return (float)(cfg->base_lr * pow((double)cfg->gamma, (double)k));
}

ts_status ts_sgd_init(ts_sgd *s, const ts_graph *g, const ts_sgd_config *cfg)
{
    memset(s, 0, sizeof *s);
    if (!(cfg->base_lr > 0) || !isfinite(cfg->base_lr))
        return ts_error(TS_ERR_ARG, "sgd: learning rate must be > 0 (got %g)", cfg->base_lr);
    if (!(cfg->momentum >= 0 && cfg->momentum < 1))
        return ts_error(TS_ERR_ARG, "sgd: momentum must be in [0,1) (got %g)", cfg->momentum);
    if (!(cfg->weight_decay >= 0) || !isfinite(cfg->weight_decay))
        return ts_error(TS_ERR_ARG, "sgd: weight decay must be >= 0 (got %g)", cfg->weight_decay);
    if (cfg->stepsize < 0 || (cfg->stepsize > 0 && !(cfg->gamma > 0 && cfg->gamma <= 1)))
        return ts_error(TS_ERR_ARG, "sgd: step policy needs stepsize >= 0 and gamma in (0,1] (got %d, %g)",
                        cfg->stepsize, cfg->gamma);
    if (cfg->cosine_iters < 0 || cfg->warmup_iters < 0)
        return ts_error(TS_ERR_ARG, "sgd: cosine and warm-up iterations must be >= 0");
    s->cfg = *cfg;
    s->be = ts_graph_backend(g, &s->ctx);
    size_t n = g->params.used;
    /* arenas start zeroed on every backend */
    TS_TRY(s->be->mem.arena_init(s->ctx, &s->state, n));
    s->state.used = n;
    return TS_OK;
}

void ts_sgd_clear(ts_sgd *s)
{
    if (!s) return;
    if (s->be && s->state.block) s->be->mem.arena_clear(s->ctx, &s->state);
    memset(s, 0, sizeof *s);
}

ts_status ts_sgd_step(ts_sgd *s, ts_graph *g)
{
    TS_ASSERT(s->state.used == g->params.used);
    void *ctx;
    if (ts_graph_backend(g, &ctx) != s->be || ctx != s->ctx)
        return ts_error(TS_ERR_ARG, "sgd: the network moved to another backend after its optimizer was made");
    const ts_backend *be = s->be;
    size_t total = g->params.used;
    const ts_sgd_config *c = &s->cfg;
    float lr = ts_sgd_lr(c, s->iter);
    for (int i = 1; i < g->n_nodes; i++) {
        const ts_node *n = &g->nodes[i];
        const ts_tensor *p[2] = { &n->weight, &n->bias };
        const float lr_mult[2] = { c->weight_lr_mult, c->bias_lr_mult };
        const float wd_mult[2] = { c->weight_decay_mult, c->bias_decay_mult };
        for (int k = 0; k < 2; k++) {
            if (!p[k]->data) continue;
            size_t off = (size_t)(p[k]->data - g->params.base);
            size_t len = ts_tensor_numel(p[k]);
            TS_ASSERT(off + len <= total);
            TS_TRY(be->sgd(s->ctx, g->params.base + off, g->grads.base + off, s->state.base + off, len,
                           lr * lr_mult[k], c->momentum, c->weight_decay * wd_mult[k]));
        }
    }
    s->iter++;
    return TS_OK;
}

ts_status ts_sgd_state_read(const ts_sgd *s, float *host)
{
    return s->be->mem.download(s->ctx, host, s->state.base, s->state.used);
}

ts_status ts_sgd_state_write(ts_sgd *s, const float *host)
{
    return s->be->mem.upload(s->ctx, s->state.base, host, s->state.used);
}
