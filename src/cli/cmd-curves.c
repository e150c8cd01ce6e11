/* cmd-curves.c - `traitscope-cli curves`: the validation learning curves of
 * trained models as a figure (figure/curves.h), from the per-epoch history
 * their metadata keeps (train/job.h).
 *
 * One line per model: its validation accuracy (or balanced accuracy) per
 * epoch, for one trait (--trait) or the mean over its traits.  Models of
 * one trait share a colour; baselines are dashed, LACNN solid; a ring marks
 * the epoch model selection kept.  A model trained with --init continues
 * the curve of the model it started from (kept in its metadata).  Output:
 * the plot (.png, .svg, .pdf) and, on stdout,
 * {"plot":PATH,"series":[{"model","name","epochs","selected"}]}.
 * Exit 0, 1 (a model without a history, a write error), 2 (usage).
 */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "figure/curves.h"
#include "nn/model.h"

#define MAX_SERIES 64
#define MAX_EPOCHS 10000

static void help(void)
{
    printf("usage: traitscope-cli curves MODEL... --out PLOT.{png,svg,pdf}\n"
           "                             [--metric accuracy|balanced] [--trait T] [--title TEXT]\n"
           "\n"
           "Plots each model's validation accuracy per epoch (the history its training\n"
           "recorded): one trait with --trait, else the mean over the model's traits.\n"
           "Models of one trait share a colour; baselines are dashed; a ring marks the\n"
           "epoch model selection kept.  A model trained with --init continues the\n"
           "curve of the model it started from.\n");
}

static double num(const cJSON *o, const char *k, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* The history entries of a model and of the models it was started from
 * (train --init keeps theirs under "init_from"), oldest first. */
static void count_epochs(const cJSON *tj, int *n)
{
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(tj, "init_from"), "training");
    if (from) count_epochs(from, n);
    *n += cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(tj, "history"));
}

/* Appends the validation points of `tj`'s history up to epoch `upto`,
 * after those of the run it started from: a run started with --init from
 * a model saved at epoch E continues that model's curve at E + 1.
 * *offset becomes the epoch `tj`'s own epoch 1 follows. */
static ts_status collect(const cJSON *tj, int upto, const char *trait, bool balanced, const char *path, double *x,
                         double *y, int *got, int *offset)
{
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(tj, "init_from"), "training");
    int base = 0;
    if (from) {
        int handed = (int)num(from, "epochs_done", 0), before = 0;
        TS_TRY(collect(from, handed, trait, balanced, path, x, y, got, &before));
        base = before + handed;
    }
    *offset = base;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(tj, "history"))
    {
        const cJSON *val = cJSON_GetObjectItemCaseSensitive(e, "val");
        int epoch = (int)num(e, "epoch", 0);
        if (!val || epoch > upto) continue;
        double v;
        if (trait) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(val, "traits"), trait);
            if (!t) return ts_error(TS_ERR_ARG, "%s: its history has no trait '%s'", path, trait);
            v = num(t, balanced ? "balanced_accuracy" : "accuracy", -1);
        } else {
            v = num(val, balanced ? "mean_balanced_accuracy" : "mean_accuracy", -1);
        }
        if (v < 0) continue;
        x[*got] = base + epoch;
        y[*got] = 100 * v;
        (*got)++;
    }
    return TS_OK;
}

