/* job.c - the training run; see job.h for the flow, the files and the
 * resume guarantees.
 *
 * The run is a short list of named steps over one `trainer`:
 *   prepare_data   dataset, traits, split (+ validation), faces
 *   prepare_net    network, backend, optimiser, class weights, and the
 *                  resume state when there is one
 *   train_epoch    one pass over the epoch's views
 *   validate       accuracy and balanced accuracy of every trait
 *   checkpoint     the state always; the model when it is the best so far
 *   final_test     the selected model on the test split, once
 * and one cleanup (trainer_clear) whatever happened.
 *
 * Several ranks (mpirun / srun; dist.h) train one model: every rank holds
 * the whole network and the same epoch order, takes its shard of each
 * global batch (ts_dist_shard; its graph's sample_offset keeps the dropout
 * masks those of one process), and the gradients are summed over the
 * ranks (ts_dist_grads_reduce) before the identical SGD step on each.  The
 * validation and test passes run batch b on rank b % N and add up the
 * predictions, so every rank scores the same, whole set.  Rank 0 alone
 * writes files (split, state, model); every step that may fail on one
 * rank ends in a vote (ts_dist_agree) so that all stop together.  Alone,
 * every dist call is a no-op and the run is what it always was.
 *
 * Determinism: the split, the validation carve-out, the initial weights,
 * each epoch's sample order and views, and the dropout masks all derive
 * from the seed (and the epoch / the graph's step counter, which the state
 * records), so a resumed run sees the samples a never-interrupted run would
 * have seen.
 */
#include "train/job.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "data/dataset.h"
#include "data/split.h"
#include "nn/fileio.h"
#include "nn/loss.h"
#include "nn/sha256.h"
#include "train/dist.h"
#include "train/eval.h"
#include "train/faceset.h"
#include "train/sample.h"
#include "train/device.h"
#include "train/sgd.h"

#define STATE_MAGIC "TSTRAIN1"
#define STATE_MAX_JSON ((uint64_t)64 << 20)
#define MAX_OUTPUTS 64
#define PREFETCH_SLOTS 3

/* The LACNN paper's rotations (section 3), the original first. */
static const float paper_angles[5] = { 0, -40, -20, 20, 40 };

static const char *const augment_names[] = { "none", "paper", "random", "wild" };
static const char *const weights_names[] = { "none", "balanced", "sqrt" };

const char *ts_variant_name(ts_variant v) { return v == TS_VARIANT_LACNN ? "lacnn" : "baseline"; }

bool ts_variant_parse(const char *s, ts_variant *out)
{
    if (!strcmp(s, "baseline")) *out = TS_VARIANT_BASELINE;
    else if (!strcmp(s, "lacnn")) *out = TS_VARIANT_LACNN;
    else return false;
    return true;
}

const char *ts_augment_name(ts_augment a) { return a <= TS_AUGMENT_WILD ? augment_names[a] : "unknown"; }

bool ts_augment_parse(const char *s, ts_augment *out)
{
    for (int i = 0; i <= TS_AUGMENT_WILD; i++)
        if (!strcmp(s, augment_names[i])) {
            *out = (ts_augment)i;
            return true;
        }
    return false;
}

const char *ts_class_weights_name(ts_class_weights w)
{
    return w <= TS_WEIGHTS_SQRT ? weights_names[w] : "unknown";
}

bool ts_class_weights_parse(const char *s, ts_class_weights *out)
{
    for (int i = 0; i <= TS_WEIGHTS_SQRT; i++)
        if (!strcmp(s, weights_names[i])) {
            *out = (ts_class_weights)i;
            return true;
        }
    return false;
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
    s->lr_policy = TS_LR_STEP;
    s->augment = TS_AUGMENT_PAPER;
    s->class_weights = TS_WEIGHTS_NONE;
    s->loss = TS_LOSS_SOFTMAX;
    s->align = TS_ALIGN_NONE;
    s->device = TS_DEVICE_AUTO;
    s->seed = TS_SPLIT_DEFAULT_SEED;
    s->test_fraction = 0.2;
    s->val_fraction = 0.1;
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

static const char *lr_policy_name(const ts_train_settings *s)
{
    if (s->lr_policy == TS_LR_COSINE) return "cosine";
    return s->lr_step_epochs > 0 ? "step" : "fixed";
}

/* The seed of what varies between members trained on one split: the
 * epochs' order and views, the initial weights, the dropout masks. */
static uint64_t run_seed(const ts_train_settings *s)
{
    return s->run_seed ? s->run_seed : s->seed;
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
    cJSON_AddStringToObject(o, "lr_policy", lr_policy_name(s));
    cJSON_AddNumberToObject(o, "lr_gamma", s->lr_gamma);
    cJSON_AddNumberToObject(o, "lr_step_epochs", s->lr_step_epochs);
    cJSON_AddNumberToObject(o, "warmup_epochs", s->warmup_epochs);
    cJSON_AddStringToObject(o, "augment", ts_augment_name(s->augment));
    cJSON_AddStringToObject(o, "class_weights", ts_class_weights_name(s->class_weights));
    cJSON_AddStringToObject(o, "loss", s->loss == TS_LOSS_SIGMOID ? "sigmoid" : "softmax");
    cJSON_AddStringToObject(o, "alignment", ts_alignment_name(s->align));
    cJSON_AddNumberToObject(o, "limit", s->limit);
    cJSON_AddStringToObject(o, "seed", seed);
    if (s->run_seed) {
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)s->run_seed);
        cJSON_AddStringToObject(o, "run_seed", seed);
    }
    cJSON_AddNumberToObject(o, "test_fraction", s->test_fraction);
    cJSON_AddNumberToObject(o, "val_fraction", s->val_fraction);
    cJSON_AddNumberToObject(o, "patience", s->patience);
    if (s->init) cJSON_AddStringToObject(o, "init", s->init);
    return o;
}

/* Settings that a resume must share with the run it continues (epochs,
 * learning rate and its policy, patience and the device may change). */
static ts_status check_same(const cJSON *st, const ts_train_settings *s, const char *path)
{
    cJSON *now = settings_json(s);
    static const char *const keys[] = { "data",  "trait",         "variant",   "arch",          "size",
                                        "batch", "augment",       "loss",      "alignment",     "limit",
                                        "seed",  "test_fraction", "val_fraction", "class_weights",
                                        "init",  "run_seed" };
    ts_status rc = TS_OK;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0] && rc == TS_OK; i++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(st, keys[i]);
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(now, keys[i]);
        if (!a && !b) continue; /* "init", "run_seed": not given on both sides */
        if (!a || !b || !cJSON_Compare(a, b, true)) {
            char *va = a ? cJSON_PrintUnformatted(a) : NULL, *vb = b ? cJSON_PrintUnformatted(b) : NULL;
            rc = ts_error(TS_ERR_ARG, "%s: cannot resume: the run was started with %s=%s, now %s=%s", path,
                          keys[i], va ? va : "(missing)", keys[i], vb ? vb : "(missing)");
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
    uint64_t P = g->params.used;
    /* A network on the GPU: its parameters and momentum to the host first. */
    const float *w = g->params.base, *v = sgd->state.base;
    float *hw = NULL;
    if (g->params.on_device) {
        hw = malloc(2 * P * sizeof(float) + 1);
        ts_status st = hw ? ts_graph_read(g, w, hw, P) : ts_error(TS_ERR_OOM, "%s: out of memory", path);
        if (st == TS_OK) st = ts_sgd_state_read(sgd, hw + P);
        if (st != TS_OK) {
            free(hw);
            return st;
        }
        w = hw, v = hw + P;
    }
    ts_atomic_file af;
    ts_status so = ts_atomic_open(&af, path);
    if (so != TS_OK) {
        free(hw);
        return so;
    }
    ts_sha256 h;
    ts_sha256_init(&h);
    uint64_t L = strlen(json);
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
    PUT(w, P * sizeof(float));
    PUT(v, P * sizeof(float));
#undef PUT
    free(hw);
    uint8_t digest[32];
    ts_sha256_final(&h, digest);
    ok = ok && fwrite(digest, 1, 32, af.f) == 32;
    if (!ok) {
        ts_status st = ts_error(TS_ERR_IO, "%s: write failed: %s", path, ts_atomic_strerror(&af));
        ts_atomic_abort(&af);
        return st;
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
            /* where the network runs (the GPU's memory is not the host's) */
            st = ts_graph_write(g, g->params.base, params, P);
            if (st == TS_OK) st = ts_sgd_state_write(sgd, momentum);
        }
    }
    if (st != TS_OK) {
        cJSON_Delete(*json);
        *json = NULL;
    }
    free(buf);
    return st;
}

/* ---- the trainer: everything one run holds ------------------------------ */

typedef struct batch_slot {
    float *x;        /* (B,C,S,S) */
    int *labels;     /* B (softmax) */
    float *targets;  /* B*K (sigmoid) */
    float *weights;  /* B (softmax) or B*K (sigmoid); 0 = no label */
} batch_slot;

