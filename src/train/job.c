/* job.c - the training run; see job.h for the flow, the files and the
 * resume guarantees.
 *
 * Determinism: the split, the initial weights, each epoch's sample order
 * and mirror coin flips, and the dropout masks all derive from the seed
 * (and the epoch / the graph's step counter, which the state records), so a
 * resumed run sees the samples a never-interrupted run would have seen.
 */
#include "job.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "../data/dataset.h"
#include "../data/split.h"
#include "../nn/fileio.h"
#include "../nn/loss.h"
#include "../nn/sha256.h"
#include "eval.h"
#include "faceset.h"
#include "sample.h"
#include "sgd.h"

#define STATE_MAGIC "TSTRAIN1"
#define STATE_MAX_JSON ((uint64_t)64 << 20)
#define MAX_OUTPUTS 64
#define PREFETCH_SLOTS 3

/* The LACNN paper's rotations (section 3), the original first. */
static const float aug_angles[5] = { 0, -40, -20, 20, 40 };

const char *ts_variant_name(ts_variant v) { return v == TS_VARIANT_LACNN ? "lacnn" : "baseline"; }

bool ts_variant_parse(const char *s, ts_variant *out)
{
    if (!strcmp(s, "baseline")) *out = TS_VARIANT_BASELINE;
    else if (!strcmp(s, "lacnn")) *out = TS_VARIANT_LACNN;
    else return false;
    return true;
}

void ts_train_settings_default(ts_train_settings *s)
{
    memset(s, 0, sizeof *s);
    s->arch = "alexnet";
    s->size = 150;
    s->epochs = 10;
    s->batch = 50;
    s->lr = 0.01f;
    s->momentum = 0.9f;
    s->weight_decay = 5e-4f;
    s->lr_gamma = 0.1f;
    s->lr_step_epochs = 0;
    s->augment = true;
    s->loss = TS_LOSS_SOFTMAX;
    s->align = TS_ALIGN_NONE;
    s->device = TS_DEVICE_AUTO;
    s->seed = TS_SPLIT_DEFAULT_SEED;
    s->test_fraction = 0.2;
}

char *ts_train_state_path(const char *out)
{
    size_t n = strlen(out) + 8;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s.state", out);
    return p;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- settings as JSON (model metadata and the state file) -------------- */

static cJSON *settings_json(const ts_train_settings *s)
{
    cJSON *o = cJSON_CreateObject();
    char seed[24];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)s->seed);
    cJSON_AddStringToObject(o, "data", s->data);
    cJSON_AddStringToObject(o, "trait", s->trait);
    cJSON_AddStringToObject(o, "variant", ts_variant_name(s->variant));
    cJSON_AddStringToObject(o, "arch", s->arch);
    cJSON_AddNumberToObject(o, "size", s->size);
    cJSON_AddNumberToObject(o, "epochs", s->epochs);
    cJSON_AddNumberToObject(o, "batch", s->batch);
    cJSON_AddStringToObject(o, "optimizer", "sgd");
    cJSON_AddNumberToObject(o, "lr", s->lr);
    cJSON_AddNumberToObject(o, "momentum", s->momentum);
    cJSON_AddNumberToObject(o, "weight_decay", s->weight_decay);
    cJSON_AddStringToObject(o, "lr_policy", s->lr_step_epochs > 0 ? "step" : "fixed");
    cJSON_AddNumberToObject(o, "lr_gamma", s->lr_gamma);
    cJSON_AddNumberToObject(o, "lr_step_epochs", s->lr_step_epochs);
    cJSON_AddBoolToObject(o, "augment", s->augment);
    cJSON_AddStringToObject(o, "loss", s->loss == TS_LOSS_SIGMOID ? "sigmoid" : "softmax");
    cJSON_AddStringToObject(o, "alignment", ts_alignment_name(s->align));
    cJSON_AddNumberToObject(o, "limit", s->limit);
    cJSON_AddStringToObject(o, "seed", seed);
    cJSON_AddNumberToObject(o, "test_fraction", s->test_fraction);
    return o;
}

/* Settings that a resume must share with the run it continues. */
static ts_status check_same(const cJSON *st, const ts_train_settings *s, const char *path)
{
    cJSON *now = settings_json(s);
    static const char *const keys[] = { "data", "trait", "variant", "arch", "size", "batch", "augment",
                                        "loss", "alignment", "limit", "seed", "test_fraction" };
    ts_status rc = TS_OK;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0] && rc == TS_OK; i++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(st, keys[i]);
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(now, keys[i]);
        if (!a || !cJSON_Compare(a, b, true)) {
            char *va = a ? cJSON_PrintUnformatted(a) : NULL, *vb = cJSON_PrintUnformatted(b);
            rc = ts_error(TS_ERR_ARG, "%s: cannot resume: the run was started with %s=%s, now %s=%s", path,
                          keys[i], va ? va : "(missing)", keys[i], vb ? vb : "?");
            free(va);
            free(vb);
        }
    }
    cJSON_Delete(now);
    return rc;
}

