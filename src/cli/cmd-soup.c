/* cmd-soup.c - `traitscope-cli soup --out OUT MODEL...`: one model whose
 * parameters are the average of several (nn/soup.c, ts_model_average).
 *
 * For runs trained on one split from one starting point (e.g. `train
 * --init C1 --run-seed N` for several N): the average is a model of the
 * same size and speed that is often better than each (Wortsman et al.,
 * "Model soups", ICML 2022).  With --data, every member and every candidate
 * soup is scored on the validation split the members' training carved out
 * (eval --split val); --greedy takes the members in order of their
 * validation mean balanced accuracy and keeps each only if the soup's does
 * not go down (the paper's greedy soup).  Then, the soup being fixed, it is
 * read once on the test split, and both figures go into its metadata with
 * the members' hashes and training records.  The members must record the
 * same split: a soup of models trained on different splits would have seen
 * its own test faces.
 *
 * Output (stdout, one JSON line, a contract):
 *   {"output":OUT,"method":"uniform"|"greedy","members":[{"path":P,"sha256":H,
 *    "validation_mean_balanced_accuracy":X|null,"kept":b},...],
 *    "validation":SCORES|null,"test":SCORES|null}
 * SCORES as in the training record (train/job.h, ts_trait_scores_json).
 * Exit 0, 1 (a model unreadable or unlike the others, the data missing:
 * the message names the file), 2 (usage).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "nn/model.h"
#include "train/eval.h"
#include "train/job.h"

#define MAX_MEMBERS 64

static void help(void)
{
    printf("usage: traitscope-cli soup --out OUT [--data SPEC [--greedy]] [--f16]\n"
           "                           [--batch N] [--threads N] [--cache DIR] MODEL MODEL...\n"
           "\n"
           "Averages the parameters of MODELs (one network, trained on one split, e.g. runs\n"
           "fine-tuned from one model with other --run-seed values) into OUT, a model of the\n"
           "same size.  Without --data every MODEL counts equally.  With --data each MODEL and\n"
           "the soup are scored on the validation split of their training runs; --greedy\n"
           "takes the MODELs best first and keeps each only if the soup's validation mean\n"
           "balanced accuracy does not go down.  The soup is then read once on the test\n"
           "split; the figures, the members' hashes and their training records go into\n"
           "OUT's metadata.  --f16 stores half-precision weights.\n");
}

typedef struct member {
    const char *path;
    ts_model *m;
    double val;   /* validation mean balanced accuracy; -1 unscored */
    bool kept;
} member;

typedef struct scorer {
    const char *data, *cache;
    int batch, threads;
} scorer;

/* Scores model m on its validation or test split: *mean_balanced, and the
 * figures as a training record's SCORES object when json is non-NULL. */
static ts_status score(const scorer *sc, ts_model *m, ts_eval_split split, double *mean_balanced, cJSON **json)
{
    ts_eval_options o = { .data = sc->data, .split = split, .limit = -1, .cache_dir = sc->cache,
                          .batch = sc->batch, .threads = sc->threads };
    ts_eval_result r;
    TS_TRY(ts_eval_run(m, &o, NULL, NULL, NULL, &r));
    ts_trait_score ts[TS_EVAL_MAX_TRAITS];
    double sum = 0;
    for (int t = 0; t < r.n_traits; t++) {
        const ts_eval_trait *et = &r.traits[t];
        ts_trait_score *s = &ts[t];
        memset(s, 0, sizeof *s);
        snprintf(s->name, sizeof s->name, "%s", et->name);
        s->n = et->n, s->correct = et->correct;
        s->accuracy = et->accuracy, s->lo = et->lo, s->hi = et->hi, s->balanced = et->balanced;
        sum += et->balanced;
    }
    *mean_balanced = r.n_traits ? sum / r.n_traits : 0;
    if (json) *json = ts_trait_scores_json(ts, r.n_traits);
    ts_eval_result_clear(&r);
    return TS_OK;
}

/* The soup of the kept members plus `extra` (-1: none), built on a fresh
 * load of the first kept one. */
static ts_status cook(member *mb, int n, int extra, ts_model **out)
{
    *out = NULL;
    int first = -1;
    const ts_model *others[MAX_MEMBERS];
    const char *names[MAX_MEMBERS];
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (!mb[i].kept && i != extra) continue;
        if (first < 0) {
            first = i;
            continue;
        }
        others[k] = mb[i].m, names[k++] = mb[i].path;
    }
    ts_model *m;
    TS_TRY(ts_model_load(mb[first].path, &m));
    ts_status st = ts_model_average(m, others, k, mb[first].path, names);
    if (st != TS_OK) {
        ts_model_free(m);
        return st;
    }
    *out = m;
    return TS_OK;
}