typedef struct prefetch {
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    batch_slot slot[PREFETCH_SLOTS];
    int filled[PREFETCH_SLOTS];
    int n_steps;
    bool stop, running, init;
    ts_status err;
    char msg[512];
} prefetch;

typedef struct trainer {
    const ts_train_settings *s;
    const ts_train_callbacks *cb;
    ts_train_result *res;
    ts_train_progress pr;
    double t0;

    /* data */
    ts_dataset ds;
    ts_split split;
    const ts_trait *traits[MAX_OUTPUTS];
    int n_traits;
    bool sigmoid;
    int K;                   /* outputs */
    int *train_rows, *val_rows; /* split.train without / with only the validation rows (ascending) */
    int n_train, n_val;
    ts_faceset train, val, test;
    float *class_w;          /* sigmoid: K x 2 (weight of class 0, 1); softmax: K */

    /* network */
    ts_model *m;
    ts_sgd sgd;
    int B, steps, views;     /* this rank's batch, steps per epoch, views per face */
    int B_global, B_off;     /* the global batch and this rank's first sample in it (dist.h) */
    bool stop_voted;         /* several ranks: the last step's vote said cancel */
    double all_right, all_count; /* several ranks: the epoch's running accuracy over all */

    /* state */
    char *state_path;
    cJSON *state;            /* loaded for a resume; NULL for a fresh run */
    cJSON *history;          /* array of per-epoch objects */
    cJSON *init_from;        /* --init: that model's path, hash and training record; NULL none */
    ts_model *init_model;    /* --init, between check_init and load_init */
    int start_epoch;
    int best_epoch;          /* 1-based; 0 none */
    double best_score;
    int bad_epochs;
    bool stopped_early;
    ts_trait_score last_val[TS_TRAIN_MAX_TRAITS];

    /* the epoch's samples */
    int *face;
    ts_view *view;
    prefetch pf;
    float *tgt;              /* B*K scratch for the sigmoid loss */
} trainer;

static void report(trainer *t)
{
    t->pr.elapsed_s = now_s() - t->t0;
    if (t->cb && t->cb->on_progress) t->cb->on_progress(&t->pr, t->cb->user);
}

static bool aborted(trainer *t) { return t->cb && t->cb->should_abort && t->cb->should_abort(t->cb->user); }

static void prep_progress(int done, int total, void *user)
{
    trainer *t = user;
    t->pr.done = done;
    t->pr.total = total;
    report(t);
}

static bool prep_abort(void *user) { return aborted(user); }

/* ---- prefetch: a thread that turns the epoch's sample list into batches */

static ts_status fill_slot(trainer *t, int step, batch_slot *b)
{
    const ts_model *m = t->m;
    const int S = m->meta.in_size, C = m->meta.in_channels, K = t->K;
    const size_t one = (size_t)C * S * S;
    const ts_faceset *fs = &t->train;
    for (int i = 0; i < t->B; i++) {
        int k = step * t->B_global + t->B_off + i, f = t->face[k];
        ts_tensor x = { b->x + (size_t)i * one, 1, C, S, S };
        TS_TRY(ts_sample_make(m, &fs->base[f], fs->landmarks ? &fs->pts[f] : NULL, &t->view[k], &x));
        int row = fs->rows[f];
        if (t->sigmoid) {
            for (int j = 0; j < K; j++) {
                int l = t->traits[j]->labels[row];
                b->targets[(size_t)i * K + j] = l < 0 ? 0.0f : (float)l;
                b->weights[(size_t)i * K + j] = l < 0 ? 0.0f : t->class_w[2 * j + l];
            }
        } else {
            int l = t->traits[0]->labels[row];
            b->labels[i] = l;
            b->weights[i] = t->class_w[l];
        }
    }
    return TS_OK;
}

static void *prefetch_main(void *arg)
{
    trainer *t = arg;
    prefetch *p = &t->pf;
    for (int step = 0; step < p->n_steps; step++) {
        int s = step % PREFETCH_SLOTS;
        pthread_mutex_lock(&p->mu);
        while (!p->stop && p->filled[s]) pthread_cond_wait(&p->cv, &p->mu);
        bool stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop) break;
        ts_status st = fill_slot(t, step, &p->slot[s]);
        pthread_mutex_lock(&p->mu);
        if (st != TS_OK) {
            p->err = st;
            snprintf(p->msg, sizeof p->msg, "%s", ts_last_error());
            p->stop = true;
        } else {
            p->filled[s] = 1;
        }
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (st != TS_OK) break;
    }
    return NULL;
}

static ts_status prefetch_start(trainer *t)
{
    prefetch *p = &t->pf;
    p->n_steps = t->steps;
    p->stop = false;
    p->err = TS_OK;
    memset(p->filled, 0, sizeof p->filled);
    if (pthread_create(&p->tid, NULL, prefetch_main, t) != 0)
        return ts_error(TS_ERR_OOM, "train: cannot start the prefetch thread");
    p->running = true;
    return TS_OK;
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
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void prefetch_stop(prefetch *p)
{
    if (!p->running) return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->tid, NULL);
    p->running = false;
}

/* ---- small pieces ------------------------------------------------------- */

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

static ts_status validate_settings(const ts_train_settings *s)
{
    if (!s->data || !s->data[0]) return ts_error(TS_ERR_ARG, "train: no dataset (--data)");
    if (!s->trait || !s->trait[0]) return ts_error(TS_ERR_ARG, "train: no trait (--trait)");
    if (!s->out || !s->out[0]) return ts_error(TS_ERR_ARG, "train: no output path (--out)");
    if (s->epochs < 1 || s->epochs > 100000) return ts_error(TS_ERR_ARG, "train: epochs must be 1..100000");
    if (s->batch < 1 || s->batch > 4096) return ts_error(TS_ERR_ARG, "train: batch must be 1..4096");
    if (s->size < TS_MODEL_MIN_SIZE || s->size > TS_MODEL_MAX_SIZE)
        return ts_error(TS_ERR_ARG, "train: input size must be %d..%d", TS_MODEL_MIN_SIZE, TS_MODEL_MAX_SIZE);
    if (s->lr_step_epochs < 0) return ts_error(TS_ERR_ARG, "train: lr step must be >= 0 epochs");
    if (s->warmup_epochs < 0 || s->warmup_epochs >= s->epochs)
        return ts_error(TS_ERR_ARG, "train: warm-up must be 0..epochs-1 epochs");
    if (s->patience < 0) return ts_error(TS_ERR_ARG, "train: patience must be >= 0 epochs");
    if (!(s->test_fraction > 0 && s->test_fraction < 1))
        return ts_error(TS_ERR_ARG, "train: the test fraction must be in (0,1)");
    if (!(s->val_fraction >= 0 && s->val_fraction < 1))
        return ts_error(TS_ERR_ARG, "train: the validation fraction must be in [0,1)");
    if (s->patience > 0 && s->val_fraction == 0)
        return ts_error(TS_ERR_ARG, "train: early stopping (patience) needs a validation set");
    if ((unsigned)s->augment > TS_AUGMENT_WILD || (unsigned)s->class_weights > TS_WEIGHTS_SQRT ||
        (unsigned)s->lr_policy > TS_LR_COSINE)
        return ts_error(TS_ERR_ARG, "train: unknown augmentation, class weighting or lr policy");
    if (s->loss == TS_LOSS_SOFTMAX && strchr(s->trait, ','))
        return ts_error(TS_ERR_ARG, "train: several traits need the sigmoid (multi-label) loss");
    return TS_OK;
}

static float uni(ts_rng *r, float lo, float hi) { return lo + (hi - lo) * ts_rng_uniform(r); }

/* The epoch's samples: every training face x its views (5 for the paper's
 * rotations, else 1), shuffled with the epoch's own stream; then each
 * sample's mirror coin and, for random views, its draws, in sample order. */
