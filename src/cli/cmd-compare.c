/* cmd-compare.c - `traitscope-cli compare`: a baseline and a LACNN model on
 * the same test images, accuracies side by side and McNemar's test on the
 * images where exactly one of them is right (train/eval.h has the
 * formulas), so that a difference under a point is not over-read.
 *
 * Output contract (--json, stdout, one object):
 *   {"data":SPEC,"split":S,"trait":T,"images":N,"skipped":K,
 *    "baseline":{"model":A,"accuracy":X,"ci95":[lo,hi]},
 *    "lacnn":{"model":B,"accuracy":Y,"ci95":[lo,hi]},
 *    "difference":Y-X,
 *    "mcnemar":{"baseline_only":b,"lacnn_only":c,"test":"exact"|"chi2",
 *               "statistic":s,"p":p},
 *    "traits":[{"trait":T,"images":N,"baseline":{...,"balanced_accuracy":B},
 *               "lacnn":{...},"difference":D,"mcnemar":{...}}, ...]}
 * The top-level figures are the first trait's; "traits" has every trait
 * of a multi-label pair (or those of --trait).
 * Only images both models evaluated (and labelled for the trait) count;
 * "skipped":K is the number of the split's images one of them could not
 * use, the first few of which are named on stderr.
 * Exit 0, 1, 2.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "nn/safetext.h"
#include "train/eval.h"

static void help(void)
{
    printf("usage: traitscope-cli compare --baseline A --lacnn B --data SPEC [--split test|val|all] [--trait T,...]\n"
           "                              [--oversample] [--limit N] [--threads N] [--cache DIR] [--json]\n"
           "                              [--device cpu|cuda|auto]\n"
           "\n"
           "Evaluates both models on the same images and tests the difference with McNemar's\n"
           "test (exact binomial when fewer than 25 images are discordant).\n");
}

/* One trait of the pair on the images both evaluated. */
typedef struct pair_stats {
    const char *name;
    int n, right_a, right_b, only_a, only_b;
    double bal_a, bal_b;
    ts_mcnemar mc;
} pair_stats;

static double recall_mean(const int count[64], const int hit[64])
{
    int present = 0;
    double sum = 0;
    for (int c = 0; c < 64; c++)
        if (count[c]) present++, sum += (double)hit[c] / count[c];
    return present ? sum / present : 0;
}

static void pair_trait(const ts_eval_result *ra, const ts_eval_result *rb, int t, pair_stats *ps)
{
    memset(ps, 0, sizeof *ps);
    ps->name = ra->traits[t].name;
    int max_row = 0;
    for (int i = 0; i < rb->n_images; i++) max_row = rb->rows[i] > max_row ? rb->rows[i] : max_row;
    int *where = malloc((size_t)(max_row + 1) * sizeof *where);
    int ca[64] = { 0 }, ha[64] = { 0 }, cb[64] = { 0 }, hb[64] = { 0 };
    for (int i = 0; where && i <= max_row; i++) where[i] = -1;
    for (int i = 0; where && i < rb->n_images; i++) where[rb->rows[i]] = i;
    for (int i = 0; where && i < ra->n_images; i++) {
        int row = ra->rows[i];
        if (row > max_row || where[row] < 0) continue;
        int j = where[row];
        int label = ra->label[(size_t)i * ra->n_traits + t];
        if (label < 0) continue;
        bool a = ra->pred[(size_t)i * ra->n_traits + t] == label, b = rb->pred[(size_t)j * rb->n_traits + t] == label;
        ps->n++;
        ps->right_a += a;
        ps->right_b += b;
        ps->only_a += a && !b;
        ps->only_b += b && !a;
        if (label < 64) {
            ca[label]++, cb[label]++;
            ha[label] += a, hb[label] += b;
        }
    }
    free(where);
    ps->bal_a = recall_mean(ca, ha);
    ps->bal_b = recall_mean(cb, hb);
    ts_mcnemar_test(ps->only_a, ps->only_b, &ps->mc);
}

static cJSON *side(const char *path, int n, int right, double balanced)
{
    cJSON *o = cJSON_CreateObject();
    double lo, hi;
    ts_wilson_interval(right, n, TS_Z95, &lo, &hi);
    cJSON_AddStringToObject(o, "model", path);
    cJSON_AddNumberToObject(o, "accuracy", n ? (double)right / n : 0);
    cJSON *ci = cJSON_AddArrayToObject(o, "ci95");
    cJSON_AddItemToArray(ci, cJSON_CreateNumber(lo));
    cJSON_AddItemToArray(ci, cJSON_CreateNumber(hi));
    cJSON_AddNumberToObject(o, "balanced_accuracy", balanced);
    return o;
}