/* ---- training state file ------------------------------------------------ */

static ts_status state_save(const char *path, const char *json, const ts_graph *g, const ts_sgd *sgd)
{
    ts_atomic_file af;
    TS_TRY(ts_atomic_open(&af, path));
    ts_sha256 h;
    ts_sha256_init(&h);
    uint64_t L = strlen(json), P = g->params.used;
    uint8_t le[8];
    bool ok = true;
#define PUT(ptr, len)                                                       \
    do {                                                                    \
        ts_sha256_update(&h, (ptr), (len));                                 \
        ok = ok && fwrite((ptr), 1, (len), af.f) == (size_t)(len);          \
    } while (0)
    PUT(STATE_MAGIC, 8);
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)(L >> (8 * i));
    PUT(le, 8);
    PUT(json, L);
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)(P >> (8 * i));
    PUT(le, 8);
    PUT(g->params.base, P * sizeof(float));
    PUT(sgd->state.base, P * sizeof(float));
#undef PUT
    uint8_t digest[32];
    ts_sha256_final(&h, digest);
    ok = ok && fwrite(digest, 1, 32, af.f) == 32;
    if (!ok) {
        ts_atomic_abort(&af);
        return ts_error(TS_ERR_IO, "%s: write failed", path);
    }
    return ts_atomic_commit(&af);
}

static uint64_t rd_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

ts_status ts_train_state_parse(const uint8_t *buf, size_t len, const char *name, bool verify_digest,
                               char **json, size_t *n_params, const float **params, const float **momentum)
{
    *json = NULL;
    if (len < 8 + 8 + 8 + 32 || memcmp(buf, STATE_MAGIC, 8) != 0)
        return ts_error(TS_ERR_FORMAT, "%s: not a training state file (bad magic or too short)", name);
    if (verify_digest) {
        uint8_t digest[32];
        ts_sha256 h;
        ts_sha256_init(&h);
        ts_sha256_update(&h, buf, len - 32);
        ts_sha256_final(&h, digest);
        if (memcmp(digest, buf + len - 32, 32) != 0)
            return ts_error(TS_ERR_FORMAT, "%s: checksum mismatch (truncated or damaged)", name);
    }
    uint64_t L = rd_u64(buf + 8);
    if (L > STATE_MAX_JSON || L > len - 56)
        return ts_error(TS_ERR_FORMAT, "%s: offset 8: JSON length %llu out of range", name, (unsigned long long)L);
    uint64_t P = rd_u64(buf + 16 + L);
    if (P > (len - 56 - L) / 8 || 16 + L + 8 + 8 * P + 32 != len)
        return ts_error(TS_ERR_FORMAT, "%s: offset %llu: parameter count %llu does not match the file size", name,
                        (unsigned long long)(16 + L), (unsigned long long)P);
    cJSON *j = cJSON_ParseWithLength((const char *)buf + 16, (size_t)L);
    bool ok = cJSON_IsObject(j);
    cJSON_Delete(j);
    if (!ok) return ts_error(TS_ERR_FORMAT, "%s: offset 16: the state's JSON is not an object", name);
    *json = malloc((size_t)L + 1);
    if (!*json) return ts_error(TS_ERR_OOM, "%s: out of memory", name);
    memcpy(*json, buf + 16, (size_t)L);
    (*json)[L] = '\0';
    *n_params = (size_t)P;
    /* Floats are read with memcpy by the caller: the data need not be aligned. */
    if (params) *params = (const float *)(const void *)(buf + 16 + L + 8);
    if (momentum) *momentum = (const float *)(const void *)(buf + 16 + L + 8 + 4 * P);
    return TS_OK;
}

/* Reads the state: its JSON (transfer: full, cJSON_Delete) and, when g is
 * given, the parameters and momentum into g and sgd. */
static ts_status state_load(const char *path, cJSON **json, ts_graph *g, ts_sgd *sgd)
{
    uint8_t *buf;
    size_t len, P;
    char *text;
    const float *params, *momentum;
    *json = NULL;
    TS_TRY(ts_read_file(path, (size_t)16 << 30, &buf, &len));
    ts_status st = ts_train_state_parse(buf, len, path, true, &text, &P, &params, &momentum);
    if (st == TS_OK) {
        *json = cJSON_Parse(text);
        free(text);
        if (!*json) st = ts_error(TS_ERR_OOM, "%s: out of memory", path);
    }
    if (st == TS_OK && g) {
        if (P != g->params.used) {
            st = ts_error(TS_ERR_FORMAT, "%s: %zu parameters stored, the network has %zu", path, P, g->params.used);
        } else {
            memcpy(g->params.base, params, P * sizeof(float));
            memcpy(sgd->state.base, momentum, P * sizeof(float));
        }
    }
    if (st != TS_OK) {
        cJSON_Delete(*json);
        *json = NULL;
    }
    free(buf);
    return st;
}

/* ---- prefetch: a thread that turns the epoch's sample list into batches */