static void epoch_order(trainer *t, int epoch)
{
    const ts_train_settings *s = t->s;
    int views = t->views, n = t->train.n * views;
    for (int i = 0; i < n; i++) {
        t->face[i] = i / views;
        t->view[i] = ts_view_identity();
        if (s->augment == TS_AUGMENT_PAPER) t->view[i].angle = paper_angles[i % views];
    }
    ts_rng rng;
    ts_rng_seed(&rng, run_seed(s) * 0x2545f4914f6cdd1dull + (uint64_t)epoch + 1);
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(ts_rng_next(&rng) % (uint64_t)(i + 1));
        int tf = t->face[i];
        ts_view tv = t->view[i];
        t->face[i] = t->face[j], t->view[i] = t->view[j];
        t->face[j] = tf, t->view[j] = tv;
    }
    if (s->augment == TS_AUGMENT_NONE) return;
    for (int i = 0; i < n; i++) t->view[i].mirror = (ts_rng_next(&rng) >> 63) != 0;
    if (s->augment != TS_AUGMENT_RANDOM && s->augment != TS_AUGMENT_WILD) return;
    for (int i = 0; i < n; i++) {
        ts_view *v = &t->view[i];
        float w = uni(&rng, 0.9f, 1.1f);
        v->angle = uni(&rng, -20, 20);
        v->crop[2] = v->crop[3] = w;
        v->crop[0] = 0.5f * (1 - w) + uni(&rng, -0.06f, 0.06f);
        v->crop[1] = 0.5f * (1 - w) + uni(&rng, -0.06f, 0.06f);
        v->brightness = uni(&rng, -25, 25);
        v->contrast = uni(&rng, 0.75f, 1.25f);
        if (ts_rng_uniform(&rng) < 0.4f) {
            v->keep[0] = uni(&rng, 0, 0.12f);
            v->keep[1] = uni(&rng, 0, 0.12f);
            v->keep[2] = 1 - uni(&rng, 0, 0.12f);
            v->keep[3] = 1 - uni(&rng, 0, 0.08f);
        }
        if (s->augment != TS_AUGMENT_WILD) continue;
        /* Faces in the wild: colour from none to vivid (a fifth of the
         * views grey, so that no trait is read from colour alone, e.g.
         * lipstick), and a third of them defocused or of a low-resolution
         * camera, as web photos and UTKFace's chips are. */
        v->saturation = ts_rng_uniform(&rng) < 0.2f ? 0 : uni(&rng, 0.6f, 1.3f);
        if (ts_rng_uniform(&rng) < 0.33f) v->blur = uni(&rng, 0.5f, 2.0f);
    }
}

/* Accuracy and balanced accuracy of every trait over a face set, from the
 * class probabilities (fs->n x K).  For a sigmoid net output k is
 * P(class 1 of trait k), decided at 0.5. */
static void score_traits(const trainer *t, const ts_faceset *fs, const float *probs, ts_trait_score *out)
{
    const int K = t->K;
    for (int k = 0; k < t->n_traits; k++) {
        const ts_trait *tr = t->traits[k];
        int nc = tr->n_classes, count[MAX_OUTPUTS] = { 0 }, hit[MAX_OUTPUTS] = { 0 };
        ts_trait_score *o = &out[k];
        memset(o, 0, sizeof *o);
        snprintf(o->name, sizeof o->name, "%s", tr->name);
        for (int i = 0; i < fs->n; i++) {
            int l = tr->labels[fs->rows[i]];
            if (l < 0 || l >= nc || l >= MAX_OUTPUTS) continue;
            const float *p = probs + (size_t)i * K;
            int pred;
            if (t->sigmoid) {
                pred = p[k] > 0.5f;
            } else {
                pred = 0;
                for (int c = 1; c < K; c++)
                    if (p[c] > p[pred]) pred = c;
            }
            count[l]++;
            hit[l] += pred == l;
            o->n++;
            o->correct += pred == l;
        }
        int present = 0;
        double recall = 0;
        for (int c = 0; c < nc && c < MAX_OUTPUTS; c++)
            if (count[c]) {
                present++;
                recall += (double)hit[c] / count[c];
            }
        o->accuracy = o->n ? (double)o->correct / o->n : 0;
        o->balanced = present ? recall / present : 0;
        ts_wilson_interval(o->correct, o->n, TS_Z95, &o->lo, &o->hi);
    }
}

static double mean_of(const ts_trait_score *sc, int n, bool balanced)
{
    double sum = 0;
    for (int k = 0; k < n; k++) sum += balanced ? sc[k].balanced : sc[k].accuracy;
    return n ? sum / n : 0;
}

/* Runs model m over a face set and scores it.  With several ranks each
 * runs its batches and the predictions are summed (every row comes from
 * one rank, the others add zeros), so all score the same whole set. */
static ts_status evaluate(trainer *t, ts_model *m, const ts_faceset *fs, ts_trait_score *out)
{
    size_t n = (size_t)(fs->n ? fs->n : 1) * t->K;
    float *probs = malloc(n * sizeof *probs);
    ts_status st = probs ? TS_OK : ts_error(TS_ERR_OOM, "train: out of memory for predictions");
    ts_train_phase was = t->pr.phase;
    t->pr.phase = TS_TRAIN_EVALUATING;
    t->pr.validating = fs == &t->val;
    if (st == TS_OK)
        st = ts_eval_predict_part(m, fs, false, t->s->batch, ts_dist_rank(), ts_dist_size(), probs, prep_progress,
                                  prep_abort, t);
    t->pr.phase = was;
    t->pr.validating = false;
    st = ts_dist_agree(st);
    if (st == TS_OK) st = ts_dist_allreduce_f32(probs, n);
    if (st == TS_OK) score_traits(t, fs, probs, out);
    free(probs);
    return st;
}

cJSON *ts_trait_scores_json(const ts_trait_score *sc, int n)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *tr = cJSON_AddObjectToObject(o, "traits");
    int images = 0;
    for (int k = 0; k < n; k++) {
        cJSON *e = cJSON_AddObjectToObject(tr, sc[k].name);
        cJSON_AddNumberToObject(e, "n", sc[k].n);
        cJSON_AddNumberToObject(e, "accuracy", sc[k].accuracy);
        cJSON *ci = cJSON_AddArrayToObject(e, "ci95");
        cJSON_AddItemToArray(ci, cJSON_CreateNumber(sc[k].lo));
        cJSON_AddItemToArray(ci, cJSON_CreateNumber(sc[k].hi));
        cJSON_AddNumberToObject(e, "balanced_accuracy", sc[k].balanced);
        if (sc[k].n > images) images = sc[k].n;
    }
    cJSON_AddNumberToObject(o, "images", images);
    cJSON_AddNumberToObject(o, "mean_accuracy", mean_of(sc, n, false));
    cJSON_AddNumberToObject(o, "mean_balanced_accuracy", mean_of(sc, n, true));
    return o;
}

/* Reads back what scores_json wrote (for a resumed run's report). */
static int scores_from_json(const cJSON *o, ts_trait_score *out, int max)
{
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(o, "traits"), *e;
    int n = 0;
    cJSON_ArrayForEach(e, tr)
    {
        if (n == max || !e->string) break;
        ts_trait_score *sc = &out[n++];
        memset(sc, 0, sizeof *sc);
        snprintf(sc->name, sizeof sc->name, "%s", e->string);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "n");
        sc->n = cJSON_IsNumber(v) ? v->valueint : 0;
        v = cJSON_GetObjectItemCaseSensitive(e, "accuracy");
        sc->accuracy = cJSON_IsNumber(v) ? v->valuedouble : 0;
        v = cJSON_GetObjectItemCaseSensitive(e, "balanced_accuracy");
        sc->balanced = cJSON_IsNumber(v) ? v->valuedouble : 0;
        sc->correct = (int)lround(sc->accuracy * sc->n);
        ts_wilson_interval(sc->correct, sc->n, TS_Z95, &sc->lo, &sc->hi);
    }
    return n;
}

/* ---- prepare_data ------------------------------------------------------- */

/* Carves val_fraction of the split's training rows out as the validation
 * set (t->val_rows) and leaves the rest for training (t->train_rows); the
 * split itself stays as made.  eval --split val redoes it (data/split.h). */
static ts_status carve_validation(trainer *t)
{
    const ts_train_settings *s = t->s;
    return ts_split_carve(&t->split, t->traits[0], s->val_fraction, s->seed, &t->train_rows, &t->n_train,
                          &t->val_rows, &t->n_val);
}

/* Moves the faces of `all` into train / val / test by their row's set
 * (0, 1, 2 in `which`). */
static ts_status partition_faces(trainer *t, ts_faceset *all, const char *which)
{
    ts_faceset *const dst[3] = { &t->train, &t->val, &t->test };
    return ts_faceset_partition(all, which, 3, dst);
}

static ts_status check_init(trainer *t);

static ts_status load_resume_state(trainer *t)
{
    const ts_train_settings *s = t->s;
    ts_status st = state_load(t->state_path, &t->state, NULL, NULL);
    if (st == TS_ERR_IO) {
        ts_error_clear();
        struct stat sb;
        if (stat(s->out, &sb) == 0)
            return ts_error(TS_ERR_ARG,
                            "train: cannot resume: %s exists but its training state %s does not, so the run"
                            " cannot continue exactly; starting over would overwrite that model (move it away,"
                            " or train without --resume)", s->out, t->state_path);
        return TS_OK; /* never started, or killed in the first epoch: start afresh */
    }
    TS_TRY(st);
    TS_TRY(check_same(cJSON_GetObjectItemCaseSensitive(t->state, "settings"), s, t->state_path));
    char *sp = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(t->state, "split"));
    st = sp ? ts_split_parse(&t->split, sp, strlen(sp), t->state_path)
            : ts_error(TS_ERR_FORMAT, "%s: no split", t->state_path);
    free(sp);
    if (st == TS_OK) st = ts_split_check(&t->split, &t->ds);
    return st;
}

