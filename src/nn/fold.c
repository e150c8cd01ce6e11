/* fold.c - a model with its batchnorm layers folded into the convolution or
 * fc layer before them (model.h, ts_model_fold_batchnorm).
 *
 * In evaluation a batchnorm is y = s z + t per channel, s = gamma /
 * sqrt(var + eps), t = beta - s mean, of its input z.  When z is a conv2d or
 * fc read by nothing else, y = (s W) x + (s b + t): the pair is one layer
 * with those weights and a bias.  The folded model is rebuilt through the
 * importers' builder (netbuild.h), so its architecture text, shapes and
 * weights are checked like any imported model's, and it keeps the
 * original's metadata (the netbuild metadata pairs).
 */
#include "nn/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/netbuild.h"

int ts_batchnorm_fold_target(const ts_graph *g, int i)
{
    const ts_node *n = &g->nodes[i];
    if (n->op != TS_OP_BATCHNORM) return -1;
    int j = n->inputs[0], readers = 0;
    const ts_node *p = &g->nodes[j];
    if ((p->op != TS_OP_CONV2D && p->op != TS_OP_FC) || j == g->output) return -1;
    for (int k = 1; k < g->n_nodes; k++)
        for (int q = 0; q < g->nodes[k].n_inputs; q++) readers += g->nodes[k].inputs[q] == j;
    return readers == 1 ? j : -1;
}

void ts_batchnorm_fold(int O, size_t per, const float *gamma, const float *beta, const float *mean,
                       const float *var, float eps, float *w, float *b)
{
    for (int o = 0; o < O; o++) {
        double sc = gamma[o] / sqrt((double)var[o] + eps);
        for (size_t q = 0; q < per; q++) w[(size_t)o * per + q] = (float)(sc * w[(size_t)o * per + q]);
        b[o] = (float)(sc * ((double)b[o] - mean[o]) + beta[o]);
    }
}

static float *copy_floats(const float *src, size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (p && n) memcpy(p, src, n * sizeof *p);
    return p;
}

ts_status ts_model_fold_batchnorm(const ts_model *m, ts_model **out, int *folded)
{
    *out = NULL;
    if (folded) *folded = 0;
    const ts_graph *g = m->graph;
    if (g->params.on_device) return ts_error(TS_ERR_ARG, "fold: the model must be on the host");
    const ts_node *in = &g->nodes[0];
    ts_netbuild nb;
    TS_TRY(ts_netbuild_init(&nb, in->c, in->h, in->w));
    int *map = malloc((size_t)g->n_nodes * sizeof *map); /* node of g -> node of nb */
    ts_status st = map ? TS_OK : ts_error(TS_ERR_OOM, "fold: out of memory");
    int count = 0;
    if (map) map[0] = 0;
    for (int i = 1; i < g->n_nodes && st == TS_OK; i++) {
        const ts_node *n = &g->nodes[i];
        if (ts_batchnorm_fold_target(g, i) >= 0) {
            int k = map[n->inputs[0]];
            const ts_node *p = &g->nodes[n->inputs[0]];
            ts_batchnorm_fold(p->out_c, ts_tensor_numel(&p->weight) / (size_t)p->out_c, n->weight.data,
                              n->bias.data, n->run_mean.data, n->run_var.data, n->bn_eps, nb.w[k], nb.b[k]);
            nb.nodes[k].has_bias = 1;
            map[i] = k;
            count++;
            continue;
        }
        int inputs[TS_MAX_INPUTS];
        for (int q = 0; q < n->n_inputs; q++) inputs[q] = map[n->inputs[q]];
        int k = ts_netbuild_add(&nb, n->op, n->name, n->n_inputs, inputs);
        if (k < 0) { /* the builder said why */
            st = TS_ERR_FORMAT;
            break;
        }
        /* the hyper-parameters as they are; inputs and name are nb's */
        ts_node keep = nb.nodes[k];
        nb.nodes[k] = *n;
        memcpy(nb.nodes[k].name, keep.name, sizeof keep.name);
        memcpy(nb.nodes[k].inputs, keep.inputs, sizeof keep.inputs);
        nb.nodes[k].n_inputs = keep.n_inputs;
        map[i] = k;
        if (n->op == TS_OP_CONV2D || n->op == TS_OP_FC) {
            size_t nw = ts_tensor_numel(&n->weight);
            float *w = copy_floats(n->weight.data, nw);
            float *b = n->bias.data ? copy_floats(n->bias.data, (size_t)n->out_c) : calloc((size_t)n->out_c, sizeof *b);
            if (!w || !b) {
                free(w);
                free(b);
                st = ts_error(TS_ERR_OOM, "fold: out of memory");
                break;
            }
            ts_netbuild_set_params(&nb, k, w, (int[4]){ n->weight.n, n->weight.c, n->weight.h, n->weight.w }, b);
        } else if (n->op == TS_OP_BATCHNORM) { /* not foldable: kept (gamma, mean, var; beta) */
            size_t C = (size_t)n->weight.c;
            float *w = malloc(3 * C * sizeof *w), *b = copy_floats(n->bias.data, C);
            if (!w || !b) {
                free(w);
                free(b);
                st = ts_error(TS_ERR_OOM, "fold: out of memory");
                break;
            }
            memcpy(w, n->weight.data, C * sizeof *w);
            memcpy(w + C, n->run_mean.data, C * sizeof *w);
            memcpy(w + 2 * C, n->run_var.data, C * sizeof *w);
            ts_netbuild_set_params(&nb, k, w, (int[4]){ 3, (int)C, 1, 1 }, b);
        }
    }
    if (st == TS_OK) nb.output = map[g->output];
    ts_model *r = NULL;
    if (st == TS_OK) st = ts_netbuild_finish(&nb, m->meta.arch, m->meta.arch, &r);
    char *keys[TS_NETBUILD_META_MAX], *vals[TS_NETBUILD_META_MAX];
    int n_meta = st == TS_OK ? ts_netbuild_meta_pairs(m, keys, vals) : 0;
    for (int k = 0; k < n_meta && st == TS_OK; k++) st = ts_netbuild_meta_apply(r, keys[k], vals[k], m->meta.arch);
    if (n_meta) ts_netbuild_meta_free(keys, vals, n_meta);
    free(map);
    ts_netbuild_clear(&nb);
    if (st != TS_OK) {
        ts_model_free(r);
        return st;
    }
    if (folded) *folded = count;
    *out = r;
    return TS_OK;
}