/* The members are one network on one input, and the "split" objects of
 * their training records are equal. */
static ts_status alike(member *mb, int n)
{
    for (int i = 1; i < n; i++) {
        const char *why = ts_model_unlike(mb[0].m, mb[i].m);
        if (why) return ts_error(TS_ERR_ARG, "%s: cannot be averaged with %s: %s", mb[i].path, mb[0].path, why);
    }
    cJSON *a = cJSON_Parse(mb[0].m->meta.training);
    const cJSON *sa = cJSON_GetObjectItemCaseSensitive(a, "split");
    ts_status st = TS_OK;
    for (int i = 1; i < n && st == TS_OK; i++) {
        cJSON *b = cJSON_Parse(mb[i].m->meta.training);
        const cJSON *sb = cJSON_GetObjectItemCaseSensitive(b, "split");
        if ((sa || sb) && !(sa && sb && cJSON_Compare(sa, sb, true)))
            st = ts_error(TS_ERR_ARG,
                          "%s: its training split is not %s's (a soup of them would have trained on its own test"
                          " faces)", mb[i].path, mb[0].path);
        cJSON_Delete(b);
    }
    cJSON_Delete(a);
    return st;
}

/* The members as the output's "members" array; with their training
 * records for the soup's metadata. */
static cJSON *members_json(const member *mb, int n, bool records)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "path", mb[i].path);
        cJSON_AddStringToObject(e, "sha256", mb[i].m->meta.hash);
        if (mb[i].val >= 0) cJSON_AddNumberToObject(e, "validation_mean_balanced_accuracy", mb[i].val);
        else cJSON_AddNullToObject(e, "validation_mean_balanced_accuracy");
        cJSON_AddBoolToObject(e, "kept", mb[i].kept);
        if (records) {
            cJSON *tr = cJSON_Parse(mb[i].m->meta.training);
            cJSON_AddItemToObject(e, "training", tr ? tr : cJSON_CreateObject());
        }
        cJSON_AddItemToArray(arr, e);
    }
    return arr;
}

/* The soup's training record: the best member's settings (data, split,
 * recipe), without the figures of that one run, and the soup. */
static char *soup_record(const member *mb, int n, int best, bool greedy, cJSON *val, cJSON *test, double test_mean)
{
    cJSON *rec = cJSON_Parse(mb[best].m->meta.training);
    if (!rec) rec = cJSON_CreateObject();
    static const char *const gone[] = { "history", "validation", "test", "test_accuracy", "best_epoch",
                                        "epochs_done", "init_from", "stopped_early" };
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++) cJSON_DeleteItemFromObjectCaseSensitive(rec, gone[i]);
    cJSON *soup = cJSON_AddObjectToObject(rec, "soup");
    cJSON_AddStringToObject(soup, "method", greedy ? "greedy" : "uniform");
    cJSON_AddItemToObject(soup, "members", members_json(mb, n, true));
    if (val) cJSON_AddItemToObject(rec, "validation", cJSON_Duplicate(val, true));
    if (test) {
        cJSON_AddItemToObject(rec, "test", cJSON_Duplicate(test, true));
        cJSON_AddNumberToObject(rec, "test_accuracy", test_mean);
    }
    char *s = cJSON_PrintUnformatted(rec);
    cJSON_Delete(rec);
    return s;
}

static double mean_accuracy(const cJSON *scores)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(scores, "mean_accuracy");
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