/* Several ranks: each first puts every N-th face's landmarks into the
 * cache, so that the slow localizer runs once per face over the job, not
 * once per rank; then every rank reads them all. */
static ts_status warm_cache(trainer *t, const int *rows, int n, const ts_faceset_options *fo)
{
    const int R = ts_dist_size(), r = ts_dist_rank();
    if (R == 1 || !fo->landmarks) return TS_OK;
    int *mine = malloc((size_t)(n / R + 1) * sizeof *mine), k = 0;
    ts_status st = mine ? TS_OK : ts_error(TS_ERR_OOM, "train: out of memory");
    for (int i = r; st == TS_OK && i < n; i += R) mine[k++] = rows[i];
    ts_faceset part;
    if (st == TS_OK && k > 0) {
        st = ts_faceset_build(&part, &t->ds, mine, k, fo, prep_progress, prep_abort, t);
        if (st == TS_OK) ts_faceset_clear(&part);
        /* No usable face in this share is the full build's business. */
        if (st == TS_ERR_IO) {
            ts_error_clear();
            st = TS_OK;
        }
    }
    free(mine);
    return ts_dist_agree(st);
}

static ts_status prepare_data(trainer *t)
{
    const ts_train_settings *s = t->s;
    TS_TRY(ts_dataset_load(&t->ds, s->data, s->limit));
    TS_TRY(find_traits(&t->ds, s->trait, t->traits, &t->n_traits, MAX_OUTPUTS));
    if (t->n_traits > TS_TRAIN_MAX_TRAITS)
        return ts_error(TS_ERR_ARG, "train: at most %d traits in one net", TS_TRAIN_MAX_TRAITS);
    if (t->sigmoid)
        for (int i = 0; i < t->n_traits; i++)
            if (t->traits[i]->n_classes != 2)
                return ts_error(TS_ERR_ARG, "train: the sigmoid loss needs two-class traits; '%s' has %d",
                                t->traits[i]->name, t->traits[i]->n_classes);
    t->K = t->sigmoid ? t->n_traits : t->traits[0]->n_classes;

    /* Resume: the state decides the split and must match the settings. */
    t->state_path = ts_train_state_path(s->out);
    if (!t->state_path) return ts_error(TS_ERR_OOM, "train: out of memory");
    if (s->resume) TS_TRY(load_resume_state(t));
    if (!t->state && s->init) TS_TRY(check_init(t));
    if (!t->state) {
        TS_TRY(ts_split_make(&t->split, &t->ds, t->traits[0]->name, s->test_fraction, s->seed));
        char sp[4200];
        snprintf(sp, sizeof sp, "%s.split.json", s->out);
        if (ts_dist_rank() == 0) TS_TRY(ts_split_save(&t->split, sp));
    }
    TS_TRY(carve_validation(t));
    if (t->n_train < 1 || t->split.n_test < 1 || (s->val_fraction > 0 && t->n_val < 1))
        return ts_error(TS_ERR_ARG,
                        "train: the split has %d training, %d validation and %d test images; use more data (--limit)",
                        t->n_train, t->n_val, t->split.n_test);

    /* Faces: all three sets in one pass, then apart. */
    bool lacnn = s->variant == TS_VARIANT_LACNN;
    ts_faceset_options fo = { .size = s->size, .align = s->align, .landmarks = lacnn || s->align != TS_ALIGN_NONE,
                              .cache_dir = s->cache_dir, .threads = s->threads };
    int n_all = t->n_train + t->n_val + t->split.n_test;
    int *rows = malloc((size_t)n_all * sizeof *rows);
    char *which = calloc((size_t)t->ds.n_rows, 1);
    if (!rows || !which) {
        free(rows);
        free(which);
        return ts_error(TS_ERR_OOM, "train: out of memory");
    }
    memcpy(rows, t->train_rows, (size_t)t->n_train * sizeof *rows);
    memcpy(rows + t->n_train, t->val_rows, (size_t)t->n_val * sizeof *rows);
    memcpy(rows + t->n_train + t->n_val, t->split.test, (size_t)t->split.n_test * sizeof *rows);
    for (int i = 0; i < t->n_val; i++) which[t->val_rows[i]] = 1;
    for (int i = 0; i < t->split.n_test; i++) which[t->split.test[i]] = 2;
    t->pr.phase = TS_TRAIN_PREPARING;
    ts_faceset all;
    ts_status st = warm_cache(t, rows, n_all, &fo);
    if (st == TS_OK) st = ts_faceset_build(&all, &t->ds, rows, n_all, &fo, prep_progress, prep_abort, t);
    free(rows);
    if (st == TS_OK) {
        t->res->n_skipped = all.n_skipped;
        for (int k = 0; k < all.n_skipped_kept && k < (int)(sizeof t->res->skipped / sizeof t->res->skipped[0]); k++)
            snprintf(t->res->skipped[t->res->n_skipped_shown++], sizeof t->res->skipped[0], "%s", all.skipped[k].message);
        st = partition_faces(t, &all, which);
        if (st == TS_OK && (t->train.n < 1 || t->test.n < 1 || (s->val_fraction > 0 && t->val.n < 1)))
            st = ts_error(TS_ERR_IO, "train: no usable %s images (%s)",
                          t->train.n < 1 ? "training" : t->test.n < 1 ? "test" : "validation", all.first_error);
        ts_faceset_clear(&all);
    }
    free(which);
    t->res->n_train = t->train.n;
    t->res->n_val = t->val.n;
    t->res->n_test = t->test.n;
    return st;
}

/* ---- prepare_net -------------------------------------------------------- */

/* Class weights from the training faces' class shares (job.h). */
static ts_status make_class_weights(trainer *t)
{
    int K = t->K, per = t->sigmoid ? 2 : K;
    t->class_w = malloc((size_t)K * 2 * sizeof *t->class_w);
    if (!t->class_w) return ts_error(TS_ERR_OOM, "train: out of memory");
    for (int i = 0; i < K * 2; i++) t->class_w[i] = 1.0f;
    if (t->s->class_weights == TS_WEIGHTS_NONE) return TS_OK;
    for (int k = 0; k < (t->sigmoid ? K : 1); k++) {
        const ts_trait *tr = t->traits[k];
        long count[MAX_OUTPUTS] = { 0 }, total = 0;
        for (int i = 0; i < t->train.n; i++) {
            int l = tr->labels[t->train.rows[i]];
            if (l >= 0 && l < per) count[l]++, total++;
        }
        float *w = t->class_w + (t->sigmoid ? 2 * k : 0);
        double norm = 0;
        for (int c = 0; c < per; c++) {
            double p = total ? (double)count[c] / total : 0;
            if (p <= 0) {
                w[c] = 1.0f;
                continue;
            }
            w[c] = (float)(t->s->class_weights == TS_WEIGHTS_BALANCED ? 1.0 / (per * p) : 1.0 / sqrt(p));
            norm += p * w[c];
        }
        /* sqrt: scale so the mean weight of a face is 1 (balanced already is). */
        if (t->s->class_weights == TS_WEIGHTS_SQRT && norm > 0)
            for (int c = 0; c < per; c++) w[c] = (float)(w[c] / norm);
    }
    return TS_OK;
}

/* The epochs_done a saved model records; -1 when it cannot be read. */
static int saved_epochs(const char *path)
{
    ts_model *m = NULL;
    if (ts_model_load(path, &m) != TS_OK) {
        ts_error_clear();
        return -1;
    }
    cJSON *j = cJSON_Parse(m->meta.training);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "epochs_done");
    int n = cJSON_IsNumber(e) ? e->valueint : -1;
    cJSON_Delete(j);
    ts_model_free(m);
    return n;
}

static ts_status save_model(trainer *t, ts_model *m, int epochs_done, const ts_trait_score *test);
static char *training_json(const trainer *t, int epochs_done, const ts_trait_score *test);

