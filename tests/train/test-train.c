/* test-train.c - the training job (train/job.h) and the train / eval /
 * compare commands on a small real subset of CelebA-HQ, with the tiny
 * network of tiny.arch at 32 x 32 so that it runs in seconds:
 *   - the loss goes down (first step vs the last epoch's mean);
 *   - files: model, state and split are written; the model reloads and
 *     records its test accuracy;
 *   - cancel: should_abort stops the run with TS_CANCELLED in epoch 2, the
 *     epoch-1 checkpoint stays, and a resume ends with the same weights as
 *     an uninterrupted run (the sample order is seeded per epoch);
 *   - kill -9 of `traitscope-cli train` after its first checkpoint, then
 *     `--resume` continues from that epoch to the end;
 *   - `eval --json` and `compare --json` print the documented shapes;
 *   - a LACNN (4-channel) run with the rotation augmentation completes;
 *   - a multi-label sigmoid net over three traits trains and evaluates.
 * Exit 77 when the data or dlib's model is missing, or (after running the rest)
 * when face-api's detector is, which predict on raw images needs.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "face/detector.h"
#include "face/model-path.h"
#include "nn/model.h"
#include "train/job.h"

static int failures;
#define CHECK(c)                                                            \
    do {                                                                    \
        if (!(c)) {                                                         \
            fprintf(stderr, "%s:%d: FAIL %s\n", __FILE__, __LINE__, #c);    \
            failures++;                                                     \
        }                                                                   \
    } while (0)

static char data_spec[4200], arch[4200], cli[4200], dir[64], cache[256], srcroot[4200];
static char skipped[4400]; /* a part that could not run, and why */

typedef struct rec {
    float first_loss;
    int n_steps;
    int abort_epoch, abort_step; /* abort when reaching this (1-based) */
    int epoch_ends;
} rec;

static void on_progress(const ts_train_progress *p, void *user)
{
    rec *r = user;
    if (p->phase != TS_TRAIN_TRAINING || p->epoch_end) {
        if (p->epoch_end) r->epoch_ends++;
        return;
    }
    if (r->n_steps++ == 0) r->first_loss = p->loss;
    if (r->abort_epoch && p->epoch == r->abort_epoch && p->step >= r->abort_step) r->abort_epoch = -1;
}

static bool should_abort(void *user) { return ((rec *)user)->abort_epoch == -1; }

static void settings(ts_train_settings *s, const char *out, int epochs)
{
    ts_train_settings_default(s);
    s->data = data_spec;
    s->trait = "gender";
    s->variant = TS_VARIANT_BASELINE;
    s->arch = arch;
    s->size = 32;
    s->epochs = epochs;
    s->batch = 20;
    s->lr = 0.01f;
    s->augment = false;
    s->limit = 240;
    s->seed = 7;
    s->out = out;
    s->cache_dir = cache;
    s->device = TS_DEVICE_CPU;
}

static bool exists(const char *p) { return access(p, F_OK) == 0; }

