/* cmd-compare.c - `traitscope-cli compare`: a baseline and a LACNN model on
 * the same test images, accuracies side by side and McNemar's test on the
 * images where exactly one of them is right (train/eval.h has the
 * formulas), so that a difference under a point is not over-read.
 *
 * Output contract (--json, stdout, one object):
 *   {"data":SPEC,"split":S,"trait":T,"images":N,
 *    "baseline":{"model":A,"accuracy":X,"ci95":[lo,hi]},
 *    "lacnn":{"model":B,"accuracy":Y,"ci95":[lo,hi]},
 *    "difference":Y-X,
 *    "mcnemar":{"baseline_only":b,"lacnn_only":c,"test":"exact"|"chi2",
 *               "statistic":s,"p":p}}
 * Only images both models evaluated (and labelled for the trait) count.
 * Exit 0, 1, 2.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train/eval.h"

static void help(void)
{
    printf("usage: traitscope-cli compare --baseline A --lacnn B --data SPEC [--split test|all]\n"
           "                              [--oversample] [--limit N] [--threads N] [--cache DIR] [--json]\n"
           "                              [--device cpu|cuda|auto]\n"
           "\n"
           "Evaluates both models on the same images and tests the difference with McNemar's\n"
           "test (exact binomial when fewer than 25 images are discordant).\n");
}

static cJSON *side(const char *path, const ts_eval_trait *t, int n, int right)
{
    cJSON *o = cJSON_CreateObject();
    double lo, hi;
    ts_wilson_interval(right, n, TS_Z95, &lo, &hi);
    cJSON_AddStringToObject(o, "model", path);
    cJSON_AddNumberToObject(o, "accuracy", n ? (double)right / n : 0);
    cJSON *ci = cJSON_AddArrayToObject(o, "ci95");
    cJSON_AddItemToArray(ci, cJSON_CreateNumber(lo));
    cJSON_AddItemToArray(ci, cJSON_CreateNumber(hi));
    (void)t;
    return o;
}

int cmd_compare(int argc, char **argv)
{
    const char *pa = NULL, *pb = NULL, *v;
    bool json = false;
    ts_device device = TS_DEVICE_AUTO;
    ts_eval_options o = { .limit = -1 };
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            help();
            return CMD_OK;
        } else if (cli_opt(argc, argv, &i, "--baseline", &v)) {
            pa = v;
        } else if (cli_opt(argc, argv, &i, "--lacnn", &v)) {
            pb = v;
        } else if (cli_opt(argc, argv, &i, "--data", &v)) {
            o.data = v;
        } else if (cli_opt(argc, argv, &i, "--split", &v)) {
            if (!strcmp(v, "all")) o.all = true;
            else if (!strcmp(v, "test")) o.all = false;
            else return cli_usage_error("compare", "--split wants test or all, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--limit", &v)) {
            if (!cli_parse_int(v, &o.limit) || o.limit < 0) return cli_usage_error("compare", "--limit wants N >= 0");
        } else if (cli_opt(argc, argv, &i, "--threads", &v)) {
            if (!cli_parse_int(v, &o.threads) || o.threads < 0) return cli_usage_error("compare", "--threads wants N");
        } else if (cli_opt(argc, argv, &i, "--device", &v)) {
            if (!cli_parse_device(v, &device))
                return cli_usage_error("compare", "--device wants cpu, cuda or auto, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--cache", &v)) {
            o.cache_dir = v;
        } else if (cli_flag(argv, i, "--oversample")) {
            o.oversample = true;
        } else if (cli_flag(argv, i, "--json")) {
            json = true;
        } else {
            return cli_usage_error("compare", "unknown argument '%s' (see --help)", argv[i]);
        }
    }
    if (!pa || !pb || !o.data) return cli_usage_error("compare", "--baseline, --lacnn and --data are required");
    ts_model *ma = NULL, *mb = NULL;
    ts_eval_result ra = { 0 }, rb = { 0 };
    const ts_backend *be;
    void *be_ctx;
    cli_backend_open("compare", device, &be, &be_ctx);
    ts_status st = ts_model_load(pa, &ma);
    if (st == TS_OK) st = ts_model_load(pb, &mb);
    if (st == TS_OK && be->device != TS_DEVICE_CPU) st = ts_graph_to_backend(ma->graph, be, be_ctx);
    if (st == TS_OK && be->device != TS_DEVICE_CPU) st = ts_graph_to_backend(mb->graph, be, be_ctx);
    if (st == TS_OK && strcmp(ma->meta.trait, mb->meta.trait))
        st = ts_error(TS_ERR_ARG, "compare: the models predict different traits ('%s' and '%s')", ma->meta.trait,
                      mb->meta.trait);
    if (st == TS_OK) st = ts_eval_run(ma, &o, NULL, NULL, NULL, &ra);
    if (st == TS_OK) st = ts_eval_run(mb, &o, NULL, NULL, NULL, &rb);
    if (st != TS_OK) {
        ts_eval_result_clear(&ra);
        ts_model_free(ma);
        ts_model_free(mb);
        ts_backend_close(be, be_ctx);
        return cli_fail("compare", st);
    }
    /* Pair images by dataset row (trait 0). */
    int max_row = 0;
    for (int i = 0; i < rb.n_images; i++) max_row = rb.rows[i] > max_row ? rb.rows[i] : max_row;
    int *where = malloc((size_t)(max_row + 1) * sizeof *where);
    for (int i = 0; where && i <= max_row; i++) where[i] = -1;
    for (int i = 0; where && i < rb.n_images; i++) where[rb.rows[i]] = i;
    int n = 0, right_a = 0, right_b = 0, only_a = 0, only_b = 0;
    for (int i = 0; where && i < ra.n_images; i++) {
        int row = ra.rows[i];
        if (row > max_row || where[row] < 0) continue;
        int j = where[row];
        int label = ra.label[(size_t)i * ra.n_traits];
        if (label < 0) continue;
        bool a = ra.pred[(size_t)i * ra.n_traits] == label, b = rb.pred[(size_t)j * rb.n_traits] == label;
        n++;
        right_a += a;
        right_b += b;
        only_a += a && !b;
        only_b += b && !a;
    }
    free(where);
    ts_mcnemar mc;
    ts_mcnemar_test(only_a, only_b, &mc);
    double acc_a = n ? (double)right_a / n : 0, acc_b = n ? (double)right_b / n : 0;
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "data", o.data);
        cJSON_AddStringToObject(j, "split", ra.split);
        cJSON_AddStringToObject(j, "trait", ra.traits[0].name);
        cJSON_AddNumberToObject(j, "images", n);
        cJSON_AddItemToObject(j, "baseline", side(pa, &ra.traits[0], n, right_a));
        cJSON_AddItemToObject(j, "lacnn", side(pb, &rb.traits[0], n, right_b));
        cJSON_AddNumberToObject(j, "difference", acc_b - acc_a);
        cJSON *t = cJSON_AddObjectToObject(j, "mcnemar");
        cJSON_AddNumberToObject(t, "baseline_only", only_a);
        cJSON_AddNumberToObject(t, "lacnn_only", only_b);
        cJSON_AddStringToObject(t, "test", mc.exact ? "exact" : "chi2");
        cJSON_AddNumberToObject(t, "statistic", mc.statistic);
        cJSON_AddNumberToObject(t, "p", mc.p);
        char *text = cJSON_PrintUnformatted(j);
        printf("%s\n", text ? text : "{}");
        free(text);
        cJSON_Delete(j);
    } else {
        double la, ha, lb, hb;
        ts_wilson_interval(right_a, n, TS_Z95, &la, &ha);
        ts_wilson_interval(right_b, n, TS_Z95, &lb, &hb);
        printf("trait %s, %d %s images of %s%s\n", ra.traits[0].name, n, ra.split, o.data,
               o.oversample ? " (10-crop oversampling)" : "");
        printf("  baseline %-40s %6.2f%%  [%6.2f, %6.2f]\n", pa, 100 * acc_a, 100 * la, 100 * ha);
        printf("  lacnn    %-40s %6.2f%%  [%6.2f, %6.2f]\n", pb, 100 * acc_b, 100 * lb, 100 * hb);
        printf("  difference %+.2f points; only baseline right: %d, only lacnn right: %d\n", 100 * (acc_b - acc_a),
               only_a, only_b);
        if (mc.exact) printf("  McNemar (exact binomial): p = %.4g\n", mc.p);
        else printf("  McNemar (chi2 = %.3f, continuity corrected): p = %.4g\n", mc.statistic, mc.p);
    }
    ts_eval_result_clear(&ra);
    ts_eval_result_clear(&rb);
    ts_model_free(ma);
    ts_model_free(mb);
    ts_backend_close(be, be_ctx);
    return CMD_OK;
}