/* The state's numbers and history, for a resume. */
static ts_status restore_state(trainer *t)
{
    cJSON *tmp = NULL;
    TS_TRY(state_load(t->state_path, &tmp, t->m->graph, &t->sgd));
    cJSON_Delete(tmp);
    const cJSON *st = t->state;
    const cJSON *ed = cJSON_GetObjectItemCaseSensitive(st, "epochs_done");
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(st, "iter");
    const cJSON *gs = cJSON_GetObjectItemCaseSensitive(st, "graph_step");
    if (!cJSON_IsNumber(ed) || !cJSON_IsString(it) || !cJSON_IsString(gs) || ed->valueint < 0)
        return ts_error(TS_ERR_FORMAT, "%s: missing epochs_done/iter/graph_step", t->state_path);
    t->start_epoch = ed->valueint;
    t->sgd.iter = strtoull(it->valuestring, NULL, 10);
    t->m->graph->step = strtoull(gs->valuestring, NULL, 10);
    t->res->resumed_from_epoch = t->start_epoch;
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(st, "history");
    if (cJSON_IsArray(h)) {
        cJSON_Delete(t->history);
        t->history = cJSON_Duplicate(h, true);
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(st, "best_epoch");
    t->best_epoch = cJSON_IsNumber(v) ? v->valueint : 0;
    v = cJSON_GetObjectItemCaseSensitive(st, "best_score");
    t->best_score = cJSON_IsNumber(v) ? v->valuedouble : -1;
    v = cJSON_GetObjectItemCaseSensitive(st, "bad_epochs");
    t->bad_epochs = cJSON_IsNumber(v) ? v->valueint : 0;
    t->stopped_early = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(st, "stopped_early"));
    v = cJSON_GetObjectItemCaseSensitive(st, "best_val");
    if (v) scores_from_json(v, t->last_val, TS_TRAIN_MAX_TRAITS);
    v = cJSON_GetObjectItemCaseSensitive(st, "init_from");
    if (cJSON_IsObject(v)) t->init_from = cJSON_Duplicate(v, true);
    /* The checkpoint writes the state, then the model: a kill between the
     * two leaves a state whose last epoch should be OUT but is not.  The
     * state's parameters are that epoch's, so OUT is written from them. */
    int want = t->s->val_fraction > 0 ? t->best_epoch : t->start_epoch;
    if (ts_dist_rank() == 0 && want > 0 && want == t->start_epoch && saved_epochs(t->s->out) != want)
        return save_model(t, t->m, want, NULL);
    return TS_OK;
}

/* What the model's file says of the run it continues: where it started
 * (path and content hash) and that model's own training record, so that a
 * fine-tuned model keeps its whole recipe. */
static ts_status set_init_from(trainer *t, const ts_model *im)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", t->s->init);
    cJSON_AddStringToObject(o, "sha256", im->meta.hash);
    cJSON *tr = cJSON_Parse(im->meta.training);
    cJSON_AddItemToObject(o, "training", tr ? tr : cJSON_CreateObject());
    cJSON_Delete(t->init_from);
    t->init_from = o;
    return o && cJSON_GetObjectItemCaseSensitive(o, "training") ? TS_OK : ts_error(TS_ERR_OOM, "train: out of memory");
}

/* Whether two dataset specs (KIND:PATH) name the same files: the same kind
 * and the same real path, however each was written. */
static bool same_dataset(const char *a, const char *b)
{
    const char *ca = strchr(a, ':'), *cb = strchr(b, ':');
    if (!ca || !cb || ca - a != cb - b || strncmp(a, b, (size_t)(ca - a)) != 0) return strcmp(a, b) == 0;
    char *ra = realpath(ca + 1, NULL), *rb = realpath(cb + 1, NULL);
    bool same = ra && rb ? strcmp(ra, rb) == 0 : strcmp(ca + 1, cb + 1) == 0;
    free(ra);
    free(rb);
    return same;
}

/* --init, early (before the faces are prepared, which takes minutes): the
 * model reads, takes this run's input (channels and size) and has its
 * outputs, and was not trained on this dataset under another split (its
 * training faces would be among this run's test faces).  Kept in
 * t->init_model for load_init. */
static ts_status check_init(trainer *t)
{
    const char *path = t->s->init;
    TS_TRY(ts_model_load(path, &t->init_model));
    const ts_model_meta *a = &t->init_model->meta;
    const int C = t->s->variant == TS_VARIANT_LACNN ? 4 : 3, S = t->s->size;
    if (a->in_channels != C || a->in_size != S)
        return ts_error(TS_ERR_ARG, "%s: --init: the model takes %d channels at %dx%d, this run %d at %dx%d", path,
                        a->in_channels, a->in_size, a->in_size, C, S, S);
    if (a->n_classes != t->K)
        return ts_error(TS_ERR_ARG, "%s: --init: the model has %d outputs, this run %d", path, a->n_classes, t->K);
    for (int i = 0; i < t->K; i++) {
        const char *want = t->sigmoid ? t->traits[i]->name : t->traits[0]->classes[i];
        if (strcmp(a->classes[i], want) != 0)
            return ts_error(TS_ERR_ARG, "%s: --init: output %d is '%s', this run's is '%s'", path, i + 1,
                            a->classes[i], want);
    }
    ts_status st = TS_OK;
    cJSON *was = cJSON_Parse(a->training);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(was, "data");
    if (cJSON_IsString(data) && same_dataset(data->valuestring, t->s->data)) {
        cJSON *now = settings_json(t->s);
        static const char *const same[] = { "trait", "seed", "test_fraction", "limit" };
        for (size_t i = 0; i < sizeof same / sizeof same[0] && st == TS_OK; i++) {
            const cJSON *x = cJSON_GetObjectItemCaseSensitive(was, same[i]);
            const cJSON *y = cJSON_GetObjectItemCaseSensitive(now, same[i]);
            if (!x || !y || !cJSON_Compare(x, y, true))
                st = ts_error(TS_ERR_ARG,
                              "%s: --init: the model was trained on %s with another %s, so its training faces"
                              " would be in this run's test split (use its %s)",
                              path, t->s->data, same[i], same[i]);
        }
        cJSON_Delete(now);
    }
    cJSON_Delete(was);
    return st;
}

/* --init, once the network is built: the checked model (check_init) is the
 * same network, and its parameters replace the fresh ones; the momentum
 * starts at zero.  A resumed run takes its parameters from the state
 * instead. */
static ts_status load_init(trainer *t)
{
    const char *path = t->s->init;
    const ts_model *im = t->init_model;
    ts_status st = TS_OK;
    if (strcmp(im->meta.arch_text, t->m->meta.arch_text) != 0)
        st = ts_error(TS_ERR_ARG, "%s: --init: the model's network ('%s') is not the one this run builds ('%s')",
                      path, im->meta.arch, t->m->meta.arch);
    else if (im->graph->params.used != t->m->graph->params.used)
        st = ts_error(TS_ERR_ARG, "%s: --init: %zu parameters, this run's network has %zu", path,
                      im->graph->params.used, t->m->graph->params.used);
    if (st == TS_OK) st = ts_graph_write(t->m->graph, t->m->graph->params.base, im->graph->params.base,
                                         im->graph->params.used);
    if (st == TS_OK) st = set_init_from(t, im);
    ts_model_free(t->init_model);
    t->init_model = NULL;
    return st;
}

static ts_status prepare_net(trainer *t)
{
    const ts_train_settings *s = t->s;
    const char *names[MAX_OUTPUTS];
    for (int i = 0; i < t->K; i++) names[i] = t->sigmoid ? t->traits[i]->name : t->traits[0]->classes[i];
    bool landmarks = s->variant == TS_VARIANT_LACNN || s->align != TS_ALIGN_NONE;
    ts_model_options mo = { .in_channels = s->variant == TS_VARIANT_LACNN ? 4 : 3, .size = s->size,
                            .classes = t->K, .class_names = names, .trait = s->trait, .seed = run_seed(s),
                            .landmarks = landmarks ? TS_LANDMARKS_ERT : TS_LANDMARKS_NONE, .alignment = s->align };
    TS_TRY(ts_model_new(s->arch, &mo, &t->m));

    /* the GPU when asked for or present (train/device.h); its context is
     * the graph's, closed in trainer_clear */
    TS_TRY(ts_train_device_open(s->device, s->compute_threads, t->m->graph, t->res->note, sizeof t->res->note));
    snprintf(t->res->backend, sizeof t->res->backend, "%s", ts_graph_backend(t->m->graph, NULL)->name);

    t->views = s->augment == TS_AUGMENT_PAPER ? 5 : 1;
    const int n_samples = t->train.n * t->views;
    t->B_global = s->batch < n_samples ? s->batch : n_samples;
    t->steps = n_samples / t->B_global; /* the last partial batch is dropped */
    /* This rank's shard of every batch (the whole of it alone). */
    ts_dist_shard(t->B_global, &t->B_off, &t->B);
    if (t->B < 1)
        return ts_error(TS_ERR_ARG, "train: a batch of %d cannot be shared by %d ranks (use --batch %d or more)",
                        t->B_global, ts_dist_size(), ts_dist_size());
    t->m->graph->sample_offset = (uint64_t)t->B_off;
    ts_sgd_config cfg = ts_sgd_config_default();
    cfg.base_lr = s->lr;
    cfg.momentum = s->momentum;
    cfg.weight_decay = s->weight_decay;
    cfg.gamma = s->lr_gamma;
    cfg.warmup_iters = (long)s->warmup_epochs * t->steps;
    if (s->lr_policy == TS_LR_COSINE) cfg.cosine_iters = (long)(s->epochs - s->warmup_epochs) * t->steps;
    else cfg.stepsize = s->lr_step_epochs > 0 ? s->lr_step_epochs * t->steps : 0;
    TS_TRY(ts_sgd_init(&t->sgd, t->m->graph, &cfg));
    TS_TRY(make_class_weights(t));
    t->history = cJSON_CreateArray();
    t->best_score = -1;
    if (t->state) TS_TRY(restore_state(t));
    else if (t->init_model) TS_TRY(load_init(t));
    /* The net in memory describes itself from the start, as its file will:
     * validation reads its loss and outputs from it (a sigmoid net scored
     * as a softmax one in its first epoch, and in the first after a resume). */
    char *tj = t->history ? training_json(t, t->start_epoch, NULL) : NULL;
    ts_status ms = tj ? ts_model_set_training(t->m, tj) : ts_error(TS_ERR_OOM, "train: out of memory");
    free(tj);
    TS_TRY(ms);

    const int S = s->size, C = t->m->meta.in_channels, B = t->B, K = t->K;
    t->face = malloc((size_t)n_samples * sizeof *t->face);
    t->view = malloc((size_t)n_samples * sizeof *t->view);
    t->tgt = malloc((size_t)B * K * sizeof *t->tgt);
    bool ok = t->face && t->view && t->tgt && t->history;
    for (int i = 0; i < PREFETCH_SLOTS && ok; i++) {
        batch_slot *b = &t->pf.slot[i];
        b->x = malloc((size_t)B * C * S * S * sizeof(float));
        b->labels = malloc((size_t)B * sizeof(int));
        b->targets = malloc((size_t)B * K * sizeof(float));
        b->weights = malloc((size_t)B * K * sizeof(float));
        ok = b->x && b->labels && b->targets && b->weights;
    }
    if (!ok) return ts_error(TS_ERR_OOM, "train: out of memory for batches of %d", B);
    pthread_mutex_init(&t->pf.mu, NULL);
    pthread_cond_init(&t->pf.cv, NULL);
    t->pf.init = true;
    return TS_OK;
}