/* Runs a shell command, returns its stdout (transfer: full). */
static char *run_capture(const char *cmd, int *status)
{
    FILE *f = popen(cmd, "r");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (size_t n; (n = fread(buf + len, 1, cap - len - 1, f)) > 0;) len += n;
    buf[len] = '\0';
    *status = pclose(f);
    return buf;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void test_learn_and_files(void)
{
    char out[256];
    snprintf(out, sizeof out, "%s/learn.safetensors", dir);
    ts_train_settings s;
    settings(&s, out, 5);
    rec r = { 0 };
    ts_train_callbacks cb = { on_progress, NULL, &r };
    ts_train_result res;
    ts_status st = ts_train_run(&s, &cb, &res);
    if (st != TS_OK) fprintf(stderr, "train: %s\n", ts_last_error());
    CHECK(st == TS_OK);
    CHECK(res.epochs_done == 5 && r.epoch_ends == 5);
    /* 48 test images; 10% of the other 192 (stratified) for validation. */
    CHECK(res.n_train + res.n_val + res.n_test == 240 && res.n_test == 48 && res.n_val >= 18 && res.n_val <= 20);
    CHECK(res.best_epoch >= 1 && res.best_epoch <= 5);
    fprintf(stderr, "learn: first loss %.4f, last epoch mean %.4f, train acc %.3f, test acc %.3f\n", r.first_loss,
            res.final_loss, res.train_accuracy, res.test_accuracy);
    CHECK(r.first_loss > 0.5f && r.first_loss < 1.0f); /* ~ln 2 at the start */
    CHECK(res.final_loss < r.first_loss - 0.1f);
    CHECK(res.test_accuracy >= 0 && res.test_accuracy <= 1);
    char p[300];
    snprintf(p, sizeof p, "%s.state", out);
    CHECK(exists(p));
    snprintf(p, sizeof p, "%s.split.json", out);
    CHECK(exists(p));
    ts_model *m;
    CHECK(ts_model_load(out, &m) == TS_OK);
    if (m) {
        CHECK(m->meta.in_channels == 3 && m->meta.in_size == 32 && m->meta.n_classes == 2);
        CHECK(!strcmp(m->meta.trait, "gender") && !strcmp(m->meta.classes[1], "male"));
        CHECK(fabs(m->meta.test_accuracy - res.test_accuracy) < 1e-6);
        CHECK(strstr(m->meta.training, "\"split\"") && strstr(m->meta.training, "\"fingerprint\""));
        ts_model_free(m);
    }
}

/* The metadata of a trained model: history per epoch, the validation
 * figures of the selected epoch, the test figures once; then a resume of
 * the finished run trains nothing and reports the same figures (issue 19
 * item 12: it reported loss 0, accuracy 0 and no test accuracy); and a
 * resume whose state is gone refuses instead of starting over on top of
 * the trained model (item 3). */
static void test_selection_and_finished(void)
{
    char out[256], state[300];
    snprintf(out, sizeof out, "%s/learn.safetensors", dir);
    snprintf(state, sizeof state, "%s.state", out);
    ts_model *m = NULL;
    CHECK(ts_model_load(out, &m) == TS_OK);
    if (!m) return;
    cJSON *tj = cJSON_Parse(m->meta.training);
    const cJSON *hist = cJSON_GetObjectItemCaseSensitive(tj, "history");
    const cJSON *val = cJSON_GetObjectItemCaseSensitive(tj, "validation");
    const cJSON *test = cJSON_GetObjectItemCaseSensitive(tj, "test");
    CHECK(cJSON_GetArraySize(hist) == 5);
    int best = (int)num(val, "epoch");
    CHECK(best >= 1 && best <= 5 && num(tj, "epochs_done") == best);
    /* The selected epoch is the best mean balanced accuracy in the history. */
    double top = -1;
    int top_epoch = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, hist)
    {
        double b = num(cJSON_GetObjectItemCaseSensitive(e, "val"), "mean_balanced_accuracy");
        CHECK(b >= 0 && b <= 1);
        if (b > top) top = b, top_epoch = (int)num(e, "epoch");
        /* the test split is not looked at per epoch */
        CHECK(!cJSON_GetObjectItemCaseSensitive(e, "test_each_epoch"));
    }
    CHECK(top_epoch == best && fabs(top - num(val, "mean_balanced_accuracy")) < 1e-9);
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(test, "traits"), "gender");
    CHECK(num(g, "n") == 48 && num(g, "balanced_accuracy") >= 0 && num(g, "balanced_accuracy") <= 1);
    double acc = num(g, "accuracy");
    cJSON_Delete(tj);
    ts_model_free(m);

    ts_train_settings s;
    settings(&s, out, 5);
    s.resume = true;
    ts_train_result res;
    ts_status st = ts_train_run(&s, NULL, &res);
    CHECK(st == TS_OK);
    CHECK(res.epochs_done == 5 && res.resumed_from_epoch == 5 && res.best_epoch == best);
    CHECK(res.final_loss > 0 && res.train_accuracy > 0 && fabs(res.test_accuracy - acc) < 1e-6);
    CHECK(res.n_traits == 1 && res.test[0].n == 48);

    char moved[320];
    snprintf(moved, sizeof moved, "%s.away", state);
    CHECK(rename(state, moved) == 0);
    st = ts_train_run(&s, NULL, &res);
    CHECK(st == TS_ERR_ARG && strstr(ts_last_error(), "cannot resume") && strstr(ts_last_error(), ".state"));
    CHECK(ts_model_load(out, &m) == TS_OK); /* untouched */
    ts_model_free(m);
    CHECK(rename(moved, state) == 0);

    /* The learning curve of the run, drawn from its history. */
    char cmd[4096], plot[300];
    snprintf(plot, sizeof plot, "%s/curves.svg", dir);
    snprintf(cmd, sizeof cmd, "'%s' curves '%s' --trait gender --out '%s'", cli, out, plot);
    int status = 0;
    char *text = run_capture(cmd, &status);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    const cJSON *sr = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "series"), 0);
    CHECK(status == 0 && sr && num(sr, "epochs") == 5 && num(sr, "selected") == best);
    FILE *f = fopen(plot, "r");
    char head[256] = "";
    if (f) {
        size_t got = fread(head, 1, sizeof head - 1, f);
        head[got] = 0;
        fclose(f);
    }
    CHECK(strstr(head, "<svg") != NULL);
    cJSON_Delete(j);
    free(text);
    /* A model without a history is refused, by name. */
    snprintf(cmd, sizeof cmd, "'%s' init --arch '%s' --size 32 --out '%s/fresh.safetensors' >/dev/null && "
                              "'%s' curves '%s/fresh.safetensors' --out '%s/no.png' 2>&1", cli, arch, dir, cli, dir, dir);
    text = run_capture(cmd, &status);
    CHECK(status != 0 && text && strstr(text, "fresh.safetensors") && strstr(text, "history"));
    free(text);
}

static bool params_close(const char *a, const char *b)
{
    ts_model *ma, *mb;
    if (ts_model_load(a, &ma) != TS_OK) return false;
    if (ts_model_load(b, &mb) != TS_OK) return false;
    bool ok = ma->graph->params.used == mb->graph->params.used;
    double maxd = 0;
    for (size_t i = 0; ok && i < ma->graph->params.used; i++) {
        double d = fabs(ma->graph->params.base[i] - mb->graph->params.base[i]);
        maxd = d > maxd ? d : maxd;
    }
    fprintf(stderr, "resume: largest weight difference to the uninterrupted run %.3g\n", maxd);
    ts_model_free(ma);
    ts_model_free(mb);
    return ok && maxd < 1e-4;
}

