/* soup.c - the average of several trained models' parameters (model.h,
 * ts_model_average): a "model soup" (Wortsman et al., ICML 2022) of runs
 * fine-tuned from one starting point, or the weights of one run's last
 * epochs (stochastic weight averaging).  Averaging is only meaningful for
 * models that share a loss basin, which is the caller's choice (the CLI's
 * `soup` keeps a member only if the validation split says the average got
 * no worse); here it is checked only that the models are alike: the same
 * architecture text, input, outputs and preprocessing, and the same
 * tensors with the same shapes.  Batchnorm running statistics are averaged
 * like any other tensor (a mean of positive variances stays positive).
 */
#include "nn/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *or_empty(const char *s) { return s ? s : ""; }

const char *ts_model_unlike(const ts_model *a, const ts_model *b)
{
    const ts_model_meta *x = &a->meta, *y = &b->meta;
    if (x->in_channels != y->in_channels || x->in_size != y->in_size) return "another input (channels or size)";
    if (strcmp(or_empty(x->arch_text), or_empty(y->arch_text)) != 0) return "another architecture";
    if (x->n_classes != y->n_classes) return "another number of outputs";
    for (int i = 0; i < x->n_classes; i++)
        if (strcmp(x->classes[i], y->classes[i]) != 0) return "other output names";
    if (strcmp(or_empty(x->trait), or_empty(y->trait)) != 0) return "other traits";
    if (memcmp(x->mean, y->mean, sizeof x->mean) != 0 || memcmp(x->std, y->std, sizeof x->std) != 0)
        return "another input normalisation";
    if (x->landmarks != y->landmarks || x->alignment != y->alignment ||
        strcmp(or_empty(x->amap_encoding), or_empty(y->amap_encoding)) != 0)
        return "another face preparation (landmarks, alignment or A(x,y) encoding)";
    return NULL;
}

ts_status ts_model_average(ts_model *m, const ts_model *const *others, int n, const char *name,
                           const char *const *names)
{
    if (m->graph->params.on_device) return ts_error(TS_ERR_ARG, "%s: soup: the model must be on the host", name);
    for (int k = 0; k < n; k++) {
        const char *why = ts_model_unlike(m, others[k]);
        if (why) return ts_error(TS_ERR_ARG, "%s: cannot be averaged with %s: %s", names[k], name, why);
        if (others[k]->graph->params.on_device)
            return ts_error(TS_ERR_ARG, "%s: soup: the model must be on the host", names[k]);
    }
    int nt = ts_model_tensors(m, NULL, 0);
    ts_model_tensor *ts = calloc((size_t)(n + 1) * (size_t)(nt + 1), sizeof *ts);
    if (!ts) return ts_error(TS_ERR_OOM, "%s: soup: out of memory", name);
    ts_model_tensors(m, ts, nt);
    ts_status st = TS_OK;
    for (int k = 0; k < n && st == TS_OK; k++) {
        ts_model_tensor *o = ts + (size_t)(k + 1) * (size_t)(nt + 1);
        int no = ts_model_tensors(others[k], NULL, 0);
        if (no != nt) {
            st = ts_error(TS_ERR_ARG, "%s: cannot be averaged with %s: %d tensors, not %d", names[k], name, no, nt);
            break;
        }
        ts_model_tensors(others[k], o, nt);
        for (int i = 0; i < nt && st == TS_OK; i++)
            if (strcmp(o[i].name, ts[i].name) != 0 || o[i].ndim != ts[i].ndim ||
                memcmp(o[i].shape, ts[i].shape, sizeof o[i].shape) != 0 ||
                ts_tensor_numel(o[i].t) != ts_tensor_numel(ts[i].t))
                st = ts_error(TS_ERR_ARG, "%s: cannot be averaged with %s: tensor %d is '%s', not '%s' of the same shape",
                              names[k], name, i + 1, o[i].name, ts[i].name);
    }
    /* Checked first, changed after: on an error m is as it was. */
    for (int i = 0; i < nt && st == TS_OK; i++) {
        float *dst = ts[i].t->data;
        size_t len = ts_tensor_numel(ts[i].t);
        for (size_t j = 0; j < len; j++) {
            double sum = dst[j];
            for (int k = 0; k < n; k++) sum += ts[(size_t)(k + 1) * (size_t)(nt + 1) + (size_t)i].t->data[j];
            dst[j] = (float)(sum / (n + 1));
        }
    }
    free(ts);
    if (st == TS_OK) m->meta.hash[0] = '\0'; /* no longer the file's */
    return st;
}
