/* eval.c - accuracy, intervals, McNemar, and running a model over a set of
 * faces; see eval.h for the statistics and the choice of images.
 *
 * Prediction keeps the batch size fixed (the last batch is padded with
 * copies of its last sample, whose outputs are ignored) so the graph's
 * activation arena is sized once.
 */
#include "train/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "data/split.h"
#include "data/traits.h"
#include "nn/fileio.h"
#include "nn/loss.h"
#include "train/sample.h"

void ts_wilson_interval(int k, int n, double z, double *lo, double *hi)
{
    if (n <= 0) {
        *lo = 0;
        *hi = 1;
        return;
    }
    double p = (double)k / n, z2 = z * z;
    double denom = 1 + z2 / n;
    double centre = (p + z2 / (2.0 * n)) / denom;
    double half = z / denom * sqrt(p * (1 - p) / n + z2 / (4.0 * n * n));
    *lo = fmax(0.0, centre - half);
    *hi = fmin(1.0, centre + half);
}

/* log C(n, k) */
static double log_choose(int n, int k) { return lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0); }

void ts_mcnemar_test(int b, int c, ts_mcnemar *out)
{
    memset(out, 0, sizeof *out);
    out->b = b;
    out->c = c;
    int n = b + c;
    if (n == 0) {
        out->p = 1;
        out->exact = true;
        return;
    }
    if (n < 25) {
        int k = b < c ? b : c;
        double sum = 0;
        for (int i = 0; i <= k; i++) sum += exp(log_choose(n, i) - n * log(2.0));
        out->p = fmin(1.0, 2 * sum);
        out->exact = true;
    } else {
        double d = fabs((double)b - c) - 1;
        if (d < 0) d = 0;
        out->statistic = d * d / n;
        out->p = erfc(sqrt(out->statistic / 2));
        out->exact = false;
    }
}

static cJSON *training_json(const ts_model *m)
{
    return m->meta.training ? cJSON_Parse(m->meta.training) : NULL;
}

bool ts_model_is_multilabel(const ts_model *m) { return ts_model_multilabel(m); }

int ts_model_training_limit(const ts_model *m)
{
    cJSON *j = training_json(m);
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(j, "limit");
    int v = cJSON_IsNumber(l) && l->valuedouble >= 0 && l->valuedouble < 2e9 ? (int)l->valuedouble : -1;
    cJSON_Delete(j);
    return v;
}

static ts_status predict(ts_model *m, const ts_faceset *fs, bool oversample, int batch, bool clip, int part,
                         int parts, float *probs, ts_faceset_progress_fn progress, ts_faceset_abort_fn should_abort,
                         void *user);

ts_status ts_eval_predict(ts_model *m, const ts_faceset *fs, bool oversample, int batch, float *probs,
                          ts_faceset_progress_fn progress, ts_faceset_abort_fn should_abort, void *user)
{
    return predict(m, fs, oversample, batch, true, 0, 1, probs, progress, should_abort, user);
}

ts_status ts_eval_predict_part(ts_model *m, const ts_faceset *fs, bool oversample, int batch, int part, int parts,
                               float *probs, ts_faceset_progress_fn progress, ts_faceset_abort_fn should_abort,
                               void *user)
{
    return predict(m, fs, oversample, batch, true, part, parts, probs, progress, should_abort, user);
}

/* clip: a set smaller than a batch runs as one batch of its size; without,
 * the batch keeps its size (padded), as a block of a larger set must to
 * give that set's numbers (ts_eval_run's shards). */