static void test_cancel_resume(void)
{
    char ref[256], out[256];
    snprintf(ref, sizeof ref, "%s/ref.safetensors", dir);
    snprintf(out, sizeof out, "%s/cancel.safetensors", dir);
    ts_train_settings s;
    settings(&s, ref, 2);
    s.augment = true; /* rotations and mirrors in the order too */
    s.limit = 100;
    CHECK(ts_train_run(&s, NULL, NULL) == TS_OK);

    settings(&s, out, 2);
    s.augment = true;
    s.limit = 100;
    rec r = { .abort_epoch = 2, .abort_step = 3 };
    ts_train_callbacks cb = { on_progress, should_abort, &r };
    ts_train_result res;
    ts_status st = ts_train_run(&s, &cb, &res);
    CHECK(st == TS_CANCELLED);
    CHECK(res.epochs_done == 1);
    CHECK(exists(out));
    s.resume = true;
    rec r2 = { 0 };
    cb = (ts_train_callbacks){ on_progress, NULL, &r2 };
    st = ts_train_run(&s, &cb, &res);
    if (st != TS_OK) fprintf(stderr, "resume: %s\n", ts_last_error());
    CHECK(st == TS_OK);
    CHECK(res.resumed_from_epoch == 1 && res.epochs_done == 2);
    CHECK(params_close(ref, out));

    /* A resume with other settings is refused, naming the setting. */
    s.seed = 8;
    st = ts_train_run(&s, NULL, NULL);
    CHECK(st == TS_ERR_ARG && strstr(ts_last_error(), "seed"));
}

static void test_kill9_resume(void)
{
    char out[256], state[300];
    snprintf(out, sizeof out, "%s/kill.safetensors", dir);
    snprintf(state, sizeof state, "%s.state", out);
    const char *args[] = { cli, "train", "--data", data_spec, "--trait", "gender", "--variant", "baseline",
                           "--arch", arch, "--size", "32", "--epochs", "4", "--limit", "240", "--batch", "10",
                           "--cache", cache, "--device", "cpu", "--out", out, NULL };
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        freopen("/dev/null", "w", stderr);
        execv(cli, (char *const *)args);
        _exit(127);
    }
    CHECK(pid > 0);
    /* Wait for the first checkpoint, then kill -9 mid-epoch 2. */
    int status = 0;
    bool killed = false;
    for (int i = 0; i < 30000; i++) { /* up to 10 minutes on a busy machine */
        if (exists(state)) {
            kill(pid, SIGKILL);
            killed = true;
            break;
        }
        if (waitpid(pid, &status, WNOHANG) == pid) break;
        usleep(20000);
    }
    if (!killed && waitpid(pid, &status, WNOHANG) == 0) {
        /* Never checkpointed in time: do not leave it running. */
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fprintf(stderr, "kill -9: no checkpoint appeared in time\n");
        failures++;
        return;
    }
    if (killed) waitpid(pid, &status, 0);
    CHECK(killed && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "'%s' train --data '%s' --trait gender --variant baseline --arch '%s' --size 32 --epochs 4 "
             "--limit 240 --batch 10 --cache '%s' --device cpu --out '%s' --resume 2>/dev/null",
             cli, data_spec, arch, cache, out);
    char *text = run_capture(cmd, &status);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    CHECK(status == 0 && j);
    if (j) {
        fprintf(stderr, "kill -9: resumed from epoch %g\n", num(j, "resumed_from_epoch"));
        CHECK(num(j, "resumed_from_epoch") >= 1);
        CHECK(num(j, "epochs_done") == 4);
        CHECK(num(j, "test_accuracy") >= 0);
    }
    cJSON_Delete(j);
    free(text);
}

static void test_eval_compare_json(void)
{
    char model[256], cmd[8192];
    snprintf(model, sizeof model, "%s/learn.safetensors", dir);
    int status;
    snprintf(cmd, sizeof cmd, "'%s' eval --model '%s' --data '%s' --json --cache '%s'", cli, model, data_spec, cache);
    char *text = run_capture(cmd, &status);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    CHECK(status == 0 && j);
    if (j) {
        const cJSON *split = cJSON_GetObjectItemCaseSensitive(j, "split");
        CHECK(cJSON_IsString(split) && !strcmp(split->valuestring, "test"));
        CHECK(num(j, "images") == 48);
        double acc = num(j, "accuracy");
        CHECK(acc >= 0 && acc <= 1);
        const cJSON *ci = cJSON_GetObjectItemCaseSensitive(j, "ci95");
        CHECK(cJSON_IsArray(ci) && cJSON_GetArraySize(ci) == 2);
        if (cJSON_GetArraySize(ci) == 2)
            CHECK(cJSON_GetArrayItem(ci, 0)->valuedouble <= acc && acc <= cJSON_GetArrayItem(ci, 1)->valuedouble);
        const cJSON *traits = cJSON_GetObjectItemCaseSensitive(j, "traits");
        CHECK(cJSON_IsArray(traits) && cJSON_GetArraySize(traits) == 1);
        const cJSON *t0 = cJSON_GetArrayItem(traits, 0);
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(t0, "name");
        CHECK(cJSON_IsString(name) && !strcmp(name->valuestring, "gender"));
        CHECK(num(t0, "n") == 48 && num(t0, "correct") == round(acc * 48));
        CHECK(cJSON_GetObjectItemCaseSensitive(t0, "one_off") == NULL); /* not age groups */
        CHECK(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(j, "swapped")));
        /* The model's own test accuracy matches what eval measures. */
        ts_model *m;
        if (ts_model_load(model, &m) == TS_OK) {
            CHECK(fabs(m->meta.test_accuracy - acc) < 1e-6);
            ts_model_free(m);
        }
    }
    cJSON_Delete(j);
    free(text);

    snprintf(cmd, sizeof cmd, "'%s' eval --model '%s' --data '%s' --split all --oversample --align rotation --json --cache '%s'",
             cli, model, data_spec, cache);
    text = run_capture(cmd, &status);
    j = text ? cJSON_Parse(text) : NULL;
    CHECK(status == 0 && j);
    if (j) {
        CHECK(num(j, "images") == 240);
        CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "swapped")));
        CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "oversample")));
    }
    cJSON_Delete(j);
    free(text);

    snprintf(cmd, sizeof cmd, "'%s' compare --baseline '%s' --lacnn '%s' --data '%s' --json --cache '%s'", cli, model,
             model, data_spec, cache);
    text = run_capture(cmd, &status);
    j = text ? cJSON_Parse(text) : NULL;
    CHECK(status == 0 && j);
    if (j) {
        CHECK(num(j, "images") == 48);
        CHECK(num(j, "difference") == 0);
        const cJSON *mc = cJSON_GetObjectItemCaseSensitive(j, "mcnemar");
        CHECK(num(mc, "p") == 1 && num(mc, "baseline_only") == 0 && num(mc, "lacnn_only") == 0);
        CHECK(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "baseline")));
        CHECK(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "lacnn")));
    }
    cJSON_Delete(j);
    free(text);
}