typedef struct batch_slot {
    float *x;        /* (B,C,S,S) */
    int *labels;     /* B (softmax) */
    float *targets;  /* B*K, -1 = no label (sigmoid) */
} batch_slot;

typedef struct prefetch {
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    batch_slot slot[PREFETCH_SLOTS];
    int filled[PREFETCH_SLOTS];
    int produced, consumed, n_steps;
    bool stop;
    ts_status err;
    char msg[512];
    /* what to produce */
    const ts_model *m;
    const ts_faceset *fs;
    const int *face;     /* per sample: face index */
    const float *angle;  /* per sample */
    const char *mirror;  /* per sample */
    int batch, K, n_traits;
    const ts_trait *const *traits;
    bool sigmoid;
} prefetch;

static ts_status fill_slot(prefetch *p, int step, batch_slot *b)
{
    const int S = p->m->meta.in_size, C = p->m->meta.in_channels;
    const size_t one = (size_t)C * S * S;
    for (int i = 0; i < p->batch; i++) {
        int k = step * p->batch + i, f = p->face[k];
        ts_view v = ts_view_identity();
        v.angle = p->angle[k];
        v.mirror = p->mirror[k];
        ts_tensor t = { b->x + (size_t)i * one, 1, C, S, S };
        TS_TRY(ts_sample_make(p->m, &p->fs->base[f], p->fs->landmarks ? &p->fs->pts[f] : NULL, &v, &t));
        int row = p->fs->rows[f];
        if (p->sigmoid) {
            for (int j = 0; j < p->n_traits; j++) {
                int l = p->traits[j]->labels[row];
                b->targets[(size_t)i * p->K + j] = l < 0 ? -1.0f : (float)l;
            }
        } else {
            b->labels[i] = p->traits[0]->labels[row];
        }
    }
    return TS_OK;
}

static void *prefetch_main(void *arg)
{
    prefetch *p = arg;
    for (int step = 0; step < p->n_steps; step++) {
        int s = step % PREFETCH_SLOTS;
        pthread_mutex_lock(&p->mu);
        while (!p->stop && p->filled[s]) pthread_cond_wait(&p->cv, &p->mu);
        bool stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop) break;
        ts_status st = fill_slot(p, step, &p->slot[s]);
        pthread_mutex_lock(&p->mu);
        if (st != TS_OK) {
            p->err = st;
            snprintf(p->msg, sizeof p->msg, "%s", ts_last_error());
            p->stop = true;
        } else {
            p->filled[s] = 1;
            p->produced++;
        }
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (st != TS_OK) break;
    }
    return NULL;
}

/* Waits for step `step`'s batch; NULL on a producer error (p->err set). */
static batch_slot *prefetch_take(prefetch *p, int step)
{
    int s = step % PREFETCH_SLOTS;
    pthread_mutex_lock(&p->mu);
    while (!p->filled[s] && p->err == TS_OK) pthread_cond_wait(&p->cv, &p->mu);
    batch_slot *b = p->filled[s] ? &p->slot[s] : NULL;
    pthread_mutex_unlock(&p->mu);
    return b;
}

static void prefetch_release(prefetch *p, int step)
{
    pthread_mutex_lock(&p->mu);
    p->filled[step % PREFETCH_SLOTS] = 0;
    p->consumed++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void prefetch_stop(prefetch *p)
{
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->tid, NULL);
}

/* ---- the run ------------------------------------------------------------ */

typedef struct run {
    const ts_train_settings *s;
    const ts_train_callbacks *cb;
    ts_train_progress pr;
    double t0;
} run;

static void report(run *r)
{
    r->pr.elapsed_s = now_s() - r->t0;
    if (r->cb && r->cb->on_progress) r->cb->on_progress(&r->pr, r->cb->user);
}

static bool aborted(run *r) { return r->cb && r->cb->should_abort && r->cb->should_abort(r->cb->user); }

static void prep_progress(int done, int total, void *user)
{
    run *r = user;
    r->pr.done = done;
    r->pr.total = total;
    report(r);
}

static bool prep_abort(void *user) { return aborted(user); }

/* Splits "a,b,c" into trait pointers of ds.  TS_ERR_ARG naming the missing
 * trait. */
static ts_status find_traits(const ts_dataset *ds, const char *list, const ts_trait **out, int *n, int max)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n == max) return ts_error(TS_ERR_ARG, "more than %d traits", max);
        const ts_trait *t = ts_dataset_trait(ds, tok);
        if (!t) {
            char names[512] = "";
            for (int i = 0; i < ds->n_traits; i++) {
                strncat(names, i ? ", " : "", sizeof names - strlen(names) - 1);
                strncat(names, ds->traits[i].name, sizeof names - strlen(names) - 1);
            }
            return ts_error(TS_ERR_ARG, "%s: no trait '%s' (this dataset has: %s)", ds->spec ? ds->spec : "data",
                            tok, names[0] ? names : "none");
        }
        out[(*n)++] = t;
    }
    if (*n == 0) return ts_error(TS_ERR_ARG, "no trait given");
    return TS_OK;
}