static ts_status predict(ts_model *m, const ts_faceset *fs, bool oversample, int batch, bool clip, int part,
                         int parts, float *probs, ts_faceset_progress_fn progress, ts_faceset_abort_fn should_abort,
                         void *user)
{
    TS_ASSERT(parts >= 1 && part >= 0 && part < parts);
    const int S = m->meta.in_size, C = m->meta.in_channels, K = m->meta.n_classes;
    if (fs->size != S)
        return ts_error(TS_ERR_SHAPE, "eval: faces prepared at %d pixels, the model takes %d", fs->size, S);
    if (C == 4 && !fs->landmarks) return ts_error(TS_ERR_ARG, "eval: a LACNN model needs landmarks");
    const bool sigmoid = ts_model_is_multilabel(m);
    const int V = oversample ? TS_OVERSAMPLE_CROPS : 1;
    ts_view views[TS_OVERSAMPLE_CROPS];
    if (oversample) ts_view_ten_crops(views);
    else views[0] = ts_view_identity();
    const long total = (long)fs->n * V;
    int B = batch > 0 ? batch : 50;
    if (clip && B > total) B = (int)total;
    const size_t one = (size_t)C * S * S;
    float *x = malloc((size_t)B * one * sizeof(float));
    float *p = malloc((size_t)B * K * sizeof(float));
    if (!x || !p) {
        free(x);
        free(p);
        return ts_error(TS_ERR_OOM, "eval: out of memory for a batch of %d", B);
    }
    memset(probs, 0, (size_t)fs->n * K * sizeof *probs);
    ts_graph *g = m->graph;
    bool was_training = g->training;
    g->training = false;
    ts_status st = TS_OK;
    const uint64_t step0 = g->step;
    long done = 0;
    for (long start = (long)part * B; start < total && st == TS_OK; start += (long)B * parts) {
        int real = (int)(total - start < B ? total - start : B);
        for (int i = 0; i < B && st == TS_OK; i++) {
            long k = start + (i < real ? i : real - 1);
            int f = (int)(k / V);
            ts_tensor t = { x + (size_t)i * one, 1, C, S, S };
            st = ts_sample_make(m, &fs->base[f], fs->landmarks ? &fs->pts[f] : NULL, &views[k % V], &t);
        }
        if (st != TS_OK) break;
        ts_tensor in = { x, B, C, S, S };
        st = ts_graph_forward(g, &in);
        if (st != TS_OK) break;
        const ts_node *o = &g->nodes[g->output];
        ts_tensor logits = { o->out.data, B, K, 1, 1 }, pr = { p, B, K, 1, 1 };
        if (g->acts.on_device) {
            st = ts_graph_read(g, o->out.data, p, (size_t)B * K);
            if (st != TS_OK) break;
            logits.data = p;
        }
        if (sigmoid)
            for (size_t i = 0; i < (size_t)B * K; i++) p[i] = 1.0f / (1.0f + expf(-logits.data[i]));
        else
            ts_softmax(&logits, &pr);
        for (int i = 0; i < real; i++) {
            long k = start + i;
            float *dst = probs + (size_t)(k / V) * K;
            for (int c = 0; c < K; c++) dst[c] += p[(size_t)i * K + c] / V;
        }
        done += real;
        /* A part reports its share scaled to the whole (an estimate; part 0,
         * which the front ends show, has the most batches and ends at n). */
        long shown = parts > 1 ? done * parts / V : (start + real) / V;
        if (progress) progress((int)(shown < fs->n ? shown : fs->n), fs->n, user);
        if (should_abort && should_abort(user)) st = ts_error(TS_CANCELLED, "eval: cancelled");
    }
    if (st == TS_OK) g->step = step0 + (uint64_t)((total + B - 1) / B);
    g->training = was_training;
    free(x);
    free(p);
    return st;
}

/* The model's trait names ("gender" or "a,b,c") split into out. */
static int model_traits(const ts_model *m, char names[][64], int max)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", m->meta.trait ? m->meta.trait : "");
    int n = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t && n < max; t = strtok_r(NULL, ",", &save))
        snprintf(names[n++], 64, "%s", t);
    return n;
}

bool ts_eval_split_parse(const char *name, ts_eval_split *out)
{
    static const char *const names[] = { "test", "val", "all" };
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, names[i])) {
            *out = (ts_eval_split)i;
            return true;
        }
    return false;
}

const char *ts_eval_split_name(ts_eval_split s)
{
    return s == TS_EVAL_VAL ? "val" : s == TS_EVAL_ALL ? "all" : "test";
}

ts_status ts_eval_rows(const ts_model *m, const ts_dataset *ds, ts_eval_split split, int **rows, int *n)
{
    char names[TS_EVAL_MAX_TRAITS][64];
    int nt = model_traits(m, names, TS_EVAL_MAX_TRAITS);
    return ts_eval_rows_of(m, ds, split, (const char(*)[64])names, nt, rows, n);
}