/* ---- train_epoch -------------------------------------------------------- */

/* Accuracy of a batch: argmax (softmax) or threshold 0 on the logit per
 * labelled output (sigmoid).  Adds to *right and *count. */
static void batch_accuracy(const trainer *t, const float *logits, const batch_slot *b, long *right, long *count)
{
    int K = t->K;
    for (int i = 0; i < t->B; i++) {
        const float *z = logits + (size_t)i * K;
        if (t->sigmoid) {
            for (int k = 0; k < K; k++) {
                if (b->weights[(size_t)i * K + k] == 0) continue;
                *right += (z[k] > 0) == (b->targets[(size_t)i * K + k] > 0.5f);
                (*count)++;
            }
        } else {
            int best = 0;
            for (int k = 1; k < K; k++)
                if (z[k] > z[best]) best = k;
            *right += best == b->labels[i];
            (*count)++;
        }
    }
}

/* Several ranks: the step's vote (a failure anywhere, a cancel), the
 * batch's loss and running accuracy over all ranks, then the gradient sum
 * (dist.h).  *loss becomes the mean over the global batch (each rank's is
 * the mean over its shard, weighted by its share).  A failing rank passes
 * its status and loss NULL.  Alone: returns st. */
static ts_status dist_step(trainer *t, ts_status st, float *loss, long right, long count)
{
    if (ts_dist_size() == 1) return st;
    double v[5] = { st != TS_OK, aborted(t), st == TS_OK && loss ? (double)*loss * t->B / t->B_global : 0,
                    (double)right, (double)count };
    TS_TRY(ts_dist_allreduce_f64(v, 5, TS_DIST_SUM));
    if (v[0] > 0) return ts_dist_agree(st);
    t->stop_voted = v[1] > 0;
    *loss = (float)v[2];
    t->all_right = v[3];
    t->all_count = v[4];
    return ts_dist_grads_reduce(t->m->graph);
}

static ts_status train_epoch(trainer *t, int epoch, double *train_time, long *views_done, long *steps_left)
{
    const int B = t->B, K = t->K, S = t->s->size, C = t->m->meta.in_channels;
    ts_graph *g = t->m->graph;
    epoch_order(t, epoch);
    TS_TRY(prefetch_start(t));
    g->training = true;
    g->skip_input_grad = true; /* no gradient of the images is needed */
    t->pr.phase = TS_TRAIN_TRAINING;
    t->pr.epoch = epoch + 1;
    t->pr.epoch_end = false;
    double loss_sum = 0;
    long right = 0, count = 0;
    ts_status st = TS_OK;
    bool voted = true; /* this step's vote is in (dist_step) */
    t->all_right = t->all_count = 0;
    for (int step = 0; step < t->steps && st == TS_OK; step++) {
        voted = false;
        if (ts_dist_size() > 1 ? t->stop_voted : aborted(t)) {
            voted = true;
            st = ts_error(TS_CANCELLED, "train: cancelled in epoch %d (the checkpoint of epoch %d is kept)", epoch + 1,
                          epoch);
            break;
        }
        double t_step = now_s();
        batch_slot *b = prefetch_take(&t->pf, step);
        if (!b) {
            st = ts_error(t->pf.err, "%s", t->pf.msg);
            break;
        }
        ts_tensor x = { b->x, B, C, S, S };
        st = ts_graph_forward(g, &x);
        if (st != TS_OK) break;
        ts_tensor logits, dlogits; /* on the host, the graph's own on the CPU */
        st = ts_graph_logits_host(g, &logits, &dlogits);
        if (st != TS_OK) break;
        float loss = 0;
        if (t->sigmoid) {
            memcpy(t->tgt, b->targets, (size_t)B * K * sizeof *t->tgt);
            ts_tensor tgt = { t->tgt, B, K, 1, 1 };
            st = ts_loss_sigmoid_xent_weighted(&logits, &tgt, b->weights, &loss, &dlogits);
        } else {
            st = ts_loss_softmax_xent_weighted(&logits, b->labels, b->weights, &loss, &dlogits);
        }
        if (st != TS_OK) break;
        batch_accuracy(t, logits.data, b, &right, &count);
        prefetch_release(&t->pf, step);
        ts_graph_zero_grads(g);
        st = ts_graph_dlogits_commit(g);
        if (st == TS_OK) st = ts_graph_backward(g);
        if (st != TS_OK) break;
        st = dist_step(t, st, &loss, right, count);
        voted = true;
        if (st != TS_OK) break;
        st = ts_sgd_step(&t->sgd, g);
        if (st != TS_OK) {
            voted = false; /* the others are on to the next step's vote */
            break;
        }
        if (!isfinite(loss)) {
            st = ts_error(TS_ERR_ARG, "train: the loss diverged (%g) in epoch %d step %d; lower the learning rate",
                          loss, epoch + 1, step + 1);
            break;
        }
        loss_sum += loss;
        *train_time += now_s() - t_step;
        *views_done += t->B_global;
        (*steps_left)--;
        t->pr.step = step + 1;
        t->pr.loss = (float)(loss_sum / (step + 1));
        if (ts_dist_size() > 1) t->pr.accuracy = t->all_count ? (float)(t->all_right / t->all_count) : 0;
        else t->pr.accuracy = count ? (float)right / (float)count : 0;
        t->pr.lr = ts_sgd_lr(&t->sgd.cfg, t->sgd.iter ? t->sgd.iter - 1 : 0);
        t->pr.images_per_s = *train_time > 0 ? *views_done / *train_time : 0;
        t->pr.eta_s = t->pr.images_per_s > 0 ? *steps_left * (double)t->B_global / t->pr.images_per_s : -1;
        report(t);
    }
    /* A rank that failed before its vote still casts it, so that the others
     * stop with it instead of waiting. */
    if (!voted) (void)dist_step(t, st, NULL, right, count);
    prefetch_stop(&t->pf);
    g->training = false;
    return st;
}

/* ---- checkpoint --------------------------------------------------------- */

