/* cmd-eval.c - `traitscope-cli eval`: accuracy of a trained model on a
 * dataset, with Wilson 95% intervals, 1-off accuracy for age groups,
 * optional ten-crop oversampling and test-set swapping (--align).
 *
 * Output contract (--json, stdout, one object):
 *   {"model":M,"data":SPEC,"split":"test"|"val"|"all","images":N,"skipped":K,
 *    "alignment":A,"model_alignment":A0,"swapped":bool,"oversample":bool,
 *    "accuracy":X,"ci95":[lo,hi],            (the first trait)
 *    "traits":[{"name":T,"n":N,"correct":C,"accuracy":X,"ci95":[lo,hi],
 *               "balanced_accuracy":B,
 *               "one_off":Y,"one_off_ci95":[lo,hi]}]}   (one_off: age groups)
 * --per-image FILE.jsonl writes one line per image (eval.h), so that any
 * other model can be compared with this one image by image.
 * Without --json a table.  Exit 0, 1 (failed), 2 (usage).
 *
 * --shard K/N (or slurm; cli/shard.h) evaluates block K of the images and
 * prints the JSON above for them (--json is implied) with "shard" and, per
 * trait, the exact counts a merge adds up: "class_n" and "class_correct"
 * (per class of the trait, labelled and right) and "one_off_correct".
 * `traitscope-cli merge` of all N prints this command's unsharded JSON;
 * the shards' --per-image files, concatenated in the order K = 0..N-1, are
 * the unsharded file.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "nn/safetext.h"
#include "cli/shard.h"
#include "train/eval.h"

static void help(void)
{
    printf("usage: traitscope-cli eval --model MODEL --data SPEC [--split test|val|all] [--oversample]\n"
           "                           [--trait T[,T...]] [--per-image FILE.jsonl]\n"
           "                           [--align none|rotation|affine|similarity] [--limit N] [--batch N]\n"
           "                           [--threads N] [--cache DIR] [--json] [--device cpu|cuda|auto]\n"
           "                           [--shard K/N|slurm]\n"
           "\n"
           "Accuracy and balanced accuracy of MODEL on SPEC, with a Wilson 95%% confidence\n"
           "interval (and 1-off accuracy for age groups); --trait picks some of a multi-label\n"
           "model's traits (e.g. a CelebA-HQ net's gender on utkface: data with --split all).  --split test (default) re-makes the split recorded in\n"
           "the model; val the validation part its training run carved out of the training\n"
           "faces (for choosing between models without reading the test split); all uses every\n"
           "labelled image.  --oversample averages ten crops (four\n"
           "corners, centre, mirrored).  --align prepares the faces with another alignment than\n"
           "the model's (test-set swapping).  --limit defaults to the model's training limit.\n"
           "--shard K/N evaluates the K-th of N blocks of the images (slurm: K and N of a Slurm\n"
           "job array) and prints JSON that 'traitscope-cli merge' combines into this output.\n");
}

static cJSON *pair(double a, double b)
{
    cJSON *p = cJSON_CreateArray();
    cJSON_AddItemToArray(p, cJSON_CreateNumber(a));
    cJSON_AddItemToArray(p, cJSON_CreateNumber(b));
    return p;
}

static cJSON *int_array(const int *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

/* The --json object (the contract above); with a shard, its block and the
 * counts merge needs. */
static cJSON *eval_json(const char *model, const char *data, const ts_eval_result *r, const char *model_alignment,
                        const cli_shard *sh)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", model);
    cJSON_AddStringToObject(j, "data", data);
    cJSON_AddStringToObject(j, "split", r->split);
    cJSON_AddNumberToObject(j, "images", r->n_images);
    cJSON_AddNumberToObject(j, "skipped", r->n_skipped);
    cJSON_AddStringToObject(j, "alignment", ts_alignment_name(r->align));
    cJSON_AddStringToObject(j, "model_alignment", model_alignment);
    cJSON_AddBoolToObject(j, "swapped", r->swapped);
    cJSON_AddBoolToObject(j, "oversample", r->oversample);
    cJSON_AddNumberToObject(j, "accuracy", r->traits[0].accuracy);
    cJSON_AddItemToObject(j, "ci95", pair(r->traits[0].lo, r->traits[0].hi));
    cJSON *ta = cJSON_AddArrayToObject(j, "traits");
    for (int t = 0; t < r->n_traits; t++) {
        const ts_eval_trait *et = &r->traits[t];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "name", et->name);
        cJSON_AddNumberToObject(x, "n", et->n);
        cJSON_AddNumberToObject(x, "correct", et->correct);
        cJSON_AddNumberToObject(x, "accuracy", et->accuracy);
        cJSON_AddItemToObject(x, "ci95", pair(et->lo, et->hi));
        cJSON_AddNumberToObject(x, "balanced_accuracy", et->balanced);
        if (et->has_one_off) {
            cJSON_AddNumberToObject(x, "one_off", et->one_off);
            cJSON_AddItemToObject(x, "one_off_ci95", pair(et->one_off_lo, et->one_off_hi));
        }
        if (sh && sh->on) {
            int nc = et->n_classes < TS_EVAL_MAX_CLASSES ? et->n_classes : TS_EVAL_MAX_CLASSES;
            cJSON_AddItemToObject(x, "class_n", int_array(et->class_n, nc));
            cJSON_AddItemToObject(x, "class_correct", int_array(et->class_correct, nc));
            cJSON_AddNumberToObject(x, "one_off_correct", et->one_off_correct);
        }
        cJSON_AddItemToArray(ta, x);
    }
    if (sh && sh->on) cli_shard_json(j, sh, "eval", r->rows_total, r->rows_first, r->rows_end);
    return j;
}