/* The validation rows of split s, as the training run carved them with the
 * recorded fraction (sp: the model's "split" object). */
static ts_status validation_rows(const ts_split *s, const ts_dataset *ds, const cJSON *sp, int **rows, int *n)
{
    const cJSON *vf = cJSON_GetObjectItemCaseSensitive(sp, "val_fraction");
    if (!cJSON_IsNumber(vf) || !(vf->valuedouble > 0))
        return ts_error(TS_ERR_ARG, "eval: the model's training run held out no validation split; use --split test");
    const ts_trait *tr = ts_dataset_trait(ds, s->trait ? s->trait : "");
    if (!tr) return ts_error(TS_ERR_ARG, "eval: --split val: the data lacks the split's trait '%s'", s->trait ? s->trait : "");
    int *rest = NULL, n_rest = 0;
    TS_TRY(ts_split_carve(s, tr, vf->valuedouble, s->seed, &rest, &n_rest, rows, n));
    free(rest);
    return TS_OK;
}

ts_status ts_eval_rows_of(const ts_model *m, const ts_dataset *ds, ts_eval_split split, const char (*names)[64], int nt,
                          int **rows, int *n)
{
    *rows = NULL;
    *n = 0;
    if (nt == 0) return ts_error(TS_ERR_ARG, "eval: the model names no trait");
    if (split == TS_EVAL_ALL) {
        int *r = malloc((size_t)(ds->n_rows ? ds->n_rows : 1) * sizeof *r);
        if (!r) return ts_error(TS_ERR_OOM, "eval: out of memory");
        int k = 0;
        for (int i = 0; i < ds->n_rows; i++) {
            bool labelled = false;
            for (int t = 0; t < nt; t++) {
                const ts_trait *tr = ts_dataset_trait(ds, names[t]);
                if (tr && tr->labels[i] >= 0) labelled = true;
            }
            if (labelled) r[k++] = i;
        }
        *rows = r;
        *n = k;
        return TS_OK;
    }
    cJSON *j = training_json(m);
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(j, "split");
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(sp, "trait");
    const cJSON *sd = cJSON_GetObjectItemCaseSensitive(sp, "seed");
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(sp, "test_fraction");
    const cJSON *fp = cJSON_GetObjectItemCaseSensitive(sp, "fingerprint");
    if (!cJSON_IsString(tr) || !cJSON_IsString(sd) || !cJSON_IsNumber(fr) || !cJSON_IsString(fp)) {
        cJSON_Delete(j);
        return ts_error(TS_ERR_ARG, "eval: the model records no train/test split (not trained by traitscope?); "
                                    "use --split all");
    }
    uint64_t seed = strtoull(sd->valuestring, NULL, 10), want = strtoull(fp->valuestring, NULL, 16);
    uint64_t have = ts_dataset_fingerprint(ds);
    ts_status st = TS_OK;
    if (want != have) {
        st = ts_error(TS_ERR_ARG, "eval: this data is not the data the model was trained on (fingerprint %016llx, "
                                  "model's split %016llx; check --data and --limit, or use --split all)",
                      (unsigned long long)have, (unsigned long long)want);
    } else {
        ts_split s;
        st = ts_split_make(&s, ds, tr->valuestring[0] ? tr->valuestring : NULL, fr->valuedouble, seed);
        if (st == TS_OK && split == TS_EVAL_VAL) {
            st = validation_rows(&s, ds, sp, rows, n);
        } else if (st == TS_OK) {
            *rows = s.test;
            *n = s.n_test;
            s.test = NULL;
            s.n_test = 0;
        }
        ts_split_clear(&s);
    }
    cJSON_Delete(j);
    return st;
}

void ts_eval_result_clear(ts_eval_result *r)
{
    if (!r) return;
    free(r->rows);
    free(r->pred);
    free(r->label);
    free(r->probs);
    if (r->paths)
        for (int i = 0; i < r->n_images; i++) free(r->paths[i]);
    free(r->paths);
    for (int t = 0; t < TS_EVAL_MAX_TRAITS; t++) {
        for (int c = 0; r->traits[t].classes && c < r->traits[t].n_classes; c++) free(r->traits[t].classes[c]);
        free(r->traits[t].classes);
    }
    memset(r, 0, sizeof *r);
}