/* P(male) of model for CelebA-HQ's images/NAME by eval --split all
 * --per-image (extra: more eval options), and by predict; NAN when the
 * command fails or the image is not in its output. */
static double eval_male(const char *model, const char *name, const char *extra)
{
    char per_image[300], cmd[9000], want[96], line[8192];
    snprintf(per_image, sizeof per_image, "%s/eval-male.jsonl", dir);
    snprintf(cmd, sizeof cmd, "'%s' eval --model '%s' --data '%s' --split all %s --per-image '%s' --cache '%s' >/dev/null 2>&1",
             cli, model, data_spec, extra, per_image, cache);
    if (system(cmd) != 0) return NAN;
    snprintf(want, sizeof want, "/images/%s\"", name);
    FILE *f = fopen(per_image, "r");
    double p = NAN;
    while (f && fgets(line, sizeof line, f)) {
        if (!strstr(line, want)) continue;
        cJSON *e = cJSON_Parse(line);
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(e, "traits"), "gender");
        p = num(cJSON_GetObjectItemCaseSensitive(g, "probabilities"), "male");
        cJSON_Delete(e);
    }
    if (f) fclose(f);
    return p;
}

static double predict_male(const char *model, const char *name)
{
    char cmd[9000];
    int status;
    snprintf(cmd, sizeof cmd, "'%s' predict --model '%s' '%s/images/%s' 2>/dev/null", cli, model,
             data_spec + strlen("celeba:"), name);
    char *text = run_capture(cmd, &status);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(j, "probabilities"); /* a one-trait net */
    if (!pr) pr = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "traits"), "gender"), "probabilities");
    double p = status == 0 ? num(pr, "male") : NAN;
    cJSON_Delete(j);
    free(text);
    return p;
}

static void test_lacnn(void)
{
    char out[256];
    snprintf(out, sizeof out, "%s/lacnn.safetensors", dir);
    ts_train_settings s;
    settings(&s, out, 1);
    s.variant = TS_VARIANT_LACNN;
    s.augment = true;
    s.limit = 60;
    ts_train_result res;
    ts_status st = ts_train_run(&s, NULL, &res);
    if (st != TS_OK) fprintf(stderr, "lacnn: %s\n", ts_last_error());
    CHECK(st == TS_OK);
    ts_model *m;
    if (ts_model_load(out, &m) == TS_OK) {
        CHECK(m->meta.in_channels == 4 && m->meta.landmarks == TS_LANDMARKS_ERT);
        ts_model_free(m);
    } else {
        CHECK(!"lacnn model loads");
    }
    /* predict finds the landmarks a 4-channel model needs by itself (it
     * used to stop, asking for them); it needs face-api's detector. */
    char found[4200];
    if (ts_model_path_find(TS_DETECTOR_SSD_MODEL, "npm ci", found, sizeof found) != TS_OK) {
        snprintf(skipped, sizeof skipped, "predict on an LACNN model: %s", ts_last_error());
        return;
    }
    char cmd[8192];
    int status;
    snprintf(cmd, sizeof cmd, "'%s' predict --model '%s' '%s/images/1.jpg' 2>/dev/null", cli, out,
             data_spec + strlen("celeba:"));
    char *text = run_capture(cmd, &status);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(j, "probabilities");
    CHECK(status == 0 && fabs(num(pr, "female") + num(pr, "male") - 1) < 1e-5);
    if (status != 0 && text) fprintf(stderr, "predict on an LACNN model: %s\n", text);
    cJSON_Delete(j);
    free(text);
    /* a dataset's crop gets the landmarks training and eval found for it
     * (the fixed box of face/locate.h), so predict says what eval says:
     * the bundled LACNN on a CelebA-HQ face (predict found the face with
     * the detector and gave 0.842 where eval gives 0.868) */
    char bundled[4300];
    snprintf(bundled, sizeof bundled, "%s/resources/models/lacnn.safetensors", srcroot);
    double ev = eval_male(bundled, "100.jpg", "--limit 50"), pr_m = predict_male(bundled, "100.jpg");
    fprintf(stderr, "images/100.jpg, bundled LACNN: predict P(male) %.7f, eval %.7f\n", pr_m, ev);
    CHECK(fabs(pr_m - ev) < 1e-5);
    /* the same for this run's model, trained without alignment at 32 x 32:
     * its faces were the whole images scaled down with the prefilter of a
     * large reduction, and predict's are now too (it resized without one:
     * P(male) 0.337 where eval said 0.349) */
    ev = eval_male(out, "1.jpg", ""), pr_m = predict_male(out, "1.jpg");
    fprintf(stderr, "images/1.jpg, this run's LACNN: predict P(male) %.7f, eval %.7f\n", pr_m, ev);
    CHECK(fabs(pr_m - ev) < 1e-5);
}

