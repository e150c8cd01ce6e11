/* batchnorm.c - batch normalisation on the CPU (graph.h, TS_OP_BATCHNORM).
 *
 * Per channel c, over the M = N*H*W values of the batch:
 *     training    mu = mean x,  v = mean (x - mu)^2  (biased),
 *                 running mean += m (mu - running mean),
 *                 running var  += m (v M/(M-1) - running var)  (unbiased);
 *     evaluation  mu, v = the running ones;
 *     y = gamma (x - mu) r + beta,  r = 1/sqrt(v + eps).
 * aux (1,2,C,1) keeps mu and r of the last training forward for backward:
 *     xh = (x - mu) r,  dgamma += sum dy xh,  dbeta += sum dy,
 *     dx += gamma r (dy - sum dy / M - xh sum(dy xh) / M)
 * (in evaluation mu and r are constants: dx += gamma r dy).
 * The sums run in double, the mean first and the variance about it (no
 * cancellation when the mean is large against the spread).  Channels go to
 * the threads; every channel is N planes of H*W contiguous floats.
 */
#include "backend/cpu/cpu-ops.h"

#include <math.h>

typedef struct bn_job {
    int N, C;
    size_t hw;
    float eps, momentum;
    bool training;
    const float *x, *dy, *gamma, *beta;
    float *y, *dx, *dgamma, *dbeta, *rmean, *rvar, *aux;
} bn_job;

/* Offset of channel c's plane of sample n. */
static size_t plane(const bn_job *j, int n, size_t c) { return ((size_t)n * (size_t)j->C + c) * j->hw; }

/* Evaluation's mean and 1/sqrt(var + eps): the running statistics'. */
static void running(const bn_job *j, size_t c, float *mu, float *r)
{
    *mu = j->rmean[c];
    *r = (float)(1.0 / sqrt((double)j->rvar[c] + j->eps));
}

static void bn_forward_range(void *ctx, size_t lo, size_t hi)
{
    const bn_job *j = ctx;
    const size_t cs = j->hw;
    const double M = (double)j->N * (double)j->hw;
    for (size_t c = lo; c < hi; c++) {
        float mu, r;
        if (j->training) {
            double s = 0.0, q = 0.0;
            for (int n = 0; n < j->N; n++) {
                const float *x = j->x + plane(j, n, c);
                for (size_t i = 0; i < cs; i++) s += x[i];
            }
            double mean = s / M;
            for (int n = 0; n < j->N; n++) {
                const float *x = j->x + plane(j, n, c);
                for (size_t i = 0; i < cs; i++) q += (x[i] - mean) * (x[i] - mean);
            }
            double var = q / M, unbiased = M > 1 ? q / (M - 1) : var;
            mu = (float)mean;
            r = (float)(1.0 / sqrt(var + j->eps));
            j->rmean[c] = (float)(j->rmean[c] + j->momentum * (mean - j->rmean[c]));
            j->rvar[c] = (float)(j->rvar[c] + j->momentum * (unbiased - j->rvar[c]));
        } else {
            running(j, c, &mu, &r);
        }
        if (j->aux) j->aux[c] = mu, j->aux[j->C + c] = r;
        const float a = j->gamma[c] * r, b = j->beta[c] - a * mu;
        for (int n = 0; n < j->N; n++) {
            const float *x = j->x + plane(j, n, c);
            float *y = j->y + plane(j, n, c);
            for (size_t i = 0; i < cs; i++) y[i] = a * x[i] + b;
        }
    }
}

static void bn_backward_range(void *ctx, size_t lo, size_t hi)
{
    const bn_job *j = ctx;
    const size_t cs = j->hw;
    const double M = (double)j->N * (double)j->hw;
    for (size_t c = lo; c < hi; c++) {
        float mu, r;
        if (j->training) mu = j->aux[c], r = j->aux[j->C + c];
        else running(j, c, &mu, &r);
        double sdy = 0.0, sdyx = 0.0;
        for (int n = 0; n < j->N; n++) {
            const float *x = j->x + plane(j, n, c), *dy = j->dy + plane(j, n, c);
            for (size_t i = 0; i < cs; i++) {
                sdy += dy[i];
                sdyx += dy[i] * ((x[i] - mu) * r);
            }
        }
        if (j->dgamma) j->dgamma[c] += (float)sdyx;
        if (j->dbeta) j->dbeta[c] += (float)sdy;
        if (!j->dx) continue;
        const float g = j->gamma[c] * r;
        /* dx += g dy - g sdy/M - g xh sdyx/M, with xh = (x - mu) r */
        const float k0 = j->training ? (float)(sdy / M) : 0.0f;
        const float k1 = j->training ? (float)(sdyx / M) * r : 0.0f;
        for (int n = 0; n < j->N; n++) {
            const float *x = j->x + plane(j, n, c), *dy = j->dy + plane(j, n, c);
            float *dx = j->dx + plane(j, n, c);
            for (size_t i = 0; i < cs; i++) dx[i] += g * (dy[i] - k0 - (x[i] - mu) * k1);
        }
    }
}

static bn_job job_of(const ts_op_args *a)
{
    const ts_tensor *x = a->in[0];
    return (bn_job){
        .N = x->n, .C = x->c, .hw = (size_t)x->h * x->w,
        .eps = a->node->bn_eps, .momentum = a->node->bn_momentum, .training = a->training,
        .x = x->data, .gamma = a->weight->data, .beta = a->bias->data,
        .rmean = a->run_mean->data, .rvar = a->run_var->data,
        .aux = cpu_want(a->aux) ? a->aux->data : NULL,
    };
}

ts_status cpu_batchnorm_forward(const ts_op_args *a)
{
    TS_TRY(ts_check_batchnorm(a));
    bn_job j = job_of(a);
    j.y = a->out->data;
    size_t n = ts_tensor_numel(a->out);
    cpu_parallel_for((size_t)j.C, 3 * n, bn_forward_range, &j);
    return TS_OK;
}

ts_status cpu_batchnorm_backward(const ts_op_args *a)
{
    TS_TRY(ts_check_batchnorm(a));
    bn_job j = job_of(a);
    j.dy = a->dout->data;
    j.dx = cpu_want(a->din[0]) ? a->din[0]->data : NULL;
    j.dgamma = cpu_want(a->dweight) ? a->dweight->data : NULL;
    j.dbeta = cpu_want(a->dbias) ? a->dbias->data : NULL;
    size_t n = ts_tensor_numel(a->out);
    cpu_parallel_for((size_t)j.C, 4 * n, bn_backward_range, &j);
    return TS_OK;
}

ts_status cpu_batchnorm_relevance(const ts_op_args *a)
{
    TS_TRY(ts_check_batchnorm(a));
    const bn_job j = job_of(a);
    for (size_t c = 0; c < (size_t)j.C; c++) {
        float mu, r;
        running(&j, c, &mu, &r);
        const float s = j.gamma[c] * r;
        for (int n = 0; n < j.N; n++) {
            size_t o = plane(&j, n, c);
            const float *x = j.x + o, *y = a->out->data + o, *R = a->dout->data + o;
            float *Rin = a->din[0]->data + o;
            for (size_t i = 0; i < j.hw; i++) {
                float z = y[i] + (y[i] >= 0.0f ? 1e-6f : -1e-6f);
                Rin[i] += s * x[i] / z * R[i];
            }
        }
    }
    return TS_OK;
}