void ts_eval_trait_finish(ts_eval_trait *et)
{
    et->accuracy = et->n ? (double)et->correct / et->n : 0;
    int present = 0;
    double recall = 0;
    for (int c = 0; c < TS_EVAL_MAX_CLASSES; c++)
        if (et->class_n[c]) present++, recall += (double)et->class_correct[c] / et->class_n[c];
    et->balanced = present ? recall / present : 0;
    ts_wilson_interval(et->correct, et->n, TS_Z95, &et->lo, &et->hi);
    if (et->has_one_off) {
        et->one_off = et->n ? (double)et->one_off_correct / et->n : 0;
        ts_wilson_interval(et->one_off_correct, et->n, TS_Z95, &et->one_off_lo, &et->one_off_hi);
    }
}

static bool is_age_groups(const ts_trait *t)
{
    if (t->n_classes != TS_AGE_GROUPS) return false;
    for (int i = 0; i < TS_AGE_GROUPS; i++)
        if (strcmp(t->classes[i], ts_age_group_names[i])) return false;
    return true;
}

ts_status ts_eval_run(ts_model *m, const ts_eval_options *o, ts_faceset_progress_fn progress,
                      ts_faceset_abort_fn should_abort, void *user, ts_eval_result *r)
{
    memset(r, 0, sizeof *r);
    const bool sigmoid = ts_model_is_multilabel(m);
    char all_names[TS_EVAL_MAX_TRAITS][64], names[TS_EVAL_MAX_TRAITS][64];
    int n_all = model_traits(m, all_names, TS_EVAL_MAX_TRAITS), nt = 0, output[TS_EVAL_MAX_TRAITS];
    if (n_all == 0) return ts_error(TS_ERR_ARG, "eval: the model names no trait");
    if (!sigmoid && n_all != 1) return ts_error(TS_ERR_ARG, "eval: a softmax model with several traits");
    if (o->traits && *o->traits) {
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", o->traits);
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            int k = 0;
            while (k < n_all && strcmp(all_names[k], t)) k++;
            if (k == n_all) return ts_error(TS_ERR_ARG, "eval: the model does not predict '%s' (it predicts %s)", t,
                                            m->meta.trait);
            if (nt == TS_EVAL_MAX_TRAITS) return ts_error(TS_ERR_ARG, "eval: too many traits");
            snprintf(names[nt], 64, "%s", t);
            output[nt++] = k;
        }
    } else {
        for (int k = 0; k < n_all; k++) {
            snprintf(names[k], 64, "%s", all_names[k]);
            output[k] = k;
        }
        nt = n_all;
    }
    ts_dataset ds;
    ts_dataset_init(&ds);
    int limit = o->limit >= 0 ? o->limit : ts_model_training_limit(m);
    if (limit < 0) limit = 0;
    TS_TRY(ts_dataset_load(&ds, o->data, limit));
    ts_status st = TS_OK;
    const ts_trait *traits[TS_EVAL_MAX_TRAITS];
    for (int t = 0; t < nt && st == TS_OK; t++) {
        traits[t] = ts_dataset_trait(&ds, names[t]);
        if (!traits[t]) {
            st = ts_error(TS_ERR_ARG, "eval: %s has no trait '%s' (the model's)", o->data, names[t]);
        } else if (!sigmoid) {
            bool same = traits[t]->n_classes == m->meta.n_classes;
            for (int c = 0; same && c < m->meta.n_classes; c++)
                same = !strcmp(traits[t]->classes[c], m->meta.classes[c]);
            if (!same)
                st = ts_error(TS_ERR_ARG, "eval: trait '%s' of %s has other classes than the model's", names[t],
                              o->data);
        } else if (traits[t]->n_classes != 2) {
            st = ts_error(TS_ERR_ARG, "eval: multi-label trait '%s' is not two-class in %s", names[t], o->data);
        }
    }
    int *rows = NULL, n_rows = 0, rows_total = 0, first = 0;
    if (st == TS_OK) st = ts_eval_rows_of(m, &ds, o->split, (const char(*)[64])names, nt, &rows, &n_rows);
    if (st == TS_OK && n_rows == 0) st = ts_error(TS_ERR_ARG, "eval: no labelled images to evaluate");
    rows_total = n_rows;
    /* The batch of the whole set's prediction (ts_eval_predict's clip). */
    const int V = o->oversample ? TS_OVERSAMPLE_CROPS : 1;
    int whole_batch = o->batch > 0 ? o->batch : 50;
    if ((long)whole_batch > (long)rows_total * V) whole_batch = rows_total * V;
    if (st == TS_OK && o->shard_count > 1) {
        /* This block only: cli/shard.h's formula over units of u rows, u the
         * fewest whole faces that fill whole batches, so that every block
         * starts on a batch boundary of the whole set. */
        if (o->shard_index < 0 || o->shard_index >= o->shard_count)
            st = ts_error(TS_ERR_ARG, "eval: shard %d of %d", o->shard_index, o->shard_count);
        int a = whole_batch, b = V;
        while (b) {
            int t = a % b;
            a = b, b = t;
        }
        int u = whole_batch / a, units = (n_rows + u - 1) / u;
        int q = units / o->shard_count, rem = units % o->shard_count, k = o->shard_index;
        int u0 = k * q + (k < rem ? k : rem), u1 = u0 + q + (k < rem);
        first = u0 * u < n_rows ? u0 * u : n_rows;
        n_rows = (u1 * u < rows_total ? u1 * u : rows_total) - first;
        if (st == TS_OK && n_rows == 0)
            st = ts_error(TS_ERR_ARG, "eval: shard %d of %d has no images (only %d in all)", k, o->shard_count,
                          rows_total);
        if (st == TS_OK) memmove(rows, rows + first, (size_t)n_rows * sizeof *rows);
    }
    ts_faceset fs = { 0 };
    ts_alignment align = o->align_override ? o->align : m->meta.alignment;
    if (st == TS_OK) {
        ts_faceset_options fo = { .size = m->meta.in_size, .align = align,
                                  .landmarks = m->meta.in_channels == 4 || align != TS_ALIGN_NONE,
                                  .cache_dir = o->cache_dir, .threads = o->threads };
        st = ts_faceset_build(&fs, &ds, rows, n_rows, &fo, progress, should_abort, user);
    }
    free(rows);
    float *probs = NULL;
    if (st == TS_OK) {
        probs = malloc((size_t)fs.n * m->meta.n_classes * sizeof *probs);
        /* A shard runs the batches the whole set runs (its block starts on a
         * batch boundary, see below), so its numbers are the whole's to
         * the last bit. */
        st = !probs ? ts_error(TS_ERR_OOM, "eval: out of memory")
             : o->shard_count > 1 ? predict(m, &fs, o->oversample, whole_batch, false, 0, 1, probs, progress,
                                            should_abort, user)
                                  : ts_eval_predict(m, &fs, o->oversample, o->batch, probs, progress, should_abort, user);
    }
    if (st == TS_OK) {
        r->n_images = fs.n;
        r->n_skipped = fs.n_skipped;
        r->n_skipped_kept = fs.n_skipped_kept;
        memcpy(r->skipped, fs.skipped, sizeof fs.skipped);
        r->n_traits = nt;
        r->dataset_rows = ds.n_rows;
        r->rows_total = rows_total;
        r->rows_first = first;
        r->rows_end = first + n_rows;
        r->rows = malloc((size_t)fs.n * sizeof *r->rows);
        r->pred = malloc((size_t)fs.n * nt * sizeof *r->pred);
        r->label = malloc((size_t)fs.n * nt * sizeof *r->label);
        r->paths = calloc((size_t)(fs.n ? fs.n : 1), sizeof *r->paths);
        bool ok = r->rows && r->pred && r->label && r->paths;
        for (int i = 0; ok && i < fs.n; i++) ok = (r->paths[i] = strdup(ds.paths[fs.rows[i]])) != NULL;
        for (int t = 0; ok && t < nt; t++) {
            r->traits[t].classes = calloc((size_t)traits[t]->n_classes, sizeof(char *));
            ok = r->traits[t].classes != NULL;
            for (int c = 0; ok && c < traits[t]->n_classes; c++) {
                ok = (r->traits[t].classes[c] = strdup(traits[t]->classes[c])) != NULL;
                r->traits[t].n_classes = c + 1;
            }
        }
        if (!ok) st = ts_error(TS_ERR_OOM, "eval: out of memory");
    }
    if (st == TS_OK) {
        snprintf(r->split, sizeof r->split, "%s", ts_eval_split_name(o->split));
        r->align = align;
        r->swapped = align != m->meta.alignment;
        r->oversample = o->oversample;
        const int K = m->meta.n_classes;
        for (int t = 0; t < nt; t++) {
            ts_eval_trait *et = &r->traits[t];
            snprintf(et->name, sizeof et->name, "%s", names[t]);
            et->output = output[t];
            et->has_one_off = !sigmoid && is_age_groups(traits[t]);
        }
        for (int i = 0; i < fs.n; i++) {
            r->rows[i] = fs.rows[i];
            const float *p = probs + (size_t)i * K;
            for (int t = 0; t < nt; t++) {
                int label = traits[t]->labels[fs.rows[i]], pred;
                if (sigmoid) {
                    pred = p[output[t]] > 0.5f ? 1 : 0;
                } else {
                    pred = 0;
                    for (int c = 1; c < K; c++)
                        if (p[c] > p[pred]) pred = c;
                }
                r->pred[(size_t)i * nt + t] = pred;
                r->label[(size_t)i * nt + t] = label;
                if (label < 0) continue;
                ts_eval_trait *et = &r->traits[t];
                et->n++;
                et->correct += pred == label;
                et->one_off_correct += abs(pred - label) <= 1;
                if (label < TS_EVAL_MAX_CLASSES) {
                    et->class_n[label]++;
                    et->class_correct[label] += pred == label;
                }
            }
        }
        for (int t = 0; t < nt; t++) ts_eval_trait_finish(&r->traits[t]);
    }
    if (st == TS_OK) {
        r->n_outputs = m->meta.n_classes;
        r->multilabel = sigmoid;
        r->probs = probs;
        probs = NULL;
    }
    if (st != TS_OK) ts_eval_result_clear(r);
    free(probs);
    ts_faceset_clear(&fs);
    ts_dataset_clear(&ds);
    return st;
}