static ts_status validate(const ts_train_settings *s)
{
    if (!s->data || !s->data[0]) return ts_error(TS_ERR_ARG, "train: no dataset (--data)");
    if (!s->trait || !s->trait[0]) return ts_error(TS_ERR_ARG, "train: no trait (--trait)");
    if (!s->out || !s->out[0]) return ts_error(TS_ERR_ARG, "train: no output path (--out)");
    if (s->epochs < 1 || s->epochs > 100000) return ts_error(TS_ERR_ARG, "train: epochs must be 1..100000");
    if (s->batch < 1 || s->batch > 4096) return ts_error(TS_ERR_ARG, "train: batch must be 1..4096");
    if (s->size < TS_MODEL_MIN_SIZE || s->size > TS_MODEL_MAX_SIZE)
        return ts_error(TS_ERR_ARG, "train: input size must be %d..%d", TS_MODEL_MIN_SIZE, TS_MODEL_MAX_SIZE);
    if (s->lr_step_epochs < 0) return ts_error(TS_ERR_ARG, "train: lr step must be >= 0 epochs");
    if (s->loss == TS_LOSS_SOFTMAX && strchr(s->trait, ','))
        return ts_error(TS_ERR_ARG, "train: several traits need the sigmoid (multi-label) loss");
    return TS_OK;
}

/* Builds the per-epoch sample list: every training face x (5 rotations when
 * augmenting), shuffled with the epoch's own stream, mirror coin per sample. */
static void epoch_order(const ts_train_settings *s, int epoch, int n_faces, int *face, float *angle, char *mirror)
{
    int views = s->augment ? 5 : 1, n = n_faces * views;
    for (int i = 0; i < n; i++) {
        face[i] = i / views;
        angle[i] = aug_angles[i % views];
    }
    ts_rng rng;
    ts_rng_seed(&rng, s->seed * 0x2545f4914f6cdd1dull + (uint64_t)epoch + 1);
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(ts_rng_next(&rng) % (uint64_t)(i + 1));
        int tf = face[i];
        float ta = angle[i];
        face[i] = face[j], angle[i] = angle[j];
        face[j] = tf, angle[j] = ta;
    }
    for (int i = 0; i < n; i++) mirror[i] = s->augment ? (char)(ts_rng_next(&rng) >> 63) : 0;
}

/* Accuracy of a batch: argmax (softmax) or threshold 0.5 per labelled
 * output (sigmoid).  Adds to *right and *count. */
static void batch_accuracy(const float *logits, int B, int K, bool sigmoid, const int *labels, const float *targets,
                           long *right, long *count)
{
    for (int i = 0; i < B; i++) {
        const float *z = logits + (size_t)i * K;
        if (sigmoid) {
            for (int k = 0; k < K; k++) {
                float t = targets[(size_t)i * K + k];
                if (t < 0) continue;
                *right += (z[k] > 0) == (t > 0.5f);
                (*count)++;
            }
        } else {
            int best = 0;
            for (int k = 1; k < K; k++)
                if (z[k] > z[best]) best = k;
            *right += best == labels[i];
            (*count)++;
        }
    }
}

/* Mean accuracy of the model on a face set (all traits pooled). */
static ts_status test_accuracy(run *r, ts_model *m, const ts_faceset *fs, const ts_trait *const *traits, int n_traits,
                               bool sigmoid, float *acc)
{
    int K = m->meta.n_classes;
    float *probs = malloc((size_t)fs->n * K * sizeof *probs);
    if (!probs) return ts_error(TS_ERR_OOM, "train: out of memory for test predictions");
    r->pr.phase = TS_TRAIN_EVALUATING;
    ts_status st = ts_eval_predict(m, fs, false, r->s->batch, probs, prep_progress, prep_abort, r);
    if (st == TS_OK) {
        long right = 0, count = 0;
        for (int i = 0; i < fs->n; i++) {
            const float *p = probs + (size_t)i * K;
            int row = fs->rows[i];
            if (sigmoid) {
                for (int k = 0; k < n_traits; k++) {
                    int l = traits[k]->labels[row];
                    if (l < 0) continue;
                    right += (p[k] > 0.5f) == (l == 1);
                    count++;
                }
            } else {
                int best = 0;
                for (int k = 1; k < K; k++)
                    if (p[k] > p[best]) best = k;
                right += best == traits[0]->labels[row];
                count++;
            }
        }
        *acc = count ? (float)right / (float)count : 0.0f;
    }
    free(probs);
    r->pr.phase = TS_TRAIN_TRAINING;
    return st;
}