/* A count in a shard's JSON: a whole number 0..2e9. */
static bool int_item(const cJSON *v, int *out)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 2e9) ||
        v->valuedouble != (double)(int)v->valuedouble)
        return false;
    *out = (int)v->valuedouble;
    return true;
}

static bool get_int(const cJSON *o, const char *k, int *out)
{
    return int_item(cJSON_GetObjectItemCaseSensitive(o, k), out);
}

static const char *get_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

cJSON *cli_eval_merge(cJSON *const *shards, int n)
{
    ts_eval_result r;
    memset(&r, 0, sizeof r);
    const cJSON *s0 = shards[0];
    const char *model = get_str(s0, "model"), *data = get_str(s0, "data"), *split = get_str(s0, "split");
    const char *align = get_str(s0, "alignment"), *model_align = get_str(s0, "model_alignment");
    if (!model || !data || !split || !align || !model_align || !ts_alignment_parse(align, &r.align)) {
        ts_error(TS_ERR_FORMAT, "eval shard 0: model, data, split or alignment missing");
        return NULL;
    }
    snprintf(r.split, sizeof r.split, "%s", split);
    r.swapped = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s0, "swapped"));
    r.oversample = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s0, "oversample"));
    for (int k = 0; k < n; k++) {
        const cJSON *s = shards[k];
        int images, skipped;
        if (!get_int(s, "images", &images) || !get_int(s, "skipped", &skipped)) {
            ts_error(TS_ERR_FORMAT, "eval shard %d: images or skipped missing", k);
            return NULL;
        }
        r.n_images += images;
        r.n_skipped += skipped;
        const cJSON *ta = cJSON_GetObjectItemCaseSensitive(s, "traits");
        int nt = cJSON_GetArraySize(ta);
        if (!cJSON_IsArray(ta) || nt < 1 || nt > TS_EVAL_MAX_TRAITS || (k && nt != r.n_traits)) {
            ts_error(TS_ERR_FORMAT, "eval shard %d: 1..%d traits expected, as in shard 0", k, TS_EVAL_MAX_TRAITS);
            return NULL;
        }
        r.n_traits = nt;
        for (int t = 0; t < nt; t++) {
            const cJSON *x = cJSON_GetArrayItem(ta, t);
            ts_eval_trait *et = &r.traits[t];
            const char *name = get_str(x, "name");
            const cJSON *cn = cJSON_GetObjectItemCaseSensitive(x, "class_n");
            const cJSON *cc = cJSON_GetObjectItemCaseSensitive(x, "class_correct");
            int nn, cor, oo, nc = cJSON_GetArraySize(cn);
            if (!name || !get_int(x, "n", &nn) || !get_int(x, "correct", &cor) || !get_int(x, "one_off_correct", &oo) ||
                !cJSON_IsArray(cn) || !cJSON_IsArray(cc) || nc < 1 || nc > TS_EVAL_MAX_CLASSES ||
                cJSON_GetArraySize(cc) != nc || (k && (strcmp(name, et->name) || nc != et->n_classes))) {
                ts_error(TS_ERR_FORMAT, "eval shard %d, trait %d: name, n, correct, one_off_correct, class_n or "
                                        "class_correct missing or unlike shard 0's", k, t);
                return NULL;
            }
            if (!k) {
                snprintf(et->name, sizeof et->name, "%s", name);
                et->n_classes = nc;
                et->has_one_off = cJSON_GetObjectItemCaseSensitive(x, "one_off") != NULL;
            }
            et->n += nn;
            et->correct += cor;
            et->one_off_correct += oo;
            for (int c = 0; c < nc; c++) {
                int a, b;
                if (!int_item(cJSON_GetArrayItem(cn, c), &a) || !int_item(cJSON_GetArrayItem(cc, c), &b) || b > a) {
                    ts_error(TS_ERR_FORMAT, "eval shard %d: bad class count", k);
                    return NULL;
                }
                et->class_n[c] += a;
                et->class_correct[c] += b;
            }
        }
    }
    for (int t = 0; t < r.n_traits; t++) ts_eval_trait_finish(&r.traits[t]);
    return eval_json(model, data, &r, model_align, NULL);
}

