/* aopc.c - pixel flipping (MoRF and random order) and AOPC; see aopc.h for
 * the procedure (Samek et al. 2017) and the choices that change numbers.
 *
 * Invariant: the graph sees copies only; the caller's input is never
 * modified.  Scores come from forward passes in inference mode of up to
 * o->batch perturbed inputs at a time, built incrementally (step k is step
 * k-1 with one more region replaced).
 */
#include "explain/aopc.h"

#include "backend/backend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ts_flip_opts_defaults(ts_flip_opts *o)
{
    if (o->patch <= 0) o->patch = 9;
    if (o->steps <= 0) o->steps = 100;
    if (o->batch <= 0) o->batch = 16;
}

void ts_flip_curve_clear(ts_flip_curve *c)
{
    if (!c) return;
    free(c->morf);
    free(c->random);
    memset(c, 0, sizeof *c);
}

double ts_flip_aopc(const float *score, int steps)
{
    double s = 0;
    for (int k = 0; k <= steps; k++) s += (double)score[0] - score[k];
    return s / (steps + 1);
}

typedef struct region {
    int x0, y0, x1, y1; /* [x0,x1) x [y0,y1) */
    double score;
    int index;
} region;

static int by_score_desc(const void *a, const void *b)
{
    const region *ra = a, *rb = b;
    if (ra->score > rb->score) return -1;
    if (ra->score < rb->score) return 1;
    return ra->index - rb->index; /* stable */
}

/* Scores of `steps` + 1 inputs: x with the first k regions of `order`
 * replaced by `fill`, k = 0..steps. */
static ts_status run_order(ts_graph *g, const float *x, const float *fill, int C, int H, int W,
                           int channels, const region *order, int steps, int target, int batch,
                           float *score)
{
    size_t per = (size_t)C * H * W;
    float *buf = malloc(per * (size_t)batch * sizeof(float));
    float *cur = malloc(per * sizeof(float));
    if (!buf || !cur) {
        free(buf), free(cur);
        return ts_error(TS_ERR_OOM, "pixel flipping: %d inputs of %zu floats", batch, per);
    }
    memcpy(cur, x, per * sizeof(float));
    bool training = g->training;
    g->training = false;
    ts_status st = TS_OK;
    int done = 0; /* scores written */
    while (done <= steps && st == TS_OK) {
        int nb = steps + 1 - done < batch ? steps + 1 - done : batch;
        for (int s = 0; s < nb; s++) {
            int k = done + s;
            if (k > 0) {
                const region *r = &order[k - 1];
                for (int c = 0; c < channels; c++)
                    for (int y = r->y0; y < r->y1; y++) {
                        size_t off = ((size_t)c * H + y) * W;
                        memcpy(cur + off + r->x0, fill + off + r->x0,
                               (size_t)(r->x1 - r->x0) * sizeof(float));
                    }
            }
            memcpy(buf + (size_t)s * per, cur, per * sizeof(float));
        }
        ts_tensor in = { buf, nb, C, H, W };
        st = ts_graph_forward(g, &in);
        if (st != TS_OK) break;
        const ts_node *out = &g->nodes[g->output];
        size_t K = (size_t)out->c * out->h * out->w;
        /* the target logits to the host (the graph may run on a GPU) */
        for (int s = 0; s < nb && st == TS_OK; s++)
            st = ts_graph_read(g, out->out.data + (size_t)s * K + target, &score[done + s], 1);
        if (st != TS_OK) break;
        done += nb;
    }
    g->training = training;
    free(buf);
    free(cur);
    return st;
}