/* The validation figures of a sigmoid net's epoch `e` (1-based) from its
 * file's history; NAN when absent. */
static double history_val(const char *path, int e)
{
    ts_model *m;
    if (ts_model_load(path, &m) != TS_OK) return NAN;
    cJSON *j = cJSON_Parse(m->meta.training);
    const cJSON *ep = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "history"), e - 1);
    double v = num(cJSON_GetObjectItemCaseSensitive(ep, "val"), "mean_balanced_accuracy");
    cJSON_Delete(j);
    ts_model_free(m);
    return v;
}

/* A multi-label (sigmoid) net is validated as one from its first epoch, and
 * in the first epoch after a resume: an interrupted and resumed run records
 * the validation figures of the uninterrupted one, epoch by epoch.  (The
 * net in memory once lacked its loss until the first checkpoint, and was
 * scored as a softmax net in those epochs.) */
static void test_sigmoid_resume_validation(void)
{
    char ref[256], out[256];
    snprintf(ref, sizeof ref, "%s/multi-ref.safetensors", dir);
    snprintf(out, sizeof out, "%s/multi-cut.safetensors", dir);
    ts_train_settings s;
    settings(&s, ref, 3);
    s.loss = TS_LOSS_SIGMOID;
    s.trait = "gender,emotion";
    s.val_fraction = 0.25f;
    s.limit = 160;
    CHECK(ts_train_run(&s, NULL, NULL) == TS_OK);
    s.out = out;
    rec r = { .abort_epoch = 2, .abort_step = 1 };
    ts_train_callbacks cb = { on_progress, should_abort, &r };
    CHECK(ts_train_run(&s, &cb, NULL) == TS_CANCELLED);
    s.resume = true;
    CHECK(ts_train_run(&s, NULL, NULL) == TS_OK);
    for (int e = 1; e <= 3; e++) {
        double a = history_val(ref, e), b = history_val(out, e);
        fprintf(stderr, "sigmoid resume: epoch %d validation %.4f vs %.4f uninterrupted\n", e, b, a);
        CHECK(!isnan(a) && a == b);
    }
}

static void test_sigmoid(void)
{
    char out[256], cmd[8192];
    snprintf(out, sizeof out, "%s/multi.safetensors", dir);
    ts_train_settings s;
    settings(&s, out, 2);
    s.loss = TS_LOSS_SIGMOID;
    s.trait = "gender,emotion,hair";
    s.limit = 120;
    ts_train_result res;
    ts_status st = ts_train_run(&s, NULL, &res);
    if (st != TS_OK) fprintf(stderr, "sigmoid: %s\n", ts_last_error());
    CHECK(st == TS_OK);
    CHECK(res.test_accuracy >= 0 && res.test_accuracy <= 1);
    /* eval reports one entry per trait. */
    int status;
    snprintf(cmd, sizeof cmd, "'%s' eval --model '%s' --data '%s' --json --cache '%s'", cli, out, data_spec, cache);
    char *text = run_capture(cmd, &status);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    CHECK(status == 0 && j);
    const cJSON *traits = cJSON_GetObjectItemCaseSensitive(j, "traits");
    CHECK(cJSON_GetArraySize(traits) == 3);
    const cJSON *t2 = cJSON_GetArrayItem(traits, 2);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(t2, "name");
    CHECK(cJSON_IsString(name) && !strcmp(name->valuestring, "hair"));
    /* hair leaves out some rows: fewer labelled images than gender. */
    CHECK(num(t2, "n") <= num(cJSON_GetArrayItem(traits, 0), "n"));
    /* balanced accuracy beside accuracy, per trait */
    CHECK(num(t2, "balanced_accuracy") >= 0 && num(t2, "balanced_accuracy") <= 1);
    cJSON_Delete(j);
    free(text);

    /* eval --trait on a subset, --per-image: one line per image with each
     * asked trait's label, prediction and probabilities. */
    char per[300];
    snprintf(per, sizeof per, "%s/multi-per-image.jsonl", dir);
    snprintf(cmd, sizeof cmd, "'%s' eval --model '%s' --data '%s' --trait gender --per-image '%s' --json --cache '%s'",
             cli, out, data_spec, per, cache);
    text = run_capture(cmd, &status);
    j = text ? cJSON_Parse(text) : NULL;
    CHECK(status == 0 && j && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "traits")) == 1);
    int images = (int)num(j, "images"), lines = 0, right = 0;
    FILE *f = fopen(per, "r");
    char line[8192];
    while (f && fgets(line, sizeof line, f)) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "traits"), "gender");
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(g, "probabilities");
        CHECK(g && cJSON_GetArraySize(pr) == 2 && fabs(num(pr, "female") + num(pr, "male") - 1) < 1e-5);
        right += cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(g, "correct"));
        lines++;
        cJSON_Delete(o);
    }
    if (f) fclose(f);
    const cJSON *g0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "traits"), 0);
    CHECK(lines == images && lines > 0 && right == (int)num(g0, "correct"));
    cJSON_Delete(j);
    free(text);

    /* predict: every trait of a multi-label model, with its classes. */
    snprintf(cmd, sizeof cmd, "'%s' predict --model '%s' '%s/images/1.jpg' 2>/dev/null", cli, out,
             data_spec + strlen("celeba:"));
    text = run_capture(cmd, &status);
    j = text ? cJSON_Parse(text) : NULL;
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(j, "traits");
    const cJSON *hair = cJSON_GetObjectItemCaseSensitive(tr, "hair");
    CHECK(status == 0 && cJSON_GetArraySize(tr) == 3 && hair);
    const cJSON *hp = cJSON_GetObjectItemCaseSensitive(hair, "probabilities");
    CHECK(cJSON_GetObjectItemCaseSensitive(hp, "dark") && cJSON_GetObjectItemCaseSensitive(hp, "bright"));
    cJSON_Delete(j);
    free(text);
    /* Several traits with the softmax loss are refused. */
    s.loss = TS_LOSS_SOFTMAX;
    CHECK(ts_train_run(&s, NULL, NULL) == TS_ERR_ARG);
}

