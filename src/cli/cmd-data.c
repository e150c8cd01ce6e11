/* cmd-data.c - `traitscope-cli data`: loads a dataset spec and prints what
 * it holds as JSON (rows, class counts per trait, warnings about rows that
 * were skipped), optionally with the stratified train/test split.
 *
 * Output contract (stdout, one JSON object):
 *   {"spec":S,"kind":K,"rows":N,
 *    "traits":[{"name":T,"classes":[..],"counts":[..],"excluded":E}],
 *    "split":{"trait":T,"seed":"S","test_fraction":F,
 *             "train":[per-class counts],"test":[per-class counts]},  (--split)
 *    "warnings_total":W,"warnings":["FILE:LINE: why", ...]}
 * With --trait only that trait is listed.  Exit 0 / 1 (load failed) / 2.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "data/dataset.h"
#include "data/split.h"

static void help(void)
{
    printf("usage: traitscope-cli data --data SPEC [--trait NAME] [--limit N]\n"
           "                           [--split] [--seed N] [--test-fraction F] [--save-split FILE]\n"
           "\n"
           "Loads a dataset and prints its rows, class counts per trait and warnings as JSON.\n"
           "SPEC: celeba:DIR | utkface:DIR | adience:DIR | csv:FILE | folder:DIR | DIR\n"
           "  --split            add the stratified train/test class counts (needs --trait\n"
           "                     for a stratified split; without it the split is over all rows)\n"
           "  --seed N           split seed (default %u)\n"
           "  --test-fraction F  share of each class in the test set (default 0.2)\n"
           "  --save-split FILE  write the split as JSON (implies --split)\n",
           TS_SPLIT_DEFAULT_SEED);
}

/* cJSON's Create*Array return NULL for an empty or NULL input; these give
 * an empty array instead. */