ts_status ts_flip_image(ts_graph *g, const ts_tensor *input, int n, const float *heat, int target,
                        const ts_flip_opts *opts, ts_flip_curve *curve)
{
    memset(curve, 0, sizeof *curve);
    ts_flip_opts o = *opts;
    ts_flip_opts_defaults(&o);
    int C = input->c, H = input->h, W = input->w;
    TS_ASSERT(n >= 0 && n < input->n);
    const ts_node *out = &g->nodes[g->output];
    int K = out->c * out->h * out->w;
    if (target < 0 || target >= K)
        return ts_error(TS_ERR_ARG, "pixel flipping: target class %d out of range (%d outputs)", target, K);
    if (o.patch > H || o.patch > W)
        return ts_error(TS_ERR_ARG, "pixel flipping: patch %d larger than the %dx%d input", o.patch, W, H);
    int channels = o.channels > 0 && o.channels < C ? o.channels : C;
    if (o.fill == TS_FLIP_UNIFORM && o.n_bounds != 0 && o.n_bounds < channels)
        return ts_error(TS_ERR_ARG, "pixel flipping: bounds for %d channels, %d flipped", o.n_bounds,
                        channels);
    if (channels > TS_FLIP_MAX_CHANNELS && o.n_bounds)
        return ts_error(TS_ERR_ARG, "pixel flipping: at most %d channels", TS_FLIP_MAX_CHANNELS);

    int gx = (W + o.patch - 1) / o.patch, gy = (H + o.patch - 1) / o.patch;
    int nreg = gx * gy;
    int steps = o.steps < nreg ? o.steps : nreg;
    size_t per = (size_t)C * H * W;
    const float *x = input->data + (size_t)n * per;
    region *morf = malloc((size_t)nreg * sizeof *morf);
    region *rnd = malloc((size_t)nreg * sizeof *rnd);
    float *fill = malloc(per * sizeof(float));
    curve->morf = malloc((size_t)(steps + 1) * sizeof(float));
    curve->random = malloc((size_t)(steps + 1) * sizeof(float));
    ts_status st = TS_OK;
    if (!morf || !rnd || !fill || !curve->morf || !curve->random) {
        st = ts_error(TS_ERR_OOM, "pixel flipping: %d regions", nreg);
        goto done;
    }
    curve->steps = steps;

    for (int ry = 0; ry < gy; ry++)
        for (int rx = 0; rx < gx; rx++) {
            region *r = &morf[ry * gx + rx];
            r->x0 = rx * o.patch, r->y0 = ry * o.patch;
            r->x1 = r->x0 + o.patch < W ? r->x0 + o.patch : W;
            r->y1 = r->y0 + o.patch < H ? r->y0 + o.patch : H;
            r->index = ry * gx + rx;
            double s = 0;
            for (int y = r->y0; y < r->y1; y++)
                for (int xx = r->x0; xx < r->x1; xx++) s += heat[(size_t)y * W + xx];
            r->score = s;
        }
    memcpy(rnd, morf, (size_t)nreg * sizeof *rnd);
    qsort(morf, (size_t)nreg, sizeof *morf, by_score_desc);

    ts_rng rng;
    ts_rng_seed(&rng, o.seed ^ (0x51ed270b27a5c1dfull * (uint64_t)(n + 1)));
    for (int k = nreg - 1; k > 0; k--) {
        int j = (int)(ts_rng_next(&rng) % (uint64_t)(k + 1));
        region t = rnd[k];
        rnd[k] = rnd[j];
        rnd[j] = t;
    }
    size_t hw = (size_t)H * W;
    for (int c = 0; c < C; c++) {
        float *f = fill + c * hw;
        const float *xc = x + c * hw;
        if (o.fill == TS_FLIP_MEAN) {
            double m = 0;
            for (size_t q = 0; q < hw; q++) m += xc[q];
            for (size_t q = 0; q < hw; q++) f[q] = (float)(m / (double)hw);
        } else {
            float lo = o.n_bounds ? o.low[c < o.n_bounds ? c : 0] : -1.0f;
            float hi = o.n_bounds ? o.high[c < o.n_bounds ? c : 0] : 1.0f;
            for (size_t q = 0; q < hw; q++) f[q] = lo + (hi - lo) * ts_rng_uniform(&rng);
        }
    }
    st = run_order(g, x, fill, C, H, W, channels, morf, steps, target, o.batch, curve->morf);
    if (st == TS_OK)
        st = run_order(g, x, fill, C, H, W, channels, rnd, steps, target, o.batch, curve->random);
    if (st == TS_OK) {
        curve->aopc_morf = ts_flip_aopc(curve->morf, steps);
        curve->aopc_random = ts_flip_aopc(curve->random, steps);
    }
done:
    free(morf);
    free(rnd);
    free(fill);
    if (st != TS_OK) ts_flip_curve_clear(curve);
    return st;
}

ts_status ts_flip_batch(ts_graph *g, const ts_tensor *input, const float *heat, const int *targets,
                        const ts_flip_opts *o, ts_flip_curve *curves, double *mean_morf,
                        double *mean_random)
{
    double sm = 0, sr = 0;
    size_t hw = (size_t)input->h * input->w;
    for (int n = 0; n < input->n; n++) {
        ts_status st = ts_flip_image(g, input, n, heat + (size_t)n * hw, targets[n], o, &curves[n]);
        if (st != TS_OK) {
            for (int k = 0; k < n; k++) ts_flip_curve_clear(&curves[k]);
            return ts_error_prefix(st, "sample %d: ", n);
        }
        sm += curves[n].aopc_morf;
        sr += curves[n].aopc_random;
    }
    if (mean_morf) *mean_morf = input->n ? sm / input->n : 0;
    if (mean_random) *mean_random = input->n ? sr / input->n : 0;
    return TS_OK;
}