/* --init: a run starts from a saved model's parameters.  With a learning
 * rate of ~0 it ends where the model was (a fresh run does not); a model of
 * another network, or one trained on this data under another split (its
 * training faces would be this run's test faces), is refused by name; a
 * resume keeps the run's --init. */
static void test_init(void)
{
    char from[256], out[256], fresh[256];
    snprintf(from, sizeof from, "%s/learn.safetensors", dir); /* test_learn_and_files */
    snprintf(out, sizeof out, "%s/init.safetensors", dir);
    snprintf(fresh, sizeof fresh, "%s/init-fresh.safetensors", dir);
    ts_train_settings s;
    settings(&s, out, 1);
    s.lr = 1e-9f;
    s.weight_decay = 0;
    s.init = from;
    ts_status st = ts_train_run(&s, NULL, NULL);
    if (st != TS_OK) fprintf(stderr, "init: %s\n", ts_last_error());
    CHECK(st == TS_OK);
    CHECK(params_close(from, out));
    s.init = NULL;
    s.out = fresh;
    CHECK(ts_train_run(&s, NULL, NULL) == TS_OK);
    CHECK(!params_close(from, fresh));

    /* the fine-tuned model keeps where it started and that model's recipe */
    ts_model *m = NULL, *fm = NULL;
    CHECK(ts_model_load(out, &m) == TS_OK);
    CHECK(ts_model_load(from, &fm) == TS_OK);
    if (m && fm) {
        cJSON *j = cJSON_Parse(m->meta.training);
        const cJSON *init = cJSON_GetObjectItemCaseSensitive(j, "init_from");
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(init, "sha256");
        const cJSON *tr = cJSON_GetObjectItemCaseSensitive(init, "training");
        CHECK(cJSON_IsString(h) && !strcmp(h->valuestring, fm->meta.hash));
        CHECK(num(tr, "epochs_done") == 5 && num(j, "epochs_done") == 1);
        CHECK(strstr(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "init")), "learn.safetensors"));
        cJSON_Delete(j);
        /* its learning curve continues the one of the model it started from,
         * after the epoch that model was saved at */
        j = cJSON_Parse(fm->meta.training);
        int handed = (int)num(j, "epochs_done");
        cJSON_Delete(j);
        char cmd[4096];
        int status = 0;
        snprintf(cmd, sizeof cmd, "'%s' curves '%s' --out '%s/init-curves.svg'", cli, out, dir);
        char *text = run_capture(cmd, &status);
        j = text ? cJSON_Parse(text) : NULL;
        const cJSON *sr = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "series"), 0);
        fprintf(stderr, "init curves: %s", text ? text : "(none)\n");
        CHECK(status == 0 && handed >= 1 && num(sr, "epochs") == handed + 1 && num(sr, "selected") == handed + 1);
        cJSON_Delete(j);
        free(text);
    }
    ts_model_free(m);
    ts_model_free(fm);

    char other[256];
    snprintf(other, sizeof other, "%s/init-other.safetensors", dir);
    settings(&s, other, 1);
    s.init = from;
    s.seed = 8;
    /* the same files, written another way */
    char spec2[4300];
    snprintf(spec2, sizeof spec2, "celeba:%s/./", data_spec + strlen("celeba:"));
    s.data = spec2;
    st = ts_train_run(&s, NULL, NULL);
    fprintf(stderr, "init, another seed: %s\n", ts_last_error());
    CHECK(st == TS_ERR_ARG && strstr(ts_last_error(), "learn.safetensors") && strstr(ts_last_error(), "seed") &&
          strstr(ts_last_error(), "test split"));
    s.seed = 7;
    s.data = data_spec;
    s.size = 40;
    st = ts_train_run(&s, NULL, NULL);
    fprintf(stderr, "init, another input: %s\n", ts_last_error());
    CHECK(st == TS_ERR_ARG && strstr(ts_last_error(), "learn.safetensors") && strstr(ts_last_error(), "32x32"));
    /* refused before anything is written (the faces are not even prepared) */
    char other_split[300];
    snprintf(other_split, sizeof other_split, "%s.split.json", other);
    CHECK(!exists(other) && !exists(other_split));

    /* the run at `out` started from `from`: resuming it without --init is
     * another run */
    settings(&s, out, 2);
    s.resume = true;
    st = ts_train_run(&s, NULL, NULL);
    fprintf(stderr, "resume without init: %s\n", ts_last_error());
    CHECK(st == TS_ERR_ARG && strstr(ts_last_error(), "cannot resume") && strstr(ts_last_error(), "init"));
}