int cmd_curves(int argc, char **argv)
{
    const char *out = NULL, *trait = NULL, *title = NULL, *v;
    bool balanced = false;
    const char *models[MAX_SERIES];
    int n_models = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            help();
            return CMD_OK;
        } else if (cli_opt(argc, argv, &i, "--out", &v)) {
            out = v;
        } else if (cli_opt(argc, argv, &i, "--trait", &v)) {
            trait = v;
        } else if (cli_opt(argc, argv, &i, "--title", &v)) {
            title = v;
        } else if (cli_opt(argc, argv, &i, "--metric", &v)) {
            if (!strcmp(v, "balanced")) balanced = true;
            else if (!strcmp(v, "accuracy")) balanced = false;
            else return cli_usage_error("curves", "--metric wants accuracy or balanced, not '%s'", v);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("curves", "unknown option '%s' (see --help)", argv[i]);
        } else {
            if (n_models == MAX_SERIES) return cli_usage_error("curves", "at most %d models", MAX_SERIES);
            models[n_models++] = argv[i];
        }
    }
    if (!out || n_models == 0) return cli_usage_error("curves", "give one or more models and --out (see --help)");
    int refused = cli_refuse_overwrite("curves", &out, 1, models, n_models);
    if (refused) return refused;

    ts_curve_series series[MAX_SERIES];
    char names[MAX_SERIES][128], groups[MAX_SERIES][64];
    double *xs[MAX_SERIES] = { 0 }, *ys[MAX_SERIES] = { 0 };
    int n_groups = 0, rc = CMD_OK;
    ts_status st = TS_OK;
    for (int k = 0; k < n_models && st == TS_OK; k++) {
        ts_model *m = NULL;
        st = ts_model_load_any(models[k], &m);
        if (st != TS_OK) break;
        cJSON *tj = cJSON_Parse(m->meta.training);
        int n = 0, got = 0, offset = 0;
        count_epochs(tj, &n);
        if ((n <= 0 || n > MAX_EPOCHS) && cJSON_GetObjectItemCaseSensitive(tj, "soup")) {
            st = ts_error(TS_ERR_ARG, "%s: a soup (traitscope-cli soup) has no training history of its own; draw its"
                          " members' curves (traitscope-cli info: training.soup.members)", models[k]);
        } else if (n <= 0 || n > MAX_EPOCHS) {
            st = ts_error(TS_ERR_ARG, "%s: no training history with validation figures (trained before they were kept,"
                          " or without a validation split)", models[k]);
        } else {
            xs[k] = malloc((size_t)n * sizeof(double));
            ys[k] = malloc((size_t)n * sizeof(double));
            if (!xs[k] || !ys[k]) st = ts_error(TS_ERR_OOM, "curves: out of memory");
        }
        if (st == TS_OK) st = collect(tj, MAX_EPOCHS, trait, balanced, models[k], xs[k], ys[k], &got, &offset);
        if (st == TS_OK && got == 0)
            st = ts_error(TS_ERR_ARG, "%s: its history has no validation figures (trained with --val-fraction 0?)",
                          models[k]);
        if (st == TS_OK) {
            const char *tr = trait ? trait : str(tj, "trait"), *var = str(tj, "variant");
            char many[32];
            if (strchr(tr, ',')) {
                int c = 1;
                for (const char *q = tr; *q; q++) c += *q == ',';
                snprintf(many, sizeof many, "%d traits", c);
                tr = many;
            }
            snprintf(names[k], sizeof names[k], "%s %s", tr, var[0] ? var : "model");
            int g = 0;
            while (g < n_groups && strcmp(groups[g], tr)) g++;
            if (g == n_groups && n_groups < MAX_SERIES) snprintf(groups[n_groups++], sizeof groups[0], "%s", tr);
            int sel = offset + (int)num(cJSON_GetObjectItemCaseSensitive(tj, "validation"), "epoch", 0);
            int selected = -1;
            for (int i = 0; i < got; i++)
                if ((int)xs[k][i] == sel) selected = i;
            series[k] = (ts_curve_series){ .name = names[k], .group = g, .dashed = !strcmp(var, "baseline"),
                                           .n = got, .x = xs[k], .y = ys[k], .selected = selected };
        }
        cJSON_Delete(tj);
        ts_model_free(m);
    }
    if (st == TS_OK) {
        char ylab[96];
        /* "mean over traits" only where some model has several */
        bool several = false;
        for (int k = 0; k < n_models && !trait; k++) several |= strstr(names[k], " traits ") != NULL;
        snprintf(ylab, sizeof ylab, "validation %s (%%)%s", balanced ? "balanced accuracy" : "accuracy",
                 several ? ", mean over traits" : "");
        ts_curve_plot plot = { .title = title ? title : "Validation accuracy per epoch", .x_label = "epoch",
                               .y_label = ylab };
        st = ts_curves_export(out, &plot, series, n_models);
    }
    if (st == TS_OK) {
        cJSON *j = cJSON_CreateObject(), *arr;
        cJSON_AddStringToObject(j, "plot", out);
        arr = cJSON_AddArrayToObject(j, "series");
        for (int k = 0; k < n_models; k++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "model", models[k]);
            cJSON_AddStringToObject(o, "name", series[k].name);
            cJSON_AddNumberToObject(o, "epochs", series[k].n);
            cJSON_AddNumberToObject(o, "selected", series[k].selected >= 0 ? series[k].x[series[k].selected] : 0);
            cJSON_AddItemToArray(arr, o);
        }
        rc = cli_print_json(j, false);
        cJSON_Delete(j);
    } else {
        rc = cli_fail("curves", st);
    }
    for (int k = 0; k < n_models; k++) {
        free(xs[k]);
        free(ys[k]);
    }
    return rc;
}