static char *training_json(const ts_train_settings *s, const ts_split *split, int epochs_done, float test_acc)
{
    cJSON *o = settings_json(s);
    cJSON_AddNumberToObject(o, "epochs_done", epochs_done);
    cJSON *sp = cJSON_AddObjectToObject(o, "split");
    char buf[32];
    cJSON_AddStringToObject(sp, "trait", split->trait ? split->trait : "");
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)split->seed);
    cJSON_AddStringToObject(sp, "seed", buf);
    cJSON_AddNumberToObject(sp, "test_fraction", split->test_fraction);
    cJSON_AddNumberToObject(sp, "rows", split->n_rows);
    snprintf(buf, sizeof buf, "%016llx", (unsigned long long)split->fingerprint);
    cJSON_AddStringToObject(sp, "fingerprint", buf);
    cJSON_AddNumberToObject(sp, "limit", s->limit);
    cJSON_AddNumberToObject(sp, "n_train", split->n_train);
    cJSON_AddNumberToObject(sp, "n_test", split->n_test);
    if (test_acc >= 0) cJSON_AddNumberToObject(o, "test_accuracy", test_acc);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

/* Writes OUT.state then OUT (each atomic). */
static ts_status checkpoint(run *r, ts_model *m, const ts_sgd *sgd, const ts_split *split, int epochs_done,
                            float test_acc)
{
    const ts_train_settings *s = r->s;
    char *tj = training_json(s, split, epochs_done, test_acc);
    cJSON *st_json = cJSON_CreateObject();
    cJSON_AddStringToObject(st_json, "format", "traitscope-train-state");
    cJSON_AddNumberToObject(st_json, "version", 1);
    cJSON_AddItemToObject(st_json, "settings", settings_json(s));
    cJSON_AddNumberToObject(st_json, "epochs_done", epochs_done);
    char num[32];
    snprintf(num, sizeof num, "%llu", (unsigned long long)sgd->iter);
    cJSON_AddStringToObject(st_json, "iter", num);
    snprintf(num, sizeof num, "%llu", (unsigned long long)m->graph->step);
    cJSON_AddStringToObject(st_json, "graph_step", num);
    char *split_text = ts_split_to_json(split);
    cJSON_AddItemToObject(st_json, "split", split_text ? cJSON_Parse(split_text) : cJSON_CreateNull());
    free(split_text);
    char *text = cJSON_PrintUnformatted(st_json);
    cJSON_Delete(st_json);
    char *state_path = ts_train_state_path(s->out);
    ts_status st = (tj && text && state_path) ? TS_OK : ts_error(TS_ERR_OOM, "train: out of memory");
    if (st == TS_OK) st = state_save(state_path, text, m->graph, sgd);
    if (st == TS_OK) st = ts_model_set_training(m, tj);
    if (st == TS_OK) {
        m->meta.test_accuracy = test_acc >= 0 ? test_acc : -1;
        st = ts_model_save(m, s->out, TS_DTYPE_F32);
    }
    free(state_path);
    free(text);
    free(tj);
    return st;
}