/* The figures of one trait (JSON), into o. */
static void add_pair(cJSON *o, const pair_stats *ps, const char *pa, const char *pb)
{
    cJSON_AddNumberToObject(o, "images", ps->n);
    cJSON_AddItemToObject(o, "baseline", side(pa, ps->n, ps->right_a, ps->bal_a));
    cJSON_AddItemToObject(o, "lacnn", side(pb, ps->n, ps->right_b, ps->bal_b));
    cJSON_AddNumberToObject(o, "difference", ps->n ? (double)(ps->right_b - ps->right_a) / ps->n : 0);
    cJSON *t = cJSON_AddObjectToObject(o, "mcnemar");
    cJSON_AddNumberToObject(t, "baseline_only", ps->only_a);
    cJSON_AddNumberToObject(t, "lacnn_only", ps->only_b);
    cJSON_AddStringToObject(t, "test", ps->mc.exact ? "exact" : "chi2");
    cJSON_AddNumberToObject(t, "statistic", ps->mc.statistic);
    cJSON_AddNumberToObject(t, "p", ps->mc.p);
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
            if (!ts_eval_split_parse(v, &o.split))
                return cli_usage_error("compare", "--split wants test, val or all, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--trait", &v)) {
            o.traits = v;
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
    ts_status st = ts_model_load_any(pa, &ma);
    if (st == TS_OK) st = ts_model_load_any(pb, &mb);
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
    /* Pair images by dataset row, trait by trait. */
    pair_stats ps[TS_EVAL_MAX_TRAITS];
    for (int t = 0; t < ra.n_traits; t++) pair_trait(&ra, &rb, t, &ps[t]);
    /* Images left out for either model: the first of each (once), then how
     * many of the split's rows were not evaluated by both. */
    int both = 0, max_row = 0;
    for (int i = 0; i < rb.n_images; i++) max_row = rb.rows[i] > max_row ? rb.rows[i] : max_row;
    char *in_b = calloc((size_t)max_row + 1, 1);
    for (int i = 0; in_b && i < rb.n_images; i++) in_b[rb.rows[i]] = 1;
    for (int i = 0; in_b && i < ra.n_images; i++) both += ra.rows[i] <= max_row && in_b[ra.rows[i]];
    free(in_b);
    const char *kept[2 * TS_FACESET_SKIPS_KEPT];
    int n_kept = 0;
    for (int k = 0; k < ra.n_skipped_kept; k++) kept[n_kept++] = ra.skipped[k].message;
    for (int k = 0; k < rb.n_skipped_kept; k++) {
        bool dup = false;
        for (int q = 0; q < ra.n_skipped_kept; q++) dup = dup || ra.skipped[q].row == rb.skipped[k].row;
        if (!dup) kept[n_kept++] = rb.skipped[k].message;
    }
    int total = ra.n_images + ra.n_skipped, skipped = total - both;
    cli_skips_report("compare", kept, n_kept, skipped, total);
    int rc = CMD_OK;
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "data", o.data);
        cJSON_AddStringToObject(j, "split", ra.split);
        cJSON_AddStringToObject(j, "trait", ps[0].name);
        add_pair(j, &ps[0], pa, pb);
        cJSON_AddNumberToObject(j, "skipped", skipped);
        cJSON *arr = cJSON_AddArrayToObject(j, "traits");
        for (int t = 0; t < ra.n_traits; t++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "trait", ps[t].name);
            add_pair(e, &ps[t], pa, pb);
            cJSON_AddItemToArray(arr, e);
        }
        rc = cli_print_json(j, false);
        cJSON_Delete(j);
    } else {
        char *ed = ts_text_escape(o.data), *ea = ts_text_escape(pa), *eb = ts_text_escape(pb);
        printf("%d %s images of %s%s\n  baseline %s\n  lacnn    %s\n", ra.n_images, ra.split, ed ? ed : o.data,
               o.oversample ? " (10-crop oversampling)" : "", ea ? ea : pa, eb ? eb : pb);
        if (skipped) printf("  (%d of the %d images could not be prepared for both models and were skipped)\n", skipped, total);
        free(ed);
        free(ea);
        free(eb);
        printf("%-12s %6s %18s %18s %8s %7s %7s %10s\n", "trait", "n", "baseline [95% CI]", "lacnn [95% CI]",
               "diff", "b only", "l only", "McNemar p");
        for (int t = 0; t < ra.n_traits; t++) {
            const pair_stats *q = &ps[t];
            double la, ha, lb, hb;
            ts_wilson_interval(q->right_a, q->n, TS_Z95, &la, &ha);
            ts_wilson_interval(q->right_b, q->n, TS_Z95, &lb, &hb);
            double aa = q->n ? (double)q->right_a / q->n : 0, ab = q->n ? (double)q->right_b / q->n : 0;
            printf("%-12s %6d %6.2f [%4.1f,%4.1f] %6.2f [%4.1f,%4.1f] %+7.2f %7d %7d %10.3g%s\n", q->name, q->n,
                   100 * aa, 100 * la, 100 * ha, 100 * ab, 100 * lb, 100 * hb, 100 * (ab - aa), q->only_a, q->only_b,
                   q->mc.p, q->mc.exact ? " (exact)" : "");
            printf("%-12s %6s balanced %6.2f%%    balanced %6.2f%%\n", "", "", 100 * q->bal_a, 100 * q->bal_b);
        }
    }
    ts_eval_result_clear(&ra);
    ts_eval_result_clear(&rb);
    ts_model_free(ma);
    ts_model_free(mb);
    ts_backend_close(be, be_ctx);
    return rc;
}