ts_status ts_eval_write_per_image(const ts_eval_result *r, const char *path)
{
    ts_atomic_file af;
    TS_TRY(ts_atomic_open(&af, path));
    const int nt = r->n_traits, K = r->n_outputs;
    bool ok = true;
    for (int i = 0; i < r->n_images && ok; i++) {
        cJSON *line = cJSON_CreateObject(), *tj = NULL;
        cJSON_AddStringToObject(line, "path", r->paths[i]);
        cJSON_AddNumberToObject(line, "row", r->rows[i]);
        tj = cJSON_AddObjectToObject(line, "traits");
        const float *p = r->probs + (size_t)i * K;
        for (int t = 0; t < nt; t++) {
            const ts_eval_trait *et = &r->traits[t];
            int label = r->label[(size_t)i * nt + t], pred = r->pred[(size_t)i * nt + t];
            cJSON *e = cJSON_AddObjectToObject(tj, et->name);
            if (label >= 0 && label < et->n_classes) cJSON_AddStringToObject(e, "label", et->classes[label]);
            else cJSON_AddNullToObject(e, "label");
            cJSON_AddStringToObject(e, "prediction", pred >= 0 && pred < et->n_classes ? et->classes[pred] : "?");
            if (label >= 0) cJSON_AddBoolToObject(e, "correct", pred == label);
            else cJSON_AddNullToObject(e, "correct");
            cJSON *pr = cJSON_AddObjectToObject(e, "probabilities");
            if (r->multilabel) {
                /* a multi-label output: P(class 1) */
                cJSON_AddNumberToObject(pr, et->classes[0], 1.0 - p[et->output]);
                cJSON_AddNumberToObject(pr, et->classes[1], p[et->output]);
            } else {
                for (int c = 0; c < et->n_classes && c < K; c++) cJSON_AddNumberToObject(pr, et->classes[c], p[c]);
            }
        }
        char *text = cJSON_PrintUnformatted(line);
        cJSON_Delete(line);
        ok = text && fputs(text, af.f) >= 0 && fputc('\n', af.f) != EOF;
        free(text);
    }
    if (!ok) {
        ts_atomic_abort(&af);
        return ts_error(TS_ERR_IO, "%s: write failed", path);
    }
    return ts_atomic_commit(&af);
}