/* The "outputs" entry: each trait and its classes, in output order. */
static cJSON *outputs_json(const trainer *t)
{
    cJSON *a = cJSON_CreateArray();
    for (int k = 0; k < t->n_traits; k++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "trait", t->traits[k]->name);
        cJSON *cl = cJSON_AddArrayToObject(o, "classes");
        for (int c = 0; c < t->traits[k]->n_classes; c++)
            cJSON_AddItemToArray(cl, cJSON_CreateString(t->traits[k]->classes[c]));
        cJSON_AddStringToObject(o, "output", t->sigmoid ? "sigmoid" : "softmax");
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

static char *training_json(const trainer *t, int epochs_done, const ts_trait_score *test)
{
    const ts_train_settings *s = t->s;
    const ts_split *split = &t->split;
    cJSON *o = settings_json(s);
    cJSON_AddNumberToObject(o, "epochs_done", epochs_done);
    cJSON *sp = cJSON_AddObjectToObject(o, "split");
    char buf[32];
    cJSON_AddStringToObject(sp, "trait", split->trait ? split->trait : "");
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)split->seed);
    cJSON_AddStringToObject(sp, "seed", buf);
    cJSON_AddNumberToObject(sp, "test_fraction", split->test_fraction);
    cJSON_AddNumberToObject(sp, "val_fraction", s->val_fraction);
    cJSON_AddNumberToObject(sp, "rows", split->n_rows);
    snprintf(buf, sizeof buf, "%016llx", (unsigned long long)split->fingerprint);
    cJSON_AddStringToObject(sp, "fingerprint", buf);
    cJSON_AddNumberToObject(sp, "limit", s->limit);
    cJSON_AddNumberToObject(sp, "n_train", t->n_train);
    cJSON_AddNumberToObject(sp, "n_val", t->n_val);
    cJSON_AddNumberToObject(sp, "n_test", split->n_test);
    cJSON_AddNumberToObject(o, "skipped_images", t->res->n_skipped);
    /* Data-parallel training (dist.h): how many processes, and what summed
     * their gradients ("none" alone). */
    cJSON_AddNumberToObject(o, "ranks", ts_dist_size());
    cJSON_AddStringToObject(o, "allreduce", ts_dist_allreduce_name());
    cJSON_AddItemToObject(o, "outputs", outputs_json(t));
    cJSON_AddItemToObject(o, "history", cJSON_Duplicate(t->history, true));
    if (t->init_from) cJSON_AddItemToObject(o, "init_from", cJSON_Duplicate(t->init_from, true));
    if (t->best_epoch > 0) {
        cJSON *v = ts_trait_scores_json(t->last_val, t->n_traits);
        cJSON_AddNumberToObject(v, "epoch", t->best_epoch);
        cJSON_AddStringToObject(v, "selected_by", "mean balanced accuracy");
        cJSON_AddBoolToObject(v, "stopped_early", t->stopped_early);
        cJSON_AddItemToObject(o, "validation", v);
    }
    if (test) {
        cJSON *te = ts_trait_scores_json(test, t->n_traits);
        cJSON_AddItemToObject(o, "test", te);
        /* The old single number, kept for readers that know only it. */
        cJSON_AddNumberToObject(o, "test_accuracy", mean_of(test, t->n_traits, false));
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

static ts_status save_model(trainer *t, ts_model *m, int epochs_done, const ts_trait_score *test)
{
    char *tj = training_json(t, epochs_done, test);
    if (!tj) return ts_error(TS_ERR_OOM, "train: out of memory");
    ts_status st = ts_model_set_training(m, tj);
    free(tj);
    if (st != TS_OK) return st;
    m->meta.test_accuracy = test ? mean_of(test, t->n_traits, false) : -1;
    return ts_model_save(m, t->s->out, TS_DTYPE_F32);
}

/* Writes OUT.state, then OUT when `write_model`. */
static ts_status checkpoint(trainer *t, int epochs_done, bool write_model, const ts_trait_score *test)
{
    cJSON *sj = cJSON_CreateObject();
    cJSON_AddStringToObject(sj, "format", "traitscope-train-state");
    cJSON_AddNumberToObject(sj, "version", 2);
    cJSON_AddItemToObject(sj, "settings", settings_json(t->s));
    cJSON_AddNumberToObject(sj, "epochs_done", epochs_done);
    char num[32];
    snprintf(num, sizeof num, "%llu", (unsigned long long)t->sgd.iter);
    cJSON_AddStringToObject(sj, "iter", num);
    snprintf(num, sizeof num, "%llu", (unsigned long long)t->m->graph->step);
    cJSON_AddStringToObject(sj, "graph_step", num);
    /* The split as made; the validation carve-out is redone from the seed
     * on resume. */
    char *split_text = ts_split_to_json(&t->split);
    cJSON *split = split_text ? cJSON_Parse(split_text) : NULL;
    free(split_text);
    cJSON_AddItemToObject(sj, "split", split ? split : cJSON_CreateNull());
    cJSON_AddItemToObject(sj, "history", cJSON_Duplicate(t->history, true));
    cJSON_AddNumberToObject(sj, "best_epoch", t->best_epoch);
    cJSON_AddNumberToObject(sj, "best_score", t->best_score);
    cJSON_AddNumberToObject(sj, "bad_epochs", t->bad_epochs);
    cJSON_AddBoolToObject(sj, "stopped_early", t->stopped_early);
    if (t->best_epoch > 0) cJSON_AddItemToObject(sj, "best_val", ts_trait_scores_json(t->last_val, t->n_traits));
    if (t->init_from) cJSON_AddItemToObject(sj, "init_from", cJSON_Duplicate(t->init_from, true));
    char *text = cJSON_PrintUnformatted(sj);
    cJSON_Delete(sj);
    ts_status st = TS_OK;
    /* Every rank holds the same weights; rank 0 writes them. */
    if (ts_dist_rank() == 0) {
        st = text ? state_save(t->state_path, text, t->m->graph, &t->sgd) : ts_error(TS_ERR_OOM, "train: out of memory");
        if (st == TS_OK && write_model) st = save_model(t, t->m, epochs_done, test);
    }
    free(text);
    return ts_dist_agree(st);
}

/* ---- the loop and the final test --------------------------------------- */

static void add_history(trainer *t, int epoch, double seconds, const ts_trait_score *val, const ts_trait_score *test)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "epoch", epoch);
    cJSON_AddNumberToObject(e, "loss", t->pr.loss);
    cJSON_AddNumberToObject(e, "train_accuracy", t->pr.accuracy);
    cJSON_AddNumberToObject(e, "lr", t->pr.lr);
    cJSON_AddNumberToObject(e, "seconds", seconds);
    if (val) cJSON_AddItemToObject(e, "val", ts_trait_scores_json(val, t->n_traits));
    if (test) cJSON_AddItemToObject(e, "test_each_epoch", ts_trait_scores_json(test, t->n_traits));
    cJSON_AddItemToArray(t->history, e);
}

/* Tests the selected model once.  With validation the selected model is
 * OUT as written at the best epoch; without, the current one. */
static ts_status final_test(trainer *t, int epochs_done)
{
    ts_trait_score test[TS_TRAIN_MAX_TRAITS];
    ts_model *best = NULL;
    ts_model *m = t->m;
    if (t->best_epoch > 0) {
        ts_status ls = ts_dist_agree(ts_model_load(t->s->out, &best));
        void *ctx;
        const ts_backend *be = ts_graph_backend(t->m->graph, &ctx);
        if (ls == TS_OK) ls = ts_dist_agree(ts_graph_to_backend(best->graph, be, ctx));
        if (ls != TS_OK) {
            ts_model_free(best);
            return ls;
        }
        m = best;
    }
    ts_status st = evaluate(t, m, &t->test, test);
    if (st == TS_OK && ts_dist_rank() == 0) {
        /* The model file keeps its own epoch count (the selected one). */
        st = save_model(t, m, t->best_epoch > 0 ? t->best_epoch : epochs_done, test);
    }
    st = ts_dist_agree(st);
    if (st == TS_OK) {
        memcpy(t->res->test, test, sizeof test);
        t->res->test_accuracy = (float)mean_of(test, t->n_traits, false);
    }
    ts_model_free(best); /* before t->m's context closes */
    return st;
}

/* A finished run's figures from its state and model (a resume with nothing
 * left to train). */
static ts_status report_finished(trainer *t)
{
    int n = cJSON_GetArraySize(t->history);
    if (n > 0) {
        const cJSON *last = cJSON_GetArrayItem(t->history, n - 1);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(last, "loss");
        t->res->final_loss = cJSON_IsNumber(v) ? (float)v->valuedouble : 0;
        v = cJSON_GetObjectItemCaseSensitive(last, "train_accuracy");
        t->res->train_accuracy = cJSON_IsNumber(v) ? (float)v->valuedouble : 0;
    }
    ts_model *done = NULL;
    ts_status st = ts_dist_agree(ts_model_load(t->s->out, &done));
    if (st != TS_OK) {
        ts_model_free(done);
        return st;
    }
    cJSON *tj = cJSON_Parse(done->meta.training);
    const cJSON *te = cJSON_GetObjectItemCaseSensitive(tj, "test");
    bool tested = te != NULL;
    if (tested) {
        scores_from_json(te, t->res->test, TS_TRAIN_MAX_TRAITS);
        t->res->test_accuracy = (float)mean_of(t->res->test, t->n_traits, false);
    }
    cJSON_Delete(tj);
    ts_model_free(done);
    /* Killed between the last checkpoint and the test: test now. */
    return tested ? TS_OK : final_test(t, t->start_epoch);
}