/* Members of a soup: runs on one split from one model, another --run-seed
 * each (other order, views, dropout: other weights; the same run seed: the
 * same weights); eval --split val reads the validation faces the run chose
 * its epoch on, with the figures it recorded; `soup` averages the members'
 * parameters (exactly their mean), with --greedy keeps the best member and
 * records validation and test figures, and refuses a model of another
 * input or another split by name. */
static char *soup_run(const char *args, int *status)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' %s --cache '%s'", cli, args, cache);
    return run_capture(cmd, status);
}

static void test_soup(void)
{
    char from[256], r2[256], r2b[256], r3[256], other[256];
    snprintf(from, sizeof from, "%s/learn.safetensors", dir); /* test_learn_and_files */
    snprintf(r2, sizeof r2, "%s/soup-r2.safetensors", dir);
    snprintf(r2b, sizeof r2b, "%s/soup-r2b.safetensors", dir);
    snprintf(r3, sizeof r3, "%s/soup-r3.safetensors", dir);
    snprintf(other, sizeof other, "%s/soup-other.safetensors", dir);
    const char *outs[3] = { r2, r2b, r3 };
    const uint64_t seeds[3] = { 2, 2, 3 };
    ts_train_settings s;
    for (int k = 0; k < 3; k++) {
        settings(&s, outs[k], 1);
        s.augment = true;
        s.init = from;
        s.run_seed = seeds[k];
        ts_status st = ts_train_run(&s, NULL, NULL);
        if (st != TS_OK) fprintf(stderr, "soup member: %s\n", ts_last_error());
        CHECK(st == TS_OK);
    }
    CHECK(params_close(r2, r2b));  /* a run seed decides the run */
    CHECK(!params_close(r2, r3));  /* and another gives other weights */
    ts_model *m2 = NULL, *m3 = NULL;
    CHECK(ts_model_load(r2, &m2) == TS_OK && ts_model_load(r3, &m3) == TS_OK);
    if (!m2 || !m3) {
        ts_model_free(m2);
        return;
    }
    cJSON *rec = cJSON_Parse(m2->meta.training);
    CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "run_seed")), "2"));
    const cJSON *val = cJSON_GetObjectItemCaseSensitive(rec, "validation");
    const double recorded = num(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(val, "traits"), "gender"),
                                "accuracy");
    const double n_val = num(rec, "n_val") > 0 ? num(rec, "n_val")
                                               : num(cJSON_GetObjectItemCaseSensitive(rec, "split"), "n_val");

    /* the validation split, as the run had it */
    char args[4096];
    int status;
    snprintf(args, sizeof args, "eval --model '%s' --data '%s' --split val --json", r2, data_spec);
    char *text = soup_run(args, &status);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    fprintf(stderr, "eval --split val: %.200s\n", text ? text : "(none)");
    CHECK(status == 0 && !strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "split")), "val"));
    CHECK(n_val > 0 && num(j, "images") == n_val);
    CHECK(fabs(num(j, "accuracy") - recorded) < 1e-9);
    cJSON_Delete(j);
    free(text);

    /* the uniform soup is the members' mean, parameter by parameter */
    char soup[256];
    snprintf(soup, sizeof soup, "%s/soup.safetensors", dir);
    snprintf(args, sizeof args, "soup --out '%s' '%s' '%s'", soup, r2, r3);
    text = soup_run(args, &status);
    CHECK(status == 0);
    free(text);
    ts_model *ms = NULL;
    CHECK(ts_model_load(soup, &ms) == TS_OK);
    if (ms) {
        double maxd = 0;
        const ts_graph *a = m2->graph, *b = m3->graph, *c = ms->graph;
        CHECK(c->params.used == a->params.used);
        for (size_t i = 0; i < a->params.used && c->params.used == a->params.used; i++) {
            double d = fabs(c->params.base[i] - 0.5 * ((double)a->params.base[i] + b->params.base[i]));
            maxd = d > maxd ? d : maxd;
        }
        CHECK(maxd < 1e-6);
        cJSON *sr = cJSON_Parse(ms->meta.training);
        const cJSON *mem = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(sr, "soup"), "members");
        CHECK(cJSON_GetArraySize(mem) == 2);
        CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(mem, 1), "sha256")),
                      m3->meta.hash));
        CHECK(cJSON_GetObjectItemCaseSensitive(sr, "split") && !cJSON_GetObjectItemCaseSensitive(sr, "history"));
        cJSON_Delete(sr);
        ts_model_free(ms);
    }

    /* greedy: members best first by validation, the soup scored on it and
     * then read once on the test split */
    snprintf(args, sizeof args, "soup --greedy --data '%s' --out '%s' '%s' '%s' '%s'", data_spec, soup, r3, r2, from);
    text = soup_run(args, &status);
    j = text ? cJSON_Parse(text) : NULL;
    fprintf(stderr, "soup --greedy: %.300s\n", text ? text : "(none)");
    CHECK(status == 0 && j);
    const cJSON *mem = cJSON_GetObjectItemCaseSensitive(j, "members");
    CHECK(cJSON_GetArraySize(mem) == 3 && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(mem, 0), "kept")));
    for (int k = 1; k < cJSON_GetArraySize(mem); k++)
        CHECK(num(cJSON_GetArrayItem(mem, k - 1), "validation_mean_balanced_accuracy") >=
              num(cJSON_GetArrayItem(mem, k), "validation_mean_balanced_accuracy"));
    const double soup_val = num(cJSON_GetObjectItemCaseSensitive(j, "validation"), "mean_balanced_accuracy");
    CHECK(soup_val >= num(cJSON_GetArrayItem(mem, 0), "validation_mean_balanced_accuracy") - 1e-12);
    CHECK(num(cJSON_GetObjectItemCaseSensitive(j, "test"), "images") == 48);
    cJSON_Delete(j);
    free(text);
    if (ts_model_load(soup, &ms) == TS_OK) {
        cJSON *sr = cJSON_Parse(ms->meta.training);
        CHECK(num(cJSON_GetObjectItemCaseSensitive(sr, "validation"), "mean_balanced_accuracy") == soup_val);
        CHECK(cJSON_GetObjectItemCaseSensitive(sr, "test") && ms->meta.test_accuracy >= 0);
        cJSON_Delete(sr);
        ts_model_free(ms);
    }

    /* a soup has no learning curve of its own: curves says so */
    snprintf(args, sizeof args, "'%s' curves '%s' --out '%s/soup-curves.svg' 2>&1", cli, soup, dir);
    text = run_capture(args, &status);
    CHECK(status != 0 && text && strstr(text, "soup") && strstr(text, "members"));
    free(text);

    /* refused by name: another input (the LACNN of test_lacnn), another split */
    char lacnn[256];
    snprintf(lacnn, sizeof lacnn, "%s/lacnn.safetensors", dir);
    snprintf(args, sizeof args, "soup --out '%s/no.safetensors' '%s' '%s' 2>&1", dir, r2, lacnn);
    text = soup_run(args, &status);
    fprintf(stderr, "soup, another input: %s", text ? text : "(none)\n");
    CHECK(status != 0 && text && strstr(text, "lacnn.safetensors") && strstr(text, "input"));
    free(text);
    settings(&s, other, 1);
    s.seed = 8;
    CHECK(ts_train_run(&s, NULL, NULL) == TS_OK);
    snprintf(args, sizeof args, "soup --out '%s/no.safetensors' '%s' '%s' 2>&1", dir, r2, other);
    text = soup_run(args, &status);
    fprintf(stderr, "soup, another split: %s", text ? text : "(none)\n");
    CHECK(status != 0 && text && strstr(text, "soup-other.safetensors") && strstr(text, "split"));
    free(text);
    snprintf(args, sizeof args, "%s/no.safetensors", dir);
    CHECK(!exists(args));

    /* a resume with another run seed is another run */
    settings(&s, r3, 2);
    s.augment = true;
    s.init = from;
    s.run_seed = 4;
    s.resume = true;
    ts_status st = ts_train_run(&s, NULL, NULL);
    fprintf(stderr, "resume, another run seed: %s\n", ts_last_error());
    CHECK(st == TS_ERR_ARG && strstr(ts_last_error(), "run_seed"));
    cJSON_Delete(rec);
    ts_model_free(m2);
    ts_model_free(m3);
}