int cmd_soup(int argc, char **argv)
{
    const char *out = NULL, *v;
    scorer sc = { 0 };
    bool greedy = false, f16 = false;
    member mb[MAX_MEMBERS];
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            help();
            return CMD_OK;
        } else if (cli_opt(argc, argv, &i, "--out", &v)) {
            out = v;
        } else if (cli_opt(argc, argv, &i, "--data", &v)) {
            sc.data = v;
        } else if (cli_opt(argc, argv, &i, "--cache", &v)) {
            sc.cache = v;
        } else if (cli_opt(argc, argv, &i, "--batch", &v)) {
            if (!cli_parse_int(v, &sc.batch) || sc.batch < 1) return cli_usage_error("soup", "--batch wants N >= 1");
        } else if (cli_opt(argc, argv, &i, "--threads", &v)) {
            if (!cli_parse_int(v, &sc.threads) || sc.threads < 0) return cli_usage_error("soup", "--threads wants N");
        } else if (cli_flag(argv, i, "--greedy")) {
            greedy = true;
        } else if (cli_flag(argv, i, "--f16")) {
            f16 = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("soup", "unknown argument '%s' (see --help)", argv[i]);
        } else {
            if (n == MAX_MEMBERS) return cli_usage_error("soup", "at most %d models", MAX_MEMBERS);
            mb[n++] = (member){ .path = argv[i], .val = -1, .kept = true };
        }
    }
    if (!out) return cli_usage_error("soup", "--out is required (see --help)");
    if (n < 2) return cli_usage_error("soup", "give at least two models");
    if (greedy && !sc.data) return cli_usage_error("soup", "--greedy needs --data (it chooses by the validation split)");

    ts_status st = TS_OK;
    int loaded = 0;
    for (; loaded < n && st == TS_OK; loaded++) st = ts_model_load(mb[loaded].path, &mb[loaded].m);
    if (st != TS_OK) loaded--;
    if (st == TS_OK) st = alike(mb, n);

    /* Members best first (a stable order: ties keep the command line's). */
    if (st == TS_OK && sc.data) {
        for (int i = 0; i < n && st == TS_OK; i++) {
            st = score(&sc, mb[i].m, TS_EVAL_VAL, &mb[i].val, NULL);
            if (st == TS_OK)
                fprintf(stderr, "soup: %s: validation mean balanced accuracy %.2f%%\n", mb[i].path, 100 * mb[i].val);
        }
        for (int i = 1; i < n; i++)
            for (int j = i; j > 0 && mb[j].val > mb[j - 1].val; j--) {
                member t = mb[j];
                mb[j] = mb[j - 1], mb[j - 1] = t;
            }
    }
    double soup_val = -1;
    if (st == TS_OK && greedy) {
        for (int i = 1; i < n; i++) mb[i].kept = false;
        soup_val = mb[0].val;
        for (int i = 1; i < n && st == TS_OK; i++) {
            ts_model *c;
            double x = -1;
            st = cook(mb, n, i, &c);
            if (st == TS_OK) st = score(&sc, c, TS_EVAL_VAL, &x, NULL);
            ts_model_free(c);
            if (st != TS_OK) break;
            mb[i].kept = x >= soup_val;
            fprintf(stderr, "soup: + %s: %.2f%% (soup so far %.2f%%): %s\n", mb[i].path, 100 * x, 100 * soup_val,
                    mb[i].kept ? "kept" : "left out");
            if (mb[i].kept) soup_val = x;
        }
    }

    /* The soup, its figures (validation; then the one test reading), saved. */
    ts_model *soup = NULL;
    cJSON *val = NULL, *test = NULL;
    int kept = 0;
    for (int i = 0; i < n; i++) kept += mb[i].kept;
    if (st == TS_OK) st = kept > 1 ? cook(mb, n, -1, &soup) : ts_model_load(mb[0].path, &soup);
    if (st == TS_OK && sc.data) st = score(&sc, soup, TS_EVAL_VAL, &soup_val, &val);
    double test_mean_bal = -1;
    if (st == TS_OK && sc.data) st = score(&sc, soup, TS_EVAL_TEST, &test_mean_bal, &test);
    char *rec = NULL;
    if (st == TS_OK) {
        rec = soup_record(mb, n, 0, greedy, val, test, test ? mean_accuracy(test) : -1);
        st = rec ? ts_model_set_training(soup, rec) : ts_error(TS_ERR_OOM, "soup: out of memory");
    }
    if (st == TS_OK) {
        soup->meta.test_accuracy = test ? mean_accuracy(test) : -1;
        st = ts_model_save(soup, out, f16 ? TS_DTYPE_F16 : TS_DTYPE_F32);
    }
    int rc = CMD_OK;
    if (st == TS_OK) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "output", out);
        cJSON_AddStringToObject(j, "method", greedy ? "greedy" : "uniform");
        cJSON_AddItemToObject(j, "members", members_json(mb, n, false));
        cJSON_AddItemToObject(j, "validation", val ? cJSON_Duplicate(val, true) : cJSON_CreateNull());
        cJSON_AddItemToObject(j, "test", test ? cJSON_Duplicate(test, true) : cJSON_CreateNull());
        rc = cli_print_json(j, false);
        cJSON_Delete(j);
    }
    free(rec);
    cJSON_Delete(val);
    cJSON_Delete(test);
    ts_model_free(soup);
    for (int i = 0; i < loaded; i++) ts_model_free(mb[i].m);
    return st == TS_OK ? rc : cli_fail("soup", st);
}