static ts_status run_training(run *r, ts_train_result *res)
{
    const ts_train_settings *s = r->s;
    ts_status st;
    ts_dataset ds;
    ts_split split;
    ts_faceset train = { 0 }, test = { 0 };
    ts_model *m = NULL;
    ts_sgd sgd = { 0 };
    cJSON *state = NULL;
    float *logits_host = NULL;
    int *face = NULL;
    float *angle = NULL;
    char *mirror = NULL;
    prefetch pf = { 0 };
    bool pf_running = false, pf_init = false;
    const ts_trait *traits[MAX_OUTPUTS];
    int n_traits = 0;
    bool sigmoid = s->loss == TS_LOSS_SIGMOID;
    ts_dataset_init(&ds);
    ts_split_init(&split);

    st = ts_dataset_load(&ds, s->data, s->limit);
    if (st != TS_OK) goto out;
    st = find_traits(&ds, s->trait, traits, &n_traits, MAX_OUTPUTS);
    if (st != TS_OK) goto out;
    if (sigmoid)
        for (int i = 0; i < n_traits; i++)
            if (traits[i]->n_classes != 2) {
                st = ts_error(TS_ERR_ARG, "train: the sigmoid loss needs two-class traits; '%s' has %d",
                              traits[i]->name, traits[i]->n_classes);
                goto out;
            }

    /* Resume: the state decides the split and must match the settings. */
    char *state_path = ts_train_state_path(s->out);
    if (!state_path) {
        st = ts_error(TS_ERR_OOM, "train: out of memory");
        goto out;
    }
    if (s->resume) {
        st = state_load(state_path, &state, NULL, NULL);
        if (st == TS_ERR_IO) {
            /* Nothing to resume (never started, or killed in the first
             * epoch): start afresh. */
            ts_error_clear();
            st = TS_OK;
        } else if (st == TS_OK) {
            st = check_same(cJSON_GetObjectItemCaseSensitive(state, "settings"), s, state_path);
            if (st == TS_OK) {
                char *sp = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(state, "split"));
                st = sp ? ts_split_parse(&split, sp, strlen(sp), state_path) : ts_error(TS_ERR_FORMAT, "%s: no split", state_path);
                free(sp);
                if (st == TS_OK) st = ts_split_check(&split, &ds);
            }
        }
    }
    if (st != TS_OK) {
        free(state_path);
        goto out;
    }
    if (!state) {
        st = ts_split_make(&split, &ds, traits[0]->name, s->test_fraction, s->seed);
        if (st == TS_OK) {
            char sp[4200];
            snprintf(sp, sizeof sp, "%s.split.json", s->out);
            st = ts_split_save(&split, sp);
        }
        if (st != TS_OK) {
            free(state_path);
            goto out;
        }
    }
    if (split.n_train < 1 || split.n_test < 1) {
        st = ts_error(TS_ERR_ARG, "train: the split has %d training and %d test images; use more data (--limit)",
                      split.n_train, split.n_test);
        free(state_path);
        goto out;
    }

    /* Faces. */
    bool lacnn = s->variant == TS_VARIANT_LACNN;
    ts_faceset_options fo = { .size = s->size, .align = s->align, .landmarks = lacnn || s->align != TS_ALIGN_NONE,
                              .cache_dir = s->cache_dir, .threads = s->threads };
    r->pr.phase = TS_TRAIN_PREPARING;
    int *both = malloc((size_t)(split.n_train + split.n_test) * sizeof *both);
    if (!both) {
        st = ts_error(TS_ERR_OOM, "train: out of memory");
        free(state_path);
        goto out;
    }
    memcpy(both, split.train, (size_t)split.n_train * sizeof *both);
    memcpy(both + split.n_train, split.test, (size_t)split.n_test * sizeof *both);
    ts_faceset all;
    st = ts_faceset_build(&all, &ds, both, split.n_train + split.n_test, &fo, prep_progress, prep_abort, r);
    free(both);
    if (st != TS_OK) {
        free(state_path);
        goto out;
    }
    /* Split the prepared faces back into train and test (rows are distinct). */
    {
        char *is_test = calloc((size_t)ds.n_rows, 1);
        int nt = 0, ne = 0;
        if (is_test) {
            for (int i = 0; i < split.n_test; i++) is_test[split.test[i]] = 1;
            for (int i = 0; i < all.n; i++) *(is_test[all.rows[i]] ? &ne : &nt) += 1;
        }
        train = (ts_faceset){ .size = all.size, .align = all.align, .landmarks = all.landmarks };
        test = train;
        train.rows = malloc((size_t)(nt ? nt : 1) * sizeof(int));
        test.rows = malloc((size_t)(ne ? ne : 1) * sizeof(int));
        train.base = malloc((size_t)(nt ? nt : 1) * sizeof(ts_image));
        test.base = malloc((size_t)(ne ? ne : 1) * sizeof(ts_image));
        train.pts = malloc((size_t)(nt ? nt : 1) * sizeof(ts_points));
        test.pts = malloc((size_t)(ne ? ne : 1) * sizeof(ts_points));
        if (!is_test || !train.rows || !test.rows || !train.base || !test.base || !train.pts || !test.pts) {
            free(is_test);
            ts_faceset_clear(&all);
            st = ts_error(TS_ERR_OOM, "train: out of memory");
            free(state_path);
            goto out;
        }
        for (int i = 0; i < all.n; i++) {
            ts_faceset *d = is_test[all.rows[i]] ? &test : &train;
            d->rows[d->n] = all.rows[i];
            d->base[d->n] = all.base[i];
            d->pts[d->n] = all.pts[i];
            d->n++;
        }
        free(is_test);
        free(all.rows);
        free(all.base);
        free(all.pts);
        res->n_train = train.n;
        res->n_test = test.n;
        if (train.n < 1 || test.n < 1) {
            st = ts_error(TS_ERR_IO, "train: no usable %s images (%s)", train.n < 1 ? "training" : "test",
                          all.first_error);
            free(state_path);
            goto out;
        }
    }

    /* Network. */
    const char *names[MAX_OUTPUTS];
    int K = sigmoid ? n_traits : traits[0]->n_classes;
    for (int i = 0; i < K; i++) names[i] = sigmoid ? traits[i]->name : traits[0]->classes[i];
    ts_model_options mo = { .in_channels = lacnn ? 4 : 3, .size = s->size, .classes = K, .class_names = names,
                            .trait = s->trait, .seed = s->seed,
                            .landmarks = fo.landmarks ? TS_LANDMARKS_ERT : TS_LANDMARKS_NONE,
                            .alignment = s->align };
    st = ts_model_new(s->arch, &mo, &m);
    if (st != TS_OK) {
        free(state_path);
        goto out;
    }
    {
        const ts_backend *be;
        void *ctx;
        char why[256];
        st = ts_backend_select(s->device, &be, &ctx, why, sizeof why);
        if (st == TS_OK && be->device != TS_DEVICE_CPU) {
            /* The graph keeps host arenas; a device backend needs the graph
             * moved first, which the engine does not offer yet. */
            if (s->device == TS_DEVICE_AUTO) {
                be = ts_backend_cpu();
                ctx = NULL;
                snprintf(why, sizeof why, "training on a GPU is not wired up yet; running on the CPU");
            } else {
                st = ts_error(TS_ERR_UNSUPPORTED, "train: training on '%s' is not supported yet (use --device cpu)",
                              be->name);
            }
        }
        if (st != TS_OK) {
            free(state_path);
            goto out;
        }
        m->graph->backend = be;
        m->graph->backend_ctx = ctx;
        if (be->device == TS_DEVICE_CPU && s->compute_threads > 0) ts_cpu_set_threads(s->compute_threads);
        snprintf(res->backend, sizeof res->backend, "%s", be->name);
        snprintf(res->note, sizeof res->note, "%s", why);
    }
    ts_sgd_config cfg = ts_sgd_config_default();
    cfg.base_lr = s->lr;
    cfg.momentum = s->momentum;
    cfg.weight_decay = s->weight_decay;
    cfg.gamma = s->lr_gamma;
    const int views = s->augment ? 5 : 1;
    const int n_samples = train.n * views;
    const int B = s->batch < n_samples ? s->batch : n_samples;
    const int steps = n_samples / B; /* the last partial batch is dropped */
    cfg.stepsize = s->lr_step_epochs > 0 ? s->lr_step_epochs * steps : 0;
    st = ts_sgd_init(&sgd, m->graph, &cfg);
    if (st != TS_OK) {
        free(state_path);
        goto out;
    }
    int start_epoch = 0;
    if (state) {
        cJSON *tmp = NULL;
        st = state_load(state_path, &tmp, m->graph, &sgd);
        cJSON_Delete(tmp);
        const cJSON *ed = cJSON_GetObjectItemCaseSensitive(state, "epochs_done");
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(state, "iter");
        const cJSON *gs = cJSON_GetObjectItemCaseSensitive(state, "graph_step");
        if (st == TS_OK && (!cJSON_IsNumber(ed) || !cJSON_IsString(it) || !cJSON_IsString(gs) || ed->valueint < 0))
            st = ts_error(TS_ERR_FORMAT, "%s: missing epochs_done/iter/graph_step", state_path);
        if (st == TS_OK) {
            start_epoch = ed->valueint;
            sgd.iter = strtoull(it->valuestring, NULL, 10);
            m->graph->step = strtoull(gs->valuestring, NULL, 10);
            res->resumed_from_epoch = start_epoch;
        }
    }
    free(state_path);
    if (st != TS_OK) goto out;

    face = malloc((size_t)n_samples * sizeof *face);
    angle = malloc((size_t)n_samples * sizeof *angle);
    mirror = malloc((size_t)n_samples);
    const int S = s->size, C = m->meta.in_channels;
    pf.m = m;
    pf.fs = &train;
    pf.batch = B;
    pf.K = K;
    pf.n_traits = n_traits;
    pf.traits = traits;
    pf.sigmoid = sigmoid;
    bool alloc_ok = face && angle && mirror;
    for (int i = 0; i < PREFETCH_SLOTS && alloc_ok; i++) {
        pf.slot[i].x = malloc((size_t)B * C * S * S * sizeof(float));
        pf.slot[i].labels = malloc((size_t)B * sizeof(int));
        pf.slot[i].targets = malloc((size_t)B * K * sizeof(float));
        alloc_ok = pf.slot[i].x && pf.slot[i].labels && pf.slot[i].targets;
    }
    ts_tensor tgt = { malloc((size_t)B * K * sizeof(float)), B, K, 1, 1 };
    logits_host = tgt.data;
    if (!alloc_ok || !tgt.data) {
        st = ts_error(TS_ERR_OOM, "train: out of memory for batches of %d", B);
        goto out;
    }
    pthread_mutex_init(&pf.mu, NULL);
    pthread_cond_init(&pf.cv, NULL);
    pf_init = true;

    r->pr.epochs = s->epochs;
    r->pr.steps = steps;
    r->pr.test_accuracy = -1;
    double train_time = 0;
    long views_done = 0;
    long total_steps_left = (long)(s->epochs - start_epoch) * steps;
    float last_test = -1;
    res->epochs_done = start_epoch;
    for (int epoch = start_epoch; epoch < s->epochs; epoch++) {
        epoch_order(s, epoch, train.n, face, angle, mirror);
        pf.face = face;
        pf.angle = angle;
        pf.mirror = mirror;
        pf.n_steps = steps;
        pf.produced = pf.consumed = 0;
        pf.stop = false;
        pf.err = TS_OK;
        memset(pf.filled, 0, sizeof pf.filled);
        if (pthread_create(&pf.tid, NULL, prefetch_main, &pf) != 0) {
            st = ts_error(TS_ERR_OOM, "train: cannot start the prefetch thread");
            goto out;
        }
        pf_running = true;
        m->graph->training = true;
        m->graph->skip_input_grad = true; /* no gradient of the images is needed */
        r->pr.phase = TS_TRAIN_TRAINING;
        r->pr.epoch = epoch + 1;
        r->pr.epoch_end = false;
        double loss_sum = 0;
        long right = 0, count = 0;
        for (int step = 0; step < steps; step++) {
            if (aborted(r)) {
                st = ts_error(TS_CANCELLED, "train: cancelled in epoch %d (the checkpoint of epoch %d is kept)",
                              epoch + 1, epoch);
                goto out;
            }
            double t_step = now_s();
            batch_slot *b = prefetch_take(&pf, step);
            if (!b) {
                st = ts_error(pf.err, "%s", pf.msg);
                goto out;
            }
            ts_tensor x = { b->x, B, C, S, S };
            ts_graph *g = m->graph;
            st = ts_graph_forward(g, &x);
            if (st != TS_OK) goto out;
            ts_node *o = &g->nodes[g->output];
            ts_tensor logits = { o->out.data, B, K, 1, 1 }, dlogits = { o->dout.data, B, K, 1, 1 };
            float loss = 0;
            if (sigmoid) {
                /* Unlabelled outputs: target = own probability -> zero gradient. */
                for (size_t i = 0; i < (size_t)B * K; i++) {
                    float t = b->targets[i];
                    tgt.data[i] = t >= 0 ? t : 1.0f / (1.0f + expf(-logits.data[i]));
                }
                st = ts_loss_sigmoid_xent(&logits, &tgt, &loss, &dlogits);
            } else {
                st = ts_loss_softmax_xent(&logits, b->labels, &loss, &dlogits);
            }
            if (st != TS_OK) goto out;
            batch_accuracy(logits.data, B, K, sigmoid, b->labels, b->targets, &right, &count);
            prefetch_release(&pf, step);
            ts_graph_zero_grads(g);
            st = ts_graph_backward(g);
            if (st == TS_OK) st = ts_sgd_step(&sgd, g);
            if (st != TS_OK) goto out;
            if (!isfinite(loss)) {
                st = ts_error(TS_ERR_ARG, "train: the loss diverged (%g) in epoch %d step %d; lower the learning rate",
                              loss, epoch + 1, step + 1);
                goto out;
            }
            loss_sum += loss;
            train_time += now_s() - t_step;
            views_done += B;
            total_steps_left--;
            r->pr.step = step + 1;
            r->pr.loss = (float)(loss_sum / (step + 1));
            r->pr.accuracy = count ? (float)right / (float)count : 0;
            r->pr.lr = ts_sgd_lr(&sgd.cfg, sgd.iter ? sgd.iter - 1 : 0);
            r->pr.images_per_s = train_time > 0 ? views_done / train_time : 0;
            r->pr.eta_s = r->pr.images_per_s > 0 ? total_steps_left * (double)B / r->pr.images_per_s : -1;
            report(r);
        }
        prefetch_stop(&pf);
        pf_running = false;
        m->graph->training = false;
        bool last = epoch + 1 == s->epochs;
        if (last || s->eval_each_epoch) {
            float acc = 0;
            st = test_accuracy(r, m, &test, traits, n_traits, sigmoid, &acc);
            if (st != TS_OK) goto out;
            last_test = acc;
            r->pr.test_accuracy = acc;
        }
        st = checkpoint(r, m, &sgd, &split, epoch + 1, last ? last_test : -1);
        if (st != TS_OK) goto out;
        res->epochs_done = epoch + 1;
        res->final_loss = r->pr.loss;
        res->train_accuracy = r->pr.accuracy;
        r->pr.epoch_end = true;
        report(r);
        r->pr.epoch_end = false;
    }
    if (start_epoch >= s->epochs) {
        /* Nothing left to train (a resume of a finished run). */
        res->final_loss = 0;
    }
    res->test_accuracy = last_test;
    res->images_per_s = train_time > 0 ? views_done / train_time : 0;
    r->pr.phase = TS_TRAIN_DONE;
    report(r);