static void trainer_clear(trainer *t)
{
    prefetch_stop(&t->pf);
    for (int i = 0; i < PREFETCH_SLOTS; i++) {
        free(t->pf.slot[i].x);
        free(t->pf.slot[i].labels);
        free(t->pf.slot[i].targets);
        free(t->pf.slot[i].weights);
    }
    if (t->pf.init) {
        pthread_mutex_destroy(&t->pf.mu);
        pthread_cond_destroy(&t->pf.cv);
    }
    free(t->tgt);
    free(t->face);
    free(t->view);
    free(t->class_w);
    free(t->train_rows);
    free(t->val_rows);
    free(t->state_path);
    cJSON_Delete(t->state);
    cJSON_Delete(t->history);
    cJSON_Delete(t->init_from);
    ts_model_free(t->init_model);
    ts_sgd_clear(&t->sgd);
    ts_dist_grads_detach();
    /* the context the network ran in closes after the network */
    void *ctx = NULL;
    const ts_backend *be = t->m ? ts_graph_backend(t->m->graph, &ctx) : NULL;
    ts_model_free(t->m);
    ts_backend_close(be, ctx);
    ts_faceset_clear(&t->train);
    ts_faceset_clear(&t->val);
    ts_faceset_clear(&t->test);
    ts_split_clear(&t->split);
    ts_dataset_clear(&t->ds);
}

/* Removes what atomic writes of OUT, OUT.state and OUT.split.json left
 * when their process was killed (the output lock is held). */
static ts_status clean_stale(trainer *t)
{
    static const char *const tails[] = { "", ".state", ".split.json" };
    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s%s", t->s->out, tails[i]);
        int n = 0;
        TS_TRY(ts_atomic_clean_stale(p, &n));
        t->res->n_stale_removed += n;
    }
    return TS_OK;
}

/* Several ranks: all must hold the same faces and the same initial (or
 * resumed) weights, which a file that differs between nodes would break;
 * then each rank's CPU share and the gradient reduction are set up. */
static ts_status join_ranks(trainer *t)
{
    t->res->ranks = ts_dist_size();
    if (ts_dist_size() == 1) {
        snprintf(t->res->allreduce, sizeof t->res->allreduce, "none");
        return TS_OK;
    }
    ts_graph *g = t->m->graph;
    /* 52 bits of an FNV-1a hash of the weights' bytes (host) or 0. */
    uint64_t h = 1469598103934665603ull;
    if (!g->params.on_device) {
        const uint8_t *p = (const uint8_t *)g->params.base;
        for (size_t i = 0; i < g->params.used * sizeof(float); i++) h = (h ^ p[i]) * 1099511628211ull;
    }
    double v[10] = { t->train.n, t->val.n, t->test.n, t->steps, (double)(h >> 12) };
    for (int i = 0; i < 5; i++) v[5 + i] = -v[i];
    TS_TRY(ts_dist_allreduce_f64(v, 10, TS_DIST_MAX));
    for (int i = 0; i < 5; i++)
        if (v[i] != -v[5 + i])
            return ts_error(TS_ERR_ARG, "train: the %d ranks do not hold the same %s (is every rank reading the same "
                                        "files?)", ts_dist_size(), i < 4 ? "faces" : "initial weights");
    if (ts_graph_backend(g, NULL)->device == TS_DEVICE_CPU && t->s->compute_threads == 0) ts_cpu_set_threads(ts_dist_cpu_threads());
    TS_TRY(ts_dist_grads_attach(g, (float)t->B / (float)t->B_global));
    snprintf(t->res->allreduce, sizeof t->res->allreduce, "%s", ts_dist_allreduce_name());
    return TS_OK;
}

/* Scores epoch `epoch` (0-based) on the validation set and keeps the best
 * mean balanced accuracy (model selection); counts the epochs without a
 * better one for early stopping.  *improved: this epoch is the best. */
static ts_status validate(trainer *t, int epoch, ts_trait_score *val, bool *improved)
{
    TS_TRY(evaluate(t, t->m, &t->val, val));
    double score = mean_of(val, t->n_traits, true);
    t->pr.val_accuracy = (float)mean_of(val, t->n_traits, false);
    t->pr.val_balanced = (float)score;
    *improved = score > t->best_score;
    if (*improved) {
        t->best_score = score;
        t->best_epoch = epoch + 1;
        t->bad_epochs = 0;
        memcpy(t->last_val, val, sizeof t->last_val);
    } else if (t->s->patience > 0 && ++t->bad_epochs >= t->s->patience) {
        t->stopped_early = true;
    }
    return TS_OK;
}

static ts_status run_training(trainer *t)
{
    const ts_train_settings *s = t->s;
    TS_TRY(ts_dist_agree(prepare_data(t)));
    TS_TRY(ts_dist_agree(prepare_net(t)));
    TS_TRY(join_ranks(t));
    t->pr.epochs = s->epochs;
    t->pr.steps = t->steps;
    t->pr.test_accuracy = -1;
    t->pr.val_accuracy = t->pr.val_balanced = -1;
    t->pr.best_epoch = t->best_epoch;
    t->res->epochs_done = t->start_epoch;
    t->res->n_traits = t->n_traits;
    bool finished = t->start_epoch >= s->epochs || t->stopped_early;
    if (finished) {
        t->res->best_epoch = t->best_epoch > 0 ? t->best_epoch : t->start_epoch;
        t->res->stopped_early = t->stopped_early;
        memcpy(t->res->val, t->last_val, sizeof t->last_val);
        TS_TRY(report_finished(t));
        t->pr.phase = TS_TRAIN_DONE;
        report(t);
        return TS_OK;
    }
    double train_time = 0;
    long views_done = 0, steps_left = (long)(s->epochs - t->start_epoch) * t->steps;
    int epoch = t->start_epoch;
    for (; epoch < s->epochs && !t->stopped_early; epoch++) {
        double t_epoch = now_s();
        TS_TRY(train_epoch(t, epoch, &train_time, &views_done, &steps_left));
        TS_TRY(ts_dist_average_batchnorm(t->m->graph));
        ts_trait_score val[TS_TRAIN_MAX_TRAITS], each[TS_TRAIN_MAX_TRAITS];
        bool have_val = t->val.n > 0, improved = !have_val;
        if (have_val) TS_TRY(validate(t, epoch, val, &improved));
        if (s->eval_each_epoch) {
            TS_TRY(evaluate(t, t->m, &t->test, each));
            t->pr.test_accuracy = (float)mean_of(each, t->n_traits, false);
        }
        add_history(t, epoch + 1, now_s() - t_epoch, have_val ? val : NULL, s->eval_each_epoch ? each : NULL);
        TS_TRY(checkpoint(t, epoch + 1, improved, NULL));
        t->res->epochs_done = epoch + 1;
        t->res->final_loss = t->pr.loss;
        t->res->train_accuracy = t->pr.accuracy;
        t->pr.best_epoch = t->best_epoch;
        t->pr.epoch_end = true;
        report(t);
        t->pr.epoch_end = false;
    }
    t->res->best_epoch = t->best_epoch > 0 ? t->best_epoch : epoch;
    t->res->stopped_early = t->stopped_early;
    memcpy(t->res->val, t->last_val, sizeof t->last_val);
    t->res->images_per_s = train_time > 0 ? views_done / train_time : 0;
    TS_TRY(final_test(t, epoch));
    t->pr.test_accuracy = t->res->test_accuracy;
    t->pr.phase = TS_TRAIN_DONE;
    report(t);
    return TS_OK;
}

ts_status ts_train_run(const ts_train_settings *s, const ts_train_callbacks *cb, ts_train_result *result)
{
    ts_train_result local;
    ts_train_result *res = result ? result : &local;
    memset(res, 0, sizeof *res);
    res->test_accuracy = -1;
    TS_TRY(ts_dist_agree(validate_settings(s)));
    trainer *t = calloc(1, sizeof *t);
    if (!t) return ts_error(TS_ERR_OOM, "train: out of memory");
    t->s = s;
    t->cb = cb;
    t->res = res;
    t->t0 = now_s();
    t->sigmoid = s->loss == TS_LOSS_SIGMOID;
    t->pr.test_accuracy = -1;
    t->pr.eta_s = -1;
    ts_dataset_init(&t->ds);
    ts_split_init(&t->split);
    /* One writer per output: a second run on the same OUT fails at once,
     * naming the first, instead of both succeeding and the last one
     * winning.  Holding the lock, the temporaries a killed run left
     * (OUT.tmp-*, OUT.state.tmp-*, 35 MB each for AlexNet) can go. */
    char what[200];
    snprintf(what, sizeof what, "training %.60s on %.100s", s->trait, s->data);
    /* Several ranks are one writer: rank 0, which writes the files, holds
     * the lock, and the others learn in the vote whether it got it. */
    ts_output_lock lock;
    const bool writer = ts_dist_rank() == 0;
    ts_status st = writer ? ts_output_lock_take(&lock, s->out, what) : TS_OK;
    if (st == TS_OK && writer) st = clean_stale(t);
    st = ts_dist_agree(st);
    if (st == TS_OK) st = run_training(t);
    if (writer) ts_output_lock_release(&lock);
    res->seconds = now_s() - t->t0;
    trainer_clear(t);
    free(t);
    return st;
}