int cmd_eval(int argc, char **argv)
{
    const char *model = NULL, *v, *per_image = NULL;
    bool json = false;
    ts_device device = TS_DEVICE_AUTO;
    ts_eval_options o = { .limit = -1 };
    cli_shard shard = { .on = false, .index = 0, .count = 1 };
    char why[256];
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            help();
            return CMD_OK;
        } else if (cli_opt(argc, argv, &i, "--model", &v)) {
            model = v;
        } else if (cli_opt(argc, argv, &i, "--data", &v)) {
            o.data = v;
        } else if (cli_opt(argc, argv, &i, "--split", &v)) {
            if (!ts_eval_split_parse(v, &o.split))
                return cli_usage_error("eval", "--split wants test, val or all, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--trait", &v)) {
            o.traits = v;
        } else if (cli_opt(argc, argv, &i, "--per-image", &v)) {
            per_image = v;
        } else if (cli_opt(argc, argv, &i, "--align", &v)) {
            if (!ts_alignment_parse(v, &o.align))
                return cli_usage_error("eval", "--align wants none, rotation, affine or similarity, not '%s'", v);
            o.align_override = true;
        } else if (cli_opt(argc, argv, &i, "--limit", &v)) {
            if (!cli_parse_int(v, &o.limit) || o.limit < 0) return cli_usage_error("eval", "--limit wants N >= 0");
        } else if (cli_opt(argc, argv, &i, "--batch", &v)) {
            if (!cli_parse_int(v, &o.batch) || o.batch < 1) return cli_usage_error("eval", "--batch wants N >= 1");
        } else if (cli_opt(argc, argv, &i, "--threads", &v)) {
            if (!cli_parse_int(v, &o.threads) || o.threads < 0) return cli_usage_error("eval", "--threads wants N");
        } else if (cli_opt(argc, argv, &i, "--device", &v)) {
            if (!cli_parse_device(v, &device))
                return cli_usage_error("eval", "--device wants cpu, cuda or auto, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--cache", &v)) {
            o.cache_dir = v;
        } else if (cli_opt(argc, argv, &i, "--shard", &v)) {
            if (!cli_shard_parse(v, &shard, why, sizeof why)) return cli_usage_error("eval", "%s", why);
            o.shard_index = shard.index;
            o.shard_count = shard.count;
            json = true; /* a shard is for merge */
        } else if (cli_flag(argv, i, "--oversample")) {
            o.oversample = true;
        } else if (cli_flag(argv, i, "--json")) {
            json = true;
        } else {
            return cli_usage_error("eval", "unknown argument '%s' (see --help)", argv[i]);
        }
    }
    if (!model || !o.data) return cli_usage_error("eval", "--model and --data are required (see --help)");
    ts_model *m;
    ts_status st = ts_model_load_any(model, &m);
    if (st != TS_OK) return cli_fail("eval", st);
    /* On a GPU the model moves there; eval downloads the logits per batch. */
    const ts_backend *be;
    void *be_ctx;
    cli_backend_open("eval", device, &be, &be_ctx);
    if (be->device != TS_DEVICE_CPU) st = ts_graph_to_backend(m->graph, be, be_ctx);
    ts_eval_result r;
    if (st == TS_OK) st = ts_eval_run(m, &o, NULL, NULL, NULL, &r);
    if (st == TS_OK && per_image) {
        st = ts_eval_write_per_image(&r, per_image);
        if (st != TS_OK) ts_eval_result_clear(&r);
    }
    if (st != TS_OK) {
        ts_model_free(m);
        ts_backend_close(be, be_ctx);
        return cli_fail("eval", st);
    }
    /* the images left out, named, before the figures they change */
    const char *kept[TS_FACESET_SKIPS_KEPT];
    for (int k = 0; k < r.n_skipped_kept; k++) kept[k] = r.skipped[k].message;
    cli_skips_report("eval", kept, r.n_skipped_kept, r.n_skipped, r.n_images + r.n_skipped);
    int rc = CMD_OK;
    if (json) {
        cJSON *j = eval_json(model, o.data, &r, ts_alignment_name(m->meta.alignment), &shard);
        rc = cli_print_json(j, false);
        cJSON_Delete(j);
    } else {
        char *em = ts_text_escape(model), *ed = ts_text_escape(o.data);
        printf("model %s on %s (%s split, %d images%s, alignment %s%s)\n", em ? em : model, ed ? ed : o.data,
               r.split, r.n_images,
               r.oversample ? ", 10-crop oversampling" : "", ts_alignment_name(r.align),
               r.swapped ? " - swapped" : "");
        free(em);
        free(ed);
        printf("%-14s %6s %9s  %-17s %9s %9s\n", "trait", "n", "accuracy", "95% CI (Wilson)", "balanced", "1-off");
        for (int t = 0; t < r.n_traits; t++) {
            const ts_eval_trait *et = &r.traits[t];
            char one[32] = "";
            if (et->has_one_off) snprintf(one, sizeof one, "%.2f%%", 100 * et->one_off);
            printf("%-14s %6d %8.2f%%  [%6.2f, %6.2f] %8.2f%% %9s\n", et->name, et->n, 100 * et->accuracy,
                   100 * et->lo, 100 * et->hi, 100 * et->balanced, one);
        }
        if (r.n_skipped) printf("(%d images could not be prepared and were skipped)\n", r.n_skipped);
    }
    ts_eval_result_clear(&r);
    ts_model_free(m);
    ts_backend_close(be, be_ctx);
    return rc;
}