out:
    if (pf_running) prefetch_stop(&pf);
    for (int i = 0; i < PREFETCH_SLOTS; i++) {
        free(pf.slot[i].x);
        free(pf.slot[i].labels);
        free(pf.slot[i].targets);
    }
    if (pf_init) {
        pthread_mutex_destroy(&pf.mu);
        pthread_cond_destroy(&pf.cv);
    }
    free(logits_host);
    free(face);
    free(angle);
    free(mirror);
    cJSON_Delete(state);
    ts_sgd_clear(&sgd);
    ts_model_free(m);
    ts_faceset_clear(&train);
    ts_faceset_clear(&test);
    ts_split_clear(&split);
    ts_dataset_clear(&ds);
    return st;
}

ts_status ts_train_run(const ts_train_settings *s, const ts_train_callbacks *cb, ts_train_result *result)
{
    ts_train_result local;
    ts_train_result *res = result ? result : &local;
    memset(res, 0, sizeof *res);
    res->test_accuracy = -1;
    TS_TRY(validate(s));
    run r = { .s = s, .cb = cb, .t0 = now_s() };
    r.pr.test_accuracy = -1;
    r.pr.eta_s = -1;
    ts_status st = run_training(&r, res);
    res->seconds = now_s() - r.t0;
    return st;
}