int main(void)
{
    const char *data = getenv("TS_SHARED_DATA"), *src = getenv("TS_SOURCE_ROOT"), *build = getenv("TS_BUILD_ROOT");
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/celebahq/attributes.txt", data ? data : "/nonexistent");
    if (!data || access(probe, R_OK) != 0) {
        printf("SKIP: no CelebA-HQ data under TS_SHARED_DATA\n");
        return 77;
    }
    if (access("/usr/share/dlib/shape_predictor_68_face_landmarks.dat", R_OK) != 0 && !getenv("TRAITSCOPE_MODELS")) {
        printf("SKIP: dlib's 68-point model is not installed (apt-get install libdlib-data)\n");
        return 77;
    }
    snprintf(data_spec, sizeof data_spec, "celeba:%s/celebahq", data);
    snprintf(arch, sizeof arch, "%s/tests/train/tiny.arch", src ? src : ".");
    snprintf(srcroot, sizeof srcroot, "%s", src ? src : ".");
    snprintf(cli, sizeof cli, "%s/src/cli/traitscope-cli", build ? build : ".");
    snprintf(dir, sizeof dir, "/tmp/ts-test-train-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    snprintf(cache, sizeof cache, "%s/cache", dir);

    test_learn_and_files();
    test_init();
    test_selection_and_finished();
    test_cancel_resume();
    test_sigmoid_resume_validation();
    test_kill9_resume();
    test_eval_compare_json();
    test_lacnn();
    test_soup();
    test_sigmoid();

    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (failures == 0 && system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", dir);
    if (failures) {
        fprintf(stderr, "%d failures (files kept in %s)\n", failures, dir);
        return 1;
    }
    if (skipped[0]) {
        printf("SKIP: %s\n", skipped);
        return 77;
    }
    printf("train: ok\n");
    return 0;
}