static cJSON *int_array(const int *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static cJSON *string_array(char *const *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
    return a;
}

static cJSON *trait_json(const ts_dataset *ds, const ts_trait *t)
{
    cJSON *o = cJSON_CreateObject();
    int *counts = calloc((size_t)t->n_classes + 1, sizeof *counts);
    int excluded = ts_trait_class_counts(t, ds->n_rows, counts);
    cJSON_AddStringToObject(o, "name", t->name);
    cJSON_AddItemToObject(o, "classes",
                          string_array(t->classes, t->n_classes));
    cJSON_AddItemToObject(o, "counts", int_array(counts, t->n_classes));
    cJSON_AddNumberToObject(o, "excluded", excluded);
    free(counts);
    return o;
}

static cJSON *split_json(const ts_dataset *ds, const ts_split *s)
{
    cJSON *o = cJSON_CreateObject();
    const ts_trait *t = s->trait ? ts_dataset_trait(ds, s->trait) : NULL;
    int k = t ? t->n_classes : 1;
    int *tr = calloc((size_t)k, sizeof *tr), *te = calloc((size_t)k, sizeof *te);
    for (int i = 0; i < s->n_train; i++) tr[t ? t->labels[s->train[i]] : 0]++;
    for (int i = 0; i < s->n_test; i++) te[t ? t->labels[s->test[i]] : 0]++;
    char seed[32];
    snprintf(seed, sizeof seed, "%" PRIu64, s->seed);
    if (s->trait) cJSON_AddStringToObject(o, "trait", s->trait);
    else cJSON_AddNullToObject(o, "trait");
    cJSON_AddStringToObject(o, "seed", seed);
    cJSON_AddNumberToObject(o, "test_fraction", s->test_fraction);
    cJSON_AddItemToObject(o, "train", int_array(tr, k));
    cJSON_AddItemToObject(o, "test", int_array(te, k));
    free(tr);
    free(te);
    return o;
}

int cmd_data(int argc, char **argv)
{
    const char *spec = NULL, *trait = NULL, *limit_s = NULL, *seed_s = NULL, *frac_s = NULL,
               *save = NULL;
    bool want_split = false;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            help();
            return CMD_OK;
        }
        if (cli_opt(argc, argv, &i, "--data", &spec) || cli_opt(argc, argv, &i, "--trait", &trait) ||
            cli_opt(argc, argv, &i, "--limit", &limit_s) || cli_opt(argc, argv, &i, "--seed", &seed_s) ||
            cli_opt(argc, argv, &i, "--test-fraction", &frac_s) ||
            cli_opt(argc, argv, &i, "--save-split", &save))
            continue;
        if (cli_flag(argv, i, "--split")) {
            want_split = true;
            continue;
        }
        return cli_usage_error("data", "unexpected argument '%s'", argv[i]);
    }
    if (!spec) return cli_usage_error("data", "--data SPEC is required");
    int limit = 0;
    if (limit_s && (!cli_parse_int(limit_s, &limit) || limit < 1))
        return cli_usage_error("data", "--limit wants a positive whole number, not '%s'", limit_s);
    uint64_t seed = TS_SPLIT_DEFAULT_SEED;
    if (seed_s) {
        char *end;
        seed = strtoull(seed_s, &end, 10);
        if (!seed_s[0] || *end || seed_s[0] == '-')
            return cli_usage_error("data", "--seed wants a non-negative whole number, not '%s'", seed_s);
    }
    float frac = 0.2f;
    if (frac_s && (!cli_parse_float(frac_s, &frac) || !(frac > 0 && frac < 1)))
        return cli_usage_error("data", "--test-fraction wants a number in (0, 1), not '%s'", frac_s);
    if (save) want_split = true;
    if (save && !strncmp(spec, "csv:", 4)) {
        const char *in = spec + 4;
        int refused = cli_refuse_overwrite("data", &save, 1, &in, 1);
        if (refused) return refused;
    }

    ts_dataset ds;
    ts_status st = ts_dataset_load(&ds, spec, limit);
    if (st != TS_OK) return cli_fail("data", st);
    const ts_trait *only = NULL;
    if (trait && !(only = ts_dataset_trait(&ds, trait))) {
        char have[1024] = "";
        size_t at = 0;
        for (int t = 0; t < ds.n_traits && at < sizeof have; t++)
            at += (size_t)snprintf(have + at, sizeof have - at, " %s", ds.traits[t].name);
        cli_warn("data", "%s has no trait '%s'; it has:%s", spec, trait, ds.n_traits ? have : " none");
        ts_dataset_clear(&ds);
        return CMD_FAIL;
    }

    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "spec", ds.spec);
    cJSON_AddStringToObject(out, "kind", ds.kind);
    cJSON_AddNumberToObject(out, "rows", ds.n_rows);
    cJSON *traits = cJSON_AddArrayToObject(out, "traits");
    for (int t = 0; t < ds.n_traits; t++)
        if (!only || only == &ds.traits[t]) cJSON_AddItemToArray(traits, trait_json(&ds, &ds.traits[t]));
    if (want_split) {
        ts_split s;
        /* A double from the float flag, rounded to what the user typed. */
        double f = frac_s ? strtod(frac_s, NULL) : 0.2;
        st = ts_split_make(&s, &ds, trait, f, seed);
        if (st == TS_OK && save) st = ts_split_save(&s, save);
        if (st != TS_OK) {
            cJSON_Delete(out);
            ts_dataset_clear(&ds);
            return cli_fail("data", st);
        }
        cJSON *sj = split_json(&ds, &s);
        if (save) cJSON_AddStringToObject(sj, "saved", save);
        cJSON_AddItemToObject(out, "split", sj);
        ts_split_clear(&s);
    }
    cJSON_AddNumberToObject(out, "warnings_total", ds.n_warnings_total);
    cJSON_AddItemToObject(out, "warnings",
                          string_array(ds.warnings, ds.n_warnings));
    bool ok = cli_print_json(out, true) == CMD_OK;
    cJSON_Delete(out);
    ts_dataset_clear(&ds);
    return ok ? CMD_OK : cli_fail("data", ts_error(TS_ERR_OOM, "out of memory"));
}
